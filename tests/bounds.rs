//! Every documented bound is inclusive and exact: a value at the bound is accepted, one past it
//! is refused with the bound's own reason. (The hostile-input tests in `attacks.rs` show the
//! refusal far past a bound; these pin the edge, so an off-by-one cannot hide.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use agentcap::*;
use common::*;
use serde_json::{json, Map, Value};

/// Verifies `search(args)` by alice with the default token on `v`.
fn search(w: &World, v: &Verifier, args: Value) -> Result<Authorized, Denied> {
    let t = w.token();
    let call = ToolCall::new("search", args).unwrap();
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
    v.verify(&t.to_base64().unwrap(), &call, &proof)
}

/// `{"q": {"n": … "leaf" …}}` with the leaf at depth `depth` (the top-level object is depth 0).
fn leaf_at_depth(depth: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 1..depth {
        v = json!({ "n": v });
    }
    json!({ "q": v })
}

fn keys(n: usize, value: Value) -> Value {
    Value::Object(
        (0..n)
            .map(|i| (format!("k{i}"), value.clone()))
            .collect::<Map<_, _>>(),
    )
}

#[test]
fn argument_depth_bound_is_inclusive() {
    let w = World::new();
    let v = w.verifier_with_limits(|l| l.max_args_depth = 4);
    assert!(search(&w, &v, leaf_at_depth(4)).is_ok());
    assert_eq!(
        reason(search(&w, &v, leaf_at_depth(5))),
        DenyReason::ArgumentsTooComplex
    );
    // An empty container past the bound counts too: depth is of values, not only of leaves.
    let mut deep = json!([]);
    for _ in 1..5 {
        deep = json!([deep]);
    }
    assert_eq!(
        reason(search(&w, &v, json!({ "q": deep }))),
        DenyReason::ArgumentsTooComplex
    );
}

#[test]
fn argument_value_bound_is_inclusive() {
    let w = World::new();
    let v = w.verifier_with_limits(|l| l.max_args_values = 4);
    assert!(search(&w, &v, keys(4, json!(1))).is_ok());
    assert!(search(&w, &v, json!({ "q": [1, 2, 3, 4] })).is_ok());
    assert_eq!(
        reason(search(&w, &v, keys(5, json!(1)))),
        DenyReason::ArgumentsTooComplex
    );
    // Containers count against the bound as well: many empty arrays are still many values.
    assert_eq!(
        reason(search(&w, &v, json!({ "q": vec![json!([]); 10] }))),
        DenyReason::ArgumentsTooComplex
    );
}

#[test]
fn constraint_nesting_bound_is_inclusive() {
    let wrap = |levels: usize| {
        let mut c = Constraint::prefix("a").unwrap();
        for _ in 0..levels {
            c = Constraint::AllOf(vec![c]);
        }
        c
    };
    assert!(wrap(8).validate().is_ok());
    assert!(matches!(wrap(9).validate(), Err(Error::InvalidGrant(_))));
    // The node bound: MAX_CONSTRAINT_NODES in all, the all-of node included.
    let parts = |n: usize| Constraint::AnyOf(vec![Constraint::prefix("a").unwrap(); n]);
    assert!(parts(MAX_CONSTRAINT_NODES - 1).validate().is_ok());
    assert!(parts(MAX_CONSTRAINT_NODES).validate().is_err());
}

#[test]
fn token_size_and_block_bounds_are_inclusive() {
    let w = World::new();
    let t = w.token();
    let len = t.to_base64().unwrap().len();
    assert!(search(
        &w,
        &w.verifier_with_limits(|l| l.max_token_bytes = len),
        json!({})
    )
    .is_ok());
    assert_eq!(
        reason(search(
            &w,
            &w.verifier_with_limits(|l| l.max_token_bytes = len - 1),
            json!({})
        )),
        DenyReason::TokenTooLarge
    );
    let two = t
        .attenuate(&Narrowing::new().only_tools(["search"]))
        .unwrap();
    let with_token = |v: &Verifier, t: &Token| {
        let call = ToolCall::new("search", json!({})).unwrap();
        let proof = CallProof::sign(&w.alice, t, &w.executor, &call, now()).unwrap();
        v.verify(&t.to_base64().unwrap(), &call, &proof)
    };
    assert!(with_token(&w.verifier_with_limits(|l| l.max_blocks = 2), &two).is_ok());
    assert_eq!(
        reason(with_token(
            &w.verifier_with_limits(|l| l.max_blocks = 1),
            &two
        )),
        DenyReason::TooManyBlocks
    );
}

