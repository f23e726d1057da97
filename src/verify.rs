//! The tool executor's side: verify a token, the holder's proof and the exact call.

use std::collections::BTreeSet;
use std::sync::Arc;

use biscuit_auth::error::{FailedCheck, Format, Logic, Token as BiscuitError};
use biscuit_auth::{AuthorizerBuilder, Biscuit, UnverifiedBiscuit};
use time::OffsetDateTime;

use crate::audit::hop_record;
use std::collections::BTreeMap;

use crate::approval::{Approval, ApproverRegistry, TierProvider};
use crate::audit::{AuditLog, DecisionRecord, Event};
use crate::cache::ChainCache;
use crate::call::{leaves, ArgBounds, CallProof, Digest, ToolCall};
use crate::clock::{Clock, SystemClock};
use crate::decision::{Authorized, Chain, Denied, DenyReason};
use crate::error::Error;
use crate::ids::{AgentId, AuthorityId, ExecutorId, ToolName};
use crate::keys::{AgentPublicKey, TrustedRoots};
use crate::limits::Limits;
use crate::network;
use crate::state::LedgerEntry;
use crate::state::{MemoryStore, StateStore, StateVerdict};
use crate::token::{Hop, TokenId};
use crate::usage;
use crate::value::ArgValue;
use crate::vocabulary;

/// Verifies calls for one executor. Built with everything it cannot do without — the
/// executor's own id (the audience proofs must name), the trusted roots, and the tools it
/// guards — so the safe path is the only path.
///
/// # Examples
/// ```
/// # use agentcap::*;
/// # use time::{Duration, OffsetDateTime};
/// # let authority = Authority::new(AuthorityId::new("ops")?, AuthorityKey::generate(1));
/// # let agent = AgentKey::generate();
/// # let grant = Grant::builder(AgentId::random(), agent.public(), OffsetDateTime::now_utc() + Duration::hours(1))
/// #     .tool("read_file", ToolGrant::new().arg("path", Constraint::sub_path("/data")?))
/// #     .build()?;
/// # let token = authority.issue(&grant)?;
/// let executor = ExecutorId::new("files-1")?;
/// let verifier = Verifier::builder(executor.clone(), authority.key().public().into(), ["read_file"]).build()?;
/// let call = ToolCall::new("read_file", serde_json::json!({"path": "/data/q3.csv"}))?;
/// let proof = CallProof::sign(&agent, &token, &executor, &call, OffsetDateTime::now_utc())?;
/// let authorized = verifier.verify(&token.to_base64()?, &call, &proof).expect("allowed");
/// assert_eq!(authorized.call().tool().as_str(), "read_file");
/// # Ok::<(), agentcap::Error>(())
/// ```
pub struct Verifier {
    audience: ExecutorId,
    roots: TrustedRoots,
    tools: BTreeSet<ToolName>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    state: Arc<dyn StateStore>,
    audit: Option<Arc<AuditLog>>,
    network: NetworkConfig,
    cache: ChainCache<VerifiedChain>,
}

/// The executor's own inputs to the network-risk conditions.
#[derive(Default)]
struct NetworkConfig {
    approvers: ApproverRegistry,
    tiers: Option<Arc<dyn TierProvider>>,
    message_tools: BTreeMap<ToolName, String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("audience", &self.audience)
            .field("roots", &self.roots)
            .field("tools", &self.tools)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
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
    /// Caches up to `tokens` verified chains (decoded, signatures checked, chain walked), keyed
    /// by the digest of the token text, so a repeat call skips that work. Expiry, every
    /// block's checks, revocation, replay, budgets and the proof are still checked on every
    /// call. Defaults to 4,096; 0 disables the cache.
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

    /// The executor id proofs must name.
    pub fn audience(&self) -> &ExecutorId {
        &self.audience
    }

    /// Verifies that `proof` is the current holder's fresh signature over `call` at this
    /// executor, and that `token` (base64url text) allows `call`.
    ///
    /// Fail closed: every error is a [`Denied`]. Its `Display` is generic; the reason is for
    /// operators ([`Denied::operator_reason`]) and is also emitted as a `tracing` event.
    ///
    /// # Errors
    /// [`Denied`] for any reason the call is not authorized.
    pub fn verify(
        &self,
        token: &str,
        call: &ToolCall,
        proof: &CallProof,
    ) -> Result<Authorized, Denied> {
        self.verify_with_approvals(token, call, proof, &[])
    }

