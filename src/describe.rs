//! The holder side's reading of a token: what each block says and what the token allows in
//! effect, read with the verifier's own reader so the two sides cannot disagree.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use crate::constraint::Constraint;
use crate::decision::Hop;
use crate::digest::Digest;
use crate::error::Error;
use crate::ids::{AgentId, ToolName};
use crate::keys::AgentPublicKey;
use crate::token::Token;
use crate::vocabulary::read::{BlockRole, Condition, ReadBlock};

impl Token {
    /// What the token says, block by block, and what it allows in effect.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] when a block does not speak the vocabulary.
    pub fn describe(&self) -> Result<TokenDescription, Error> {
        // The verifier's own reader: the holder side cannot read a token differently.
        TokenDescription::from_blocks(&self.signed.read()?.blocks)
    }
}

/// A readable summary of a token: who holds it, how it got there, and what it allows in
/// effect (the intersection of every block).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenDescription {
    /// The agent the authority granted the token to.
    pub root_agent: AgentId,
    /// The current holder: the key that must sign calls.
    pub holder: AgentPublicKey,
    /// The delegation hops, in order.
    pub hops: Vec<Hop>,
    /// The grant's maximum delegation depth.
    pub max_depth: u32,
    /// The tools allowed in effect.
    pub tools: BTreeSet<ToolName>,
    /// Per tool, every constraint from every block, by JSON Pointer.
    pub constraints: BTreeMap<ToolName, BTreeMap<String, Vec<Constraint>>>,
    /// Tools that accept unmentioned arguments.
    pub open_tools: BTreeSet<ToolName>,
    /// Per closed tool, the top-level arguments every closing block allows.
    pub allowed_keys: BTreeMap<ToolName, BTreeSet<String>>,
    /// The earliest expiry of any block.
    pub expires_at: OffsetDateTime,
    /// Per tool, the lowest budget any block sets.
    pub budgets: BTreeMap<ToolName, u64>,
    /// Per tool, every rate window any block sets: (calls, seconds).
    pub rates: BTreeMap<ToolName, Vec<(u32, u64)>>,
    /// The lowest fan-out cap any block sets.
    pub fan_out: Option<u32>,
    /// The lowest hop limit any block sets.
    pub max_hops: Option<u32>,
    /// Per tool, the most approvals any block requires.
    pub approvals: BTreeMap<ToolName, u32>,
    /// Tools whose approvals are single-use (any block says so).
    pub single_use_approvals: BTreeSet<ToolName>,
    /// Data labels delegations recorded as seen: every call of this token carries them.
    pub seen_labels: BTreeSet<String>,
    /// What each block says, authority first.
    pub blocks: Vec<BlockSummary>,
}

/// What one block of a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockKind {
    /// The authority block, signed by the root.
    Authority,
    /// An anonymous narrowing block.
    Attenuation,
    /// A delegation: a third-party block signed by the holder before it.
    Delegation,
    /// A third-party block without a delegation record. Not produced since vocabulary 2:
    /// the reader refuses such a token.
    ThirdParty,
}

/// What one block says, as the holder side reads it back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BlockSummary {
    /// The block index (0 is the authority).
    pub index: usize,
    /// What kind of block it is.
    pub kind: BlockKind,
    /// The key that signed it, for third-party blocks.
    pub signer: Option<AgentPublicKey>,
    /// The tools it keeps (the authority: grants), if it names any.
    pub tools: Option<BTreeSet<String>>,
    /// Its argument constraints: (tool, JSON Pointer, constraint).
    pub constraints: Vec<(String, String, Constraint)>,
    /// Its expiry, if it sets one.
    pub expires_at: Option<OffsetDateTime>,
    /// Labels it records as seen.
    pub seen_labels: Vec<String>,
    /// Its use conditions: (kind, tool, n, seconds), e.g. (`bud`, `search`, 10, 0).
    pub limits: Vec<(String, String, i64, i64)>,
}

