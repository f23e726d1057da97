//! Building a [`Verifier`]: what it cannot do without is an argument, the rest has defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::Verifier;
use crate::approval::{ApproverRegistry, TierProvider};
use crate::audit::AuditLog;
use crate::cache::ChainCache;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::ids::{ExecutorId, ToolName};
use crate::keys::TrustedRoots;
use crate::limits::Limits;
use crate::state::{MemoryStore, StateStore};

/// The executor's own inputs to the network-risk conditions.
#[derive(Default)]
pub(super) struct NetworkConfig {
    pub(super) approvers: ApproverRegistry,
    pub(super) tiers: Option<Arc<dyn TierProvider>>,
    pub(super) message_tools: BTreeMap<ToolName, String>,
}

/// Builds a [`Verifier`]; see [`Verifier::builder`].
pub struct VerifierBuilder {
    audience: ExecutorId,
    roots: TrustedRoots,
    tools: Vec<String>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    state: Arc<dyn StateStore>,
    audit: Option<Arc<AuditLog>>,
    network: NetworkConfig,
    invalid: Option<Error>,
    cache_capacity: usize,
}

impl VerifierBuilder {
    /// Caches up to `tokens` verified chains (read, signatures checked, plan compiled), found by
    /// the token text (compared whole), so a repeat call skips that work. The proof's
    /// signature, expiry, every block's conditions, revocation, replay and budgets are still
    /// checked on every call. Only a token whose proof and signatures verified is cached.
    /// Defaults to 4,096; 0 disables the cache.
    pub fn chain_cache(mut self, tokens: usize) -> Self {
        self.cache_capacity = tokens;
        self
    }

    /// The executor's approver registry: keys and the principals they belong to. Defaults to
    /// empty (a tool requiring approvals is then always denied).
    pub fn approvers(mut self, registry: ApproverRegistry) -> Self {
        self.network.approvers = registry;
        self
    }

    /// The provider of trust tiers the executor computes itself. Defaults to none (a tool
    /// requiring a tier is then always denied).
    pub fn tiers(mut self, tiers: Arc<dyn TierProvider>) -> Self {
        self.network.tiers = Some(tiers);
        self
    }

    /// Marks `tool` as sending an agent-to-agent message whose text is the argument at
    /// `pointer` (a name or JSON Pointer): an allowed call records the message in the ledger
    /// with its labels and hop count, so calls it causes inherit them.
    pub fn message_tool(mut self, tool: &str, pointer: &str) -> Self {
        match (ToolName::new(tool), crate::grant::arg_pointer(pointer)) {
            (Ok(t), Ok(p)) => {
                self.network.message_tools.insert(t, p);
            }
            (Err(e), _) | (_, Err(e)) => self.invalid = Some(e),
        }
        self
    }

    /// Writes every decision (allow and deny) to `log` as part of `verify`. An allow whose
    /// record cannot be written becomes a denial (`DenyReason::AuditUnavailable`); a denial
    /// keeps its own reason. Defaults to none.
    pub fn audit(mut self, log: Arc<AuditLog>) -> Self {
        self.audit = Some(log);
        self
    }

    /// Uses `state` for replay nonces, revocations, budgets, rate windows and fan-out. Defaults
    /// to a fresh [`MemoryStore`] (one process). Share one store (e.g. a `RedisStore`) between
    /// every executor that must see the same revocations and counts.
    pub fn state(mut self, state: Arc<dyn StateStore>) -> Self {
        self.state = state;
        self
    }

    /// Uses `clock` for expiry and proof freshness. Defaults to [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `limits`. Defaults to [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when no root is trusted or no tool is guarded (an empty
    /// registry must never mean "allow everything"); [`Error::Invalid`] for a bad tool name.
    pub fn build(self) -> Result<Verifier, Error> {
        if let Some(e) = self.invalid {
            return Err(e);
        }
        if self.roots.is_empty() {
            return Err(Error::grant("a verifier needs at least one trusted root"));
        }
        let tools = self
            .tools
            .iter()
            .map(|t| ToolName::new(t.as_str()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if tools.is_empty() {
            return Err(Error::grant("a verifier needs at least one guarded tool"));
        }
        Ok(Verifier {
            audience: self.audience,
            roots: self.roots,
            tools,
            clock: self.clock,
            limits: self.limits,
            state: self.state,
            audit: self.audit,
            network: self.network,
            cache: ChainCache::new(self.cache_capacity),
        })
    }
}

impl Verifier {
    /// Starts a verifier for executor `audience`, trusting `roots`, guarding `tools`.
    pub fn builder<I, S>(audience: ExecutorId, roots: TrustedRoots, tools: I) -> VerifierBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        VerifierBuilder {
            audience,
            roots,
            tools: tools.into_iter().map(Into::into).collect(),
            clock: Arc::new(SystemClock),
            limits: Limits::default(),
            state: Arc::new(MemoryStore::new()),
            audit: None,
            network: NetworkConfig::default(),
            invalid: None,
            cache_capacity: 4096,
        }
    }
}
