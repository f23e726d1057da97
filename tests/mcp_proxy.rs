//! `agentcap mcp-proxy` in front of real MCP servers nobody here wrote: the official
//! filesystem server (npm, run with Node.js) and the time server (PyPI). `.ci/mcp-servers`
//! installs them; then `cargo test --features mcp-proxy --test mcp_proxy`.
#![cfg(feature = "mcp-proxy")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use agentcap::audit::{self, Event, LogKey, Record};
use agentcap::mcp::{denial_class, McpCaller};
use agentcap::*;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Where `.ci/mcp-servers` installed the servers.
fn servers() -> PathBuf {
    std::env::var_os("AGENTCAP_MCP_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mcp-servers"))
}

fn server_bin(rel: &str) -> PathBuf {
    let path = servers().join(rel);
    assert!(
        path.exists(),
        "{} is missing: run .ci/mcp-servers first",
        path.display()
    );
    path
}

fn filesystem_server() -> PathBuf {
    server_bin("node_modules/.bin/mcp-server-filesystem")
}

fn time_server() -> PathBuf {
    server_bin("venv/bin/mcp-server-time")
}

/// A fresh folder: `data/` (the folder tokens grant) holding `inside.txt`, and `secret.txt`
/// beside it (which the filesystem server can reach; only the proxy stands in the way).
struct Folder(PathBuf);

impl Folder {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("agentcap-proxy-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("data/inside.txt"), "hello from inside").unwrap();
        std::fs::write(dir.join("secret.txt"), "the secret").unwrap();
        // The server resolves symlinks: give it the canonical path.
        Self(dir.canonicalize().unwrap())
    }

    fn data(&self) -> PathBuf {
        self.0.join("data")
    }

    fn path(&self, rel: &str) -> String {
        self.0.join(rel).display().to_string()
    }

    /// Every file under the folder with its contents: what the server's effects changed.
    fn snapshot(&self) -> BTreeMap<String, String> {
        fn walk(dir: &Path, out: &mut BTreeMap<String, String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|n| n == "audit.log") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    out.insert(path.display().to_string(), text);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.0, &mut out);
        out
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The authority, the agent, and the proxy's executor config.
struct Setup {
    authority: Authority,
    agent: AgentKey,
    agent_id: AgentId,
    executor: ExecutorId,
    folder: Folder,
    log_key: LogKey,
}

const EXECUTOR: &str = "files-proxy";

impl Setup {
    fn new() -> Self {
        Self {
            authority: Authority::new(AuthorityId::new("ops").unwrap(), AuthorityKey::generate(3)),
            agent: AgentKey::generate(),
            agent_id: AgentId::random(),
            executor: ExecutorId::new(EXECUTOR).unwrap(),
            folder: Folder::new(),
            log_key: LogKey::generate(),
        }
    }

    fn grant(&self) -> GrantBuilder {
        Grant::builder(
            self.agent_id,
            self.agent.public(),
            OffsetDateTime::now_utc() + Duration::hours(1),
        )
    }

    /// A token granting `read_file` under `data/` only.
    fn read_token(&self) -> Token {
        let grant = self
            .grant()
            .tool(
                "read_file",
                ToolGrant::new().arg(
                    "path",
                    Constraint::sub_path(self.folder.data().to_str().unwrap()).unwrap(),
                ),
            )
            .build()
            .unwrap();
        self.authority.issue(&grant).unwrap()
    }

    fn caller(&self, token: Token) -> McpCaller {
        McpCaller::new(
            token,
            AgentKey::from_bytes(&self.agent.to_bytes()),
            self.executor.clone(),
        )
        .unwrap()
    }

