//! The executor's side: a verifier (audience, roots, guarded tools, state, audit, approvers,
//! tiers) whose `verify` returns an `Authorized` or raises `Denied`.

use std::sync::Arc;

use agentcap::audit::{AuditConfig, AuditLog};
use agentcap::state::{MemoryStore, RedisStore, RedisStoreConfig, StateStore};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::grant::instant;
use crate::keys::{agent_public, roots, LogKey};
use crate::token::{Approval, CallProof, ToolCall};
use crate::{denied, err, json};

/// Verifies calls for one executor. `state` is `"memory"` (this process) or a Redis URL (shared
/// by every replica); `audit_log` + `audit_key` append a signed, chained record per decision;
/// `approvers` maps an approver's public key to its principal; `tiers` maps an agent's public
/// key to its trust tier; `message_tools` maps a tool that sends an agent-to-agent message to the
/// argument holding its text (calls caused by that message inherit its labels and hop count);
/// `fixed_now` (epoch seconds or an aware datetime) fixes the clock, for tests and golden vectors
/// only.
#[pyclass(module = "agentcap", frozen)]
pub struct Verifier {
    inner: Arc<agentcap::Verifier>,
    audit: Option<Arc<AuditLog>>,
}

impl Verifier {
    fn malformed(&self, py: Python<'_>, tool: &str, why: &str) -> PyErr {
        let (inner, tool, why) = (self.inner.clone(), tool.to_owned(), why.to_owned());
        let d = py.detach(move || inner.reject_malformed(&tool, &why));
        denied(py, &d)
    }
}

