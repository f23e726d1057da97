//! A tamper-evident audit log: JSON Lines, each record carrying the SHA-256 of the previous
//! line, with checkpoints signed by the log's own ed25519 key every N records and on close.
//!
//! [`AuditLog`] writes (and is what a [`Verifier`](crate::Verifier) writes its decisions to);
//! [`verify_file`] checks a log; [`trace`] reconstructs root → agents → causes → messages for
//! a decision. See `docs/audit.md` for the format and what verification proves.

mod anchor;
mod event;
mod log;
mod trace;
mod verify;

pub use anchor::{verify_anchored, AnchorPoint, CheckpointAnchor};
pub use event::{DecisionRecord, Event, HopRecord, Record};
pub(crate) use log::hop_record;
pub use log::{AuditConfig, AuditError, AuditLog, Durability, LogKey, LogPublicKey};
pub use trace::{trace, Trace, TraceStep};
pub use verify::{verify_file, verify_file_since, LogFailure, LogReport};

/// Domain tag of checkpoint signatures.
pub(crate) const CHECKPOINT_DOMAIN: &[u8] = b"agentcap/audit-checkpoint/v1\0";

/// The bytes a checkpoint signs: domain, sequence number, previous-line hash.
pub(crate) fn checkpoint_message(seq: u64, prev: &[u8; 32], closed: bool) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 41);
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(prev);
    m.push(u8::from(closed));
    m
}

/// SHA-256 of a line's bytes (without its newline).
pub(crate) fn line_hash(line: &[u8]) -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(line).into()
}
