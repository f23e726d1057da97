//! The Redis store: many executors on many machines share one Redis or one Redis Cluster. Each
//! decision is one server-side Lua script, so check-then-record has no race window.
//!
//! Key layout: what one decision records (nonce, fan-out sets, budgets, rate windows) belongs to
//! one token tree and carries the tree as its Redis Cluster hash tag, so it lies in one slot
//! while different trees spread over the cluster. Revocations and ledger entries are keyed by
//! what names them (a revocation id, an agent key, a message digest) and spread too.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Client, Cmd, Connection, ConnectionLike, Script, Value};

use crate::audit::{AnchorPoint, CheckpointAnchor, LogPublicKey};

use super::{
    LedgerEntry, LedgerRecord, MessageLedger, Revocations, StateError, StateRequest, StateStore,
    StateVerdict, LEDGER_TTL,
};

/// Merges a ledger entry into the JSON stored at `key` (the ratchet of `LedgerEntry::merge`):
/// the higher hop, the union of labels (sorted), the union of paths (stored keys first). Strings are JSON-encoded one
/// by one (`cjson` would write an empty list as `{}`).
const LEDGER_LUA: &str = r#"
local function ledger(key, hop, labels, path, ttl)
  local cur = redis.call('GET', key)
  if cur then
    local ok, old = pcall(cjson.decode, cur)
    if ok and type(old) == 'table' then
      if type(old.hop) == 'number' and old.hop > hop then hop = old.hop end
      local seen = {}
      for _, l in ipairs(labels) do seen[l] = true end
      if type(old.labels) == 'table' then
        for _, l in ipairs(old.labels) do
          if type(l) == 'string' and not seen[l] then seen[l] = true; table.insert(labels, l) end
        end
      end
      if type(old.path) == 'table' then
        local merged, have = {}, {}
        for _, p in ipairs(old.path) do
          if type(p) == 'string' and not have[p] then have[p] = true; table.insert(merged, p) end
        end
        for _, p in ipairs(path) do
          if not have[p] then have[p] = true; table.insert(merged, p) end
        end
        path = merged
      end
    end
  end
  table.sort(labels)
  local function list(t)
    local out = {}
    for i, s in ipairs(t) do out[i] = cjson.encode(s) end
    return '[' .. table.concat(out, ',') .. ']'
  end
  local json = '{"hop":' .. string.format('%d', hop) .. ',"labels":' .. list(labels) .. ',"path":' .. list(path) .. '}'
  redis.call('SET', key, json, 'EX', ttl)
end
local function ledger_args(a)
  local hop, ttl, nl = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local labels, path = {}, {}
  for i = 1, nl do labels[i] = ARGV[a + 2 + i] end
  local np = tonumber(ARGV[a + 3 + nl])
  for i = 1, np do path[i] = ARGV[a + 3 + nl + i] end
  return hop, labels, path, ttl
end
"#;

/// The decision. KEYS: revoked ids and agent keys, the nonce, fan-out sets, budget counters, rate
/// windows, spent approvals, then the ledger key if any. ARGV: the counts (revoked, fan-out,
/// budgets, rates, ledger), the time, the nonce TTL, the count of approvals, then per fan-out
/// (holder, max, keep-until), per budget (max, keep-until), per rate (max, window ms, member),
/// per approval (keep-until), then the ledger record (hop, TTL, labels, path).
const DECIDE_LUA: &str = r#"
-- Sets a key's expiry to `keep` (Unix ms) unless it already lasts longer: an executor with a
-- shorter grace never shortens what another recorded. A key just created has none (-1).
local function extend(key, keep)
  local cur = redis.call('PEXPIRETIME', key)
  if cur == -1 or cur < tonumber(keep) then redis.call('PEXPIREAT', key, keep) end
end
local nrev, nfan, nbud, nrate, nled = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now, ttl, nappr = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local k = 1
for i = 1, nrev do
  if redis.call('EXISTS', KEYS[k]) == 1 then return 'revoked' end
  k = k + 1
end
local nonce = KEYS[k]
k = k + 1
if redis.call('EXISTS', nonce) == 1 then return 'replayed' end
local a = 9
local fan0, bud0 = k, k + nfan
local rate0 = bud0 + nbud
local appr0 = rate0 + nrate
for i = 0, nappr - 1 do
  if redis.call('EXISTS', KEYS[appr0 + i]) == 1 then return 'approval_spent' end
