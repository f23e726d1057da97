//! Verifying a log file: the hash chain, the sequence, and the checkpoint signatures.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use ed25519_dalek::Signature;

use super::event::{Event, Record};
use super::log::LogPublicKey;
use super::{checkpoint_message, line_hash};

/// What a verified log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogReport {
    /// Complete, valid records (checkpoints included).
    pub records: u64,
    /// Records covered by the last valid checkpoint (signed: cannot be changed or cut without
    /// detection, by anyone without the log key).
    pub checkpointed: u64,
    /// Whether the last record is a closing checkpoint. A log that was not closed may have lost
    /// records after its last checkpoint without trace (a crash, or a truncation).
    pub closed: bool,
    /// Whether the file ends in a torn (incomplete) line, as a crash mid-write leaves.
    pub torn_tail: bool,
}

/// Why a log failed verification, naming the first bad record (0-based line number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogFailure {
    /// The file could not be read.
    #[error("cannot read the log: {0}")]
    Io(String),
    /// A line is not a record.
    #[error("line {line}: not a record")]
    Malformed {
        /// The line.
        line: u64,
    },
    /// A record's sequence number is not its position (a deletion, insertion or reordering).
    #[error("line {line}: sequence {found} where {line} was expected")]
    Sequence {
        /// The line.
        line: u64,
        /// The sequence number found.
        found: u64,
    },
    /// A record does not carry the hash of the line before it (an edit, deletion, insertion or
    /// reordering at or before this line).
    #[error("line {line}: previous-record hash does not match")]
    Chain {
        /// The line.
        line: u64,
    },
    /// The first record is not an `open` record for this key.
    #[error("line 0: not a log opened with this key")]
    WrongLog,
    /// A checkpoint's signature does not verify.
    #[error("line {line}: checkpoint signature does not verify")]
    Signature {
        /// The line.
        line: u64,
    },
    /// Records follow a closing checkpoint.
    #[error("line {line}: record after the log was closed")]
    AfterClose {
        /// The line.
        line: u64,
    },
    /// The log is not what its anchored checkpoint says: line 0 is another log's, or the line
    /// where the anchored checkpoint stands differs (a rewritten log).
    #[error("line {line} differs from the anchored checkpoint")]
    Anchor {
        /// The line.
        line: u64,
    },
    /// Fewer records are under a valid checkpoint than the caller already knew of (truncated).
    #[error("the log has {records} records but a checkpoint at {expected} was known")]
    Truncated {
        /// Records found.
        records: u64,
        /// The signed coverage (`checkpointed`) the caller knew of.
        expected: u64,
    },
}

impl fmt::Display for LogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records, {} under a signed checkpoint, {}{}",
            self.records,
            self.checkpointed,
            if self.closed { "closed" } else { "not closed" },
            if self.torn_tail {
                ", torn last line"
            } else {
                ""
            }
        )
    }
}

/// Verifies the log at `path` against the log's public key.
///
/// Detects any edit, deletion, insertion or reordering of records (the hash chain and sequence
/// numbers break at the first bad record), a forged or missing open record, and forged
/// checkpoints. A cut at the end is visible as `closed == false` (and, past a checkpoint the
/// caller knows of, with [`verify_file_since`]); what it cannot detect is documented in
/// `docs/audit.md`.
///
/// # Errors
/// The first [`LogFailure`].
pub fn verify_file(path: impl AsRef<Path>, key: &LogPublicKey) -> Result<LogReport, LogFailure> {
    verify_file_since(path, key, 0)
}

/// As [`verify_file`], and also fails unless at least the first `known_checkpoint` records are
/// still covered by a valid signed checkpoint (pass the `checkpointed` count of an earlier
/// report, e.g. one shipped off the host).
///
/// # Errors
/// The first [`LogFailure`].
pub fn verify_file_since(
    path: impl AsRef<Path>,
    key: &LogPublicKey,
    known_checkpoint: u64,
) -> Result<LogReport, LogFailure> {
    let file = File::open(path).map_err(|e| LogFailure::Io(e.to_string()))?;
    let mut reader = BufReader::new(file);
    let mut report = LogReport {
        records: 0,
        checkpointed: 0,
        closed: false,
        torn_tail: false,
    };
    let mut prev = [0u8; 32];
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| LogFailure::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        let line_no = report.records;
        let Some(line) = buf.strip_suffix(b"\n") else {
            report.torn_tail = true;
            break;
        };
        if report.closed {
            return Err(LogFailure::AfterClose { line: line_no });
        }
        let record: Record =
            serde_json::from_slice(line).map_err(|_| LogFailure::Malformed { line: line_no })?;
        if record.seq != line_no {
            return Err(LogFailure::Sequence {
                line: line_no,
                found: record.seq,
            });
        }
        if record.prev != hex::encode(prev) {
            return Err(LogFailure::Chain { line: line_no });
        }
        match &record.event {
            Event::Open { log_key, .. } if line_no != 0 || *log_key != key.to_string() => {
                return Err(LogFailure::WrongLog);
            }
            Event::Open { .. } => {}
            _ if line_no == 0 => return Err(LogFailure::WrongLog),
            Event::Checkpoint { sig, closed } => {
                let sig = hex::decode(sig)
                    .ok()
                    .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
                    .map(|b| Signature::from_bytes(&b))
                    .ok_or(LogFailure::Signature { line: line_no })?;
                key.0
                    .verify_strict(&checkpoint_message(line_no, &prev, *closed), &sig)
                    .map_err(|_| LogFailure::Signature { line: line_no })?;
                report.checkpointed = line_no + 1;
                report.closed = *closed;
            }
            _ => {}
        }
        prev = line_hash(line);
        report.records += 1;
    }
    // `known_checkpoint` is the `checkpointed` count of an earlier report: everything up to it
    // must still be under a valid signature (counting records alone would accept a cut
    // followed by appended unsigned records).
    if report.checkpointed < known_checkpoint {
        return Err(LogFailure::Truncated {
            records: report.records,
            expected: known_checkpoint,
        });
    }
    Ok(report)
}
