//! Every text form the executor reads parses strictly: one spelling per value, nothing trailing,
//! nothing truncated. A second spelling of the same digest or proof would be a second identity
//! for replay and audit.
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
fn digest_text_is_lowercase_hex_of_exactly_32_bytes() {
    let d = Digest::of_message(b"hello");
    let text = d.to_string();
    assert_eq!(text.len(), 64);
    assert_eq!(text.parse::<Digest>().unwrap(), d);
    assert_eq!(format!("{d:?}"), format!("Digest({text})"));
    for bad in [
        text.to_uppercase(),          // a second spelling of the same bytes
        text[..62].to_owned(),        // truncated
        format!("{text}00"),          // trailing bytes
        format!(" {text}"),           // padding
        format!("{}zz", &text[..62]), // not hex
        String::new(),
    ] {
        assert!(bad.parse::<Digest>().is_err(), "accepted {bad:?}");
    }
}

#[test]
fn argument_json_refuses_duplicates_inside_arrays_and_keeps_arrays() {
    let ok =
        ToolCall::from_json_text("search", r#"{"items": [1, {"k": "v"}, [2, [3]], []]}"#).unwrap();
    assert_eq!(ok.args(), &json!({"items": [1, {"k": "v"}, [2, [3]], []]}));
    let dup = ToolCall::from_json_text("search", r#"{"items": [0, {"k": 1, "k": 2}]}"#);
    assert!(
        matches!(&dup, Err(Error::InvalidArguments(m)) if m.contains("duplicate key `k`")),
        "{dup:?}"
    );
}

#[test]
fn call_proof_bytes_parse_strictly() {
    let w = World::new();
    let t = w.token();
    let call = ToolCall::new("search", json!({"q": "x"})).unwrap();
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
    let bytes = proof.to_bytes();
    assert_eq!(CallProof::from_bytes(&bytes).unwrap(), proof);
    assert_eq!(CallProof::from_base64(&proof.to_base64()).unwrap(), proof);
    let mut trailing = bytes.clone();
    trailing.push(0);
    let mut version = bytes.clone();
    version[0] = 2;
    for (name, bad) in [
        ("trailing byte", trailing),
        ("unknown version", version),
        ("truncated signature", bytes[..bytes.len() - 1].to_vec()),
        ("empty", Vec::new()),
    ] {
        assert!(CallProof::from_bytes(&bad).is_err(), "accepted: {name}");
    }
}

#[test]
fn key_text_forms_round_trip_and_debug_never_shows_a_secret() {
    let agent = AgentKey::generate();
    let public = agent.public();
    let text = public.to_string();
    assert_eq!(text.len(), "ed25519/".len() + 64);
    assert!(text.starts_with("ed25519/"));
    assert_eq!(text.parse::<AgentPublicKey>().unwrap(), public);
    assert_eq!(format!("{public:?}"), format!("AgentPublicKey({text})"));
    for bad in [
        text.to_uppercase(),
        text.replace("ed25519/", "ed448/"),
        text[..text.len() - 2].to_owned(),
        format!("{text}00"),
    ] {
        assert!(bad.parse::<AgentPublicKey>().is_err(), "accepted {bad:?}");
    }

    let root_key = AuthorityKey::generate(7);
    let root = root_key.public();
    assert_eq!(root.key_id(), 7);
    let root_text = root.to_string();
    assert_eq!(root_text, format!("7:ed25519/{}", hex(&root.to_bytes())));
    assert_eq!(root_text.parse::<RootPublicKey>().unwrap(), root);
    assert_eq!(format!("{root:?}"), format!("RootPublicKey({root_text})"));
    for bad in [
        format!("07:{}", &root_text[2..]),
        format!("x:{}", &root_text[2..]),
        root_text[2..].to_owned(),
    ] {
        assert!(bad.parse::<RootPublicKey>().is_err(), "accepted {bad:?}");
    }

    // Debug of a secret key names its public half and nothing of the secret.
    let agent_debug = format!("{agent:?}");
    assert!(agent_debug.contains(&text), "{agent_debug}");
    assert!(!agent_debug.contains(&hex(agent.to_bytes().as_ref())));
    let root_debug = format!("{root_key:?}");
    assert!(root_debug.contains(&root_text), "{root_debug}");
    assert!(!root_debug.contains(&hex(root_key.to_bytes().as_ref())));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn token_text_and_its_metadata_agree() {
    use base64::Engine;
    let w = World::new();
    let t = w.token();
    let text = t.to_base64().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(&text)
        .unwrap();
    assert_eq!(t.size().unwrap(), bytes.len());
    assert_eq!(t.block_count(), 1);
    assert_eq!(t.root_key_id(), Some(7));
    let id = t.id();
    assert_eq!(id.as_bytes().len(), 64);
    assert_eq!(id.to_string(), hex(id.as_bytes()));
    assert_eq!(format!("{id:?}"), format!("TokenId({id})"));
    assert_eq!(
        format!("{t:?}"),
        format!("Token {{ id: TokenId({id}), blocks: 1 }}")
    );
    let narrowed = t
        .attenuate(&Narrowing::new().only_tools(["search"]))
        .unwrap();
    assert_eq!(narrowed.block_count(), 2);
    assert!(narrowed.size().unwrap() > t.size().unwrap());
    assert_eq!(narrowed.revocation_ids()[0], id);
    assert_ne!(narrowed.id(), id);
}

/// A proof's token id is 1 to 128 bytes: an empty or longer one does not parse.
#[test]
fn call_proof_token_id_length_is_bounded() {
    let proof_with_id = |id: &[u8]| {
        let mut b = vec![1u8];
        b.extend_from_slice(&6u16.to_be_bytes());
        b.extend_from_slice(b"exec-1");
        b.extend_from_slice(&(id.len() as u16).to_be_bytes());
        b.extend_from_slice(id);
        b.extend_from_slice(&[0u8; 32 + 16 + 8 + 64]);
        b
    };
    assert!(CallProof::from_bytes(&proof_with_id(&[9; 1])).is_ok());
    assert!(CallProof::from_bytes(&proof_with_id(&[9; 128])).is_ok());
    assert!(CallProof::from_bytes(&proof_with_id(&[])).is_err());
    assert!(CallProof::from_bytes(&proof_with_id(&[9; 129])).is_err());
}

/// A small-order ("weak") public key verifies signatures nobody made: it is refused wherever a
/// holder key is parsed.
#[test]
fn fail_weak_agent_public_keys() {
    // The identity point and a point of order 2, in their canonical encodings.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut order_two = [0u8; 32];
    order_two[0] = 0xec;
    order_two[1..31].fill(0xff);
    order_two[31] = 0x7f;
    for bytes in [identity, order_two] {
        assert!(
            AgentPublicKey::from_bytes(&bytes).is_err(),
            "{}",
            hex::encode(bytes)
        );
        let text = format!("ed25519/{}", hex::encode(bytes));
        assert!(text.parse::<AgentPublicKey>().is_err(), "{text}");
    }
    assert!(AgentPublicKey::from_bytes(&AgentKey::generate().public().to_bytes()).is_ok());
}

/// A sealed token (biscuit's final form, which this crate never writes) is refused with a
/// message that says so, on the holder side as at the verifier.
#[test]
fn fail_sealed_token_says_it_is_sealed() {
    let w = World::new();
    let sealed = raw(&w, &w.token()).seal().unwrap().to_base64().unwrap();
    let roots: TrustedRoots = w.authority.key().public().into();
    assert!(matches!(
        Token::from_base64(&sealed, &roots),
        Err(Error::InvalidToken(m)) if m.contains("sealed")
    ));
    let call = ToolCall::new("search", json!({})).unwrap();
    let proof = proof_for_text(&w.alice, &sealed, &w.executor, &call, now()).unwrap();
    assert_eq!(
        reason(w.verifier().verify(&sealed, &call, &proof)),
        DenyReason::MalformedToken
    );
}

/// The approval text (MCP `_meta` carries it) has one spelling: version 1, a valid key, 64
/// signature bytes, unpadded base64url, nothing more or less. A parsed approval still counts only
/// for the call it signs.
#[test]
fn approval_text_parses_strictly_and_round_trips() {
    let w = World::new();
    let token = w.authority.issue(&w.grant().build().unwrap()).unwrap();
    let call = ToolCall::new("search", json!({"q": "x"})).unwrap();
    let a = Approval::sign(&w.bob, &w.executor, &token.id(), call.digest().unwrap());
    let text = a.to_base64();
    assert_eq!(text.len(), 130); // 97 bytes
    assert_eq!(Approval::from_base64(&text).unwrap(), a);
    assert_eq!(
        Approval::from_base64(&text).unwrap().approver(),
        w.bob.public()
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = b64.decode(&text).unwrap();
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        f(&mut b);
        b64.encode(b)
    };
    for (what, bad) in [
        ("version 2", with(&|b| b[0] = 2)),
        ("truncated", with(&|b| b.truncate(96))),
        ("trailing byte", with(&|b| b.push(0))),
        (
            "a small-order key",
            with(&|b| {
                b[1..33].fill(0);
                b[1] = 1; // the identity point
            }),
        ),
        ("padded", format!("{text}==")),
        (
            "standard alphabet",
            base64::engine::general_purpose::STANDARD.encode(&bytes),
        ),
        ("not base64", "!!!!".to_owned()),
        ("empty", String::new()),
    ] {
        // The standard alphabet spells these bytes differently only if they hold + or /.
        if what == "standard alphabet" && bad == text {
            continue;
        }
        assert!(Approval::from_base64(&bad).is_err(), "{what}: {bad}");
    }

    // The single-use form: version 2, the key, a 16-byte nonce, the expiry, the signature.
    let expires = now() + time::Duration::minutes(10);
    let once = Approval::sign_once(
        &w.bob,
        &w.executor,
        &token.id(),
        call.digest().unwrap(),
        expires,
    );
    let text = once.to_base64();
    assert_eq!(text.len(), 162); // 121 bytes
    let back = Approval::from_base64(&text).unwrap();
    assert_eq!(back, once);
    assert!(back.is_single_use());
    assert_eq!(back.expires_at(), Some(expires));
    let bytes = b64.decode(&text).unwrap();
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        f(&mut b);
        b64.encode(b)
    };
    for (what, bad) in [
        ("version 1 at 121 bytes", with(&|b| b[0] = 1)),
        ("version 3", with(&|b| b[0] = 3)),
        ("truncated", with(&|b| b.truncate(120))),
        ("trailing byte", with(&|b| b.push(0))),
    ] {
        assert!(Approval::from_base64(&bad).is_err(), "{what}: {bad}");
    }
}
