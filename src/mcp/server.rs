//! A guard around an rmcp server written in Rust: every `tools/call` is decided by
//! [`McpGuard`] before the server sees it.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::McpGuard;

/// Wraps an rmcp server so that every `tools/call` is verified before it reaches the server;
/// a denied call returns [`McpGuard::denial`] (a tool error with the generic text and the
/// class) and never runs. The verification runs on tokio's blocking pool
/// ([`McpGuard::check_async`]). The wrapped server sees the [`Authorized`](crate::Authorized)
/// value in the request context's extensions (as `Arc<Authorized>`). Server info and the tool
/// list are forwarded; other capabilities are not (a server with resources or prompts calls
/// [`McpGuard::check`] in its own `call_tool`).
#[derive(Clone, Debug)]
pub struct GuardedServer<S> {
    inner: S,
    guard: McpGuard,
}

impl<S: ServerHandler> GuardedServer<S> {
    /// Guards `inner` with `guard`.
    pub fn new(inner: S, guard: McpGuard) -> Self {
        Self { inner, guard }
    }
}

impl<S: ServerHandler> ServerHandler for GuardedServer<S> {
    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.inner.list_tools(request, context).await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match self.guard.check_async(&request, &context.meta).await {
            Ok(authorized) => {
                context.extensions.insert(Arc::new(authorized));
                self.inner.call_tool(request, context).await
            }
            Err(denied) => Ok(McpGuard::denial(&denied).into()),
        }
    }
}