    /// As [`Verifier::verify`], with approvals of this exact call for tools that require them.
    /// Approvals from keys outside the executor's registry, from the requesting chain's own
    /// agents, or over another call are ignored; principals are counted once.
    ///
    /// # Errors
    /// [`Denied`] for any reason the call is not authorized; class
    /// [`DenyClass::NeedsApproval`](crate::DenyClass::NeedsApproval) when approvals are missing.
    pub fn verify_with_approvals(
        &self,
        token: &str,
        call: &ToolCall,
        proof: &CallProof,
        approvals: &[Approval],
    ) -> Result<Authorized, Denied> {
        let span = tracing::info_span!(
            "execute_tool",
            otel.name = %format_args!("execute_tool {}", call.tool()),
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %call.tool(),
            agentcap.decision = tracing::field::Empty,
            agentcap.reason = tracing::field::Empty,
        );
        let _entered = span.enter();
        let mut result = self.decide(token, call, proof, approvals);
        // The audit record is part of the decision: if it cannot be written, the call is denied.
        let audit_event = match &self.audit {
            None => None,
            Some(log) => {
                match log.append(Event::Decision(self.decision_record(call, proof, &result))) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        // A denial stays the denial it was; an allow becomes a denial.
                        tracing::error!(agentcap.audit_error = %e, "audit record not written");
                        if result.is_ok() {
                            result = Err(DenyReason::AuditUnavailable(e.to_string()));
                        }
                        None
                    }
                }
            }
        };
        match &result {
            Ok(a) => {
                span.record("agentcap.decision", "allow");
                tracing::info!(
                    agentcap.decision = "allow",
                    gen_ai.tool.name = %call.tool(),
                    gen_ai.agent.id = %a.agent(),
                    agentcap.token_id = %a.token_id(),
                    agentcap.chain_depth = a.chain().hops.len(),
                );
            }
            Err(reason) => {
                span.record("agentcap.decision", "deny");
                span.record("agentcap.reason", reason.code());
                tracing::warn!(
                    agentcap.decision = "deny",
                    gen_ai.tool.name = %call.tool(),
                    agentcap.reason = reason.code(),
                    agentcap.detail = %reason,
                );
            }
        }
        match result {
            Ok(mut a) => {
                a.audit_event = audit_event;
                Ok(a)
            }
            Err(reason) => Err(Denied::new(reason, audit_event)),
        }
    }

    /// The audit record of one decision: digests, ids and the chain; argument values only where
    /// a redaction rule of the log keeps them.
    fn decision_record(
        &self,
        call: &ToolCall,
        proof: &CallProof,
        result: &Result<Authorized, DenyReason>,
    ) -> DecisionRecord {
        let kept = self
            .audit
            .as_ref()
            .and_then(|log| log.config().keep_args.get(call.tool()))
            .map(|pointers| {
                let mut kept = serde_json::Map::new();
                for p in pointers {
                    if let Some(v) = call.args().pointer(p) {
                        kept.insert(p.clone(), v.clone());
                    }
                }
                serde_json::Value::Object(kept)
            });
        let (decision, reason, detail, chain) = match result {
            Ok(a) => ("allow", None, None, Some(a.chain())),
            Err(r) => ("deny", Some(r.code().to_owned()), Some(r.to_string()), None),
        };
        DecisionRecord {
            executor: self.audience.to_string(),
            decision: decision.to_owned(),
            reason,
            detail,
            tool: call.tool().to_string(),
            call_digest: proof.call_digest().to_string(),
            token_id: proof.token_id().to_string(),
            cause: call.cause().map(|c| c.to_string()),
            labels: call.labels().iter().map(|l| l.to_string()).collect(),
            root_agent: chain.map(|c| c.root_agent.to_string()),
            issuer: chain.map(|c| c.issuer.to_string()),
            hops: chain
                .map(|c| c.hops.iter().map(hop_record).collect())
                .unwrap_or_default(),
            args: kept,
        }
    }

    fn decide(
        &self,
        token: &str,
        call: &ToolCall,
        proof: &CallProof,
        approvals: &[Approval],
    ) -> Result<Authorized, DenyReason> {
        let limits = &self.limits;
        if token.len() > limits.max_token_bytes {
            return Err(DenyReason::TokenTooLarge);
        }
        if !self.tools.contains(call.tool()) {
            return Err(DenyReason::ToolNotGuarded);
        }
        // Walk the arguments (iteratively, bounded) before anything recursive touches them.
        let bounds = ArgBounds {
            max_depth: limits.max_args_depth,
            max_leaves: limits.max_args_values,
        };
        let (leaves, top_keys) =
            leaves(call.args(), &bounds).ok_or(DenyReason::ArgumentsTooComplex)?;
        if leaves.iter().any(|(_, v)| *v == ArgValue::Unportable) {
            return Err(DenyReason::UnportableArguments);
        }
        let canonical = call
            .canonical_args()
            .map_err(|_| DenyReason::ArgumentsTooComplex)?;
        if canonical.len() > limits.max_args_bytes {
            return Err(DenyReason::ArgumentsTooLarge);
        }

        // Cheap proof checks first; the signature waits until the holder is known.
        if proof.audience() != &self.audience {
            return Err(DenyReason::ProofForAnotherExecutor);
        }
        let now = self.clock.now();
        check_freshness(proof.issued_at(), now, limits)?;
        let call_digest: Digest = call.digest_with(&canonical);
        if proof.call_digest() != call_digest {
            return Err(DenyReason::ProofForAnotherCall);
        }

        let verified = self.verified_chain(token)?;
        let chain = verified.walk.chain.clone();
        let token_id = verified.token_id.clone();
        if proof.token_id() != &token_id {
            return Err(DenyReason::ProofForAnotherToken);
        }
        chain
            .holder()
            .verifying_key()
            .verify_strict(&proof.preimage(), &proof.signature())
            .map_err(|_| DenyReason::BadProofSignature)?;

        // Every call: every block's checks (expiry included) against this call's facts.
        let builder = AuthorizerBuilder::new().set_limits(limits.authorizer_limits());
        let builder = vocabulary::extern_funcs(builder);
        let builder = vocabulary::call_facts(builder, call.tool(), &leaves, &top_keys, now)
            .map_err(run_reason)?;
        let mut authorizer = builder.build(&verified.biscuit).map_err(run_reason)?;
        authorizer.authorize().map_err(authorize_reason)?;
        let walk = &verified.walk;

        let conditions =
            network::Conditions::collect(call.tool().as_str(), &walk.limits, &walk.labels);
        let ctx = network::Context {
            approvers: &self.network.approvers,
            tiers: self.network.tiers.as_deref(),
            ledger: self.state.as_ref(),
            audience: &self.audience,
            sends_message: self.network.message_tools.contains_key(call.tool()),
            now_ms: i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        };
        let outcome = network::check(
            &ctx,
            &conditions,
            &chain,
            call,
            call_digest,
            &token_id,
            approvals,
        )?;

        // Last, the shared state: only a call allowed by everything else may use budget.
        let request = usage::state_request(&usage::Inputs {
            chain: &chain,
            limits: &walk.limits,
            revocation_ids: verified.ids.clone(),
            tool: call.tool(),
            audience: &self.audience,
            nonce: proof.nonce(),
            now,
            proof_window: limits.proof_window,
        });
        match self.state.decide(&request) {
            Ok(StateVerdict::Allow) => {}
            Ok(verdict) => return Err(usage::deny_reason(verdict)),
            Err(e) => return Err(DenyReason::StateUnavailable(e.0)),
        }
        let sent_message = self.record_message(call, &chain, &outcome, now)?;
        Ok(Authorized {
            audit_event: None,
            labels: outcome.labels,
            sent_message,
            call: call.clone(),
            call_digest,
            chain,
            token_id,
            audience: self.audience.clone(),
        })
    }

    /// For a message tool, records the message this allowed call sends in the ledger.
    fn record_message(
        &self,
        call: &ToolCall,
        chain: &Chain,
        outcome: &network::Outcome,
        now: OffsetDateTime,
    ) -> Result<Option<Digest>, DenyReason> {
        let Some(pointer) = self.network.message_tools.get(call.tool()) else {
            return Ok(None);
        };
        let digest = match call.args().pointer(pointer) {
            Some(serde_json::Value::String(text)) => Digest::of_message(text.as_bytes()),
            Some(other) => {
                Digest::of_message(&serde_json_canonicalizer::to_vec(other).unwrap_or_default())
            }
            None => Digest::of_message(&call.canonical_args().unwrap_or_default()),
        };
        let mut path = outcome
            .inherited
            .as_ref()
            .map(|e| e.path.clone())
            .unwrap_or_default();
        path.push(chain.holder().to_string());
        let entry = LedgerEntry::new(
            outcome
                .inherited
                .as_ref()
                .map_or(1, |e| e.hop.saturating_add(1)),
            outcome.labels.iter().cloned().collect(),
            path,
        );
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        self.state
            .record(&digest.to_bytes(), &entry, now_ms)
            .map_err(|e| DenyReason::StateUnavailable(e.0))?;
        Ok(Some(digest))
    }

    /// The token decoded, its signatures checked and its chain walked — from the cache when
    /// this exact token text was verified before.
    ///
    /// INVARIANT: the walk reads token facts only (no call facts are loaded), so what it finds
    /// cannot depend on the call, and a cached walk is valid for every later call.
    fn verified_chain(&self, token: &str) -> Result<Arc<VerifiedChain>, DenyReason> {
        let text = token.trim();
        let key: [u8; 32] = {
            use sha2::{Digest as _, Sha256};
            Sha256::digest(text.as_bytes()).into()
        };
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        // Count blocks before checking any signature: a token of many tiny blocks must not buy
        // many signature verifications.
        let unverified =
            UnverifiedBiscuit::from_base64(text).map_err(|_| DenyReason::MalformedToken)?;
        if unverified.block_count() > self.limits.max_blocks {
            return Err(DenyReason::TooManyBlocks);
        }
        let biscuit = unverified
            .verify(self.roots.provider())
            .map_err(|e| decode_reason(BiscuitError::Format(e)))?;
        let ids = biscuit.revocation_identifiers();
        let token_id = ids
            .last()
            .and_then(|id| TokenId::from_bytes(id))
            .ok_or(DenyReason::MalformedToken)?;
        let builder = vocabulary::extern_funcs(
            AuthorizerBuilder::new().set_limits(self.limits.authorizer_limits()),
        );
        let mut authorizer = builder.build(&biscuit).map_err(run_reason)?;
        let walk = self.walk_chain(&biscuit, &mut authorizer)?;
        let verified = Arc::new(VerifiedChain {
            biscuit,
            ids,
            token_id,
            walk,
        });
        self.cache.insert(key, verified.clone());
        Ok(verified)
    }

    /// Reads the authority block and walks the delegations: each third-party block must be
    /// signed by the holder before it and name the next holder.
    fn walk_chain(
        &self,
        biscuit: &Biscuit,
        authorizer: &mut biscuit_auth::Authorizer,
    ) -> Result<Walk, DenyReason> {
        let auth = match vocabulary::read_authority(authorizer)
            .map_err(|e| read_reason(e, DenyReason::MalformedAuthority))?
        {
            Ok(facts) => facts,
            Err(Some(version)) => return Err(DenyReason::UnsupportedVersion(version)),
            Err(None) => return Err(DenyReason::MalformedAuthority),
        };
        let root_holder =
            AgentPublicKey::from_bytes(&auth.holder).map_err(|_| DenyReason::MalformedAuthority)?;
        let root_agent = AgentId::from_slice(&auth.agent).ok_or(DenyReason::MalformedAuthority)?;
        let issuer = AuthorityId::new(auth.issuer).map_err(|_| DenyReason::MalformedAuthority)?;
        let max = u32::try_from(auth.max_depth).map_err(|_| DenyReason::MalformedAuthority)?;
        let root_key_id = biscuit.root_key_id().ok_or(DenyReason::UnknownRootKey)?;

        let mut limits = vec![(
            0,
            vocabulary::read_limits(authorizer, 0, None)
                .map_err(|e| read_reason(e, DenyReason::MalformedAuthority))?,
        )];
        let mut labels = vec![(
            0,
            vocabulary::read_labels(authorizer, 0, None)
                .map_err(|e| read_reason(e, DenyReason::MalformedAuthority))?,
        )];
        if let (Some((_, l)), Some((_, b))) = (limits.first(), labels.first()) {
            if !vocabulary::known_kinds(l, b) {
                return Err(DenyReason::MalformedAuthority);
            }
        }
        let mut holder = root_holder;
        let mut hops = Vec::new();
        for block in 1..biscuit.block_count() {
            let signer = biscuit
                .block_external_key(block)
                .map_err(|_| DenyReason::MalformedToken)?;
            let Some(signer) = signer else { continue };
            let delegator = AgentPublicKey::from_biscuit(&signer)
                .ok_or(DenyReason::DelegationNotByHolder { block })?;
            if delegator != holder {
                return Err(DenyReason::DelegationNotByHolder { block });
            }
            let depth = u32::try_from(hops.len() + 1).unwrap_or(u32::MAX);
            if depth > max {
                return Err(DenyReason::DepthExceeded { depth, max });
            }
            let malformed = DenyReason::MalformedDelegation { block };
            let (next, agent, cause) = vocabulary::read_delegation(authorizer, block, signer)
                .map_err(|e| read_reason(e, malformed.clone()))?
                .ok_or_else(|| malformed.clone())?;
            let block_limits = vocabulary::read_limits(authorizer, block, Some(signer))
                .map_err(|e| read_reason(e, malformed.clone()))?;
            let block_labels = vocabulary::read_labels(authorizer, block, Some(signer))
                .map_err(|e| read_reason(e, malformed.clone()))?;
            if !vocabulary::known_kinds(&block_limits, &block_labels) {
                return Err(malformed);
            }
            limits.push((block, block_limits));
            labels.push((block, block_labels));
            let next = AgentPublicKey::from_bytes(&next).map_err(|_| malformed.clone())?;
            let agent = AgentId::from_slice(&agent).ok_or_else(|| malformed.clone())?;
            let cause: [u8; 32] = cause.as_slice().try_into().map_err(|_| malformed.clone())?;
            hops.push(Hop {
                delegator,
                holder: next,
                agent,
                cause: Digest::from_bytes(cause),
            });
            holder = next;
        }
        Ok(Walk {
            chain: Chain {
                root_key_id,
                issuer,
                root_agent,
                root_holder,
                hops,
            },
            limits,
            labels,
        })
    }
}

