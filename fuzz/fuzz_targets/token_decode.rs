//! Token decoding never panics; a decoded token re-encodes and decodes to the same token.
#![no_main]
use agentcap::{AuthorityKey, Token, TrustedRoots};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let roots: TrustedRoots = AuthorityKey::from_bytes(1, &[1; 32]).public().into();
    if let Ok(token) = Token::from_base64(text, &roots) {
        let again = Token::from_base64(&token.to_base64().unwrap(), &roots).unwrap();
        assert_eq!(token.id(), again.id());
        let _ = token.describe();
    }
});
