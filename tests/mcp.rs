//! The MCP binding: a guarded rmcp server and an agentcap-signing client, over an in-process
//! transport and over a real child process on stdio. `cargo test --features mcp-demo mcp`
#![cfg(feature = "mcp")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agentcap::mcp::{GuardedServer, McpCaller, McpGuard};
use agentcap::*;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// A server whose tools count their runs: the observable side effect.
#[derive(Clone)]
struct Counting(Arc<AtomicUsize>);

impl ServerHandler for Counting {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(
            CallToolResult::success(vec![ContentBlock::text(format!("ran {}", request.name))])
                .into(),
        )
    }
}

struct Setup {
    runs: Arc<AtomicUsize>,
    client: RunningService<RoleClient, ()>,
    caller: McpCaller,
    token: Token,
}

async fn setup() -> Setup {
    let authority = Authority::new(AuthorityId::new("ops").unwrap(), AuthorityKey::generate(1));
    let key = AgentKey::generate();
    let grant = Grant::builder(
        AgentId::random(),
        key.public(),
        OffsetDateTime::now_utc() + Duration::hours(1),
    )
    .tool(
        "read_file",
        ToolGrant::new().arg("path", Constraint::sub_path("/docs").unwrap()),
    )
    .build()
    .unwrap();
    let token = authority.issue(&grant).unwrap();
    let executor = ExecutorId::new("mcp-files").unwrap();
    let verifier = Verifier::builder(
        executor.clone(),
        authority.key().public().into(),
        ["read_file", "post"],
    )
    .build()
    .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let server = GuardedServer::new(Counting(runs.clone()), McpGuard::new(Arc::new(verifier)));
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(client_io).await.unwrap();
    let caller = McpCaller::new(token.clone(), key, executor).unwrap();
    Setup {
        runs,
        client,
        caller,
        token,
    }
}

/// A denial as the caller sees it: the generic text with the class, the class in `_meta`,
/// nothing else.
fn denied(r: &CallToolResult) -> bool {
    let texts: Vec<_> = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    r.is_error == Some(true)
        && agentcap::mcp::denial_class(r) == Some(DenyClass::Denied)
        && texts == [format!("{} (denied)", Denied::MESSAGE)]
}

#[tokio::test]
async fn mcp_allowed_call_runs_the_tool() {
    let s = setup().await;
    let call = ToolCall::new("read_file", json!({"path": "/docs/a.md"})).unwrap();
    let r = s
        .client
        .call_tool(s.caller.params(&call).unwrap())
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true));
    assert_eq!(s.runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn mcp_missing_token_is_denied_and_the_tool_does_not_run() {
    let s = setup().await;
    let mut params = CallToolRequestParams::new("read_file");
    params.arguments = json!({"path": "/docs/a.md"}).as_object().cloned();
    let r = s.client.call_tool(params).await.unwrap();
    assert!(denied(&r));
    // A token without a proof is no better.
    let call = ToolCall::new("read_file", json!({"path": "/docs/a.md"})).unwrap();
    let mut params = s.caller.params(&call).unwrap();
    params
        .meta
        .as_mut()
        .unwrap()
        .0
         .0
        .remove(agentcap::mcp::META_PROOF);
    assert!(denied(&s.client.call_tool(params).await.unwrap()));
    assert_eq!(s.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn mcp_wrong_tool_is_denied_and_the_tool_does_not_run() {
    let s = setup().await;
    let call = ToolCall::new("post", json!({"text": "hello"})).unwrap();
    assert!(denied(
        &s.client
            .call_tool(s.caller.params(&call).unwrap())
            .await
            .unwrap()
    ));
    // A proof for read_file presented as a call of post.
    let read = ToolCall::new("read_file", json!({"path": "/docs/a.md"})).unwrap();
    let mut params = s.caller.params(&read).unwrap();
    params.name = "post".into();
    assert!(denied(&s.client.call_tool(params).await.unwrap()));
    assert_eq!(s.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn mcp_wrong_args_are_denied_and_the_tool_does_not_run() {
    let s = setup().await;
    let call = ToolCall::new("read_file", json!({"path": "/docs/a.md"})).unwrap();
    let mut params = s.caller.params(&call).unwrap();
    params.arguments = json!({"path": "/etc/passwd"}).as_object().cloned();
    assert!(denied(&s.client.call_tool(params).await.unwrap()));
    let outside = ToolCall::new("read_file", json!({"path": "/etc/passwd"})).unwrap();
    assert!(denied(
        &s.client
            .call_tool(s.caller.params(&outside).unwrap())
            .await
            .unwrap()
    ));
    assert_eq!(s.runs.load(Ordering::SeqCst), 0);
    let _ = s.token;
}

#[tokio::test]
async fn mcp_replayed_proof_is_denied_and_the_tool_runs_once() {
    let s = setup().await;
    let call = ToolCall::new("read_file", json!({"path": "/docs/a.md"})).unwrap();
    let params = s.caller.params(&call).unwrap();
    assert_ne!(
        s.client.call_tool(params.clone()).await.unwrap().is_error,
        Some(true)
    );
    assert!(denied(&s.client.call_tool(params).await.unwrap()));
    assert_eq!(s.runs.load(Ordering::SeqCst), 1);
}

/// The example server as a real child process on stdio, driven by an agentcap-signing client.
#[tokio::test]
async fn mcp_child_process_over_stdio() {
    let exe = std::env::current_exe().unwrap();
    let server = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| {
            dir.join("examples")
                .join(format!("mcp_server{}", std::env::consts::EXE_SUFFIX))
        })
        .unwrap();
    assert!(
        server.exists(),
        "cargo test --features mcp-demo builds the example at {}",
        server.display()
    );
    let authority = Authority::new(
        AuthorityId::new("demo").unwrap(),
        AuthorityKey::from_bytes(1, &[42; 32]),
    );
    let key = AgentKey::generate();
    let grant = Grant::builder(
        AgentId::random(),
        key.public(),
        OffsetDateTime::now_utc() + Duration::minutes(10),
    )
    .tool(
        "read_file",
        ToolGrant::new().arg("path", Constraint::sub_path("/docs").unwrap()),
    )
    .build()
    .unwrap();
    let caller = McpCaller::new(
        authority.issue(&grant).unwrap(),
        key,
        ExecutorId::new("mcp-files").unwrap(),
    )
    .unwrap();
    let client = ()
        .serve(
            rmcp::transport::TokioChildProcess::new(tokio::process::Command::new(server)).unwrap(),
        )
        .await
        .unwrap();
    let read = ToolCall::new("read_file", json!({"path": "/docs/readme.md"})).unwrap();
    let r = client
        .call_tool(caller.params(&read).unwrap())
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true));
    assert!(r.content[0]
        .as_text()
        .unwrap()
        .text
        .starts_with("contents of /docs/readme.md"));
    let post = ToolCall::new("post", json!({"text": "hi"})).unwrap();
    assert!(denied(
        &client
            .call_tool(caller.params(&post).unwrap())
            .await
            .unwrap()
    ));
    client.cancel().await.unwrap();
}
