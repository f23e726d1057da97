//! Guard an MCP server you did not write (feature `mcp-proxy`): [`McpProxy`] speaks MCP to the
//! client and forwards to an upstream server — a child process over stdio
//! ([`connect_child`]) or a Streamable HTTP server ([`connect_http`]) — only what it has
//! decided to let through.
//!
//! - `tools/call`: decided by the same [`McpGuard`] as [`GuardedServer`](super::GuardedServer)
//!   (token, proof, labels, cause and approvals from `_meta`, verified off the async runtime).
//!   A denied call never reaches the upstream; the client gets [`McpGuard::denial`]. An
//!   allowed call is forwarded with exactly the arguments that were verified (re-serialised),
//!   and a `_meta` holding only trace context: the client's token and proof never travel
//!   upstream. A client's cancellation is forwarded. Only a complete result comes back (an
//!   upstream's request for client input, or a task, is refused), without `agentcap/` keys.
//! - `initialize`, `ping` and `tools/list` are answered (the list optionally filtered to the
//!   guarded tools). A call's progress notifications reach the session that made it; list
//!   changes reach every session.
//! - Resources, prompts and completion are refused unless [`ProxyPolicy::open`] names them.
//!   Every other request, and every request the upstream sends to the client (sampling,
//!   elicitation, roots), is refused.
//!
//! The fronts: [`serve_stdio`] (with a framing gate that answers batches, malformed,
//! oversized, duplicate-id and pre-`initialize` messages itself) and [`serve_http`].

mod gate;
mod http;
mod upstream;

use std::collections::BTreeSet;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CancelledNotificationParam,
    ClientRequest, CompleteRequest, CompleteRequestParams, CompleteResult, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, RequestMetaObject, ServerCapabilities, ServerConfig, ServerResult,
};
use rmcp::service::{NotificationContext, Peer, PeerRequestOptions, RequestContext, ServiceError};
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler};

pub use gate::{serve_stdio, GateLimits, MAX_MESSAGE_BYTES};
pub use http::serve_http;
pub use upstream::{connect_child, connect_http, Upstream, UpstreamClient};

use super::{McpGuard, META_PREFIX};

/// A family of requests other than tools that a deployment may open through the proxy. An
/// opened family is forwarded as it is, without a token: open only what every client may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Opened {
    /// `resources/list`, `resources/templates/list`, `resources/read`.
    Resources,
    /// `prompts/list`, `prompts/get`.
    Prompts,
    /// `completion/complete`.
    Completion,
}

impl std::str::FromStr for Opened {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "resources" => Ok(Opened::Resources),
            "prompts" => Ok(Opened::Prompts),
            "completion" => Ok(Opened::Completion),
            other => Err(format!(
                "`{other}` cannot be opened (resources, prompts or completion)"
            )),
        }
    }
}

/// What the proxy lets through besides verified tool calls.
#[derive(Clone, Debug, Default)]
pub struct ProxyPolicy {
    /// Show only the guarded tools in `tools/list`.
    pub list_only_guarded: bool,
    /// The families opened without a token (none by default).
    pub open: BTreeSet<Opened>,
}

/// The proxy's MCP server: decides each request and forwards what it lets through.
#[derive(Clone)]
pub struct McpProxy {
    guard: McpGuard,
    upstream: Peer<RoleClient>,
    relay: Arc<upstream::Relay>,
    info: Arc<ServerConfig>,
    guarded: Arc<BTreeSet<String>>,
    policy: Arc<ProxyPolicy>,
}

impl std::fmt::Debug for McpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpProxy")
            .field("guard", &self.guard)
            .field("guarded", &self.guarded)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The error a refused request gets: `-32601` (method not found), naming the method.
fn refused(method: &str) -> ErrorData {
    ErrorData::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!("{method} is refused by the agentcap proxy"),
        None,
    )
}

/// Keeps a progress lease for [`PROGRESS_GRACE`] after it is dropped.
struct ProgressGrace(Option<upstream::ProgressLease>);

