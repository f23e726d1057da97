//! Tokens, calls, proofs and approvals, with their text forms.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use time::OffsetDateTime;

use crate::grant::{instant, Constraint, Narrowing};
use crate::keys::{agent_public, roots, AgentKey, AgentPublicKey};
use crate::{err, json};

/// A capability token. `to_text()` is what travels; `Token.from_text(text, roots)` reads and
/// checks one against trusted roots.
#[pyclass(module = "agentcap", frozen)]
#[derive(Clone)]
pub struct Token(pub(crate) agentcap::Token);

impl From<agentcap::Token> for Token {
    fn from(t: agentcap::Token) -> Self {
        Self(t)
    }
}

fn digest(obj: &Bound<'_, PyAny>) -> PyResult<agentcap::Digest> {
    obj.extract::<String>()
        .map_err(|_| err("a digest is 64 lowercase hex digits"))?
        .parse()
        .map_err(err)
}

#[pymethods]
impl Token {
    /// Reads a token's text, checking its signatures against `roots` (RootPublicKey objects or
    /// their texts).
    #[staticmethod]
    fn from_text(text: &str, roots: &Bound<'_, PyAny>) -> PyResult<Self> {
        agentcap::Token::from_base64(text, &self::roots(roots)?)
            .map(Self)
            .map_err(err)
    }
    /// The text form (base64url).
    fn to_text(&self) -> PyResult<String> {
        self.0.to_base64().map_err(err)
    }
    /// The token id (hex): what proofs and approvals name.
    #[getter]
    fn id(&self) -> String {
        self.0.id().to_string()
    }
    /// The revocation id of every block (hex), authority first.
    #[getter]
    fn revocation_ids(&self) -> Vec<String> {
        self.0
            .revocation_ids()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
    /// A narrower token for the same holder (an anonymous block).
    fn attenuate(&self, narrowing: PyRef<'_, Narrowing>) -> PyResult<Self> {
        self.0.attenuate(&narrowing.0).map(Self).map_err(err)
    }
    /// Hands the token to another agent: `holder` (the current holder's key) signs a block
    /// naming `to` (the next holder's public key) and `to_agent` (its id), with `cause` (the
    /// digest of the message that led to the delegation) and an optional narrowing.
    #[pyo3(signature = (holder, to, to_agent, cause, narrowing=None))]
    fn delegate(
        &self,
        holder: PyRef<'_, AgentKey>,
        to: &Bound<'_, PyAny>,
        to_agent: &str,
        cause: &Bound<'_, PyAny>,
        narrowing: Option<PyRef<'_, Narrowing>>,
    ) -> PyResult<Self> {
        let narrowing = narrowing.map(|n| n.0.clone()).unwrap_or_default();
        self.0
            .delegate(
                &holder.0,
                agent_public(to)?,
                to_agent.parse().map_err(err)?,
                digest(cause)?,
                &narrowing,
            )
            .map(Self)
            .map_err(err)
    }
    /// What the token allows in effect, and how it got to its holder, as a dict.
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.0.describe().map_err(err)?;
        let out = PyDict::new(py);
        out.set_item("root_agent", d.root_agent.to_string())?;
        out.set_item("holder", d.holder.to_string())?;
        out.set_item("max_depth", d.max_depth)?;
        out.set_item("expires_at", d.expires_at.unix_timestamp())?;
        let hops = PyList::empty(py);
        for h in &d.hops {
            let hop = PyDict::new(py);
            hop.set_item("agent", h.agent.to_string())?;
            hop.set_item("delegator", h.delegator.to_string())?;
            hop.set_item("holder", h.holder.to_string())?;
            hop.set_item("cause", h.cause.to_string())?;
            hops.append(hop)?;
        }
        out.set_item("hops", hops)?;
        let tools = PyDict::new(py);
        for t in &d.tools {
            let tool = PyDict::new(py);
            let constraints = PyDict::new(py);
            if let Some(by_pointer) = d.constraints.get(t) {
                for (pointer, list) in by_pointer {
                    let cs: Vec<Constraint> = list.iter().cloned().map(Constraint).collect();
                    constraints.set_item(pointer, cs)?;
                }
            }
            tool.set_item("constraints", constraints)?;
            tool.set_item("other_args", d.open_tools.contains(t))?;
            tool.set_item("budget", d.budgets.get(t))?;
            tool.set_item("rates", d.rates.get(t).cloned().unwrap_or_default())?;
            tool.set_item("approvals", d.approvals.get(t))?;
            tools.set_item(t.as_str(), tool)?;
        }
        out.set_item("tools", tools)?;
        out.set_item("fan_out", d.fan_out)?;
        out.set_item("max_hops", d.max_hops)?;
        out.set_item("seen_labels", d.seen_labels.iter().collect::<Vec<_>>())?;
        out.set_item("blocks", d.blocks.len())?;
        Ok(out)
    }
    fn __repr__(&self) -> String {
        format!("Token(id={})", self.0.id())
    }
}

