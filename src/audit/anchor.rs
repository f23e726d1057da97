//! Off-host anchoring of checkpoints: each signed checkpoint's coverage is also written to a
//! store on another host, so cutting the log back past an anchored checkpoint is detected
//! even though the cut file still verifies on its own.

use std::fmt;
use std::path::Path;

use super::{verify_file_since, LogFailure, LogPublicKey, LogReport};

/// Where a log's checkpoints are anchored: for each log (its public key), the number of records
/// its latest checkpoint covers. Implemented by `MemoryStore` (tests, one process) and
/// `RedisStore` (off the host, shared).
pub trait CheckpointAnchor: Send + Sync + fmt::Debug {
    /// Records that `log` has a signed checkpoint covering its first `checkpointed` records.
    /// The anchor keeps the highest value it was ever given (it never moves back).
    ///
    /// # Errors
    /// A description of why the anchor could not be written.
    fn anchor(&self, log: &LogPublicKey, checkpointed: u64) -> Result<(), String>;

    /// The highest coverage anchored for `log` (0 when none).
    ///
    /// # Errors
    /// A description of why the anchor could not be read.
    fn anchored(&self, log: &LogPublicKey) -> Result<u64, String>;
}

/// Verifies the log at `path`, and fails unless it still holds every checkpoint `anchor` knows
/// of: a log cut back past its last anchored checkpoint fails with [`LogFailure::Truncated`].
///
/// # Errors
/// The first [`LogFailure`]; [`LogFailure::Io`] when the anchor cannot be read.
pub fn verify_anchored(
    path: impl AsRef<Path>,
    key: &LogPublicKey,
    anchor: &dyn CheckpointAnchor,
) -> Result<LogReport, LogFailure> {
    let known = anchor
        .anchored(key)
        .map_err(|e| LogFailure::Io(format!("checkpoint anchor: {e}")))?;
    verify_file_since(path, key, known)
}
