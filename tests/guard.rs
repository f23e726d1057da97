//! `Verifier::guard` and `guard_async`: the tool body runs only for an authorized call, and
//! its result or the denial comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::Cell;

use agentcap::*;
use common::*;
use serde_json::json;

#[test]
fn the_tool_runs_only_when_authorized() {
    let w = World::new();
    let t = w.token();
    let text = t.to_base64().unwrap();
    let v = w.verifier();
    let runs = Cell::new(0);
    let body = |a: &Authorized| {
        runs.set(runs.get() + 1);
        a.call().args()["path"].as_str().unwrap().to_owned()
    };
    let ok_call = ToolCall::new("read_file", read("/data/a.csv")).unwrap();
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &ok_call, now()).unwrap();
    assert_eq!(
        v.guard(&text, &ok_call, &proof, body).unwrap(),
        "/data/a.csv"
    );
    assert_eq!(runs.get(), 1);

    let bad_call = ToolCall::new("read_file", read("/etc/passwd")).unwrap();
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &bad_call, now()).unwrap();
    let denied = v.guard(&text, &bad_call, &proof, body).unwrap_err();
    assert!(matches!(
        denied.operator_reason(),
        DenyReason::ArgumentRejected { .. }
    ));
    // A proof by someone else's key: denied too.
    let proof = CallProof::sign(&w.bob, &t, &w.executor, &ok_call, now()).unwrap();
    assert!(v.guard(&text, &ok_call, &proof, body).is_err());
    assert_eq!(runs.get(), 1, "the body never ran for a denied call");
}

#[test]
fn the_async_tool_is_awaited_only_when_authorized() {
    let w = World::new();
    let t = w.token();
    let text = t.to_base64().unwrap();
    let v = w.verifier();
    let runs = Cell::new(0);
    let ok_call = ToolCall::new("search", json!({"q": "x"})).unwrap();
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &ok_call, now()).unwrap();
    let got = block_on(v.guard_async(&text, &ok_call, &proof, |a| {
        runs.set(runs.get() + 1);
        async move { a.agent() }
    }));
    assert_eq!(got.unwrap(), w.alice_id);
    let publish = ToolCall::new("publish", json!({})).unwrap();
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &publish, now()).unwrap();
    let got = block_on(v.guard_async(&text, &publish, &proof, |_| {
        runs.set(runs.get() + 1);
        async {}
    }));
    assert!(got.is_err());
    assert_eq!(runs.get(), 1, "the body never ran for a denied call");
}
