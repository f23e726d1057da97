//! What `agentcap mcp-proxy` adds to a call: `read_file` on the official filesystem MCP server
//! (Node.js), called directly and through the proxy binary (verify with an in-memory store, with
//! and without an audit log that fsyncs every record), in one run. Each proxied call carries a fresh proof,
//! signed outside the timed part.
//!
//! ```text
//! ./.ci/mcp-servers && cargo build --release --features mcp-proxy
//! cd benches/micro && cargo bench --features mcp-proxy --bench proxy
//! ```
//! `AGENTCAP_BIN` names another proxy binary; `AGENTCAP_MCP_SERVERS` another servers folder.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use agentcap::audit::LogKey;
use agentcap::mcp::{denial_class, McpCaller};
use agentcap::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use serde_json::json;
use time::{Duration, OffsetDateTime};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn existing(path: PathBuf, how: &str) -> PathBuf {
    assert!(path.exists(), "{} is missing: {how}", path.display());
    path
}

fn bench(c: &mut Criterion) {
    let servers = std::env::var_os("AGENTCAP_MCP_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/mcp-servers"));
    let server = existing(
        servers.join("node_modules/.bin/mcp-server-filesystem"),
        "run .ci/mcp-servers",
    );
    let proxy_bin = existing(
        std::env::var_os("AGENTCAP_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target/release/agentcap")),
        "cargo build --release --features mcp-proxy",
    );
    let dir = std::env::temp_dir().join(format!("agentcap-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let dir = dir.canonicalize().unwrap();
    let file = dir.join("data/a.txt");
    std::fs::write(&file, "x".repeat(1024)).unwrap();

    let authority = Authority::new(
        AuthorityId::new("bench").unwrap(),
        AuthorityKey::generate(1),
    );
    let agent = AgentKey::generate();
    let grant = Grant::builder(
        AgentId::random(),
        agent.public(),
        OffsetDateTime::now_utc() + Duration::hours(1),
    )
    .tool(
        "read_file",
        ToolGrant::new().arg(
            "path",
            Constraint::sub_path(dir.join("data").to_str().unwrap()).unwrap(),
        ),
    )
    .build()
    .unwrap();
    let token = authority.issue(&grant).unwrap();
    let log_key = LogKey::generate();
    std::fs::write(
        dir.join("audit.key"),
        json!({"kind": "log", "secret": hex::encode(*log_key.to_bytes())}).to_string(),
    )
    .unwrap();
    let plain_config = format!(
        "executor = \"bench\"\nroots = [\"{}\"]\ntools = [\"read_file\"]\n",
        authority.key().public()
    );
    let config = dir.join("executor.toml");
    std::fs::write(
        &config,
        format!("{plain_config}[audit]\nlog = \"audit.log\"\nkey = \"audit.key\"\n"),
    )
    .unwrap();
    let config_no_audit = dir.join("no-audit.toml");
    std::fs::write(&config_no_audit, plain_config).unwrap();
    let caller = McpCaller::new(token, agent, ExecutorId::new("bench").unwrap()).unwrap();
    let call = ToolCall::new("read_file", json!({"path": file.display().to_string()})).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (direct, proxied, proxied_no_audit) = rt.block_on(async {
        let mut cmd = tokio::process::Command::new(&server);
        cmd.arg(&dir);
        let direct = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
        let proxy = |config: &Path| {
            let mut cmd = tokio::process::Command::new(&proxy_bin);
            cmd.arg("mcp-proxy")
                .arg("--config")
                .arg(config)
                .arg("--")
                .arg(&server)
                .arg(&dir);
            ().serve(TokioChildProcess::new(cmd).unwrap())
        };
        let proxied = proxy(&config).await.unwrap();
        let proxied_no_audit = proxy(&config_no_audit).await.unwrap();
        (direct, proxied, proxied_no_audit)
    });
    let mut plain = CallToolRequestParams::new("read_file");
    plain.arguments = call.args().as_object().cloned();

    let mut g = c.benchmark_group("mcp read_file (filesystem server)");
    g.bench_function("direct", |b| {
        b.iter(|| {
            let r = rt.block_on(direct.call_tool(plain.clone())).unwrap();
            assert_ne!(r.is_error, Some(true));
        })
    });
    for (name, client) in [
        (
            "through agentcap mcp-proxy, audit fsync per record",
            &proxied,
        ),
        (
            "through agentcap mcp-proxy, no audit log",
            &proxied_no_audit,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || caller.params(&call).unwrap(),
                |params| {
                    let r = rt.block_on(client.call_tool(params)).unwrap();
                    assert_eq!(denial_class(&r), None);
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    rt.block_on(async {
        let _ = direct.cancel().await;
        let _ = proxied.cancel().await;
        let _ = proxied_no_audit.cancel().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
