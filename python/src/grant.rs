//! What a token allows: constraints on arguments, per-tool grants, the grant an authority
//! issues, and the narrowing a holder applies. Builders return new objects (nothing mutates).

use std::collections::BTreeMap;
use std::time::Duration;

use agentcap::{CommandPolicy, DateRange, EmailPolicy, HostPolicy, IpPolicy, UrlPolicy};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use time::OffsetDateTime;

use crate::keys::{agent_public, AuthorityKey};
use crate::token::Token;
use crate::{err, json};

/// A constraint on one argument. Every kind the Rust crate has, with the same meaning.
#[pyclass(module = "agentcap", frozen)]
#[derive(Clone)]
pub struct Constraint(pub(crate) agentcap::Constraint);

fn c(r: Result<agentcap::Constraint, agentcap::Error>) -> PyResult<Constraint> {
    r.map(Constraint).map_err(err)
}

fn inner(list: Vec<PyRef<'_, Constraint>>) -> Vec<agentcap::Constraint> {
    list.iter().map(|c| c.0.clone()).collect()
}

/// Integers, refusing `bool` (in Python `True` is an int; in a constraint it is not).
fn ints(obj: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        out.push(int(&item?)?);
    }
    Ok(out)
}

fn int(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(err("a bool is not an integer here"));
    }
    obj.extract()
}

/// A scalar (str, int or bool: bool is never an int) for `exact_value` and `contains`.
fn scalar(obj: &Bound<'_, PyAny>) -> PyResult<agentcap::Scalar> {
    match json::to_json(obj)? {
        serde_json::Value::String(s) => Ok(agentcap::Scalar::Str(s)),
        serde_json::Value::Bool(b) => Ok(agentcap::Scalar::Bool(b)),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(agentcap::Scalar::Int)
            .ok_or_else(|| err("a scalar is a str, an int or a bool")),
        _ => Err(err("a scalar is a str, an int or a bool")),
    }
}

