//! The grammar reader never panics on any bytes, and a token it reads compiles to a plan that
//! evaluates without panicking. Seeded from `cargo run --example fuzz_corpus` (valid tokens),
//! so mutations land inside well-formed blocks.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let args = json!({"path": "/data/q3.csv", "mode": "r", "n": 5, "opts": {"level": 3}});
    for tool in ["read_file", "search"] {
        let _ = agentcap::fuzzing::read_and_evaluate(data, tool, &args, 1_800_000_000);
    }
});
