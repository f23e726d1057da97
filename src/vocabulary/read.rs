//! The grammar reader: every block's facts and checks, read straight from the token bytes and
//! refused unless they are exactly what `write.rs` emits for vocabulary version 2.
//!
//! It runs nothing taken from the token: no rule, regex or expression is evaluated or
//! compiled here. Its work is linear in the token's bytes, with every recursion bounded, and no
//! curve point is decompressed (keys stay bytes until a signature check needs one).

use std::collections::{BTreeSet, HashSet};

use biscuit_auth::format::schema;
use prost::Message;

use super::envelope::{ed25519_bytes, envelope, records, Envelope};
use super::expr::{constraint, is_var, tree, Bin, E};
use super::names as n;
pub(crate) use super::records::{
    authority_record, delegation_record, AuthorityRecord, DelegationRecord, ReadError, MAX_SYMBOLS,
    MAX_SYMBOL_BYTES,
};
use super::terms::{predicate, strs, Pred, Symbols, DEFAULT_SYMBOLS, T};
use super::VERSION;
use crate::constraint::Constraint;
use crate::grant::arg_pointer;
use crate::ids::{Label, ToolName};
/// A token as read, before any signature was checked.
#[derive(Debug, Clone)]
pub(crate) struct RawToken {
    /// The root key id the token names.
    pub(crate) root_key_id: Option<u32>,
    /// Every block, authority first.
    pub(crate) blocks: Vec<ReadBlock>,
}

/// One block as read.
#[derive(Debug, Clone)]
pub(crate) struct ReadBlock {
    /// The key that signed a third-party block (bytes, not yet a checked point).
    pub(crate) signer: Option<[u8; 32]>,
    /// The block's revocation id (its signature).
    pub(crate) revocation_id: Vec<u8>,
    /// What the block says.
    pub(crate) content: BlockContent,
}

/// What kind of block, with its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockRole {
    Authority(AuthorityRecord),
    Attenuation,
    Delegation(DelegationRecord),
}

/// A use condition the executor enforces (facts, not checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    Budget {
        tool: ToolName,
        uses: u64,
    },
    Rate {
        tool: ToolName,
        calls: u32,
        secs: u64,
    },
    Approvals {
        tool: ToolName,
        principals: u32,
    },
    LabelApprovals {
        tool: ToolName,
        principals: u32,
    },
    SingleUseApprovals {
        tool: ToolName,
    },
    MinTier {
        tool: ToolName,
        tier: u32,
    },
    AcceptedLabels {
        tool: ToolName,
        labels: BTreeSet<Label>,
    },
    FanOut(u32),
    MaxHops(u32),
    Seen(BTreeSet<Label>),
}

/// One argument check: for `tool`, the argument at `pointer` must be present and satisfy
/// `constraint`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArgCheck {
    pub(crate) tool: ToolName,
    pub(crate) pointer: String,
    pub(crate) constraint: Constraint,
}

/// Everything one block says, typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlockContent {
    pub(crate) role: BlockRole,
    /// The tools the block keeps (intersection of its tool checks), if it has any.
    pub(crate) tools: Option<BTreeSet<ToolName>>,
    pub(crate) args: Vec<ArgCheck>,
    /// Per tool, the top-level arguments allowed (closed world).
    pub(crate) closed: Vec<(ToolName, BTreeSet<String>)>,
    /// The earliest expiry the block sets (Unix seconds).
    pub(crate) expires_at: Option<u64>,
    pub(crate) conditions: Vec<Condition>,
}