    /// Writes the executor config (TOML) with `extra` lines, and the audit log's key file.
    fn config(&self, extra: &str) -> PathBuf {
        let key_path = self.folder.0.join("audit.key");
        if !key_path.exists() {
            std::fs::write(
                &key_path,
                json!({"kind": "log", "secret": hex::encode(*self.log_key.to_bytes())}).to_string(),
            )
            .unwrap();
        }
        let path = self.folder.0.join("executor.toml");
        let text = format!(
            "executor = \"{EXECUTOR}\"\nroots = [\"{}\"]\n{extra}\n[audit]\nlog = \"audit.log\"\nkey = \"audit.key\"\n",
            self.authority.key().public()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    fn audit_path(&self) -> PathBuf {
        self.folder.0.join("audit.log")
    }

    /// The decision records of the audit log, after checking its chain.
    fn decisions(&self) -> Vec<audit::DecisionRecord> {
        audit::verify_file(self.audit_path(), &self.log_key.public()).unwrap();
        std::fs::read_to_string(self.audit_path())
            .unwrap()
            .lines()
            .filter_map(|l| match serde_json::from_str::<Record>(l).unwrap().event {
                Event::Decision(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    /// The proxy command, in front of the filesystem server serving the whole folder.
    fn proxy_command(&self, config: &Path, listen: Option<&str>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentcap"));
        cmd.arg("mcp-proxy").arg("--config").arg(config);
        if let Some(addr) = listen {
            cmd.arg("--listen").arg(addr);
        }
        cmd.arg("--").arg(filesystem_server()).arg(&self.folder.0);
        cmd
    }

    /// An MCP client connected to the proxy over its stdio.
    async fn client(&self, config: &Path) -> RunningService<RoleClient, ()> {
        let transport = TokioChildProcess::new(self.proxy_command(config, None)).unwrap();
        ().serve(transport).await.unwrap()
    }
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn read(path: &str) -> ToolCall {
    ToolCall::new("read_file", json!({ "path": path })).unwrap()
}

#[tokio::test]
async fn proxy_allows_a_read_inside_the_granted_folder_and_returns_the_file() {
    let s = Setup::new();
    let config = s.config("tools = [\"*\"]");
    let client = s.client(&config).await;
    let caller = s.caller(s.read_token());
    let call = read(&s.folder.path("data/inside.txt"));
    let r = client
        .call_tool(caller.params(&call).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), None, "{}", text(&r));
    assert!(text(&r).contains("hello from inside"), "{}", text(&r));
    client.cancel().await.unwrap();
    // The proxy closed its log on the way out: one allow record, naming the tool.
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let decisions = s.decisions();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision, "allow");
    assert_eq!(decisions[0].tool, "read_file");
}

/// Every way in that the token does not open is denied before the server sees it, the caller
/// is told only the class, the filesystem is untouched, and each decision is an audit record.
#[tokio::test]
async fn proxy_denials_never_reach_the_server_and_leave_the_filesystem_untouched() {
    let s = Setup::new();
    let config = s.config("tools = [\"*\"]");
    let client = s.client(&config).await;
    let token = s.read_token();
    let caller = s.caller(token.clone());
    let before = s.folder.snapshot();

    // A proof used once, then replayed.
    let once = caller
        .params(&read(&s.folder.path("data/inside.txt")))
        .unwrap();
    let first = client.call_tool(once.clone()).await.unwrap();
    assert_eq!(denial_class(&first), None, "{}", text(&first));

    let elsewhere = McpCaller::new(
        token.clone(),
        AgentKey::from_bytes(&s.agent.to_bytes()),
        ExecutorId::new("mail-proxy").unwrap(),
    )
    .unwrap();
    let mut no_token = CallToolRequestParams::new("read_file");
    no_token.arguments = json!({"path": s.folder.path("data/inside.txt")})
        .as_object()
        .cloned();
    let mut bad_meta = caller
        .params(&read(&s.folder.path("data/inside.txt")))
        .unwrap();
    bad_meta
        .meta
        .as_mut()
        .unwrap()
        .0
         .0
        .insert("agentcap/proof".into(), json!("not a proof"));
    let cases: Vec<(&str, CallToolRequestParams, &str)> = vec![
        (
            "../ escape",
            caller
                .params(&read(&format!(
                    "{}/../secret.txt",
                    s.folder.data().display()
                )))
                .unwrap(),
            "argument_rejected",
        ),
        (
            "a file outside",
            caller.params(&read(&s.folder.path("secret.txt"))).unwrap(),
            "argument_rejected",
        ),
        (
            "another tool",
            caller
                .params(
                    &ToolCall::new("list_directory", json!({"path": s.folder.path("data")}))
                        .unwrap(),
                )
                .unwrap(),
            "tool_not_granted",
        ),
        (
            "a write",
            caller
                .params(
                    &ToolCall::new(
                        "write_file",
                        json!({"path": s.folder.path("data/inside.txt"), "content": "pwned"}),
                    )
                    .unwrap(),
                )
                .unwrap(),
            "tool_not_granted",
        ),
        ("a replayed proof", once, "replayed"),
        ("no token", no_token, "malformed_call"),
        ("a malformed proof", bad_meta, "malformed_call"),
        (
            "a proof for another executor",
            elsewhere
                .params(&read(&s.folder.path("data/inside.txt")))
                .unwrap(),
            "proof_for_another_executor",
        ),
    ];
    for (what, params, _) in &cases {
        let r = client.call_tool(params.clone()).await.unwrap();
        assert_eq!(
            denial_class(&r),
            Some(DenyClass::Denied),
            "{what}: {}",
            text(&r)
        );
        assert_eq!(text(&r), "agentcap: call denied (denied)", "{what}");
    }
    assert_eq!(s.folder.snapshot(), before, "the filesystem changed");
    client.cancel().await.unwrap();
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let decisions = s.decisions();
    let reasons: Vec<_> = decisions
        .iter()
        .map(|d| d.reason.clone().unwrap_or_else(|| d.decision.clone()))
        .collect();
    let mut expected = vec!["allow".to_owned()];
    expected.extend(cases.iter().map(|(_, _, r)| (*r).to_owned()));
    assert_eq!(reasons, expected);
}

/// Nothing but tools reaches the server unless the config opens it; a server with no tool
/// list filter shows every tool, a filtered one only the guarded ones.
#[tokio::test]
async fn proxy_refuses_what_is_not_a_guarded_tool_call() {
    let s = Setup::new();
    let config = s.config("tools = [\"read_file\"]\nlist_only_guarded = true");
    let client = s.client(&config).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, ["read_file"]);
    let err = client.list_resources(None).await.unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    let err = client.list_prompts(None).await.unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    // A tool the server has but the proxy does not guard: denied even with a token for it.
    let grant = s
        .grant()
        .tool("list_directory", ToolGrant::new().allow_other_args())
        .build()
        .unwrap();
    let caller = s.caller(s.authority.issue(&grant).unwrap());
    let call = ToolCall::new("list_directory", json!({"path": s.folder.path("data")})).unwrap();
    let r = client
        .call_tool(caller.params(&call).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), Some(DenyClass::Denied));
    client.cancel().await.unwrap();
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(s.decisions()[0].reason.as_deref(), Some("tool_not_guarded"));
}

/// A write that needs one approval: denied as `needs_approval` (retryable) without it, done
/// with the reviewer's approval carried in `_meta`.
#[tokio::test]
async fn proxy_counts_approvals_carried_in_meta() {
    let s = Setup::new();
    let reviewer = AgentKey::generate();
    let config = s.config(&format!(
        "tools = [\"*\"]\n[[approvers]]\nkey = \"{}\"\nprincipal = \"reviewer\"",
        reviewer.public()
    ));
    let client = s.client(&config).await;
    let grant = s
        .grant()
        .tool(
            "write_file",
            ToolGrant::new()
                .arg(
                    "path",
                    Constraint::sub_path(s.folder.data().to_str().unwrap()).unwrap(),
                )
                .allow_other_args()
                .approvals(1),
        )
        .build()
        .unwrap();
    let token = s.authority.issue(&grant).unwrap();
    let caller = s.caller(token.clone());
    let target = s.folder.path("data/report.txt");
    let call = ToolCall::new("write_file", json!({"path": target, "content": "approved"})).unwrap();
    let r = client
        .call_tool(caller.params(&call).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), Some(DenyClass::NeedsApproval));
    assert!(!Path::new(&target).exists());

    let approval = Approval::sign(&reviewer, &s.executor, &token.id(), call.digest().unwrap());
    let params = caller
        .params_with_approvals(&call, &[approval], OffsetDateTime::now_utc())
        .unwrap();
    let r = client.call_tool(params).await.unwrap();
    assert_eq!(denial_class(&r), None, "{}", text(&r));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "approved");
    client.cancel().await.unwrap();
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let decisions = s.decisions();
    assert_eq!(decisions[0].reason.as_deref(), Some("needs_approval"));
    assert_eq!(decisions[1].approved_by, ["reviewer"]);
}

/// A Python server (PyPI `mcp-server-time`) behind the proxy: a timezone the token allows is
/// answered, another one is denied, and a tool the config does not guard is hidden and denied.
#[tokio::test]
async fn proxy_guards_a_python_server() {
    let s = Setup::new();
    let config = s.config("tools = [\"get_current_time\"]\nlist_only_guarded = true");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentcap"));
    cmd.arg("mcp-proxy")
        .arg("--config")
        .arg(&config)
        .arg("--")
        .arg(time_server());
    let client = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
    let names: Vec<_> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["get_current_time"]);
    let grant = s
        .grant()
        .tool(
            "get_current_time",
            ToolGrant::new().arg("timezone", Constraint::one_of(["Europe/Paris"]).unwrap()),
        )
        .tool("convert_time", ToolGrant::new().allow_other_args())
        .build()
        .unwrap();
    let caller = s.caller(s.authority.issue(&grant).unwrap());
    let paris = ToolCall::new("get_current_time", json!({"timezone": "Europe/Paris"})).unwrap();
    let r = client
        .call_tool(caller.params(&paris).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), None, "{}", text(&r));
    assert!(text(&r).contains("Europe/Paris"), "{}", text(&r));
    let tokyo = ToolCall::new("get_current_time", json!({"timezone": "Asia/Tokyo"})).unwrap();
    let r = client
        .call_tool(caller.params(&tokyo).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), Some(DenyClass::Denied));
    let convert = ToolCall::new(
        "convert_time",
        json!({"source_timezone": "Europe/Paris", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
    )
    .unwrap();
    let r = client
        .call_tool(caller.params(&convert).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), Some(DenyClass::Denied));
    client.cancel().await.unwrap();
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let reasons: Vec<_> = s
        .decisions()
        .iter()
        .map(|d| d.reason.clone().unwrap_or_else(|| d.decision.clone()))
        .collect();
    assert_eq!(reasons, ["allow", "argument_rejected", "tool_not_guarded"]);
}