/// A token whose signatures verified and whose chain was walked.
struct VerifiedChain {
    biscuit: Biscuit,
    ids: Vec<Vec<u8>>,
    token_id: TokenId,
    walk: Walk,
}

/// What walking the chain yields: the chain, and the use limits of the authority block and of
/// each delegation block, by block index.
struct Walk {
    chain: Chain,
    limits: Vec<(usize, Vec<vocabulary::Lim>)>,
    labels: Vec<(usize, Vec<vocabulary::Lbl>)>,
}

/// A failure while reading vocabulary facts: a run limit is reported as such; anything else
/// (e.g. a term of the wrong type) means the block does not speak the vocabulary.
fn read_reason(e: BiscuitError, malformed: DenyReason) -> DenyReason {
    match e {
        BiscuitError::RunLimit(l) => DenyReason::RunLimit(l.to_string()),
        _ => malformed,
    }
}

fn check_freshness(issued_at: i64, now: OffsetDateTime, limits: &Limits) -> Result<(), DenyReason> {
    let window = i64::try_from(limits.proof_window.as_secs()).unwrap_or(i64::MAX);
    let now = now.unix_timestamp();
    if issued_at < now.saturating_sub(window) {
        return Err(DenyReason::ProofExpired);
    }
    if issued_at > now.saturating_add(window) {
        return Err(DenyReason::ProofFromFuture);
    }
    Ok(())
}