#[test]
fn argument_size_bound_is_inclusive() {
    let w = World::new();
    let args = json!({ "q": "abcdef" });
    let len = serde_json::to_vec(&args).unwrap().len(); // canonical already: one key, no spaces
    assert!(search(
        &w,
        &w.verifier_with_limits(|l| l.max_args_bytes = len),
        args.clone()
    )
    .is_ok());
    assert_eq!(
        reason(search(
            &w,
            &w.verifier_with_limits(|l| l.max_args_bytes = len - 1),
            args
        )),
        DenyReason::ArgumentsTooLarge
    );
}

#[test]
fn verifier_debug_shows_its_configuration() {
    let w = World::new();
    let text = format!("{:?}", w.verifier_with_limits(|l| l.max_blocks = 5));
    for part in ["Verifier", "exec-1", "search", "max_blocks: 5"] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
}

/// A hand-appended block whose rules would multiply its own facts is refused by the grammar
/// reader before anything runs (the verifier has no Datalog engine to bound), and only once the
/// holder's proof has verified: before that, nothing past the records is read.
#[test]
fn a_block_with_rules_is_refused_before_anything_runs() {
    let w = World::new();
    let block = biscuit_auth::BlockBuilder::new()
        .code("f(1); f(2); f(3); f(4); f(5); f(6); f(7); f(8); pp($a, $b) <- f($a), f($b)")
        .unwrap();
    let text = raw(&w, &w.token())
        .append(block)
        .unwrap()
        .to_base64()
        .unwrap();
    let v = w.verifier();
    let call = ToolCall::new("search", json!({})).unwrap();
    // Presented by someone without the holder's key: denied at the proof, the block unread.
    let proof = CallProof::sign(&w.alice, &w.token(), &w.executor, &call, now()).unwrap();
    assert_eq!(
        reason(v.verify(&text, &call, &proof)),
        DenyReason::ProofForAnotherToken
    );
    let mallory = AgentKey::generate();
    let proof = proof_for_text(&mallory, &text, &w.executor, &call, now()).unwrap();
    assert_eq!(
        reason(v.verify(&text, &call, &proof)),
        DenyReason::BadProofSignature
    );
    // Presented by the holder (who may append any block): its grammar is read, and refused.
    let proof = proof_for_text(&w.alice, &text, &w.executor, &call, now()).unwrap();
    assert!(matches!(
        reason(v.verify(&text, &call, &proof)),
        DenyReason::OutsideGrammar { block: 1, .. }
    ));
}

/// The holder side is bounded as the verifier is: a token of more blocks or more text than
/// `Limits::default()` allows is refused by `Token::from_base64` (its block count before any
/// signature); `from_base64_with_limits` takes larger bounds.
#[test]
fn holder_side_token_decoding_is_bounded() {
    let w = World::new();
    let mut t = w.token();
    for i in 0..Limits::default().max_blocks {
        t = t
            .attenuate(&Narrowing::new().expires_at(now() + time::Duration::minutes(59 - i as i64)))
            .unwrap();
    }
    assert_eq!(t.block_count(), Limits::default().max_blocks + 1);
    let roots: TrustedRoots = w.authority.key().public().into();
    let text = t.to_base64().unwrap();
    assert!(matches!(
        Token::from_base64(&text, &roots),
        Err(Error::InvalidToken(_))
    ));
    let mut wide = Limits::default();
    wide.max_blocks = 64;
    assert!(Token::from_base64_with_limits(&text, &roots, &wide).is_ok());
    let long = format!("{text}{}", "A".repeat(Limits::default().max_token_bytes));
    assert!(matches!(
        Token::from_base64(&long, &roots),
        Err(Error::InvalidToken(m)) if m.contains("longer than")
    ));
}

