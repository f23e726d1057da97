//! The upstream side of the proxy: the MCP server it guards, as a child process over stdio or
//! a Streamable HTTP server, and the client handler that refuses what the server asks of the
//! client.

// Sampling and roots are deprecated in MCP 2026-07-28, but servers on older revisions still
// send them: the proxy refuses them explicitly.
#![allow(deprecated)]

use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ErrorCode,
    ListRootsResult,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};

/// A connected, initialized upstream server.
pub type Upstream = RunningService<RoleClient, UpstreamClient>;

/// The proxy as the upstream server's client: it asks for nothing and refuses every request the
/// server sends (sampling, elicitation, roots): they would reach past the guard to the client.
#[derive(Clone, Debug, Default)]
pub struct UpstreamClient;

fn refused(method: &str) -> ErrorData {
    tracing::info!(
        mcp.method.name = method,
        "upstream request refused by the agentcap proxy"
    );
    ErrorData::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!("{method} is refused by the agentcap proxy"),
        None,
    )
}

impl ClientHandler for UpstreamClient {
    async fn create_message(
        &self,
        _: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Err(refused("sampling/createMessage"))
    }

    async fn list_roots(
        &self,
        _: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        Err(refused("roots/list"))
    }

    async fn create_elicitation(
        &self,
        _: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        Err(refused("elicitation/create"))
    }
}

/// Starts `command` as a child process and connects to it over its stdio (its stderr is
/// inherited).
///
/// # Errors
/// The child cannot be started or does not complete MCP's `initialize`.
pub async fn connect_child(command: tokio::process::Command) -> Result<Upstream, std::io::Error> {
    let transport = TokioChildProcess::new(command)?;
    UpstreamClient
        .serve(transport)
        .await
        .map_err(|e| std::io::Error::other(format!("upstream initialize failed: {e}")))
}

/// Connects to a Streamable HTTP MCP server at `url` (plain `http://`; put TLS in front of the
/// proxy's own listener or on loopback).
///
/// # Errors
/// The server does not answer MCP's `initialize`.
pub async fn connect_http(url: &str) -> Result<Upstream, std::io::Error> {
    let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
    UpstreamClient
        .serve(transport)
        .await
        .map_err(|e| std::io::Error::other(format!("upstream initialize failed: {e}")))
}
