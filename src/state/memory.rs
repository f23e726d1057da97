//! The in-memory store: one process, sharded locks, expired entries dropped.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use super::{
    LedgerEntry, MessageLedger, Revocations, StateError, StateRequest, StateStore, StateVerdict,
    LEDGER_TTL,
};

const SHARDS: usize = 64;
/// Sweep a shard's expired nonces after this many inserts into it.
const SWEEP_EVERY: u32 = 256;

#[derive(Debug, Hash, PartialEq, Eq, Clone)]
enum Key {
    Revoked(Vec<u8>),
    RevokedAgent([u8; 32]),
    Nonce([u8; 32]),
    Fan([u8; 32]),
    Budget([u8; 32]),
    Rate([u8; 32]),
    Ledger([u8; 32]),
}

#[derive(Debug, Default)]
struct Shard {
    revoked: HashSet<Key>,
    nonces: HashMap<[u8; 32], i64>,
    fan: HashMap<[u8; 32], HashSet<[u8; 32]>>,
    budgets: HashMap<[u8; 32], u64>,
    /// Per window: its length (ms) and the times of the calls inside it.
    rates: HashMap<[u8; 32], (i64, VecDeque<i64>)>,
    ledger: HashMap<[u8; 32], (i64, LedgerEntry)>,
    inserts: u32,
}

impl Shard {
    fn sweep(&mut self, now_ms: i64) {
        self.nonces.retain(|_, expires| *expires > now_ms);
        self.ledger.retain(|_, (expires, _)| *expires > now_ms);
        // A window's log is kept until its newest call has left the window.
        self.rates.retain(|_, (window, log)| {
            log.back()
                .is_some_and(|t| *t > now_ms.saturating_sub(*window))
        });
        self.inserts = 0;
    }
}

/// The default store: a single process's memory, split into 64 independently locked shards so
/// that concurrent decisions on different tokens do not contend. A decision locks only the
/// shards its keys fall in, always in ascending order (no deadlock). Nonces expire, rate logs
/// hold at most `max` timestamps per window, and shards are swept of expired entries as they
/// are written: memory stays bounded by the live keys. Revocations are kept forever.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
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
        }
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

    fn insert_revoked(&self, key: Key) -> Result<(), StateError> {
        let mut guards = self.lock(std::slice::from_ref(&key))?;
        let shard = guards
            .get_mut(&Self::shard_of(&key))
            .ok_or_else(|| StateError("shard missing".to_owned()))?;
        shard.revoked.insert(key);
        Ok(())
    }
}

impl Revocations for MemoryStore {
    fn revoke_id(&self, revocation_id: &[u8]) -> Result<(), StateError> {
        self.insert_revoked(Key::Revoked(revocation_id.to_vec()))
    }

    fn revoke_agent_key(&self, key: &[u8; 32]) -> Result<(), StateError> {
        self.insert_revoked(Key::RevokedAgent(*key))
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
            .filter(|(expires, _)| *expires > now_ms)
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
        let shard = guards
            .get_mut(&Self::shard_of(&key))
            .ok_or_else(|| StateError("shard missing".to_owned()))?;
        let expires =
            now_ms.saturating_add(i64::try_from(LEDGER_TTL.as_millis()).unwrap_or(i64::MAX));
        match shard.ledger.get_mut(digest) {
            Some((e, existing)) => {
                existing.merge(entry);
                *e = (*e).max(expires);
            }
            None => {
                shard.ledger.insert(*digest, (expires, entry.clone()));
            }
        }
        shard.inserts += 1;
        if shard.inserts >= SWEEP_EVERY {
            shard.sweep(now_ms);
        }
        Ok(())
    }
}

impl StateStore for MemoryStore {
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
        let mut guards = self.lock(&all)?;
        let missing = || StateError("shard missing".to_owned());
        let now = r.now_ms;

        // Check everything first; record only if all pass.
        for key in &revoked {
            if guards
                .get(&Self::shard_of(key))
                .ok_or_else(missing)?
                .revoked
                .contains(key)
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
            .is_some_and(|expires| *expires > now)
        {
            return Ok(StateVerdict::Replayed);
        }
        for f in &r.fan_out {
            let shard = guards
                .get(&Self::shard_of(&Key::Fan(f.scope)))
                .ok_or_else(missing)?;
            let set = shard.fan.get(&f.scope);
            let known = set.is_some_and(|s| s.contains(&f.holder));
            if !known && set.map_or(0, HashSet::len) >= f.max as usize {
                return Ok(StateVerdict::FanOutExceeded);
            }
        }
        for b in &r.budgets {
            let shard = guards
                .get(&Self::shard_of(&Key::Budget(b.scope)))
                .ok_or_else(missing)?;
            if shard.budgets.get(&b.scope).copied().unwrap_or(0) >= b.max {
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

        // Record.
        let ttl = i64::try_from(r.nonce_ttl.as_millis()).unwrap_or(i64::MAX);
        {
            let shard = guards.get_mut(&nonce_shard).ok_or_else(missing)?;
            shard.nonces.insert(r.nonce, now.saturating_add(ttl));
            shard.inserts += 1;
            if shard.inserts >= SWEEP_EVERY {
                shard.sweep(now);
            }
        }
        for f in &r.fan_out {
            let shard = guards
                .get_mut(&Self::shard_of(&Key::Fan(f.scope)))
                .ok_or_else(missing)?;
            shard.fan.entry(f.scope).or_default().insert(f.holder);
        }
        for b in &r.budgets {
            let shard = guards
                .get_mut(&Self::shard_of(&Key::Budget(b.scope)))
                .ok_or_else(missing)?;
            *shard.budgets.entry(b.scope).or_insert(0) += 1;
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
        }
        Ok(StateVerdict::Allow)
    }
}