/// How long progress of a finished call is still relayed.
const PROGRESS_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

impl Drop for ProgressGrace {
    fn drop(&mut self) {
        if let Some(lease) = self.0.take() {
            tokio::spawn(async move {
                tokio::time::sleep(PROGRESS_GRACE).await;
                drop(lease);
            });
        }
    }
}

/// The `_meta` keys a forwarded call keeps: W3C trace context and baggage. Everything else — the
/// agentcap keys (the client's token and proof never travel upstream), the progress token (the
/// upstream request has its own), the protocol keys (the proxy's upstream session is its own)
/// and any other key (an input the proof does not cover) — stays with the proxy.
const FORWARDED_META: [&str; 3] = ["traceparent", "tracestate", "baggage"];

fn forwarded_meta(meta: &RequestMetaObject) -> Option<RequestMetaObject> {
    let mut out = RequestMetaObject::default();
    for key in FORWARDED_META {
        if let Some(v) = meta.0 .0.get(key) {
            out.0 .0.insert(key.to_owned(), v.clone());
        }
    }
    (!out.0 .0.is_empty()).then_some(out)
}

/// An upstream failure as the client sees it: the upstream's own JSON-RPC error, or an
/// internal error that says the upstream is unavailable.
fn upstream_error(e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(e) => e,
        other => {
            tracing::warn!(agentcap.upstream_error = %other, "upstream request failed");
            ErrorData::internal_error("the upstream MCP server is unavailable", None)
        }
    }
}

impl McpProxy {
    /// A proxy deciding with `guard` in front of `upstream` (connected and initialized: see
    /// [`connect_child`], [`connect_http`]). `guarded` are the tools the guard's verifier
    /// guards (shown by a filtered `tools/list`).
    pub fn new(
        guard: McpGuard,
        upstream: &Upstream,
        guarded: BTreeSet<String>,
        policy: ProxyPolicy,
    ) -> Self {
        let peer = upstream.peer().clone();
        let mut info = ServerConfig::new(ServerCapabilities::default());
        if let Some(up) = peer.peer_info() {
            let mut caps = ServerCapabilities::default();
            caps.tools = up.capabilities.tools.clone();
            if policy.open.contains(&Opened::Resources) {
                caps.resources = up.capabilities.resources.clone();
            }
            if policy.open.contains(&Opened::Prompts) {
                caps.prompts = up.capabilities.prompts.clone();
            }
            if policy.open.contains(&Opened::Completion) {
                caps.completions = up.capabilities.completions.clone();
            }
            info = ServerConfig::new(caps);
            if let Some(server) = &up.server_info {
                info = info.with_server_info(server.clone());
            }
            if let Some(instructions) = &up.instructions {
                info = info.with_instructions(instructions.clone());
            }
        }
        Self {
            guard,
            upstream: peer,
            relay: upstream.service().relay().clone(),
            info: Arc::new(info),
            guarded: Arc::new(guarded),
            policy: Arc::new(policy),
        }
    }

    fn opened(&self, family: Opened, method: &str) -> Result<(), ErrorData> {
        if self.policy.open.contains(&family) {
            Ok(())
        } else {
            tracing::info!(
                mcp.method.name = method,
                "request refused by the agentcap proxy"
            );
            Err(refused(method))
        }
    }
}