/// Calls are bounded where they are made, so that canonicalising and signing never recurse
/// deeper than a verifier accepts, and JSON text is capped before it is parsed.
#[test]
fn holder_side_calls_are_bounded() {
    let depth = Limits::default().max_args_depth;
    let nest = |levels: usize| {
        let mut v = json!("leaf");
        for _ in 0..levels {
            v = json!({ "n": v });
        }
        v
    };
    // `{"q": nest}` puts the leaf at depth levels + 1.
    assert!(ToolCall::new("search", json!({ "q": nest(depth - 1) })).is_ok());
    assert!(matches!(
        ToolCall::new("search", json!({ "q": nest(depth) })),
        Err(Error::InvalidArguments(_))
    ));
    let wide: Map<String, Value> = (0..=Limits::default().max_args_values)
        .map(|i| (format!("k{i}"), json!(i)))
        .collect();
    assert!(ToolCall::new("search", Value::Object(wide)).is_err());
    let text = format!(
        r#"{{"q": "{}"}}"#,
        "x".repeat(Limits::default().max_args_bytes)
    );
    assert!(matches!(
        ToolCall::from_json_text("search", &text),
        Err(Error::InvalidArguments(m)) if m.contains("longer than")
    ));
}

/// Freshness is compared in milliseconds: a proof signed in second T is expired at T + 60.5 s
/// with a 60 s window (it was accepted while whole seconds were compared).
#[test]
fn a_proof_half_a_second_past_the_window_is_expired() {
    let w = World::new();
    let t = w.token();
    let call = ToolCall::new("search", json!({})).unwrap();
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
    let text = t.to_base64().unwrap();
    let at = |ms: i64| {
        w.verifier_at(now() + time::Duration::milliseconds(ms))
            .verify(&text, &call, &proof)
    };
    assert!(at(60_000).is_ok());
    assert_eq!(reason(at(60_500)), DenyReason::ProofExpired);
    assert_eq!(reason(at(-60_500)), DenyReason::ProofFromFuture);
}

/// A proof dated before its token was issued is refused (it was accepted while tokens carried
/// no issue time); `Limits::clock_skew` (5 s) forgives an issuer clock that runs a little ahead.
#[test]
fn a_proof_dated_before_its_token_is_refused_beyond_the_clock_skew() {
    let w = World::new();
    let issuer_at = |secs: i64| {
        Authority::new(
            AuthorityId::new("ops").unwrap(),
            AuthorityKey::from_bytes(7, &w.authority.key().to_bytes()),
        )
        .with_clock(std::sync::Arc::new(FixedClock(
            now() + time::Duration::seconds(secs),
        )))
        .issue(&w.grant().build().unwrap())
        .unwrap()
    };
    let call = ToolCall::new("search", json!({})).unwrap();
    let verify = |t: &Token| {
        let proof = CallProof::sign(&w.alice, t, &w.executor, &call, now()).unwrap();
        w.verifier().verify(&t.to_base64().unwrap(), &call, &proof)
    };
    assert!(
        verify(&issuer_at(0)).is_ok(),
        "signed in the second of issue"
    );
    assert!(
        verify(&issuer_at(5)).is_ok(),
        "issuer 5 s ahead: within the skew"
    );
    assert_eq!(reason(verify(&issuer_at(6))), DenyReason::ProofBeforeToken);
    assert_eq!(
        reason(verify(&issuer_at(3600))),
        DenyReason::ProofBeforeToken
    );
    let strict = w.verifier_with_limits(|l| l.clock_skew = std::time::Duration::ZERO);
    let t = issuer_at(1);
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
    assert_eq!(
        reason(strict.verify(&t.to_base64().unwrap(), &call, &proof)),
        DenyReason::ProofBeforeToken
    );
}

/// A huge proof window (a misconfiguration) does not panic the state step: the nonce is kept
/// for as long as a `Duration` can say.
#[test]
fn a_huge_proof_window_does_not_panic() {
    let w = World::new();
    let v = w.verifier_with_limits(|l| l.proof_window = std::time::Duration::MAX);
    assert!(search(&w, &v, json!({"q": "x"})).is_ok());
}