end
for i = 0, nfan - 1 do
  local key, holder, max = KEYS[fan0 + i], ARGV[a + 3 * i], tonumber(ARGV[a + 3 * i + 1])
  if redis.call('SISMEMBER', key, holder) == 0 and redis.call('SCARD', key) >= max then return 'fan_out' end
end
local b = a + 3 * nfan
for i = 0, nbud - 1 do
  local used = tonumber(redis.call('GET', KEYS[bud0 + i]) or '0')
  if used >= tonumber(ARGV[b + 2 * i]) then return 'budget' end
end
local r = b + 2 * nbud
for i = 0, nrate - 1 do
  local key, max, window = KEYS[rate0 + i], tonumber(ARGV[r + 3 * i]), tonumber(ARGV[r + 3 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= max then return 'rate' end
end
redis.call('SET', nonce, '1', 'PX', ttl)
for i = 0, nfan - 1 do
  redis.call('SADD', KEYS[fan0 + i], ARGV[a + 3 * i])
  extend(KEYS[fan0 + i], ARGV[a + 3 * i + 2])
end
for i = 0, nbud - 1 do
  redis.call('INCR', KEYS[bud0 + i])
  extend(KEYS[bud0 + i], ARGV[b + 2 * i + 1])
end
for i = 0, nrate - 1 do
  local key, window, member = KEYS[rate0 + i], tonumber(ARGV[r + 3 * i + 1]), ARGV[r + 3 * i + 2]
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
end
local p = r + 3 * nrate
for i = 0, nappr - 1 do
  redis.call('SET', KEYS[appr0 + i], '1', 'PXAT', ARGV[p + i])
end
if nled == 1 then
  local hop, labels, path, lttl = ledger_args(p + nappr)
  ledger(KEYS[appr0 + nappr], hop, labels, path, lttl)
end
return 'allow'
"#;

/// A ledger record on its own (Redis Cluster: the ledger key lies in another slot).
const RECORD_LUA: &str = r#"
local hop, labels, path, ttl = ledger_args(1)
ledger(KEYS[1], hop, labels, path, ttl)
return 'ok'
"#;

/// A revocation: kept forever (`ARGV[1]` = `forever`) or until a Unix ms time; a later
/// revocation never shortens an earlier one. `PEXPIRETIME` needs Redis 7.
const REVOKE_LUA: &str = r#"
if ARGV[1] == 'forever' then redis.call('SET', KEYS[1], '1') return 'ok' end
local keep = tonumber(ARGV[1])
local cur = redis.call('PEXPIRETIME', KEYS[1])
if cur == -1 then return 'ok' end
if cur > keep then keep = cur end
redis.call('SET', KEYS[1], '1', 'PXAT', keep)
return 'ok'
"#;

/// A checkpoint anchor: `<log id>:<checkpointed>:<hash>`, replaced by a point of another log
/// (a new log with the same key) or one covering more (`AnchorPoint::replaced_by`).
const ANCHOR_LUA: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local id, n = string.match(cur, '^(%x+):(%d+):')
  if id == ARGV[1] and n and tonumber(n) >= tonumber(ARGV[2]) then return 'ok' end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3])
return 'ok'
"#;

/// Where the store connects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisTopology {
    /// One server (with or without replicas behind it), e.g. `redis://127.0.0.1:6379/`.
    Single(String),
    /// A Redis Cluster, given by some of its nodes (the client discovers the rest, follows
    /// `MOVED`/`ASK` redirects and refreshes the slot map after failovers).
    Cluster(Vec<String>),
}

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisStoreConfig {
    /// The server or the cluster.
    pub topology: RedisTopology,
    /// Prefix of every key. Defaults to `agentcap:`. It must not contain `{` or `}`: the store
    /// places its own Redis Cluster hash tags.
    pub prefix: String,
    /// Connections kept open. Defaults to 8.
    pub pool_size: usize,
    /// Connect, read and write timeout. Defaults to 500 ms: past it the call is denied.
    pub timeout: Duration,
    /// Replicas that must hold a decision's records before the call is allowed (`WAIT`).
    /// Defaults to 0 (asynchronous replication: a failover may lose the last records). With
    /// 1 and one replica per master, a failover cannot bring back a spent nonce or budget unit.
    pub replicas: u32,
}

