//! The tool executor's side: verify a token, the holder's proof and the exact call.

use std::collections::BTreeSet;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::audit::hop_record;

use crate::approval::Approval;
use crate::audit::{AuditLog, DecisionRecord, Event};
use crate::cache::ChainCache;
use crate::call::{leaves, ArgBounds, ToolCall};
use crate::clock::Clock;
use crate::decision::{Authorized, Chain, Denied, DenyReason};
use crate::digest::Digest;
use crate::ids::TokenId;
use crate::ids::{ExecutorId, ToolName};
use crate::keys::{AgentPublicKey, TrustedRoots};
use crate::limits::Limits;
use crate::network;
use crate::proof::CallProof;
use crate::state::{LedgerEntry, LedgerRecord};
use crate::state::{StateStore, StateVerdict};
use crate::usage;
use crate::value::ArgValue;
use crate::vocabulary::envelope;
use crate::vocabulary::plan::{self, CallView, Plan};
use crate::vocabulary::read::{self, ReadError};
use crate::vocabulary::run;

mod builder;
mod guard;

use builder::NetworkConfig;
pub use builder::VerifierBuilder;

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

impl Verifier {
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
        let result = span.in_scope(|| self.decide(token, call, proof, approvals));
        let record =
            |result: &Result<Authorized, DenyReason>| self.decision_record(call, proof, result);
        self.conclude(&span, call.tool().as_str(), result, record)
    }

    /// Denies a call that could not even be parsed (a binding's envelope — e.g. MCP `_meta` —
    /// missing or malformed), with the same audit record, `tracing` event and decision counter
    /// as any other denial. `tool` is the name as received (control characters dropped, cut to
    /// 128 characters); `why` says
    /// what was wrong, for operators.
    pub fn reject_malformed(&self, tool: &str, why: &str) -> Denied {
        // Caller-supplied: no control characters (a newline would forge a line in a text log),
        // and bounded.
        let clean = |text: &str, max: usize| -> String {
            text.chars().filter(|c| !c.is_control()).take(max).collect()
        };
        let tool = clean(tool, 128);
        let why = clean(why, 512);
        let why = why.as_str();
        let span = tracing::info_span!(
            "execute_tool",
            otel.name = %format_args!("execute_tool {tool}"),
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %tool,
            agentcap.decision = tracing::field::Empty,
            agentcap.reason = tracing::field::Empty,
        );
        let result = Err(DenyReason::MalformedCall(why.to_owned()));
        let record = |result: &Result<Authorized, DenyReason>| DecisionRecord {
            executor: self.audience.to_string(),
            decision: "deny".to_owned(),
            reason: result.as_ref().err().map(|r| r.code().to_owned()),
            detail: result.as_ref().err().map(ToString::to_string),
            tool: tool.clone(),
            call_digest: String::new(),
            token_id: String::new(),
            cause: None,
            labels: Vec::new(),
            approved_by: Vec::new(),
            hop: None,
            root_agent: None,
            issuer: None,
            hops: Vec::new(),
            args: None,
        };
        match self.conclude(&span, &tool, result, record) {
            Ok(_) => Denied::new(DenyReason::MalformedCall(why.to_owned()), None),
            Err(denied) => denied,
        }
    }

    /// Writes the audit record (an allow it cannot record becomes a denial), emits the decision
    /// counter and the decision event, and returns the decision.
    fn conclude(
        &self,
        span: &tracing::Span,
        tool: &str,
        mut result: Result<Authorized, DenyReason>,
        record: impl FnOnce(&Result<Authorized, DenyReason>) -> DecisionRecord,
    ) -> Result<Authorized, Denied> {
        let _entered = span.enter();
        // The audit record is part of the decision: if it cannot be written, the call is denied.
        let audit_event = match &self.audit {
            None => None,
            Some(log) => match log.append(Event::Decision(record(&result))) {
                Ok(id) => Some(id),
                Err(e) => {
                    // A denial stays the denial it was; an allow becomes a denial.
                    tracing::error!(agentcap.audit_error = %e, "audit record not written");
                    if result.is_ok() {
                        result = Err(DenyReason::AuditUnavailable(e.to_string()));
                    }
                    None
                }
            },
        };
        // The decision counter: a low-cardinality event of its own (tracing-opentelemetry's
        // metrics layer turns the `monotonic_counter.` field into a counter whose attributes are
        // the other fields), under a target operators can leave out of their logs.
        tracing::event!(
            target: "agentcap::metrics",
            tracing::Level::INFO,
            agentcap.decision = if result.is_ok() { "allow" } else { "deny" },
            agentcap.reason = result.as_ref().err().map_or("", DenyReason::code),
            gen_ai.tool.name = %tool,
            monotonic_counter.agentcap.decisions = 1_u64,
        );
        match &result {
            Ok(a) => {
                span.record("agentcap.decision", "allow");
                tracing::info!(
                    agentcap.decision = "allow",
                    gen_ai.tool.name = %tool,
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
                    gen_ai.tool.name = %tool,
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
            labels: match result {
                // Every label the call carried, inherited ones included.
                Ok(a) => a.labels().iter().cloned().collect(),
                Err(_) => call.labels().iter().map(|l| l.to_string()).collect(),
            },
            approved_by: result
                .as_ref()
                .map(|a| a.approved_by().to_vec())
                .unwrap_or_default(),
            hop: result.as_ref().ok().and_then(Authorized::inherited_hop),
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

        let verified = self.verified_chain(token, proof)?;
        let skew = i128::from(limits.clock_skew.as_secs());
        if i128::from(proof.issued_at()).saturating_add(skew) < i128::from(verified.plan.issued_at)
        {
            return Err(DenyReason::ProofBeforeToken);
        }
        let chain = verified.chain.clone();
        let token_id = verified.token_id.clone();

        // Every call: every block's conditions (expiry included), evaluated natively.
        verified.plan.evaluate(&CallView {
            tool: call.tool(),
            args: call.args(),
            top_keys: &top_keys,
            now: now.unix_timestamp(),
        })?;

        let conditions = network::Conditions::collect(call.tool(), &verified.plan.conditions);
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

        // Last, the shared state: only a call allowed by everything else may use budget. The
        // message a message tool sends is recorded in the same atomic step.
        let (sent_message, ledger) = self.message_record(call, &chain, &outcome);
        let mut request = usage::state_request(usage::Inputs {
            chain: &chain,
            conditions: &verified.plan.conditions,
            revocation_ids: verified.plan.revocation_ids.clone(),
            expiries: &verified.plan.expiries,
            tool: call.tool(),
            audience: &self.audience,
            nonce: proof.nonce(),
            now,
            proof_window: limits.proof_window,
            grace: limits.state_grace,
            ledger,
            spend: &outcome.spend,
        });
        // A store that does not handle the ledger record and approval spends in its decision
        // (one written before they existed) must not silently drop them.
        let mut late_ledger = None;
        if !self.state.records_ledger_and_approvals() {
            if !request.approvals.is_empty() {
                return Err(DenyReason::Internal(
                    "the state store cannot spend single-use approvals".to_owned(),
                ));
            }
            late_ledger = request.ledger.take();
        }
        match self.state.decide(&request) {
            Ok(StateVerdict::Allow) => {}
            Ok(verdict) => return Err(usage::deny_reason(verdict)),
            Err(e) => return Err(DenyReason::StateUnavailable(e.0)),
        }
        if let Some(l) = late_ledger {
            self.state
                .record(&l.digest, &l.entry, request.now_ms)
                .map_err(|e| DenyReason::StateUnavailable(e.0))?;
        }
        Ok(Authorized {
            audit_event: None,
            inherited_hop: outcome.inherited.as_ref().map(|e| e.hop),
            approved_by: outcome.approved_by,
            labels: outcome.labels,
            sent_message,
            call: call.clone(),
            call_digest,
            chain,
            token_id,
            audience: self.audience.clone(),
        })
    }

    /// For a message tool, the message this call sends and what the ledger keeps of it.
    fn message_record(
        &self,
        call: &ToolCall,
        chain: &Chain,
        outcome: &network::Outcome,
    ) -> (Option<Digest>, Option<LedgerRecord>) {
        let Some(pointer) = self.network.message_tools.get(call.tool()) else {
            return (None, None);
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
        (
            Some(digest),
            Some(LedgerRecord::new(digest.to_bytes(), entry)),
        )
    }

    /// The token read, its proof and signatures checked and its plan compiled — from the cache
    /// when this exact token text was verified before.
    ///
    /// Order of work on a miss: the envelope (base64url, protobuf, block count), the records
    /// that name the holder (each the leading fact of the authority or a delegation block,
    /// found without decoding the rest of the block) and the byte-level walk over them, then
    /// the proof's signature (the only signature checked before the caller has shown the
    /// holder's key), then every block signature, then the whole grammar of every block, then
    /// the plan. A hostile token with a garbage proof costs a linear skim and one signature
    /// check, and nothing it holds is ever run.
    ///
    /// INVARIANT: the plan depends on the token only (no call facts), so a cached plan is valid
    /// for every later call; the proof is checked on every call, hit or miss.
    fn verified_chain(
        &self,
        token: &str,
        proof: &CallProof,
    ) -> Result<Arc<VerifiedChain>, DenyReason> {
        let text = token.trim();
        // The key digests the length and the last bytes only (a token ends with its proof's
        // fresh secret key, so tails differ): constant cost whatever the token's size. A hit
        // counts only if the whole text is equal, so two tokens never share an entry.
        let key: [u8; 32] = {
            use sha2::{Digest as _, Sha256};
            let tail = text.len().saturating_sub(CACHE_KEY_TAIL);
            let mut h = Sha256::new();
            h.update((text.len() as u64).to_be_bytes());
            h.update(text.as_bytes().get(tail..).unwrap_or_default());
            h.finalize().into()
        };
        if let Some(hit) = self.cache.get(&key).filter(|hit| *hit.text == *text) {
            check_proof(proof, &hit.token_id, &hit.chain.holder())?;
            return Ok(hit);
        }
        let env = envelope::read_envelope(text, self.limits.max_blocks).map_err(read_reason)?;
        let records = envelope::records(&env).map_err(read_reason)?;
        let walked = plan::walk(&records)?;
        let root = env
            .root_key_id
            .and_then(|id| self.roots.get(id))
            .ok_or(DenyReason::UnknownRootKey)?;
        let token_id = env
            .last_revocation_id()
            .and_then(TokenId::from_bytes)
            .ok_or(DenyReason::MalformedToken)?;
        let holder =
            AgentPublicKey::from_bytes(&walked.holder).map_err(|_| DenyReason::MalformedToken)?;
        check_proof(proof, &token_id, &holder)?;
        // Authenticated from here: the holder signed this call over this token's id.
        let mut keys = run::KeyCache::with(holder);
        run::verify_signatures(&env, root.verifying_key(), &mut keys)?;
        let raw = read::read_blocks(env).map_err(read_reason)?;
        let (chain, plan) = plan::compile(&raw, &mut keys)?;
        let verified = Arc::new(VerifiedChain {
            text: text.into(),
            chain,
            plan,
            token_id,
        });
        self.cache.insert(key, verified.clone());
        Ok(verified)
    }
}

/// The proof names this token and is the holder's signature.
fn check_proof(
    proof: &CallProof,
    token_id: &TokenId,
    holder: &AgentPublicKey,
) -> Result<(), DenyReason> {
    if proof.token_id() != token_id {
        return Err(DenyReason::ProofForAnotherToken);
    }
    holder
        .verifying_key()
        .verify_strict(&proof.preimage(), &proof.signature())
        .map_err(|_| DenyReason::BadProofSignature)
}

/// How many bytes at the end of a token's text the cache key digests.
const CACHE_KEY_TAIL: usize = 96;

/// A token whose proof and signatures verified, with its compiled plan.
struct VerifiedChain {
    /// The token text, compared whole on every cache hit.
    text: Box<str>,
    chain: Chain,
    plan: Plan,
    token_id: TokenId,
}

fn read_reason(e: ReadError) -> DenyReason {
    match e {
        ReadError::Malformed => DenyReason::MalformedToken,
        ReadError::TooManyBlocks => DenyReason::TooManyBlocks,
        ReadError::UnsupportedVersion(v) => DenyReason::UnsupportedVersion(v),
        ReadError::MalformedAuthority => DenyReason::MalformedAuthority,
        ReadError::MalformedDelegation(block) => DenyReason::MalformedDelegation { block },
        ReadError::OutsideGrammar { block, what } => DenyReason::OutsideGrammar { block, what },
    }
}

/// The proof's issue time (whole seconds) within the window of now, compared in milliseconds:
/// a proof 60.5 s old is outside a 60 s window even though its second is 60 s back.
fn check_freshness(issued_at: i64, now: OffsetDateTime, limits: &Limits) -> Result<(), DenyReason> {
    let window = i128::try_from(limits.proof_window.as_millis()).unwrap_or(i128::MAX);
    let now = now.unix_timestamp_nanos() / 1_000_000;
    let issued = i128::from(issued_at).saturating_mul(1000);
    if issued < now.saturating_sub(window) {
        return Err(DenyReason::ProofExpired);
    }
    if issued > now.saturating_add(window) {
        return Err(DenyReason::ProofFromFuture);
    }
    Ok(())
}