#[pymethods]
impl Constraint {
    /// Any value, or none.
    #[staticmethod]
    fn any() -> Self {
        Self(agentcap::Constraint::Any)
    }
    /// Exactly this string.
    #[staticmethod]
    fn exact(value: String) -> PyResult<Self> {
        c(agentcap::Constraint::exact(value))
    }
    /// Exactly this str, int or bool (typed: `True` is not `1`).
    #[staticmethod]
    fn exact_value(value: &Bound<'_, PyAny>) -> PyResult<Self> {
        c(agentcap::Constraint::exact_value(scalar(value)?))
    }
    /// One of these strings.
    #[staticmethod]
    fn one_of(values: Vec<String>) -> PyResult<Self> {
        c(agentcap::Constraint::one_of(values))
    }
    /// None of these strings.
    #[staticmethod]
    fn not_one_of(values: Vec<String>) -> PyResult<Self> {
        c(agentcap::Constraint::not_one_of(values))
    }
    /// One of these integers.
    #[staticmethod]
    fn one_of_ints(values: &Bound<'_, PyAny>) -> PyResult<Self> {
        c(agentcap::Constraint::one_of_ints(ints(values)?))
    }
    /// None of these integers.
    #[staticmethod]
    fn not_one_of_ints(values: &Bound<'_, PyAny>) -> PyResult<Self> {
        c(agentcap::Constraint::not_one_of_ints(ints(values)?))
    }
    /// One of these numbers.
    #[staticmethod]
    fn one_of_numbers(values: Vec<f64>) -> PyResult<Self> {
        c(agentcap::Constraint::one_of_numbers(values))
    }
    /// A string starting with `prefix`.
    #[staticmethod]
    fn prefix(prefix: String) -> PyResult<Self> {
        c(agentcap::Constraint::prefix(prefix))
    }
    /// A string ending with `suffix`.
    #[staticmethod]
    fn suffix(suffix: String) -> PyResult<Self> {
        c(agentcap::Constraint::suffix(suffix))
    }
    /// A normalized absolute path at or under `root` (no `..`, no `//`).
    #[staticmethod]
    fn sub_path(root: String) -> PyResult<Self> {
        c(agentcap::Constraint::sub_path(root))
    }
    /// A URL with one of `schemes` and a host matching `hosts` (exact, `*.domain` or `*`).
    #[staticmethod]
    #[pyo3(signature = (schemes, hosts, allow_ip_literals=false, allow_private=false))]
    fn url(
        schemes: Vec<String>,
        hosts: Vec<String>,
        allow_ip_literals: bool,
        allow_private: bool,
    ) -> PyResult<Self> {
        let mut p = UrlPolicy::new(schemes, hosts).map_err(err)?;
        if allow_ip_literals {
            p = p.allowing_ip_literals();
        }
        if allow_private {
            p = p.allowing_private();
        }
        c(agentcap::Constraint::url(p))
    }
    /// Any public http(s) URL (no local names, no private or reserved addresses).
    #[staticmethod]
    fn url_public_web() -> PyResult<Self> {
        c(agentcap::Constraint::url(UrlPolicy::public_web()))
    }
    /// An integer in `[min, max]`.
    #[staticmethod]
    fn int_range(min: &Bound<'_, PyAny>, max: &Bound<'_, PyAny>) -> PyResult<Self> {
        c(agentcap::Constraint::int_range(int(min)?, int(max)?))
    }
    /// A number in `[min, max]`.
    #[staticmethod]
    fn number_range(min: f64, max: f64) -> PyResult<Self> {
        c(agentcap::Constraint::number_range(min, max))
    }
    /// A string the whole of which matches `pattern`.
    #[staticmethod]
    fn regex(pattern: String) -> PyResult<Self> {
        c(agentcap::Constraint::regex(pattern))
    }
    /// A string of at most `max_bytes` UTF-8 bytes.
    #[staticmethod]
    fn max_length(max_bytes: u32) -> PyResult<Self> {
        c(agentcap::Constraint::max_length(max_bytes))
    }
    /// Every one of `parts`.
    #[staticmethod]
    fn all_of(parts: Vec<PyRef<'_, Constraint>>) -> PyResult<Self> {
        c(agentcap::Constraint::all_of(inner(parts)))
    }
    /// At least one of `parts`.
    #[staticmethod]
    fn any_of(parts: Vec<PyRef<'_, Constraint>>) -> PyResult<Self> {
        c(agentcap::Constraint::any_of(inner(parts)))
    }
    /// Absent, or allowed by `inner`.
    #[staticmethod]
    fn optional(inner: PyRef<'_, Constraint>) -> PyResult<Self> {
        c(agentcap::Constraint::optional(inner.0.clone()))
    }
    /// Not allowed by `inner` (`not` is a Python keyword).
    #[staticmethod]
    fn not_(inner: PyRef<'_, Constraint>) -> PyResult<Self> {
        c(agentcap::Constraint::not(inner.0.clone()))
    }
    /// A list of `min_len` to `max_len` items, every one allowed by `item`.
    #[staticmethod]
    #[pyo3(signature = (item, min_len=0, max_len=agentcap::MAX_LIST_LEN))]
    fn each(item: PyRef<'_, Constraint>, min_len: u32, max_len: u32) -> PyResult<Self> {
        c(agentcap::Constraint::each(item.0.clone(), min_len, max_len))
    }
    /// A list holding this str, int or bool.
    #[staticmethod]
    fn contains(value: &Bound<'_, PyAny>) -> PyResult<Self> {
        c(agentcap::Constraint::contains(scalar(value)?))
    }
    /// A list whose every item is one of `values` (all str or all int).
    #[staticmethod]
    fn subset_of(values: &Bound<'_, PyAny>) -> PyResult<Self> {
        let set = if let Ok(s) = values.extract::<Vec<String>>() {
            agentcap::ValueSet::Strs(s.into_iter().collect())
        } else {
            let ints =
                ints(values).map_err(|_| err("subset_of takes a list of str or a list of int"))?;
            agentcap::ValueSet::Ints(ints.into_iter().collect())
        };
        c(agentcap::Constraint::subset_of(set))
    }
    /// A bare host name matching `hosts` (exact, `*.domain` or `*`).
    #[staticmethod]
    #[pyo3(signature = (hosts, allow_ip_literals=false, allow_private=false))]
    fn host(hosts: Vec<String>, allow_ip_literals: bool, allow_private: bool) -> PyResult<Self> {
        let mut p = HostPolicy::new(hosts).map_err(err)?;
        if allow_ip_literals {
            p = p.allowing_ip_literals();
        }
        if allow_private {
            p = p.allowing_private();
        }
        c(agentcap::Constraint::host(p))
    }
    /// An e-mail address: one of `addresses`, or at one of `domains` (`example.com`,
    /// `*.example.com`).
    #[staticmethod]
    #[pyo3(signature = (addresses=None, domains=None, allow_subaddress=false))]
    fn email(
        addresses: Option<Vec<String>>,
        domains: Option<Vec<String>>,
        allow_subaddress: bool,
    ) -> PyResult<Self> {
        let mut p = match (addresses, domains) {
            (Some(a), None) => EmailPolicy::addresses(a),
            (None, Some(d)) => EmailPolicy::domains(d),
            (Some(a), Some(d)) => EmailPolicy::domains(d).and_then(|p| p.and_addresses(a)),
            (None, None) => return Err(err("email needs addresses or domains")),
        }
        .map_err(err)?;
        if allow_subaddress {
            p = p.allowing_subaddress();
        }
        c(agentcap::Constraint::email(p))
    }
    /// An RFC 3339 date or date-time within `[min, max]` (either may be open).
    #[staticmethod]
    #[pyo3(signature = (min=None, max=None))]
    fn date(min: Option<&str>, max: Option<&str>) -> PyResult<Self> {
        c(agentcap::Constraint::date(
            DateRange::new(min, max).map_err(err)?,
        ))
    }
    /// An IP address in one of `networks` (CIDR); `public_only` also refuses private,
    /// loopback and reserved addresses.
    #[staticmethod]
    #[pyo3(signature = (networks, public_only=false))]
    fn ip(networks: Vec<String>, public_only: bool) -> PyResult<Self> {
        let mut p = IpPolicy::new(networks).map_err(err)?;
        if public_only {
            p = p.public_only();
        }
        c(agentcap::Constraint::ip(p))
    }
    /// Any public IP address.
    #[staticmethod]
    fn ip_public() -> PyResult<Self> {
        c(agentcap::Constraint::ip(IpPolicy::public()))
    }
    /// A shell-free command line: one of `programs`, optionally with an allowed first
    /// argument (`subcommands`), at most `max_args` arguments, each allowed by `arg`.
    #[staticmethod]
    #[pyo3(signature = (programs, subcommands=None, max_args=None, arg=None))]
    fn command(
        programs: Vec<String>,
        subcommands: Option<Vec<String>>,
        max_args: Option<u32>,
        arg: Option<PyRef<'_, Constraint>>,
    ) -> PyResult<Self> {
        let mut p = CommandPolicy::new(programs).map_err(err)?;
        if let Some(s) = subcommands {
            p = p.with_subcommands(s).map_err(err)?;
        }
        if let Some(n) = max_args {
            p = p.with_max_args(n);
        }
        if let Some(a) = arg {
            p = p.with_arg(a.0.clone()).map_err(err)?;
        }
        c(agentcap::Constraint::command(p))
    }
    /// The constraint from its JSON text (the form `to_json` writes, and grant files use).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        let parsed: agentcap::Constraint = serde_json::from_str(text).map_err(err)?;
        parsed.validate().map_err(err)?;
        Ok(Self(parsed))
    }
    /// The JSON text.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.0).map_err(err)
    }
    /// Whether `value` satisfies the constraint (the verifier's own evaluation).
    fn allows(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.allows(&json::to_json(value)?))
    }
    /// The kind's name (`sub_path`, `one_of`, ...).
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind_name()
    }
    fn __repr__(&self) -> String {
        let text = serde_json::to_string(&self.0).unwrap_or_default();
        format!("Constraint({text})")
    }
}

