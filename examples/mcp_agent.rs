//! An MCP client agent that starts `mcp_server` as a child process on stdio and calls both of
//! its tools with a token that allows `read_file` under `/docs` and not `post`. Every call
//! carries the token and a fresh proof in `_meta` (agentcap's `McpCaller`).
//!
//! Run: `cargo build --features mcp-demo --examples && cargo run --features mcp-demo --example mcp_agent`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentcap::mcp::McpCaller;
use agentcap::{
    AgentId, AgentKey, Authority, AuthorityId, AuthorityKey, Constraint, ExecutorId, Grant,
    ToolCall, ToolGrant,
};
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use serde_json::json;
use time::{Duration, OffsetDateTime};

const DEMO_ROOT_SEED: [u8; 32] = [42; 32];
const SERVER_ID: &str = "mcp-files";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The server: the example `mcp_server` beside this binary, or the command given after `--`
    // (any MCP server trusting the demo root as `mcp-files`, e.g. the Python package's
    // python/examples/mcp_server.py).
    let mut argv = std::env::args().skip(1);
    let command = match argv.next() {
        Some(program) => {
            let mut command = tokio::process::Command::new(program);
            command.args(argv);
            command
        }
        None => {
            let server = std::env::current_exe()?
                .with_file_name(format!("mcp_server{}", std::env::consts::EXE_SUFFIX));
            if !server.exists() {
                eprintln!("build the server first: cargo build --features mcp-demo --examples");
                std::process::exit(2);
            }
            tokio::process::Command::new(server)
        }
    };
    // The demo authority grants this agent `read_file` under /docs only.
    let authority = Authority::new(
        AuthorityId::new("demo")?,
        AuthorityKey::from_bytes(1, &DEMO_ROOT_SEED),
    );
    let key = AgentKey::generate();
    let grant = Grant::builder(
        AgentId::random(),
        key.public(),
        OffsetDateTime::now_utc() + Duration::minutes(10),
    )
    .tool(
        "read_file",
        ToolGrant::new().arg("path", Constraint::sub_path("/docs")?),
    )
    .build()?;
    let caller = McpCaller::new(authority.issue(&grant)?, key, ExecutorId::new(SERVER_ID)?)?;

    let client = ().serve(TokioChildProcess::new(command)?).await?;
    let tools = client.list_tools(Default::default()).await?;
    println!(
        "server tools: {}",
        tools
            .tools
            .iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (tool, args) in [
        ("read_file", json!({"path": "/docs/readme.md"})),
        ("read_file", json!({"path": "/etc/passwd"})),
        ("post", json!({"text": "hello world"})),
    ] {
        let call = ToolCall::new(tool, args.clone())?;
        let result = client.call_tool(caller.params(&call)?).await?;
        let text: Vec<String> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        let outcome = if result.is_error == Some(true) {
            "denied "
        } else {
            "allowed"
        };
        println!("{outcome} {tool} {args}: {}", text.join(" "));
    }
    client.cancel().await?;
    Ok(())
}
