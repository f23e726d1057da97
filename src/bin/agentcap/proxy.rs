//! `agentcap mcp-proxy`: the executor config file and the proxy's process (feature
//! `mcp-proxy`). Nothing but MCP goes to stdout in stdio mode; errors go to stderr.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentcap::audit::{AuditConfig, AuditLog, LogKey};
use agentcap::mcp::proxy::{
    self, GateLimits, McpProxy, Opened, ProxyPolicy, Upstream, MAX_MESSAGE_BYTES,
};
use agentcap::mcp::McpGuard;
use agentcap::state::{MemoryStore, StateStore};
use agentcap::{
    AgentPublicKey, ApproverRegistry, ExecutorId, RootPublicKey, StaticTiers, TrustedRoots,
    Verifier,
};
use serde::Deserialize;

use crate::files::{parse_structured, read_log_key};
use crate::Fail;

/// The executor config of `agentcap mcp-proxy` (TOML or JSON); docs/mcp.md §9.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProxyFile {
    /// The executor id proofs must name.
    executor: String,
    /// Trusted root keys, `<key id>:ed25519/<hex>`.
    roots: Vec<String>,
    /// The guarded tools; `["*"]` for every tool the server lists at start-up.
    tools: Vec<String>,
    /// Show only the guarded tools in `tools/list`.
    #[serde(default)]
    list_only_guarded: bool,
    /// Families opened without a token: `resources`, `prompts`, `completion`.
    #[serde(default)]
    open: Vec<String>,
    /// `memory` (default) or a Redis URL.
    #[serde(default = "memory")]
    state: String,
    /// The longest message accepted from a client, in bytes (default 4 MiB).
    #[serde(default)]
    max_message_bytes: Option<usize>,
    /// The audit log.
    #[serde(default)]
    audit: Option<AuditFile>,
    /// Approver keys and their principals.
    #[serde(default)]
    approvers: Vec<ApproverFile>,
    /// Trust tiers of agent keys.
    #[serde(default)]
    tiers: Vec<TierFile>,
}

