//! Turns a verified chain and its use limits into one state-store request, and its verdict
//! into a deny reason.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::decision::{Chain, DenyReason};
use crate::ids::{ExecutorId, ToolName};
use crate::state::{BudgetUse, FanOutUse, RateUse, StateRequest, StateVerdict};
use crate::vocabulary::{Lim, LIM_BUDGET, LIM_FAN_OUT, LIM_RATE};

pub(crate) struct Inputs<'a> {
    pub(crate) chain: &'a Chain,
    /// Use limits by block index: the authority (0), then each delegation block in order.
    pub(crate) limits: &'a [(usize, Vec<Lim>)],
    pub(crate) revocation_ids: Vec<Vec<u8>>,
    pub(crate) tool: &'a ToolName,
    pub(crate) audience: &'a ExecutorId,
    pub(crate) nonce: [u8; 16],
    pub(crate) now: OffsetDateTime,
    pub(crate) proof_window: Duration,
}

/// A domain-separated digest of length-prefixed parts: the keys the store sees.
fn scope(kind: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"agentcap/state/v1\0");
    for p in std::iter::once(kind.as_bytes()).chain(parts.iter().copied()) {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

pub(crate) fn state_request(i: &Inputs<'_>) -> StateRequest {
    let chain = i.chain;
    let rev = |block: usize| i.revocation_ids.get(block).map_or(&[][..], Vec::as_slice);
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
    for (position, (block, lims)) in i.limits.iter().enumerate() {
        if position > 0 {
            // `block` is a delegation: count its new holder against the delegator's cap.
            let epoch = i.limits.get(position - 1).map_or(0, |(b, _)| *b);
            if let (Some(max), Some(hop)) = (fan_cap, chain.hops.get(position - 1)) {
                fan_out.push(FanOutUse {
                    scope: scope("fan", &[rev(epoch)]),
                    holder: hop.holder.to_bytes(),
                    max,
                });
            }
        }
        for l in lims {
            let n = u64::try_from(l.n).unwrap_or(0);
            match l.kind.as_str() {
                LIM_FAN_OUT => {
                    let k = u32::try_from(n).unwrap_or(u32::MAX);
                    fan_cap = Some(fan_cap.map_or(k, |c| c.min(k)));
                }
                LIM_BUDGET if l.tool.as_bytes() == tool => budgets.push(BudgetUse {
                    scope: scope("bud", &[rev(*block), tool]),
                    max: n,
                }),
                // Per calling agent *key*: agent ids are the delegator's claim, and a holder could
                // mint fresh ones for its own key; keys are what fan-out bounds.
                LIM_RATE if l.tool.as_bytes() == tool => rates.push(RateUse {
                    scope: scope(
                        "rate",
                        &[
                            rev(*block),
                            tool,
                            &holder,
                            &l.n.to_be_bytes(),
                            &l.secs.to_be_bytes(),
                        ],
                    ),
                    max: u32::try_from(n).unwrap_or(u32::MAX),
                    window: Duration::from_secs(u64::try_from(l.secs).unwrap_or(0)),
                }),
                _ => {}
            }
        }
    }
    // Two identical caps from one block are one cap, not two draws on it.
    budgets.sort_by(|a, b| a.scope.cmp(&b.scope).then(a.max.cmp(&b.max)));
    budgets.dedup_by(|later, first| later.scope == first.scope);
    StateRequest {
        now_ms: i64::try_from(i.now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        revocation_ids: i.revocation_ids.clone(),
        agent_keys,
        nonce: scope(
            "nonce",
            &[i.audience.as_str().as_bytes(), &holder, &i.nonce],
        ),
        nonce_ttl: i.proof_window * 2 + Duration::from_secs(1),
        fan_out,
        budgets,
        rates,
    }
}

pub(crate) fn deny_reason(verdict: StateVerdict) -> DenyReason {
    match verdict {
        StateVerdict::Revoked => DenyReason::Revoked,
        StateVerdict::Replayed => DenyReason::Replayed,
        StateVerdict::FanOutExceeded => DenyReason::FanOutExceeded,
        StateVerdict::BudgetExhausted => DenyReason::BudgetExhausted,
        StateVerdict::RateLimited => DenyReason::RateLimited,
        // Allow never reaches here; an unknown future verdict is a denial.
        _ => DenyReason::Internal("unexpected state verdict".to_owned()),
    }
}
