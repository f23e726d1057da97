//! Shared fixtures for the behaviour tests: a fixed clock, an authority, agents, a verifier.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use agentcap::*;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// The instant every fixture lives at.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

/// The tools the fixture's executor guards.
pub const GUARDED: [&str; 9] = [
    "read_file",
    "search",
    "http_get",
    "publish",
    "delete",
    "send",
    "send_email",
    "fetch",
    "shell",
];

/// An authority named `ops` whose tokens are issued an hour before the fixture's `now()` (so
/// proofs signed at or around `now()` are never dated before their token, whatever the wall
/// clock says).
pub fn authority(key: AuthorityKey) -> Authority {
    Authority::new(AuthorityId::new("ops").unwrap(), key)
        .with_clock(Arc::new(FixedClock(now() - time::Duration::hours(1))))
}

pub struct World {
    pub authority: Authority,
    pub alice: AgentKey,
    pub alice_id: AgentId,
    pub bob: AgentKey,
    pub bob_id: AgentId,
    pub carol: AgentKey,
    pub carol_id: AgentId,
    pub executor: ExecutorId,
}

impl World {
    pub fn new() -> Self {
        Self {
            authority: authority(AuthorityKey::generate(7)),
            alice: AgentKey::generate(),
            alice_id: AgentId::random(),
            bob: AgentKey::generate(),
            bob_id: AgentId::random(),
            carol: AgentKey::generate(),
            carol_id: AgentId::random(),
            executor: ExecutorId::new("exec-1").unwrap(),
        }
    }

    /// The default grant to alice: read files under /data, search anything, post to one host.
    pub fn grant(&self) -> GrantBuilder {
        Grant::builder(
            self.alice_id,
            self.alice.public(),
            now() + Duration::hours(1),
        )
        .tool(
            "read_file",
            ToolGrant::new().arg("path", Constraint::sub_path("/data").unwrap()),
        )
        .tool("search", ToolGrant::new().allow_other_args())
        .tool(
            "http_get",
            ToolGrant::new().arg(
                "url",
                Constraint::url(UrlPolicy::new(["https"], ["api.example.com"]).unwrap()).unwrap(),
            ),
        )
        .max_depth(3)
    }

    pub fn token(&self) -> Token {
        self.authority
            .issue(&self.grant().build().unwrap())
            .unwrap()
    }

    pub fn verifier(&self) -> Verifier {
        self.verifier_at(now())
    }

    pub fn verifier_at(&self, at: OffsetDateTime) -> Verifier {
        Verifier::builder(
            self.executor.clone(),
            self.authority.key().public().into(),
            GUARDED,
        )
        .clock(Arc::new(FixedClock(at)))
        .build()
        .unwrap()
    }

    /// A verifier at the fixture's time with `Limits::default()` changed by `f`.
    pub fn verifier_with_limits(&self, f: impl FnOnce(&mut Limits)) -> Verifier {
        let mut limits = Limits::default();
        f(&mut limits);
        Verifier::builder(
            self.executor.clone(),
            self.authority.key().public().into(),
            GUARDED,
        )
        .clock(Arc::new(FixedClock(now())))
        .limits(limits)
        .build()
        .unwrap()
    }

    /// Signs `tool(args)` with `key` for this world's executor and verifies it.
    pub fn call(
        &self,
        token: &Token,
        key: &AgentKey,
        tool: &str,
        args: Value,
    ) -> Result<Authorized, Denied> {
        let call = ToolCall::new(tool, args).unwrap();
        let proof = CallProof::sign(key, token, &self.executor, &call, now()).unwrap();
        self.verifier()
            .verify(&token.to_base64().unwrap(), &call, &proof)
    }

    pub fn delegate_to_bob(&self, token: &Token, narrowing: &Narrowing) -> Token {
        token
            .delegate(
                &self.alice,
                self.bob.public(),
                self.bob_id,
                Digest::of_message(b"please help"),
                narrowing,
            )
            .unwrap()
    }
}

pub fn reason(r: Result<Authorized, Denied>) -> DenyReason {
    r.expect_err("expected a denial").operator_reason().clone()
}

pub fn read(path: &str) -> Value {
    json!({ "path": path })
}

/// A clock tests can move.
#[derive(Debug)]
pub struct TestClock(pub std::sync::atomic::AtomicI64);

impl TestClock {
    pub fn at(t: OffsetDateTime) -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicI64::new(t.unix_timestamp())))
    }

    pub fn advance(&self, d: Duration) {
        self.0
            .fetch_add(d.whole_seconds(), std::sync::atomic::Ordering::SeqCst);
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap()
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        TestClock::now(self)
    }
}

impl World {
    /// A verifier on `store` with `clock`.
    pub fn verifier_with(
        &self,
        store: Arc<dyn agentcap::state::StateStore>,
        clock: Arc<TestClock>,
    ) -> Verifier {
        Verifier::builder(
            self.executor.clone(),
            self.authority.key().public().into(),
            GUARDED,
        )
        .clock(clock)
        .state(store)
        .build()
        .unwrap()
    }
}