/// Reads every block's grammar: run after the signatures verified.
pub(crate) fn read_blocks(env: Envelope) -> Result<RawToken, ReadError> {
    let mut decoded = Vec::with_capacity(env.blocks.len());
    for signed in &env.blocks {
        decoded.push(
            schema::Block::decode(signed.block.as_slice()).map_err(|_| ReadError::Malformed)?,
        );
    }
    let mut shared: Vec<&str> = Vec::new();
    let mut seen_symbols: HashSet<&str> = HashSet::new();
    let mut blocks = Vec::with_capacity(decoded.len());
    for (index, (signed, raw)) in env.blocks.iter().zip(&decoded).enumerate() {
        let outside = |what| ReadError::OutsideGrammar { block: index, what };
        let signer = match &signed.external_signature {
            None => None,
            Some(_) if index == 0 => return Err(outside("an external signature")),
            Some(ext) => Some(ed25519_bytes(&ext.public_key).ok_or_else(|| outside("a key"))?),
        };
        if raw.symbols.len() > MAX_SYMBOLS || raw.symbols.iter().any(|s| s.len() > MAX_SYMBOL_BYTES)
        {
            return Err(outside("the symbol table's size"));
        }
        if raw
            .symbols
            .iter()
            .any(|s| DEFAULT_SYMBOLS.contains(&s.as_str()))
        {
            return Err(outside("a symbol table"));
        }
        let own: Vec<&str>;
        let table: &[&str] = if signer.is_some() {
            // A third-party block has its own table, on top of the default symbols.
            let mut distinct = HashSet::with_capacity(raw.symbols.len());
            if !raw.symbols.iter().all(|s| distinct.insert(s.as_str())) {
                return Err(outside("a symbol table"));
            }
            own = raw.symbols.iter().map(String::as_str).collect();
            &own
        } else {
            for s in &raw.symbols {
                if !seen_symbols.insert(s.as_str()) {
                    return Err(outside("a symbol table"));
                }
            }
            shared.extend(raw.symbols.iter().map(String::as_str));
            &shared
        };
        let content = read_block(index, signer.is_some(), raw, &Symbols { table })?;
        blocks.push(ReadBlock {
            signer,
            revocation_id: signed.signature.clone(),
            content,
        });
    }
    Ok(RawToken {
        root_key_id: env.root_key_id,
        blocks,
    })
}

/// Reads a binary token whole (the holder side, and tests): envelope, records, every block.
pub(crate) fn read_bytes(bytes: Vec<u8>, max_blocks: usize) -> Result<RawToken, ReadError> {
    let env = envelope(bytes, max_blocks)?;
    records(&env)?;
    read_blocks(env)
}

fn read_block(
    index: usize,
    third_party: bool,
    raw: &schema::Block,
    sym: &Symbols<'_>,
) -> Result<BlockContent, ReadError> {
    let outside = |what| ReadError::OutsideGrammar { block: index, what };
    if raw.context.is_some() {
        return Err(outside("a context"));
    }
    if !raw.scope.is_empty() || !raw.public_keys.is_empty() {
        return Err(outside("a scope"));
    }
    if !raw.rules.is_empty() {
        return Err(outside("a rule"));
    }
    let mut facts = Vec::with_capacity(raw.facts.len());
    for f in &raw.facts {
        facts.push(predicate(&f.predicate, sym).ok_or_else(|| outside("a fact"))?);
    }
    // The records lead their block (`v` then `a`; `d`), where `records` looked for them; the
    // version is read first and on its own, so an old token is reported as such.
    let role = if index == 0 {
        let versions: Vec<_> = facts
            .iter()
            .filter(|(name, _)| *name == n::VERSION)
            .collect();
        match (versions.as_slice(), facts.first()) {
            ([(_, terms)], Some((n::VERSION, _))) => match terms.as_slice() {
                [T::Int(VERSION)] => {}
                [T::Int(other)] => return Err(ReadError::UnsupportedVersion(*other)),
                _ => return Err(ReadError::MalformedAuthority),
            },
            _ => return Err(ReadError::MalformedAuthority),
        }
        if !matches!(facts.get(1), Some((n::AUTHORITY, _))) {
            return Err(ReadError::MalformedAuthority);
        }
        BlockRole::Authority(authority_record(&facts)?)
    } else if third_party {
        let malformed = ReadError::MalformedDelegation(index);
        if !matches!(facts.first(), Some((n::DELEGATION, _))) {
            return Err(malformed);
        }
        BlockRole::Delegation(delegation_record(&facts).ok_or(malformed)?)
    } else {
        BlockRole::Attenuation
    };
    let mut content = BlockContent {
        role,
        tools: None,
        args: Vec::new(),
        closed: Vec::new(),
        expires_at: None,
        conditions: Vec::new(),
    };
    for (name, terms) in &facts {
        match (*name, &content.role) {
            (n::VERSION | n::AUTHORITY, BlockRole::Authority(_))
            | (n::DELEGATION, BlockRole::Delegation(_)) => {}
            (_, BlockRole::Attenuation) => return Err(outside("a fact in an attenuation")),
            _ => {
                let c = condition(name, terms, matches!(content.role, BlockRole::Authority(_)))
                    .ok_or_else(|| outside("a fact"))?;
                content.conditions.push(c);
            }
        }
    }
    for check in &raw.checks {
        read_check(check, sym, &mut content).ok_or_else(|| outside("a check"))?;
    }
    if let BlockRole::Authority(_) = content.role {
        if content.tools.is_none() || content.expires_at.is_none() {
            return Err(ReadError::MalformedAuthority);
        }
    }
    Ok(content)
}

