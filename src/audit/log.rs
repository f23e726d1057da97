//! Writing the log: append, checkpoint, close, reopen after a crash.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::OsRng;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::anchor::check_point;
use super::event::{Event, HopRecord, Record};
use super::{checkpoint_message, line_hash, AnchorPoint};
use crate::decision::Hop;
use crate::digest::Digest;
use crate::ids::{AgentId, Label, ToolName};
use crate::keys::AgentPublicKey;
use crate::token::Token;

/// The log's own signing key (for checkpoints). Secret: redacted `Debug`, zeroized on drop.
pub struct LogKey(SigningKey);

impl LogKey {
    /// A fresh key.
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut OsRng))
    }

    /// From 32 secret bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The 32 secret bytes, zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half, which verifies checkpoints.
    pub fn public(&self) -> LogPublicKey {
        LogPublicKey(self.0.verifying_key())
    }
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// The public key of a log. Text form `ed25519/<hex>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LogPublicKey(pub(crate) VerifyingKey);

impl fmt::Display for LogPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519/{}", hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for LogPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogPublicKey({self})")
    }
}

impl FromStr for LogPublicKey {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> Result<Self, crate::error::Error> {
        let k: AgentPublicKey = s.parse()?;
        Ok(Self(*k.verifying_key()))
    }
}

/// When records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `fsync` after every record before it is acknowledged: nothing acknowledged is lost even
    /// on power loss. The default.
    EveryRecord,
    /// `fsync` every `n` records (and at checkpoints): a record is acknowledged once written to
    /// the operating system, so a killed process loses nothing, a power loss up to `n - 1`.
    Batch(u32),
}

/// How a log is written.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuditConfig {
    /// Opt-in: where each signed checkpoint's coverage is also written, off this host, so that
    /// a log cut back past it is detected ([`verify_anchored`](super::verify_anchored)).
    /// Defaults to none.
    pub anchor: Option<std::sync::Arc<dyn super::CheckpointAnchor>>,
    /// A signed checkpoint every this many records. Defaults to 100.
    pub checkpoint_every: u32,
    /// Defaults to [`Durability::EveryRecord`].
    pub durability: Durability,
    /// Opt-in: per tool, the argument pointers whose values decision records keep. Defaults to
    /// none: only the call digest is logged.
    pub keep_args: BTreeMap<ToolName, Vec<String>>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            anchor: None,
            checkpoint_every: 100,
            durability: Durability::EveryRecord,
            keep_args: BTreeMap::new(),
        }
    }
}

impl AuditConfig {
    /// Checkpoints every `records` records.
    pub fn with_checkpoint_every(mut self, records: u32) -> Self {
        self.checkpoint_every = records;
        self
    }

    /// Uses `durability`.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Anchors every checkpoint in `anchor` (e.g. the shared `RedisStore`).
    pub fn with_anchor(mut self, anchor: std::sync::Arc<dyn super::CheckpointAnchor>) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// Keeps, in decision records for `tool`, the values at these argument pointers.
    pub fn keep_args(mut self, tool: ToolName, pointers: impl IntoIterator<Item = String>) -> Self {
        self.keep_args.insert(tool, pointers.into_iter().collect());
        self
    }
}

/// An audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The file system failed.
    #[error("audit log i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The file exists (on create) or is not a log this key wrote (on open).
    #[error("audit log `{path}`: {why}")]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A record could not be encoded.
    #[error("audit record encoding: {0}")]
    Encoding(String),
    /// A previous write failed part-way; the log refuses further records.
    #[error("audit log is poisoned by an earlier failure")]
    Poisoned,
}

struct Writer {
    file: File,
    seq: u64,
    prev: [u8; 32],
    since_checkpoint: u32,
    since_sync: u32,
    failed: bool,
}

