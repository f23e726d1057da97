//! Table-driven denial test: one row per `DenyReason`, each produced through the public API
//! (hand-made blocks use biscuit-auth directly, as an attacker would).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use agentcap::*;
use biscuit_auth::BlockBuilder;
use common::*;
use serde_json::{json, Value};
use time::Duration;

/// Verifies `text` for a call signed by `key` with the token id of `text` itself.
fn verify_text(
    w: &World,
    verifier: &Verifier,
    text: &str,
    key: &AgentKey,
    tool: &str,
    args: Value,
) -> DenyReason {
    let roots: TrustedRoots = w.authority.key().public().into();
    let call = ToolCall::new(tool, args).unwrap();
    let proof = match Token::from_base64(text, &roots) {
        Ok(t) => CallProof::sign(key, &t, &w.executor, &call, now()).unwrap(),
        Err(_) => CallProof::sign(key, &w.token(), &w.executor, &call, now()).unwrap(),
    };
    reason(verifier.verify(text, &call, &proof))
}

fn nested(depth: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 0..depth {
        v = json!({ "n": v });
    }
    json!({ "q": v })
}

fn row(name: &str) -> DenyReason {
    let w = World::new();
    let t = w.token();
    let text = t.to_base64().unwrap();
    let v = w.verifier();
    match name {
        "token_too_large" => verify_text(
            &w,
            &w.verifier_with_limits(|l| l.max_token_bytes = 100),
            &text,
            &w.alice,
            "search",
            json!({}),
        ),
        "too_many_blocks" => {
            let t2 = t
                .attenuate(&Narrowing::new().only_tools(["search"]))
                .unwrap();
            verify_text(
                &w,
                &w.verifier_with_limits(|l| l.max_blocks = 1),
                &t2.to_base64().unwrap(),
                &w.alice,
                "search",
                json!({}),
            )
        }
        "arguments_too_large" => verify_text(
            &w,
            &w.verifier_with_limits(|l| l.max_args_bytes = 16),
            &text,
            &w.alice,
            "search",
            json!({"q": "a long query string"}),
        ),
        // A call within the holder side's default bounds, beyond this verifier's.
        "arguments_too_complex" => verify_text(
            &w,
            &w.verifier_with_limits(|l| l.max_args_depth = 8),
            &text,
            &w.alice,
            "search",
            nested(20),
        ),
        "tool_not_guarded" => verify_text(&w, &v, &text, &w.alice, "weather", json!({})),
        "malformed_token" => verify_text(&w, &v, "bm90IGEgdG9rZW4=", &w.alice, "search", json!({})),
        "unknown_root_key" => {
            let other = Authority::new(
                AuthorityId::new("rogue").unwrap(),
                AuthorityKey::generate(99),
            );
            let t2 = other.issue(&w.grant().build().unwrap()).unwrap();
            let call = ToolCall::new("search", json!({})).unwrap();
            let proof = CallProof::sign(&w.alice, &t2, &w.executor, &call, now()).unwrap();
            reason(v.verify(&t2.to_base64().unwrap(), &call, &proof))
        }
        "bad_token_signature" => {
            let other = authority(AuthorityKey::generate(7));
            let t2 = other.issue(&w.grant().build().unwrap()).unwrap();
            let call = ToolCall::new("search", json!({})).unwrap();
            let proof = CallProof::sign(&w.alice, &t2, &w.executor, &call, now()).unwrap();
            reason(v.verify(&t2.to_base64().unwrap(), &call, &proof))
        }
        "unsupported_version" => {
            let text = forged_authority(
                &w,
                "v(1); iss(\"ops\"); agent({a}); holder({h}); dmax(1); t(\"search\");",
            );
            verify_text(&w, &v, &text, &w.alice, "search", json!({}))
        }
        "malformed_authority" => {
            let text = forged_authority(
                &w,
                "v(2); iss(\"ops\"); agent({a}); dmax(1); t(\"search\");",
            );
            verify_text(&w, &v, &text, &w.alice, "search", json!({}))
        }
        "malformed_delegation" => {
            let b = third_party(&raw(&w, &t), &w.alice, "check if true", &w.bob, w.bob_id);
            verify_text(&w, &v, &b.to_base64().unwrap(), &w.bob, "search", json!({}))
        }
        "delegation_not_by_holder" => {
            let b = third_party(
                &raw(&w, &t),
                &w.carol,
                "d({h}, {a}, {c})",
                &w.carol,
                w.carol_id,
            );
            verify_text(
                &w,
                &v,
                &b.to_base64().unwrap(),
                &w.carol,
                "search",
                json!({}),
            )
        }
        "depth_exceeded" => {
            let t1 = w
                .authority
                .issue(&w.grant().max_depth(1).build().unwrap())
                .unwrap();
            let t2 = w.delegate_to_bob(&t1, &Narrowing::new());
            let b = third_party(
                &raw(&w, &t2),
                &w.bob,
                "d({h}, {a}, {c})",
                &w.carol,
                w.carol_id,
            );
            verify_text(
                &w,
                &v,
                &b.to_base64().unwrap(),
                &w.carol,
                "search",
                json!({}),
            )
        }
        "proof_for_another_token" => {
            let t2 = t
                .attenuate(&Narrowing::new().only_tools(["search"]))
                .unwrap();
            let call = ToolCall::new("search", json!({})).unwrap();
            let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
            reason(v.verify(&t2.to_base64().unwrap(), &call, &proof))
        }
        "proof_for_another_executor" => {
            let call = ToolCall::new("search", json!({})).unwrap();
            let proof = CallProof::sign(
                &w.alice,
                &t,
                &ExecutorId::new("exec-2").unwrap(),
                &call,
                now(),
            )
            .unwrap();
            reason(v.verify(&text, &call, &proof))
        }
        "proof_for_another_call" => {
            let call = ToolCall::new("search", json!({"q": "a"})).unwrap();
            let other = ToolCall::new("search", json!({"q": "b"})).unwrap();
            let proof = CallProof::sign(&w.alice, &t, &w.executor, &other, now()).unwrap();
            reason(v.verify(&text, &call, &proof))
        }
        "proof_expired" | "proof_from_future" => {
            let at = if name == "proof_expired" {
                now() - Duration::seconds(61)
            } else {
                now() + Duration::seconds(61)
            };
            let call = ToolCall::new("search", json!({})).unwrap();
            let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, at).unwrap();
            reason(v.verify(&text, &call, &proof))
        }
        "proof_before_token" => {
            // The same root key, issuing ten minutes after the proof is dated.
            let later = Authority::new(
                AuthorityId::new("ops").unwrap(),
                AuthorityKey::from_bytes(7, &w.authority.key().to_bytes()),
            )
            .with_clock(Arc::new(FixedClock(now() + Duration::minutes(10))));
            let t = later.issue(&w.grant().build().unwrap()).unwrap();
            let call = ToolCall::new("search", json!({})).unwrap();
            let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
            reason(v.verify(&t.to_base64().unwrap(), &call, &proof))
        }
        "bad_proof_signature" => verify_text(&w, &v, &text, &w.bob, "search", json!({})),
        "tool_not_granted" => {
            let v = Verifier::builder(
                w.executor.clone(),
                w.authority.key().public().into(),
                ["publish"],
            )
            .clock(Arc::new(FixedClock(now())))
            .build()
            .unwrap();
            verify_text(&w, &v, &text, &w.alice, "publish", json!({}))
        }
        "expired" => {
            let later = now() + Duration::hours(2);
            let call = ToolCall::new("search", json!({})).unwrap();
            let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, later).unwrap();
            reason(w.verifier_at(later).verify(&text, &call, &proof))
        }
        "argument_rejected" => {
            verify_text(&w, &v, &text, &w.alice, "read_file", read("/etc/shadow"))
        }
        "argument_missing" => verify_text(&w, &v, &text, &w.alice, "read_file", json!({})),
        "argument_not_allowed" => verify_text(
            &w,
            &v,
            &text,
            &w.alice,
            "read_file",
            json!({"path": "/data/a", "x": 1}),
        ),
        "outside_grammar" => {
            // An attacker may append any anonymous block: here a cartesian product of the
            // call's keys. The reader refuses the rule before anything runs.
            let block = BlockBuilder::new()
                .code("pp($a, $b, $c) <- k($a), k($b), k($c)")
                .unwrap();
            let b = raw(&w, &t).append(block).unwrap();
            verify_text(
                &w,
                &v,
                &b.to_base64().unwrap(),
                &w.alice,
                "search",
                json!({}),
            )
        }
        "revoked" | "replayed" | "budget_exhausted" | "rate_limited" | "fan_out_exceeded"
        | "state_unavailable" => state_row(&w, name),
        "audit_unavailable" => {
            let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "agentcap-deny-{}.jsonl",
                uuid::Uuid::new_v4().simple()
            ));
            let log = Arc::new(
                audit::AuditLog::create(&path, audit::LogKey::generate(), Default::default())
                    .unwrap(),
            );
            log.close().unwrap();
            let v = Verifier::builder(
                w.executor.clone(),
                w.authority.key().public().into(),
                ["search"],
            )
            .clock(Arc::new(FixedClock(now())))
            .audit(log)
            .build()
            .unwrap();
            verify_text(&w, &v, &text, &w.alice, "search", json!({}))
        }
        "needs_approval" | "tier_too_low" | "label_not_accepted" | "hop_limit_exceeded"
        | "loop_detected" => network_row(&w, name),
        "approval_spent" => {
            let reviewer = AgentKey::generate();
            let v = Verifier::builder(
                w.executor.clone(),
                w.authority.key().public().into(),
                ["search"],
            )
            .clock(Arc::new(FixedClock(now())))
            .approvers(ApproverRegistry::new().with(reviewer.public(), "reviewer"))
            .build()
            .unwrap();
            let g = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(1)).tool(
                "search",
                ToolGrant::new()
                    .allow_other_args()
                    .approvals(1)
                    .single_use_approvals(),
            );
            let t = w.authority.issue(&g.build().unwrap()).unwrap();
            let call = ToolCall::new("search", json!({})).unwrap();
            let approval = Approval::sign_once(
                &reviewer,
                &w.executor,
                &t.id(),
                call.digest().unwrap(),
                now() + Duration::minutes(5),
            );
            let run = || {
                let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
                v.verify_with_approvals(
                    &t.to_base64().unwrap(),
                    &call,
                    &proof,
                    std::slice::from_ref(&approval),
                )
            };
            assert!(run().is_ok());
            reason(run())
        }
        other => panic!("no row for {other}"),
    }
}

