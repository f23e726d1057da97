//! A small MCP server on stdio with two tools, `read_file` and `post`, guarded by agentcap:
//! every `tools/call` must carry a token and a fresh proof in its `_meta`, or the tool never runs.
//!
//! The demo's authority key is fixed (seed bytes) so that `mcp_agent` can issue tokens this
//! server trusts; a real server loads its trusted roots from configuration.
//!
//! Run the pair: `cargo build --features mcp-demo --examples && cargo run --features mcp-demo --example mcp_agent`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use agentcap::mcp::{GuardedServer, McpGuard};
use agentcap::{AuthorityKey, ExecutorId, Verifier};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::json;

/// The demo authority's root key seed, shared with `mcp_agent`.
pub const DEMO_ROOT_SEED: [u8; 32] = [42; 32];
/// This server's executor id (the audience proofs must name).
pub const SERVER_ID: &str = "mcp-files";

#[derive(Clone)]
struct Files;

fn schema(props: serde_json::Value) -> Arc<serde_json::Map<String, serde_json::Value>> {
    let serde_json::Value::Object(map) = json!({"type": "object", "properties": props}) else {
        unreachable!()
    };
    Arc::new(map)
}

impl ServerHandler for Files {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "read_file",
                "Read a file under /docs",
                schema(json!({"path": {"type": "string"}})),
            ),
            Tool::new(
                "post",
                "Post a message publicly",
                schema(json!({"text": {"type": "string"}})),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Only reached through the guard: the authorization is in the context.
        let Some(authorized) = context.extensions.get::<Arc<agentcap::Authorized>>() else {
            // Never reached behind the guard; fail closed if the server is ever run without it.
            return Ok(
                CallToolResult::error(vec![ContentBlock::text(agentcap::Denied::MESSAGE)]).into(),
            );
        };
        let who = authorized.agent().to_string();
        let arg = |k: &str| {
            request
                .arguments
                .as_ref()
                .and_then(|a| a.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let text = match request.name.as_ref() {
            "read_file" => format!("contents of {} (for agent {who})", arg("path")),
            "post" => format!("posted {:?}", arg("text")),
            other => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "no tool {other}"
                ))])
                .into())
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = AuthorityKey::from_bytes(1, &DEMO_ROOT_SEED).public();
    let verifier = Verifier::builder(
        ExecutorId::new(SERVER_ID)?,
        root.into(),
        ["read_file", "post"],
    )
    .build()?;
    let server = GuardedServer::new(Files, McpGuard::new(Arc::new(verifier)));
    server
        .serve(rmcp::transport::stdio())
        .await?
        .waiting()
        .await?;
    Ok(())
}
