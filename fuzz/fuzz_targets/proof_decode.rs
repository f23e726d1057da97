//! Call proof decoding never panics; a decoded proof re-encodes to the same bytes.
#![no_main]
use agentcap::CallProof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = CallProof::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
        assert_eq!(CallProof::from_base64(&p.to_base64()).unwrap(), p);
    }
});