/// Rows for the network-risk conditions.
fn network_row(w: &World, name: &str) -> DenyReason {
    let v = Verifier::builder(
        w.executor.clone(),
        w.authority.key().public().into(),
        ["search", "send"],
    )
    .clock(Arc::new(FixedClock(now())))
    .message_tool("send", "text")
    .build()
    .unwrap();
    let search = match name {
        "needs_approval" => ToolGrant::new().allow_other_args().approvals(1),
        "tier_too_low" => ToolGrant::new().allow_other_args().min_tier(1),
        "label_not_accepted" => ToolGrant::new().allow_other_args().accept_labels([]),
        _ => ToolGrant::new().allow_other_args(),
    };
    let mut g = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(1))
        .tool("search", search)
        .tool("send", ToolGrant::new().allow_other_args());
    if name == "hop_limit_exceeded" {
        g = g.max_hops(0);
    }
    let t = w.authority.issue(&g.build().unwrap()).unwrap();
    let run = |call: ToolCall| {
        let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
        v.verify(&t.to_base64().unwrap(), &call, &proof)
    };
    let labelled = ToolCall::new("search", json!({}))
        .unwrap()
        .with_labels([Label::new("secret").unwrap()]);
    match name {
        "label_not_accepted" => reason(run(labelled)),
        "hop_limit_exceeded" | "loop_detected" => {
            let sent = run(ToolCall::new("send", json!({"text": "m"})).unwrap()).unwrap();
            reason(run(ToolCall::new("send", json!({"text": "n"}))
                .unwrap()
                .with_cause(sent.sent_message().unwrap())))
        }
        _ => reason(run(ToolCall::new("search", json!({})).unwrap())),
    }
}

