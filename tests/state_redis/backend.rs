//! The same behaviour suite against a real `redis-server`, plus what only a shared server can
//! show: several OS processes, and the server going away and coming back.
//!
//! The harness starts `redis-server` on a free loopback port per test (no persistence), or
//! uses `AGENTCAP_REDIS_URL`. Every test here is `#[ignore]`d, so a plain `cargo test --features
//! redis` reports them as ignored; run them with
//! `cargo test --features redis --test state redis -- --include-ignored` (as `.ci/run` does),
//! and a test that cannot get its server fails.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use agentcap::state::{RedisStore, RedisStoreConfig};

use super::*;

pub struct Server {
    child: Option<Child>,
    port: u16,
    pub url: String,
}

impl Server {
    /// A server for one test: `AGENTCAP_REDIS_URL`, or a `redis-server` started here. Panics
    /// when neither can be had (the test was asked to run).
    pub fn start() -> Server {
        if let Ok(url) = std::env::var("AGENTCAP_REDIS_URL") {
            return Server {
                child: None,
                port: 0,
                url,
            };
        }
        Self::start_own()
    }

    /// A `redis-server` started here (for tests that stop and restart it). Panics when it
    /// cannot be started.
    pub fn start_own() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Server {
            child: None,
            port,
            url: format!("redis://127.0.0.1:{port}/"),
        };
        assert!(
            server.spawn(),
            "redis-server could not be started: install it (apt-get install redis-server) or set AGENTCAP_REDIS_URL"
        );
        server
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                // The fault tests slow the server down with DEBUG SLEEP.
                "--enable-debug-command",
                "local",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        let deadline = Instant::now() + StdDuration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(client) = redis::Client::open(self.url.as_str()) {
                if let Ok(mut con) =
                    client.get_connection_with_timeout(StdDuration::from_millis(200))
                {
                    if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                        return true;
                    }
                }
            }
            std::thread::sleep(StdDuration::from_millis(50));
        }
        false
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        assert!(self.spawn(), "redis-server restarts");
    }

    /// A store with one pooled connection and `timeout`.
    pub fn store_with(&self, url: &str, prefix: &str, timeout: StdDuration) -> Arc<RedisStore> {
        let mut config = RedisStoreConfig::new(url).prefix(prefix);
        config.pool_size = 1;
        config.timeout = timeout;
        Arc::new(RedisStore::new(config).unwrap())
    }

    pub fn store(&self, prefix: &str) -> Arc<RedisStore> {
        Arc::new(RedisStore::new(RedisStoreConfig::new(self.url.clone()).prefix(prefix)).unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

thread_local! {
    static SERVER: std::cell::RefCell<Option<Server>> = const { std::cell::RefCell::new(None) };
}

/// A store on a fresh server (kept alive for the rest of the test thread) with a unique prefix.
fn redis() -> Store {
    let server = Server::start();
    let store = server.store(&format!("t{}:", uuid::Uuid::new_v4().simple()));
    SERVER.with(|s| *s.borrow_mut() = Some(server));
    store
}

suite!(redis_store, redis(), #[ignore = "needs a Redis server: run with -- --include-ignored"]);

#[test]
#[ignore = "needs redis-server: run with -- --include-ignored"]
fn redis_unavailable_denies_then_recovers() {
    // Its own server whatever AGENTCAP_REDIS_URL says: this test stops and restarts it.
    let mut server = Server::start_own();
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(server.store("fault:"), clock.clone());
    let t = w.token();
    assert!(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok());
    server.kill();
    for _ in 0..3 {
        let d = call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).unwrap_err();
        assert_eq!(
            d.class(),
            DenyClass::StateUnavailable,
            "{:?}",
            d.operator_reason()
        );
    }
    server.restart();
    assert!(
        call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok(),
        "the store reconnects"
    );
}

/// Four OS processes present a one-time capability 64 times at once: exactly one is allowed.
#[test]
#[ignore = "needs a Redis server: run with -- --include-ignored"]
fn redis_one_time_capability_across_four_processes() {
    if let Ok(spec) = std::env::var("AGENTCAP_CHILD_SPEC") {
        return child_worker(&spec);
    }
    let server = Server::start();
    let w = World::new();
    let t = token_with(&w, search(Some(1), None), None);
    let root = w.authority.key().public();
    let dir = std::env::temp_dir().join(format!("agentcap-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = format!("mp{}:", uuid::Uuid::new_v4().simple());
    let children: Vec<_> = (0..4)
        .map(|c| {
            let proofs: Vec<String> = (0..16)
                .map(|i| {
                    let call = ToolCall::new("search", json!({ "n": c * 16 + i })).unwrap();
                    CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap().to_base64()
                })
                .collect();
            let spec = json!({
                "url": server.url, "prefix": prefix, "root": root.to_string(), "executor": w.executor.as_str(),
                "token": t.to_base64().unwrap(), "first": c * 16, "proofs": proofs,
            });
            let path = dir.join(format!("child{c}.json"));
            std::fs::write(&path, spec.to_string()).unwrap();
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "redis_backend::redis_one_time_capability_across_four_processes", "--nocapture", "--test-threads=1", "--include-ignored"])
                .env("AGENTCAP_CHILD_SPEC", &path)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut allowed = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.split("ALLOWED=").nth(1))
            .unwrap_or_else(|| panic!("child reports: {text}"));
        allowed += line.trim().parse::<usize>().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        allowed, 1,
        "a budget of one is used exactly once across processes"
    );
}

fn child_worker(spec_path: &str) {
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(spec_path).unwrap()).unwrap();
    let store = Arc::new(
        RedisStore::new(
            RedisStoreConfig::new(spec["url"].as_str().unwrap())
                .prefix(spec["prefix"].as_str().unwrap()),
        )
        .unwrap(),
    );
    let root: RootPublicKey = spec["root"].as_str().unwrap().parse().unwrap();
    let v = Verifier::builder(
        ExecutorId::new(spec["executor"].as_str().unwrap()).unwrap(),
        root.into(),
        ["search"],
    )
    .clock(Arc::new(FixedClock(now())))
    .state(store)
    .build()
    .unwrap();
    let token = spec["token"].as_str().unwrap();
    let first = spec["first"].as_u64().unwrap();
    let proofs: Vec<String> = serde_json::from_value(spec["proofs"].clone()).unwrap();
    let allowed: usize = std::thread::scope(|s| {
        let handles: Vec<_> = proofs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let v = &v;
                s.spawn(move || {
                    let call = ToolCall::new("search", json!({ "n": first + i as u64 })).unwrap();
                    v.verify(token, &call, &CallProof::from_base64(p).unwrap())
                        .is_ok()
                })
            })
            .collect();
        handles
            .into_iter()
            .filter(|_| true)
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    println!("ALLOWED={allowed}");
}

/// Every key the store writes expires with what it counts, except agent-key revocations and
/// revocations by bare id (which the store cannot date): budgets and fan-out sets at the token's
/// expiry plus the grace, revocations made with `revoke_token` likewise, nonces, rate windows
/// and ledger entries by their TTLs.
#[test]
#[ignore = "needs a Redis server: run with -- --include-ignored"]
fn redis_keys_expire_with_what_they_count() {
    let server = Server::start();
    let prefix = format!("ttl{}:", uuid::Uuid::new_v4().simple());
    let store = server.store(&prefix);
    let Filled { to_bob, .. } = fill_every_kind(store.clone());
    // A revocation by bare id is kept forever, and a later dated one does not shorten it.
    store.revoke_id(to_bob.id().as_bytes()).unwrap();
    store.revoke_token(&to_bob).unwrap();
    store
        .revoke_agent_key(&AgentKey::generate().public().to_bytes())
        .unwrap();

    let expiry_ms = (now() + Duration::hours(1)).unix_timestamp() * 1000;
    let grace_ms = i64::try_from(state::EXPIRY_GRACE.as_millis()).unwrap();
    let client = redis::Client::open(server.url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut con)
        .unwrap();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for key in &keys {
        let at: i64 = redis::cmd("PEXPIRETIME").arg(key).query(&mut con).unwrap();
        let kind = key.rsplit(':').nth(1).unwrap().to_owned();
        *kinds.entry(kind.clone()).or_default() += 1;
        match kind.as_str() {
            "revk" => assert_eq!(at, -1, "{key}"),
            "rev" if key.ends_with(&hex::encode(to_bob.id().as_bytes())) => {
                assert_eq!(at, -1, "{key}")
            }
            "rev" | "bud" | "fan" => {
                // The token's expiry (whole seconds) plus the grace.
                assert!((at - expiry_ms - grace_ms).abs() <= 1000, "{key}: {at}");
            }
            "nonce" | "rate" | "ledger" => assert!(at > 0, "{key}: {at}"),
            other => panic!("unexpected key kind {other} in {key}"),
        }
    }
    for kind in ["revk", "rev", "bud", "fan", "nonce", "rate", "ledger"] {
        assert!(kinds.contains_key(kind), "no {kind} key among {keys:?}");
    }
}

/// The Redis store as a checkpoint anchor for an audit log: the coverage of each checkpoint is
/// kept, never moves back, and exposes a log cut back past it.
#[test]
#[ignore = "needs a Redis server: run with -- --include-ignored"]
fn redis_anchors_audit_checkpoints() {
    use agentcap::audit::{self, AuditConfig, AuditLog, CheckpointAnchor, LogFailure, LogKey};
    let server = Server::start();
    let store = server.store(&format!("anchor{}:", uuid::Uuid::new_v4().simple()));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "agentcap-anchor-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ));
    let key = LogKey::generate();
    let public = key.public();
    let log = AuditLog::create(
        &path,
        key,
        AuditConfig::default()
            .with_checkpoint_every(3)
            .with_anchor(store.clone()),
    )
    .unwrap();
    let (a, b) = (AgentId::random(), AgentId::random());
    for i in 0..7u8 {
        log.record_message(a, b, Digest::of_message(&[i]), None, &[])
            .unwrap();
    }
    log.close().unwrap();
    let report = audit::verify_anchored(&path, &public, store.as_ref()).unwrap();
    assert!(report.closed);
    let point = store.anchored(&public).unwrap().unwrap();
    assert_eq!(point.checkpointed, report.records);
    // A point of the same log covering less never replaces it.
    store
        .anchor(&public, &audit::AnchorPoint::new(point.log_id, 1, [0; 32]))
        .unwrap();
    assert_eq!(store.anchored(&public).unwrap(), Some(point));
    // Drop the closing checkpoint: the file alone verifies (not closed); the anchor refuses it.
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&path, format!("{}\n", kept[..kept.len() - 1].join("\n"))).unwrap();
    assert!(audit::verify_file(&path, &public).is_ok());
    assert!(matches!(
        audit::verify_anchored(&path, &public, store.as_ref()),
        Err(LogFailure::Truncated { .. })
    ));
    let _ = std::fs::remove_file(&path);
}
