//! The proxy's Streamable HTTP front: rmcp's Streamable HTTP service (sessions, SSE or JSON
//! responses, `Host` validation against DNS rebinding, a body-size limit) on a hyper server.

use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;

use super::McpProxy;

/// Serves `proxy` over Streamable HTTP on `listener` (every path), one MCP session per client,
/// until the listener fails. Requests whose `Host` is not a loopback name are refused (rmcp's
/// DNS-rebinding guard), and bodies over `max_body_bytes` get `413`.
///
/// # Errors
/// Accepting a connection failed.
pub async fn serve_http(
    proxy: McpProxy,
    listener: TcpListener,
    max_body_bytes: usize,
) -> std::io::Result<()> {
    let mut config = StreamableHttpServerConfig::default();
    config.max_request_body_bytes = max_body_bytes;
    let service = StreamableHttpService::new(
        move || Ok(proxy.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(e) = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(agentcap.proxy_error = %e, "HTTP connection ended");
            }
        });
    }
}
