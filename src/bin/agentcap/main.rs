//! `agentcap`: the operator's command line — keys, issue, inspect, attenuate, delegate, sign a
//! call, verify, revoke, and audit log verification and tracing.
//!
//! Exit codes: 0 ok (for `verify`: allowed), 1 denied or failed verification, 2 usage or input
//! error. Secrets are read from files (or `-` for stdin), never from arguments. With `--json`,
//! stdout holds one JSON object per run (documented field names), and an input error is
//! `{"error": "..."}` on stderr.

mod files;
mod inspect;
#[cfg(feature = "mcp-proxy")]
mod proxy;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agentcap::audit::{self, LogPublicKey};
use agentcap::state::{MemoryStore, Revocations, StateStore};
use agentcap::{
    AgentKey, AgentPublicKey, AuthorityId, AuthorityKey, CallProof, ExecutorId, FixedClock, Label,
    RootPublicKey, Token, ToolCall, TrustedRoots, Verifier,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use files::{
    parse_cause, parse_structured, read_agent_key, read_authority_key, read_input, GrantFile,
    NarrowingFile, RevocationFile,
};

/// A failure with its exit code: 1 denied / verification failed, 2 usage or input error.
pub(crate) struct Fail {
    code: u8,
    message: String,
    /// The `--json` form of a denial or failed verification (exit 1).
    json: Option<Value>,
}

/// What a command prints: text for people, and a JSON object for `--json`.
struct Out {
    text: String,
    json: Value,
}

impl Out {
    fn new(text: impl Into<String>, json: Value) -> Self {
        Self {
            text: text.into(),
            json,
        }
    }
}

impl Fail {
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
            json: None,
        }
    }

    fn denied(message: impl Into<String>, json: Value) -> Self {
        Self {
            code: 1,
            message: message.into(),
            json: Some(json),
        }
    }
}

