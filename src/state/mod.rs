//! Shared state the verifier consults on every call: replay nonces, revocations, budgets, rate
//! windows and fan-out. In memory by default ([`MemoryStore`]); on Redis for many executors
//! (`RedisStore`, feature `redis`).
//!
//! The two traits here are *the* extension points: [`Revocations`] for operators (revoke a
//! token subtree or an agent key), [`StateStore`] for the verifier (one atomic decision per
//! call). The decision is one operation, not one call per concept, because its parts must be
//! atomic together: a call denied by its rate window must not have used budget, and two
//! concurrent calls must never both take the last unit of a cap.

use std::time::Duration;

mod memory;
#[cfg(feature = "redis")]
mod redis_store;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis_store::{RedisStore, RedisStoreConfig, RedisTopology};

/// One use of a budget: the counter `scope` may reach at most `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetUse {
    /// The counter's key (32 bytes: a digest of the capping block's revocation id and the tool).
    pub scope: [u8; 32],
    /// The cap.
    pub max: u64,
    /// When the counter may be forgotten (Unix ms): the capping block's expiry plus
    /// [`EXPIRY_GRACE`]. No token that counts against it is valid after that.
    pub keep_until_ms: i64,
}

impl BudgetUse {
    /// A use of the counter `scope`, capped at `max`, kept until `keep_until_ms`.
    pub fn new(scope: [u8; 32], max: u64, keep_until_ms: i64) -> Self {
        Self {
            scope,
            max,
            keep_until_ms,
        }
    }
}

/// One use of a rate window: at most `max` calls in any `window` for `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateUse {
    /// The window's key (a digest of the capping block's revocation id, the tool, the calling
    /// holder's key and the cap).
    pub scope: [u8; 32],
    /// Calls allowed per window.
    pub max: u32,
    /// The sliding window's length.
    pub window: Duration,
}

impl RateUse {
    /// A use of the window `scope`: at most `max` calls per `window`.
    pub fn new(scope: [u8; 32], max: u32, window: Duration) -> Self {
        Self { scope, max, window }
    }
}

/// One delegation counted against a fan-out cap: `holder` joins the set `scope`, which may hold
/// at most `max` distinct holders.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FanOutUse {
    /// The set's key (a digest of the revocation id of the block that made the delegator holder).
    pub scope: [u8; 32],
    /// The delegated-to holder key.
    pub holder: [u8; 32],
    /// Distinct holders allowed.
    pub max: u32,
    /// When the set may be forgotten (Unix ms): the delegation block's expiry plus
    /// [`EXPIRY_GRACE`].
    pub keep_until_ms: i64,
}

/// A single-use approval the call spends: allowed only if it was never spent before.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApprovalUse {
    /// Its key (a digest of the approver key and the approval's nonce).
    pub scope: [u8; 32],
    /// When it may be forgotten (Unix ms): the approval's expiry plus the grace.
    pub keep_until_ms: i64,
}

impl ApprovalUse {
    /// A spend of the approval `scope`, remembered until `keep_until_ms`.
    pub fn new(scope: [u8; 32], keep_until_ms: i64) -> Self {
        Self {
            scope,
            keep_until_ms,
        }
    }
}

/// The message an allowed call of a message tool sends, recorded in the message ledger in the
/// same atomic step as the call's nonce and uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerRecord {
    /// The message's digest (`Digest::of_message`).
    pub digest: [u8; 32],
    /// What the ledger keeps of it.
    pub entry: LedgerEntry,
}

impl LedgerRecord {
    /// A record of `entry` under `digest`.
    pub fn new(digest: [u8; 32], entry: LedgerEntry) -> Self {
        Self { digest, entry }
    }
}

