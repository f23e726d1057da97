//! The signed container: a biscuit, built, appended to, encoded and decoded only here, and the
//! conversion of the crate's keys and errors to and from biscuit's.

use std::collections::{BTreeMap, BTreeSet};

use biscuit_auth::{Algorithm, Biscuit, KeyPair, PrivateKey, PublicKey};

use super::read::{self, RawToken};
use super::write::{self, DelegationFacts};
use crate::error::Error;
use crate::grant::{Grant, Narrowing};
use crate::ids::{AuthorityId, ToolName};
use crate::keys::{AgentKey, AgentPublicKey, AuthorityKey, TrustedRoots};

/// A token's signed blocks.
#[derive(Clone)]
pub(crate) struct Signed(pub(super) Biscuit);

impl From<biscuit_auth::error::Token> for Error {
    fn from(e: biscuit_auth::error::Token) -> Self {
        Error::Biscuit(e.to_string())
    }
}

fn private_key(key: &AgentKey) -> Result<PrivateKey, Error> {
    PrivateKey::from_bytes(key.to_bytes().as_ref(), Algorithm::Ed25519)
        .map_err(|e| Error::Biscuit(e.to_string()))
}

fn public_key(key: AgentPublicKey) -> Result<PublicKey, Error> {
    PublicKey::from_bytes(&key.to_bytes(), Algorithm::Ed25519)
        .map_err(|e| Error::Biscuit(e.to_string()))
}

/// The trusted roots as a biscuit root key provider: a missing key id or an unknown one is an
/// error.
pub(crate) fn provider(
    roots: &TrustedRoots,
) -> impl Fn(Option<u32>) -> Result<PublicKey, biscuit_auth::error::Format> + '_ {
    move |key_id| {
        let root = key_id
            .and_then(|id| roots.get(id))
            .ok_or(biscuit_auth::error::Format::UnknownPublicKey)?;
        PublicKey::from_bytes(&root.to_bytes(), Algorithm::Ed25519)
    }
}

impl Signed {
    /// Issues the authority block for `grant`, signed by `root`, carrying its key id.
    pub(crate) fn issue(
        root: &AuthorityKey,
        issuer: &AuthorityId,
        grant: &Grant,
    ) -> Result<Self, Error> {
        let block = write::authority_block(issuer, grant)?;
        let private = PrivateKey::from_bytes(root.to_bytes().as_ref(), Algorithm::Ed25519)
            .map_err(|e| Error::Biscuit(e.to_string()))?;
        let biscuit = Biscuit::builder()
            .merge(block)
            .root_key_id(root.key_id())
            .build(&KeyPair::from(&private))?;
        Ok(Self(biscuit))
    }

    /// Decodes base64url text and checks every signature against `roots`.
    pub(crate) fn from_base64(text: &str, roots: &TrustedRoots) -> Result<Self, Error> {
        Biscuit::from_base64(text.trim(), provider(roots))
            .map(Self)
            .map_err(|e| Error::InvalidToken(e.to_string()))
    }

    pub(crate) fn to_base64(&self) -> Result<String, Error> {
        Ok(self.0.to_base64()?)
    }

    pub(crate) fn to_vec(&self) -> Result<Vec<u8>, Error> {
        Ok(self.0.to_vec()?)
    }

    pub(crate) fn size(&self) -> Result<usize, Error> {
        Ok(self.0.serialized_size()?)
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
        Ok(Self(self.0.append_third_party(
            public_key(holder.public())?,
            signed,
        )?))
    }
}