fn tool(s: &str) -> Option<ToolName> {
    ToolName::new(s).ok()
}

fn u32_of(i: i64) -> Option<u32> {
    u32::try_from(i).ok()
}

fn label_set(items: &[T<'_>]) -> Option<BTreeSet<Label>> {
    items
        .iter()
        .map(|t| match t {
            T::Str(s) => Label::new(*s).ok(),
            _ => None,
        })
        .collect()
}

/// One use-condition fact; `authority` allows the grant-only kinds.
fn condition(name: &str, terms: &[T<'_>], authority: bool) -> Option<Condition> {
    Some(match (name, terms) {
        (n::BUDGET, [T::Str(t), T::Int(uses)]) => Condition::Budget {
            tool: tool(t)?,
            uses: u64::try_from(*uses).ok()?,
        },
        (n::RATE, [T::Str(t), T::Int(calls), T::Int(secs)]) => {
            let calls = u32_of(*calls).filter(|c| *c > 0)?;
            let secs = u64::try_from(*secs)
                .ok()
                .filter(|s| (1..=366 * 24 * 3600).contains(s))?;
            Condition::Rate {
                tool: tool(t)?,
                calls,
                secs,
            }
        }
        (n::APPROVALS, [T::Str(t), T::Int(k)]) => Condition::Approvals {
            tool: tool(t)?,
            principals: u32_of(*k)?,
        },
        (n::SINGLE_USE_APPROVALS, [T::Str(t)]) => Condition::SingleUseApprovals { tool: tool(t)? },
        (n::LABEL_APPROVALS, [T::Str(t), T::Int(k)]) if authority => Condition::LabelApprovals {
            tool: tool(t)?,
            principals: u32_of(*k)?,
        },
        (n::TIER, [T::Str(t), T::Int(tier)]) if authority => Condition::MinTier {
            tool: tool(t)?,
            tier: u32_of(*tier)?,
        },
        (n::ACCEPTS, [T::Str(t), T::Set(items)]) if authority => Condition::AcceptedLabels {
            tool: tool(t)?,
            labels: label_set(items)?,
        },
        (n::FAN_OUT, [T::Int(k)]) => Condition::FanOut(u32_of(*k)?),
        (n::HOPS, [T::Int(h)]) => Condition::MaxHops(u32_of(*h)?),
        (n::SEEN, [T::Set(items)]) if !authority => Condition::Seen(label_set(items)?),
        _ => return None,
    })
}

/// A check query with exactly one expression.
fn query_parts<'a>(q: &'a schema::Rule, sym: &Symbols<'a>) -> Option<(Vec<Pred<'a>>, E<'a>)> {
    let (body, mut exprs) = query_all(q, sym)?;
    let e = exprs.pop()?;
    exprs.is_empty().then_some((body, e))
}

/// A check query: head `query()`, no scope, its body and expressions.
fn query_all<'a>(q: &'a schema::Rule, sym: &Symbols<'a>) -> Option<(Vec<Pred<'a>>, Vec<E<'a>>)> {
    let (head, head_terms) = predicate(&q.head, sym)?;
    if head != n::QUERY || !head_terms.is_empty() || !q.scope.is_empty() {
        return None;
    }
    let body = q
        .body
        .iter()
        .map(|p| predicate(p, sym))
        .collect::<Option<Vec<_>>>()?;
    let exprs = q
        .expressions
        .iter()
        .map(|e| tree(&e.ops, sym, 0))
        .collect::<Option<Vec<_>>>()?;
    Some((body, exprs))
}