/// Everything one decision consults and, when it allows, records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateRequest {
    /// The decision time, Unix milliseconds.
    pub now_ms: i64,
    /// The token tree the call belongs to: a digest of the authority block's revocation id.
    /// The nonce, fan-out sets, budgets and rate windows of a decision all belong to one tree,
    /// so a store may place them together (`RedisStore` uses it as the Redis Cluster hash tag).
    pub tree: [u8; 16],
    /// The revocation id of every block of the token, authority first.
    pub revocation_ids: Vec<Vec<u8>>,
    /// Every agent key of the chain (root holder, each delegator, each new holder).
    pub agent_keys: Vec<[u8; 32]>,
    /// The replay key: a digest of the executor, holder and proof nonce.
    pub nonce: [u8; 32],
    /// How long the nonce must be remembered (twice the proof freshness window, plus 1 s).
    pub nonce_ttl: Duration,
    /// Fan-out sets to join.
    pub fan_out: Vec<FanOutUse>,
    /// Budgets to draw on.
    pub budgets: Vec<BudgetUse>,
    /// Rate windows to record in.
    pub rates: Vec<RateUse>,
    /// Single-use approvals to spend.
    pub approvals: Vec<ApprovalUse>,
    /// For a call of a message tool: the message it sends, recorded only if the call is allowed,
    /// in the same atomic step.
    pub ledger: Option<LedgerRecord>,
}

impl StateRequest {
    /// A request with no revocation ids, agent keys, uses or ledger record; push those onto its
    /// public fields. The verifier builds its own; this is for testing and benchmarking a store.
    pub fn new(now_ms: i64, tree: [u8; 16], nonce: [u8; 32], nonce_ttl: Duration) -> Self {
        Self {
            now_ms,
            tree,
            revocation_ids: Vec::new(),
            agent_keys: Vec::new(),
            nonce,
            nonce_ttl,
            fan_out: Vec::new(),
            budgets: Vec::new(),
            rates: Vec::new(),
            approvals: Vec::new(),
            ledger: None,
        }
    }
}

/// The outcome of one decision. Only [`StateVerdict::Allow`] records anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateVerdict {
    /// Everything is within bounds; the nonce, fan-out, budget and rate uses and the ledger
    /// record were recorded.
    Allow,
    /// A block of the token, or an agent key of its chain, is revoked.
    Revoked,
    /// The nonce was seen within its lifetime.
    Replayed,
    /// A delegation would exceed a fan-out cap.
    FanOutExceeded,
    /// A budget is used up.
    BudgetExhausted,
    /// A rate window is full.
    RateLimited,
    /// A single-use approval was already spent.
    ApprovalSpent,
}

/// The store could not be consulted (a denial with class `StateUnavailable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state store unavailable: {0}")]
pub struct StateError(pub String);

/// How long past its expiry the state of a token is kept: budgets, fan-out sets and
/// revocations are dropped this long after the last token they count for has expired. It covers
/// clock differences between executors and the store (the expiry check uses each verifier's
/// clock; Redis expires keys on the server's).
pub const EXPIRY_GRACE: Duration = Duration::from_secs(3600);

/// Revocation, the operator's side.
pub trait Revocations: Send + Sync {
    /// Revokes a block by its revocation id: every token containing that block (the token it
    /// identifies and everything attenuated or delegated from it) is denied from now on. The
    /// entry is kept forever (the store cannot know when the block expires); prefer
    /// [`Revocations::revoke_token`], which forgets it once the token has expired.
    ///
    /// # Errors
    /// [`StateError`] when the store cannot be written.
    fn revoke_id(&self, revocation_id: &[u8]) -> Result<(), StateError>;

    /// Revokes a block by its revocation id and keeps the entry until `keep_until_ms` (Unix ms),
    /// when no token containing the block can be valid any more. A store that cannot expire
    /// entries keeps it forever (the default).
    ///
    /// # Errors
    /// [`StateError`] when the store cannot be written.
    fn revoke_id_until(&self, revocation_id: &[u8], keep_until_ms: i64) -> Result<(), StateError> {
        let _ = keep_until_ms;
        self.revoke_id(revocation_id)
    }

    /// Revokes `token` and everything attenuated or delegated from it (its last block), keeping
    /// the entry until the token's expiry plus [`EXPIRY_GRACE`]: every token derived from it
    /// expires no later, so the entry is not needed afterwards. To cut the whole tree of a
    /// grant, revoke the token the authority issued.
    ///
    /// # Errors
    /// [`StateError`] when the store cannot be written, or the token cannot be described.
    fn revoke_token(&self, token: &crate::Token) -> Result<(), StateError> {
        let expires = token
            .describe()
            .map_err(|e| StateError(format!("token: {e}")))?
            .expires_at;
        self.revoke_id_until(
            token.id().as_bytes(),
            crate::usage::after_expiry_ms(expires.unix_timestamp(), EXPIRY_GRACE),
        )
    }

