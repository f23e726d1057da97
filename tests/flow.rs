//! End-to-end flows through the public API: issue, attenuate, delegate, verify.
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

#[test]
fn ok_root_holder_reads_inside_root() {
    let w = World::new();
    let t = w.token();
    let a = w
        .call(&t, &w.alice, "read_file", read("/data/q3.csv"))
        .unwrap();
    assert_eq!(a.agent(), w.alice_id);
    assert_eq!(a.chain().hops.len(), 0);
    assert_eq!(a.call().tool().as_str(), "read_file");
}

#[test]
fn fail_outside_root_is_check_failed() {
    let w = World::new();
    let t = w.token();
    let r = reason(w.call(&t, &w.alice, "read_file", read("/etc/passwd")));
    assert!(
        matches!(r, DenyReason::ArgumentRejected { block: 0, .. }),
        "{r:?}"
    );
}

#[test]
fn ok_delegated_holder_is_the_only_signer() {
    let w = World::new();
    let t = w.delegate_to_bob(&w.token(), &Narrowing::new().only_tools(["read_file"]));
    let a = w.call(&t, &w.bob, "read_file", read("/data/x")).unwrap();
    assert_eq!(a.agent(), w.bob_id);
    assert_eq!(a.chain().hops.len(), 1);
    assert_eq!(a.chain().hops[0].delegator, w.alice.public());
    assert_eq!(a.chain().hops[0].cause, Digest::of_message(b"please help"));
    assert_eq!(
        reason(w.call(&t, &w.alice, "read_file", read("/data/x"))),
        DenyReason::BadProofSignature
    );
    assert!(matches!(
        reason(w.call(&t, &w.bob, "search", json!({"q": "x"}))),
        DenyReason::ToolNotGranted { block: 1 }
    ));
}

#[test]
fn ok_attenuated_constraint_narrows() {
    let w = World::new();
    let t = w
        .token()
        .attenuate(&Narrowing::new().constrain(
            "read_file",
            "path",
            Constraint::sub_path("/data/public").unwrap(),
        ))
        .unwrap();
    assert!(w
        .call(&t, &w.alice, "read_file", read("/data/public/a"))
        .is_ok());
    assert!(matches!(
        reason(w.call(&t, &w.alice, "read_file", read("/data/private/a"))),
        DenyReason::ArgumentRejected { block: 1, .. }
    ));
}

#[test]
fn fail_widening_attenuation_is_refused_before_append() {
    let w = World::new();
    let t = w.token();
    let e = t.attenuate(&Narrowing::new().constrain(
        "read_file",
        "path",
        Constraint::sub_path("/").unwrap(),
    ));
    assert!(matches!(e, Err(Error::NotNarrower(_))), "{e:?}");
    let e = t.attenuate(&Narrowing::new().only_tools(["publish"]));
    assert!(matches!(e, Err(Error::NotNarrower(_))), "{e:?}");
}

#[test]
fn ok_three_hop_chain() {
    let w = World::new();
    let t1 = w.delegate_to_bob(&w.token(), &Narrowing::new());
    let t2 = t1
        .delegate(
            &w.bob,
            w.carol.public(),
            w.carol_id,
            Digest::of_message(b"m2"),
            &Narrowing::new().only_tools(["search"]),
        )
        .unwrap();
    let a = w
        .call(&t2, &w.carol, "search", json!({"q": "weather"}))
        .unwrap();
    assert_eq!(a.chain().hops.len(), 2);
    assert_eq!(a.chain().holder(), w.carol.public());
    let d = t2.describe().unwrap();
    assert_eq!(d.holder, w.carol.public());
    assert_eq!(d.tools.len(), 1);
}

#[test]
fn ok_root_rotation_trusts_both_keys_until_the_old_one_is_removed() {
    let w = World::new();
    let next = authority(AuthorityKey::generate(8));
    let mut roots = TrustedRoots::new().with(w.authority.key().public());
    roots.insert(next.key().public());
    assert_eq!(roots.get(8), Some(&next.key().public()));
    assert_eq!(roots.get(7), Some(&w.authority.key().public()));
    assert_eq!(roots.get(9), None);
    let old_token = w.token();
    let new_token = next.issue(&w.grant().build().unwrap()).unwrap();
    let verify = |roots: &TrustedRoots, t: &Token| {
        let v = Verifier::builder(w.executor.clone(), roots.clone(), ["search"])
            .clock(std::sync::Arc::new(FixedClock(now())))
            .build()
            .unwrap();
        let call = ToolCall::new("search", json!({"q": "x"})).unwrap();
        let proof = CallProof::sign(&w.alice, t, &w.executor, &call, now()).unwrap();
        v.verify(&t.to_base64().unwrap(), &call, &proof)
    };
    assert!(verify(&roots, &old_token).is_ok());
    assert!(verify(&roots, &new_token).is_ok());
    // After the old root is dropped, only tokens of the new one verify.
    let only_new = TrustedRoots::from(next.key().public());
    assert_eq!(
        reason(verify(&only_new, &old_token)),
        DenyReason::UnknownRootKey
    );
    assert!(verify(&only_new, &new_token).is_ok());
}
