//! The typed plan: a token's blocks compiled once per verified chain (regexes compiled, tools
//! indexed) and evaluated natively against each call. Biscuit's authorizer is the reference
//! semantics; the differential test in `tests.rs` holds the two equal.

use std::collections::{HashMap, HashSet};

use super::envelope::Records;
use super::read::{ArgCheck, BlockRole, Condition, RawToken};
use super::run::KeyCache;
use crate::constraint::{compile_regex, Constraint};
use crate::decision::Hop;
use crate::decision::{Chain, DenyReason};
use crate::digest::Digest;
use crate::ids::{AgentId, AuthorityId, ToolName};
use serde_json::Value;

/// What the walk over the delegation records found, before any signature was checked.
#[derive(Debug)]
pub(crate) struct Walked {
    /// The key that must sign the call (bytes: decompressed only to check the proof).
    pub(crate) holder: [u8; 32],
}

/// Walks the delegation records: each delegation must be signed by the holder before it, and
/// there may be no more than the grant allows. Comparisons of bytes only: no crypto, nothing
/// evaluated.
pub(crate) fn walk(records: &Records) -> Result<Walked, DenyReason> {
    let auth = &records.authority;
    let mut holder = auth.holder;
    let mut depth: u32 = 0;
    for (index, signer, d) in &records.delegations {
        if *signer != holder {
            return Err(DenyReason::DelegationNotByHolder { block: *index });
        }
        depth = depth.saturating_add(1);
        if depth > auth.max_depth {
            return Err(DenyReason::DepthExceeded {
                depth,
                max: auth.max_depth,
            });
        }
        holder = d.holder;
    }
    Ok(Walked { holder })
}

/// A constraint ready to evaluate on a present value: regexes compiled once, `optional`
/// wrappers removed (absence is judged before, from the normalized form).
#[derive(Debug)]
enum Compiled {
    Regex(regex::Regex),
    Plain(Constraint),
    All(Vec<Compiled>),
    Any(Vec<Compiled>),
    Not(Box<Compiled>),
    Each {
        item: Box<Compiled>,
        min: usize,
        max: usize,
    },
    /// A command policy with its argument rule compiled.
    Command(crate::constraint::CommandPolicy, Option<Box<Compiled>>),
}

impl Compiled {
    fn new(c: &Constraint) -> Option<Self> {
        let many = |parts: &[Constraint]| parts.iter().map(Compiled::new).collect::<Option<_>>();
        Some(match c {
            Constraint::Regex(p) => Compiled::Regex(compile_regex(p).ok()?),
            Constraint::AllOf(parts) => Compiled::All(many(parts)?),
            Constraint::AnyOf(parts) => Compiled::Any(many(parts)?),
            Constraint::Optional(inner) => Compiled::new(inner)?,
            Constraint::Not(inner) => Compiled::Not(Box::new(Compiled::new(inner)?)),
            Constraint::Each {
                item,
                min_len,
                max_len,
            } => Compiled::Each {
                item: Box::new(Compiled::new(item)?),
                min: *min_len as usize,
                max: *max_len as usize,
            },
            Constraint::Command(p) => Compiled::Command(
                p.clone(),
                match &p.arg {
                    Some(arg) => Some(Box::new(Compiled::new(arg)?)),
                    None => None,
                },
            ),
            other => Compiled::Plain(other.clone()),
        })
    }

