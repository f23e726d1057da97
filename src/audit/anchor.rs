//! Off-host anchoring of checkpoints: each signed checkpoint is also recorded in a store on
//! another host, so a log cut back past it, or replaced by another log, is detected even though
//! the cut file still verifies on its own.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{line_hash, verify_file_since, LogFailure, LogPublicKey, LogReport};

/// One anchored checkpoint of one log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnchorPoint {
    /// The log: the SHA-256 of its first (`open`) line, unique per log even when a key is
    /// reused for a new log.
    pub log_id: [u8; 32],
    /// Records the checkpoint covers (the checkpoint's sequence number + 1).
    pub checkpointed: u64,
    /// The SHA-256 of the checkpoint's line: with the hash chain, it fixes every record before.
    pub hash: [u8; 32],
}

impl AnchorPoint {
    /// A point.
    pub fn new(log_id: [u8; 32], checkpointed: u64, hash: [u8; 32]) -> Self {
        Self {
            log_id,
            checkpointed,
            hash,
        }
    }

    /// Whether a store holding `self` keeps it rather than `next`: it keeps the latest point of
    /// the latest log of a key (a new log with the same key replaces the old one's point).
    pub fn replaced_by(&self, next: &AnchorPoint) -> bool {
        next.log_id != self.log_id || next.checkpointed > self.checkpointed
    }
}

/// Where a log's checkpoints are anchored: for each log key, the latest checkpoint of its latest
/// log. Implemented by `RedisStore` (off the host, shared) and `MemoryStore` (one process).
pub trait CheckpointAnchor: Send + Sync + fmt::Debug {
    /// Records `point` for the log key `log`, unless the stored point is of the same log and
    /// covers more (see [`AnchorPoint::replaced_by`]).
    ///
    /// # Errors
    /// A description of why the anchor could not be written.
    fn anchor(&self, log: &LogPublicKey, point: &AnchorPoint) -> Result<(), String>;

    /// The point anchored for the log key `log`, if any.
    ///
    /// # Errors
    /// A description of why the anchor could not be read.
    fn anchored(&self, log: &LogPublicKey) -> Result<Option<AnchorPoint>, String>;
}

/// Verifies the log at `path` and checks it against the point `anchor` holds for its key: the
/// file must be that log (its first line), hold at least the anchored coverage under signed
/// checkpoints (else [`LogFailure::Truncated`]) and carry the anchored checkpoint line at its
/// place (else [`LogFailure::Anchor`]). With nothing anchored it is [`verify_file`](super::verify_file).
///
/// # Errors
/// The first [`LogFailure`]; [`LogFailure::Io`] when the anchor cannot be read.
pub fn verify_anchored(
    path: impl AsRef<Path>,
    key: &LogPublicKey,
    anchor: &dyn CheckpointAnchor,
) -> Result<LogReport, LogFailure> {
    let path = path.as_ref();
    let point = anchor
        .anchored(key)
        .map_err(|e| LogFailure::Io(format!("checkpoint anchor: {e}")))?;
    let Some(point) = point else {
        return verify_file_since(path, key, 0);
    };
    let report = verify_file_since(path, key, point.checkpointed)?;
    check_point(path, &point)?;
    Ok(report)
}

/// The file's first line and its line `checkpointed - 1` hash as `point` says.
pub(crate) fn check_point(path: &Path, point: &AnchorPoint) -> Result<(), LogFailure> {
    let io = |e: std::io::Error| LogFailure::Io(e.to_string());
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let last = point.checkpointed.saturating_sub(1);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            // Shorter than the anchor: verify_file_since reports it as Truncated first.
            return Err(LogFailure::Anchor { line });
        }
        let hash = line_hash(buf.strip_suffix(b"\n").unwrap_or(&buf));
        if line == 0 && hash != point.log_id {
            return Err(LogFailure::Anchor { line: 0 });
        }
        if line == last {
            return if hash == point.hash {
                Ok(())
            } else {
                Err(LogFailure::Anchor { line })
            };
        }
        line += 1;
    }
}
