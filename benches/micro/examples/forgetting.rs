//! Measures what the state store keeps after 100,000 distinct short-lived tokens have each made
//! a call and expired: `MemoryStore` (heap bytes, counted by an instrumented allocator) and,
//! when `AGENTCAP_REDIS_URL` names a server of its own, Redis (`used_memory`).
//!
//! ```text
//! cd benches/micro && cargo run --release --example forgetting
//! cd benches/micro && AGENTCAP_REDIS_URL=redis://127.0.0.1:6399/ cargo run --release --features redis --example forgetting
//! ```
//!
//! Each token has a budget and a rate window on `search`; one in ten is also revoked until its
//! expiry. The run sets `Limits::state_grace` to 0 and `proof_window` to 2 s, so that Redis, on
//! real time, need not wait an hour. `AGENTCAP_TOKENS` changes the count.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::System;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use agentcap::state::{MemoryStore, Revocations, StateStore};
use agentcap::*;
use serde_json::json;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use time::{Duration, OffsetDateTime};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn live_bytes() -> i64 {
    let s = GLOBAL.stats();
    // A realloc is counted in these two already (its growth or its shrinkage).
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// A clock the run moves forward (Unix ms).
struct Movable(AtomicI64);
impl Clock for Movable {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(self.0.load(Ordering::SeqCst)) * 1_000_000,
        )
        .unwrap()
    }
}

struct World {
    authority: Authority,
    agent: AgentKey,
    executor: ExecutorId,
}

impl World {
    fn new(clock: Arc<dyn Clock>) -> World {
        World {
            authority: Authority::new(AuthorityId::new("ops").unwrap(), AuthorityKey::generate(1))
                .with_clock(clock),
            agent: AgentKey::generate(),
            executor: ExecutorId::new("exec").unwrap(),
        }
    }

    fn verifier(&self, clock: Arc<dyn Clock>, store: Arc<dyn StateStore>) -> Verifier {
        let mut limits = Limits::default();
        limits.proof_window = std::time::Duration::from_secs(2);
        limits.state_grace = std::time::Duration::ZERO;
        Verifier::builder(
            self.executor.clone(),
            self.authority.key().public().into(),
            ["search"],
        )
        .clock(clock)
        .limits(limits)
        .state(store)
        .build()
        .unwrap()
    }

    /// Issues a token that expires `life` from `now`, makes one call with it, and revokes one
    /// in ten.
    fn one_token(&self, v: &Verifier, store: &dyn Revocations, now: OffsetDateTime, i: u64) {
        let grant = Grant::builder(
            AgentId::random(),
            self.agent.public(),
            now + Duration::seconds(5),
        )
        .tool(
            "search",
            ToolGrant::new()
                .allow_other_args()
                .budget(10)
                .rate(10, std::time::Duration::from_secs(1)),
        )
        .build()
        .unwrap();
        let t = self.authority.issue(&grant).unwrap();
        let call = ToolCall::new("search", json!({ "i": i })).unwrap();
        let proof = CallProof::sign(&self.agent, &t, &self.executor, &call, now).unwrap();
        if let Err(d) = v.verify(&t.to_base64().unwrap(), &call, &proof) {
            panic!("token {i}: {:?}", d.operator_reason());
        }
        if i.is_multiple_of(10) {
            // As `revoke_token`, with the run's grace of 0 instead of an hour.
            let expires = (now + Duration::seconds(5)).unix_timestamp() * 1000;
            store.revoke_id_until(t.id().as_bytes(), expires).unwrap();
        }
    }
}

fn memory(n: u64) {
    let start = OffsetDateTime::now_utc();
    let ms = |t: OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap();
    let clock = Arc::new(Movable(AtomicI64::new(ms(start))));
    let w = World::new(clock.clone());
    // One call on a throwaway store first: whatever the process sets up once (lazily built
    // statics, registries) is then not counted as the store's.
    {
        let scratch = Arc::new(MemoryStore::new());
        let v = w.verifier(clock.clone(), scratch.clone());
        w.one_token(&v, scratch.as_ref(), clock.now(), 0);
    }
    let before = live_bytes();
    let store = Arc::new(MemoryStore::new());
    let empty = live_bytes() - before;
    let v = w.verifier(clock.clone(), store.clone());
    for i in 0..n {
        // One token per millisecond of the run's clock.
        clock.0.fetch_add(1, Ordering::SeqCst);
        w.one_token(&v, store.as_ref(), clock.now(), i);
    }
    drop(v);
    let entries = store.entries().unwrap();
    let full = live_bytes() - before;
    // Past every token's expiry, nonce and rate window.
    clock.0.fetch_add(60_000, Ordering::SeqCst);
    store.sweep(clock.0.load(Ordering::SeqCst)).unwrap();
    let left = store.entries().unwrap();
    // The store's own bytes: what dropping it frees (nothing else the run allocated counts).
    let with_store = live_bytes();
    drop(store);
    let after = with_store - live_bytes();
    println!(
        "MemoryStore, {n} tokens: empty {empty} B; live {full} B ({entries} entries); \
         after expiry and a sweep {after} B ({left} entries, {:+.1}% of empty)",
        (after - empty) as f64 * 100.0 / empty as f64
    );
    assert!(
        after <= empty + empty / 10,
        "memory returns to within 10% of empty"
    );
}

#[cfg(feature = "redis")]
fn redis(n: u64, url: &str) {
    use agentcap::state::{RedisStore, RedisStoreConfig};
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let used = |con: &mut redis::Connection| -> i64 {
        let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let dbsize = |con: &mut redis::Connection| -> i64 { redis::cmd("DBSIZE").query(con).unwrap() };
    assert_eq!(
        dbsize(&mut con),
        0,
        "AGENTCAP_REDIS_URL must name an empty server of its own"
    );
    let store = Arc::new(RedisStore::new(RedisStoreConfig::new(url)).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let w = World::new(clock.clone());
    let v = w.verifier(clock, store.clone());
    // Connect the pool before the baseline.
    w.one_token(&v, store.as_ref(), OffsetDateTime::now_utc(), 1);
    std::thread::sleep(std::time::Duration::from_secs(8));
    let empty = used(&mut con);
    for i in 0..n {
        w.one_token(&v, store.as_ref(), OffsetDateTime::now_utc(), i + 1);
    }
    let keys = dbsize(&mut con);
    let full = used(&mut con);
    let started = std::time::Instant::now();
    while dbsize(&mut con) > 0 {
        assert!(started.elapsed().as_secs() < 300, "every key expires");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let after = used(&mut con);
    println!(
        "Redis, {n} tokens: empty {empty} B; live {full} B ({keys} keys); after expiry {after} B \
         (0 keys after {} s, {:+.1}% of empty)",
        started.elapsed().as_secs(),
        (after - empty) as f64 * 100.0 / empty as f64
    );
    assert!(
        after <= empty + empty / 10,
        "memory returns to within 10% of empty"
    );
}

fn main() {
    let n: u64 = std::env::var("AGENTCAP_TOKENS")
        .ok()
        .map_or(100_000, |s| s.parse().unwrap());
    memory(n);
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("AGENTCAP_REDIS_URL") {
        redis(n, &url);
    }
}