#[pymethods]
impl Verifier {
    #[new]
    #[pyo3(signature = (executor, roots, tools, state="memory", audit_log=None, audit_key=None, approvers=None, tiers=None, proof_window_seconds=None, fixed_now=None, message_tools=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        executor: &str,
        roots: &Bound<'_, PyAny>,
        tools: Vec<String>,
        state: &str,
        audit_log: Option<std::path::PathBuf>,
        audit_key: Option<PyRef<'_, LogKey>>,
        approvers: Option<&Bound<'_, PyDict>>,
        tiers: Option<&Bound<'_, PyDict>>,
        proof_window_seconds: Option<u64>,
        fixed_now: Option<&Bound<'_, PyAny>>,
        message_tools: Option<std::collections::BTreeMap<String, String>>,
    ) -> PyResult<Self> {
        let executor = agentcap::ExecutorId::new(executor).map_err(err)?;
        let store: Arc<dyn StateStore> = if state == "memory" {
            Arc::new(MemoryStore::new())
        } else if state.starts_with("redis://") || state.starts_with("rediss://") {
            Arc::new(RedisStore::new(RedisStoreConfig::new(state)).map_err(err)?)
        } else {
            return Err(err("state is \"memory\" or a redis:// URL"));
        };
        let mut b = agentcap::Verifier::builder(
            executor,
            self::roots(roots)?,
            tools.iter().map(String::as_str),
        )
        .state(store);
        if let Some(map) = approvers {
            let mut registry = agentcap::ApproverRegistry::new();
            for (k, v) in map.iter() {
                registry = registry.with(agent_public(&k)?, v.extract::<String>()?);
            }
            b = b.approvers(registry);
        }
        if let Some(map) = tiers {
            let mut t = agentcap::StaticTiers::new();
            for (k, v) in map.iter() {
                t = t.with(agent_public(&k)?, v.extract::<u32>()?);
            }
            b = b.tiers(Arc::new(t));
        }
        for (tool, pointer) in message_tools.unwrap_or_default() {
            b = b.message_tool(&tool, &pointer);
        }
        if let Some(at) = fixed_now {
            b = b.clock(Arc::new(agentcap::FixedClock(instant(at)?)));
        }
        if let Some(seconds) = proof_window_seconds {
            if seconds == 0 || seconds > 86_400 {
                return Err(err("proof_window_seconds: between 1 and 86400"));
            }
            let mut limits = agentcap::Limits::default();
            limits.proof_window = std::time::Duration::from_secs(seconds);
            b = b.limits(limits);
        }
        let audit = match (audit_log, audit_key) {
            (None, None) => None,
            (Some(path), Some(key)) => {
                let key = agentcap::audit::LogKey::from_bytes(&key.0.to_bytes());
                let log = if path.exists() {
                    AuditLog::open(&path, key, AuditConfig::default())
                } else {
                    AuditLog::create(&path, key, AuditConfig::default())
                }
                .map_err(err)?;
                Some(Arc::new(log))
            }
            _ => return Err(err("audit_log and audit_key go together")),
        };
        if let Some(log) = &audit {
            b = b.audit(log.clone());
        }
        Ok(Self {
            inner: Arc::new(b.build().map_err(err)?),
            audit,
        })
    }

    /// The executor id proofs must name.
    #[getter]
    fn executor(&self) -> String {
        self.inner.audience().to_string()
    }

    /// Verifies that `proof` (a CallProof or its text) is the current holder's fresh signature
    /// over `call` here, and that `token` (its text) allows it, counting `approvals`. The
    /// interpreter is released meanwhile.
    ///
    /// Raises `Denied` (with `klass`, `code`, `reason`) for any reason the call is not
    /// authorized.
    #[pyo3(signature = (token, call, proof, approvals=None))]
    fn verify(
        &self,
        py: Python<'_>,
        token: &str,
        call: PyRef<'_, ToolCall>,
        proof: &Bound<'_, PyAny>,
        approvals: Option<Vec<PyRef<'_, Approval>>>,
    ) -> PyResult<Authorized> {
        let proof = match proof.cast::<CallProof>() {
            Ok(p) => p.get().0.clone(),
            Err(_) => {
                let text: String = proof
                    .extract()
                    .map_err(|_| err("proof is a CallProof or its text"))?;
                match agentcap::CallProof::from_base64(&text) {
                    Ok(p) => p,
                    Err(_) => {
                        return Err(self.malformed(py, call.0.tool().as_str(), "malformed proof"))
                    }
                }
            }
        };
        let approvals: Vec<agentcap::Approval> = approvals
            .unwrap_or_default()
            .iter()
            .map(|a| a.0.clone())
            .collect();
        let (inner, token, call) = (self.inner.clone(), token.to_owned(), call.0.clone());
        let decision =
            py.detach(move || inner.verify_with_approvals(&token, &call, &proof, &approvals));
        decision.map(Authorized).map_err(|d| denied(py, &d))
    }

    /// Decides a call from MCP's wire form: the tool `name`, its `arguments` and the request's
    /// `_meta` dict (token, proof, labels, cause, approvals) — exactly what the Rust
    /// `GuardedServer` and `agentcap mcp-proxy` read. A missing or malformed `_meta` is a
    /// denial (and an audit record).
    #[pyo3(signature = (name, arguments, meta))]
    fn verify_meta(
        &self,
        py: Python<'_>,
        name: &str,
        arguments: Option<&Bound<'_, PyAny>>,
        meta: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Authorized> {
        // Arguments or `_meta` without one JSON meaning are a malformed call: an audited denial.
        let arguments = match arguments {
            Some(a) if !a.is_none() => match json::to_object(a, "arguments") {
                Ok(m) => Some(m),
                Err(_) => return Err(self.malformed(py, name, "arguments are not a JSON object")),
            },
            _ => None,
        };
        let meta = match meta {
            Some(m) if !m.is_none() => match json::to_object(m, "_meta") {
                Ok(m) => m,
                Err(_) => return Err(self.malformed(py, name, "_meta is not a JSON object")),
            },
            _ => serde_json::Map::new(),
        };
        let (inner, name) = (self.inner.clone(), name.to_owned());
        let decision =
            py.detach(move || agentcap::wire::check_call(&inner, &name, arguments.as_ref(), &meta));
        decision.map(Authorized).map_err(|d| denied(py, &d))
    }

    /// For the benchmark (`python/bench/verify.py`): verifies `token` + `call` with each of
    /// `proofs` in a Rust loop (no Python between calls) and returns the seconds it took, so
    /// the cost of the same verify from Python can be compared in one run. Raises `Denied` on
    /// the first refusal.
    fn _bench_rust_loop(
        &self,
        py: Python<'_>,
        token: &str,
        call: PyRef<'_, ToolCall>,
        proofs: Vec<PyRef<'_, CallProof>>,
    ) -> PyResult<f64> {
        let proofs: Vec<agentcap::CallProof> = proofs.iter().map(|p| p.0.clone()).collect();
        let (inner, token, call) = (self.inner.clone(), token.to_owned(), call.0.clone());
        let outcome = py.detach(move || {
            let start = std::time::Instant::now();
            for proof in &proofs {
                inner.verify(&token, &call, proof)?;
            }
            Ok(start.elapsed().as_secs_f64())
        });
        outcome.map_err(|d: agentcap::Denied| denied(py, &d))
    }

    /// Denies a call that could not be read (its arguments have no single JSON meaning, its
    /// proof does not parse): an audited `malformed_call` denial, returned for the caller to
    /// raise.
    fn reject_malformed(&self, py: Python<'_>, tool: &str, why: &str) -> PyErr {
        self.malformed(py, tool, why)
    }

    /// Closes the audit log with a checkpoint (it verifies as complete afterwards).
    fn close(&self) -> PyResult<()> {
        if let Some(log) = &self.audit {
            log.close().map_err(err)?;
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("Verifier(executor='{}')", self.inner.audience())
    }
}

/// An authorized call: what the tool may rely on.
#[pyclass(module = "agentcap", frozen)]
pub struct Authorized(agentcap::Authorized);

#[pymethods]
impl Authorized {
    /// The calling agent (the last holder of the chain).
    #[getter]
    fn agent(&self) -> String {
        self.0.agent().to_string()
    }
    #[getter]
    fn token_id(&self) -> String {
        self.0.token_id().to_string()
    }
    /// The call as verified (run the tool with exactly these arguments).
    #[getter]
    fn call(&self) -> ToolCall {
        ToolCall(self.0.call().clone())
    }
    #[getter]
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json::to_py(py, self.0.call().args())
    }
    /// Every label the call carried (its own, its chain's, inherited ones).
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.0.labels().iter().cloned().collect()
    }
    /// The principals whose approvals were counted.
    #[getter]
    fn approved_by(&self) -> Vec<String> {
        self.0.approved_by().to_vec()
    }
    /// For a message tool: the digest of the message this call sent (the cause of the calls it
    /// leads to).
    #[getter]
    fn sent_message(&self) -> Option<String> {
        self.0.sent_message().map(|d| d.to_string())
    }
    /// The audit record's id, when the verifier has a log.
    #[getter]
    fn audit_event(&self) -> Option<String> {
        self.0.audit_event().map(str::to_owned)
    }
    #[getter]
    fn issuer(&self) -> String {
        self.0.chain().issuer.to_string()
    }
    #[getter]
    fn root_agent(&self) -> String {
        self.0.chain().root_agent.to_string()
    }
    /// The delegation hops, in order: dicts of `agent`, `holder`, `delegator`, `cause`.
    #[getter]
    fn hops<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for h in &self.0.chain().hops {
            let d = PyDict::new(py);
            d.set_item("agent", h.agent.to_string())?;
            d.set_item("holder", h.holder.to_string())?;
            d.set_item("delegator", h.delegator.to_string())?;
            d.set_item("cause", h.cause.to_string())?;
            list.append(d)?;
        }
        Ok(list)
    }
    fn __repr__(&self) -> String {
        format!(
            "Authorized(tool='{}', agent='{}')",
            self.0.call().tool(),
            self.0.agent()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Verifier>()?;
    m.add_class::<Authorized>()?;
    Ok(())
}