/// One tool call: the tool, its arguments (a dict of JSON values), and the labels and cause the
/// framework attaches (never the model).
#[pyclass(module = "agentcap", frozen)]
#[derive(Clone)]
pub struct ToolCall(pub(crate) agentcap::ToolCall);

#[pymethods]
impl ToolCall {
    #[new]
    #[pyo3(signature = (tool, args, labels=None, cause=None))]
    fn new(
        tool: &str,
        args: &Bound<'_, PyAny>,
        labels: Option<Vec<String>>,
        cause: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let args = serde_json::Value::Object(json::to_object(args, "args")?);
        let mut call = agentcap::ToolCall::new(tool, args).map_err(err)?;
        if let Some(labels) = labels {
            let labels = labels
                .iter()
                .map(|l| agentcap::Label::new(l.as_str()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            call = call.with_labels(labels);
        }
        if let Some(cause) = cause {
            call = call.with_cause(digest(cause)?);
        }
        Ok(Self(call))
    }
    #[getter]
    fn tool(&self) -> String {
        self.0.tool().to_string()
    }
    #[getter]
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json::to_py(py, self.0.args())
    }
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.0.labels().iter().map(ToString::to_string).collect()
    }
    #[getter]
    fn cause(&self) -> Option<String> {
        self.0.cause().map(|c| c.to_string())
    }
    /// The call digest (hex): tool, RFC 8785 canonical arguments, labels and cause.
    fn digest(&self) -> PyResult<String> {
        self.0.digest().map(|d| d.to_string()).map_err(err)
    }
    fn __repr__(&self) -> String {
        format!("ToolCall('{}', {})", self.0.tool(), self.0.args())
    }
}

/// The holder's signature over one call, at one executor, at one time: single use.
#[pyclass(module = "agentcap", frozen)]
#[derive(Clone)]
pub struct CallProof(pub(crate) agentcap::CallProof);

#[pymethods]
impl CallProof {
    /// `key` (the token's holder) signs `call` for `executor` now (or at `now`: an aware
    /// datetime or epoch seconds).
    #[staticmethod]
    #[pyo3(signature = (key, token, executor, call, now=None))]
    fn sign(
        key: PyRef<'_, AgentKey>,
        token: PyRef<'_, Token>,
        executor: &str,
        call: PyRef<'_, ToolCall>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let now = match now {
            Some(t) => instant(t)?,
            None => OffsetDateTime::now_utc(),
        };
        let executor = agentcap::ExecutorId::new(executor).map_err(err)?;
        agentcap::CallProof::sign(&key.0, &token.0, &executor, &call.0, now)
            .map(Self)
            .map_err(err)
    }
    #[staticmethod]
    fn from_text(text: &str) -> PyResult<Self> {
        agentcap::CallProof::from_base64(text)
            .map(Self)
            .map_err(err)
    }
    fn to_text(&self) -> String {
        self.0.to_base64()
    }
    #[getter]
    fn executor(&self) -> String {
        self.0.audience().to_string()
    }
    #[getter]
    fn call_digest(&self) -> String {
        self.0.call_digest().to_string()
    }
    #[getter]
    fn issued_at(&self) -> i64 {
        self.0.issued_at()
    }
}