/// The URL in the proxy's `listening on http://ADDR` line. The server's own stderr shares the
/// stream and may land on the same line: only the address characters are taken.
fn listening_url(line: &str) -> String {
    let rest = line
        .split("listening on ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected: {line}"));
    rest.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/.[]".contains(*c))
        .collect()
}

/// Waits for the proxy's `listening on` line on its stderr (the server's own stderr comes
/// through too) and returns its MCP endpoint; the rest of stderr is drained.
async fn wait_listening(child: &mut tokio::process::Child) -> String {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(StdDuration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("the proxy exited");
            if line.contains("listening on ") {
                return line;
            }
        }
    })
    .await
    .expect("the proxy did not start listening");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    format!("{}/mcp", listening_url(&line))
}

/// Starts the proxy on Streamable HTTP and returns it with its URL.
async fn http_proxy(s: &Setup, config: &Path) -> (tokio::process::Child, String) {
    let mut cmd = s.proxy_command(config, Some("127.0.0.1:0"));
    cmd.stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let url = wait_listening(&mut child).await;
    (child, url)
}

#[tokio::test]
async fn proxy_over_streamable_http() {
    let s = Setup::new();
    let config = s.config("tools = [\"*\"]");
    let (_proxy, url) = http_proxy(&s, &config).await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
    let caller = s.caller(s.read_token());
    let r = client
        .call_tool(
            caller
                .params(&read(&s.folder.path("data/inside.txt")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(text(&r).contains("hello from inside"), "{}", text(&r));
    let r = client
        .call_tool(caller.params(&read(&s.folder.path("secret.txt"))).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), Some(DenyClass::Denied));
    assert!(!text(&r).contains("the secret"));
}

/// Load: 8 clients at once over Streamable HTTP, 125 writes each, every one to its own file.
/// None lost, none doubled, each proof used once (a second use of any is refused), and the
/// audit log holds exactly one allow per call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_load_8_clients_1000_calls_none_lost_none_doubled() {
    const CLIENTS: usize = 8;
    const CALLS: usize = 125;
    let s = Setup::new();
    std::fs::create_dir_all(s.folder.data().join("load")).unwrap();
    let config = s.config("tools = [\"write_file\"]");
    let (_proxy, url) = http_proxy(&s, &config).await;
    let grant = s
        .grant()
        .tool(
            "write_file",
            ToolGrant::new()
                .arg(
                    "path",
                    Constraint::sub_path(s.folder.data().join("load").to_str().unwrap()).unwrap(),
                )
                .allow_other_args(),
        )
        .build()
        .unwrap();
    let token = s.authority.issue(&grant).unwrap();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let caller = s.caller(token.clone());
        let url = url.clone();
        let dir = s.folder.data().join("load");
        tasks.push(tokio::spawn(async move {
            let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
            let mut first = None;
            for i in 0..CALLS {
                let path = dir.join(format!("c{c}-{i}.txt")).display().to_string();
                let call = ToolCall::new(
                    "write_file",
                    json!({"path": path, "content": format!("{c}/{i}")}),
                )
                .unwrap();
                let params = caller.params(&call).unwrap();
                let r = client.call_tool(params.clone()).await.unwrap();
                assert_eq!(denial_class(&r), None, "{}", text(&r));
                first.get_or_insert(params);
            }
            // A proof used before is refused, whoever sends it again.
            let r = client.call_tool(first.unwrap()).await.unwrap();
            assert_eq!(denial_class(&r), Some(DenyClass::Denied));
            client.cancel().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let load = s.folder.data().join("load");
    let mut files = 0;
    for c in 0..CLIENTS {
        for i in 0..CALLS {
            let text = std::fs::read_to_string(load.join(format!("c{c}-{i}.txt"))).unwrap();
            assert_eq!(text, format!("{c}/{i}"));
            files += 1;
        }
    }
    assert_eq!(std::fs::read_dir(&load).unwrap().count(), files);
    let decisions = s.decisions();
    let allows: std::collections::BTreeSet<_> = decisions
        .iter()
        .filter(|d| d.decision == "allow")
        .map(|d| d.call_digest.clone())
        .collect();
    assert_eq!(allows.len(), CLIENTS * CALLS);
    assert_eq!(
        decisions.iter().filter(|d| d.decision == "allow").count(),
        CLIENTS * CALLS
    );
    assert_eq!(
        decisions
            .iter()
            .filter(|d| d.reason.as_deref() == Some("replayed"))
            .count(),
        CLIENTS
    );
}

/// Raw JSON-RPC on the proxy's stdio: what the framing gate answers itself, and that the
/// session survives each of them.
#[tokio::test]
async fn proxy_gate_answers_bad_framing_and_the_session_survives() {
    let s = Setup::new();
    let config = s.config("tools = [\"*\"]\nmax_message_bytes = 65536");
    let mut child = s
        .proxy_command(&config, None)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    async fn exchange(
        stdin: &mut tokio::process::ChildStdin,
        stdout: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
        line: &str,
    ) -> Value {
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
        let reply = tokio::time::timeout(StdDuration::from_secs(30), stdout.next_line())
            .await
            .expect("no reply")
            .unwrap()
            .unwrap();
        serde_json::from_str(&reply).unwrap()
    }
    let code = |v: &Value| v["error"]["code"].as_i64();
    let tools_list = r#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#;
    // Before initialize: a request is refused, ping is answered.
    let r = exchange(&mut stdin, &mut stdout, tools_list).await;
    assert_eq!((code(&r), r["id"].clone()), (Some(-32600), json!(9)));
    let r = exchange(
        &mut stdin,
        &mut stdout,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    )
    .await;
    assert_eq!(r["result"], json!({}));
    let init = json!({"jsonrpc":"2.0","id":2,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}});
    let r = exchange(&mut stdin, &mut stdout, &init.to_string()).await;
    assert!(r["result"]["capabilities"]["tools"].is_object(), "{r}");
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await
        .unwrap();
    let oversized = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{{"x":"{}"}}}}"#,
        "a".repeat(70_000)
    );
    let cases: Vec<(&str, String, i64, Value)> = vec![
        ("not JSON", "{\"jsonrpc\":".to_owned(), -32700, Value::Null),
        (
            "a batch",
            format!("[{tools_list},{tools_list}]"),
            -32600,
            Value::Null,
        ),
        (
            "no jsonrpc",
            r#"{"id":4,"method":"tools/list"}"#.to_owned(),
            -32600,
            json!(4),
        ),
        (
            "a bad id",
            r#"{"jsonrpc":"2.0","id":{"x":1},"method":"tools/list"}"#.to_owned(),
            -32600,
            Value::Null,
        ),
        (
            "bad params",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":7}}"#.to_owned(),
            -32602,
            json!(5),
        ),
        (
            "a second initialize",
            init.to_string().replace("\"id\":2", "\"id\":6"),
            -32600,
            json!(6),
        ),
        ("an oversized message", oversized, -32600, Value::Null),
    ];
    for (what, line, expected, id) in cases {
        let r = exchange(&mut stdin, &mut stdout, &line).await;
        assert_eq!(code(&r), Some(expected), "{what}: {r}");
        assert_eq!(r["id"], id, "{what}");
    }
    // An unknown method reaches no server: method not found.
    let r = exchange(
        &mut stdin,
        &mut stdout,
        r#"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}"#,
    )
    .await;
    assert_eq!(code(&r), Some(-32601), "{r}");
    // The session is still usable.
    let r = exchange(&mut stdin, &mut stdout, tools_list).await;
    assert!(r["result"]["tools"].as_array().unwrap().len() > 3, "{r}");
    drop(stdin);
    let status = tokio::time::timeout(StdDuration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

/// A configuration the proxy cannot use is refused before anything starts.
#[test]
fn proxy_refuses_a_bad_config() {
    let s = Setup::new();
    for (extra, needle) in [
        ("tools = [\"*\"]\nopen = [\"sampling\"]", "cannot be opened"),
        ("tools = [\"*\"]\nstate = \"postgres://x\"", "neither"),
        ("tools = [\"*\"]\ncolour = \"blue\"", "unknown field"),
    ] {
        let config = s.config(extra);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentcap"))
            .arg("mcp-proxy")
            .arg("--config")
            .arg(&config)
            .arg("--")
            .arg("true")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{extra}: {err}");
        assert!(out.stdout.is_empty());
    }
}

/// The library's proxy in-process: `server` as its upstream over an in-memory pipe, guarding
/// `tools`, its stdio front (gate included) over another, and a client connected to that.
/// Keep the returned upstream alive: dropping it ends the proxy's upstream session.
async fn in_process_proxy<S: rmcp::ServerHandler + Send + 'static>(
    s: &Setup,
    server: S,
    tools: &[&str],
) -> (
    RunningService<RoleClient, ()>,
    agentcap::mcp::proxy::Upstream,
) {
    use agentcap::mcp::proxy::{self, GateLimits, McpProxy, ProxyPolicy, UpstreamClient};
    use agentcap::mcp::McpGuard;

    let (server_io, upstream_io) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let upstream = UpstreamClient::default().serve(upstream_io).await.unwrap();
    let verifier = Verifier::builder(
        s.executor.clone(),
        s.authority.key().public().into(),
        tools.iter().copied(),
    )
    .build()
    .unwrap();
    let proxy = McpProxy::new(
        McpGuard::new(Arc::new(verifier)),
        &upstream,
        tools.iter().map(|t| (*t).to_owned()).collect(),
        ProxyPolicy::default(),
    );
    let (client_io, proxy_io) = tokio::io::duplex(1 << 16);
    let (proxy_in, proxy_out) = tokio::io::split(proxy_io);
    tokio::spawn(proxy::serve_stdio(
        proxy,
        proxy_in,
        proxy_out,
        GateLimits::default(),
    ));
    (().serve(client_io).await.unwrap(), upstream)
}

/// A server whose one tool waits until it is cancelled (the library's proxy, in-process).
#[derive(Clone)]
struct Slow {
    started: Arc<tokio::sync::Notify>,
    cancelled: Arc<std::sync::atomic::AtomicBool>,
}

impl rmcp::ServerHandler for Slow {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
    }

    async fn call_tool(
        &self,
        _: CallToolRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        self.started.notify_one();
        tokio::select! {
            () = context.ct.cancelled() => {
                self.cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
                Err(rmcp::ErrorData::internal_error("cancelled", None))
            }
            () = tokio::time::sleep(StdDuration::from_secs(30)) => {
                Ok(CallToolResult::success(vec![]).into())
            }
        }
    }
}