    /// `Ok` when `v` satisfies it; otherwise the kind of the constraint that refused it.
    fn check(&self, v: &Value) -> Result<(), &'static str> {
        match self {
            Compiled::Regex(re) => match v {
                Value::String(s) if re.is_match(s) => Ok(()),
                _ => Err("regex"),
            },
            Compiled::Plain(c) => {
                if c.allows(v) {
                    Ok(())
                } else {
                    Err(c.kind_name())
                }
            }
            Compiled::All(parts) => parts.iter().try_for_each(|p| p.check(v)),
            Compiled::Any(parts) => {
                if parts.iter().any(|p| p.check(v).is_ok()) {
                    Ok(())
                } else {
                    Err("any_of")
                }
            }
            Compiled::Not(inner) => match inner.check(v) {
                Ok(()) => Err("not"),
                Err(_) => Ok(()),
            },
            Compiled::Command(policy, arg) => {
                let allowed = match v {
                    Value::String(line) => policy.allows_with(line, &|_, word| {
                        arg.as_ref().is_none_or(|a| a.check(word).is_ok())
                    }),
                    _ => false,
                };
                if allowed {
                    Ok(())
                } else {
                    Err("command")
                }
            }
            Compiled::Each { item, min, max } => match v {
                Value::Array(items)
                    if (*min..=*max).contains(&items.len())
                        && items.iter().all(|x| item.check(x).is_ok()) =>
                {
                    Ok(())
                }
                _ => Err("each"),
            },
        }
    }
}

/// One block's constraint on one argument.
#[derive(Debug)]
struct ArgPlan {
    block: usize,
    pointer: String,
    /// Whether absence satisfies it.
    optional: bool,
    constraint: Compiled,
}

/// Everything every block requires of one tool.
#[derive(Debug, Default)]
struct ToolPlan {
    /// The first block whose tool set leaves the tool out.
    removed_by: Option<usize>,
    /// Closed argument lists: (block, allowed top-level names).
    closed: Vec<(usize, HashSet<String>)>,
    /// Argument checks, in block order.
    args: Vec<ArgPlan>,
}

/// A verified chain's typed plan.
#[derive(Debug)]
pub(crate) struct Plan {
    tools: HashMap<ToolName, ToolPlan>,
    /// (block, expiry in Unix seconds), in block order.
    pub(crate) expiries: Vec<(usize, u64)>,
    /// Use conditions of the authority (block 0) and of each delegation block, in order (a
    /// delegation without conditions has an empty list: fan-out counts hops by position).
    pub(crate) conditions: Vec<(usize, Vec<Condition>)>,
    /// Every block's revocation id, authority first.
    pub(crate) revocation_ids: Vec<Vec<u8>>,
    /// The token's issue time, Unix seconds.
    pub(crate) issued_at: u64,
}

