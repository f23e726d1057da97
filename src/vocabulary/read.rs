//! The grammar reader: every block's facts and checks, read straight from the token bytes and
//! refused unless they are exactly what `write.rs` emits for vocabulary version 2.
//!
//! It runs nothing taken from the token: no rule, regex or expression is evaluated or
//! compiled here. Its work is linear in the token's bytes, with every recursion bounded, and no
//! curve point is decompressed (keys stay bytes until a signature check needs one).

use std::collections::{BTreeSet, HashSet};

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use biscuit_auth::format::schema;
use prost::Message;

use super::names as n;
use super::VERSION;
use crate::constraint::{Constraint, Scalar, ValueSet};
use crate::grant::arg_pointer;
use crate::ids::{Label, ToolName};

/// Biscuit's default symbols (part of the format: indices below 1024 refer to them).
const DEFAULT_SYMBOLS: [&str; 28] = [
    "read",
    "write",
    "resource",
    "operation",
    "right",
    "time",
    "role",
    "owner",
    "tenant",
    "namespace",
    "user",
    "team",
    "service",
    "admin",
    "email",
    "group",
    "member",
    "ip_address",
    "client",
    "client_ip",
    "domain",
    "path",
    "version",
    "cluster",
    "node",
    "hostname",
    "nonce",
    "query",
];
const SYMBOL_OFFSET: u64 = 1024;
/// Most symbols one block may add.
pub(crate) const MAX_SYMBOLS: usize = 1024;
/// Longest symbol, in bytes (a URL policy's JSON is the longest the writer emits).
pub(crate) const MAX_SYMBOL_BYTES: usize = 16 * 1024;
/// Deepest expression tree (closures included). The writer's deepest, a constraint nested
/// eight deep, stays far below it.
const MAX_EXPR_DEPTH: usize = 40;

/// Why a token was refused while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Not base64url, not a biscuit, or a block is not a biscuit block.
    Malformed,
    /// More blocks than allowed.
    TooManyBlocks,
    /// The authority block's `v` is another version.
    UnsupportedVersion(i64),
    /// The authority block lacks its record, or holds it twice.
    MalformedAuthority,
    /// A third-party block without exactly one delegation record.
    MalformedDelegation(usize),
    /// Something the writer never emits.
    OutsideGrammar { block: usize, what: &'static str },
}

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

/// The authority record `a(issuer, agent, holder, max depth)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthorityRecord {
    pub(crate) issuer: String,
    pub(crate) agent: [u8; 16],
    pub(crate) holder: [u8; 32],
    pub(crate) max_depth: u32,
}

/// The delegation record `d(next holder, next agent, cause)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DelegationRecord {
    pub(crate) holder: [u8; 32],
    pub(crate) agent: [u8; 16],
    pub(crate) cause: [u8; 32],
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