#[derive(Parser)]
#[command(
    name = "agentcap",
    version,
    about = "Capability tokens for AI agents and the tools they call"
)]
struct Cli {
    /// Print one JSON object instead of text (stable field names: docs/cli.md, "JSON output").
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyKind {
    /// A root key that signs tokens (has a key id).
    Authority,
    /// An agent's key that holds tokens and signs calls.
    Agent,
    /// An audit log's signing key.
    Log,
}

#[derive(Args)]
struct TokenArgs {
    /// The token text: a file, or `-` for stdin.
    #[arg(long)]
    token: String,
    /// A trusted root public key (`<key id>:ed25519/<hex>`); repeat for several.
    #[arg(long = "root", required = true)]
    roots: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a key; the secret goes to a new file (mode 0600), the public key to stdout.
    Keygen {
        /// Which kind of key.
        #[arg(long, value_enum)]
        kind: KeyKind,
        /// The key id written into tokens (authority keys).
        #[arg(long, default_value_t = 1)]
        key_id: u32,
        /// The secret key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue a token from a grant file (TOML or JSON); prints the token.
    Issue {
        /// The authority key file.
        #[arg(long)]
        key: String,
        /// The authority's id.
        #[arg(long)]
        authority_id: String,
        /// The grant file.
        #[arg(long)]
        grant: String,
        /// The holder's public key (`ed25519/<hex>`), when the grant file names none.
        #[arg(long)]
        holder: Option<String>,
    },
    /// Show what a token allows, block by block.
    Inspect {
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Append an anonymous narrowing block (narrowing file, TOML or JSON); prints the token.
    Attenuate {
        #[command(flatten)]
        token: TokenArgs,
        /// The narrowing file (TOML or JSON).
        #[arg(long)]
        narrowing: String,
    },
    /// Delegate to another agent with a block signed by the current holder; prints the token.
    Delegate {
        #[command(flatten)]
        token: TokenArgs,
        /// The current holder's agent key file.
        #[arg(long)]
        key: String,
        /// The next holder's public key.
        #[arg(long)]
        to: String,
        /// The next holder's agent id (UUID).
        #[arg(long)]
        to_agent: String,
        /// The cause: 64 hex digits, or `file:PATH` for the digest of a message file.
        #[arg(long)]
        cause: String,
        /// An optional narrowing file.
        #[arg(long)]
        narrowing: Option<String>,
    },
    /// Sign a call (tool + JSON arguments) with the holder key; prints the proof.
    SignCall {
        #[command(flatten)]
        call: CallArgs,
        /// The token text file (or `-`).
        #[arg(long)]
        token: String,
        /// A trusted root public key (`<key id>:ed25519/<hex>`); repeat for several.
        #[arg(long = "root", required = true)]
        roots: Vec<String>,
        /// The holder's agent key file.
        #[arg(long)]
        key: String,
        /// Sign as of this time (RFC 3339) instead of now.
        #[arg(long)]
        now: Option<String>,
    },
    /// Verify a token, proof and call; prints allowed or denied with the operator reason.
    Verify {
        #[command(flatten)]
        token: TokenArgs,
        #[command(flatten)]
        call: CallArgs,
        /// The proof text (a file, or `-`).
        #[arg(long)]
        proof: String,
        /// Tools this executor guards (defaults to the called tool).
        #[arg(long = "guard")]
        guard: Vec<String>,
        /// A revocation file store to consult.
        #[arg(long, conflicts_with = "redis")]
        state: Option<String>,
        /// A Redis URL whose revocations to consult (needs the `redis` feature); nothing is
        /// counted there (replay, budgets and rates are judged afresh, as with --state).
        #[arg(long)]
        redis: Option<String>,
        /// Verify as of this time (RFC 3339) instead of now.
        #[arg(long)]
        now: Option<String>,
    },
    /// Revoke a block (and every token derived from it) or an agent key.
    Revoke {
        /// A block revocation id (hex), as `inspect` prints.
        #[arg(
            long,
            conflicts_with = "agent_key",
            required_unless_present = "agent_key"
        )]
        id: Option<String>,
        /// An agent public key.
        #[arg(long)]
        agent_key: Option<String>,
        /// The revocation file store.
        #[arg(long, required_unless_present = "redis", conflicts_with = "redis")]
        state: Option<String>,
        /// A Redis URL (needs the `redis` feature).
        #[arg(long)]
        redis: Option<String>,
    },
    /// Audit log operations.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Guard an MCP server you did not write: every `tools/call` is verified before it is
    /// forwarded (needs the `mcp-proxy` feature). Speaks MCP on stdio, or on Streamable HTTP
    /// with --listen; reaches the server as a child (`-- command args…`) or at --upstream.
    #[cfg(feature = "mcp-proxy")]
    McpProxy {
        /// The executor config (TOML or JSON): docs/mcp.md, "Guard a server you did not write".
        #[arg(long)]
        config: String,
        /// Serve Streamable HTTP on this address (e.g. 127.0.0.1:8931) instead of stdio.
        #[arg(long)]
        listen: Option<String>,
        /// The URL of an upstream Streamable HTTP server (instead of a child command).
        #[arg(long, conflicts_with = "server", required_unless_present = "server")]
        upstream: Option<String>,
        /// The server to start as a child over stdio, after `--`.
        #[arg(last = true, value_name = "COMMAND")]
        server: Vec<String>,
    },
}

#[derive(Args)]
struct CallArgs {
    /// The executor id (audience).
    #[arg(long)]
    executor: String,
    /// The tool.
    #[arg(long)]
    tool: String,
    /// The arguments, a JSON object.
    #[arg(long)]
    args: String,
    /// Data labels of the call (comma-separated).
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// The call's cause (64 hex digits or `file:PATH`).
    #[arg(long)]
    cause: Option<String>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify a log's chain and checkpoints.
    Verify {
        /// The audit log file.
        #[arg(long)]
        log: PathBuf,
        /// The log's public key (`ed25519/<hex>`).
        #[arg(long)]
        key: String,
        /// The `checkpointed` count of an earlier verification (detects a truncation past it).
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
    /// Trace a decision back to its origin.
    Trace {
        /// The audit log file.
        #[arg(long)]
        log: PathBuf,
        /// The decision's record id.
        #[arg(long)]
        event: String,
    },
}

fn roots(list: &[String]) -> Result<TrustedRoots, Fail> {
    let mut roots = TrustedRoots::new();
    for r in list {
        roots.insert(
            r.parse::<RootPublicKey>()
                .map_err(|e| Fail::input(format!("--root: {e}")))?,
        );
    }
    Ok(roots)
}

fn token(t: &TokenArgs) -> Result<(Token, String), Fail> {
    let text = read_input(&t.token)?.trim().to_owned();
    let token =
        Token::from_base64(&text, &roots(&t.roots)?).map_err(|e| Fail::input(e.to_string()))?;
    Ok((token, text))
}

fn time_arg(now: &Option<String>) -> Result<OffsetDateTime, Fail> {
    match now {
        Some(t) => {
            OffsetDateTime::parse(t, &Rfc3339).map_err(|e| Fail::input(format!("--now: {e}")))
        }
        None => Ok(OffsetDateTime::now_utc()),
    }
}

fn tool_call(c: &CallArgs) -> Result<ToolCall, Fail> {
    let mut call = ToolCall::from_json_text(&c.tool, &c.args)
        .map_err(|e| Fail::input(format!("--args: {e}")))?;
    if !c.labels.is_empty() {
        let labels = c
            .labels
            .iter()
            .map(|l| Label::new(l.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Fail::input(e.to_string()))?;
        call = call.with_labels(labels);
    }
    if let Some(cause) = &c.cause {
        call = call.with_cause(parse_cause(cause)?);
    }
    Ok(call)
}

fn executor(c: &CallArgs) -> Result<ExecutorId, Fail> {
    ExecutorId::new(c.executor.as_str()).map_err(|e| Fail::input(e.to_string()))
}

/// Revocations from a file store into a fresh in-memory store.
fn load_revocations(store: &MemoryStore, path: &str) -> Result<(), Fail> {
    let revoked = RevocationFile::load(path)?;
    for id in &revoked.revocation_ids {
        let bytes = hex::decode(id)
            .map_err(|_| Fail::input(format!("`{path}`: bad revocation id `{id}`")))?;
        store
            .revoke_id(&bytes)
            .map_err(|e| Fail::input(e.to_string()))?;
    }
    for k in &revoked.agent_keys {
        let key: AgentPublicKey = k
            .parse()
            .map_err(|e| Fail::input(format!("`{path}`: {e}")))?;
        store
            .revoke_agent_key(&key.to_bytes())
            .map_err(|e| Fail::input(e.to_string()))?;
    }
    Ok(())
}

fn token_out(token: &Token) -> Result<Out, Fail> {
    let text = token.to_base64().map_err(|e| Fail::input(e.to_string()))?;
    let json = json!({
        "token": text,
        "token_id": token.id().to_string(),
        "blocks": token.block_count(),
    });
    Ok(Out::new(text, json))
}

fn run(cli: Cli) -> Result<Out, Fail> {
    match cli.command {
        Command::Keygen { kind, key_id, out } => {
            let (public, kind, key_id) = match kind {
                KeyKind::Agent => {
                    let key = AgentKey::generate();
                    files::write_secret(&out, "agent", None, &key.to_bytes())?;
                    (key.public().to_string(), "agent", None)
                }
                KeyKind::Log => {
                    let key = audit::LogKey::generate();
                    files::write_secret(&out, "log", None, &key.to_bytes())?;
                    (key.public().to_string(), "log", None)
                }
                KeyKind::Authority => {
                    let key = AuthorityKey::generate(key_id);
                    files::write_secret(&out, "authority", Some(key_id), &key.to_bytes())?;
                    (key.public().to_string(), "authority", Some(key_id))
                }
            };
            let json = json!({
                "kind": kind,
                "key_id": key_id,
                "public_key": public,
                "secret_file": out.display().to_string(),
            });
            Ok(Out::new(public, json))
        }
        Command::Issue {
            key,
            authority_id,
            grant,
            holder,
        } => {
            let key = read_authority_key(&key)?;
            let id = AuthorityId::new(authority_id).map_err(|e| Fail::input(e.to_string()))?;
            let grant = parse_structured::<GrantFile>(&grant)?
                .into_grant(OffsetDateTime::now_utc(), holder.as_deref())?;
            let token = agentcap::Authority::new(id, key)
                .issue(&grant)
                .map_err(|e| Fail::input(e.to_string()))?;
            token_out(&token)
        }
        Command::Inspect { token: t } => {
            let (token, _) = token(&t)?;
            let text = inspect::render(&token, false)?;
            let json = serde_json::from_str(&inspect::render(&token, true)?)
                .map_err(|e| Fail::input(e.to_string()))?;
            Ok(Out::new(text, json))
        }
        Command::Attenuate {
            token: t,
            narrowing,
        } => {
            let (token, _) = token(&t)?;
            let n = parse_structured::<NarrowingFile>(&narrowing)?
                .into_narrowing(OffsetDateTime::now_utc())?;
            let out = token
                .attenuate(&n)
                .map_err(|e| Fail::input(e.to_string()))?;
            token_out(&out)
        }
        Command::Delegate {
            token: t,
            key,
            to,
            to_agent,
            cause,
            narrowing,
        } => {
            let (token, _) = token(&t)?;
            let key = read_agent_key(&key)?;
            let to: AgentPublicKey = to.parse().map_err(|e| Fail::input(format!("--to: {e}")))?;
            let to_agent = to_agent
                .parse()
                .map_err(|e| Fail::input(format!("--to-agent: {e}")))?;
            let n = match narrowing {
                Some(path) => parse_structured::<NarrowingFile>(&path)?
                    .into_narrowing(OffsetDateTime::now_utc())?,
                None => agentcap::Narrowing::new(),
            };
            let out = token
                .delegate(&key, to, to_agent, parse_cause(&cause)?, &n)
                .map_err(|e| Fail::input(e.to_string()))?;
            token_out(&out)
        }
        Command::SignCall {
            call,
            token: t,
            roots: r,
            key,
            now,
        } => {
            let (token, _) = token(&TokenArgs { token: t, roots: r })?;
            let key = read_agent_key(&key)?;
            let c = tool_call(&call)?;
            let proof = CallProof::sign(&key, &token, &executor(&call)?, &c, time_arg(&now)?)
                .map_err(|e| Fail::input(e.to_string()))?;
            let text = proof.to_base64();
            let json = json!({
                "proof": text,
                "call_digest": c.digest().map_err(|e| Fail::input(e.to_string()))?.to_string(),
                "issued_at": proof.issued_at(),
            });
            Ok(Out::new(text, json))
        }
        Command::Verify {
            token: t,
            call,
            proof,
            guard,
            state,
            redis,
            now,
        } => {
            let text = read_input(&t.token)?.trim().to_owned();
            let proof = CallProof::from_base64(read_input(&proof)?.trim())
                .map_err(|e| Fail::input(format!("--proof: {e}")))?;
            let c = tool_call(&call)?;
            let store: Arc<dyn StateStore> = match (&state, &redis) {
                (_, Some(url)) => redis_revocations(url)?,
                (Some(path), None) => {
                    let store = MemoryStore::new();
                    load_revocations(&store, path)?;
                    Arc::new(store)
                }
                (None, None) => Arc::new(MemoryStore::new()),
            };
            let guard = if guard.is_empty() {
                vec![call.tool.clone()]
            } else {
                guard
            };
            let verifier = Verifier::builder(executor(&call)?, roots(&t.roots)?, guard)
                .clock(Arc::new(FixedClock(time_arg(&now)?)))
                .state(store)
                .build()
                .map_err(|e| Fail::input(e.to_string()))?;
            match verifier.verify(&text, &c, &proof) {
                Ok(a) => Ok(Out::new(
                    format!(
                        "allowed: agent {} via {} hop(s)",
                        a.agent(),
                        a.chain().hops.len()
                    ),
                    json!({
                        "decision": "allowed",
                        "agent": a.agent().to_string(),
                        "hops": a.chain().hops.len(),
                        "root_key_id": a.chain().root_key_id,
                        "issuer": a.chain().issuer.to_string(),
                    }),
                )),
                Err(d) => Err(Fail::denied(
                    format!("denied: {}", d.operator_reason()),
                    json!({
                        "decision": "denied",
                        "class": d.class().code(),
                        "reason": d.operator_reason(),
                        "message": d.operator_reason().to_string(),
                    }),
                )),
            }
        }
        Command::Revoke {
            id,
            agent_key,
            state,
            redis,
        } => revoke(id, agent_key, state, redis),
        Command::Audit { command } => match command {
            AuditCommand::Verify { log, key, since } => {
                let key: LogPublicKey = key
                    .parse()
                    .map_err(|e: agentcap::Error| Fail::input(format!("--key: {e}")))?;
                match audit::verify_file_since(&log, &key, since) {
                    Ok(report) => Ok(Out::new(
                        format!("ok: {report}"),
                        json!({
                            "ok": true,
                            "records": report.records,
                            "checkpointed": report.checkpointed,
                            "closed": report.closed,
                            "torn_tail": report.torn_tail,
                        }),
                    )),
                    // An unreadable file is an input error (2); a log that fails is a failure (1).
                    Err(e @ audit::LogFailure::Io(_)) => Err(Fail::input(e.to_string())),
                    Err(e) => Err(Fail::denied(
                        format!("failed: {e}"),
                        json!({"ok": false, "failure": e.to_string()}),
                    )),
                }
            }
            AuditCommand::Trace { log, event } => {
                let trace = audit::trace(&log, &event).map_err(|e| Fail::input(e.to_string()))?;
                Ok(Out::new(
                    inspect::render_trace(&trace),
                    inspect::trace_json(&trace),
                ))
            }
        },
        #[cfg(feature = "mcp-proxy")]
        Command::McpProxy { .. } => Err(Fail::input("mcp-proxy runs from main")),
    }
}

fn revoke(
    id: Option<String>,
    agent_key: Option<String>,
    state: Option<String>,
    redis: Option<String>,
) -> Result<Out, Fail> {
    let (id_bytes, key) = match (&id, &agent_key) {
        (Some(id), None) => (
            Some(hex::decode(id).map_err(|_| Fail::input(format!("--id: `{id}` is not hex")))?),
            None,
        ),
        (None, Some(k)) => (
            None,
            Some(
                k.parse::<AgentPublicKey>()
                    .map_err(|e| Fail::input(format!("--agent-key: {e}")))?,
            ),
        ),
        _ => return Err(Fail::input("give exactly one of --id and --agent-key")),
    };
    let what = json!({
        "revocation_id": id_bytes.as_ref().map(hex::encode),
        "agent_key": key.map(|k| k.to_string()),
    });
    if let Some(url) = redis {
        let store = redis_store(&url)?;
        if let Some(id) = &id_bytes {
            store
                .revoke_id(id)
                .map_err(|e| Fail::input(e.to_string()))?;
        }
        if let Some(k) = key {
            store
                .revoke_agent_key(&k.to_bytes())
                .map_err(|e| Fail::input(e.to_string()))?;
        }
        return Ok(Out::new(
            "revoked in redis",
            json!({"revoked": what, "store": "redis"}),
        ));
    }
    let path = state.ok_or_else(|| Fail::input("give --state or --redis"))?;
    let mut file = RevocationFile::load(&path)?;
    if let Some(bytes) = id_bytes {
        file.revocation_ids.push(hex::encode(bytes));
    }
    if let Some(k) = key {
        file.agent_keys.push(k.to_string());
    }
    file.save(&path)?;
    Ok(Out::new(
        format!("revoked in `{path}`"),
        json!({"revoked": what, "store": "file", "path": path}),
    ))
}

#[cfg(feature = "redis")]
fn redis_store(url: &str) -> Result<Arc<agentcap::state::RedisStore>, Fail> {
    use agentcap::state::{RedisStore, RedisStoreConfig};
    let store = RedisStore::new(RedisStoreConfig::new(url))
        .map_err(|e| Fail::input(format!("--redis: {e}")))?;
    Ok(Arc::new(store))
}

/// `verify --redis`: the shared store's revocations, and nothing else counted. The Redis side
/// sees each decision with no budget, rate or fan-out use and a throwaway nonce (so it answers
/// only "revoked?" and records nothing but that nonce, which expires within minutes); replay,
/// budgets, rates and fan-out are judged by a fresh in-memory store, as with `--state`.
#[cfg(feature = "redis")]
struct RedisRevocations {
    redis: Arc<agentcap::state::RedisStore>,
    local: MemoryStore,
}

#[cfg(feature = "redis")]
mod redis_check {
    use agentcap::state::{
        LedgerEntry, MessageLedger, Revocations, StateError, StateRequest, StateStore, StateVerdict,
    };

    use super::RedisRevocations;

    impl Revocations for RedisRevocations {
        fn revoke_id(&self, id: &[u8]) -> Result<(), StateError> {
            self.local.revoke_id(id)
        }
        fn revoke_agent_key(&self, key: &[u8; 32]) -> Result<(), StateError> {
            self.local.revoke_agent_key(key)
        }
    }

    impl MessageLedger for RedisRevocations {
        fn lookup(&self, d: &[u8; 32], now_ms: i64) -> Result<Option<LedgerEntry>, StateError> {
            self.local.lookup(d, now_ms)
        }
        fn record(&self, d: &[u8; 32], e: &LedgerEntry, now_ms: i64) -> Result<(), StateError> {
            self.local.record(d, e, now_ms)
        }
    }

    impl StateStore for RedisRevocations {
        // The whole request goes to the local store, which records both.
        fn records_ledger_and_approvals(&self) -> bool {
            true
        }

        fn decide(&self, request: &StateRequest) -> Result<StateVerdict, StateError> {
            let mut probe = request.clone();
            probe.nonce = *uuid::Uuid::new_v4()
                .as_bytes()
                .repeat(2)
                .first_chunk()
                .unwrap_or(&[0; 32]);
            probe.budgets.clear();
            probe.rates.clear();
            probe.fan_out.clear();
            // The message ledger is judged locally too: the probe records no message in Redis.
            probe.ledger = None;
            probe.approvals.clear();
            match self.redis.decide(&probe)? {
                StateVerdict::Revoked => Ok(StateVerdict::Revoked),
                _ => self.local.decide(request),
            }
        }
    }
}

#[cfg(feature = "redis")]
fn redis_revocations(url: &str) -> Result<Arc<dyn StateStore>, Fail> {
    Ok(Arc::new(RedisRevocations {
        redis: redis_store(url)?,
        local: MemoryStore::new(),
    }))
}

#[cfg(not(feature = "redis"))]
fn redis_revocations(_: &str) -> Result<Arc<dyn StateStore>, Fail> {
    Err(Fail::input(
        "this build has no Redis support (build with --features redis)",
    ))
}

#[cfg(not(feature = "redis"))]
fn redis_store(_: &str) -> Result<Arc<dyn StateStore>, Fail> {
    Err(Fail::input(
        "this build has no Redis support (build with --features redis)",
    ))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let as_json = cli.json;
    #[cfg(feature = "mcp-proxy")]
    if let Command::McpProxy {
        config,
        listen,
        upstream,
        server,
    } = &cli.command
    {
        // stdout carries MCP: only errors are printed, to stderr.
        let target = match upstream {
            Some(url) => proxy::Target::Http(url.clone()),
            None => proxy::Target::Child(server.clone()),
        };
        return match proxy::run(config, listen.as_deref(), target) {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => {
                eprintln!("agentcap mcp-proxy: {}", f.message);
                ExitCode::from(f.code)
            }
        };
    }
    match run(cli) {
        Ok(out) if as_json => {
            println!("{}", out.json);
            ExitCode::SUCCESS
        }
        Ok(out) => {
            println!("{}", out.text);
            ExitCode::SUCCESS
        }
        Err(f) => {
            match (f.code, as_json, &f.json) {
                (1, true, Some(json)) => println!("{json}"),
                (1, _, _) => println!("{}", f.message),
                (_, true, _) => eprintln!("{}", json!({ "error": f.message })),
                _ => eprintln!("agentcap: {}", f.message),
            }
            ExitCode::from(f.code)
        }
    }
}
