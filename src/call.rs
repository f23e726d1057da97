//! The structured call a tool executor is asked to run, its canonical digest, and the holder's
//! per-call proof of possession.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::Signature;
use rand_core::{OsRng, RngCore};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::error::Error;
use crate::ids::{ExecutorId, Label, ToolName};
use crate::keys::AgentKey;
use crate::token::{Token, TokenId};
use crate::value::ArgValue;

const CALL_DOMAIN: &[u8] = b"agentcap/call/v1\0";
const MESSAGE_DOMAIN: &[u8] = b"agentcap/message/v1\0";
const PROOF_DOMAIN: &[u8] = b"agentcap/call-proof/v1\0";
const PROOF_VERSION: u8 = 1;

/// A SHA-256 digest: of a call, or of a message that caused a delegation or a call.
/// Text form: 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of a message (its exact bytes), as agents' frameworks compute causes.
    pub fn of_message(message: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(MESSAGE_DOMAIN);
        h.update(message);
        Self(h.finalize().into())
    }

    /// Wraps 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| Error::invalid("digest", s))?;
        if hex::encode(out) != s {
            return Err(Error::invalid("digest", s));
        }
        Ok(Self(out))
    }
}

/// One tool call: the tool, its JSON arguments (an object), the labels of the data in the
/// arguments, and the digest of the message that caused it.
///
/// Nothing in a call can grant authority: its strings are data, compared with constraints.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    tool: ToolName,
    args: Value,
    labels: BTreeSet<Label>,
    cause: Option<Digest>,
}

impl ToolCall {
    /// A call of `tool` with `args`, which must be a JSON object.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad tool name; [`Error::InvalidArguments`] when `args` is not
    /// an object.
    pub fn new(tool: &str, args: Value) -> Result<Self, Error> {
        let tool = ToolName::new(tool)?;
        if !args.is_object() {
            return Err(Error::InvalidArguments(
                "arguments must be a JSON object".to_owned(),
            ));
        }
        if crate::value::has_unportable_integer(&args) {
            return Err(Error::InvalidArguments(
                "integers beyond ±2^53 do not canonicalise exactly (RFC 8785): send them as strings".to_owned(),
            ));
        }
        Ok(Self {
            tool,
            args,
            labels: BTreeSet::new(),
            cause: None,
        })
    }

    /// Sets the labels of the data the arguments carry (set by the framework, not the model).
    pub fn with_labels(mut self, labels: impl IntoIterator<Item = Label>) -> Self {
        self.labels = labels.into_iter().collect();
        self
    }

    /// Sets the digest of the message that caused this call.
    pub fn with_cause(mut self, cause: Digest) -> Self {
        self.cause = Some(cause);
        self
    }

    /// The tool.
    pub fn tool(&self) -> &ToolName {
        &self.tool
    }

    /// The arguments.
    pub fn args(&self) -> &Value {
        &self.args
    }

    /// The labels.
    pub fn labels(&self) -> &BTreeSet<Label> {
        &self.labels
    }

    /// The cause, if any.
    pub fn cause(&self) -> Option<Digest> {
        self.cause
    }

    /// The arguments in RFC 8785 canonical form (the bytes every language signs).
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the value cannot be canonicalised.
    pub fn canonical_args(&self) -> Result<Vec<u8>, Error> {
        serde_json_canonicalizer::to_vec(&self.args)
            .map_err(|e| Error::InvalidArguments(e.to_string()))
    }

    /// The call digest: SHA-256 over a domain tag, the tool, the canonical arguments, the
    /// labels and the cause, each length-prefixed (see `docs/token-format.md`).
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the arguments cannot be canonicalised.
    pub fn digest(&self) -> Result<Digest, Error> {
        Ok(self.digest_with(&self.canonical_args()?))
    }

    pub(crate) fn digest_with(&self, canonical_args: &[u8]) -> Digest {
        let mut h = Sha256::new();
        h.update(CALL_DOMAIN);
        lp(&mut h, self.tool.as_str().as_bytes());
        lp(&mut h, canonical_args);
        h.update((self.labels.len() as u32).to_be_bytes());
        for l in &self.labels {
            lp(&mut h, l.as_str().as_bytes());
        }
        match self.cause {
            Some(c) => {
                h.update([1]);
                h.update(c.0);
            }
            None => h.update([0]),
        }
        Digest(h.finalize().into())
    }
}

fn lp(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u32).to_be_bytes());
    h.update(bytes);
}

/// The scalar leaves of the arguments (pointer, value) and the top-level keys.
pub(crate) type Leaves<'a> = (Vec<(String, ArgValue<'a>)>, Vec<&'a str>);

/// Bounds for walking arguments.
pub(crate) struct ArgBounds {
    pub(crate) max_depth: usize,
    pub(crate) max_leaves: usize,
}

/// Every scalar leaf of the arguments with its JSON Pointer, and the top-level keys; `None`
/// when the arguments are deeper or larger than the bounds.
pub(crate) fn leaves<'a>(args: &'a Value, bounds: &ArgBounds) -> Option<Leaves<'a>> {
    let obj = args.as_object()?;
    let keys = obj.keys().map(String::as_str).collect();
    let mut out = Vec::new();
    let mut stack: Vec<(String, &Value, usize)> = vec![(String::new(), args, 0)];
    while let Some((pointer, value, depth)) = stack.pop() {
        if depth > bounds.max_depth {
            return None;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    stack.push((
                        format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                        v,
                        depth + 1,
                    ));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    stack.push((format!("{pointer}/{i}"), v, depth + 1));
                }
            }
            scalar => {
                out.push((pointer, ArgValue::of(scalar)));
                if out.len() > bounds.max_leaves {
                    return None;
                }
            }
        }
        if stack.len() > bounds.max_leaves {
            return None;
        }
    }
    Some((out, keys))
}

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
        out.extend_from_slice(&self.call_digest.0);
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
        let call_digest = Digest(r.array().ok_or_else(bad)?);
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

/// Refuses JSON whose objects repeat a key at any depth: parsers disagree on which duplicate
/// wins, so the executor and the tool could read different values from the same text.
struct NoDuplicateKeys;

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicateKeys {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate keys")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            map.next_value_seed(NoDuplicateKeys)?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicateKeys)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

impl ToolCall {
    /// A call of `tool` with arguments parsed from JSON text, refusing duplicate keys at any
    /// depth (parsers disagree on which duplicate wins) and text nested deeper than 128 levels.
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] for malformed JSON, duplicate keys or a non-object; as
    /// [`ToolCall::new`] otherwise.
    pub fn from_json_text(tool: &str, text: &str) -> Result<Self, Error> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_str(text);
        NoDuplicateKeys
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| Error::InvalidArguments(e.to_string()))?;
        let args: Value =
            serde_json::from_str(text).map_err(|e| Error::InvalidArguments(e.to_string()))?;
        Self::new(tool, args)
    }
}