impl TokenDescription {
    pub(crate) fn from_blocks(blocks: &[ReadBlock]) -> Result<Self, Error> {
        let bad = |m: &str| Error::InvalidToken(m.to_owned());
        let first = blocks.first().ok_or_else(|| bad("no authority block"))?;
        let BlockRole::Authority(auth) = &first.content.role else {
            return Err(bad("no authority record"));
        };
        let root_holder = AgentPublicKey::from_bytes(&auth.holder)?;
        let mut holder = root_holder;
        let root_agent = AgentId::from_slice(&auth.agent).ok_or_else(|| bad("bad agent id"))?;
        let mut tools = first.content.tools.clone().unwrap_or_default();
        let mut open_tools: BTreeSet<ToolName> = tools
            .iter()
            .filter(|t| !first.content.closed.iter().any(|(c, _)| c == *t))
            .cloned()
            .collect();
        let mut allowed_keys: BTreeMap<ToolName, BTreeSet<String>> = BTreeMap::new();
        let mut expires = u64::MAX;
        let mut constraints: BTreeMap<ToolName, BTreeMap<String, Vec<Constraint>>> =
            BTreeMap::new();
        let mut hops = Vec::new();
        let mut budgets: BTreeMap<ToolName, u64> = BTreeMap::new();
        let mut rates: BTreeMap<ToolName, Vec<(u32, u64)>> = BTreeMap::new();
        let mut fan_out: Option<u32> = None;
        let mut max_hops: Option<u32> = None;
        let mut approvals: BTreeMap<ToolName, u32> = BTreeMap::new();
        let mut single_use_approvals: BTreeSet<ToolName> = BTreeSet::new();
        let mut seen_labels: BTreeSet<String> = BTreeSet::new();
        let mut summaries = Vec::new();
        for (index, block) in blocks.iter().enumerate() {
            let c = &block.content;
            let signer = block
                .signer
                .map(|s| AgentPublicKey::from_bytes(&s))
                .transpose()?;
            let seen: Vec<String> = c
                .conditions
                .iter()
                .filter_map(|x| match x {
                    Condition::Seen(l) => Some(l.iter().map(|l| l.to_string())),
                    _ => None,
                })
                .flatten()
                .collect();
            summaries.push(BlockSummary {
                index,
                kind: match c.role {
                    BlockRole::Authority(_) => BlockKind::Authority,
                    BlockRole::Delegation(_) => BlockKind::Delegation,
                    BlockRole::Attenuation => BlockKind::Attenuation,
                },
                signer,
                tools: c
                    .tools
                    .as_ref()
                    .map(|t| t.iter().map(|t| t.to_string()).collect()),
                constraints: c
                    .args
                    .iter()
                    .map(|a| (a.tool.to_string(), a.pointer.clone(), a.constraint.clone()))
                    .collect(),
                expires_at: c
                    .expires_at
                    .and_then(|e| i64::try_from(e).ok())
                    .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok()),
                seen_labels: seen.clone(),
                limits: c.conditions.iter().filter_map(limit_row).collect(),
            });
            if let Some(t) = &c.tools {
                tools = tools.intersection(t).cloned().collect();
            }
            for (tool, keys) in &c.closed {
                open_tools.remove(tool);
                let allowed = allowed_keys
                    .entry(tool.clone())
                    .or_insert_with(|| keys.clone());
                allowed.retain(|k| keys.contains(k));
            }
            for a in &c.args {
                constraints
                    .entry(a.tool.clone())
                    .or_default()
                    .entry(a.pointer.clone())
                    .or_default()
                    .push(a.constraint.clone());
            }
            if let Some(e) = c.expires_at {
                expires = expires.min(e);
            }
            seen_labels.extend(seen);
            for l in &c.conditions {
                match l {
                    Condition::Budget { tool, uses } => {
                        let b = budgets.entry(tool.clone()).or_insert(*uses);
                        *b = (*b).min(*uses);
                    }
                    Condition::Rate { tool, calls, secs } => {
                        rates.entry(tool.clone()).or_default().push((*calls, *secs))
                    }
                    Condition::MaxHops(h) => max_hops = Some(max_hops.map_or(*h, |m| m.min(*h))),
                    Condition::Approvals { tool, principals } => {
                        let a = approvals.entry(tool.clone()).or_insert(*principals);
                        *a = (*a).max(*principals);
                    }
                    Condition::FanOut(k) => fan_out = Some(fan_out.map_or(*k, |f| f.min(*k))),
                    Condition::SingleUseApprovals { tool } => {
                        single_use_approvals.insert(tool.clone());
                    }
                    _ => {}
                }
            }
            if let (BlockRole::Delegation(d), Some(signer)) = (&c.role, signer) {
                let next = AgentPublicKey::from_bytes(&d.holder)?;
                hops.push(Hop {
                    delegator: signer,
                    holder: next,
                    agent: AgentId::from_slice(&d.agent).ok_or_else(|| bad("bad agent id"))?,
                    cause: Digest::from_bytes(d.cause),
                });
                holder = next;
            }
        }
        let expires_at = i64::try_from(expires)
            .ok()
            .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
            .ok_or_else(|| bad("bad expiry"))?;
        Ok(Self {
            root_agent,
            holder,
            hops,
            max_depth: auth.max_depth,
            tools,
            constraints,
            open_tools,
            allowed_keys,
            expires_at,
            budgets,
            rates,
            fan_out,
            max_hops,
            approvals,
            single_use_approvals,
            seen_labels,
            blocks: summaries,
        })
    }
}

/// A condition as a `(kind, tool, n, seconds)` row of [`BlockSummary::limits`].
fn limit_row(c: &Condition) -> Option<(String, String, i64, i64)> {
    let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let row = |kind: &str, tool: &ToolName, n: i64, secs: i64| {
        Some((kind.to_owned(), tool.to_string(), n, secs))
    };
    match c {
        Condition::Budget { tool, uses } => row("bud", tool, big(*uses), 0),
        Condition::Rate { tool, calls, secs } => row("rate", tool, i64::from(*calls), big(*secs)),
        Condition::Approvals { tool, principals } => row("appr", tool, i64::from(*principals), 0),
        Condition::LabelApprovals { tool, principals } => {
            row("lappr", tool, i64::from(*principals), 0)
        }
        Condition::MinTier { tool, tier } => row("tier", tool, i64::from(*tier), 0),
        Condition::AcceptedLabels { tool, .. } => row("lblp", tool, 0, 0),
        Condition::SingleUseApprovals { tool } => row("appr1", tool, 0, 0),
        Condition::FanOut(k) => Some(("fan".to_owned(), String::new(), i64::from(*k), 0)),
        Condition::MaxHops(h) => Some(("hop".to_owned(), String::new(), i64::from(*h), 0)),
        Condition::Seen(_) => None,
    }
}
