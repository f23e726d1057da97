//! `agentcap._agentcap`: the Python face of the agentcap crate. Every decision is the Rust
//! verifier's; this module converts values and errors, and releases the interpreter while it
//! verifies (a Redis round trip or an fsync never holds other Python threads back).

mod grant;
mod json;
mod keys;
mod token;
mod verifier;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    agentcap,
    AgentcapError,
    PyException,
    "Bad input to agentcap: a malformed key, token, grant or argument."
);
create_exception!(
    agentcap,
    Denied,
    PyException,
    "A call was not authorized. `str(e)` is the generic message and the class, safe to show a \
     caller; `e.klass` is `denied`, `needs_approval` or `state_unavailable`; `e.code` and \
     `e.reason` are for operators only (never show them to a model)."
);

/// An `agentcap::Error` as `AgentcapError`.
pub(crate) fn err(e: impl std::fmt::Display) -> PyErr {
    AgentcapError::new_err(e.to_string())
}

/// An `agentcap::Denied` as `Denied`, with its class, code, reason and audit record id.
pub(crate) fn denied(py: Python<'_>, d: &agentcap::Denied) -> PyErr {
    let class = d.class().code();
    let e = Denied::new_err(format!("{} ({class})", agentcap::Denied::MESSAGE));
    let value = e.value(py);
    let attrs: [(&str, Option<String>); 4] = [
        ("klass", Some(class.to_owned())),
        ("code", Some(d.operator_reason().code().to_owned())),
        ("reason", Some(d.operator_reason().to_string())),
        ("audit_event", d.audit_event().map(str::to_owned)),
    ];
    for (name, v) in attrs {
        if value.setattr(name, v).is_err() {
            return e;
        }
    }
    e
}

#[pymodule]
fn _agentcap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AgentcapError", py.get_type::<AgentcapError>())?;
    m.add("Denied", py.get_type::<Denied>())?;
    m.add("DENIED_MESSAGE", agentcap::Denied::MESSAGE)?;
    m.add("META_TOKEN", agentcap::wire::META_TOKEN)?;
    m.add("META_PROOF", agentcap::wire::META_PROOF)?;
    m.add("META_LABELS", agentcap::wire::META_LABELS)?;
    m.add("META_CAUSE", agentcap::wire::META_CAUSE)?;
    m.add("META_APPROVALS", agentcap::wire::META_APPROVALS)?;
    m.add("META_CLASS", agentcap::wire::META_CLASS)?;
    keys::register(m)?;
    grant::register(m)?;
    token::register(m)?;
    verifier::register(m)?;
    Ok(())
}