impl RedisStoreConfig {
    /// Defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_topology(RedisTopology::Single(url.into()))
    }

    /// Defaults for the Redis Cluster that these nodes belong to (`redis://host:port/` each).
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        Self::with_topology(RedisTopology::Cluster(
            nodes.into_iter().map(Into::into).collect(),
        ))
    }

    fn with_topology(topology: RedisTopology) -> Self {
        Self {
            topology,
            prefix: "agentcap:".to_owned(),
            pool_size: 8,
            timeout: Duration::from_millis(500),
            replicas: 0,
        }
    }

    /// Uses `prefix` for every key.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Requires `replicas` replicas to acknowledge a decision's records before it is allowed.
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }
}

enum Conn {
    Single(Connection),
    Cluster(Box<ClusterConnection>),
}

impl Conn {
    fn like(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => c.as_mut(),
        }
    }

    /// Sends `cmd` to the master of `key`'s slot.
    fn send_to_master_of(&mut self, key: &str, cmd: &Cmd) -> redis::RedisResult<Value> {
        match self {
            Conn::Single(c) => cmd.query(c),
            Conn::Cluster(c) => c.route_command(
                cmd,
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
                    key,
                    SlotAddr::Master,
                ))),
            ),
        }
    }
}

enum Backend {
    Single(Client),
    Cluster(ClusterClient),
}

/// A script: its text and hash.
struct Lua {
    text: String,
    hash: String,
}

impl Lua {
    fn new(text: String) -> Self {
        let hash = Script::new(&text).get_hash().to_owned();
        Self { text, hash }
    }

    /// `EVALSHA`, falling back to `EVAL` when the node does not know the script (a restart, a
    /// replica just promoted): no `SCRIPT LOAD` to every node, which fails while one is down.
    fn run(&self, con: &mut Conn, keys: &[String], args: &[Vec<u8>]) -> redis::RedisResult<Value> {
        let call = |name: &str, body: &str| {
            let mut cmd = redis::cmd(name);
            cmd.arg(body).arg(keys.len()).arg(keys).arg(args);
            cmd
        };
        match call("EVALSHA", &self.hash).query(con.like()) {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                call("EVAL", &self.text).query(con.like())
            }
            other => other,
        }
    }
}

