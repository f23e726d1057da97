//! Turns a verified chain and its use limits into one state-store request, and its verdict
//! into a deny reason.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::decision::{Chain, DenyReason};
use crate::digest::STATE_DOMAIN;
use crate::ids::{ExecutorId, ToolName};
use crate::state::{
    ApprovalUse, BudgetUse, FanOutUse, LedgerRecord, RateUse, StateRequest, StateVerdict,
};
use crate::vocabulary::read::Condition;

pub(crate) struct Inputs<'a> {
    pub(crate) chain: &'a Chain,
    /// Use conditions by block index: the authority (0), then each delegation block in order.
    pub(crate) conditions: &'a [(usize, Vec<Condition>)],
    pub(crate) revocation_ids: Vec<Vec<u8>>,
    /// (block, expiry in Unix seconds), in block order.
    pub(crate) expiries: &'a [(usize, u64)],
    pub(crate) tool: &'a ToolName,
    pub(crate) audience: &'a ExecutorId,
    pub(crate) nonce: [u8; 16],
    pub(crate) now: OffsetDateTime,
    pub(crate) proof_window: Duration,
    pub(crate) grace: Duration,
    pub(crate) ledger: Option<LedgerRecord>,
    /// Single-use approvals counted: (approver key, nonce, expiry in Unix seconds).
    pub(crate) spend: &'a [crate::approval::Spend],
}

/// A domain-separated digest of length-prefixed parts: the keys the store sees.
fn scope(kind: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(STATE_DOMAIN);
    for p in std::iter::once(kind.as_bytes()).chain(parts.iter().copied()) {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// When the state counted for `block` may be forgotten (Unix ms): the earliest expiry of the
/// block and its ancestors (every token containing the block carries them all), plus the grace
/// (`Limits::state_grace`).
fn keep_until_ms(expiries: &[(usize, u64)], block: usize, grace: Duration) -> i64 {
    expiries
        .iter()
        .filter(|(b, _)| *b <= block)
        .map(|(_, at)| i64::try_from(*at).unwrap_or(i64::MAX))
        .min()
        .map_or(i64::MAX, |at| after_expiry_ms(at, grace))
}

/// The first millisecond at which something valid through second `at` (inclusive: a token or
/// approval is accepted while `now ≤ at` in whole seconds) plus `grace` may be forgotten.
pub(crate) fn after_expiry_ms(at: i64, grace: Duration) -> i64 {
    let grace = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    at.saturating_add(1)
        .saturating_mul(1000)
        .saturating_add(grace)
}

pub(crate) fn state_request(i: Inputs<'_>) -> StateRequest {
    let chain = i.chain;
    let rev = |block: usize| i.revocation_ids.get(block).map_or(&[][..], Vec::as_slice);
    let keep = |block: usize| keep_until_ms(i.expiries, block, i.grace);
    let holder = chain.holder().to_bytes();
    let tool = i.tool.as_str().as_bytes();

    let mut agent_keys = vec![chain.root_holder.to_bytes()];
    for hop in &chain.hops {
        agent_keys.push(hop.holder.to_bytes());
    }
    agent_keys.sort_unstable();
    agent_keys.dedup();

    let mut budgets = Vec::new();
    let mut rates = Vec::new();
    let mut fan_out = Vec::new();
    // The fan-out cap in force for the current holder, and the block that made it holder.
    let mut fan_cap: Option<u32> = None;
    for (position, (block, conditions)) in i.conditions.iter().enumerate() {
        if position > 0 {
            // `block` is a delegation: count its new holder against the delegator's cap.
            let epoch = i.conditions.get(position - 1).map_or(0, |(b, _)| *b);
            if let (Some(max), Some(hop)) = (fan_cap, chain.hops.get(position - 1)) {
                fan_out.push(FanOutUse {
                    scope: scope("fan", &[rev(epoch)]),
                    holder: hop.holder.to_bytes(),
                    max,
                    keep_until_ms: keep(epoch),
                });
            }
        }
        for c in conditions {
            match c {
                Condition::FanOut(k) => {
                    fan_cap = Some(fan_cap.map_or(*k, |cap| cap.min(*k)));
                }
                Condition::Budget { tool: t, uses } if t.as_str().as_bytes() == tool => budgets
                    .push(BudgetUse {
                        scope: scope("bud", &[rev(*block), tool]),
                        max: *uses,
                        keep_until_ms: keep(*block),
                    }),
                // Per calling agent *key*: agent ids are the delegator's claim, and a holder could
                // mint fresh ones for its own key; keys are what fan-out bounds.
                Condition::Rate {
                    tool: t,
                    calls,
                    secs,
                } if t.as_str().as_bytes() == tool => rates.push(RateUse {
                    scope: scope(
                        "rate",
                        &[
                            rev(*block),
                            tool,
                            &holder,
                            &i64::from(*calls).to_be_bytes(),
                            &i64::try_from(*secs).unwrap_or(i64::MAX).to_be_bytes(),
                        ],
                    ),
                    max: *calls,
                    window: Duration::from_secs(*secs),
                }),
                _ => {}
            }
        }
    }
    // Two identical caps from one block are one cap, not two draws on it.
    budgets.sort_by(|a, b| a.scope.cmp(&b.scope).then(a.max.cmp(&b.max)));
    budgets.dedup_by(|later, first| later.scope == first.scope);
    let tree: [u8; 32] = scope("tree", &[rev(0)]);
    let tree_tag: [u8; 16] = std::array::from_fn(|k| tree.get(k).copied().unwrap_or(0));
    StateRequest {
        now_ms: i64::try_from(i.now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        tree: tree_tag,
        revocation_ids: i.revocation_ids,
        agent_keys,
        nonce: scope(
            "nonce",
            &[i.audience.as_str().as_bytes(), &holder, &i.nonce],
        ),
        // Saturating: a huge configured window must not panic the verifier.
        nonce_ttl: i
            .proof_window
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(1)),
        fan_out,
        budgets,
        rates,
        approvals: i
            .spend
            .iter()
            .map(|(key, nonce, expires)| ApprovalUse {
                scope: scope("approval", &[key, nonce]),
                keep_until_ms: after_expiry_ms(*expires, i.grace),
            })
            .collect(),
        ledger: i.ledger,
    }
}

pub(crate) fn deny_reason(verdict: StateVerdict) -> DenyReason {
    match verdict {
        StateVerdict::Revoked => DenyReason::Revoked,
        StateVerdict::Replayed => DenyReason::Replayed,
        StateVerdict::FanOutExceeded => DenyReason::FanOutExceeded,
        StateVerdict::BudgetExhausted => DenyReason::BudgetExhausted,
        StateVerdict::RateLimited => DenyReason::RateLimited,
        StateVerdict::ApprovalSpent => DenyReason::ApprovalSpent,
        // Allow never reaches here; an unknown future verdict is a denial.
        _ => DenyReason::Internal("unexpected state verdict".to_owned()),
    }
}