fn engine() -> GeneralPurpose {
    GeneralPurpose::new(
        &URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// A token's envelope: every block's bytes, signature and external key. Nothing inside a
/// block has been read.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// The root key id the token names.
    pub(crate) root_key_id: Option<u32>,
    /// The binary token (to check its signatures).
    pub(crate) bytes: Vec<u8>,
    /// The authority block, then every other block.
    blocks: Vec<schema::SignedBlock>,
}

impl Envelope {
    /// The last block's revocation id (its signature): the token id.
    pub(crate) fn last_revocation_id(&self) -> Option<&[u8]> {
        self.blocks.last().map(|b| b.signature.as_slice())
    }
}

/// Decodes token text: base64url, the protobuf envelope and the block count, checked before
/// any block is read.
pub(crate) fn read_envelope(text: &str, max_blocks: usize) -> Result<Envelope, ReadError> {
    let bytes = engine()
        .decode(text.trim())
        .map_err(|_| ReadError::Malformed)?;
    envelope(bytes, max_blocks)
}

/// Decodes a binary token's envelope.
pub(crate) fn envelope(bytes: Vec<u8>, max_blocks: usize) -> Result<Envelope, ReadError> {
    let e = schema::Biscuit::decode(bytes.as_slice()).map_err(|_| ReadError::Malformed)?;
    // Count before reading any block: a token of many tiny blocks buys nothing.
    if e.blocks.len().saturating_add(1) > max_blocks {
        return Err(ReadError::TooManyBlocks);
    }
    // prost does not enforce proto2's `required`: an envelope is well-formed only with a proof
    // and, for every block, a signature and an ed25519 next key of the right sizes.
    let well_formed =
        |b: &schema::SignedBlock| b.signature.len() == 64 && ed25519_bytes(&b.next_key).is_some();
    let mut blocks = Vec::with_capacity(e.blocks.len() + 1);
    blocks.push(e.authority);
    blocks.extend(e.blocks);
    if e.proof.content.is_none() || !blocks.iter().all(well_formed) {
        return Err(ReadError::Malformed);
    }
    Ok(Envelope {
        root_key_id: e.root_key_id,
        bytes,
        blocks,
    })
}

/// What the proof's check needs, read before any signature: the authority record and every
/// delegation's signer and record. Each is the block's leading fact (the writer puts it
/// there), found by walking the block's protobuf fields without decoding the others, so a
/// block bloated with checks, rules or further facts costs a skip, not a parse.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    pub(crate) authority: AuthorityRecord,
    /// (block index, signer key bytes, record), in block order.
    pub(crate) delegations: Vec<(usize, [u8; 32], DelegationRecord)>,
}

/// Reads the records the holder walk needs.
pub(crate) fn records(env: &Envelope) -> Result<Records, ReadError> {
    let mut blocks = env.blocks.iter().enumerate();
    let Some((_, authority)) = blocks.next() else {
        return Err(ReadError::Malformed);
    };
    if authority.external_signature.is_some() {
        return Err(ReadError::OutsideGrammar {
            block: 0,
            what: "an external signature",
        });
    }
    let authority = head(0, &authority.block, 2, |symbols, facts| {
        let sym = Symbols { table: symbols };
        let facts: Vec<_> = facts
            .iter()
            .map(|f| predicate(&f.predicate, &sym))
            .collect::<Option<_>>()
            .ok_or(ReadError::MalformedAuthority)?;
        match facts.first() {
            Some((n::VERSION, terms)) => match terms.as_slice() {
                [T::Int(VERSION)] => {}
                [T::Int(other)] => return Err(ReadError::UnsupportedVersion(*other)),
                _ => return Err(ReadError::MalformedAuthority),
            },
            _ => return Err(ReadError::MalformedAuthority),
        }
        authority_record(facts.get(1..).unwrap_or_default())
    })?;
    let mut delegations = Vec::new();
    for (index, block) in blocks {
        let Some(ext) = &block.external_signature else {
            continue;
        };
        let malformed = ReadError::MalformedDelegation(index);
        let signer = ed25519_bytes(&ext.public_key).ok_or_else(|| malformed.clone())?;
        let record = head(index, &block.block, 1, |symbols, facts| {
            let sym = Symbols { table: symbols };
            let facts: Vec<_> = facts
                .iter()
                .map(|f| predicate(&f.predicate, &sym))
                .collect::<Option<_>>()
                .ok_or_else(|| malformed.clone())?;
            delegation_record(&facts).ok_or_else(|| malformed.clone())
        })?;
        delegations.push((index, signer, record));
    }
    Ok(Records {
        authority,
        delegations,
    })
}