/// A [`StateStore`] on Redis or Redis Cluster, shared by many executors. Each decision is one
/// Lua script (atomic on the server). Everything it records expires when it can no longer matter
/// (nonces after their TTL, uses with the block that sets them, rate entries with their window,
/// ledger entries after a day); revocations by bare id and agent-key revocations do not.
/// Connections are pooled and re-opened after a failure: while Redis is unreachable every call
/// is denied as state-unavailable, and calls are allowed again once it is back.
///
/// On a single server a decision — revocation checks, nonce, uses and the message-ledger record
/// — is one script. On a cluster, revocations and ledger entries live in other slots than the
/// token tree's: the decision first reads the revocations (`EXISTS`, split by the client per
/// node), then runs the script on the tree's slot, then, if it allowed, writes the ledger
/// record; see `docs/state.md` for what that means for consistency.
pub struct RedisStore {
    backend: Backend,
    config: RedisStoreConfig,
    /// Pooled connections, each with the epoch it was opened in.
    pool: Vec<Mutex<Option<(u64, Conn)>>>,
    next: AtomicUsize,
    /// Bumped on every failure: a connection opened before the last failure is replaced before
    /// its next use (a dropped or restarted server broke it too), so one failure costs one call,
    /// not one per pooled connection.
    epoch: AtomicU64,
    decide: Lua,
    record: Lua,
    revoke: Lua,
    anchor: Lua,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> StateError {
    StateError(e.to_string())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// A store for `config`. Does not connect yet: the first decision does.
    ///
    /// # Errors
    /// [`StateError`] when a URL is malformed, a cluster has no node or the prefix holds a
    /// brace.
    pub fn new(config: RedisStoreConfig) -> Result<Self, StateError> {
        if config.prefix.contains(['{', '}']) {
            return Err(StateError(
                "the key prefix must not contain `{` or `}`: the store places its own hash tags"
                    .to_owned(),
            ));
        }
        let backend = match &config.topology {
            RedisTopology::Single(url) => Backend::Single(Client::open(url.as_str()).map_err(err)?),
            RedisTopology::Cluster(nodes) => {
                if nodes.is_empty() {
                    return Err(StateError("a cluster needs at least one node".to_owned()));
                }
                // Few, short retries: a decision waits at most a few timeouts, then fails closed.
                let client = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                    .connection_timeout(config.timeout)
                    .response_timeout(config.timeout)
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(100)
                    .build()
                    .map_err(err)?;
                Backend::Cluster(client)
            }
        };
        let pool = (0..config.pool_size.max(1))
            .map(|_| Mutex::new(None))
            .collect();
        Ok(Self {
            backend,
            config,
            pool,
            next: AtomicUsize::new(0),
            epoch: AtomicU64::new(0),
            decide: Lua::new(format!("{LEDGER_LUA}{DECIDE_LUA}")),
            record: Lua::new(format!("{LEDGER_LUA}{RECORD_LUA}")),
            revoke: Lua::new(REVOKE_LUA.to_owned()),
            anchor: Lua::new(ANCHOR_LUA.to_owned()),
        })
    }

    fn is_cluster(&self) -> bool {
        matches!(self.backend, Backend::Cluster(_))
    }

    /// A key of the token tree `tree` (hash-tagged by it).
    fn tree_key(&self, tree: &[u8; 16], kind: &str, bytes: &[u8]) -> String {
        format!(
            "{}{{{}}}:{kind}:{}",
            self.config.prefix,
            hex::encode(tree),
            hex::encode(bytes)
        )
    }

    /// A key named by what it holds (it hashes to its own slot).
    fn key(&self, kind: &str, bytes: &[u8]) -> String {
        format!("{}{kind}:{}", self.config.prefix, hex::encode(bytes))
    }

    fn connect(&self) -> Result<Conn, StateError> {
        match &self.backend {
            Backend::Single(client) => {
                let con = client
                    .get_connection_with_timeout(self.config.timeout)
                    .map_err(err)?;
                con.set_read_timeout(Some(self.config.timeout))
                    .map_err(err)?;
                con.set_write_timeout(Some(self.config.timeout))
                    .map_err(err)?;
                Ok(Conn::Single(con))
            }
            Backend::Cluster(client) => {
                let con = client.get_connection().map_err(err)?;
                con.set_read_timeout(Some(self.config.timeout))
                    .map_err(err)?;
                con.set_write_timeout(Some(self.config.timeout))
                    .map_err(err)?;
                Ok(Conn::Cluster(Box::new(con)))
            }
        }
    }

    /// Runs `f` on a pooled connection, opening one if needed and dropping it on error.
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        let slot = self
            .pool
            .get(i)
            .ok_or_else(|| StateError("pool index".to_owned()))?;
        let mut slot = slot
            .lock()
            .map_err(|_| StateError("redis pool slot poisoned".to_owned()))?;
        let epoch = self.epoch.load(Ordering::Acquire);
        if slot.as_ref().is_none_or(|(opened, _)| *opened < epoch) {
            *slot = None;
            match self.connect() {
                Ok(con) => *slot = Some((epoch, con)),
                Err(e) => {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                    return Err(e);
                }
            }
        }
        let (_, con) = slot
            .as_mut()
            .ok_or_else(|| StateError("no connection".to_owned()))?;
        let result = f(con);
        if result.is_err() {
            // The connection may be half-broken: open a fresh one next time, and have every
            // other pooled connection replaced before its next use.
            *slot = None;
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        result
    }

    /// Waits until `self.config.replicas` replicas of `key`'s master hold what was written.
    fn replicated(&self, con: &mut Conn, key: &str) -> Result<(), StateError> {
        let want = self.config.replicas;
        if want == 0 {
            return Ok(());
        }
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(want).arg(ms(self.config.timeout));
        let got: i64 =
            redis::from_redis_value(con.send_to_master_of(key, &cmd).map_err(err)?).map_err(err)?;
        if got < i64::from(want) {
            return Err(StateError(format!(
                "written but acknowledged by {got} of {want} replicas: outcome unknown"
            )));
        }
        Ok(())
    }

    fn revoke_key(&self, key: String, keep_until_ms: Option<i64>) -> Result<(), StateError> {
        let arg = keep_until_ms.map_or_else(|| "forever".to_owned(), |t| t.to_string());
        self.with_connection(|con| {
            self.revoke
                .run(con, std::slice::from_ref(&key), &[arg.into_bytes()])
                .map_err(err)?;
            self.replicated(con, &key)
        })
    }

    fn ledger_args(record: &LedgerRecord, args: &mut Vec<Vec<u8>>) {
        let e = &record.entry;
        args.push(e.hop.to_string().into_bytes());
        args.push(LEDGER_TTL.as_secs().to_string().into_bytes());
        args.push(e.labels.len().to_string().into_bytes());
        args.extend(e.labels.iter().map(|l| l.clone().into_bytes()));
        args.push(e.path.len().to_string().into_bytes());
        args.extend(e.path.iter().map(|p| p.clone().into_bytes()));
    }

    fn record_alone(&self, con: &mut Conn, record: &LedgerRecord) -> Result<(), StateError> {
        let key = self.key("ledger", &record.digest);
        let mut args = Vec::new();
        Self::ledger_args(record, &mut args);
        self.record
            .run(con, std::slice::from_ref(&key), &args)
            .map_err(err)?;
        self.replicated(con, &key)
    }
}

impl Revocations for RedisStore {
    fn revoke_id(&self, revocation_id: &[u8]) -> Result<(), StateError> {
        self.revoke_key(self.key("rev", revocation_id), None)
    }

