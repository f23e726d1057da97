//! The outcome of a verification: [`Authorized`] (a proof value only this crate can build) or
//! [`Denied`] (a fixed generic message for the caller, a structured reason for operators).

use std::fmt;

use crate::call::ToolCall;
use crate::digest::Digest;
use crate::ids::{AgentId, AuthorityId, ExecutorId, TokenId};
use crate::keys::AgentPublicKey;

/// Proof that one exact call was verified. Tools take `&Authorized`.
///
/// It cannot be constructed outside this crate, and it carries the call it authorizes, so a
/// tool can run exactly this call and nothing else.
#[derive(Debug)]
pub struct Authorized {
    pub(crate) call: ToolCall,
    pub(crate) call_digest: Digest,
    pub(crate) chain: Chain,
    pub(crate) token_id: TokenId,
    pub(crate) audience: ExecutorId,
    pub(crate) audit_event: Option<String>,
    pub(crate) labels: std::collections::BTreeSet<String>,
    pub(crate) sent_message: Option<Digest>,
    pub(crate) approved_by: Vec<String>,
    pub(crate) inherited_hop: Option<u32>,
}

impl Authorized {
    /// Every data label of the call: its own, those its chain recorded and those inherited from
    /// its cause. A tool should label what it returns with at least these.
    pub fn labels(&self) -> &std::collections::BTreeSet<String> {
        &self.labels
    }

    /// The principals whose approvals of this call were counted (empty when the tool needs
    /// none).
    pub fn approved_by(&self) -> &[String] {
        &self.approved_by
    }

    /// The hop count the call inherited from its cause through the message ledger (`None` when
    /// the call has no cause the ledger knows).
    pub fn inherited_hop(&self) -> Option<u32> {
        self.inherited_hop
    }

    /// For a message tool: the digest under which the message ledger recorded the message this
    /// call sends (deliver it so that the recipient's calls name this digest as their cause).
    pub fn sent_message(&self) -> Option<Digest> {
        self.sent_message
    }

    /// The call that was authorized.
    pub fn call(&self) -> &ToolCall {
        &self.call
    }

    /// The digest of the authorized call.
    pub fn call_digest(&self) -> Digest {
        self.call_digest
    }

    /// The chain from root to the calling holder.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The agent that made the call (the last holder).
    pub fn agent(&self) -> AgentId {
        self.chain
            .hops
            .last()
            .map_or(self.chain.root_agent, |h| h.agent)
    }

    /// The id of the token that was presented.
    pub fn token_id(&self) -> &TokenId {
        &self.token_id
    }

    /// The id of the audit record of this decision, when the verifier has a log.
    pub fn audit_event(&self) -> Option<&str> {
        self.audit_event.as_deref()
    }

    /// The executor that verified the call.
    pub fn audience(&self) -> &ExecutorId {
        &self.audience
    }
}

/// Who authorized a call: the root, the agent it granted, and every delegation since, each
/// with the key that signed it and the digest of the message that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Chain {
    /// The root key id that signed the authority block.
    pub root_key_id: u32,
    /// The issuing authority's id.
    pub issuer: AuthorityId,
    /// The agent the authority granted the token to.
    pub root_agent: AgentId,
    /// That agent's key.
    pub root_holder: AgentPublicKey,
    /// The delegation hops, in order.
    pub hops: Vec<Hop>,
}

impl Chain {
    /// The key that must sign calls: the last hop's holder, or the root holder.
    pub fn holder(&self) -> AgentPublicKey {
        self.hops.last().map_or(self.root_holder, |h| h.holder)
    }
}

/// One delegation hop as the token records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The key that signed the delegation (the holder before it).
    pub delegator: AgentPublicKey,
    /// The new holder's key.
    pub holder: AgentPublicKey,
    /// The new holder's agent id.
    pub agent: AgentId,
    /// The digest of the message that caused the delegation.
    pub cause: Digest,
}

/// The small, stable class of a denial that a caller may act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyClass {
    /// Denied: retrying the same call will not help.
    Denied,
    /// The call needs approvals it does not have yet: retryable once they exist.
    NeedsApproval,
    /// Shared state could not be consulted: retryable.
    StateUnavailable,
}

