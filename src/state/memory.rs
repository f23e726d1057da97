//! The in-memory store: one process, sharded locks, expired entries dropped.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use crate::audit::{AnchorPoint, CheckpointAnchor, LogPublicKey};

use super::{
    LedgerEntry, MessageLedger, Revocations, StateError, StateRequest, StateStore, StateVerdict,
    LEDGER_TTL,
};

const SHARDS: usize = 64;
/// Sweep a shard after this many records into it...
const SWEEP_EVERY: u32 = 256;
/// ...or when it is written and was last swept this long ago (ms).
const SWEEP_INTERVAL_MS: i64 = 10_000;
/// Kept forever.
const FOREVER: i64 = i64::MAX;

#[derive(Debug, Hash, PartialEq, Eq, Clone)]
enum Key {
    Revoked(Vec<u8>),
    RevokedAgent([u8; 32]),
    Nonce([u8; 32]),
    Fan([u8; 32]),
    Budget([u8; 32]),
    Rate([u8; 32]),
    Ledger([u8; 32]),
    Approval([u8; 32]),
}

/// One shard. Every entry carries the Unix ms until which it is kept.
#[derive(Debug, Default)]
struct Shard {
    revoked: HashMap<Key, i64>,
    nonces: HashMap<[u8; 32], i64>,
    fan: HashMap<[u8; 32], (i64, HashSet<[u8; 32]>)>,
    budgets: HashMap<[u8; 32], (i64, u64)>,
    /// Per window: its length (ms) and the times of the calls inside it.
    rates: HashMap<[u8; 32], (i64, VecDeque<i64>)>,
    ledger: HashMap<[u8; 32], (i64, LedgerEntry)>,
    /// Spent single-use approvals.
    spent: HashMap<[u8; 32], i64>,
    writes: u32,
    last_sweep_ms: i64,
}

/// Gives back the memory of a map that has shrunk a lot (a swept map keeps its capacity).
fn shrink<K, V>(map: &mut HashMap<K, V>)
where
    K: Eq + Hash,
{
    if map.is_empty() {
        if map.capacity() > 0 {
            *map = HashMap::new();
        }
    } else if map.capacity() > 64 && map.capacity() > map.len().saturating_mul(4) {
        map.shrink_to(map.len().saturating_mul(2));
    }
}

impl Shard {
    fn sweep(&mut self, now_ms: i64) {
        self.revoked.retain(|_, until| *until > now_ms);
        self.nonces.retain(|_, until| *until > now_ms);
        self.fan.retain(|_, (until, _)| *until > now_ms);
        self.budgets.retain(|_, (until, _)| *until > now_ms);
        self.ledger.retain(|_, (until, _)| *until > now_ms);
        self.spent.retain(|_, until| *until > now_ms);
        // A window's log is kept until its newest call has left the window.
        self.rates.retain(|_, (window, log)| {
            log.back()
                .is_some_and(|t| *t > now_ms.saturating_sub(*window))
        });
        shrink(&mut self.revoked);
        shrink(&mut self.nonces);
        shrink(&mut self.fan);
        shrink(&mut self.budgets);
        shrink(&mut self.ledger);
        shrink(&mut self.rates);
        shrink(&mut self.spent);
        self.writes = 0;
        self.last_sweep_ms = now_ms;
    }

    /// Counts a write and sweeps when due.
    fn wrote(&mut self, now_ms: i64) {
        self.writes = self.writes.saturating_add(1);
        if self.writes >= SWEEP_EVERY
            || now_ms.saturating_sub(self.last_sweep_ms) >= SWEEP_INTERVAL_MS
        {
            self.sweep(now_ms);
        }
    }

    fn entries(&self) -> usize {
        self.revoked.len()
            + self.nonces.len()
            + self.fan.len()
            + self.budgets.len()
            + self.rates.len()
            + self.ledger.len()
            + self.spent.len()
    }

