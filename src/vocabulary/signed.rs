//! The signed container: a biscuit, built, appended to, encoded and decoded only here, and the
//! conversion of the crate's keys and errors to and from biscuit's.

use std::collections::{BTreeMap, BTreeSet};

use biscuit_auth::{Algorithm, Biscuit, KeyPair, PrivateKey, UnverifiedBiscuit};

use super::envelope;
use super::plan;
use super::read::{self, RawToken};
use super::run::{self, KeyCache};
use super::write::{self, DelegationFacts};
use crate::error::Error;
use crate::grant::{Grant, Narrowing};
use crate::ids::{AuthorityId, ToolName};
use crate::keys::{AgentKey, AuthorityKey, TrustedRoots};
use crate::limits::Limits;

/// A token's signed blocks. Built only by issuing or by decoding with every signature checked,
/// so it holds biscuit's unverified form: appending to it does not check again what was
/// checked when it was built (biscuit's own `append_third_party` re-verifies the signature it
/// was just given).
#[derive(Clone)]
pub(crate) struct Signed(pub(super) UnverifiedBiscuit);

/// What a holder needs to know before delegating without narrowing: who holds the token, how
/// many delegations it has and may have, read from its records alone.
pub(crate) struct Holding {
    pub(crate) holder: [u8; 32],
    pub(crate) hops: usize,
    pub(crate) max_depth: u32,
}

impl From<biscuit_auth::error::Token> for Error {
    fn from(e: biscuit_auth::error::Token) -> Self {
        Error::Biscuit(e.to_string())
    }
}

fn private_key(key: &AgentKey) -> Result<PrivateKey, Error> {
    PrivateKey::from_bytes(key.to_bytes().as_ref(), Algorithm::Ed25519)
        .map_err(|e| Error::Biscuit(e.to_string()))
}

/// The trusted roots as a biscuit root key provider (for biscuit's own checks, the reference
/// in tests): a missing key id or an unknown one is an error.
#[cfg(test)]
pub(crate) fn provider(
    roots: &TrustedRoots,
) -> impl Fn(Option<u32>) -> Result<biscuit_auth::PublicKey, biscuit_auth::error::Format> + '_ {
    move |key_id| {
        let root = key_id
            .and_then(|id| roots.get(id))
            .ok_or(biscuit_auth::error::Format::UnknownPublicKey)?;
        biscuit_auth::PublicKey::from_bytes(&root.to_bytes(), Algorithm::Ed25519)
    }
}

impl Signed {
    /// Issues the authority block for `grant`, signed by `root`, carrying its key id.
    pub(crate) fn issue(
        root: &AuthorityKey,
        issuer: &AuthorityId,
        grant: &Grant,
        issued_at: time::OffsetDateTime,
    ) -> Result<Self, Error> {
        let block = write::authority_block(issuer, grant, issued_at)?;
        let private = PrivateKey::from_bytes(root.to_bytes().as_ref(), Algorithm::Ed25519)
            .map_err(|e| Error::Biscuit(e.to_string()))?;
        let biscuit = Biscuit::builder()
            .merge(block)
            .root_key_id(root.key_id())
            .build(&KeyPair::from(&private))?;
        Ok(Self(UnverifiedBiscuit::from(biscuit.to_vec()?)?))
    }

    /// Decodes base64url text and checks every signature against `roots` (the verifier's own
    /// signature check).
    pub(crate) fn from_base64(
        text: &str,
        roots: &TrustedRoots,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let invalid = |what: &str| Error::InvalidToken(what.to_owned());
        if text.trim().len() > limits.max_token_bytes {
            return Err(Error::InvalidToken(format!(
                "token text longer than {} bytes",
                limits.max_token_bytes
            )));
        }
        let env = envelope::read_envelope(text, limits.max_blocks)
            .map_err(|e| Error::InvalidToken(format!("{e:?}")))?;
        if matches!(
            env.proof.content,
            Some(biscuit_auth::format::schema::proof::Content::FinalSignature(_))
        ) {
            return Err(invalid(
                "the token is sealed: agentcap neither writes nor accepts sealed tokens",
            ));
        }
        let root = match env.root_key_id {
            None => return Err(invalid("the token names no root key id")),
            Some(id) => roots.get(id).ok_or_else(|| {
                let trusted: Vec<String> = roots.key_ids().map(|k| k.to_string()).collect();
                Error::InvalidToken(format!(
                    "the token is signed by root key id {id}, which is not trusted here (trusted key ids: {}); pass that authority's public key",
                    if trusted.is_empty() { "none".to_owned() } else { trusted.join(", ") }
                ))
            })?,
        };
        run::verify_signatures(&env, root.verifying_key(), &mut KeyCache::default())
            .map_err(|e| Error::InvalidToken(e.to_string()))?;
        let unverified = UnverifiedBiscuit::from_base64(text.trim())
            .map_err(|e| Error::InvalidToken(e.to_string()))?;
        Ok(Self(unverified))
    }

    pub(crate) fn to_base64(&self) -> Result<String, Error> {
        Ok(self.0.to_base64()?)
    }

    pub(crate) fn to_vec(&self) -> Result<Vec<u8>, Error> {
        Ok(self.0.to_vec()?)
    }

    pub(crate) fn size(&self) -> Result<usize, Error> {
        Ok(self.to_vec()?.len())
    }

    /// The holder and the delegation count, from the records alone (no block's grammar read).
    pub(crate) fn holding(&self) -> Result<Holding, Error> {
        let invalid = |e: &dyn std::fmt::Debug| Error::InvalidToken(format!("{e:?}"));
        let env = envelope::envelope(self.to_vec()?, usize::MAX).map_err(|e| invalid(&e))?;
        let records = envelope::records(&env).map_err(|e| invalid(&e))?;
        let walked = plan::walk(&records).map_err(|e| invalid(&e))?;
        Ok(Holding {
            holder: walked.holder,
            hops: records.delegations.len(),
            max_depth: records.authority.max_depth,
        })
    }

    /// Every block's revocation id (its signature), authority first.
    pub(crate) fn revocation_ids(&self) -> Vec<Vec<u8>> {
        self.0.revocation_identifiers()
    }

    pub(crate) fn block_count(&self) -> usize {
        self.0.block_count()
    }

    pub(crate) fn root_key_id(&self) -> Option<u32> {
        self.0.root_key_id()
    }

    /// Every block, read with the verifier's own reader.
    pub(crate) fn read(&self) -> Result<RawToken, Error> {
        read::read_bytes(self.to_vec()?, usize::MAX)
            .map_err(|e| Error::InvalidToken(format!("{e:?}")))
    }

    /// Appends an anonymous narrowing block.
    pub(crate) fn attenuate(
        &self,
        narrowing: &Narrowing,
        close: &BTreeMap<ToolName, BTreeSet<String>>,
    ) -> Result<Self, Error> {
        let block = write::narrowing_block(narrowing, close, None)?;
        Ok(Self(self.0.append(block)?))
    }

    /// Appends a delegation: a third-party block signed by `holder`.
    pub(crate) fn delegate(
        &self,
        holder: &AgentKey,
        narrowing: &Narrowing,
        close: &BTreeMap<ToolName, BTreeSet<String>>,
        facts: &DelegationFacts,
    ) -> Result<Self, Error> {
        let block = write::narrowing_block(narrowing, close, Some(facts))?;
        let request = self.0.third_party_request()?;
        let signed = request.create_block(&private_key(holder)?, block)?;
        Ok(Self(self.0.append_third_party(&signed.serialize()?)?))
    }
}
