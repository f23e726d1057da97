//! Verification of arbitrary token, call and proof bytes is always a denial, never a panic.
#![no_main]
use agentcap::{AuthorityKey, CallProof, ExecutorId, ToolCall, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let (Some(token), Some(args), Some(proof)) = (parts.next(), parts.next(), parts.next()) else { return };
    let Ok(token) = std::str::from_utf8(token) else { return };
    let Ok(args) = std::str::from_utf8(args) else { return };
    let Ok(call) = ToolCall::from_json_text("read_file", args) else { return };
    let Ok(proof) = CallProof::from_bytes(proof) else { return };
    let verifier = Verifier::builder(
        ExecutorId::new("fuzz").unwrap(),
        AuthorityKey::from_bytes(1, &[1; 32]).public().into(),
        ["read_file"],
    )
    .build()
    .unwrap();
    assert!(verifier.verify(token, &call, &proof).is_err(), "arbitrary input was allowed");
});
