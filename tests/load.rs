//! Opt-in load test: no spurious run-limit denials under CPU load with the default limits.
//!
//! `AGENTCAP_LOAD_TEST=1 cargo test --release --test load -- --nocapture` runs 100,000
//! authorizations of a 3-hop token (set `AGENTCAP_LOAD_N` for another count) while another
//! thread saturates the other core. Without the variable it prints SKIPPED and passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use agentcap::*;
use common::*;
use serde_json::json;

#[test]
fn load_no_run_limit_denials_under_cpu_load() {
    if std::env::var_os("AGENTCAP_LOAD_TEST").is_none() {
        eprintln!("SKIPPED: set AGENTCAP_LOAD_TEST=1 to run the load test");
        return;
    }
    let n: usize = std::env::var("AGENTCAP_LOAD_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let w = World::new();
    let keys: Vec<AgentKey> = (0..3).map(|_| AgentKey::generate()).collect();
    let mut token = w.token();
    let mut holder = &w.alice;
    for k in &keys {
        token = token
            .delegate(
                holder,
                k.public(),
                AgentId::random(),
                Digest::of_message(b"m"),
                &Narrowing::new(),
            )
            .unwrap();
        holder = k;
    }
    let text = token.to_base64().unwrap();
    let v = w.verifier();
    let busy = Arc::new(AtomicBool::new(true));
    let burner = {
        let busy = busy.clone();
        std::thread::spawn(move || {
            let mut x = 0u64;
            while busy.load(Ordering::Relaxed) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            x
        })
    };
    let call = ToolCall::new("read_file", json!({"path": "/data/q3.csv"})).unwrap();
    let (mut allowed, mut run_limit, mut other) = (0usize, 0usize, 0usize);
    let start = Instant::now();
    for _ in 0..n {
        let proof = CallProof::sign(holder, &token, &w.executor, &call, now()).unwrap();
        match v.verify(&text, &call, &proof) {
            Ok(_) => allowed += 1,
            Err(d) if matches!(d.operator_reason(), DenyReason::RunLimit(_)) => run_limit += 1,
            Err(_) => other += 1,
        }
    }
    let elapsed = start.elapsed();
    busy.store(false, Ordering::Relaxed);
    burner.join().unwrap();
    eprintln!("load: {n} authorizations of a 3-hop token in {elapsed:?}: {allowed} allowed, {run_limit} run-limit denials, {other} other denials");
    assert_eq!(run_limit, 0);
    assert_eq!(other, 0);
    assert_eq!(allowed, n);
}