/// The group commit's state: which records are durable, and whether a sync is under way.
struct Syncer {
    /// Every record with a sequence number below this is on disk.
    durable: u64,
    /// A thread is syncing now (the leader); the others wait on `synced`.
    syncing: bool,
    failed: bool,
}

/// An append-only, hash-chained, checkpoint-signed JSON Lines log. Safe to share between
/// threads: appends are serialized, and with [`Durability::EveryRecord`] the `fsync` runs
/// outside the append lock as a group commit (one `fsync` makes every record written before it
/// durable, so concurrent decisions share it). The file is locked for exclusive use while the
/// log is open: a second writer, in this process or another, is refused.
pub struct AuditLog {
    path: PathBuf,
    key: LogKey,
    config: AuditConfig,
    writer: Mutex<Writer>,
    /// Records written so far (the next sequence number), published after each write.
    written: AtomicU64,
    syncer: Mutex<Syncer>,
    /// Signalled after every sync: waiters whose record it covered return together.
    synced: Condvar,
    /// A second handle on the log file: `fsync` through it needs neither lock.
    sync_file: File,
    /// The hash of the log's first line: its identity for checkpoint anchors.
    log_id: std::sync::OnceLock<[u8; 32]>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Takes the exclusive lock on a log file: two writers would interleave their chains.
fn lock(file: &File, path: &Path) -> Result<(), AuditError> {
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => AuditError::Unusable {
            path: path.to_path_buf(),
            why: "another writer has it open (the file is locked); one writer per log file"
                .to_owned(),
        },
        std::fs::TryLockError::Error(e) => AuditError::Io(e),
    })
}

impl AuditLog {
    fn with_writer(
        path: PathBuf,
        key: LogKey,
        config: AuditConfig,
        w: Writer,
    ) -> Result<Self, AuditError> {
        let sync_handle = w.file.try_clone()?;
        let seq = w.seq;
        Ok(Self {
            writer: Mutex::new(w),
            written: AtomicU64::new(seq),
            syncer: Mutex::new(Syncer {
                durable: seq,
                syncing: false,
                failed: false,
            }),
            synced: Condvar::new(),
            sync_file: sync_handle,
            log_id: std::sync::OnceLock::new(),
            path,
            config,
            key,
        })
    }

