//! Bounds on the work one verification may do.

use std::time::Duration;

/// Bounds on one verification. Every field has a documented default; all are enforced before
/// or during the work they bound, and a hit is a denial with its own reason.
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
    /// Datalog: most facts. Defaults to 10,000.
    pub max_facts: u64,
    /// Datalog: most rule iterations. Defaults to 100.
    pub max_iterations: u64,
    /// Datalog: longest run. Defaults to 100 ms: biscuit's own 1 ms default causes spurious
    /// denials on a loaded machine, and 100 ms still bounds a hostile token.
    pub max_time: Duration,
    /// How far a proof's issue time may lie in the past or the future. Defaults to 60 s.
    pub proof_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_bytes: 64 * 1024,
            max_blocks: 32,
            max_args_bytes: 64 * 1024,
            max_args_depth: 32,
            max_args_values: 1024,
            max_facts: 10_000,
            max_iterations: 100,
            max_time: Duration::from_millis(100),
            proof_window: Duration::from_secs(60),
        }
    }
}

impl Limits {
    pub(crate) fn authorizer_limits(&self) -> biscuit_auth::AuthorizerLimits {
        biscuit_auth::AuthorizerLimits {
            max_facts: self.max_facts,
            max_iterations: self.max_iterations,
            max_time: self.max_time,
        }
    }
}