    fn record_ledger(&mut self, digest: [u8; 32], entry: &LedgerEntry, now_ms: i64) {
        let until =
            now_ms.saturating_add(i64::try_from(LEDGER_TTL.as_millis()).unwrap_or(i64::MAX));
        match self.ledger.get_mut(&digest) {
            Some((e, existing)) if *e > now_ms => {
                existing.merge(entry);
                *e = (*e).max(until);
            }
            _ => {
                self.ledger.insert(digest, (until, entry.clone()));
            }
        }
        self.wrote(now_ms);
    }
}

/// The default store: a single process's memory, split into 64 independently locked shards so
/// that concurrent decisions on different tokens do not contend. A decision locks only the
/// shards its keys fall in, always in ascending order (no deadlock).
///
/// Everything is forgotten when it can no longer matter: nonces after their TTL, budgets and
/// fan-out sets when the block that sets them has expired (plus
/// [`EXPIRY_GRACE`](super::EXPIRY_GRACE)), rate logs once their newest call has left the window,
/// ledger entries [`LEDGER_TTL`] after their last record, revocations made with
/// [`Revocations::revoke_token`] or [`Revocations::revoke_id_until`] at their end. Only
/// revocations by bare id or agent key are kept forever. A shard drops its expired entries when
/// it is written (every 256 records, or 10 s after its last sweep) and gives back memory of maps
/// that shrank; [`MemoryStore::sweep`] sweeps every shard at once (for an idle process).
#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    /// Checkpoint anchors of audit logs (by log key): the latest point of the latest log.
    anchors: Mutex<HashMap<String, AnchorPoint>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            anchors: Mutex::new(HashMap::new()),
        }
    }

    /// Drops every entry that has expired at `now_ms` (Unix ms) from every shard.
    ///
    /// # Errors
    /// [`StateError`] when a shard's lock was poisoned.
    pub fn sweep(&self, now_ms: i64) -> Result<(), StateError> {
        for shard in &self.shards {
            shard
                .lock()
                .map_err(|_| StateError("memory store shard poisoned".to_owned()))?
                .sweep(now_ms);
        }
        Ok(())
    }

    /// The entries held, expired or not: revocations, nonces, fan-out sets, budgets, rate windows
    /// and ledger entries.
    ///
    /// # Errors
    /// [`StateError`] when a shard's lock was poisoned.
    pub fn entries(&self) -> Result<usize, StateError> {
        let mut n = 0;
        for shard in &self.shards {
            n += shard
                .lock()
                .map_err(|_| StateError("memory store shard poisoned".to_owned()))?
                .entries();
        }
        Ok(n)
    }

    fn shard_of(key: &Key) -> usize {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() as usize) % SHARDS
    }

    /// Locks the shards of `keys` in ascending order and returns them by index.
    fn lock(&self, keys: &[Key]) -> Result<HashMap<usize, MutexGuard<'_, Shard>>, StateError> {
        let mut idx: Vec<usize> = keys.iter().map(Self::shard_of).collect();
        idx.sort_unstable();
        idx.dedup();
        let mut guards = HashMap::with_capacity(idx.len());
        for i in idx {
            let shard = self
                .shards
                .get(i)
                .ok_or_else(|| StateError("shard index".to_owned()))?;
            // A poisoned shard means a panic elsewhere mid-update: refuse rather than guess.
            let guard = shard
                .lock()
                .map_err(|_| StateError("memory store shard poisoned".to_owned()))?;
            guards.insert(i, guard);
        }
        Ok(guards)
    }

    fn insert_revoked(&self, key: Key, until: i64) -> Result<(), StateError> {
        let mut guards = self.lock(std::slice::from_ref(&key))?;
        let shard = guards
            .get_mut(&Self::shard_of(&key))
            .ok_or_else(|| StateError("shard missing".to_owned()))?;
        let kept = shard.revoked.entry(key).or_insert(until);
        *kept = (*kept).max(until);
        Ok(())
    }
}

impl Revocations for MemoryStore {
    fn revoke_id(&self, revocation_id: &[u8]) -> Result<(), StateError> {
        self.insert_revoked(Key::Revoked(revocation_id.to_vec()), FOREVER)
    }

