//! The conditions that contain the network risks: approvals counted by distinct principal,
//! executor-computed trust tiers, data labels that ratchet down chains and across messages,
//! and hop and loop limits from the message ledger.

use std::collections::BTreeSet;

use crate::approval::{Approval, ApproverRegistry, TierProvider};
use crate::call::ToolCall;
use crate::decision::{Chain, DenyReason};
use crate::digest::Digest;
use crate::ids::TokenId;
use crate::ids::{ExecutorId, ToolName};
use crate::state::{LedgerEntry, MessageLedger};
use crate::vocabulary::read::Condition;

/// The conditions every block of the chain puts on this tool, combined (strictest wins).
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    approvals: u32,
    label_approvals: u32,
    /// Some block makes this tool's approvals single-use.
    single_use_approvals: bool,
    min_tier: Option<u32>,
    /// The labels every block with a label policy for this tool accepts (intersection).
    accepted: Option<BTreeSet<String>>,
    seen: BTreeSet<String>,
    max_hops: Option<u32>,
}

impl Conditions {
    /// The conditions on `tool` from every block that sets any (authority and delegations).
    pub(crate) fn collect(tool: &ToolName, blocks: &[(usize, Vec<Condition>)]) -> Self {
        let mut c = Conditions::default();
        for (_, conditions) in blocks {
            for condition in conditions {
                match condition {
                    Condition::Approvals {
                        tool: t,
                        principals,
                    } if t == tool => c.approvals = c.approvals.max(*principals),
                    Condition::LabelApprovals {
                        tool: t,
                        principals,
                    } if t == tool => c.label_approvals = c.label_approvals.max(*principals),
                    Condition::SingleUseApprovals { tool: t } if t == tool => {
                        c.single_use_approvals = true
                    }
                    Condition::MinTier { tool: t, tier } if t == tool => {
                        c.min_tier = Some(c.min_tier.unwrap_or(0).max(*tier))
                    }
                    Condition::MaxHops(h) => {
                        c.max_hops = Some(c.max_hops.map_or(*h, |m| m.min(*h)))
                    }
                    Condition::AcceptedLabels { tool: t, labels } if t == tool => {
                        let accepted: BTreeSet<String> =
                            labels.iter().map(|l| l.to_string()).collect();
                        c.accepted = Some(match c.accepted.take() {
                            Some(prev) => prev.intersection(&accepted).cloned().collect(),
                            None => accepted,
                        });
                    }
                    Condition::Seen(labels) => c.seen.extend(labels.iter().map(|l| l.to_string())),
                    _ => {}
                }
            }
        }
        c
    }
}

/// What the executor brings to these checks.
pub(crate) struct Context<'a> {
    pub(crate) approvers: &'a ApproverRegistry,
    pub(crate) tiers: Option<&'a dyn TierProvider>,
    pub(crate) ledger: &'a dyn MessageLedger,
    pub(crate) audience: &'a ExecutorId,
    /// Whether this call is of a message tool (it sends a message).
    pub(crate) sends_message: bool,
    /// The decision time, Unix milliseconds.
    pub(crate) now_ms: i64,
}

/// What the checks found, for the rest of the decision.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// Every label of the call: its own, its chain's and its cause's.
    pub(crate) labels: BTreeSet<String>,
    /// The cause's ledger entry, if the ledger knows it.
    pub(crate) inherited: Option<LedgerEntry>,
    /// The principals whose approvals were counted (empty when the tool needs none).
    pub(crate) approved_by: Vec<String>,
    /// The single-use approvals counted, to be spent with the call: (approver key, nonce,
    /// expiry in Unix seconds).
    pub(crate) spend: Vec<crate::approval::Spend>,
}

pub(crate) fn check(
    ctx: &Context<'_>,
    conditions: &Conditions,
    chain: &Chain,
    call: &ToolCall,
    call_digest: Digest,
    token_id: &TokenId,
    approvals: &[Approval],
) -> Result<Outcome, DenyReason> {
    let agent = chain.hops.last().map_or(chain.root_agent, |h| h.agent);
    let inherited = match call.cause() {
        Some(cause) => ctx
            .ledger
            .lookup(&cause.to_bytes(), ctx.now_ms)
            .map_err(|e| DenyReason::StateUnavailable(e.0))?,
        None => None,
    };
    if let Some(entry) = &inherited {
        if let Some(max) = conditions.max_hops {
            if entry.hop > max {
                return Err(DenyReason::HopLimitExceeded {
                    hop: entry.hop,
                    max,
                });
            }
        }
        // A loop is a message forwarded back to a key that already sent one on this chain.
        // Only sending counts: acting on a reply (reading, answering a user) is not a loop.
        let holder = chain.holder().to_string();
        if ctx.sends_message && entry.path.contains(&holder) {
            return Err(DenyReason::LoopDetected);
        }
    }
    if let Some(min) = conditions.min_tier {
        let tier = ctx.tiers.and_then(|t| t.tier(agent, &chain.holder()));
        if tier.is_none_or(|t| t < min) {
            return Err(DenyReason::TierTooLow);
        }
    }
    let mut labels: BTreeSet<String> = call.labels().iter().map(|l| l.to_string()).collect();
    labels.extend(conditions.seen.iter().cloned());
    if let Some(entry) = &inherited {
        labels.extend(entry.labels.iter().cloned());
    }
    let label_violation = conditions
        .accepted
        .as_ref()
        .is_some_and(|acc| labels.iter().any(|l| !acc.contains(l)));
    let mut need = conditions.approvals;
    let mut approved_by = Vec::new();
    let mut spend = Vec::new();
    if label_violation {
        // A label the tool does not accept passes only with the label approvals.
        if conditions.label_approvals == 0 {
            return Err(DenyReason::LabelNotAccepted);
        }
        need = need.max(conditions.label_approvals);
    }
    if need > 0 {
        // The requesting chain's own agents cannot approve their own call.
        let mut excluded: BTreeSet<[u8; 32]> =
            chain.hops.iter().map(|h| h.holder.to_bytes()).collect();
        excluded.insert(chain.root_holder.to_bytes());
        let (principals, counted_once) = ctx.approvers.count(
            approvals,
            &excluded,
            ctx.audience,
            token_id,
            call_digest,
            ctx.now_ms.div_euclid(1000),
            conditions.single_use_approvals,
            need as usize,
        );
        if principals.len() < need as usize {
            return Err(DenyReason::NeedsApproval {
                have: u32::try_from(principals.len()).unwrap_or(u32::MAX),
                need,
            });
        }
        approved_by = principals.into_iter().collect();
        spend = counted_once;
    }
    Ok(Outcome {
        labels,
        inherited,
        approved_by,
        spend,
    })
}