    fn revoke_id_until(&self, revocation_id: &[u8], keep_until_ms: i64) -> Result<(), StateError> {
        self.revoke_key(self.key("rev", revocation_id), Some(keep_until_ms))
    }

    fn revoke_agent_key(&self, key: &[u8; 32]) -> Result<(), StateError> {
        self.revoke_key(self.key("revk", key), None)
    }
}

impl MessageLedger for RedisStore {
    fn lookup(&self, digest: &[u8; 32], _now_ms: i64) -> Result<Option<LedgerEntry>, StateError> {
        let key = self.key("ledger", digest);
        let raw: Option<String> =
            self.with_connection(|con| redis::cmd("GET").arg(&key).query(con.like()).map_err(err))?;
        raw.map(|json| serde_json::from_str(&json).map_err(err))
            .transpose()
    }

    fn record(
        &self,
        digest: &[u8; 32],
        entry: &LedgerEntry,
        _now_ms: i64,
    ) -> Result<(), StateError> {
        let record = LedgerRecord::new(*digest, entry.clone());
        self.with_connection(|con| self.record_alone(con, &record))
    }
}

impl StateStore for RedisStore {
    fn records_ledger_and_approvals(&self) -> bool {
        true
    }

    fn decide(&self, r: &StateRequest) -> Result<StateVerdict, StateError> {
        let cluster = self.is_cluster();
        let revoked: Vec<String> = r
            .revocation_ids
            .iter()
            .map(|id| self.key("rev", id))
            .chain(r.agent_keys.iter().map(|k| self.key("revk", k)))
            .collect();
        let nonce = self.tree_key(&r.tree, "nonce", &r.nonce);
        let mut keys = Vec::new();
        if !cluster {
            keys.extend(revoked.iter().cloned());
        }
        keys.push(nonce.clone());
        keys.extend(
            r.fan_out
                .iter()
                .map(|f| self.tree_key(&r.tree, "fan", &f.scope)),
        );
        keys.extend(
            r.budgets
                .iter()
                .map(|b| self.tree_key(&r.tree, "bud", &b.scope)),
        );
        keys.extend(
            r.rates
                .iter()
                .map(|w| self.tree_key(&r.tree, "rate", &w.scope)),
        );
        keys.extend(
            r.approvals
                .iter()
                .map(|a| self.tree_key(&r.tree, "appr", &a.scope)),
        );
        let in_script_ledger = r.ledger.as_ref().filter(|_| !cluster);
        if let Some(l) = in_script_ledger {
            keys.push(self.key("ledger", &l.digest));
        }
        let mut args: Vec<Vec<u8>> = Vec::new();
        let mut put = |a: String| args.push(a.into_bytes());
        put(if cluster { 0 } else { revoked.len() }.to_string());
        put(r.fan_out.len().to_string());
        put(r.budgets.len().to_string());
        put(r.rates.len().to_string());
        put(usize::from(in_script_ledger.is_some()).to_string());
        put(r.now_ms.to_string());
        put(ms(r.nonce_ttl).to_string());
        put(r.approvals.len().to_string());
        for f in &r.fan_out {
            put(hex::encode(f.holder));
            put(f.max.to_string());
            put(f.keep_until_ms.to_string());
        }
        for b in &r.budgets {
            put(b.max.to_string());
            put(b.keep_until_ms.to_string());
        }
        for w in &r.rates {
            // The member must be unique per call: the nonce digest is.
            put(w.max.to_string());
            put(ms(w.window).to_string());
            put(hex::encode(r.nonce));
        }
        for a in &r.approvals {
            put(a.keep_until_ms.to_string());
        }
        if let Some(l) = in_script_ledger {
            Self::ledger_args(l, &mut args);
        }

        self.with_connection(|con| {
            if cluster {
                // Revocations first (one EXISTS, split by the client per node): a revocation
                // that returned before this read is seen.
                if !revoked.is_empty() {
                    let found: i64 = redis::cmd("EXISTS")
                        .arg(&revoked)
                        .query(con.like())
                        .map_err(err)?;
                    if found > 0 {
                        return Ok(StateVerdict::Revoked);
                    }
                }
            }
            let value = self.decide.run(con, &keys, &args).map_err(err)?;
            let verdict: String = redis::from_redis_value(value).map_err(err)?;
            let verdict = match verdict.as_str() {
                "allow" => StateVerdict::Allow,
                "revoked" => StateVerdict::Revoked,
                "replayed" => StateVerdict::Replayed,
                "fan_out" => StateVerdict::FanOutExceeded,
                "budget" => StateVerdict::BudgetExhausted,
                "rate" => StateVerdict::RateLimited,
                "approval_spent" => StateVerdict::ApprovalSpent,
                other => return Err(StateError(format!("unexpected script reply `{other}`"))),
            };
            if verdict == StateVerdict::Allow {
                self.replicated(con, &nonce)?;
                // On a cluster the message's key lies in another slot: recorded once the call
                // is, so only allowed calls write the ledger. If this fails the call is denied
                // with its nonce and uses spent (an unknown outcome, as after a timeout).
                if cluster {
                    if let Some(l) = &r.ledger {
                        self.record_alone(con, l).map_err(|e| {
                            StateError(format!("call recorded, its message not: {}", e.0))
                        })?;
                    }
                }
            }
            Ok(verdict)
        })
    }
}

impl CheckpointAnchor for RedisStore {
    fn anchor(&self, log: &LogPublicKey, point: &AnchorPoint) -> Result<(), String> {
        let key = self.key("anchor", log.to_string().as_bytes());
        let args = [
            hex::encode(point.log_id).into_bytes(),
            point.checkpointed.to_string().into_bytes(),
            hex::encode(point.hash).into_bytes(),
        ];
        self.with_connection(|con| {
            self.anchor
                .run(con, std::slice::from_ref(&key), &args)
                .map_err(err)?;
            self.replicated(con, &key)
        })
        .map_err(|e| e.0)
    }

    fn anchored(&self, log: &LogPublicKey) -> Result<Option<AnchorPoint>, String> {
        let key = self.key("anchor", log.to_string().as_bytes());
        let value: Option<String> = self
            .with_connection(|con| redis::cmd("GET").arg(&key).query(con.like()).map_err(err))
            .map_err(|e| e.0)?;
        let Some(value) = value else { return Ok(None) };
        // `<log id hex>:<checkpointed>:<hash hex>`, as ANCHOR_LUA writes it.
        let bad = || format!("anchor `{key}` holds `{value}`, not a checkpoint point");
        let mut parts = value.split(':');
        let hash32 =
            |s: Option<&str>| -> Option<[u8; 32]> { hex::decode(s?).ok()?.try_into().ok() };
        let log_id = hash32(parts.next()).ok_or_else(bad)?;
        let checkpointed = parts.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        let hash = hash32(parts.next()).ok_or_else(bad)?;
        Ok(Some(AnchorPoint::new(log_id, checkpointed, hash)))
    }
}