    fn revoke_id_until(&self, revocation_id: &[u8], keep_until_ms: i64) -> Result<(), StateError> {
        self.insert_revoked(Key::Revoked(revocation_id.to_vec()), keep_until_ms)
    }

    fn revoke_agent_key(&self, key: &[u8; 32]) -> Result<(), StateError> {
        self.insert_revoked(Key::RevokedAgent(*key), FOREVER)
    }
}

impl MessageLedger for MemoryStore {
    fn lookup(&self, digest: &[u8; 32], now_ms: i64) -> Result<Option<LedgerEntry>, StateError> {
        let key = Key::Ledger(*digest);
        let guards = self.lock(std::slice::from_ref(&key))?;
        let shard = guards
            .get(&Self::shard_of(&key))
            .ok_or_else(|| StateError("shard missing".to_owned()))?;
        Ok(shard
            .ledger
            .get(digest)
            .filter(|(until, _)| *until > now_ms)
            .map(|(_, e)| e.clone()))
    }

    fn record(
        &self,
        digest: &[u8; 32],
        entry: &LedgerEntry,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let key = Key::Ledger(*digest);
        let mut guards = self.lock(std::slice::from_ref(&key))?;
        guards
            .get_mut(&Self::shard_of(&key))
            .ok_or_else(|| StateError("shard missing".to_owned()))?
            .record_ledger(*digest, entry, now_ms);
        Ok(())
    }
}

impl StateStore for MemoryStore {
    fn records_ledger_and_approvals(&self) -> bool {
        true
    }