/// An approver's signature over one exact call (executor, token id, call digest).
#[pyclass(module = "agentcap", frozen)]
#[derive(Clone)]
pub struct Approval(pub(crate) agentcap::Approval);

#[pymethods]
impl Approval {
    /// `key` approves `call` made with `token` at `executor`.
    #[staticmethod]
    fn sign(
        key: PyRef<'_, AgentKey>,
        executor: &str,
        token: PyRef<'_, Token>,
        call: PyRef<'_, ToolCall>,
    ) -> PyResult<Self> {
        let executor = agentcap::ExecutorId::new(executor).map_err(err)?;
        let digest = call.0.digest().map_err(err)?;
        Ok(Self(agentcap::Approval::sign(
            &key.0,
            &executor,
            &token.0.id(),
            digest,
        )))
    }
    /// `key` approves `call` made with `token` at `executor` once, until `expires_at` (a
    /// timezone-aware `datetime` or epoch seconds, at most a day after the call): the call it
    /// is counted for spends it.
    #[staticmethod]
    fn sign_once(
        key: PyRef<'_, AgentKey>,
        executor: &str,
        token: PyRef<'_, Token>,
        call: PyRef<'_, ToolCall>,
        expires_at: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let executor = agentcap::ExecutorId::new(executor).map_err(err)?;
        let digest = call.0.digest().map_err(err)?;
        Ok(Self(agentcap::Approval::sign_once(
            &key.0,
            &executor,
            &token.0.id(),
            digest,
            crate::grant::instant(expires_at)?,
        )))
    }
    #[staticmethod]
    fn from_text(text: &str) -> PyResult<Self> {
        agentcap::Approval::from_base64(text).map(Self).map_err(err)
    }
    /// Whether the approval is single-use (`sign_once`).
    #[getter]
    fn single_use(&self) -> bool {
        self.0.is_single_use()
    }
    fn to_text(&self) -> String {
        self.0.to_base64()
    }
    #[getter]
    fn approver(&self) -> AgentPublicKey {
        AgentPublicKey(self.0.approver())
    }
}

/// The digest (hex) of a message: what delegations and calls name as their cause.
#[pyfunction]
fn message_digest(message: &[u8]) -> String {
    agentcap::Digest::of_message(message).to_string()
}

/// A fresh agent id (a UUID string).
#[pyfunction]
fn new_agent_id() -> String {
    agentcap::AgentId::random().to_string()
}

/// The `_meta` object of an MCP `tools/call` (or any message) carrying this call: the token
/// text, a fresh proof signed now for `executor`, and the call's labels, cause and approvals.
#[pyfunction]
#[pyo3(signature = (key, token, executor, call, approvals=None))]
fn call_meta<'py>(
    py: Python<'py>,
    key: PyRef<'_, AgentKey>,
    token: PyRef<'_, Token>,
    executor: &str,
    call: PyRef<'_, ToolCall>,
    approvals: Option<Vec<PyRef<'_, Approval>>>,
) -> PyResult<Bound<'py, PyAny>> {
    let executor = agentcap::ExecutorId::new(executor).map_err(err)?;
    let proof = agentcap::CallProof::sign(
        &key.0,
        &token.0,
        &executor,
        &call.0,
        OffsetDateTime::now_utc(),
    )
    .map_err(err)?;
    let approvals: Vec<agentcap::Approval> = approvals
        .unwrap_or_default()
        .iter()
        .map(|a| a.0.clone())
        .collect();
    let text = token.0.to_base64().map_err(err)?;
    let meta = agentcap::wire::call_meta(&text, &proof, &call.0, &approvals);
    json::to_py(py, &serde_json::Value::Object(meta))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Token>()?;
    m.add_class::<ToolCall>()?;
    m.add_class::<CallProof>()?;
    m.add_class::<Approval>()?;
    m.add_function(wrap_pyfunction!(message_digest, m)?)?;
    m.add_function(wrap_pyfunction!(new_agent_id, m)?)?;
    m.add_function(wrap_pyfunction!(call_meta, m)?)?;
    Ok(())
}