/// Rows that need the shared state: each uses a fresh `MemoryStore` (or a store that is down).
fn state_row(w: &World, name: &str) -> DenyReason {
    use agentcap::state::*;
    struct Down;
    impl Revocations for Down {
        fn revoke_id(&self, _: &[u8]) -> Result<(), StateError> {
            Err(StateError("down".into()))
        }
        fn revoke_agent_key(&self, _: &[u8; 32]) -> Result<(), StateError> {
            Err(StateError("down".into()))
        }
    }
    impl MessageLedger for Down {
        fn lookup(&self, _: &[u8; 32], _: i64) -> Result<Option<LedgerEntry>, StateError> {
            Err(StateError("down".into()))
        }
        fn record(&self, _: &[u8; 32], _: &LedgerEntry, _: i64) -> Result<(), StateError> {
            Err(StateError("down".into()))
        }
    }
    impl StateStore for Down {
        fn decide(&self, _: &StateRequest) -> Result<StateVerdict, StateError> {
            Err(StateError("down".into()))
        }
    }
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn StateStore> = if name == "state_unavailable" {
        Arc::new(Down)
    } else {
        memory.clone()
    };
    let clock = TestClock::at(now());
    let v = w.verifier_with(store, clock.clone());
    let limited = |g: ToolGrant, fan: Option<u32>| {
        let mut b = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(1))
            .tool("search", g)
            .max_depth(2);
        if let Some(k) = fan {
            b = b.fan_out(k);
        }
        w.authority.issue(&b.build().unwrap()).unwrap()
    };
    let t = w.token();
    match name {
        "revoked" => {
            memory.revoke_id(t.id().as_bytes()).unwrap();
            reason(call_on(&v, &clock, w, &t, &w.alice, "search", json!({})))
        }
        "replayed" => {
            let call = ToolCall::new("search", json!({})).unwrap();
            let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
            let text = t.to_base64().unwrap();
            v.verify(&text, &call, &proof).unwrap();
            reason(v.verify(&text, &call, &proof))
        }
        "budget_exhausted" | "rate_limited" => {
            let g = ToolGrant::new().allow_other_args();
            let g = if name == "budget_exhausted" {
                g.budget(1)
            } else {
                g.rate(1, std::time::Duration::from_secs(60))
            };
            let t = limited(g, None);
            call_on(&v, &clock, w, &t, &w.alice, "search", json!({})).unwrap();
            reason(call_on(&v, &clock, w, &t, &w.alice, "search", json!({})))
        }
        "fan_out_exceeded" => {
            let t = limited(ToolGrant::new().allow_other_args(), Some(1));
            let to = |k: &AgentKey| {
                t.delegate(
                    &w.alice,
                    k.public(),
                    AgentId::random(),
                    Digest::of_message(b"x"),
                    &Narrowing::new(),
                )
                .unwrap()
            };
            call_on(&v, &clock, w, &to(&w.bob), &w.bob, "search", json!({})).unwrap();
            reason(call_on(
                &v,
                &clock,
                w,
                &to(&w.carol),
                &w.carol,
                "search",
                json!({}),
            ))
        }
        _ => reason(call_on(&v, &clock, w, &t, &w.alice, "search", json!({}))),
    }
}

