//! The cost of auditing a decision: one verification without a log, with a log that fsyncs
//! every record (the default), and with a log that fsyncs every 100 records — in one run, next
//! to one raw ed25519 `verify_strict`.
//!
//! `cd benches/micro && cargo bench --bench audit`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use agentcap::audit::{AuditConfig, AuditLog, Durability, LogKey};
use agentcap::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;
use time::{Duration, OffsetDateTime};

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
            ToolGrant::new().arg("q", Constraint::max_length(64).unwrap()),
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

    let dir =
        std::env::temp_dir().join(format!("agentcap-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let logs: Vec<(&str, Option<Arc<AuditLog>>)> = vec![
        ("no audit", None),
        (
            "audit, fsync every record",
            Some(Arc::new(
                AuditLog::create(
                    dir.join("a.jsonl"),
                    LogKey::generate(),
                    AuditConfig::default(),
                )
                .unwrap(),
            )),
        ),
        (
            "audit, fsync every 100 records",
            Some(Arc::new(
                AuditLog::create(
                    dir.join("b.jsonl"),
                    LogKey::generate(),
                    AuditConfig::default().with_durability(Durability::Batch(100)),
                )
                .unwrap(),
            )),
        ),
    ];
    for (name, log) in logs {
        let mut builder = Verifier::builder(
            executor.clone(),
            authority.key().public().into(),
            ["search"],
        );
        if let Some(log) = log {
            builder = builder.audit(log);
        }
        let v = builder.build().unwrap();
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
        // Threads deciding at once (time per decision): with an fsync per record, the group
        // commit lets concurrent decisions share one fsync.
        let v = Arc::new(v);
        for threads in [8u64, 32] {
            c.bench_function(
                &format!("{threads} threads, time per decision, {name}"),
                |b| {
                    b.iter_custom(|iters| {
                        let per_thread = iters.div_ceil(threads).max(1);
                        let proofs: Vec<Vec<CallProof>> = (0..threads)
                            .map(|_| {
                                (0..per_thread)
                                    .map(|_| {
                                        CallProof::sign(
                                            &agent,
                                            &token,
                                            &executor,
                                            &call,
                                            OffsetDateTime::now_utc(),
                                        )
                                        .unwrap()
                                    })
                                    .collect()
                            })
                            .collect();
                        let start = std::time::Instant::now();
                        std::thread::scope(|s| {
                            for batch in &proofs {
                                let v = v.clone();
                                let (text, call) = (&text, &call);
                                s.spawn(move || {
                                    for proof in batch {
                                        v.verify(text, call, proof).unwrap();
                                    }
                                });
                            }
                        });
                        // Wall time for about `iters` decisions across the threads.
                        start.elapsed()
                    })
                },
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
