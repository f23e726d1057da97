//! The cost of the shared-state step: one verification with no state (a store that allows
//! everything and records nothing), with `MemoryStore`, and with `RedisStore` on loopback
//! (when `AGENTCAP_REDIS_URL` is set), next to one raw ed25519 `verify_strict` — all in one run.
//!
//! `cd benches/micro && cargo bench --features redis --bench state` (with `AGENTCAP_REDIS_URL=redis://127.0.0.1:6379/`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use agentcap::state::{
    LedgerEntry, MemoryStore, MessageLedger, Revocations, StateError, StateRequest, StateStore,
    StateVerdict,
};
use agentcap::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// No state at all: the baseline the ratios are taken against.
struct NoState;
impl Revocations for NoState {
    fn revoke_id(&self, _: &[u8]) -> Result<(), StateError> {
        Ok(())
    }
    fn revoke_agent_key(&self, _: &[u8; 32]) -> Result<(), StateError> {
        Ok(())
    }
}
impl MessageLedger for NoState {
    fn lookup(&self, _: &[u8; 32], _: i64) -> Result<Option<LedgerEntry>, StateError> {
        Ok(None)
    }
    fn record(&self, _: &[u8; 32], _: &LedgerEntry, _: i64) -> Result<(), StateError> {
        Ok(())
    }
}
impl StateStore for NoState {
    fn decide(&self, _: &StateRequest) -> Result<StateVerdict, StateError> {
        Ok(StateVerdict::Allow)
    }
}

fn bench(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let authority = Authority::new(
        AuthorityId::new("bench").unwrap(),
        AuthorityKey::generate(1),
    );
    let agent = AgentKey::generate();
    let grant = Grant::builder(AgentId::random(), agent.public(), now + Duration::hours(1))
        .tool(
            "search",
            ToolGrant::new()
                .arg("q", Constraint::max_length(64).unwrap())
                .budget(u64::MAX / 2)
                .rate(u32::MAX, std::time::Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    let token = authority.issue(&grant).unwrap();
    let text = token.to_base64().unwrap();
    let executor = ExecutorId::new("bench").unwrap();
    let call = ToolCall::new("search", json!({"q": "weather"})).unwrap();

    let raw = SigningKey::from_bytes(&[7; 32]);
    let msg = [1u8; 200];
    let sig = raw.sign(&msg);
    let vk = raw.verifying_key();
    c.bench_function("unit: raw ed25519 verify_strict", |b| {
        b.iter(|| vk.verify_strict(&msg, &sig).unwrap())
    });

    #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
    let mut stores: Vec<(&str, Arc<dyn StateStore>)> = vec![
        ("no state", Arc::new(NoState)),
        ("MemoryStore", Arc::new(MemoryStore::new())),
    ];
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("AGENTCAP_REDIS_URL") {
        let config = agentcap::state::RedisStoreConfig::new(url)
            .prefix(format!("bench{}:", uuid::Uuid::new_v4().simple()));
        stores.push((
            "RedisStore (loopback)",
            Arc::new(agentcap::state::RedisStore::new(config).unwrap()),
        ));
    }
    for (name, store) in stores {
        let v = Verifier::builder(
            executor.clone(),
            authority.key().public().into(),
            ["search"],
        )
        .state(store)
        .build()
        .unwrap();
        c.bench_function(&format!("verify 0-hop, {name}"), |b| {
            b.iter_batched(
                || {
                    CallProof::sign(&agent, &token, &executor, &call, OffsetDateTime::now_utc())
                        .unwrap()
                },
                |proof| v.verify(&text, &call, &proof).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