/// Calls `f` with a block's symbols and its first `want` facts, found by walking the block's
/// fields: symbols are borrowed, every other field is skipped undecoded.
fn head<R>(
    index: usize,
    block: &[u8],
    want: usize,
    f: impl FnOnce(&[&str], &[schema::Fact]) -> Result<R, ReadError>,
) -> Result<R, ReadError> {
    use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
    let mut buf = block;
    let mut symbols: Vec<&str> = Vec::new();
    let mut facts: Vec<schema::Fact> = Vec::with_capacity(want);
    while !buf.is_empty() {
        let (tag, wire) = decode_key(&mut buf).map_err(|_| ReadError::Malformed)?;
        let wanted = tag == 1 || (tag == 4 && facts.len() < want);
        if wire == WireType::LengthDelimited && wanted {
            let len = usize::try_from(decode_varint(&mut buf).map_err(|_| ReadError::Malformed)?)
                .map_err(|_| ReadError::Malformed)?;
            let (field, rest) = buf.split_at_checked(len).ok_or(ReadError::Malformed)?;
            buf = rest;
            if tag == 1 {
                symbols.push(std::str::from_utf8(field).map_err(|_| ReadError::Malformed)?);
            } else {
                facts.push(schema::Fact::decode(field).map_err(|_| ReadError::Malformed)?);
            }
        } else {
            skip_field(wire, tag, &mut buf, DecodeContext::default())
                .map_err(|_| ReadError::Malformed)?;
        }
    }
    if symbols.len() > MAX_SYMBOLS || symbols.iter().any(|s| s.len() > MAX_SYMBOL_BYTES) {
        return Err(ReadError::OutsideGrammar {
            block: index,
            what: "the symbol table's size",
        });
    }
    f(&symbols, &facts)
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

fn ed25519_bytes(key: &schema::PublicKey) -> Option<[u8; 32]> {
    if key.algorithm != schema::public_key::Algorithm::Ed25519 as i32 {
        return None;
    }
    key.key.as_slice().try_into().ok()
}

struct Symbols<'a> {
    table: &'a [&'a str],
}

impl<'a> Symbols<'a> {
    fn get(&self, index: u64) -> Option<&'a str> {
        if index < SYMBOL_OFFSET {
            DEFAULT_SYMBOLS.get(usize::try_from(index).ok()?).copied()
        } else {
            self.table
                .get(usize::try_from(index - SYMBOL_OFFSET).ok()?)
                .copied()
        }
    }
}