impl DenyClass {
    /// A stable `snake_case` name: `denied`, `needs_approval`, `state_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            DenyClass::Denied => "denied",
            DenyClass::NeedsApproval => "needs_approval",
            DenyClass::StateUnavailable => "state_unavailable",
        }
    }
}

/// Why a call was denied. For operators, logs and audit only: never show it to the caller.
///
/// Machine-readable: [`DenyReason::code`] is a stable `snake_case` name, and the JSON form
/// (`serde::Serialize`) is `{"code": "...", "detail": ...}` with the same code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "code", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DenyReason {
    /// The token text is longer than the configured limit.
    TokenTooLarge,
    /// The token has more blocks than the configured limit.
    TooManyBlocks,
    /// The canonical arguments are larger than the configured limit.
    ArgumentsTooLarge,
    /// The arguments are nested deeper, or hold more values, than the configured limits.
    ArgumentsTooComplex,
    /// The arguments hold an integer beyond ±2^53, which RFC 8785 cannot canonicalise exactly.
    UnportableArguments,
    /// The request carrying the call is malformed (e.g. an MCP request without a token or
    /// proof in its `_meta`).
    MalformedCall(String),
    /// This executor does not guard the requested tool.
    ToolNotGuarded,
    /// The token could not be decoded.
    MalformedToken,
    /// The token's root key id is missing or not trusted.
    UnknownRootKey,
    /// A block signature does not verify.
    BadTokenSignature,
    /// The authority block's vocabulary version is not supported.
    UnsupportedVersion(i64),
    /// The authority block does not carry the vocabulary's required facts exactly once.
    MalformedAuthority,
    /// A block holds something the crate's writer never emits (a rule, an unknown predicate,
    /// an unexpected expression shape, an oversized symbol table): refused before anything in
    /// the token is evaluated.
    OutsideGrammar {
        /// The block index.
        block: usize,
        /// What was found, e.g. `a rule`.
        what: &'static str,
    },
    /// A third-party block is not a well-formed delegation record.
    MalformedDelegation {
        /// The block index.
        block: usize,
    },
    /// A delegation block was not signed by the holder of the block before it.
    DelegationNotByHolder {
        /// The block index.
        block: usize,
    },
    /// More delegations than the grant allows.
    DepthExceeded {
        /// Delegations found.
        depth: u32,
        /// Delegations allowed.
        max: u32,
    },
    /// The proof is bound to another token.
    ProofForAnotherToken,
    /// The proof is bound to another executor.
    ProofForAnotherExecutor,
    /// The proof is bound to another call (tool, arguments, labels or cause).
    ProofForAnotherCall,
    /// The proof was issued too long ago.
    ProofExpired,
    /// The proof's issue time is in the future beyond the allowed skew.
    ProofFromFuture,
    /// The proof is dated before its token was issued (beyond `Limits::clock_skew`).
    ProofBeforeToken,
    /// The proof signature is not the current holder's.
    BadProofSignature,
    /// The tool is not granted: the authority block lacks it (`block` 0) or a later block's
    /// narrowing removed it. One code for both, so a caller cannot tell them apart.
    ToolNotGranted {
        /// The block whose tool set leaves the tool out.
        block: usize,
    },
    /// A block's expiry has passed.
    Expired {
        /// The block index.
        block: u32,
    },
    /// The call carries a top-level argument that a block's closed argument list does not name.
    ArgumentNotAllowed {
        /// The block index.
        block: usize,
        /// The top-level argument name.
        argument: String,
    },
    /// A block constrains an argument the call does not carry (as a scalar).
    ArgumentMissing {
        /// The block index.
        block: usize,
        /// The argument's JSON Pointer.
        pointer: String,
    },
    /// A block's constraint refused an argument's value.
    ArgumentRejected {
        /// The block index.
        block: usize,
        /// The argument's JSON Pointer.
        pointer: String,
        /// The kind of constraint that refused it (`sub_path`, `one_of`, ...; the failing
        /// part of an all-of, `any_of` when no branch of an any-of held).
        constraint: &'static str,
    },
    /// A block of the token, or an agent key of its chain, is revoked.
    Revoked,
    /// The proof's nonce was already used.
    Replayed,
    /// A delegation exceeds the fan-out cap of its delegator.
    FanOutExceeded,
    /// The tool's budget is used up.
    BudgetExhausted,
    /// The tool's rate window for this agent is full.
    RateLimited,
    /// The state store could not be consulted.
    StateUnavailable(String),
    /// A single-use approval the call counted was already spent by an earlier call (retryable
    /// with fresh approvals).
    ApprovalSpent,
    /// The call needs approvals from more distinct principals (retryable once they approve).
    NeedsApproval {
        /// Distinct principals that approved.
        have: u32,
        /// Distinct principals required.
        need: u32,
    },
    /// The executor's trust tier for the calling agent is below the tool's minimum (or unknown).
    TierTooLow,
    /// The call carries a data label the tool does not accept, and the tool has no approval
    /// requirement that could override it.
    LabelNotAccepted,
    /// The call's cause is more agent-to-agent hops from its origin than the grant allows.
    HopLimitExceeded {
        /// The cause's hop count.
        hop: u32,
        /// The limit.
        max: u32,
    },
    /// The call's cause chain already passed through the calling agent (a forwarding loop).
    LoopDetected,
    /// The decision's audit record could not be written.
    AuditUnavailable(String),
    /// An internal error (e.g. the token could not be re-serialised).
    Internal(String),
}

