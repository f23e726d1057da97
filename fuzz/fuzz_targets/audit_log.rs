//! Audit log parsing and verification never panic on arbitrary files.
#![no_main]
use agentcap::audit::{self, LogKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("agentcap-fuzz-audit-{}.jsonl", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let key = LogKey::from_bytes(&[3; 32]).public();
    let _ = audit::verify_file(&path, &key);
    let _ = audit::verify_file_since(&path, &key, 3);
    let _ = audit::trace(&path, "00000000-0000-0000-0000-000000000000");
});
