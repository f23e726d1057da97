//! Constraint parsing, validation, evaluation and the subset relation never panic on arbitrary
//! JSON; a constraint is always a subset of itself and of `Any`.
#![no_main]
use agentcap::Constraint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let (Some(c), Some(v)) = (parts.next(), parts.next()) else { return };
    let Ok(c) = serde_json::from_slice::<Constraint>(c) else { return };
    if c.validate().is_err() {
        return;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(v) else { return };
    let _ = c.allows(&v);
    assert!(c.is_subset_of(&c));
    assert!(c.is_subset_of(&Constraint::Any));
});
