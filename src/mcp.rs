//! The MCP binding (feature `mcp`, on the official Rust SDK `rmcp`): a server-side guard that
//! verifies every `tools/call` before the tool runs, and a client-side helper that attaches a
//! token and a fresh proof to each call.
//!
//! Wire format: the request's `_meta` carries [`META_TOKEN`] (token text), [`META_PROOF`]
//! (proof text), and, when the call has them, [`META_LABELS`] (array of label strings) and
//! [`META_CAUSE`] (64 hex digits). The executor id (audience) is the server's configured id.
//! A missing or invalid one is a tool error result with the generic denial text; the tool body
//! never runs; the operator reason goes to `tracing` (and, once the call reaches the verifier,
//! to its audit log). See `docs/mcp.md`.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, RequestMetaObject, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use time::OffsetDateTime;

use crate::call::ToolCall;
use crate::decision::{Authorized, Denied};
use crate::digest::Digest;
use crate::error::Error;
use crate::ids::{ExecutorId, Label};
use crate::keys::AgentKey;
use crate::proof::CallProof;
use crate::token::Token;
use crate::verify::Verifier;

/// `_meta` key of the token text.
pub const META_TOKEN: &str = "agentcap/token";
/// `_meta` key of the call proof text.
pub const META_PROOF: &str = "agentcap/proof";
/// `_meta` key of the call's data labels (array of strings).
pub const META_LABELS: &str = "agentcap/labels";
/// `_meta` key of the call's cause (hex digest).
pub const META_CAUSE: &str = "agentcap/cause";

/// Verifies MCP tool calls with a [`Verifier`] whose audience is this server's id.
#[derive(Clone, Debug)]
pub struct McpGuard {
    verifier: Arc<Verifier>,
}

fn meta_str<'a>(meta: &'a RequestMetaObject, key: &str) -> Option<&'a str> {
    meta.0 .0.get(key).and_then(Value::as_str)
}

impl McpGuard {
    /// A guard around `verifier`.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }

    /// Verifies one `tools/call`: the tool name and arguments from the request, the token,
    /// proof, labels and cause from its `_meta` (the request's own, else the context's).
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
        let malformed = |why: &str| {
            let reason = crate::decision::DenyReason::MalformedCall(why.to_owned());
            tracing::warn!(
                agentcap.decision = "deny",
                gen_ai.tool.name = %request.name,
                agentcap.reason = reason.code(),
                agentcap.detail = %reason,
                mcp.method.name = "tools/call",
            );
            Denied::new(reason, None)
        };
        let token =
            meta_str(meta, META_TOKEN).ok_or_else(|| malformed("no agentcap/token in _meta"))?;
        let proof =
            meta_str(meta, META_PROOF).ok_or_else(|| malformed("no agentcap/proof in _meta"))?;
        let proof =
            CallProof::from_base64(proof).map_err(|_| malformed("malformed agentcap/proof"))?;
        let args = Value::Object(request.arguments.clone().unwrap_or_default());
        let mut call = ToolCall::new(&request.name, args).map_err(|e| malformed(&e.to_string()))?;
        if let Some(labels) = meta.0 .0.get(META_LABELS) {
            let labels: Vec<String> = serde_json::from_value(labels.clone())
                .map_err(|_| malformed("malformed agentcap/labels"))?;
            let labels = labels
                .iter()
                .map(|l| Label::new(l.as_str()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| malformed(&e.to_string()))?;
            call = call.with_labels(labels);
        }
        if let Some(cause) = meta.0 .0.get(META_CAUSE) {
            let cause = cause
                .as_str()
                .ok_or_else(|| malformed("malformed agentcap/cause"))?;
            call = call.with_cause(
                cause
                    .parse::<Digest>()
                    .map_err(|_| malformed("malformed agentcap/cause"))?,
            );
        }
        self.verifier.verify(token, &call, &proof)
    }
}

/// Wraps an rmcp server so that every `tools/call` is verified before it reaches the server;
/// a denied call returns a tool error with [`Denied::MESSAGE`] and never runs. The wrapped
/// server sees the [`Authorized`] value in the request context's extensions (as
/// `Arc<Authorized>`). Server info and the tool list are forwarded; other capabilities are not
/// (a server with resources or prompts calls [`McpGuard::check`] in its own `call_tool`).
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
        match self.guard.check(&request, &context.meta) {
            Ok(authorized) => {
                context.extensions.insert(Arc::new(authorized));
                self.inner.call_tool(request, context).await
            }
            Err(_) => Ok(CallToolResult::error(vec![ContentBlock::text(Denied::MESSAGE)]).into()),
        }
    }
}

/// The client side: attaches the token and a fresh proof (and the framework's labels and
/// cause) to an outgoing `tools/call`.
#[derive(Debug)]
pub struct McpCaller {
    token: Token,
    token_text: String,
    key: AgentKey,
    audience: ExecutorId,
}

impl McpCaller {
    /// A caller holding `token` with its holder key, calling the server `audience`.
    ///
    /// # Errors
    /// [`Error::Biscuit`] if the token cannot be encoded.
    pub fn new(token: Token, key: AgentKey, audience: ExecutorId) -> Result<Self, Error> {
        let token_text = token.to_base64()?;
        Ok(Self {
            token,
            token_text,
            key,
            audience,
        })
    }

    /// Builds the `tools/call` parameters for `call`, signed now.
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the arguments cannot be canonicalised.
    pub fn params(&self, call: &ToolCall) -> Result<CallToolRequestParams, Error> {
        self.params_at(call, OffsetDateTime::now_utc())
    }

    /// As [`McpCaller::params`], signed at `now`.
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the arguments cannot be canonicalised.
    pub fn params_at(
        &self,
        call: &ToolCall,
        now: OffsetDateTime,
    ) -> Result<CallToolRequestParams, Error> {
        let proof = CallProof::sign(&self.key, &self.token, &self.audience, call, now)?;
        let mut meta = RequestMetaObject::new();
        meta.0 .0.insert(
            META_TOKEN.to_owned(),
            Value::String(self.token_text.clone()),
        );
        meta.0
             .0
            .insert(META_PROOF.to_owned(), Value::String(proof.to_base64()));
        if !call.labels().is_empty() {
            let labels: Vec<Value> = call
                .labels()
                .iter()
                .map(|l| Value::String(l.to_string()))
                .collect();
            meta.0
                 .0
                .insert(META_LABELS.to_owned(), Value::Array(labels));
        }
        if let Some(cause) = call.cause() {
            meta.0
                 .0
                .insert(META_CAUSE.to_owned(), Value::String(cause.to_string()));
        }
        let mut params = CallToolRequestParams::new(call.tool().to_string());
        params.arguments = call.args().as_object().cloned();
        params.meta = Some(meta);
        Ok(params)
    }
}