#[test]
fn every_deny_reason_is_produced_through_the_public_api() {
    let rows = [
        "token_too_large",
        "too_many_blocks",
        "arguments_too_large",
        "arguments_too_complex",
        "tool_not_guarded",
        "malformed_token",
        "unknown_root_key",
        "bad_token_signature",
        "unsupported_version",
        "malformed_authority",
        "malformed_delegation",
        "delegation_not_by_holder",
        "depth_exceeded",
        "proof_for_another_token",
        "proof_for_another_executor",
        "proof_for_another_call",
        "proof_expired",
        "proof_from_future",
        "proof_before_token",
        "bad_proof_signature",
        "tool_not_granted",
        "expired",
        "argument_rejected",
        "argument_missing",
        "argument_not_allowed",
        "outside_grammar",
        "revoked",
        "replayed",
        "budget_exhausted",
        "rate_limited",
        "fan_out_exceeded",
        "state_unavailable",
        "audit_unavailable",
        "needs_approval",
        "approval_spent",
        "tier_too_low",
        "label_not_accepted",
        "hop_limit_exceeded",
        "loop_detected",
    ];
    for name in rows {
        let got = row(name);
        assert_eq!(got.code(), name, "row `{name}` produced {got:?}");
        // The machine-readable form names the same stable code.
        let json = serde_json::to_value(&got).unwrap();
        assert_eq!(json["code"], name, "row `{name}`: {json}");
        let class = match name {
            "state_unavailable" | "audit_unavailable" => DenyClass::StateUnavailable,
            "needs_approval" | "approval_spent" => DenyClass::NeedsApproval,
            _ => DenyClass::Denied,
        };
        assert_eq!(got.class(), class, "row `{name}`");
    }
}

#[test]
fn denied_displays_only_the_generic_message() {
    let w = World::new();
    let t = w.token();
    let d = w
        .call(&t, &w.alice, "read_file", read("/etc/shadow"))
        .unwrap_err();
    assert_eq!(d.to_string(), Denied::MESSAGE);
    let debug = format!("{d:?}");
    assert_eq!(debug, "Denied(Denied)");
    assert!(
        !debug.contains("shadow") && !debug.contains("check"),
        "{debug}"
    );
}