/// A client's `notifications/cancelled` for a call in progress reaches the upstream server.
#[tokio::test]
async fn proxy_forwards_a_cancellation_upstream() {
    use rmcp::model::{CallToolRequest, ClientRequest};
    use rmcp::service::PeerRequestOptions;

    let s = Setup::new();
    let slow = Slow {
        started: Arc::new(tokio::sync::Notify::new()),
        cancelled: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    let (client, _upstream) = in_process_proxy(&s, slow.clone(), &["slow"]).await;
    let grant = s
        .grant()
        .tool("slow", ToolGrant::new().allow_other_args())
        .build()
        .unwrap();
    let caller = s.caller(s.authority.issue(&grant).unwrap());
    let params = caller
        .params(&ToolCall::new("slow", json!({})).unwrap())
        .unwrap();
    let handle = client
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    tokio::time::timeout(StdDuration::from_secs(10), slow.started.notified())
        .await
        .expect("the call never reached the server");
    handle
        .cancel(Some("the user gave up".into()))
        .await
        .unwrap();
    let seen = tokio::time::timeout(StdDuration::from_secs(10), async {
        while !slow.cancelled.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        seen.is_ok(),
        "the upstream server never saw the cancellation"
    );
}

/// When the server behind the proxy exits, the proxy exits too (status 2, a line on stderr)
/// rather than leaving the client talking to nothing.
#[tokio::test]
async fn proxy_exits_when_the_server_exits() {
    let s = Setup::new();
    let config = s.config("tools = [\"*\"]");
    let pid_file = s.folder.0.join("server.pid");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentcap"))
        .arg("mcp-proxy")
        .arg("--config")
        .arg(&config)
        .arg("--")
        .arg("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > '{}'; exec '{}' '{}'",
            pid_file.display(),
            filesystem_server().display(),
            s.folder.0.display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait until the proxy is serving (its upstream is up and initialized).
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n")
        .await
        .unwrap();
    tokio::time::timeout(StdDuration::from_secs(30), stdout.next_line())
        .await
        .unwrap()
        .unwrap();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let killed = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.trim())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(StdDuration::from_secs(30), child.wait())
        .await
        .expect("the proxy did not exit")
        .unwrap();
    assert_eq!(status.code(), Some(2));
    let mut err = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut err)
        .await
        .unwrap();
    assert!(err.contains("the upstream MCP server exited"), "{err}");
}

/// The proxy on Streamable HTTP in front of an upstream that is itself a Streamable HTTP server
/// (npm `server-everything`): a granted echo passes, other arguments and tools are denied, an
/// opened family (resources) is forwarded and a closed one (prompts) refused.
#[tokio::test]
async fn proxy_in_front_of_an_http_server() {
    let s = Setup::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut upstream =
        tokio::process::Command::new(server_bin("node_modules/.bin/mcp-server-everything"))
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    let mut up_err = BufReader::new(upstream.stderr.take().unwrap()).lines();
    tokio::time::timeout(StdDuration::from_secs(30), async {
        while let Some(line) = up_err.next_line().await.unwrap() {
            if line.contains("listening on port") {
                return;
            }
        }
        panic!("server-everything exited");
    })
    .await
    .expect("server-everything did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = up_err.next_line().await {} });

    let config = s.config("tools = [\"*\"]\nopen = [\"resources\"]");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentcap"));
    cmd.arg("mcp-proxy")
        .arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--upstream")
        .arg(format!("http://127.0.0.1:{port}/mcp"))
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut proxy = cmd.spawn().unwrap();
    let url = wait_listening(&mut proxy).await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();

    let grant = s
        .grant()
        .tool(
            "echo",
            ToolGrant::new().arg("message", Constraint::one_of(["hello"]).unwrap()),
        )
        .build()
        .unwrap();
    let caller = s.caller(s.authority.issue(&grant).unwrap());
    let hello = ToolCall::new("echo", json!({"message": "hello"})).unwrap();
    let r = client
        .call_tool(caller.params(&hello).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), None, "{}", text(&r));
    assert_eq!(text(&r), "Echo: hello");
    let other = ToolCall::new("echo", json!({"message": "the secret"})).unwrap();
    let r = client
        .call_tool(caller.params(&other).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), Some(DenyClass::Denied));
    let sum = ToolCall::new("get-sum", json!({"a": 1, "b": 2})).unwrap();
    let r = client
        .call_tool(caller.params(&sum).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), Some(DenyClass::Denied));
    assert!(!client.list_all_resources().await.unwrap().is_empty());
    let err = client.list_prompts(None).await.unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    drop(client);
    let _ = proxy.kill().await;
    let _ = upstream.kill().await;
}

