//! The holder's per-call proof of possession, and its binary form.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::Signature;
use rand_core::{OsRng, RngCore};
use time::OffsetDateTime;

use crate::call::ToolCall;
use crate::digest::{Digest, PROOF_DOMAIN};
use crate::error::Error;
use crate::ids::{ExecutorId, TokenId};
use crate::keys::AgentKey;
use crate::token::Token;

const PROOF_VERSION: u8 = 1;

/// The holder's proof that it makes this call now, at this executor, with this token.
///
/// Binary form (version 1, then length-prefixed fields, then the signature), base64url text:
/// see `docs/token-format.md`. Fresh per call: a nonce and the issue time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallProof {
    audience: ExecutorId,
    token_id: TokenId,
    call_digest: Digest,
    nonce: [u8; 16],
    issued_at: i64,
    signature: [u8; 64],
}

impl CallProof {
    /// Signs `call` for the executor `audience` with the holder key of `token`, at `now`.
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the arguments cannot be canonicalised.
    pub fn sign(
        key: &AgentKey,
        token: &Token,
        audience: &ExecutorId,
        call: &ToolCall,
        now: OffsetDateTime,
    ) -> Result<Self, Error> {
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let mut proof = CallProof {
            audience: audience.clone(),
            token_id: token.id(),
            call_digest: call.digest()?,
            nonce,
            issued_at: now.unix_timestamp(),
            signature: [0; 64],
        };
        proof.signature = key.sign(&proof.preimage()).to_bytes();
        Ok(proof)
    }

    /// The bytes the signature covers: the domain tag, then the body.
    pub(crate) fn preimage(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(PROOF_DOMAIN);
        self.write_body(&mut out);
        out
    }

    fn write_body(&self, out: &mut Vec<u8>) {
        out.push(PROOF_VERSION);
        put(out, self.audience.as_str().as_bytes());
        put(out, self.token_id.as_bytes());
        out.extend_from_slice(&self.call_digest.to_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.issued_at.to_be_bytes());
    }

    /// The executor the proof is for.
    pub fn audience(&self) -> &ExecutorId {
        &self.audience
    }

    /// The token the proof is for.
    pub fn token_id(&self) -> &TokenId {
        &self.token_id
    }

    /// The digest of the call the proof is for.
    pub fn call_digest(&self) -> Digest {
        self.call_digest
    }

    /// The nonce.
    pub fn nonce(&self) -> [u8; 16] {
        self.nonce
    }

    /// When the holder signed, in Unix seconds.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    pub(crate) fn signature(&self) -> Signature {
        Signature::from_bytes(&self.signature)
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_body(&mut out);
        out.extend_from_slice(&self.signature);
        out
    }

    /// The base64url text form (no padding).
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.to_bytes())
    }

    /// Parses the binary form.
    ///
    /// # Errors
    /// [`Error::Invalid`] for anything but a well-formed version-1 proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = || Error::invalid("call proof", "malformed");
        let mut r = Reader(bytes);
        if r.take(1).ok_or_else(bad)? != [PROOF_VERSION] {
            return Err(bad());
        }
        let audience = std::str::from_utf8(r.lp().ok_or_else(bad)?).map_err(|_| bad())?;
        let audience = ExecutorId::new(audience).map_err(|_| bad())?;
        let token_id = TokenId::from_bytes(r.lp().ok_or_else(bad)?).ok_or_else(bad)?;
        let call_digest = Digest::from_bytes(r.array().ok_or_else(bad)?);
        let nonce = r.array().ok_or_else(bad)?;
        let issued_at = i64::from_be_bytes(r.array().ok_or_else(bad)?);
        let signature = r.array().ok_or_else(bad)?;
        if !r.0.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            audience,
            token_id,
            call_digest,
            nonce,
            issued_at,
            signature,
        })
    }

    /// Parses the base64url text form.
    ///
    /// # Errors
    /// [`Error::Invalid`] for anything but a well-formed version-1 proof.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| Error::invalid("call proof", "not base64url"))?;
        Self::from_bytes(&bytes)
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn lp(&mut self) -> Option<&'a [u8]> {
        let len = u16::from_be_bytes(self.array()?);
        self.take(usize::from(len))
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}
