//! The verified-chain cache: a repeat call skips decoding, signatures and the chain walk, but
//! everything that can change between calls is still checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use agentcap::state::{MemoryStore, Revocations};
use agentcap::*;
use common::*;
use serde_json::json;
use time::Duration;

fn verifier(w: &World, store: Arc<MemoryStore>, clock: Arc<TestClock>, cache: usize) -> Verifier {
    Verifier::builder(
        w.executor.clone(),
        w.authority.key().public().into(),
        ["read_file", "search"],
    )
    .clock(clock)
    .state(store)
    .chain_cache(cache)
    .build()
    .unwrap()
}

#[test]
fn cache_revoked_cached_chain_is_denied() {
    let w = World::new();
    let store = Arc::new(MemoryStore::new());
    let clock = TestClock::at(now());
    let v = verifier(&w, store.clone(), clock.clone(), 64);
    let t = w.delegate_to_bob(&w.token(), &Narrowing::new());
    assert!(
        call_on(&v, &clock, &w, &t, &w.bob, "search", json!({})).is_ok(),
        "cold"
    );
    assert!(
        call_on(&v, &clock, &w, &t, &w.bob, "search", json!({})).is_ok(),
        "warm"
    );
    store.revoke_id(t.revocation_ids()[0].as_bytes()).unwrap();
    assert_eq!(
        reason(call_on(&v, &clock, &w, &t, &w.bob, "search", json!({}))),
        DenyReason::Revoked
    );
}

#[test]
fn cache_expired_cached_chain_is_denied() {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = verifier(&w, Arc::new(MemoryStore::new()), clock.clone(), 64);
    let t = w.token();
    assert!(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok());
    clock.advance(Duration::hours(2));
    assert!(matches!(
        reason(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({}))),
        DenyReason::Expired { .. }
    ));
}

#[test]
fn cache_warm_calls_still_check_the_proof_the_args_and_the_holder() {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = verifier(&w, Arc::new(MemoryStore::new()), clock.clone(), 64);
    let t = w.delegate_to_bob(&w.token(), &Narrowing::new().only_tools(["read_file"]));
    assert!(call_on(&v, &clock, &w, &t, &w.bob, "read_file", read("/data/a")).is_ok());
    assert_eq!(
        reason(call_on(
            &v,
            &clock,
            &w,
            &t,
            &w.alice,
            "read_file",
            read("/data/a")
        )),
        DenyReason::BadProofSignature
    );
    assert!(matches!(
        reason(call_on(
            &v,
            &clock,
            &w,
            &t,
            &w.bob,
            "read_file",
            read("/etc/passwd")
        )),
        DenyReason::ArgumentRejected { .. }
    ));
    assert!(matches!(
        reason(call_on(&v, &clock, &w, &t, &w.bob, "search", json!({}))),
        DenyReason::ToolNotGranted { block: 1 }
    ));
    // A narrower token derived from a cached one is its own entry, with its own checks.
    let narrower = t
        .attenuate(&Narrowing::new().constrain(
            "read_file",
            "path",
            Constraint::sub_path("/data/x").unwrap(),
        ))
        .unwrap();
    assert!(call_on(
        &v,
        &clock,
        &w,
        &narrower,
        &w.bob,
        "read_file",
        read("/data/a")
    )
    .is_err());
    assert!(call_on(
        &v,
        &clock,
        &w,
        &narrower,
        &w.bob,
        "read_file",
        read("/data/x/1")
    )
    .is_ok());
}

#[test]
fn cache_disabled_and_tiny_caches_decide_the_same() {
    let w = World::new();
    let clock = TestClock::at(now());
    let tokens: Vec<Token> = (0..5).map(|_| w.token()).collect();
    for cap in [0, 1, 4096] {
        let v = verifier(&w, Arc::new(MemoryStore::new()), clock.clone(), cap);
        for round in 0..2 {
            for t in &tokens {
                assert!(
                    call_on(&v, &clock, &w, t, &w.alice, "read_file", read("/data/a")).is_ok(),
                    "cap {cap} round {round}"
                );
                assert!(
                    call_on(&v, &clock, &w, t, &w.alice, "read_file", read("/etc")).is_err(),
                    "cap {cap} round {round}"
                );
            }
        }
    }
}
