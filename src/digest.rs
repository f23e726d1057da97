//! SHA-256 digests and every domain tag the crate hashes or signs under, in one place so that
//! no two purposes can share a tag.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// The call digest's domain (`ToolCall::digest`).
pub(crate) const CALL_DOMAIN: &[u8] = b"agentcap/call/v1\0";
/// The message digest's domain (`Digest::of_message`).
pub(crate) const MESSAGE_DOMAIN: &[u8] = b"agentcap/message/v1\0";
/// The call proof's signature domain (`CallProof`).
pub(crate) const PROOF_DOMAIN: &[u8] = b"agentcap/call-proof/v1\0";
/// The state store's key domain (budgets, rates, fan-out, nonces).
pub(crate) const STATE_DOMAIN: &[u8] = b"agentcap/state/v1\0";

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

impl Digest {
    /// Wraps a finished SHA-256 state.
    pub(crate) fn from_sha256(h: Sha256) -> Self {
        Self(h.finalize().into())
    }
}