    /// Revokes an agent key: every chain in which it is a holder or delegator is denied. Kept
    /// forever (a key does not expire).
    ///
    /// # Errors
    /// [`StateError`] when the store cannot be written.
    fn revoke_agent_key(&self, key: &[u8; 32]) -> Result<(), StateError>;
}

/// What the message ledger knows of one message an allowed call sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct LedgerEntry {
    /// Agent-to-agent hops from the origin: 1 for a message sent because of a message the
    /// ledger never saw (e.g. from a human), the cause's hop + 1 otherwise.
    pub hop: u32,
    /// The labels of the sending call, its cause's included: they travel with the message.
    pub labels: Vec<String>,
    /// The keys (`ed25519/<hex>`) that sent a message on this chain, origin first, sender last
    /// (when the same text was sent on several chains, the union of their keys).
    pub path: Vec<String>,
}

impl LedgerEntry {
    /// An entry.
    pub fn new(hop: u32, labels: Vec<String>, path: Vec<String>) -> Self {
        Self { hop, labels, path }
    }

    /// Merges another record of the same message into this one: never lowers the hop, never
    /// drops a label, never drops a key from the path (the other's keys not yet in it are
    /// appended in their order), so loop detection sees every key that sent this text.
    pub fn merge(&mut self, other: &LedgerEntry) {
        self.hop = self.hop.max(other.hop);
        for l in &other.labels {
            if !self.labels.contains(l) {
                self.labels.push(l.clone());
            }
        }
        self.labels.sort();
        for k in &other.path {
            if !self.path.contains(k) {
                self.path.push(k.clone());
            }
        }
    }
}

/// The message ledger: which messages allowed calls sent, so that a later call caused by one
/// inherits its labels and hop count. Entries are kept for a day.
pub trait MessageLedger: Send + Sync {
    /// The entry for a message digest, if an allowed call sent it.
    ///
    /// # Errors
    /// [`StateError`] when the store cannot be consulted.
    fn lookup(&self, digest: &[u8; 32], now_ms: i64) -> Result<Option<LedgerEntry>, StateError>;

    /// Records a sent message. If the digest is already recorded (the same text sent again),
    /// the entries merge as a ratchet: the higher hop, the union of labels, the union of paths.
    ///
    /// # Errors
    /// [`StateError`] when the store cannot be written.
    fn record(&self, digest: &[u8; 32], entry: &LedgerEntry, now_ms: i64)
        -> Result<(), StateError>;
}

/// How long ledger entries are kept.
pub const LEDGER_TTL: Duration = Duration::from_secs(24 * 3600);

/// The verifier's side: one atomic decision per call, and the message ledger.
pub trait StateStore: Revocations + MessageLedger {
    /// Checks revocation, replay, fan-out, budgets and rate windows for one call and, only if
    /// every one passes, records the nonce, every use and the ledger record — atomically with
    /// respect to every other decision on the same store. What is recorded is forgotten when it
    /// can no longer matter: nonces after their TTL, uses at their `keep_until_ms`, rate entries
    /// once out of their window, ledger entries [`LEDGER_TTL`] after their last record.
    ///
    /// # Errors
    /// [`StateError`] when the store cannot be consulted; the verifier then denies.
    fn decide(&self, request: &StateRequest) -> Result<StateVerdict, StateError>;

    /// Whether `decide` records [`StateRequest::ledger`] and spends
    /// [`StateRequest::approvals`] itself, in its atomic step. A store written before these
    /// fields existed returns `false` (the default): the verifier then records the message with
    /// [`MessageLedger::record`] after an allowed decision (not atomically), and denies every
    /// call that would spend a single-use approval, which such a store would not remember.
    fn records_ledger_and_approvals(&self) -> bool {
        false
    }
}
