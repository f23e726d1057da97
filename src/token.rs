//! The token: signed blocks that speak the agentcap vocabulary, and their encodings and ids.
//! The holder side's operations on it live in `describe` and `delegate`.

use std::fmt;

use crate::error::Error;
use crate::ids::TokenId;
use crate::keys::TrustedRoots;
use crate::limits::Limits;
use crate::vocabulary::signed::Signed;

/// A capability token whose signatures were checked against trusted roots.
///
/// This is the holder's handle: it can be encoded, attenuated, delegated, described and used
/// to sign calls. Verification of a call is the [`Verifier`](crate::Verifier)'s job, which
/// decodes the token text again itself.
#[derive(Clone)]
pub struct Token {
    pub(crate) signed: Signed,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id())
            .field("blocks", &self.signed.block_count())
            .finish()
    }
}

impl Token {
    /// Decodes base64url token text and checks every signature against `roots`, within the
    /// verifier's default bounds (`Limits::default()`: 64 KiB of text, 32 blocks; the block count
    /// is checked before any signature).
    ///
    /// # Errors
    /// [`Error::InvalidToken`] when the text is too long, has too many blocks, is not a token,
    /// names an unknown root key id, or a signature does not verify.
    pub fn from_base64(text: &str, roots: &TrustedRoots) -> Result<Self, Error> {
        Self::from_base64_with_limits(text, roots, &Limits::default())
    }

    /// As [`Token::from_base64`], within `limits` (`max_token_bytes` and `max_blocks`): for a
    /// holder whose executors accept larger tokens.
    ///
    /// # Errors
    /// As [`Token::from_base64`].
    pub fn from_base64_with_limits(
        text: &str,
        roots: &TrustedRoots,
        limits: &Limits,
    ) -> Result<Self, Error> {
        Ok(Self {
            signed: Signed::from_base64(text, roots, limits)?,
        })
    }

    /// The base64url text form (with padding, as biscuit writes it).
    ///
    /// # Errors
    /// [`Error::Biscuit`] if serialisation fails.
    pub fn to_base64(&self) -> Result<String, Error> {
        self.signed.to_base64()
    }

    /// The size of the serialized token, in bytes.
    ///
    /// # Errors
    /// [`Error::Biscuit`] if serialisation fails.
    pub fn size(&self) -> Result<usize, Error> {
        self.signed.size()
    }

    /// The token id (the last block's revocation id).
    pub fn id(&self) -> TokenId {
        let ids = self.signed.revocation_ids();
        TokenId::of_signature(ids.last().cloned().unwrap_or_default())
    }

    /// The revocation id of every block, authority first.
    pub fn revocation_ids(&self) -> Vec<TokenId> {
        self.signed
            .revocation_ids()
            .into_iter()
            .map(TokenId::of_signature)
            .collect()
    }

    /// The number of blocks (authority included).
    pub fn block_count(&self) -> usize {
        self.signed.block_count()
    }

    /// The root key id the token was issued under.
    pub fn root_key_id(&self) -> Option<u32> {
        self.signed.root_key_id()
    }
}
