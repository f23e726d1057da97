//! The issuing authority: turns a validated [`Grant`] into a signed token.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::grant::Grant;
use crate::ids::AuthorityId;
use crate::keys::AuthorityKey;
use crate::token::Token;
use crate::vocabulary::signed::Signed;

/// An issuing authority: its id, its root key (with key id) and the clock that dates what it
/// issues.
pub struct Authority {
    id: AuthorityId,
    key: AuthorityKey,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// An authority named `id` signing with `key`.
    pub fn new(id: AuthorityId, key: AuthorityKey) -> Self {
        Self {
            id,
            key,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same authority, dating what it issues by `clock` (tests, replays; the default is
    /// the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The authority's id.
    pub fn id(&self) -> &AuthorityId {
        &self.id
    }

    /// The root key.
    pub fn key(&self) -> &AuthorityKey {
        &self.key
    }

    /// Issues a token for `grant`: an authority block in vocabulary version 2, signed by the
    /// root key, carrying the root key id and the issue time (the clock's, in whole seconds).
    /// A verifier refuses a proof dated before the issue time (beyond `Limits::clock_skew`):
    /// `ProofBeforeToken`.
    ///
    /// # Errors
    /// [`Error::Biscuit`] if the block cannot be built or signed.
    ///
    /// # Examples
    /// ```
    /// use agentcap::{AgentId, AgentKey, Authority, AuthorityId, AuthorityKey, Constraint, Grant, ToolGrant};
    /// use time::{Duration, OffsetDateTime};
    ///
    /// let authority = Authority::new(AuthorityId::new("ops")?, AuthorityKey::generate(1));
    /// let agent = AgentKey::generate();
    /// let grant = Grant::builder(AgentId::random(), agent.public(), OffsetDateTime::now_utc() + Duration::hours(1))
    ///     .tool("read_file", ToolGrant::new().arg("path", Constraint::sub_path("/data")?))
    ///     .build()?;
    /// let token = authority.issue(&grant)?;
    /// assert_eq!(token.block_count(), 1);
    /// # Ok::<(), agentcap::Error>(())
    /// ```
    pub fn issue(&self, grant: &Grant) -> Result<Token, Error> {
        Ok(Token {
            signed: Signed::issue(&self.key, &self.id, grant, self.clock.now())?,
        })
    }
}