/// A client handler that keeps the progress notifications it receives.
#[derive(Clone, Default)]
struct ProgressLog(Arc<std::sync::Mutex<Vec<rmcp::model::ProgressNotificationParam>>>);

impl rmcp::ClientHandler for ProgressLog {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params);
    }
}

/// Progress the upstream reports for a call reaches the client that made it, under the
/// client's own progress token (npm `server-everything`, over stdio).
#[tokio::test]
async fn proxy_relays_progress_to_the_calling_client() {
    let s = Setup::new();
    let config = s.config("tools = [\"*\"]");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentcap"));
    cmd.arg("mcp-proxy")
        .arg("--config")
        .arg(&config)
        .arg("--")
        .arg(server_bin("node_modules/.bin/mcp-server-everything"))
        .arg("stdio");
    let log = ProgressLog::default();
    let client = log
        .clone()
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .unwrap();
    let grant = s
        .grant()
        .tool(
            "trigger-long-running-operation",
            ToolGrant::new().allow_other_args(),
        )
        .build()
        .unwrap();
    let caller = s.caller(s.authority.issue(&grant).unwrap());
    let call = ToolCall::new(
        "trigger-long-running-operation",
        json!({"duration": 0.3, "steps": 3}),
    )
    .unwrap();
    let r = client
        .call_tool(caller.params(&call).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), None, "{}", text(&r));
    // Notifications may trail the response by a moment.
    for _ in 0..100 {
        if log.0.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let seen = log.0.lock().unwrap().clone();
    let steps: Vec<f64> = seen.iter().map(|p| p.progress).collect();
    assert_eq!(steps, [1.0, 2.0, 3.0], "{seen:?}");
    assert!(seen
        .iter()
        .all(|p| p.progress_token == seen[0].progress_token));
}

