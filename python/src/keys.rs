//! Keys: agent keys (hold tokens, sign calls), authority keys (sign tokens), and their public
//! halves with their text forms. A secret never appears in `repr`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::err;

/// An agent's secret key: it holds tokens, signs calls, delegates and approves.
#[pyclass(module = "agentcap", frozen)]
pub struct AgentKey(pub(crate) agentcap::AgentKey);

#[pymethods]
impl AgentKey {
    /// A fresh random key.
    #[staticmethod]
    fn generate() -> Self {
        Self(agentcap::AgentKey::generate())
    }

    /// The key from its 32 secret bytes.
    #[staticmethod]
    fn from_bytes(secret: &[u8]) -> PyResult<Self> {
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| err("an agent key is 32 bytes"))?;
        Ok(Self(agentcap::AgentKey::from_bytes(&secret)))
    }

    /// The 32 secret bytes (keep them secret).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &*self.0.to_bytes())
    }

    /// The public key.
    #[getter]
    fn public(&self) -> AgentPublicKey {
        AgentPublicKey(self.0.public())
    }

    fn __repr__(&self) -> String {
        format!("AgentKey(public={})", self.0.public())
    }
}

/// An agent's public key; text form `ed25519/<64 hex>`.
#[pyclass(module = "agentcap", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AgentPublicKey(pub(crate) agentcap::AgentPublicKey);

#[pymethods]
impl AgentPublicKey {
    /// Parses `ed25519/<64 hex>`.
    #[new]
    fn new(text: &str) -> PyResult<Self> {
        text.parse().map(Self).map_err(err)
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.to_bytes())
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("AgentPublicKey('{}')", self.0)
    }
}

/// An authority's secret root key, with the key id written into the tokens it signs.
#[pyclass(module = "agentcap", frozen)]
pub struct AuthorityKey(pub(crate) agentcap::AuthorityKey);

#[pymethods]
impl AuthorityKey {
    /// A fresh random key with `key_id`.
    #[staticmethod]
    #[pyo3(signature = (key_id=1))]
    fn generate(key_id: u32) -> Self {
        Self(agentcap::AuthorityKey::generate(key_id))
    }

    /// The key from its id and 32 secret bytes.
    #[staticmethod]
    fn from_bytes(key_id: u32, secret: &[u8]) -> PyResult<Self> {
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| err("an authority key is 32 bytes"))?;
        Ok(Self(agentcap::AuthorityKey::from_bytes(key_id, &secret)))
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &*self.0.to_bytes())
    }

    #[getter]
    fn key_id(&self) -> u32 {
        self.0.key_id()
    }

    /// The public root key (what verifiers trust).
    #[getter]
    fn public(&self) -> RootPublicKey {
        RootPublicKey(self.0.public())
    }

    fn __repr__(&self) -> String {
        format!("AuthorityKey(public={})", self.0.public())
    }
}

/// A trusted root key; text form `<key id>:ed25519/<64 hex>`.
#[pyclass(module = "agentcap", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RootPublicKey(pub(crate) agentcap::RootPublicKey);

#[pymethods]
impl RootPublicKey {
    /// Parses `<key id>:ed25519/<64 hex>`.
    #[new]
    fn new(text: &str) -> PyResult<Self> {
        text.parse().map(Self).map_err(err)
    }

    #[getter]
    fn key_id(&self) -> u32 {
        self.0.key_id()
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("RootPublicKey('{}')", self.0)
    }
}

/// Trusted roots from `RootPublicKey` objects or their texts.
pub(crate) fn roots(list: &Bound<'_, PyAny>) -> PyResult<agentcap::TrustedRoots> {
    let mut roots = agentcap::TrustedRoots::new();
    for item in list.try_iter()? {
        let item = item?;
        let key = if let Ok(k) = item.cast::<RootPublicKey>() {
            k.get().0
        } else {
            item.extract::<String>()
                .map_err(|_| err("a root is a RootPublicKey or its text"))?
                .parse()
                .map_err(err)?
        };
        roots.insert(key);
    }
    if roots.is_empty() {
        return Err(err("at least one trusted root key is needed"));
    }
    Ok(roots)
}

/// An agent public key from an `AgentPublicKey` or its text.
pub(crate) fn agent_public(obj: &Bound<'_, PyAny>) -> PyResult<agentcap::AgentPublicKey> {
    if let Ok(k) = obj.cast::<AgentPublicKey>() {
        return Ok(k.get().0);
    }
    obj.extract::<String>()
        .map_err(|_| err("an agent public key is an AgentPublicKey or its text"))?
        .parse()
        .map_err(err)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AgentKey>()?;
    m.add_class::<AgentPublicKey>()?;
    m.add_class::<AuthorityKey>()?;
    m.add_class::<RootPublicKey>()?;
    m.add_class::<LogKey>()?;
    Ok(())
}

/// An audit log's signing key (its checkpoints are signed with it).
#[pyclass(module = "agentcap", frozen)]
pub struct LogKey(pub(crate) agentcap::audit::LogKey);

#[pymethods]
impl LogKey {
    #[staticmethod]
    fn generate() -> Self {
        Self(agentcap::audit::LogKey::generate())
    }
    #[staticmethod]
    fn from_bytes(secret: &[u8]) -> PyResult<Self> {
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| err("a log key is 32 bytes"))?;
        Ok(Self(agentcap::audit::LogKey::from_bytes(&secret)))
    }
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &*self.0.to_bytes())
    }
    /// The public key (`ed25519/<64 hex>`) that verifies the log.
    #[getter]
    fn public(&self) -> String {
        self.0.public().to_string()
    }
    fn __repr__(&self) -> String {
        format!("LogKey(public={})", self.0.public())
    }
}
