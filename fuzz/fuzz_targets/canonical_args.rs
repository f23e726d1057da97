//! RFC 8785 canonicalisation round-trips: canonical text parses back to a call with the same
//! canonical bytes and digest.
#![no_main]
use agentcap::ToolCall;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(call) = ToolCall::from_json_text("t", text) else { return };
    let Ok(canonical) = call.canonical_args() else { return };
    let again = ToolCall::from_json_text("t", std::str::from_utf8(&canonical).unwrap()).unwrap();
    assert_eq!(again.canonical_args().unwrap(), canonical);
    assert_eq!(again.digest().unwrap(), call.digest().unwrap());
});
