//! The whole verify path on mutations of valid tokens and calls. The target signs each call's
//! proof itself with the holder keys the seed corpus uses, so mutated arguments reach native
//! evaluation and mutated tokens reach the grammar reader, the walk, the proof and the block
//! signatures. Invariant: whatever is allowed is a token whose signatures verify, for a granted
//! tool, whose every recorded constraint allows the call's argument (an independent check
//! through the public `Constraint::allows`).
//!
//! Input: u16be token length, the binary token, then the call's arguments as JSON.
#![no_main]
use std::sync::Arc;

use agentcap::{
    AgentKey, AuthorityKey, CallProof, ExecutorId, FixedClock, Token, ToolCall, TrustedRoots,
    Verifier,
};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else { return };
    let len = u16::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return;
    }
    let (token, args) = rest.split_at(len);
    let Ok(args) = std::str::from_utf8(args) else { return };
    let text = base64::engine::general_purpose::URL_SAFE.encode(token);
    let roots: TrustedRoots = AuthorityKey::from_bytes(1, &[1; 32]).public().into();
    let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    let executor = ExecutorId::new("fuzz").unwrap();
    let verifier = Verifier::builder(executor.clone(), roots.clone(), ["read_file", "search"])
        .clock(Arc::new(FixedClock(now)))
        .chain_cache(0)
        .build()
        .unwrap();
    let valid = Token::from_base64(&text, &roots).ok();
    let description = valid.as_ref().and_then(|t| t.describe().ok());
    for tool in ["read_file", "search"] {
        let Ok(call) = ToolCall::from_json_text(tool, args) else { return };
        for i in 0..4u8 {
            let key = AgentKey::from_bytes(&[10 + i; 32]);
            // A proof for this exact token text: signed over the id the text names, through
            // the token when it decodes, else through the seed shape's own (unverified) id.
            let Some(t) = valid.as_ref() else {
                // Unverifiable token: any decision must be a denial.
                if let Some(seed) = seed_token() {
                    let proof = CallProof::sign(&key, &seed, &executor, &call, now).unwrap();
                    assert!(verifier.verify(&text, &call, &proof).is_err());
                }
                continue;
            };
            let proof = CallProof::sign(&key, t, &executor, &call, now).unwrap();
            if let Ok(authorized) = verifier.verify(&text, &call, &proof) {
                let d = description.as_ref().expect("an allowed token describes");
                assert_eq!(d.holder, key.public());
                assert!(d.tools.contains(authorized.call().tool()));
                if let Some(per_arg) = d.constraints.get(authorized.call().tool()) {
                    for (pointer, cs) in per_arg {
                        let value = call.args().pointer(pointer).expect("a constrained argument is present");
                        for c in cs {
                            assert!(c.allows(value), "{pointer}: {c:?} refuses {value}");
                        }
                    }
                }
            }
        }
    }
});

/// Any valid token, to sign a proof with when the input's token does not decode.
fn seed_token() -> Option<Token> {
    use agentcap::{AgentId, Authority, AuthorityId, Grant, ToolGrant};
    let authority = Authority::new(AuthorityId::new("fuzz").ok()?, AuthorityKey::from_bytes(1, &[1; 32]))
        .with_clock(Arc::new(FixedClock(OffsetDateTime::from_unix_timestamp(NOW - 60).ok()?)));
    let grant = Grant::builder(
        AgentId::random(),
        AgentKey::from_bytes(&[10; 32]).public(),
        OffsetDateTime::from_unix_timestamp(NOW + 3600).ok()?,
    )
    .tool("search", ToolGrant::new().allow_other_args())
    .build()
    .ok()?;
    authority.issue(&grant).ok()
}