impl ServerHandler for McpProxy {
    fn get_info(&self) -> ServerConfig {
        (*self.info).clone()
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.relay.join(context.peer);
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut list = self
            .upstream
            .list_tools(request)
            .await
            .map_err(upstream_error)?;
        if self.policy.list_only_guarded {
            list.tools
                .retain(|t| self.guarded.contains(t.name.as_ref()));
        }
        Ok(list)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let authorized = match self.guard.check_async(&request, &context.meta).await {
            Ok(a) => a,
            Err(denied) => return Ok(McpGuard::denial(&denied).into()),
        };
        // Forward what was verified: the verified arguments, and none of the agentcap keys.
        let mut forward = CallToolRequestParams::new(request.name.clone());
        forward.arguments = authorized.call().args().as_object().cloned();
        forward.meta = forwarded_meta(&context.meta);
        // A call cancelled while it was being verified is not sent (it stays an allow record:
        // an allow means authorized, not executed).
        if context.ct.is_cancelled() {
            return Err(ErrorData::new(ErrorCode::INTERNAL_ERROR, "cancelled", None));
        }
        let client_progress = context.meta.get_progress_token();
        let request_upstream = ClientRequest::CallToolRequest(CallToolRequest::new(forward));
        let handle = self
            .upstream
            .send_cancellable_request(request_upstream, PeerRequestOptions::no_options())
            .await
            .map_err(upstream_error)?;
        // rmcp gives the upstream request a progress token of its own: progress under it
        // reaches this session only, under the client's token. The lease is kept a moment
        // after the call ends: the upstream's last progress, sent just before its response,
        // may be handled after it.
        let lease = client_progress.map(|client_token| {
            self.relay.lease(
                handle.progress_token.clone(),
                context.peer.clone(),
                client_token,
            )
        });
        let _grace = ProgressGrace(lease);
        let upstream_id = handle.id.clone();
        let result = tokio::select! {
            biased;
            () = context.ct.cancelled() => {
                tracing::info!(gen_ai.tool.name = %request.name, "call cancelled by the client");
                let cancel = CancelledNotificationParam::new(
                    Some(upstream_id),
                    Some("cancelled by the client".to_owned()),
                );
                let _ = self.upstream.notify_cancelled(cancel).await;
                return Err(ErrorData::new(ErrorCode::INTERNAL_ERROR, "cancelled", None));
            }
            result = handle.await_response() => result,
        };
        match result.map_err(upstream_error)? {
            ServerResult::CallToolResult(mut r) => {
                // Only the proxy speaks for agentcap: an upstream cannot fake a denial class.
                if let Some(meta) = &mut r.meta {
                    meta.0.retain(|k, _| !k.starts_with(META_PREFIX));
                }
                Ok(CallToolResponse::Complete(r))
            }
            // An upstream asking the client for input (sampling, elicitation, roots) would
            // reach past the guard; a task would be polled with `tasks/*`, which is refused.
            ServerResult::InputRequiredResult(_) => Err(refused("input requested by the upstream")),
            _ => Err(upstream_error(ServiceError::UnexpectedResponse)),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.opened(Opened::Resources, "resources/list")?;
        self.upstream
            .list_resources(request)
            .await
            .map_err(upstream_error)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.opened(Opened::Resources, "resources/templates/list")?;
        self.upstream
            .list_resource_templates(request)
            .await
            .map_err(upstream_error)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.opened(Opened::Resources, "resources/read")?;
        match self.upstream.read_resource_once(request).await {
            Ok(ReadResourceResponse::Complete(r)) => Ok(r.into()),
            Ok(_) => Err(refused("input requested by the upstream")),
            Err(e) => Err(upstream_error(e)),
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.opened(Opened::Prompts, "prompts/list")?;
        self.upstream
            .list_prompts(request)
            .await
            .map_err(upstream_error)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.opened(Opened::Prompts, "prompts/get")?;
        match self.upstream.get_prompt_once(request).await {
            Ok(GetPromptResponse::Complete(r)) => Ok(r.into()),
            Ok(_) => Err(refused("input requested by the upstream")),
            Err(e) => Err(upstream_error(e)),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        self.opened(Opened::Completion, "completion/complete")?;
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(request));
        match self.upstream.send_request(request).await {
            Ok(ServerResult::CompleteResult(result)) => Ok(result),
            Ok(_) => Err(upstream_error(ServiceError::UnexpectedResponse)),
            Err(e) => Err(upstream_error(e)),
        }
    }
}
