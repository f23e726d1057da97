//! The decision for one `tools/call`: read the call and its `_meta`, verify, and say what a
//! denied caller sees. [`GuardedServer`](super::GuardedServer) and the proxy both decide here.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, MetaObject, RequestMetaObject,
};
use serde_json::Value;

use super::{META_APPROVALS, META_CAUSE, META_CLASS, META_LABELS, META_PROOF, META_TOKEN};
use crate::approval::Approval;
use crate::call::ToolCall;
use crate::decision::{Authorized, Denied, DenyClass};
use crate::digest::Digest;
use crate::ids::Label;
use crate::proof::CallProof;
use crate::verify::Verifier;

/// The most approvals one call may carry; more is a malformed call.
const MAX_APPROVALS: usize = 32;

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
        let malformed = |why: &str| self.verifier.reject_malformed(&request.name, why);
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
                .and_then(|c| c.parse::<Digest>().ok())
                .ok_or_else(|| malformed("malformed agentcap/cause"))?;
            call = call.with_cause(cause);
        }
        let approvals = match meta.0 .0.get(META_APPROVALS) {
            None => Vec::new(),
            Some(list) => {
                let texts: Vec<String> = serde_json::from_value(list.clone())
                    .map_err(|_| malformed("malformed agentcap/approvals"))?;
                if texts.len() > MAX_APPROVALS {
                    return Err(malformed("too many agentcap/approvals"));
                }
                texts
                    .iter()
                    .map(|t| Approval::from_base64(t))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| malformed("malformed agentcap/approvals"))?
            }
        };
        self.verifier
            .verify_with_approvals(token, &call, &proof, &approvals)
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
    /// by the class, with the class also under [`META_CLASS`] in the result's `_meta`. Nothing
    /// else about the reason leaves the server.
    pub fn denial(denied: &Denied) -> CallToolResult {
        let class = denied.class().code();
        let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
            "{} ({class})",
            Denied::MESSAGE
        ))]);
        let mut meta = MetaObject::new();
        meta.0.insert(META_CLASS.to_owned(), Value::from(class));
        result.meta = Some(meta);
        result
    }
}

/// The class of a denial result made by [`McpGuard::denial`], read from its `_meta`; `None` for
/// any other result. For clients: retry on `NeedsApproval` (with approvals) and
/// `StateUnavailable` (with a new proof), not on `Denied`.
pub fn denial_class(result: &CallToolResult) -> Option<DenyClass> {
    if result.is_error != Some(true) {
        return None;
    }
    match result.meta.as_ref()?.0.get(META_CLASS)?.as_str()? {
        "denied" => Some(DenyClass::Denied),
        "needs_approval" => Some(DenyClass::NeedsApproval),
        "state_unavailable" => Some(DenyClass::StateUnavailable),
        _ => None,
    }
}
