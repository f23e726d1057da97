//! Verification cost as ratios to one raw ed25519 `verify_strict`, all measured in one run:
//! raw biscuit-auth verify + authorize, agentcap cold (0, 1, 3 hops) and warm (verified-chain
//! cache hit), attenuate, delegate, sign a call, and throughput with 1 and 2 threads.
//!
//! `cd benches/micro && cargo bench --bench verify` (add `-- --warm-up-time 1 --measurement-time 3` for a quick run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../../../tests/common/hostile.rs"]
mod hostile;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use agentcap::*;
use biscuit_auth::{macros::*, Algorithm, KeyPair, PrivateKey};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;
use time::{Duration, OffsetDateTime};

struct Chain {
    token: Token,
    text: String,
    holder: AgentKey,
}

fn chains(authority: &Authority, now: OffsetDateTime) -> Vec<Chain> {
    let keys: Vec<AgentKey> = (0..4).map(|i| AgentKey::from_bytes(&[i + 1; 32])).collect();
    let grant = Grant::builder(
        AgentId::random(),
        keys[0].public(),
        now + Duration::hours(1),
    )
    .tool(
        "read_file",
        ToolGrant::new().arg("path", Constraint::sub_path("/data").unwrap()),
    )
    .max_depth(3)
    .build()
    .unwrap();
    let mut token = authority.issue(&grant).unwrap();
    let mut out = Vec::new();
    for hop in 0..=3 {
        if hop > 0 {
            token = token
                .delegate(
                    &keys[hop - 1],
                    keys[hop].public(),
                    AgentId::random(),
                    Digest::of_message(b"m"),
                    &Narrowing::new(),
                )
                .unwrap();
        }
        if hop == 0 || hop == 1 || hop == 3 {
            eprintln!("token bytes, {hop} hop(s): {}", token.size().unwrap());
            out.push(Chain {
                text: token.to_base64().unwrap(),
                token: token.clone(),
                holder: AgentKey::from_bytes(&keys[hop].to_bytes()),
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let authority = Authority::new(
        AuthorityId::new("bench").unwrap(),
        AuthorityKey::from_bytes(1, &[9; 32]),
    );
    let executor = ExecutorId::new("bench").unwrap();
    let call = ToolCall::new("read_file", json!({"path": "/data/q3.csv"})).unwrap();
    let chains = chains(&authority, now);

    // The unit.
    let raw = SigningKey::from_bytes(&[7; 32]);
    let msg = [1u8; 200];
    let sig = raw.sign(&msg);
    let vk = raw.verifying_key();
    c.bench_function("unit: raw ed25519 verify_strict", |b| {
        b.iter(|| vk.verify_strict(&msg, &sig).unwrap())
    });

    // Raw biscuit-auth 6: a comparable token (a holder fact, a tool fact, one check), verify +
    // authorize with one call fact.
    let root = KeyPair::from(&PrivateKey::from_bytes(&[9; 32], Algorithm::Ed25519).unwrap());
    let raw_token = biscuit!(
        r#"holder(hex:00); t("read_file"); check if tool($t), ["read_file"].contains($t)"#
    )
    .build(&root)
    .unwrap()
    .to_vec()
    .unwrap();
    let raw_1 = biscuit_auth::Biscuit::from(&raw_token, root.public())
        .unwrap()
        .append(block!(r#"check if tool("read_file")"#))
        .unwrap()
        .to_vec()
        .unwrap();
    for (name, bytes) in [
        ("raw biscuit verify+authorize, 1 block", &raw_token),
        ("raw biscuit verify+authorize, 2 blocks", &raw_1),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let t = biscuit_auth::Biscuit::from(bytes, root.public()).unwrap();
                let mut a = authorizer!(r#"tool("read_file"); allow if true"#)
                    .build(&t)
                    .unwrap();
                a.authorize().unwrap()
            })
        });
    }

    for (chain, hops) in chains.iter().zip([0, 1, 3]) {
        for (mode, cache) in [("cold", 0), ("warm", 64)] {
            let v = Verifier::builder(
                executor.clone(),
                authority.key().public().into(),
                ["read_file"],
            )
            .chain_cache(cache)
            .build()
            .unwrap();
            // Warm the cache (a no-op when disabled).
            let p = CallProof::sign(
                &chain.holder,
                &chain.token,
                &executor,
                &call,
                OffsetDateTime::now_utc(),
            )
            .unwrap();
            v.verify(&chain.text, &call, &p).unwrap();
            c.bench_function(&format!("agentcap verify {mode}, {hops} hop(s)"), |b| {
                b.iter_batched(
                    || {
                        CallProof::sign(
                            &chain.holder,
                            &chain.token,
                            &executor,
                            &call,
                            OffsetDateTime::now_utc(),
                        )
                        .unwrap()
                    },
                    |proof| v.verify(&chain.text, &call, &proof).unwrap(),
                    BatchSize::SmallInput,
                )
            });
        }
    }

    // A warm call on a large grant (64 tools, the most a grant may name, each with 8
    // constrained arguments) against the same call on a grant of that one tool.
    let holder = AgentKey::from_bytes(&[1; 32]);
    let tool_grant = || {
        let mut tg = ToolGrant::new();
        for a in 0..8 {
            tg = tg.arg(&format!("a{a}"), Constraint::max_length(64).unwrap());
        }
        tg
    };
    let big_call = ToolCall::new(
        "read_file",
        json!((0..8)
            .map(|a| (format!("a{a}"), json!("v")))
            .collect::<serde_json::Map<_, _>>()),
    )
    .unwrap();
    for tools in [1, 64] {
        let mut g = Grant::builder(AgentId::random(), holder.public(), now + Duration::hours(1));
        for t in 0..tools {
            let name = if t == 0 {
                "read_file".to_owned()
            } else {
                format!("tool_{t}")
            };
            g = g.tool(&name, tool_grant());
        }
        let token = authority.issue(&g.build().unwrap()).unwrap();
        eprintln!(
            "token bytes, {tools} tools x 8 args: {}",
            token.size().unwrap()
        );
        let text = token.to_base64().unwrap();
        // 64 such tools take more than the default 64 KiB of text.
        let mut limits = Limits::default();
        limits.max_token_bytes = 256 * 1024;
        let warm = Verifier::builder(
            executor.clone(),
            authority.key().public().into(),
            ["read_file"],
        )
        .limits(limits)
        .build()
        .unwrap();
        let p = CallProof::sign(&holder, &token, &executor, &big_call, now).unwrap();
        warm.verify(&text, &big_call, &p).unwrap();
        c.bench_function(
            &format!("agentcap verify warm, {tools} tool(s) x 8 args"),
            |b| {
                b.iter_batched(
                    || {
                        CallProof::sign(
                            &holder,
                            &token,
                            &executor,
                            &big_call,
                            OffsetDateTime::now_utc(),
                        )
                        .unwrap()
                    },
                    |proof| warm.verify(&text, &big_call, &proof).unwrap(),
                    BatchSize::SmallInput,
                )
            },
        );
    }

    // Hostile tokens with garbage proofs (signed by a key that is not the holder's), on a cold
    // verifier: each must cost no more than the legitimate cold 1-hop verification above.
    let root_pk = biscuit_auth::PublicKey::from_bytes(
        &authority.key().public().to_bytes(),
        Algorithm::Ed25519,
    )
    .unwrap();
    let base_biscuit = biscuit_auth::Biscuit::from_base64(&chains[0].text, root_pk).unwrap();
    let cold = Verifier::builder(
        executor.clone(),
        authority.key().public().into(),
        ["read_file"],
    )
    .chain_cache(0)
    .build()
    .unwrap();
    let mallory = AgentKey::from_bytes(&[66; 32]);
    for (name, token) in hostile::tokens(&base_biscuit) {
        let text = token.to_base64().unwrap();
        // A proof by the wrong key over the hostile token's own id.
        let roots: TrustedRoots = authority.key().public().into();
        let proof = match Token::from_base64(&text, &roots) {
            Ok(t) => CallProof::sign(&mallory, &t, &executor, &call, now).unwrap(),
            Err(_) => CallProof::sign(&mallory, &chains[0].token, &executor, &call, now).unwrap(),
        };
        eprintln!("hostile token `{name}`: {} bytes of text", text.len());
        c.bench_function(&format!("hostile: {name}"), |b| {
            b.iter(|| cold.verify(&text, &call, &proof).unwrap_err())
        });
    }

    let base = &chains[0];
    c.bench_function("agentcap sign a call", |b| {
        b.iter(|| CallProof::sign(&base.holder, &base.token, &executor, &call, now).unwrap())
    });
    let narrowing = Narrowing::new().constrain(
        "read_file",
        "path",
        Constraint::sub_path("/data/q3").unwrap(),
    );
    c.bench_function("agentcap attenuate (one constraint)", |b| {
        b.iter(|| base.token.attenuate(&narrowing).unwrap())
    });
    let next = AgentKey::from_bytes(&[77; 32]).public();
    c.bench_function("agentcap delegate (no narrowing)", |b| {
        b.iter(|| {
            base.token
                .delegate(
                    &base.holder,
                    next,
                    AgentId::random(),
                    Digest::of_message(b"m"),
                    &Narrowing::new(),
                )
                .unwrap()
        })
    });

    // Throughput: the warm 1-hop path on 1 and 2 threads sharing one verifier.
    let one = &chains[1];
    let v = Arc::new(
        Verifier::builder(
            executor.clone(),
            authority.key().public().into(),
            ["read_file"],
        )
        .build()
        .unwrap(),
    );
    let p = CallProof::sign(
        &one.holder,
        &one.token,
        &executor,
        &call,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    v.verify(&one.text, &call, &p).unwrap();
    for threads in [1usize, 2] {
        c.bench_function(
            &format!("throughput warm 1-hop, {threads} thread(s) (time per call)"),
            |b| {
                b.iter_custom(|iters| {
                    let per = (iters as usize).div_ceil(threads);
                    let proofs: Vec<Vec<CallProof>> = (0..threads)
                        .map(|_| {
                            (0..per)
                                .map(|_| {
                                    CallProof::sign(
                                        &one.holder,
                                        &one.token,
                                        &executor,
                                        &call,
                                        OffsetDateTime::now_utc(),
                                    )
                                    .unwrap()
                                })
                                .collect()
                        })
                        .collect();
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for batch in &proofs {
                            let (v, call) = (v.clone(), &call);
                            s.spawn(move || {
                                for p in batch {
                                    v.verify(&one.text, call, p).unwrap();
                                }
                            });
                        }
                    });
                    let elapsed = start.elapsed();
                    // Report time per call so that lower is better and ratios compare directly.
                    StdDuration::from_secs_f64(
                        elapsed.as_secs_f64() * iters as f64 / (per * threads) as f64,
                    )
                })
            },
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
