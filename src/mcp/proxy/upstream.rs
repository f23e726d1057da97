//! The upstream side of the proxy: the MCP server it guards, as a child process over stdio or
//! a Streamable HTTP server, and the client handler that refuses what the server asks of the
//! client.

// Sampling and roots are deprecated in MCP 2026-07-28, but servers on older revisions still
// send them: the proxy refuses them explicitly.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ErrorCode,
    ListRootsResult, ProgressNotificationParam, ProgressToken,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, RoleClient, RoleServer, ServiceExt};

/// A connected, initialized upstream server.
pub type Upstream = RunningService<RoleClient, UpstreamClient>;

/// The proxy as the upstream server's client: it refuses every request the server sends
/// (sampling, elicitation, roots: they would reach past the guard to the client), relays a
/// call's progress to the client session that made the call, and tells every client session
/// when the server's tool, resource or prompt list changed. Server log messages stay with the
/// server (one upstream serves every session: a message cannot be attributed to one client).
#[derive(Clone, Debug, Default)]
pub struct UpstreamClient {
    relay: Arc<Relay>,
}

impl UpstreamClient {
    pub(crate) fn relay(&self) -> &Arc<Relay> {
        &self.relay
    }
}

/// Who is waiting for what the upstream reports: the progress tokens the proxy issued for
/// forwarded calls (each mapped to the client session and the client's own token), and the
/// client sessions.
#[derive(Default)]
pub(crate) struct Relay {
    progress: Mutex<HashMap<ProgressToken, (Peer<RoleServer>, ProgressToken)>>,
    sessions: Mutex<Vec<Peer<RoleServer>>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

/// The mapping of one upstream request's progress token; dropping it forgets the mapping.
pub(crate) struct ProgressLease {
    relay: Arc<Relay>,
    key: ProgressToken,
}

impl Drop for ProgressLease {
    fn drop(&mut self) {
        if let Ok(mut map) = self.relay.progress.lock() {
            map.remove(&self.key);
        }
    }
}

impl Relay {
    /// Progress under `upstream_token` (the forwarded request's) goes to `peer` under
    /// `client_token`, until the lease is dropped.
    pub(crate) fn lease(
        self: &Arc<Self>,
        upstream_token: ProgressToken,
        peer: Peer<RoleServer>,
        client_token: ProgressToken,
    ) -> ProgressLease {
        let key = upstream_token;
        if let Ok(mut map) = self.progress.lock() {
            map.insert(key.clone(), (peer, client_token));
        }
        ProgressLease {
            relay: self.clone(),
            key,
        }
    }

    /// Remembers a client session (to tell it about list changes).
    pub(crate) fn join(&self, peer: Peer<RoleServer>) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|p| !p.is_transport_closed());
            sessions.push(peer);
        }
    }

    fn sessions(&self) -> Vec<Peer<RoleServer>> {
        self.sessions
            .lock()
            .map(|mut s| {
                s.retain(|p| !p.is_transport_closed());
                s.clone()
            })
            .unwrap_or_default()
    }
}

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
    async fn on_progress(
        &self,
        mut params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let target = self
            .relay
            .progress
            .lock()
            .ok()
            .and_then(|map| map.get(&params.progress_token).cloned());
        if let Some((peer, client_token)) = target {
            params.progress_token = client_token;
            let _ = peer.notify_progress(params).await;
        }
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        for peer in self.relay.sessions() {
            let _ = peer.notify_tool_list_changed().await;
        }
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        for peer in self.relay.sessions() {
            let _ = peer.notify_resource_list_changed().await;
        }
    }

    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        for peer in self.relay.sessions() {
            let _ = peer.notify_prompt_list_changed().await;
        }
    }

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
    UpstreamClient::default()
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
    UpstreamClient::default()
        .serve(transport)
        .await
        .map_err(|e| std::io::Error::other(format!("upstream initialize failed: {e}")))
}
