//! The Redis store: many executors on many machines share one Redis. Each decision is one
//! server-side Lua script, so check-then-record has no race window.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use redis::{Client, Connection, Script, Value};

use super::{
    LedgerEntry, MessageLedger, Revocations, StateError, StateRequest, StateStore, StateVerdict,
    LEDGER_TTL,
};

/// The decision script. KEYS: revoked ids and agent keys, then the nonce, then fan-out sets,
/// budget counters and rate windows. ARGV: the counts, the time, the nonce TTL, then per
/// fan-out (holder, max), per budget (max), per rate (max, window ms, member).
const DECIDE: &str = r#"
local nrev, nfan, nbud, nrate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local k = 1
for i = 1, nrev do
  if redis.call('EXISTS', KEYS[k]) == 1 then return 'revoked' end
  k = k + 1
end
local nonce = KEYS[k]
k = k + 1
if redis.call('EXISTS', nonce) == 1 then return 'replayed' end
local a = 7
local fan0, bud0 = k, k + nfan
local rate0 = bud0 + nbud
for i = 0, nfan - 1 do
  local key, holder, max = KEYS[fan0 + i], ARGV[a + 2 * i], tonumber(ARGV[a + 2 * i + 1])
  if redis.call('SISMEMBER', key, holder) == 0 and redis.call('SCARD', key) >= max then return 'fan_out' end
end
local b = a + 2 * nfan
for i = 0, nbud - 1 do
  local used = tonumber(redis.call('GET', KEYS[bud0 + i]) or '0')
  if used >= tonumber(ARGV[b + i]) then return 'budget' end
end
local r = b + nbud
for i = 0, nrate - 1 do
  local key, max, window = KEYS[rate0 + i], tonumber(ARGV[r + 3 * i]), tonumber(ARGV[r + 3 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= max then return 'rate' end
end
redis.call('SET', nonce, '1', 'PX', ttl)
for i = 0, nfan - 1 do redis.call('SADD', KEYS[fan0 + i], ARGV[a + 2 * i]) end
for i = 0, nbud - 1 do redis.call('INCR', KEYS[bud0 + i]) end
for i = 0, nrate - 1 do
  local key, window, member = KEYS[rate0 + i], tonumber(ARGV[r + 3 * i + 1]), ARGV[r + 3 * i + 2]
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
end
return 'allow'
"#;

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisStoreConfig {
    /// The server, e.g. `redis://127.0.0.1:6379/`.
    pub url: String,
    /// Prefix of every key. Defaults to `{agentcap}:`: the braces are a Redis Cluster hash tag,
    /// so every key of one decision lands in one slot (the store talks to one node; in a cluster,
    /// point it at the node that owns that slot).
    pub prefix: String,
    /// Connections kept open. Defaults to 8.
    pub pool_size: usize,
    /// Connect, read and write timeout. Defaults to 500 ms: past it the call is denied.
    pub timeout: Duration,
}

impl RedisStoreConfig {
    /// Defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "{agentcap}:".to_owned(),
            pool_size: 8,
            timeout: Duration::from_millis(500),
        }
    }

    /// Uses `prefix` for every key.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// A [`StateStore`] on Redis, shared by many executors. Each decision is one Lua script (atomic
/// on the server). Nonces and rate windows carry TTLs; revocations, budgets and fan-out sets do
/// not expire. Connections are pooled and re-opened after a failure: while Redis is unreachable
/// every call is denied as state-unavailable, and calls are allowed again once it is back.
pub struct RedisStore {
    client: Client,
    config: RedisStoreConfig,
    pool: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
    script: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `config`. Does not connect yet: the first decision does.
    ///
    /// # Errors
    /// [`StateError`] when the URL is malformed.
    pub fn new(config: RedisStoreConfig) -> Result<Self, StateError> {
        let client = Client::open(config.url.as_str()).map_err(|e| StateError(e.to_string()))?;
        let pool = (0..config.pool_size.max(1))
            .map(|_| Mutex::new(None))
            .collect();
        Ok(Self {
            client,
            config,
            pool,
            next: AtomicUsize::new(0),
            script: Script::new(DECIDE),
        })
    }

    fn key(&self, kind: &str, bytes: &[u8]) -> String {
        format!("{}{kind}:{}", self.config.prefix, hex::encode(bytes))
    }

    /// Runs `f` on a pooled connection, opening one if needed and dropping it on error.
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StateError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        let slot = self
            .pool
            .get(i)
            .ok_or_else(|| StateError("pool index".to_owned()))?;
        let mut slot = slot
            .lock()
            .map_err(|_| StateError("redis pool slot poisoned".to_owned()))?;
        if slot.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(self.config.timeout)
                .map_err(|e| StateError(e.to_string()))?;
            con.set_read_timeout(Some(self.config.timeout))
                .map_err(|e| StateError(e.to_string()))?;
            con.set_write_timeout(Some(self.config.timeout))
                .map_err(|e| StateError(e.to_string()))?;
            *slot = Some(con);
        }
        let con = slot
            .as_mut()
            .ok_or_else(|| StateError("no connection".to_owned()))?;
        let result = f(con);
        if result.is_err() {
            // The connection may be half-broken: open a fresh one next time.
            *slot = None;
        }
        result.map_err(|e| StateError(e.to_string()))
    }

    fn set_forever(&self, key: String) -> Result<(), StateError> {
        self.with_connection(|con| redis::cmd("SET").arg(&key).arg("1").query::<()>(con))
    }
}