fn read_check(check: &schema::Check, sym: &Symbols<'_>, content: &mut BlockContent) -> Option<()> {
    use schema::check::Kind;
    let kind = match check.kind {
        None => Kind::One,
        Some(k) => Kind::from_i32(k)?,
    };
    match (kind, check.queries.as_slice()) {
        (Kind::One, [q]) => {
            let (body, e) = query_parts(q, sym)?;
            match (body.as_slice(), &e) {
                // check if t($t), [tools].contains($t)
                ([(n::TOOL, t)], E::Bin(Bin::Contains, set, v))
                    if matches!(t.as_slice(), [T::Var(n::TOOL)]) && is_var(v, n::TOOL) =>
                {
                    let E::Term(T::Set(items)) = set.as_ref() else {
                        return None;
                    };
                    let tools: BTreeSet<ToolName> = strs(items)?
                        .iter()
                        .map(|s| tool(s))
                        .collect::<Option<_>>()?;
                    content.tools = Some(match content.tools.take() {
                        Some(prev) => prev.intersection(&tools).cloned().collect(),
                        None => tools,
                    });
                    Some(())
                }
                // check if time($time), $time <= EXPIRY
                ([(n::TIME, t)], E::Bin(Bin::Le, v, at))
                    if matches!(t.as_slice(), [T::Var(n::TIME)]) && is_var(v, n::TIME) =>
                {
                    let E::Term(T::Date(at)) = at.as_ref() else {
                        return None;
                    };
                    content.expires_at = Some(content.expires_at.map_or(*at, |e| e.min(*at)));
                    Some(())
                }
                _ => None,
            }
        }
        // check if t($t), $t != TOOL or g(POINTER, $g), <constraint>
        (Kind::One, [other_tool, holds]) => {
            let (body, e) = query_parts(other_tool, sym)?;
            let name_of_tool = match (body.as_slice(), &e) {
                ([(n::TOOL, t)], E::Bin(Bin::NotEq, v, name))
                    if matches!(t.as_slice(), [T::Var(n::TOOL)]) && is_var(v, n::TOOL) =>
                {
                    match name.as_ref() {
                        E::Term(T::Str(s)) => tool(s)?,
                        _ => return None,
                    }
                }
                _ => return None,
            };
            let (body, exprs) = query_all(holds, sym)?;
            if body.is_empty() || body.len() != exprs.len() {
                return None;
            }
            for ((name, terms), e) in body.iter().zip(&exprs) {
                // g(POINTER, $POINTER): the variable is named by the pointer.
                let pointer = match (*name, terms.as_slice()) {
                    (n::ARG, [T::Str(p), T::Var(v)]) if p == v => *p,
                    _ => return None,
                };
                if arg_pointer(pointer).ok()? != pointer {
                    return None;
                }
                // What the writer emits for an argument that must be present: a normalized
                // constraint that does not allow absence (the plan judges absence from it).
                let c = constraint(e, pointer)?;
                if c.normalized() != c || c.allows_absence() {
                    return None;
                }
                c.validate_shape().ok()?;
                content.args.push(ArgCheck {
                    tool: name_of_tool.clone(),
                    pointer: pointer.to_owned(),
                    constraint: c,
                });
            }
            Some(())
        }
        // reject if t(TOOL), k($k), ![keys].contains($k)
        // reject if t(TOOL), g(POINTER, $POINTER), !<constraint>   (an optional argument)
        (Kind::Reject, [q]) => {
            let (body, e) = query_parts(q, sym)?;
            let E::Negate(inner) = &e else {
                return None;
            };
            match body.as_slice() {
                [(n::TOOL, t), (n::KEY, k)] => {
                    let name = match (t.as_slice(), k.as_slice()) {
                        ([T::Str(name)], [T::Var(n::KEY)]) => tool(name)?,
                        _ => return None,
                    };
                    let keys = match inner.as_ref() {
                        E::Bin(Bin::Contains, set, v) if is_var(v, n::KEY) => match set.as_ref() {
                            E::Term(T::Set(items)) => strs(items)?,
                            _ => return None,
                        },
                        _ => return None,
                    };
                    content.closed.push((name, keys));
                }
                [(n::TOOL, t), (n::ARG, g)] => {
                    let (name, pointer) = match (t.as_slice(), g.as_slice()) {
                        ([T::Str(name)], [T::Str(p), T::Var(v)]) if p == v => (tool(name)?, *p),
                        _ => return None,
                    };
                    if arg_pointer(pointer).ok()? != pointer {
                        return None;
                    }
                    // What the writer emits for an argument that may be absent: the
                    // normalized `optional(c)`, `c` neither `any` nor holding `optional`.
                    let c = Constraint::Optional(Box::new(constraint(inner, pointer)?));
                    if c.normalized() != c {
                        return None;
                    }
                    c.validate_shape().ok()?;
                    content.args.push(ArgCheck {
                        tool: name,
                        pointer: pointer.to_owned(),
                        constraint: c,
                    });
                }
                _ => return None,
            }
            Some(())
        }
        _ => None,
    }
}
