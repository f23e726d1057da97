//! Holder binding: a token is useless without its holder's key, and a proof is bound to one
//! token, one executor, one exact call and one moment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use agentcap::*;
use common::*;
use serde_json::json;
use time::Duration;

fn proof_for(
    _w: &World,
    t: &Token,
    key: &AgentKey,
    aud: &ExecutorId,
    call: &ToolCall,
    at: time::OffsetDateTime,
) -> CallProof {
    CallProof::sign(key, t, aud, call, at).unwrap()
}

#[test]
fn leaked_token_with_the_wrong_key_is_denied() {
    let w = World::new();
    let t = w.token();
    let mallory = AgentKey::generate();
    assert_eq!(
        reason(w.call(&t, &mallory, "search", json!({}))),
        DenyReason::BadProofSignature
    );
}

#[test]
fn proof_for_another_executor_tool_args_or_token_is_denied() {
    let w = World::new();
    let t = w.token();
    let text = t.to_base64().unwrap();
    let v = w.verifier();
    let call = ToolCall::new("read_file", read("/data/a")).unwrap();

    let other_exec = proof_for(
        &w,
        &t,
        &w.alice,
        &ExecutorId::new("exec-2").unwrap(),
        &call,
        now(),
    );
    assert_eq!(
        reason(v.verify(&text, &call, &other_exec)),
        DenyReason::ProofForAnotherExecutor
    );

    let other_tool = ToolCall::new("search", read("/data/a")).unwrap();
    let p = proof_for(&w, &t, &w.alice, &w.executor, &other_tool, now());
    assert_eq!(
        reason(v.verify(&text, &call, &p)),
        DenyReason::ProofForAnotherCall
    );

    let other_args = ToolCall::new("read_file", read("/data/b")).unwrap();
    let p = proof_for(&w, &t, &w.alice, &w.executor, &other_args, now());
    assert_eq!(
        reason(v.verify(&text, &call, &p)),
        DenyReason::ProofForAnotherCall
    );

    let labelled = call.clone().with_labels([Label::new("secret").unwrap()]);
    let p = proof_for(&w, &t, &w.alice, &w.executor, &labelled, now());
    assert_eq!(
        reason(v.verify(&text, &call, &p)),
        DenyReason::ProofForAnotherCall,
        "labels are bound"
    );

    let narrower = t
        .attenuate(&Narrowing::new().only_tools(["read_file"]))
        .unwrap();
    let p = proof_for(&w, &narrower, &w.alice, &w.executor, &call, now());
    assert_eq!(
        reason(v.verify(&text, &call, &p)),
        DenyReason::ProofForAnotherToken
    );
}

#[test]
fn stale_and_future_proofs_are_denied_within_the_window_allowed() {
    let w = World::new();
    let t = w.token();
    let text = t.to_base64().unwrap();
    let v = w.verifier();
    let call = ToolCall::new("search", json!({})).unwrap();
    for (offset, want) in [
        (-61, Some(DenyReason::ProofExpired)),
        (-60, None),
        (0, None),
        (60, None),
        (61, Some(DenyReason::ProofFromFuture)),
    ] {
        let p = proof_for(
            &w,
            &t,
            &w.alice,
            &w.executor,
            &call,
            now() + Duration::seconds(offset),
        );
        assert_eq!(
            v.verify(&text, &call, &p)
                .err()
                .map(|d| d.operator_reason().clone()),
            want,
            "offset {offset}"
        );
    }
}

#[test]
fn tampered_proof_bytes_are_denied() {
    let w = World::new();
    let t = w.token();
    let call = ToolCall::new("search", json!({})).unwrap();
    let p = proof_for(&w, &t, &w.alice, &w.executor, &call, now());
    let mut bytes = p.to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = CallProof::from_bytes(&bytes).unwrap();
    assert_eq!(
        reason(
            w.verifier()
                .verify(&t.to_base64().unwrap(), &call, &tampered)
        ),
        DenyReason::BadProofSignature
    );
    assert_eq!(
        CallProof::from_base64(&p.to_base64()).unwrap(),
        p,
        "text form round-trips"
    );
    assert!(CallProof::from_bytes(&bytes[..10]).is_err());
}

#[test]
fn only_the_last_holder_can_sign_after_delegation() {
    let w = World::new();
    let t = w.delegate_to_bob(&w.token(), &Narrowing::new());
    assert!(w.call(&t, &w.bob, "search", json!({})).is_ok());
    assert_eq!(
        reason(w.call(&t, &w.alice, "search", json!({}))),
        DenyReason::BadProofSignature
    );
    // Delegating with a key that is not the current holder is refused up front.
    let e = t.delegate(
        &w.alice,
        w.carol.public(),
        w.carol_id,
        Digest::of_message(b"x"),
        &Narrowing::new(),
    );
    assert!(matches!(e, Err(Error::NotHolder)), "{e:?}");
}

#[test]
fn depth_is_enforced_on_both_sides() {
    let w = World::new();
    let t = w
        .authority
        .issue(&w.grant().max_depth(1).build().unwrap())
        .unwrap();
    let t1 = w.delegate_to_bob(&t, &Narrowing::new());
    let e = t1.delegate(
        &w.bob,
        w.carol.public(),
        w.carol_id,
        Digest::of_message(b"x"),
        &Narrowing::new(),
    );
    assert!(matches!(e, Err(Error::DepthExhausted(1))), "{e:?}");
    // Delegating to oneself does not reset the depth: it consumes it.
    let t0 = w
        .authority
        .issue(&w.grant().max_depth(1).build().unwrap())
        .unwrap();
    let self1 = t0
        .delegate(
            &w.alice,
            w.alice.public(),
            w.alice_id,
            Digest::of_message(b"x"),
            &Narrowing::new(),
        )
        .unwrap();
    assert!(self1
        .delegate(
            &w.alice,
            w.bob.public(),
            w.bob_id,
            Digest::of_message(b"y"),
            &Narrowing::new()
        )
        .is_err());
}