impl Revocations for RedisStore {
    fn revoke_id(&self, revocation_id: &[u8]) -> Result<(), StateError> {
        self.set_forever(self.key("rev", revocation_id))
    }

    fn revoke_agent_key(&self, key: &[u8; 32]) -> Result<(), StateError> {
        self.set_forever(self.key("revk", key))
    }
}

impl MessageLedger for RedisStore {
    fn lookup(&self, digest: &[u8; 32], _now_ms: i64) -> Result<Option<LedgerEntry>, StateError> {
        let key = self.key("ledger", digest);
        let raw: Option<String> =
            self.with_connection(|con| redis::cmd("GET").arg(&key).query(con))?;
        raw.map(|json| serde_json::from_str(&json).map_err(|e| StateError(e.to_string())))
            .transpose()
    }

    fn record(
        &self,
        digest: &[u8; 32],
        entry: &LedgerEntry,
        _now_ms: i64,
    ) -> Result<(), StateError> {
        let key = self.key("ledger", digest);
        // WATCH/MULTI: merge with a concurrent record instead of overwriting it.
        self.with_connection(|con| {
            redis::transaction(con, &[&key], |con, pipe| {
                let current: Option<String> = redis::cmd("GET").arg(&key).query(con)?;
                let mut merged = entry.clone();
                if let Some(old) =
                    current.and_then(|json| serde_json::from_str::<LedgerEntry>(&json).ok())
                {
                    merged.merge(&old);
                }
                let json = serde_json::to_string(&merged).unwrap_or_default();
                pipe.cmd("SET")
                    .arg(&key)
                    .arg(json)
                    .arg("EX")
                    .arg(LEDGER_TTL.as_secs())
                    .ignore()
                    .query(con)
            })
        })
    }
}

impl StateStore for RedisStore {
    fn decide(&self, r: &StateRequest) -> Result<StateVerdict, StateError> {
        let mut inv = self.script.prepare_invoke();
        for id in &r.revocation_ids {
            inv.key(self.key("rev", id));
        }
        for k in &r.agent_keys {
            inv.key(self.key("revk", k));
        }
        inv.key(self.key("nonce", &r.nonce));
        for f in &r.fan_out {
            inv.key(self.key("fan", &f.scope));
        }
        for b in &r.budgets {
            inv.key(self.key("bud", &b.scope));
        }
        for w in &r.rates {
            inv.key(self.key("rate", &w.scope));
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        inv.arg(r.revocation_ids.len() + r.agent_keys.len())
            .arg(r.fan_out.len())
            .arg(r.budgets.len())
            .arg(r.rates.len())
            .arg(r.now_ms)
            .arg(ms(r.nonce_ttl));
        for f in &r.fan_out {
            inv.arg(hex::encode(f.holder)).arg(f.max);
        }
        for b in &r.budgets {
            inv.arg(b.max);
        }
        for w in &r.rates {
            // The member must be unique per call: the nonce digest is.
            inv.arg(w.max).arg(ms(w.window)).arg(hex::encode(r.nonce));
        }
        let value: Value = self.with_connection(|con| inv.invoke(con))?;
        let verdict: String =
            redis::from_redis_value(value).map_err(|e| StateError(e.to_string()))?;
        match verdict.as_str() {
            "allow" => Ok(StateVerdict::Allow),
            "revoked" => Ok(StateVerdict::Revoked),
            "replayed" => Ok(StateVerdict::Replayed),
            "fan_out" => Ok(StateVerdict::FanOutExceeded),
            "budget" => Ok(StateVerdict::BudgetExhausted),
            "rate" => Ok(StateVerdict::RateLimited),
            other => Err(StateError(format!("unexpected script reply `{other}`"))),
        }
    }
}
