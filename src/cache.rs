//! The verified-chain cache: a bounded, sharded map from the digest of a token's text to the
//! result of decoding it, checking its signatures and walking its delegation chain. A repeat
//! call with the same token skips all of that; everything that can change between calls is
//! still checked every call (expiry and every block's checks through Datalog, revocation,
//! replay, budgets, the proof).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard<V> {
    map: HashMap<[u8; 32], Arc<V>>,
    order: VecDeque<[u8; 32]>,
}

/// A bounded cache; oldest entries are evicted first, per shard.
pub(crate) struct ChainCache<V> {
    /// Read-locked on a hit, so calls with the same token on many threads do not queue.
    shards: Vec<RwLock<Shard<V>>>,
    per_shard: usize,
}

impl<V> ChainCache<V> {
    /// A cache of about `capacity` entries (0 disables it).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    RwLock::new(Shard {
                        map: HashMap::new(),
                        order: VecDeque::new(),
                    })
                })
                .collect(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, key: &[u8; 32]) -> Option<&RwLock<Shard<V>>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        self.shards.get((h.finish() as usize) % SHARDS)
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<V>> {
        if self.per_shard == 0 {
            return None;
        }
        // A poisoned shard is treated as a miss: the caller verifies from scratch.
        let shard = self.shard(key)?.read().ok()?;
        shard.map.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: [u8; 32], value: Arc<V>) {
        if self.per_shard == 0 {
            return;
        }
        let Some(Ok(mut shard)) = self.shard(&key).map(|s| s.write()) else {
            return;
        };
        if shard.map.insert(key, value).is_none() {
            shard.order.push_back(key);
        }
        while shard.order.len() > self.per_shard {
            if let Some(old) = shard.order.pop_front() {
                shard.map.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k
    }

    #[test]
    fn a_hit_returns_the_inserted_value() {
        let cache = ChainCache::new(64);
        let v = Arc::new("chain");
        cache.insert(key(1), v.clone());
        assert!(cache.get(&key(1)).is_some_and(|hit| Arc::ptr_eq(&hit, &v)));
        assert!(cache.get(&key(2)).is_none());
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = ChainCache::new(0);
        cache.insert(key(1), Arc::new(1));
        assert!(cache.get(&key(1)).is_none());
    }

    #[test]
    fn each_shard_keeps_its_newest_entries_within_the_bound() {
        // 16 entries in all: one per shard.
        let cache = ChainCache::new(SHARDS);
        for i in 0..1000 {
            cache.insert(key(i), Arc::new(i));
            assert_eq!(cache.get(&key(i)).as_deref(), Some(&i), "newest entry {i}");
        }
        let held = (0..1000).filter(|i| cache.get(&key(*i)).is_some()).count();
        assert!((1..=SHARDS).contains(&held), "{held} entries held");
        // Keys spread over more than one shard.
        assert!(held > 1);
    }
}
