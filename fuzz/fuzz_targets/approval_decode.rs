//! Approval text decoding (MCP `_meta` carries it) never panics; a decoded approval re-encodes
//! to the text it came from.
#![no_main]
use agentcap::Approval;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(a) = Approval::from_base64(&text) {
        assert_eq!(a.to_base64(), text.trim());
        assert_eq!(Approval::from_base64(&a.to_base64()).unwrap(), a);
    }
});