/// A term as the grammar sees it.
#[derive(Debug, Clone, PartialEq)]
enum T<'a> {
    Var(&'a str),
    Int(i64),
    Str(&'a str),
    Date(u64),
    Bytes(&'a [u8]),
    Bool(bool),
    Set(Vec<T<'a>>),
}

fn term<'a>(t: &'a schema::Term, sym: &Symbols<'a>, in_set: bool) -> Option<T<'a>> {
    use schema::term::Content;
    Some(match t.content.as_ref()? {
        Content::Variable(i) if !in_set => T::Var(sym.get(u64::from(*i))?),
        Content::Integer(i) => T::Int(*i),
        Content::String(i) => T::Str(sym.get(*i)?),
        Content::Date(d) if !in_set => T::Date(*d),
        Content::Bytes(b) if !in_set => T::Bytes(b),
        Content::Bool(b) if !in_set => T::Bool(*b),
        Content::Set(s) if !in_set => T::Set(
            s.set
                .iter()
                .map(|x| term(x, sym, true))
                .collect::<Option<Vec<_>>>()?,
        ),
        _ => return None,
    })
}

fn predicate<'a>(p: &'a schema::Predicate, sym: &Symbols<'a>) -> Option<(&'a str, Vec<T<'a>>)> {
    let name = sym.get(p.name)?;
    let terms = p
        .terms
        .iter()
        .map(|t| term(t, sym, false))
        .collect::<Option<Vec<_>>>()?;
    Some((name, terms))
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

fn authority_record(facts: &[(&str, Vec<T<'_>>)]) -> Result<AuthorityRecord, ReadError> {
    let mut records = facts.iter().filter(|(name, _)| *name == n::AUTHORITY);
    let record = match (records.next(), records.next()) {
        (Some((_, terms)), None) => match terms.as_slice() {
            [T::Str(issuer), T::Bytes(agent), T::Bytes(holder), T::Int(depth)] => {
                Some(AuthorityRecord {
                    issuer: (*issuer).to_owned(),
                    agent: (*agent)
                        .try_into()
                        .ok()
                        .ok_or(ReadError::MalformedAuthority)?,
                    holder: (*holder)
                        .try_into()
                        .ok()
                        .ok_or(ReadError::MalformedAuthority)?,
                    max_depth: u32::try_from(*depth).map_err(|_| ReadError::MalformedAuthority)?,
                })
            }
            _ => None,
        },
        _ => None,
    };
    record.ok_or(ReadError::MalformedAuthority)
}

fn delegation_record(facts: &[(&str, Vec<T<'_>>)]) -> Option<DelegationRecord> {
    let mut records = facts.iter().filter(|(name, _)| *name == n::DELEGATION);
    match (records.next(), records.next()) {
        (Some((_, terms)), None) => match terms.as_slice() {
            [T::Bytes(holder), T::Bytes(agent), T::Bytes(cause)] => Some(DelegationRecord {
                holder: (*holder).try_into().ok()?,
                agent: (*agent).try_into().ok()?,
                cause: (*cause).try_into().ok()?,
            }),
            _ => None,
        },
        _ => None,
    }
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

/// An expression tree built from biscuit's postfix ops, with its depth.
#[derive(Debug)]
enum E<'a> {
    Term(T<'a>),
    /// A closure without parameters (the right side of a lazy `&&` / `||`).
    Closure(Box<E<'a>>),
    Negate(Box<E<'a>>),
    Length(Box<E<'a>>),
    TypeOf(Box<E<'a>>),
    Bin(Bin<'a>, Box<E<'a>>, Box<E<'a>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bin<'a> {
    Eq,
    NotEq,
    Le,
    Ge,
    Contains,
    Prefix,
    Suffix,
    Regex,
    And,
    Or,
    Ffi(&'a str),
}

fn tree<'a>(ops: &'a [schema::Op], sym: &Symbols<'a>, depth: usize) -> Option<E<'a>> {
    use schema::op::Content;
    use schema::op_binary::Kind as B;
    use schema::op_unary::Kind as U;
    if depth > MAX_EXPR_DEPTH {
        return None;
    }
    // Each stack entry carries its depth, so a long chain of binary ops cannot build a tree
    // deeper than the bound (dropping and matching it recurse).
    let mut stack: Vec<(E<'a>, usize)> = Vec::new();
    for op in ops {
        match op.content.as_ref()? {
            Content::Value(t) => stack.push((E::Term(term(t, sym, false)?), depth + 1)),
            Content::Closure(c) => {
                if !c.params.is_empty() {
                    return None;
                }
                let inner = tree(&c.ops, sym, depth + 1)?;
                stack.push((E::Closure(Box::new(inner)), depth + 2));
            }
            Content::Unary(u) => {
                if u.ffi_name.is_some() {
                    return None;
                }
                let (e, d) = stack.pop()?;
                let e = Box::new(e);
                let e = match U::from_i32(u.kind)? {
                    U::Negate => E::Negate(e),
                    U::Length => E::Length(e),
                    U::TypeOf => E::TypeOf(e),
                    _ => return None,
                };
                stack.push((e, d + 1));
            }
            Content::Binary(b) => {
                let kind = B::from_i32(b.kind)?;
                let op = match (kind, b.ffi_name) {
                    (B::Ffi, Some(name)) => Bin::Ffi(sym.get(name)?),
                    (_, Some(_)) => return None,
                    (B::HeterogeneousEqual, None) => Bin::Eq,
                    (B::HeterogeneousNotEqual, None) => Bin::NotEq,
                    (B::LessOrEqual, None) => Bin::Le,
                    (B::GreaterOrEqual, None) => Bin::Ge,
                    (B::Contains, None) => Bin::Contains,
                    (B::Prefix, None) => Bin::Prefix,
                    (B::Suffix, None) => Bin::Suffix,
                    (B::Regex, None) => Bin::Regex,
                    (B::LazyAnd, None) => Bin::And,
                    (B::LazyOr, None) => Bin::Or,
                    _ => return None,
                };
                let (right, dr) = stack.pop()?;
                let (left, dl) = stack.pop()?;
                // Only the lazy operators take a closure, and only on their right.
                let lazy = matches!(op, Bin::And | Bin::Or);
                if lazy != matches!(right, E::Closure(_)) || matches!(left, E::Closure(_)) {
                    return None;
                }
                let d = dr.max(dl) + 1;
                if d > MAX_EXPR_DEPTH {
                    return None;
                }
                stack.push((E::Bin(op, Box::new(left), Box::new(right)), d));
            }
        }
        if stack.last().is_some_and(|(_, d)| *d > MAX_EXPR_DEPTH) {
            return None;
        }
    }
    let (e, _) = stack.pop()?;
    stack.is_empty().then_some(e)
}

fn is_var(e: &E<'_>, name: &str) -> bool {
    matches!(e, E::Term(T::Var(v)) if *v == name)
}

/// `$v.type() == "<ty>"`: the guard of a typed leaf over `var`.
fn guard_type<'a>(e: &E<'a>, var: &str) -> Option<&'a str> {
    match e {
        E::Bin(Bin::Eq, l, r) => match (l.as_ref(), r.as_ref()) {
            (E::TypeOf(v), E::Term(T::Str(ty))) if is_var(v, var) => Some(ty),
            _ => None,
        },
        _ => None,
    }
}

fn strs(items: &[T<'_>]) -> Option<BTreeSet<String>> {
    items
        .iter()
        .map(|t| match t {
            T::Str(s) => Some((*s).to_owned()),
            _ => None,
        })
        .collect()
}

fn ints(items: &[T<'_>]) -> Option<BTreeSet<i64>> {
    items
        .iter()
        .map(|t| match t {
            T::Int(i) => Some(*i),
            _ => None,
        })
        .collect()
}

/// The body of a typed leaf, given its guard's type.
fn guarded(ty: &str, body: &E<'_>, var: &str) -> Option<Constraint> {
    let g = |e: &E<'_>| is_var(e, var);
    let (op, l, r) = match body {
        E::Negate(inner) => match inner.as_ref() {
            E::Bin(Bin::Contains, set, v) if g(v) => {
                let E::Term(T::Set(items)) = set.as_ref() else {
                    return None;
                };
                return Some(Constraint::NotOneOf(match ty {
                    n::STRING => ValueSet::Strs(strs(items)?),
                    n::INTEGER => ValueSet::Ints(ints(items)?),
                    _ => return None,
                }));
            }
            _ => return None,
        },
        E::Bin(op, l, r) => (*op, l.as_ref(), r.as_ref()),
        _ => return None,
    };
    Some(match (ty, op, l, r) {
        (n::STRING, Bin::Contains, E::Term(T::Set(items)), v) if g(v) => {
            Constraint::OneOf(ValueSet::Strs(strs(items)?))
        }
        (n::INTEGER, Bin::Contains, E::Term(T::Set(items)), v) if g(v) => {
            Constraint::OneOf(ValueSet::Ints(ints(items)?))
        }
        (n::STRING, Bin::Prefix, v, E::Term(T::Str(s))) if g(v) => {
            Constraint::Prefix((*s).to_owned())
        }
        (n::STRING, Bin::Suffix, v, E::Term(T::Str(s))) if g(v) => {
            Constraint::Suffix((*s).to_owned())
        }
        (n::STRING, Bin::Regex, v, E::Term(T::Str(s))) if g(v) => {
            let pattern = s.strip_prefix("^(?:")?.strip_suffix(")$")?;
            Constraint::Regex(pattern.to_owned())
        }
        (n::STRING, Bin::Le, E::Length(v), E::Term(T::Int(len))) if g(v) => {
            Constraint::MaxLength(u32::try_from(*len).ok()?)
        }
        (n::INTEGER, Bin::And, E::Bin(Bin::Ge, v1, lo), E::Closure(hi)) if g(v1) => {
            let E::Term(T::Int(lo)) = lo.as_ref() else {
                return None;
            };
            match hi.as_ref() {
                E::Bin(Bin::Le, v2, hi) if g(v2) => match hi.as_ref() {
                    E::Term(T::Int(hi)) => Constraint::IntRange { min: *lo, max: *hi },
                    _ => return None,
                },
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A constraint over `var` from its expression tree.
fn constraint(e: &E<'_>, var: &str) -> Option<Constraint> {
    let g = |e: &E<'_>| is_var(e, var);
    match e {
        E::Term(T::Bool(true)) => Some(Constraint::Any),
        E::Bin(Bin::And, l, r) if guard_type(l, var).is_some() => {
            let E::Closure(body) = r.as_ref() else {
                return None;
            };
            guarded(guard_type(l, var)?, body, var)
        }
        E::Bin(op @ (Bin::And | Bin::Or), _, _) => {
            let mut parts = Vec::new();
            flatten(e, *op, var, &mut parts)?;
            Some(match op {
                Bin::And => Constraint::AllOf(parts),
                _ => Constraint::AnyOf(parts),
            })
        }
        E::Bin(Bin::Eq, v, x) if g(v) => Some(Constraint::Exact(match x.as_ref() {
            E::Term(T::Str(s)) => Scalar::Str((*s).to_owned()),
            E::Term(T::Int(i)) => Scalar::Int(*i),
            E::Term(T::Bool(b)) => Scalar::Bool(*b),
            _ => return None,
        })),
        E::Bin(Bin::Ffi(name), v, param) if g(v) => {
            let E::Term(T::Str(param)) = param.as_ref() else {
                return None;
            };
            match *name {
                n::EXT_PATH => Some(Constraint::SubPath((*param).to_owned())),
                n::EXT_URL => Some(Constraint::Url(serde_json::from_str(param).ok()?)),
                n::EXT_NUM => {
                    let [min, max]: [f64; 2] = serde_json::from_str(param).ok()?;
                    Some(Constraint::NumberRange { min, max })
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The parts of a left-nested chain of one lazy operator.
fn flatten(e: &E<'_>, op: Bin<'_>, var: &str, parts: &mut Vec<Constraint>) -> Option<()> {
    match e {
        E::Bin(o, l, r) if *o == op && !(op == Bin::And && guard_type(l, var).is_some()) => {
            flatten(l, op, var, parts)?;
            let E::Closure(right) = r.as_ref() else {
                return None;
            };
            parts.push(constraint(right, var)?);
            Some(())
        }
        other => {
            parts.push(constraint(other, var)?);
            Some(())
        }
    }
}

/// A predicate as read: its name and terms.
type Pred<'a> = (&'a str, Vec<T<'a>>);

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
                // A bare `true` (an all-of of `any`) still requires the argument to be
                // present, as the check does: the plan looks the argument up first.
                let c = constraint(e, pointer)?;
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
        (Kind::Reject, [q]) => {
            let (body, e) = query_parts(q, sym)?;
            let name = match body.as_slice() {
                [(n::TOOL, t), (n::KEY, k)] => match (t.as_slice(), k.as_slice()) {
                    ([T::Str(name)], [T::Var(n::KEY)]) => tool(name)?,
                    _ => return None,
                },
                _ => return None,
            };
            let keys = match &e {
                E::Negate(inner) => match inner.as_ref() {
                    E::Bin(Bin::Contains, set, v) if is_var(v, n::KEY) => match set.as_ref() {
                        E::Term(T::Set(items)) => strs(items)?,
                        _ => return None,
                    },
                    _ => return None,
                },
                _ => return None,
            };
            content.closed.push((name, keys));
            Some(())
        }
        _ => None,
    }
}
