//! The `_meta` wire format, independent of any MCP SDK: what a caller attaches to a tool call
//! (token, proof, labels, cause, approvals) and what a denied caller is told (the class). The
//! rmcp binding ([`crate::mcp`], feature `mcp`), the proxy and the Python package all read and
//! write it here, so every executor decides a call from `_meta` the same way.

use serde_json::{Map, Value};

use crate::approval::Approval;
use crate::call::ToolCall;
use crate::decision::{Authorized, Denied, DenyClass};
use crate::digest::Digest;
use crate::ids::Label;
use crate::proof::CallProof;
use crate::verify::Verifier;

/// `_meta` key of the token text.
pub const META_TOKEN: &str = "agentcap/token";
/// `_meta` key of the call proof text.
pub const META_PROOF: &str = "agentcap/proof";
/// `_meta` key of the call's data labels (array of strings).
pub const META_LABELS: &str = "agentcap/labels";
/// `_meta` key of the call's cause (hex digest).
pub const META_CAUSE: &str = "agentcap/cause";
/// `_meta` key of approvals of the call (array of [`Approval::to_base64`] texts).
pub const META_APPROVALS: &str = "agentcap/approvals";
/// `_meta` key of a denial result: the denial's class (`denied`, `needs_approval`,
/// `state_unavailable`), the one thing about a denial a caller is told.
pub const META_CLASS: &str = "agentcap/class";
/// The prefix of every agentcap `_meta` key; a proxy never forwards these upstream.
pub const META_PREFIX: &str = "agentcap/";

/// The most approvals one call may carry; more is a malformed call.
pub const MAX_APPROVALS: usize = 32;

/// Decides one tool call from its name, arguments and `_meta` object. A `_meta` that is missing
/// or malformed is denied through [`Verifier::reject_malformed`] (an audit record like any
/// other decision); otherwise [`Verifier::verify_with_approvals`] decides.
///
/// Runs on the calling thread and may block (a remote state store, an fsync).
///
/// # Errors
/// A [`Denied`] for anything missing, malformed or not authorized.
pub fn check_call(
    verifier: &Verifier,
    name: &str,
    arguments: Option<&Map<String, Value>>,
    meta: &Map<String, Value>,
) -> Result<Authorized, Denied> {
    let malformed = |why: &str| verifier.reject_malformed(name, why);
    let text = |key: &str| meta.get(key).and_then(Value::as_str);
    let token = text(META_TOKEN).ok_or_else(|| malformed("no agentcap/token in _meta"))?;
    let proof = text(META_PROOF).ok_or_else(|| malformed("no agentcap/proof in _meta"))?;
    let proof = CallProof::from_base64(proof).map_err(|_| malformed("malformed agentcap/proof"))?;
    let args = Value::Object(arguments.cloned().unwrap_or_default());
    let mut call = ToolCall::new(name, args).map_err(|e| malformed(&e.to_string()))?;
    if let Some(labels) = meta.get(META_LABELS) {
        let labels: Vec<String> = serde_json::from_value(labels.clone())
            .map_err(|_| malformed("malformed agentcap/labels"))?;
        let labels = labels
            .iter()
            .map(|l| Label::new(l.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| malformed(&e.to_string()))?;
        call = call.with_labels(labels);
    }
    if let Some(cause) = meta.get(META_CAUSE) {
        let cause = cause
            .as_str()
            .and_then(|c| c.parse::<Digest>().ok())
            .ok_or_else(|| malformed("malformed agentcap/cause"))?;
        call = call.with_cause(cause);
    }
    let approvals = match meta.get(META_APPROVALS) {
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
    verifier.verify_with_approvals(token, &call, &proof, &approvals)
}

/// The agentcap keys of a call's `_meta`: `token_text`, the proof, and the call's labels, cause
/// and `approvals` when it has them.
pub fn call_meta(
    token_text: &str,
    proof: &CallProof,
    call: &ToolCall,
    approvals: &[Approval],
) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert(META_TOKEN.to_owned(), Value::from(token_text));
    meta.insert(META_PROOF.to_owned(), Value::from(proof.to_base64()));
    if !call.labels().is_empty() {
        let labels = call.labels().iter().map(|l| Value::from(l.to_string()));
        meta.insert(META_LABELS.to_owned(), labels.collect());
    }
    if let Some(cause) = call.cause() {
        meta.insert(META_CAUSE.to_owned(), Value::from(cause.to_string()));
    }
    if !approvals.is_empty() {
        let texts = approvals.iter().map(|a| Value::from(a.to_base64()));
        meta.insert(META_APPROVALS.to_owned(), texts.collect());
    }
    meta
}

/// What a denied caller is told: the text (the generic message and the class) and the result's
/// `_meta` (the class under [`META_CLASS`]). Nothing else about the reason leaves the executor.
pub fn denial(denied: &Denied) -> (String, Map<String, Value>) {
    let class = denied.class().code();
    let mut meta = Map::new();
    meta.insert(META_CLASS.to_owned(), Value::from(class));
    (format!("{} ({class})", Denied::MESSAGE), meta)
}

/// The class of a denial from a result's `is_error` flag and `_meta`; `None` for any other
/// result.
pub fn denial_class(is_error: bool, meta: Option<&Map<String, Value>>) -> Option<DenyClass> {
    if !is_error {
        return None;
    }
    match meta?.get(META_CLASS)?.as_str()? {
        "denied" => Some(DenyClass::Denied),
        "needs_approval" => Some(DenyClass::NeedsApproval),
        "state_unavailable" => Some(DenyClass::StateUnavailable),
        _ => None,
    }
}
