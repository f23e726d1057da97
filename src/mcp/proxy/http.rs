//! The proxy's Streamable HTTP front: rmcp's Streamable HTTP service (sessions, SSE or JSON
//! responses, `Host` validation against DNS rebinding, a body-size limit) on a hyper server
//! with a connection cap and a header-read timeout.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::McpProxy;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// A client has this long to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A session idle this long is closed.
const SESSION_IDLE: Duration = Duration::from_secs(60);

/// Serves `proxy` over Streamable HTTP on `listener` (every path), one MCP session per client,
/// until the task is dropped. At most 256 connections are served at once; a client must send its
/// headers within 10 s; a session idle for 60 s is closed; a body over `max_body_bytes` gets
/// `413`; a request whose `Host` is not a loopback name is refused (rmcp's DNS-rebinding guard
/// for browsers — not access control: bind to loopback, or put an authenticating gateway in
/// front). A failed `accept` (e.g. out of file descriptors) is logged and retried.
///
/// # Errors
/// None so far: the loop runs until the task is dropped (the signature leaves room for a
/// listener that can end).
pub async fn serve_http(
    proxy: McpProxy,
    listener: TcpListener,
    max_body_bytes: usize,
) -> std::io::Result<()> {
    let mut config = StreamableHttpServerConfig::default();
    config.max_request_body_bytes = max_body_bytes;
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(SESSION_IDLE);
    let service = StreamableHttpService::new(move || Ok(proxy.clone()), Arc::new(sessions), config);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(agentcap.proxy_error = %e, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(agentcap.proxy_error = %e, "HTTP connection ended");
            }
            drop(slot);
        });
    }
}