#[test]
fn verifier_refuses_empty_registries() {
    let w = World::new();
    let none: [&str; 0] = [];
    assert!(
        Verifier::builder(w.executor.clone(), w.authority.key().public().into(), none)
            .build()
            .is_err()
    );
    assert!(
        Verifier::builder(w.executor.clone(), TrustedRoots::new(), ["search"])
            .build()
            .is_err()
    );
}

/// `UnportableArguments` and `Internal` have no row: `ToolCall::new` already refuses integers
/// beyond ±2^53 (the verifier's own check is defence in depth), and `Internal` marks states the
/// library cannot reach. This test pins the first half.
#[test]
fn unportable_integers_are_refused_when_the_call_is_built() {
    let w = World::new();
    let t = w.token();
    let big = json!({ "q": 9_007_199_254_740_993u64 });
    assert!(matches!(
        ToolCall::new("search", big),
        Err(Error::InvalidArguments(_))
    ));
    assert!(matches!(
        ToolCall::new("search", json!({ "q": [-9_007_199_254_740_993i64] })),
        Err(Error::InvalidArguments(_))
    ));
    assert!(
        w.call(
            &t,
            &w.alice,
            "search",
            json!({ "q": 9_007_199_254_740_992u64 })
        )
        .is_ok(),
        "2^53 itself is exact"
    );
}

/// A condition this verifier does not know (a newer `lim` kind) denies; it is never skipped.
#[test]
fn unknown_condition_kinds_fail_closed() {
    let w = World::new();
    let t = w.token();
    let code = r#"d({h}, {a}, {c}); geo_fence("search", 1)"#;
    let b = third_party(&raw(&w, &t), &w.alice, code, &w.bob, w.bob_id);
    let r = verify_text(
        &w,
        &w.verifier(),
        &b.to_base64().unwrap(),
        &w.bob,
        "search",
        json!({}),
    );
    assert!(
        matches!(r, DenyReason::OutsideGrammar { block: 1, .. }),
        "{r:?}"
    );
    let forged = forged_authority(
        &w,
        r#"v(2); a("ops", {a}, {h}, 1, 2020-01-01T00:00:00Z); check if t($t), {"search"}.contains($t);
           check if time($time), $time <= 2100-01-01T00:00:00Z; future("search", "x");"#,
    );
    let r = verify_text(&w, &w.verifier(), &forged, &w.alice, "search", json!({}));
    assert!(
        matches!(r, DenyReason::OutsideGrammar { block: 0, .. }),
        "{r:?}"
    );
}

/// The operator's text of a reason: what logs and `agentcap` CLI output show.
#[test]
fn deny_reasons_display_for_operators() {
    let rows: Vec<(DenyReason, &str)> = vec![
        (DenyReason::TokenTooLarge, "token too large"),
        (
            DenyReason::DepthExceeded { depth: 3, max: 2 },
            "delegation depth 3 exceeds 2",
        ),
        (DenyReason::Expired { block: 1 }, "block 1 has expired"),
        (
            DenyReason::ArgumentRejected {
                block: 0,
                pointer: "/path".to_owned(),
                constraint: "sub_path",
            },
            "block 0: argument `/path` fails its `sub_path` constraint",
        ),
        (
            DenyReason::OutsideGrammar {
                block: 2,
                what: "a rule",
            },
            "block 2 holds a rule outside the vocabulary",
        ),
        (
            DenyReason::ToolNotGranted { block: 1 },
            "tool not granted (block 1)",
        ),
        (
            DenyReason::NeedsApproval { have: 1, need: 2 },
            "needs approval: 1 of 2 distinct principals",
        ),
        (
            DenyReason::HopLimitExceeded { hop: 5, max: 4 },
            "cause is 5 hops from its origin, limit 4",
        ),
        (DenyReason::LabelNotAccepted, "label not accepted"),
    ];
    for (reason, text) in rows {
        assert_eq!(reason.to_string(), text, "{reason:?}");
    }
}

/// An argument name is the caller's text: the operator's reason (logs, audit) escapes it, so a
/// name holding a newline cannot forge a second log line.
#[test]
fn caller_argument_names_are_escaped_in_operator_reasons() {
    let w = World::new();
    let t = w.token();
    let r = reason(w.call(
        &t,
        &w.alice,
        "read_file",
        json!({"path": "/data/a", "x\nagentcap.decision=allow": 1}),
    ));
    let text = r.to_string();
    assert!(matches!(r, DenyReason::ArgumentNotAllowed { .. }), "{r:?}");
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains("x\\nagentcap"), "{text}");
}