/// Signs and verifies one call at the clock's time.
pub fn call_on(
    v: &Verifier,
    clock: &TestClock,
    w: &World,
    token: &Token,
    key: &AgentKey,
    tool: &str,
    args: Value,
) -> Result<Authorized, Denied> {
    let call = ToolCall::new(tool, args).unwrap();
    let proof = CallProof::sign(key, token, &w.executor, &call, clock.now()).unwrap();
    v.verify(&token.to_base64().unwrap(), &call, &proof)
}

// ---- Forgery helpers: what an attacker can build with biscuit-auth directly. ----

use biscuit_auth::builder::Term;
use biscuit_auth::{Algorithm, Biscuit, BlockBuilder, KeyPair, PrivateKey, PublicKey};

pub fn biscuit_key(secret: &[u8; 32]) -> KeyPair {
    KeyPair::from(&PrivateKey::from_bytes(secret, Algorithm::Ed25519).unwrap())
}

pub fn raw(w: &World, t: &Token) -> Biscuit {
    let root =
        PublicKey::from_bytes(&w.authority.key().public().to_bytes(), Algorithm::Ed25519).unwrap();
    Biscuit::from_base64(t.to_base64().unwrap(), root).unwrap()
}

/// A hand-made authority block signed by the real root key.
pub fn forged_authority(w: &World, code: &str) -> String {
    let mut params = std::collections::HashMap::new();
    params.insert(
        "h".to_owned(),
        Term::Bytes(w.alice.public().to_bytes().to_vec()),
    );
    params.insert(
        "a".to_owned(),
        Term::Bytes(w.alice_id.as_uuid().as_bytes().to_vec()),
    );
    let block = BlockBuilder::new()
        .code_with_params(code, params, Default::default())
        .unwrap();
    Biscuit::builder()
        .merge(block)
        .root_key_id(7)
        .build(&biscuit_key(&w.authority.key().to_bytes()))
        .unwrap()
        .to_base64()
        .unwrap()
}

/// A hand-made third-party block signed by `signer`, appended to `token`.
pub fn third_party(
    token: &Biscuit,
    signer: &AgentKey,
    code: &str,
    next: &AgentKey,
    next_agent: AgentId,
) -> Biscuit {
    let mut params = std::collections::HashMap::new();
    params.insert("i".to_owned(), Term::Integer(token.block_count() as i64));
    params.insert(
        "h".to_owned(),
        Term::Bytes(next.public().to_bytes().to_vec()),
    );
    params.insert(
        "a".to_owned(),
        Term::Bytes(next_agent.as_uuid().as_bytes().to_vec()),
    );
    params.insert("c".to_owned(), Term::Bytes(vec![0; 32]));
    let block = BlockBuilder::new()
        .code_with_params(code, params, Default::default())
        .unwrap();
    let private = PrivateKey::from_bytes(signer.to_bytes().as_ref(), Algorithm::Ed25519).unwrap();
    let signed = token
        .third_party_request()
        .unwrap()
        .create_block(&private, block)
        .unwrap();
    let public = PublicKey::from_bytes(&signer.public().to_bytes(), Algorithm::Ed25519).unwrap();
    token.append_third_party(public, signed).unwrap()
}

/// The token id a token text names (its last block's signature), read without checking
/// anything: what an attacker holding the holder key signs a proof for.
pub fn claimed_token_id(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use prost::Message;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(text.trim()).ok()?;
    let c = biscuit_auth::format::schema::Biscuit::decode(bytes.as_slice()).ok()?;
    Some(c.blocks.last().unwrap_or(&c.authority).signature.clone())
}

/// A well-formed proof by `key` for whatever token `text` names, built from the documented
/// binary form: lets a test present a tampered token with a valid proof, so the verifier's
/// own token checks (not the proof) are what deny it.
pub fn proof_for_text(
    key: &AgentKey,
    text: &str,
    executor: &ExecutorId,
    call: &ToolCall,
    at: OffsetDateTime,
) -> Option<CallProof> {
    use ed25519_dalek::Signer;
    let token_id = claimed_token_id(text)?;
    let mut body = vec![1u8];
    let put = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
        out.extend_from_slice(b);
    };
    put(&mut body, executor.as_str().as_bytes());
    put(&mut body, &token_id);
    body.extend_from_slice(&call.digest().ok()?.to_bytes());
    body.extend_from_slice(&rand_nonce());
    body.extend_from_slice(&at.unix_timestamp().to_be_bytes());
    let mut preimage = b"agentcap/call-proof/v1\0".to_vec();
    preimage.extend_from_slice(&body);
    let signing = ed25519_dalek::SigningKey::from_bytes(&key.to_bytes());
    body.extend_from_slice(&signing.sign(&preimage).to_bytes());
    CallProof::from_bytes(&body).ok()
}

fn rand_nonce() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

pub mod hostile;

/// Polls a future that never waits (tool bodies in tests) to completion, with no runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