/// A `redis-server` on a free loopback port, killed on drop.
struct Redis {
    child: std::process::Child,
    url: String,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server could not be started: apt-get install redis-server");
        // Ready when it accepts a connection.
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(StdDuration::from_millis(50));
        }
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two proxy replicas sharing one Redis: a proof used at one is refused at the other; with
/// Redis gone, a call is denied as `state_unavailable` (retryable) and never reaches the
/// server.
#[tokio::test]
#[ignore = "needs redis-server: run with -- --include-ignored"]
async fn proxy_replicas_share_redis_state_and_fail_closed_without_it() {
    let mut redis = Redis::start();
    let s = Setup::new();
    let config_a = s.config(&format!("tools = [\"*\"]\nstate = \"{}\"", redis.url));
    // The second replica: the same executor id and state, its own audit log.
    let config_b = s.folder.0.join("replica-b.toml");
    std::fs::write(
        &config_b,
        std::fs::read_to_string(&config_a)
            .unwrap()
            .replace("audit.log", "audit-b.log"),
    )
    .unwrap();
    let a = s.client(&config_a).await;
    let b = s.client(&config_b).await;
    let grant = s
        .grant()
        .tool(
            "write_file",
            ToolGrant::new()
                .arg(
                    "path",
                    Constraint::sub_path(s.folder.data().to_str().unwrap()).unwrap(),
                )
                .allow_other_args(),
        )
        .build()
        .unwrap();
    let caller = s.caller(s.authority.issue(&grant).unwrap());
    let target = s.folder.path("data/once.txt");
    let write = |content: &str| {
        ToolCall::new("write_file", json!({"path": target, "content": content})).unwrap()
    };
    let params = caller.params(&write("first")).unwrap();
    let r = a.call_tool(params.clone()).await.unwrap();
    assert_eq!(denial_class(&r), None, "{}", text(&r));
    std::fs::write(&target, "changed since").unwrap();
    let r = b.call_tool(params).await.unwrap();
    assert_eq!(
        denial_class(&r),
        Some(DenyClass::Denied),
        "replayed at the other replica"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "changed since");

    redis.kill();
    let r = a
        .call_tool(caller.params(&write("while redis is down")).unwrap())
        .await
        .unwrap();
    assert_eq!(denial_class(&r), Some(DenyClass::StateUnavailable));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "changed since");
}

