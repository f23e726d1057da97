//! Key pairs of agents (holders) and authorities (roots), their public halves, and the set of
//! trusted roots a verifier consults.
//!
//! Secrets have no `Display`, a redacted `Debug`, and are zeroized on drop.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::error::Error;

const ED25519_PREFIX: &str = "ed25519/";

/// The secret key of an agent: it holds tokens, signs every call and signs delegations.
///
/// It lives in the agent framework, never in a model's context.
pub struct AgentKey(SigningKey);

impl AgentKey {
    /// Generates a fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut OsRng))
    }

    /// Rebuilds a key from its 32 secret bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The 32 secret bytes, zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half, which grants and delegations name as the holder.
    pub fn public(&self) -> AgentPublicKey {
        AgentPublicKey(self.0.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }
}

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// The public key of an agent. Text form: `ed25519/<64 hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgentPublicKey(VerifyingKey);

impl AgentPublicKey {
    /// Parses 32 bytes of an ed25519 public key.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the bytes are not a valid curve point, or are a point of small
    /// order (a "weak" key, for which signatures can be forged).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("agent public key", &hex::encode(bytes)))?;
        let key = VerifyingKey::from_bytes(&arr)
            .map_err(|_| Error::invalid("agent public key", &hex::encode(bytes)))?;
        // A small-order key verifies signatures that no one made: it can never name a holder.
        if key.is_weak() {
            return Err(Error::invalid(
                "agent public key (small order)",
                &hex::encode(bytes),
            ));
        }
        Ok(Self(key))
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl fmt::Display for AgentPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ED25519_PREFIX}{}", hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for AgentPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentPublicKey({self})")
    }
}

impl FromStr for AgentPublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let hex_part = s
            .strip_prefix(ED25519_PREFIX)
            .ok_or_else(|| Error::invalid("agent public key", s))?;
        let bytes = hex::decode(hex_part).map_err(|_| Error::invalid("agent public key", s))?;
        // INVARIANT: only lowercase hex round-trips through Display.
        if hex::encode(&bytes) != hex_part {
            return Err(Error::invalid("agent public key", s));
        }
        Self::from_bytes(&bytes)
    }
}

/// The signing key of an issuing authority (a root), with the key id written into every token
/// it issues so verifiers can pick the right root while keys rotate.
pub struct AuthorityKey {
    key_id: u32,
    key: SigningKey,
}

impl AuthorityKey {
    /// Generates a fresh root key with the given key id.
    pub fn generate(key_id: u32) -> Self {
        Self {
            key_id,
            key: SigningKey::generate(&mut OsRng),
        }
    }

    /// Rebuilds a root key from its key id and 32 secret bytes.
    pub fn from_bytes(key_id: u32, secret: &[u8; 32]) -> Self {
        Self {
            key_id,
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The 32 secret bytes, zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The key id written into issued tokens.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public half, to be trusted by verifiers.
    pub fn public(&self) -> RootPublicKey {
        RootPublicKey {
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }
}

impl fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// The public key of a root, with its key id. Text form: `<key id>:ed25519/<64 hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootPublicKey {
    key_id: u32,
    key: VerifyingKey,
}

impl RootPublicKey {
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Builds a root public key from its key id and 32 bytes.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the bytes are not a valid curve point.
    pub fn from_bytes(key_id: u32, bytes: &[u8]) -> Result<Self, Error> {
        let key = AgentPublicKey::from_bytes(bytes)?.0;
        Ok(Self { key_id, key })
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl fmt::Display for RootPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{ED25519_PREFIX}{}",
            self.key_id,
            hex::encode(self.key.as_bytes())
        )
    }
}

impl fmt::Debug for RootPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootPublicKey({self})")
    }
}

impl FromStr for RootPublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (id, key) = s
            .split_once(':')
            .ok_or_else(|| Error::invalid("root public key", s))?;
        let key_id: u32 = id
            .parse()
            .map_err(|_| Error::invalid("root public key", s))?;
        if key_id.to_string() != id {
            return Err(Error::invalid("root public key", s));
        }
        let key =
            AgentPublicKey::from_str(key).map_err(|_| Error::invalid("root public key", s))?;
        Ok(Self { key_id, key: key.0 })
    }
}

/// The roots a verifier (or a holder decoding a token) trusts, by key id.
///
/// Tokens must carry a key id; a token whose key id is not here is rejected. Add the next root
/// before issuing with it, and remove the old one after its last token expired, to rotate.
#[derive(Clone, Debug, Default)]
pub struct TrustedRoots {
    roots: BTreeMap<u32, RootPublicKey>,
}

impl TrustedRoots {
    /// An empty set (a verifier refuses to be built with it).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the root with this key's id.
    pub fn with(mut self, root: RootPublicKey) -> Self {
        self.roots.insert(root.key_id, root);
        self
    }

    /// Adds (or replaces) the root with this key's id.
    pub fn insert(&mut self, root: RootPublicKey) {
        self.roots.insert(root.key_id, root);
    }

    /// Whether no root is trusted.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The root with this key id, if trusted.
    pub fn get(&self, key_id: u32) -> Option<&RootPublicKey> {
        self.roots.get(&key_id)
    }

    /// The key ids of the trusted roots, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.roots.keys().copied()
    }
}

impl From<RootPublicKey> for TrustedRoots {
    fn from(root: RootPublicKey) -> Self {
        Self::new().with(root)
    }
}