    /// Creates a new log at `path` (which must not exist), writing its `open` record.
    ///
    /// # Errors
    /// [`AuditError::Unusable`] if the file exists; [`AuditError::Io`] on file-system failure.
    pub fn create(
        path: impl AsRef<Path>,
        key: LogKey,
        config: AuditConfig,
    ) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => AuditError::Unusable {
                    path: path.clone(),
                    why: "already exists".to_owned(),
                },
                _ => AuditError::Io(e),
            })?;
        lock(&file, &path)?;
        let log = Self::with_writer(
            path,
            key,
            config,
            Writer {
                file,
                seq: 0,
                prev: [0; 32],
                since_checkpoint: 0,
                since_sync: 0,
                failed: false,
            },
        )?;
        let log_key = log.key.public().to_string();
        log.append(Event::Open {
            log_key,
            version: 1,
        })?;
        Ok(log)
    }

    /// Reopens an existing log to append. A torn last line (a crash mid-write) is cut off and a
    /// [`Event::Recovery`] record says so; any other damage refuses the open (verify the file).
    ///
    /// # Errors
    /// [`AuditError::Unusable`] when the file is not an intact log written with this key.
    pub fn open(
        path: impl AsRef<Path>,
        key: LogKey,
        config: AuditConfig,
    ) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let unusable = |why: String| AuditError::Unusable {
            path: path.clone(),
            why,
        };
        // Locked before it is read: a writer appending meanwhile would change what was checked.
        let mut file = OpenOptions::new().read(true).append(true).open(&path)?;
        lock(&file, &path)?;
        let report =
            super::verify_file(&path, &key.public()).map_err(|f| unusable(f.to_string()))?;
        if report.closed {
            return Err(unusable("the log was closed; start a new one".to_owned()));
        }
        if report.records == 0 {
            return Err(unusable(
                "no complete open record; this is not a log".to_owned(),
            ));
        }
        // A log cut back past its anchored checkpoint, or another log than the one anchored
        // for this key, is not appended to (appending would hide the cut).
        if let Some(anchor) = &config.anchor {
            let point = anchor
                .anchored(&key.public())
                .map_err(|e| unusable(format!("checkpoint anchor unreadable: {e}")))?;
            if let Some(point) = point {
                if report.checkpointed < point.checkpointed || check_point(&path, &point).is_err() {
                    return Err(unusable(format!(
                        "the log does not hold its anchored checkpoint (record {}): it was cut \
                         back or replaced",
                        point.checkpointed.saturating_sub(1)
                    )));
                }
            }
        }
        // Find the end of the last complete line and the hash of that line.
        let mut reader = BufReader::new(&file);
        let (mut good_end, mut last, mut first) = (0u64, Vec::new(), None);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 || buf.last() != Some(&b'\n') {
                break;
            }
            good_end += n as u64;
            last = buf.strip_suffix(b"\n").unwrap_or(&buf).to_vec();
            if first.is_none() {
                first = Some(line_hash(&last));
            }
        }
        let len = file.seek(SeekFrom::End(0))?;
        let dropped = len - good_end;
        if dropped > 0 {
            file.set_len(good_end)?;
            file.sync_all()?;
        }
        let log = Self::with_writer(
            path,
            key,
            config,
            Writer {
                file,
                seq: report.records,
                prev: line_hash(&last),
                since_checkpoint: 0,
                since_sync: 0,
                failed: false,
            },
        )?;
        if let Some(first) = first {
            let _ = log.log_id.set(first);
        }
        if dropped > 0 {
            log.append(Event::Recovery {
                dropped_bytes: dropped,
            })?;
        }
        Ok(log)
    }

    /// The log's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key that verifies its checkpoints.
    pub fn public_key(&self) -> LogPublicKey {
        self.key.public()
    }

    /// The configuration.
    pub fn config(&self) -> &AuditConfig {
        &self.config
    }

    /// Appends one event; returns its record id once it is written (and synced, per the
    /// durability policy). A checkpoint follows every `checkpoint_every` records.
    ///
    /// # Errors
    /// [`AuditError`] when it could not be written; the log then refuses further appends.
    pub fn append(&self, event: Event) -> Result<String, AuditError> {
        let (id, seq, point) = {
            let mut w = self.writer.lock().map_err(|_| AuditError::Poisoned)?;
            if w.failed {
                return Err(AuditError::Poisoned);
            }
            let id = self.write(&mut w, event, false)?;
            let seq = w.seq;
            w.since_checkpoint += 1;
            let mut point = None;
            if w.since_checkpoint >= self.config.checkpoint_every.max(1) {
                // The record is written whole: a checkpoint that fails after it (disk full)
                // poisons the log for later appends, but this record stands and is synced
                // below, so its caller is told the truth. A torn checkpoint line is dropped
                // when the log is reopened.
                point = self.checkpoint_locked(&mut w, false).unwrap_or(None);
            }
            (id, seq, point)
        };
        self.anchor(point);
        if self.config.durability == Durability::EveryRecord {
            self.make_durable(seq)?;
        }
        Ok(id)
    }

    /// The group commit: returns once every record below `seq` is on disk. If no sync is under
    /// way, this thread leads one: it syncs everything written so far, outside every lock, while
    /// others keep appending and wait; then all whose records it covered return at once, and
    /// one of the rest leads the next. Each `fsync` thus covers every record written while the
    /// previous one ran.
    fn make_durable(&self, seq: u64) -> Result<(), AuditError> {
        let mut s = self.syncer.lock().map_err(|_| AuditError::Poisoned)?;
        loop {
            if s.failed {
                return Err(AuditError::Poisoned);
            }
            if s.durable >= seq {
                return Ok(());
            }
            if s.syncing {
                s = self.synced.wait(s).map_err(|_| AuditError::Poisoned)?;
                continue;
            }
            s.syncing = true;
            // Everything below `target` was written before this sync starts.
            let target = self.written.load(Ordering::Acquire);
            drop(s);
            let result = self.sync_file.sync_data();
            s = self.syncer.lock().map_err(|_| AuditError::Poisoned)?;
            s.syncing = false;
            match result {
                Ok(()) => s.durable = s.durable.max(target),
                Err(e) => {
                    s.failed = true;
                    self.synced.notify_all();
                    drop(s);
                    if let Ok(mut w) = self.writer.lock() {
                        w.failed = true;
                    }
                    return Err(AuditError::Io(e));
                }
            }
            self.synced.notify_all();
        }
    }

    /// Writes a signed checkpoint now.
    ///
    /// # Errors
    /// As [`AuditLog::append`].
    pub fn checkpoint(&self) -> Result<(), AuditError> {
        let point = {
            let mut w = self.writer.lock().map_err(|_| AuditError::Poisoned)?;
            if w.failed {
                return Err(AuditError::Poisoned);
            }
            self.checkpoint_locked(&mut w, false)?
        };
        self.anchor(point);
        Ok(())
    }

    /// Writes the closing checkpoint. Appends after it are refused.
    ///
    /// # Errors
    /// As [`AuditLog::append`].
    pub fn close(&self) -> Result<(), AuditError> {
        let point = {
            let mut w = self.writer.lock().map_err(|_| AuditError::Poisoned)?;
            if w.failed {
                return Err(AuditError::Poisoned);
            }
            let point = self.checkpoint_locked(&mut w, true)?;
            w.failed = true;
            point
        };
        self.anchor(point);
        Ok(())
    }

    /// Anchors a checkpoint off the host, outside the writer lock (a slow anchor store must not
    /// stall appends). A failure does not fail the record: the log itself is intact and durable;
    /// it is reported, and the next checkpoint anchors a later point.
    fn anchor(&self, point: Option<AnchorPoint>) {
        if let (Some(anchor), Some(point)) = (&self.config.anchor, point) {
            if let Err(e) = anchor.anchor(&self.key.public(), &point) {
                tracing::error!(agentcap.audit_error = %e, "checkpoint not anchored");
            }
        }
    }

    /// Writes a checkpoint (synced); returns the point to anchor, if the log has an anchor.
    fn checkpoint_locked(
        &self,
        w: &mut Writer,
        closed: bool,
    ) -> Result<Option<AnchorPoint>, AuditError> {
        let sig = self.key.0.sign(&checkpoint_message(w.seq, &w.prev, closed));
        self.write(
            w,
            Event::Checkpoint {
                sig: hex::encode(sig.to_bytes()),
                closed,
            },
            true,
        )?;
        w.since_checkpoint = 0;
        // The checkpoint is on disk (written with a sync): its point may be anchored.
        Ok(match (&self.config.anchor, self.log_id.get()) {
            (Some(_), Some(log_id)) => Some(AnchorPoint::new(*log_id, w.seq, w.prev)),
            _ => None,
        })
    }

    fn write(&self, w: &mut Writer, event: Event, force_sync: bool) -> Result<String, AuditError> {
        let id = uuid::Uuid::new_v4().to_string();
        let record = Record {
            seq: w.seq,
            id: id.clone(),
            ts: i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
                .unwrap_or(i64::MAX),
            prev: hex::encode(w.prev),
            event,
        };
        let mut line =
            serde_json::to_vec(&record).map_err(|e| AuditError::Encoding(e.to_string()))?;
        let hash = line_hash(&line);
        line.push(b'\n');
        // INVARIANT: one write_all per record, so a crash leaves at most one torn last line.
        let result = w.file.write_all(&line).and_then(|()| {
            w.since_sync += 1;
            // With `EveryRecord`, `append` syncs after releasing the lock (group commit).
            let sync = force_sync
                || match self.config.durability {
                    Durability::EveryRecord => false,
                    Durability::Batch(n) => w.since_sync >= n.max(1),
                };
            if sync {
                w.since_sync = 0;
                w.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            w.failed = true;
            return Err(AuditError::Io(e));
        }
        if w.seq == 0 {
            let _ = self.log_id.set(hash);
        }
        w.seq += 1;
        w.prev = hash;
        self.written.store(w.seq, Ordering::Release);
        Ok(id)
    }

    /// Records an agent-to-agent message the framework delivered: sender, recipient, the
    /// message digest (what calls it causes name as their cause) and, when the sender was
    /// answering or forwarding a message, that message's digest.
    ///
    /// # Errors
    /// As [`AuditLog::append`].
    pub fn record_message(
        &self,
        from: AgentId,
        to: AgentId,
        digest: Digest,
        cause: Option<Digest>,
        labels: &[Label],
    ) -> Result<String, AuditError> {
        self.append(Event::Message {
            from: from.to_string(),
            to: to.to_string(),
            digest: digest.to_string(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            cause: cause.map(|c| c.to_string()),
        })
    }

    /// Records that `token` was issued.
    ///
    /// # Errors
    /// As [`AuditLog::append`]; [`AuditError::Encoding`] if the token cannot be described.
    pub fn record_issuance(&self, token: &Token) -> Result<String, AuditError> {
        let d = token
            .describe()
            .map_err(|e| AuditError::Encoding(e.to_string()))?;
        self.append(Event::Issuance {
            token_id: token.id().to_string(),
            agent: d.root_agent.to_string(),
            holder: d.holder.to_string(),
            tools: d.tools.iter().map(|t| t.to_string()).collect(),
        })
    }

    /// Records that `child` was attenuated from `parent`.
    ///
    /// # Errors
    /// As [`AuditLog::append`].
    pub fn record_attenuation(&self, parent: &Token, child: &Token) -> Result<String, AuditError> {
        self.append(Event::Attenuation {
            parent: parent.id().to_string(),
            token_id: child.id().to_string(),
        })
    }

    /// Records that `child` was delegated from `parent` (its last hop).
    ///
    /// # Errors
    /// As [`AuditLog::append`]; [`AuditError::Encoding`] if `child` has no delegation hop.
    pub fn record_delegation(&self, parent: &Token, child: &Token) -> Result<String, AuditError> {
        let d = child
            .describe()
            .map_err(|e| AuditError::Encoding(e.to_string()))?;
        let hop = d
            .hops
            .last()
            .ok_or_else(|| AuditError::Encoding("the token has no delegation".to_owned()))?;
        self.append(Event::Delegation {
            parent: parent.id().to_string(),
            token_id: child.id().to_string(),
            hop: hop_record(hop),
        })
    }

    /// Records a revocation by block revocation id.
    ///
    /// # Errors
    /// As [`AuditLog::append`].
    pub fn record_revocation_id(&self, revocation_id: &[u8]) -> Result<String, AuditError> {
        self.append(Event::Revocation {
            revocation_id: Some(hex::encode(revocation_id)),
            agent_key: None,
        })
    }

    /// Records a revocation by agent key.
    ///
    /// # Errors
    /// As [`AuditLog::append`].
    pub fn record_revocation_key(&self, key: &AgentPublicKey) -> Result<String, AuditError> {
        self.append(Event::Revocation {
            revocation_id: None,
            agent_key: Some(key.to_string()),
        })
    }
}

pub(crate) fn hop_record(h: &Hop) -> HopRecord {
    HopRecord {
        delegator: h.delegator.to_string(),
        holder: h.holder.to_string(),
        agent: h.agent.to_string(),
        cause: h.cause.to_string(),
    }
}