/// What one tool may do: argument constraints, whether other arguments are allowed, budget,
/// rate, approvals, tier and labels.
#[pyclass(module = "agentcap", frozen)]
#[derive(Clone)]
pub struct ToolGrant(pub(crate) agentcap::ToolGrant);

#[pymethods]
impl ToolGrant {
    #[new]
    fn new() -> Self {
        Self(agentcap::ToolGrant::new())
    }
    /// Constrain argument `name` (or a JSON Pointer such as `/to/0`).
    fn arg(&self, name: &str, constraint: PyRef<'_, Constraint>) -> Self {
        Self(self.0.clone().arg(name, constraint.0.clone()))
    }
    /// Allow arguments no constraint mentions.
    fn allow_other_args(&self) -> Self {
        Self(self.0.clone().allow_other_args())
    }
    /// At most `uses` calls over the token's life.
    fn budget(&self, uses: u64) -> Self {
        Self(self.0.clone().budget(uses))
    }
    /// At most `calls` per `per_seconds` seconds.
    fn rate(&self, calls: u32, per_seconds: u64) -> Self {
        Self(self.0.clone().rate(calls, Duration::from_secs(per_seconds)))
    }
    /// Each call needs approvals from `principals` distinct principals.
    fn approvals(&self, principals: u32) -> Self {
        Self(self.0.clone().approvals(principals))
    }
    /// The caller's key must have at least trust tier `tier`.
    fn min_tier(&self, tier: u32) -> Self {
        Self(self.0.clone().min_tier(tier))
    }
    /// Calls may carry these data labels.
    fn accept_labels(&self, labels: Vec<String>) -> PyResult<Self> {
        let labels = labels
            .iter()
            .map(|l| agentcap::Label::new(l.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(Self(self.0.clone().accept_labels(labels)))
    }
    /// A call with any other label needs approvals from `principals` principals.
    fn approvals_for_other_labels(&self, principals: u32) -> Self {
        Self(self.0.clone().approvals_for_other_labels(principals))
    }
    /// Only single-use approvals (`Approval.sign_once`) count, each once.
    fn single_use_approvals(&self) -> Self {
        Self(self.0.clone().single_use_approvals())
    }
    fn __repr__(&self) -> String {
        format!("ToolGrant({:?})", self.0)
    }
}

/// When something expires: a timezone-aware `datetime`, or seconds since the epoch.
pub(crate) fn instant(obj: &Bound<'_, PyAny>) -> PyResult<OffsetDateTime> {
    let seconds: f64 = if let Ok(s) = obj.extract::<f64>() {
        s
    } else {
        if obj.getattr("tzinfo")?.is_none() {
            return Err(err("a datetime must be timezone-aware"));
        }
        obj.call_method0("timestamp")?.extract()?
    };
    if !seconds.is_finite() {
        return Err(err("not a time"));
    }
    #[allow(clippy::cast_possible_truncation)]
    OffsetDateTime::from_unix_timestamp(seconds.floor() as i64).map_err(err)
}

/// Tools and their grants from a dict `{name: ToolGrant}`.
fn tools(map: &Bound<'_, PyDict>) -> PyResult<BTreeMap<String, agentcap::ToolGrant>> {
    let mut out = BTreeMap::new();
    for (k, v) in map.iter() {
        let grant = v
            .cast::<ToolGrant>()
            .map_err(|_| err("tools maps a name to a ToolGrant"))?;
        out.insert(k.extract::<String>()?, grant.get().0.clone());
    }
    Ok(out)
}

/// What an authority grants one agent: its holder key, tools, expiry and delegation limits.
#[pyclass(module = "agentcap", frozen)]
pub struct Grant(pub(crate) agentcap::Grant);

#[pymethods]
impl Grant {
    /// `holder`: the agent's public key; `tools`: `{name: ToolGrant}`; `expires_at`: an aware
    /// `datetime` or epoch seconds; `agent`: the agent id (a UUID string; random if omitted).
    #[new]
    #[pyo3(signature = (holder, tools, expires_at, agent=None, max_depth=0, fan_out=None, max_hops=None))]
    fn new(
        holder: &Bound<'_, PyAny>,
        tools: &Bound<'_, PyDict>,
        expires_at: &Bound<'_, PyAny>,
        agent: Option<&str>,
        max_depth: u32,
        fan_out: Option<u32>,
        max_hops: Option<u32>,
    ) -> PyResult<Self> {
        let agent = match agent {
            Some(a) => a.parse().map_err(err)?,
            None => agentcap::AgentId::random(),
        };
        let mut b = agentcap::Grant::builder(agent, agent_public(holder)?, instant(expires_at)?)
            .max_depth(max_depth);
        for (name, g) in self::tools(tools)? {
            b = b.tool(&name, g);
        }
        if let Some(n) = fan_out {
            b = b.fan_out(n);
        }
        if let Some(n) = max_hops {
            b = b.max_hops(n);
        }
        b.build().map(Self).map_err(err)
    }

    /// The agent id.
    #[getter]
    fn agent(&self) -> String {
        self.0.agent().to_string()
    }
}

/// A narrowing a holder applies when attenuating or delegating: fewer tools, more constraints,
/// lower limits, an earlier expiry. It can only narrow.
#[pyclass(module = "agentcap", frozen)]
#[derive(Clone, Default)]
pub struct Narrowing(pub(crate) agentcap::Narrowing);

#[pymethods]
impl Narrowing {
    #[new]
    fn new() -> Self {
        Self::default()
    }
    /// Only these tools remain.
    fn only_tools(&self, tools: Vec<String>) -> Self {
        Self(self.0.clone().only_tools(tools.iter().map(String::as_str)))
    }
    /// One more constraint on `tool`'s argument.
    fn constrain(&self, tool: &str, name: &str, constraint: PyRef<'_, Constraint>) -> Self {
        Self(self.0.clone().constrain(tool, name, constraint.0.clone()))
    }
    /// `tool` accepts only the arguments constrained so far.
    fn close_args(&self, tool: &str) -> Self {
        Self(self.0.clone().close_args(tool))
    }
    fn budget(&self, tool: &str, uses: u64) -> Self {
        Self(self.0.clone().budget(tool, uses))
    }
    fn rate(&self, tool: &str, calls: u32, per_seconds: u64) -> Self {
        Self(
            self.0
                .clone()
                .rate(tool, calls, Duration::from_secs(per_seconds)),
        )
    }
    fn fan_out(&self, holders: u32) -> Self {
        Self(self.0.clone().fan_out(holders))
    }
    fn max_hops(&self, hops: u32) -> Self {
        Self(self.0.clone().max_hops(hops))
    }
    fn approvals(&self, tool: &str, principals: u32) -> Self {
        Self(self.0.clone().approvals(tool, principals))
    }
    /// Makes the approvals of `tool` single-use (delegation only).
    fn single_use_approvals(&self, tool: &str) -> Self {
        Self(self.0.clone().single_use_approvals(tool))
    }
    /// Every later call carries these labels (data the holder has seen).
    fn seen_labels(&self, labels: Vec<String>) -> PyResult<Self> {
        let labels = labels
            .iter()
            .map(|l| agentcap::Label::new(l.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(Self(self.0.clone().seen_labels(labels)))
    }
    fn expires_at(&self, at: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self(self.0.clone().expires_at(instant(at)?)))
    }
}

/// An issuing authority: its id and root key.
#[pyclass(module = "agentcap", frozen)]
pub struct Authority(agentcap::Authority);

#[pymethods]
impl Authority {
    #[new]
    fn new(authority_id: &str, key: PyRef<'_, AuthorityKey>) -> PyResult<Self> {
        let id = agentcap::AuthorityId::new(authority_id).map_err(err)?;
        let key = agentcap::AuthorityKey::from_bytes(key.0.key_id(), &key.0.to_bytes());
        Ok(Self(agentcap::Authority::new(id, key)))
    }
    /// Signs a token for `grant`.
    fn issue(&self, grant: PyRef<'_, Grant>) -> PyResult<Token> {
        self.0.issue(&grant.0).map(Token::from).map_err(err)
    }
    fn __repr__(&self) -> String {
        format!("Authority('{}', {})", self.0.id(), self.0.key().public())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Constraint>()?;
    m.add_class::<ToolGrant>()?;
    m.add_class::<Grant>()?;
    m.add_class::<Narrowing>()?;
    m.add_class::<Authority>()?;
    Ok(())
}
