//! The decision for one `tools/call`: read the call and its `_meta`, verify, and say what a
//! denied caller sees. [`GuardedServer`](super::GuardedServer) and the proxy both decide here.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, MetaObject, RequestMetaObject,
};

use crate::decision::{Authorized, Denied, DenyClass};
use crate::verify::Verifier;
use crate::wire::{self, META_TOKEN};

/// Verifies MCP tool calls with a [`Verifier`] whose audience is this server's id.
#[derive(Clone, Debug)]
pub struct McpGuard {
    verifier: Arc<Verifier>,
}

impl McpGuard {
    /// A guard around `verifier`.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }

    /// The verifier this guard decides with.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// Verifies one `tools/call`: the tool name and arguments from the request, the token,
    /// proof, labels, cause and approvals from its `_meta` (the request's own, else the
    /// context's). A `_meta` that is missing or malformed is denied through
    /// [`Verifier::reject_malformed`], so it is an audit record like any other decision.
    ///
    /// This runs on the calling thread; with a remote state store or an fsync-per-record audit
    /// log it blocks: async code calls [`McpGuard::check_async`].
    ///
    /// # Errors
    /// A [`Denied`] for anything missing, malformed or not authorized.
    pub fn check(
        &self,
        request: &CallToolRequestParams,
        meta: &RequestMetaObject,
    ) -> Result<Authorized, Denied> {
        let meta = match &request.meta {
            Some(m) if m.0 .0.contains_key(META_TOKEN) => m,
            _ => meta,
        };
        wire::check_call(
            &self.verifier,
            &request.name,
            request.arguments.as_ref(),
            &meta.0 .0,
        )
    }

    /// [`McpGuard::check`] on tokio's blocking pool, so that a Redis round trip or an fsync
    /// never stalls the async runtime. Needs a tokio runtime (rmcp servers run on one).
    ///
    /// # Errors
    /// A [`Denied`] for anything missing, malformed or not authorized (also if the blocking
    /// task could not complete).
    pub async fn check_async(
        &self,
        request: &CallToolRequestParams,
        meta: &RequestMetaObject,
    ) -> Result<Authorized, Denied> {
        let guard = self.clone();
        let (request, meta) = (request.clone(), meta.clone());
        let name = request.name.clone();
        match tokio::task::spawn_blocking(move || guard.check(&request, &meta)).await {
            Ok(decision) => decision,
            Err(e) => Err(self
                .verifier
                .reject_malformed(&name, &format!("verification task failed: {e}"))),
        }
    }

    /// What a denied caller receives: a tool error whose text is [`Denied::MESSAGE`] followed
    /// by the class, with the class also under [`META_CLASS`](crate::wire::META_CLASS) in the result's `_meta`. Nothing
    /// else about the reason leaves the server.
    pub fn denial(denied: &Denied) -> CallToolResult {
        let (text, meta) = wire::denial(denied);
        let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
        result.meta = Some(MetaObject(meta));
        result
    }
}

/// The class of a denial result made by [`McpGuard::denial`], read from its `_meta`; `None` for
/// any other result. For clients: retry on `NeedsApproval` (with approvals) and
/// `StateUnavailable` (with a new proof), not on `Denied`.
pub fn denial_class(result: &CallToolResult) -> Option<DenyClass> {
    wire::denial_class(
        result.is_error == Some(true),
        result.meta.as_ref().map(|m| &m.0),
    )
}