fn memory() -> String {
    "memory".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    /// The log file (created if absent, else reopened to append).
    log: PathBuf,
    /// The log's key file (`agentcap keygen --kind log`).
    key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproverFile {
    key: String,
    principal: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierFile {
    key: String,
    tier: u32,
}

/// Where the proxy reaches the server it guards.
pub(crate) enum Target {
    Child(Vec<String>),
    Http(String),
}

/// A path in the config, relative to the config file's folder.
fn beside(config: &Path, path: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

fn input(e: impl std::fmt::Display) -> Fail {
    Fail::input(e.to_string())
}

impl ProxyFile {
    fn policy(&self) -> Result<ProxyPolicy, Fail> {
        let open = self
            .open
            .iter()
            .map(|o| {
                o.parse::<Opened>()
                    .map_err(|e| Fail::input(format!("open: {e}")))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(ProxyPolicy {
            list_only_guarded: self.list_only_guarded,
            open,
        })
    }

    fn state(&self) -> Result<Arc<dyn StateStore>, Fail> {
        if self.state == "memory" {
            return Ok(Arc::new(MemoryStore::new()));
        }
        if self.state.starts_with("redis://") || self.state.starts_with("rediss://") {
            let store = agentcap::state::RedisStore::new(agentcap::state::RedisStoreConfig::new(
                self.state.clone(),
            ))
            .map_err(|e| Fail::input(format!("state: {e}")))?;
            return Ok(Arc::new(store));
        }
        // Not echoed: a URL may hold a password.
        Err(Fail::input(
            "state: neither `memory` nor a redis:// (or rediss://) URL",
        ))
    }

    /// Everything the verifier needs but the tool list, checked before the server starts.
    fn prepare(&self, config: &Path) -> Result<Prepared, Fail> {
        let executor = ExecutorId::new(self.executor.as_str())
            .map_err(|e| Fail::input(format!("executor: {e}")))?;
        let mut roots = TrustedRoots::new();
        for r in &self.roots {
            roots.insert(
                r.parse::<RootPublicKey>()
                    .map_err(|e| Fail::input(format!("roots: {e}")))?,
            );
        }
        if roots.is_empty() {
            return Err(Fail::input(
                "roots: at least one trusted root key is needed",
            ));
        }
        if self
            .max_message_bytes
            .is_some_and(|n| n == 0 || n > MAX_MESSAGE_BYTES)
        {
            return Err(Fail::input(format!(
                "max_message_bytes: between 1 and {MAX_MESSAGE_BYTES}"
            )));
        }
        if self.tools.is_empty() {
            return Err(Fail::input("tools: name the guarded tools, or [\"*\"]"));
        }
        let mut approvers = None;
        if !self.approvers.is_empty() {
            let mut registry = ApproverRegistry::new();
            for a in &self.approvers {
                let key: AgentPublicKey = a
                    .key
                    .parse()
                    .map_err(|e| Fail::input(format!("approvers: {e}")))?;
                registry = registry.with(key, a.principal.clone());
            }
            approvers = Some(registry);
        }
        let mut tiers = None;
        if !self.tiers.is_empty() {
            let mut static_tiers = StaticTiers::new();
            for t in &self.tiers {
                let key: AgentPublicKey = t
                    .key
                    .parse()
                    .map_err(|e| Fail::input(format!("tiers: {e}")))?;
                static_tiers = static_tiers.with(key, t.tier);
            }
            tiers = Some(static_tiers);
        }
        let state = self.state()?;
        let mut audit = None;
        if let Some(file) = &self.audit {
            let path = beside(config, &file.log);
            let key_path = beside(config, &file.key);
            let key: LogKey = read_log_key(&key_path.display().to_string())?;
            let log = if path.exists() {
                AuditLog::open(&path, key, AuditConfig::default())
            } else {
                AuditLog::create(&path, key, AuditConfig::default())
            }
            .map_err(|e| Fail::input(format!("audit: {e}")))?;
            audit = Some(Arc::new(log));
        }
        Ok(Prepared {
            executor,
            roots,
            approvers,
            tiers,
            state,
            audit,
        })
    }
}

/// A checked config, waiting for the tool list.
struct Prepared {
    executor: ExecutorId,
    roots: TrustedRoots,
    approvers: Option<ApproverRegistry>,
    tiers: Option<StaticTiers>,
    state: Arc<dyn StateStore>,
    audit: Option<Arc<AuditLog>>,
}

impl Prepared {
    /// The verifier, guarding `tools` (the config's list, or every tool the server listed).
    fn verifier(&self, tools: &BTreeSet<String>) -> Result<Verifier, Fail> {
        let mut builder = Verifier::builder(
            self.executor.clone(),
            self.roots.clone(),
            tools.iter().map(String::as_str),
        )
        .state(self.state.clone());
        if let Some(registry) = &self.approvers {
            builder = builder.approvers(registry.clone());
        }
        if let Some(tiers) = &self.tiers {
            builder = builder.tiers(Arc::new(tiers.clone()));
        }
        if let Some(log) = &self.audit {
            builder = builder.audit(log.clone());
        }
        builder.build().map_err(input)
    }
}

/// SIGINT or SIGTERM: the proxy stops, and closes its audit log with a checkpoint.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn connect(target: &Target) -> Result<Upstream, Fail> {
    match target {
        Target::Child(argv) => {
            let (program, args) = argv
                .split_first()
                .ok_or_else(|| Fail::input("no server command after `--`"))?;
            let mut command = tokio::process::Command::new(program);
            command.args(args);
            proxy::connect_child(command)
                .await
                .map_err(|e| Fail::input(format!("cannot start `{program}`: {e}")))
        }
        Target::Http(url) => proxy::connect_http(url)
            .await
            .map_err(|e| Fail::input(format!("cannot reach `{url}`: {e}"))),
    }
}

/// Runs the proxy until the client goes away (stdio), or forever (HTTP), or until the upstream
/// server exits (an error).
pub(crate) fn run(config: &str, listen: Option<&str>, target: Target) -> Result<(), Fail> {
    let file: ProxyFile = parse_structured(config)?;
    let policy = file.policy()?;
    let prepared = file.prepare(Path::new(config))?;
    let limits = GateLimits {
        max_message_bytes: file
            .max_message_bytes
            .unwrap_or(GateLimits::default().max_message_bytes),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(input)?;
    let result = runtime.block_on(async move {
        let upstream = connect(&target).await?;
        let tools: BTreeSet<String> = if file.tools == ["*"] {
            upstream
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| Fail::input(format!("cannot list the server's tools: {e}")))?
                .into_iter()
                .map(|t| t.name.to_string())
                .collect()
        } else {
            file.tools.iter().cloned().collect()
        };
        let verifier = prepared.verifier(&tools)?;
        let audit_log = prepared.audit.clone();
        let proxy = McpProxy::new(McpGuard::new(Arc::new(verifier)), &upstream, tools, policy);
        let upstream_gone = async move {
            let _ = upstream.waiting().await;
        };
        let serving = async {
            match listen {
                None => proxy::serve_stdio(proxy, tokio::io::stdin(), tokio::io::stdout(), limits)
                    .await
                    .map_err(input),
                Some(addr) => {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| Fail::input(format!("--listen {addr}: {e}")))?;
                    // One write: the server's own stderr shares the stream, and a line
                    // written in pieces could be split by it.
                    let line = format!(
                        "agentcap mcp-proxy: listening on http://{}\n",
                        listener.local_addr().map_err(input)?
                    );
                    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
                    proxy::serve_http(proxy, listener, limits.max_message_bytes)
                        .await
                        .map_err(input)
                }
            }
        };
        let result = tokio::select! {
            served = serving => served,
            () = upstream_gone => Err(Fail::input("the upstream MCP server exited")),
            () = stop_signal() => Ok(()),
        };
        // A closing checkpoint: the log verifies as complete.
        if let Some(log) = audit_log {
            log.close()
                .map_err(|e| Fail::input(format!("audit: {e}")))?;
        }
        result
    });
    // A read of stdin may still be parked on a blocking thread: do not wait for it.
    runtime.shutdown_background();
    result
}