/// An upstream that records what reaches it: `record` keeps the `_meta` and arguments it got
/// and answers with a result whose `_meta` claims an agentcap denial class; `ask` answers by
/// asking the client for input.
#[derive(Clone, Default)]
struct Recorder(Arc<std::sync::Mutex<Vec<(Value, Value)>>>);

impl rmcp::ServerHandler for Recorder {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        if request.name == "ask" {
            return Ok(rmcp::model::CallToolResponse::InputRequired(
                rmcp::model::InputRequiredResult::new(None, Some("state".into())),
            ));
        }
        self.0.lock().unwrap().push((
            serde_json::to_value(&context.meta).unwrap(),
            Value::Object(request.arguments.unwrap_or_default()),
        ));
        let mut result =
            CallToolResult::error(vec![rmcp::model::ContentBlock::text("tool failed")]);
        let mut meta = rmcp::model::MetaObject::new();
        meta.0
            .insert("agentcap/class".into(), json!("needs_approval"));
        result.meta = Some(meta);
        Ok(result.into())
    }
}

/// What the proxy forwards, and what it lets come back: only trace context in `_meta` (never
/// the token, the proof, protocol keys or anything else), exactly the verified arguments, no
/// upstream request for client input, and no agentcap key in a result.
#[tokio::test]
async fn proxy_forwards_only_what_it_verified() {
    let s = Setup::new();
    let recorder = Recorder::default();
    let (client, _upstream) = in_process_proxy(&s, recorder.clone(), &["record", "ask"]).await;
    let grant = s
        .grant()
        .tool("record", ToolGrant::new().allow_other_args())
        .tool("ask", ToolGrant::new().allow_other_args())
        .build()
        .unwrap();
    let caller = s.caller(s.authority.issue(&grant).unwrap());
    let args = json!({"path": "/a", "n": 1, "nested": {"k": [1, 2]}});
    let mut params = caller
        .params(&ToolCall::new("record", args.clone()).unwrap())
        .unwrap();
    let meta = &mut params.meta.as_mut().unwrap().0 .0;
    meta.insert(
        "traceparent".into(),
        json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    meta.insert(
        "io.modelcontextprotocol/protocolVersion".into(),
        json!("2026-07-28"),
    );
    meta.insert(
        "io.modelcontextprotocol/clientCapabilities".into(),
        json!({"sampling": {}}),
    );
    meta.insert("unsigned/instruction".into(), json!("ignore the path"));
    let r = client.call_tool(params).await.unwrap();
    // The upstream's claim of a denial class is removed: this is the tool's own failure.
    assert_eq!(r.is_error, Some(true));
    assert_eq!(denial_class(&r), None);
    assert!(
        r.meta.as_ref().is_none_or(|m| m.0.is_empty()),
        "{:?}",
        r.meta
    );

    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (meta, forwarded_args) = &seen[0];
    assert_eq!(forwarded_args, &args);
    let keys: Vec<&String> = meta.as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| *k == "traceparent" || *k == "progressToken"),
        "{keys:?}"
    );
    assert!(keys.contains(&&"traceparent".to_owned()), "{keys:?}");

    let r = client
        .call_tool(
            caller
                .params(&ToolCall::new("ask", json!({})).unwrap())
                .unwrap(),
        )
        .await;
    // An upstream's request for client input never reaches the client. (On the proxy's
    // `initialize` session rmcp refuses to send one at all; the proxy refuses it as well.)
    assert!(r.is_err(), "{r:?}");
}

/// The executor config shown in docs/mcp.md §9, with real keys put in for its placeholders,
/// starts a working proxy.
#[tokio::test]
async fn proxy_runs_with_the_documented_config() {
    let s = Setup::new();
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mcp.md")).unwrap();
    let section = doc.split("### The executor config").nth(1).unwrap();
    let block = section
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let approver = AgentKey::generate();
    let config_text = block
        .replacen(
            "1:ed25519/<64 hex>",
            &s.authority.key().public().to_string(),
            1,
        )
        .replacen("ed25519/<64 hex>", &approver.public().to_string(), 1)
        .replacen("ed25519/<64 hex>", &s.agent.public().to_string(), 1);
    assert!(!config_text.contains('<'), "{config_text}");
    s.config(""); // writes audit.key beside it
    let config = s.folder.0.join("documented.toml");
    std::fs::write(&config, config_text).unwrap();
    let client = s.client(&config).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "read_file"));
    let caller = s.caller(s.read_token());
    let r = client
        .call_tool(
            caller
                .params(&read(&s.folder.path("data/inside.txt")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(text(&r).contains("hello from inside"), "{}", text(&r));
}
