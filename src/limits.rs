//! Bounds on the work one verification may do.

use std::time::Duration;

/// Bounds on one verification. Every field has a documented default; all are enforced before
/// or during the work they bound, and a hit is a denial with its own reason.
///
/// There is no Datalog run limit: the verifier evaluates no Datalog. It reads each block
/// against a closed grammar (linear in the token's bytes) and evaluates a typed plan natively,
/// so the token's size and block count bound its work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest token text, in bytes. Defaults to 64 KiB.
    pub max_token_bytes: usize,
    /// Most blocks in a token (authority included). Defaults to 32.
    pub max_blocks: usize,
    /// Largest canonical arguments, in bytes. Defaults to 64 KiB.
    pub max_args_bytes: usize,
    /// Deepest argument nesting. Defaults to 32.
    pub max_args_depth: usize,
    /// Most scalar values in the arguments, and most values waiting to be walked at any one
    /// time (so a wide array of empty containers is bounded too). Defaults to 1,024.
    pub max_args_values: usize,
    /// How far a proof's issue time may lie in the past or the future. Defaults to 60 s.
    pub proof_window: Duration,
    /// How far the issuer's clock may run ahead of the holder's: a proof dated more than this
    /// before its token's issue time is refused (`ProofBeforeToken`). Defaults to 5 s.
    pub clock_skew: Duration,
    /// How long past a block's expiry the state it counts (budgets, fan-out sets) is kept before
    /// the store may forget it. Covers clock differences between executors and the store.
    /// Defaults to [`EXPIRY_GRACE`](crate::state::EXPIRY_GRACE) (1 h).
    pub state_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_bytes: 64 * 1024,
            max_blocks: 32,
            max_args_bytes: 64 * 1024,
            max_args_depth: 32,
            max_args_values: 1024,
            proof_window: Duration::from_secs(60),
            clock_skew: Duration::from_secs(5),
            state_grace: crate::state::EXPIRY_GRACE,
        }
    }
}