/// Compiles a token whose signatures verified into its chain and plan.
pub(crate) fn compile(raw: &RawToken, keys: &mut KeyCache) -> Result<(Chain, Plan), DenyReason> {
    let mut blocks = raw.blocks.iter();
    let Some(authority) = blocks.next() else {
        return Err(DenyReason::MalformedAuthority);
    };
    let BlockRole::Authority(auth) = &authority.content.role else {
        return Err(DenyReason::MalformedAuthority);
    };
    let root_holder = keys
        .get(&auth.holder)
        .ok_or(DenyReason::MalformedAuthority)?;
    let issuer =
        AuthorityId::new(auth.issuer.as_str()).map_err(|_| DenyReason::MalformedAuthority)?;
    let root_agent = AgentId::from_slice(&auth.agent).ok_or(DenyReason::MalformedAuthority)?;
    let root_key_id = raw.root_key_id.ok_or(DenyReason::UnknownRootKey)?;

    let granted = authority.content.tools.clone().unwrap_or_default();
    let mut tools: HashMap<ToolName, ToolPlan> = granted
        .iter()
        .map(|t| (t.clone(), ToolPlan::default()))
        .collect();
    let mut expiries = Vec::new();
    let mut conditions = Vec::new();
    let mut hops = Vec::new();
    let mut holder = root_holder;
    for (index, block) in raw.blocks.iter().enumerate() {
        let c = &block.content;
        if let Some(kept) = &c.tools {
            for (name, plan) in tools.iter_mut() {
                if plan.removed_by.is_none() && !kept.contains(name) {
                    plan.removed_by = Some(index);
                }
            }
        }
        for ArgCheck {
            tool,
            pointer,
            constraint,
        } in &c.args
        {
            if let Some(plan) = tools.get_mut(tool) {
                let compiled = Compiled::new(constraint).ok_or(DenyReason::OutsideGrammar {
                    block: index,
                    what: "a regex",
                })?;
                plan.args.push(ArgPlan {
                    block: index,
                    pointer: pointer.clone(),
                    optional: constraint.allows_absence(),
                    constraint: compiled,
                });
            }
        }
        for (tool, keys) in &c.closed {
            if let Some(plan) = tools.get_mut(tool) {
                plan.closed.push((index, keys.iter().cloned().collect()));
            }
        }
        if let Some(at) = c.expires_at {
            expiries.push((index, at));
        }
        match &c.role {
            BlockRole::Authority(_) => conditions.push((index, c.conditions.clone())),
            BlockRole::Delegation(d) => {
                conditions.push((index, c.conditions.clone()));
                let malformed = DenyReason::MalformedDelegation { block: index };
                // The signer must be the holder before it: compared as bytes, so only the new
                // holder's key is decompressed.
                if block.signer != Some(holder.to_bytes()) {
                    return Err(DenyReason::DelegationNotByHolder { block: index });
                }
                let delegator = holder;
                let next = keys.get(&d.holder).ok_or_else(|| malformed.clone())?;
                let agent = AgentId::from_slice(&d.agent).ok_or_else(|| malformed.clone())?;
                hops.push(Hop {
                    delegator,
                    holder: next,
                    agent,
                    cause: Digest::from_bytes(d.cause),
                });
                holder = next;
            }
            BlockRole::Attenuation => {}
        }
    }
    let chain = Chain {
        root_key_id,
        issuer,
        root_agent,
        root_holder,
        hops,
    };
    let plan = Plan {
        tools,
        expiries,
        conditions,
        revocation_ids: raw.blocks.iter().map(|b| b.revocation_id.clone()).collect(),
        issued_at: auth.issued_at,
    };
    Ok((chain, plan))
}

/// The call as the plan sees it.
pub(crate) struct CallView<'a> {
    pub(crate) tool: &'a ToolName,
    /// The arguments (an object; every pointer is resolved in it).
    pub(crate) args: &'a Value,
    /// Every top-level argument name.
    pub(crate) top_keys: &'a [&'a str],
    /// The decision time, Unix seconds.
    pub(crate) now: i64,
}

impl Plan {
    /// Every block's conditions against one call: expiry first (it explains every other
    /// failure of an old token), then the tool, the closed argument lists, the constraints.
    pub(crate) fn evaluate(&self, call: &CallView<'_>) -> Result<(), DenyReason> {
        let now = u64::try_from(call.now).unwrap_or(0);
        if let Some((block, _)) = self.expiries.iter().find(|(_, at)| now > *at) {
            return Err(DenyReason::Expired {
                block: u32::try_from(*block).unwrap_or(u32::MAX),
            });
        }
        let Some(tool) = self.tools.get(call.tool) else {
            return Err(DenyReason::ToolNotGranted { block: 0 });
        };
        if let Some(block) = tool.removed_by {
            return Err(DenyReason::ToolNotGranted { block });
        }
        for (block, allowed) in &tool.closed {
            if let Some(key) = call.top_keys.iter().find(|k| !allowed.contains(**k)) {
                return Err(DenyReason::ArgumentNotAllowed {
                    block: *block,
                    argument: (*key).to_owned(),
                });
            }
        }
        for arg in &tool.args {
            let Some(value) = call.args.pointer(&arg.pointer) else {
                if arg.optional {
                    continue;
                }
                return Err(DenyReason::ArgumentMissing {
                    block: arg.block,
                    pointer: arg.pointer.clone(),
                });
            };
            arg.constraint
                .check(value)
                .map_err(|kind| DenyReason::ArgumentRejected {
                    block: arg.block,
                    pointer: arg.pointer.clone(),
                    constraint: kind,
                })?;
        }
        Ok(())
    }
}