    fn decide(&self, r: &StateRequest) -> Result<StateVerdict, StateError> {
        let revoked: Vec<Key> = r
            .revocation_ids
            .iter()
            .map(|id| Key::Revoked(id.clone()))
            .chain(r.agent_keys.iter().map(|k| Key::RevokedAgent(*k)))
            .collect();
        let nonce = Key::Nonce(r.nonce);
        let mut all = revoked.clone();
        all.push(nonce.clone());
        all.extend(r.fan_out.iter().map(|f| Key::Fan(f.scope)));
        all.extend(r.budgets.iter().map(|b| Key::Budget(b.scope)));
        all.extend(r.rates.iter().map(|w| Key::Rate(w.scope)));
        all.extend(r.approvals.iter().map(|a| Key::Approval(a.scope)));
        all.extend(r.ledger.iter().map(|l| Key::Ledger(l.digest)));
        let mut guards = self.lock(&all)?;
        let missing = || StateError("shard missing".to_owned());
        let now = r.now_ms;
        let live = |until: i64| until > now;

        // Check everything first; record only if all pass.
        for key in &revoked {
            if guards
                .get(&Self::shard_of(key))
                .ok_or_else(missing)?
                .revoked
                .get(key)
                .is_some_and(|until| live(*until))
            {
                return Ok(StateVerdict::Revoked);
            }
        }
        let nonce_shard = Self::shard_of(&nonce);
        if guards
            .get(&nonce_shard)
            .ok_or_else(missing)?
            .nonces
            .get(&r.nonce)
            .is_some_and(|until| live(*until))
        {
            return Ok(StateVerdict::Replayed);
        }
        for a in &r.approvals {
            if guards
                .get(&Self::shard_of(&Key::Approval(a.scope)))
                .ok_or_else(missing)?
                .spent
                .get(&a.scope)
                .is_some_and(|until| live(*until))
            {
                return Ok(StateVerdict::ApprovalSpent);
            }
        }
        for f in &r.fan_out {
            let shard = guards
                .get(&Self::shard_of(&Key::Fan(f.scope)))
                .ok_or_else(missing)?;
            let set = shard
                .fan
                .get(&f.scope)
                .filter(|(until, _)| live(*until))
                .map(|(_, s)| s);
            let known = set.is_some_and(|s| s.contains(&f.holder));
            if !known && set.map_or(0, HashSet::len) >= f.max as usize {
                return Ok(StateVerdict::FanOutExceeded);
            }
        }
        for b in &r.budgets {
            let shard = guards
                .get(&Self::shard_of(&Key::Budget(b.scope)))
                .ok_or_else(missing)?;
            let used = shard
                .budgets
                .get(&b.scope)
                .filter(|(until, _)| live(*until))
                .map_or(0, |(_, used)| *used);
            if used >= b.max {
                return Ok(StateVerdict::BudgetExhausted);
            }
        }
        for w in &r.rates {
            let shard = guards
                .get(&Self::shard_of(&Key::Rate(w.scope)))
                .ok_or_else(missing)?;
            let since = now.saturating_sub(i64::try_from(w.window.as_millis()).unwrap_or(i64::MAX));
            let used = shard
                .rates
                .get(&w.scope)
                .map_or(0, |(_, log)| log.iter().filter(|t| **t > since).count());
            if used >= w.max as usize {
                return Ok(StateVerdict::RateLimited);
            }
        }

        // Record: nothing above can fail from here on, so the call is recorded whole.
        let ttl = i64::try_from(r.nonce_ttl.as_millis()).unwrap_or(i64::MAX);
        {
            let shard = guards.get_mut(&nonce_shard).ok_or_else(missing)?;
            shard.nonces.insert(r.nonce, now.saturating_add(ttl));
            shard.wrote(now);
        }
        for f in &r.fan_out {
            let shard = guards
                .get_mut(&Self::shard_of(&Key::Fan(f.scope)))
                .ok_or_else(missing)?;
            let (until, set) = shard.fan.entry(f.scope).or_default();
            if !live(*until) {
                set.clear();
            }
            *until = (*until).max(f.keep_until_ms);
            set.insert(f.holder);
            shard.wrote(now);
        }
        for b in &r.budgets {
            let shard = guards
                .get_mut(&Self::shard_of(&Key::Budget(b.scope)))
                .ok_or_else(missing)?;
            let (until, used) = shard.budgets.entry(b.scope).or_default();
            if !live(*until) {
                *used = 0;
            }
            *until = (*until).max(b.keep_until_ms);
            *used = used.saturating_add(1);
            shard.wrote(now);
        }
        for w in &r.rates {
            let shard = guards
                .get_mut(&Self::shard_of(&Key::Rate(w.scope)))
                .ok_or_else(missing)?;
            let window = i64::try_from(w.window.as_millis()).unwrap_or(i64::MAX);
            let since = now.saturating_sub(window);
            let (_, log) = shard
                .rates
                .entry(w.scope)
                .or_insert_with(|| (window, VecDeque::new()));
            while log.front().is_some_and(|t| *t <= since) {
                log.pop_front();
            }
            log.push_back(now);
            shard.wrote(now);
        }
        for a in &r.approvals {
            let shard = guards
                .get_mut(&Self::shard_of(&Key::Approval(a.scope)))
                .ok_or_else(missing)?;
            shard.spent.insert(a.scope, a.keep_until_ms);
            shard.wrote(now);
        }
        if let Some(l) = &r.ledger {
            guards
                .get_mut(&Self::shard_of(&Key::Ledger(l.digest)))
                .ok_or_else(missing)?
                .record_ledger(l.digest, &l.entry, now);
        }
        Ok(StateVerdict::Allow)
    }
}

impl CheckpointAnchor for MemoryStore {
    fn anchor(&self, log: &LogPublicKey, point: &AnchorPoint) -> Result<(), String> {
        let mut anchors = self
            .anchors
            .lock()
            .map_err(|_| "anchors poisoned".to_owned())?;
        let key = log.to_string();
        if anchors.get(&key).is_none_or(|kept| kept.replaced_by(point)) {
            anchors.insert(key, *point);
        }
        Ok(())
    }

    fn anchored(&self, log: &LogPublicKey) -> Result<Option<AnchorPoint>, String> {
        let anchors = self
            .anchors
            .lock()
            .map_err(|_| "anchors poisoned".to_owned())?;
        Ok(anchors.get(&log.to_string()).copied())
    }
}