impl DenyReason {
    /// The class a caller may act on.
    pub fn class(&self) -> DenyClass {
        match self {
            DenyReason::StateUnavailable(_) | DenyReason::AuditUnavailable(_) => {
                DenyClass::StateUnavailable
            }
            DenyReason::NeedsApproval { .. } | DenyReason::ApprovalSpent => {
                DenyClass::NeedsApproval
            }
            _ => DenyClass::Denied,
        }
    }

    /// A short stable name for logs and metrics (`snake_case`).
    pub fn code(&self) -> &'static str {
        match self {
            DenyReason::TokenTooLarge => "token_too_large",
            DenyReason::TooManyBlocks => "too_many_blocks",
            DenyReason::ArgumentsTooLarge => "arguments_too_large",
            DenyReason::ArgumentsTooComplex => "arguments_too_complex",
            DenyReason::UnportableArguments => "unportable_arguments",
            DenyReason::MalformedCall(_) => "malformed_call",
            DenyReason::ToolNotGuarded => "tool_not_guarded",
            DenyReason::MalformedToken => "malformed_token",
            DenyReason::UnknownRootKey => "unknown_root_key",
            DenyReason::BadTokenSignature => "bad_token_signature",
            DenyReason::UnsupportedVersion(_) => "unsupported_version",
            DenyReason::MalformedAuthority => "malformed_authority",
            DenyReason::OutsideGrammar { .. } => "outside_grammar",
            DenyReason::MalformedDelegation { .. } => "malformed_delegation",
            DenyReason::DelegationNotByHolder { .. } => "delegation_not_by_holder",
            DenyReason::DepthExceeded { .. } => "depth_exceeded",
            DenyReason::ProofForAnotherToken => "proof_for_another_token",
            DenyReason::ProofForAnotherExecutor => "proof_for_another_executor",
            DenyReason::ProofForAnotherCall => "proof_for_another_call",
            DenyReason::ProofExpired => "proof_expired",
            DenyReason::ProofFromFuture => "proof_from_future",
            DenyReason::ProofBeforeToken => "proof_before_token",
            DenyReason::BadProofSignature => "bad_proof_signature",
            DenyReason::ToolNotGranted { .. } => "tool_not_granted",
            DenyReason::Expired { .. } => "expired",
            DenyReason::ArgumentNotAllowed { .. } => "argument_not_allowed",
            DenyReason::ArgumentMissing { .. } => "argument_missing",
            DenyReason::ArgumentRejected { .. } => "argument_rejected",
            DenyReason::Revoked => "revoked",
            DenyReason::Replayed => "replayed",
            DenyReason::FanOutExceeded => "fan_out_exceeded",
            DenyReason::BudgetExhausted => "budget_exhausted",
            DenyReason::RateLimited => "rate_limited",
            DenyReason::StateUnavailable(_) => "state_unavailable",
            DenyReason::AuditUnavailable(_) => "audit_unavailable",
            DenyReason::NeedsApproval { .. } => "needs_approval",
            DenyReason::ApprovalSpent => "approval_spent",
            DenyReason::TierTooLow => "tier_too_low",
            DenyReason::LabelNotAccepted => "label_not_accepted",
            DenyReason::HopLimitExceeded { .. } => "hop_limit_exceeded",
            DenyReason::LoopDetected => "loop_detected",
            DenyReason::Internal(_) => "internal",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::UnsupportedVersion(v) => write!(f, "unsupported vocabulary version `{v}`"),
            DenyReason::MalformedDelegation { block } => {
                write!(f, "block {block} is not a well-formed delegation")
            }
            DenyReason::DelegationNotByHolder { block } => {
                write!(
                    f,
                    "block {block} is a delegation not signed by the current holder"
                )
            }
            DenyReason::DepthExceeded { depth, max } => {
                write!(f, "delegation depth {depth} exceeds {max}")
            }
            DenyReason::Expired { block } => write!(f, "block {block} has expired"),
            DenyReason::OutsideGrammar { block, what } => {
                write!(f, "block {block} holds {what} outside the vocabulary")
            }
            DenyReason::ToolNotGranted { block } => {
                write!(f, "tool not granted (block {block})")
            }
            // Argument names come from the caller: escaped, so no newline or control character
            // reaches a log line as written.
            DenyReason::ArgumentNotAllowed { block, argument } => write!(
                f,
                "block {block} does not allow argument `{}`",
                argument.escape_debug()
            ),
            DenyReason::ArgumentMissing { block, pointer } => write!(
                f,
                "block {block} requires argument `{}`",
                pointer.escape_debug()
            ),
            DenyReason::ArgumentRejected {
                block,
                pointer,
                constraint,
            } => write!(
                f,
                "block {block}: argument `{}` fails its `{constraint}` constraint",
                pointer.escape_debug()
            ),
            DenyReason::StateUnavailable(m) => write!(f, "state unavailable: {m}"),
            DenyReason::AuditUnavailable(m) => write!(f, "audit log unavailable: {m}"),
            DenyReason::NeedsApproval { have, need } => {
                write!(f, "needs approval: {have} of {need} distinct principals")
            }
            DenyReason::HopLimitExceeded { hop, max } => {
                write!(f, "cause is {hop} hops from its origin, limit {max}")
            }
            DenyReason::ProofBeforeToken => f.write_str(
                "proof dated before its token was issued (is the holder's clock behind the issuer's?)",
            ),
            DenyReason::Internal(m) => write!(f, "internal error: {m}"),
            DenyReason::MalformedCall(m) => write!(f, "malformed call: {m}"),
            other => f.write_str(&other.code().replace('_', " ")),
        }
    }
}

/// A denial. Its `Display` and `Debug` are one fixed generic message, safe to return to a
/// caller (even a prompt-injected one): the reason is reachable only through
/// [`Denied::operator_reason`], for audit logs and `tracing`.
#[derive(Clone, PartialEq, Eq)]
pub struct Denied {
    reason: DenyReason,
    audit_event: Option<String>,
}

impl Denied {
    /// The message every denial displays.
    pub const MESSAGE: &'static str = "agentcap: call denied";

    pub(crate) fn new(reason: DenyReason, audit_event: Option<String>) -> Self {
        Self {
            reason,
            audit_event,
        }
    }

    /// The id of the audit record of this decision, when the verifier has a log (operators
    /// trace denials too).
    pub fn audit_event(&self) -> Option<&str> {
        self.audit_event.as_deref()
    }

    /// The class a caller may act on.
    pub fn class(&self) -> DenyClass {
        self.reason.class()
    }

    /// The precise reason, for operators only.
    pub fn operator_reason(&self) -> &DenyReason {
        &self.reason
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::MESSAGE)
    }
}

impl fmt::Debug for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Denied({:?})", self.class())
    }
}

impl std::error::Error for Denied {}