fn decode_reason(e: BiscuitError) -> DenyReason {
    match e {
        BiscuitError::Format(Format::UnknownPublicKey) => DenyReason::UnknownRootKey,
        BiscuitError::Format(Format::Signature(_))
        | BiscuitError::Format(Format::SealedSignature) => DenyReason::BadTokenSignature,
        _ => DenyReason::MalformedToken,
    }
}

fn run_reason(e: BiscuitError) -> DenyReason {
    match e {
        BiscuitError::RunLimit(l) => DenyReason::RunLimit(l.to_string()),
        BiscuitError::Execution(x) => DenyReason::PolicyError(x.to_string()),
        other => DenyReason::Internal(other.to_string()),
    }
}

fn authorize_reason(e: BiscuitError) -> DenyReason {
    match e {
        BiscuitError::FailedLogic(Logic::NoMatchingPolicy { .. }) => DenyReason::ToolNotGranted,
        BiscuitError::FailedLogic(Logic::Unauthorized { checks, .. }) => {
            // Report an expiry first: it explains every other failure of an old token.
            let expired = checks.iter().find_map(|c| match c {
                FailedCheck::Block(b) if b.rule.starts_with("check if time(") => Some(b.block_id),
                _ => None,
            });
            match expired {
                Some(block) => DenyReason::Expired { block },
                None => failed_check(checks.first()),
            }
        }
        BiscuitError::FailedLogic(other) => DenyReason::PolicyError(other.to_string()),
        other => run_reason(other),
    }
}

fn failed_check(check: Option<&FailedCheck>) -> DenyReason {
    match check {
        Some(FailedCheck::Block(b)) => DenyReason::CheckFailed {
            block: b.block_id,
            check: b.rule.clone(),
        },
        Some(FailedCheck::Authorizer(a)) => DenyReason::CheckFailed {
            block: u32::MAX,
            check: a.rule.clone(),
        },
        None => DenyReason::Internal("unauthorized without a failed check".to_owned()),
    }
}
