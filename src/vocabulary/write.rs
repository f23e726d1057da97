//! The writer: every block the crate emits, built from typed values.
//!
//! INVARIANT: no Datalog text is parsed here. Facts, checks and expressions are assembled as
//! biscuit builder values, and every caller-supplied value (tool names, pointers, constraint
//! parameters, ids, keys, digests) is a term. The reader in `read.rs` accepts exactly these
//! shapes; a round-trip test holds the two together.

use std::collections::{BTreeMap, BTreeSet};

use biscuit_auth::builder::{
    Binary, BlockBuilder, Check, CheckKind, Expression, Fact, Op, Predicate, Rule, Term, Unary,
};
use time::OffsetDateTime;

use super::names as n;
use super::VERSION;
use crate::constraint::{anchored, Constraint, Scalar, ValueSet};
use crate::error::Error;
use crate::grant::{top_level_key, Grant, Narrowing, UseLimits};
use crate::ids::{AgentId, AuthorityId, Label, ToolName};
use crate::keys::AgentPublicKey;

fn var(name: &str) -> Term {
    Term::Variable(name.to_owned())
}

fn string(s: &str) -> Term {
    Term::Str(s.to_owned())
}

fn int(i: impl TryInto<i64>) -> Term {
    Term::Integer(i.try_into().unwrap_or(i64::MAX))
}

fn date(t: OffsetDateTime) -> Term {
    Term::Date(u64::try_from(t.unix_timestamp()).unwrap_or(0))
}

fn pred(name: &str, terms: Vec<Term>) -> Predicate {
    Predicate::new(name.to_owned(), terms)
}

fn fact(name: &str, terms: Vec<Term>) -> Fact {
    Fact::new(name.to_owned(), terms)
}

fn query(body: Vec<Predicate>, ops: Vec<Op>) -> Rule {
    Rule::new(
        pred(n::QUERY, vec![]),
        body,
        vec![Expression { ops }],
        vec![],
    )
}

fn scalar(s: &Scalar) -> Term {
    match s {
        Scalar::Str(x) => string(x),
        Scalar::Int(i) => int(*i),
        Scalar::Bool(b) => Term::Bool(*b),
    }
}

/// A policy's JSON: its serialization cannot fail (plain structs of strings, numbers and
/// booleans).
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn labels(set: &BTreeSet<Label>) -> Term {
    Term::Set(set.iter().map(|l| string(l.as_str())).collect())
}

/// The postfix ops of a constraint over the variable `var`. A leaf whose biscuit operation
/// would fail on a value of another type (`starts_with`, `>=`, `length`, ...) is type-guarded,
/// so such a value makes it false, never an evaluation error (an error inside an any-of would
/// otherwise deny where a later branch allows); equality and the extern functions are total
/// and need no guard.
pub(crate) fn constraint_ops(c: &Constraint, var: &str, out: &mut Vec<Op>) {
    let v = || Op::Value(Term::Variable(var.to_owned()));
    let guard = |ty: &str, body: Vec<Op>, out: &mut Vec<Op>| {
        out.extend([
            v(),
            Op::Unary(Unary::TypeOf),
            Op::Value(string(ty)),
            Op::Binary(Binary::HeterogeneousEqual),
            Op::Closure(vec![], body),
            Op::Binary(Binary::LazyAnd),
        ]);
    };
    let set = |s: &ValueSet| match s {
        ValueSet::Strs(v) => (n::STRING, Term::Set(v.iter().map(|x| string(x)).collect())),
        ValueSet::Ints(v) => (n::INTEGER, Term::Set(v.iter().map(|i| int(*i)).collect())),
    };
    let ext = |name: &str, param: Term, out: &mut Vec<Op>| {
        out.extend([
            v(),
            Op::Value(param),
            Op::Binary(Binary::Ffi(name.to_owned())),
        ]);
    };
    let json_ext = |name: &str, param: String, out: &mut Vec<Op>| ext(name, string(&param), out);
    match c {
        Constraint::Any => out.push(Op::Value(Term::Bool(true))),
        // On a present value `optional(c)` is `c`; absence is the check's form (`arg_check`).
        Constraint::Optional(inner) => constraint_ops(inner, var, out),
        Constraint::Not(inner) => {
            constraint_ops(inner, var, out);
            out.push(Op::Unary(Unary::Negate));
        }
        Constraint::Each {
            item,
            min_len,
            max_len,
        } => {
            // $v.type() == "array" && ($v.length() >= MIN && ($v.length() <= MAX
            //   && $v.all($e -> ITEM over $e)))
            let mut each = Vec::new();
            constraint_ops(item, n::ELEM, &mut each);
            let all = vec![
                v(),
                Op::Closure(vec![n::ELEM.to_owned()], each),
                Op::Binary(Binary::All),
            ];
            let at_most = vec![
                v(),
                Op::Unary(Unary::Length),
                Op::Value(int(*max_len)),
                Op::Binary(Binary::LessOrEqual),
                Op::Closure(vec![], all),
                Op::Binary(Binary::LazyAnd),
            ];
            let body = vec![
                v(),
                Op::Unary(Unary::Length),
                Op::Value(int(*min_len)),
                Op::Binary(Binary::GreaterOrEqual),
                Op::Closure(vec![], at_most),
                Op::Binary(Binary::LazyAnd),
            ];
            guard(n::ARRAY, body, out);
        }
        Constraint::Contains(x) => {
            let body = vec![v(), Op::Value(scalar(x)), Op::Binary(Binary::Contains)];
            guard(n::ARRAY, body, out);
        }
        // Kinds Datalog cannot express: an extern function with the policy as JSON.
        Constraint::Host(p) => json_ext(n::EXT_HOST, json(p), out),
        Constraint::Email(p) => json_ext(n::EXT_EMAIL, json(p), out),
        Constraint::Date(r) => json_ext(n::EXT_DATE, json(r), out),
        Constraint::Ip(p) => json_ext(n::EXT_IP, json(p), out),
        Constraint::Command(p) => json_ext(n::EXT_COMMAND, json(p), out),
        Constraint::Exact(s) => {
            out.extend([
                v(),
                Op::Value(scalar(s)),
                Op::Binary(Binary::HeterogeneousEqual),
            ]);
        }
        Constraint::OneOf(s) | Constraint::NotOneOf(s) => {
            // Guarded by the set's type: biscuit's set membership fails on `null` (an error
            // inside an any-of would deny what a later branch allows), and a not-one-of is
            // a value of the set's type that is none of these.
            let (ty, t) = set(s);
            let mut body = vec![Op::Value(t), v(), Op::Binary(Binary::Contains)];
            if matches!(c, Constraint::NotOneOf(_)) {
                body.push(Op::Unary(Unary::Negate));
            }
            guard(ty, body, out);
        }
        Constraint::Prefix(x) | Constraint::Suffix(x) => {
            let op = if matches!(c, Constraint::Prefix(_)) {
                Binary::Prefix
            } else {
                Binary::Suffix
            };
            guard(
                n::STRING,
                vec![v(), Op::Value(string(x)), Op::Binary(op)],
                out,
            );
        }
        Constraint::SubPath(root) => ext(n::EXT_PATH, string(root), out),
        Constraint::Url(policy) => json_ext(n::EXT_URL, json(policy), out),
        Constraint::IntRange { min, max } => {
            let body = vec![
                v(),
                Op::Value(int(*min)),
                Op::Binary(Binary::GreaterOrEqual),
                Op::Closure(
                    vec![],
                    vec![v(), Op::Value(int(*max)), Op::Binary(Binary::LessOrEqual)],
                ),
                Op::Binary(Binary::LazyAnd),
            ];
            guard(n::INTEGER, body, out);
        }
        Constraint::NumberRange { min, max } => {
            // Numbers that are not integers have no Datalog type: the extern function reads
            // integers and 8-byte big-endian doubles, and is false for anything else.
            let json = serde_json::to_string(&[min, max]).unwrap_or_default();
            ext(n::EXT_NUM, string(&json), out);
        }
        Constraint::Regex(pattern) => {
            let body = vec![
                v(),
                Op::Value(string(&anchored(pattern))),
                Op::Binary(Binary::Regex),
            ];
            guard(n::STRING, body, out);
        }
        Constraint::MaxLength(len) => {
            let body = vec![
                v(),
                Op::Unary(Unary::Length),
                Op::Value(int(*len)),
                Op::Binary(Binary::LessOrEqual),
            ];
            guard(n::STRING, body, out);
        }
        Constraint::AllOf(parts) | Constraint::AnyOf(parts) => {
            let op = if matches!(c, Constraint::AllOf(_)) {
                Binary::LazyAnd
            } else {
                Binary::LazyOr
            };
            let mut iter = parts.iter();
            if let Some(first) = iter.next() {
                constraint_ops(first, var, out);
            }
            for part in iter {
                let mut inner = Vec::new();
                constraint_ops(part, var, &mut inner);
                out.push(Op::Closure(vec![], inner));
                out.push(Op::Binary(op.clone()));
            }
        }
    }
}

/// The checks on the arguments of one tool in one block. Every argument that must be present
/// shares one check:
/// `check if t($t), $t != TOOL or g(P1, $P1), g(P2, $P2), <C1 over $P1>, <C2 over $P2>`;
/// each argument that may be absent has its own:
/// `reject if t(TOOL), g(P, $P), !<C over $P>`.
/// Each argument's variable is named by its pointer, a symbol the block already holds.
/// Constraints are written in their normalized form (`Constraint::normalized`).
fn arg_checks<'a>(
    tool: &ToolName,
    args: impl IntoIterator<Item = (&'a String, &'a Constraint)>,
) -> Vec<Check> {
    let mut body = Vec::new();
    let mut expressions = Vec::new();
    let mut checks = Vec::new();
    for (pointer, c) in args {
        match c.normalized() {
            Constraint::Any => {}
            Constraint::Optional(present) => {
                let mut ops = Vec::new();
                constraint_ops(&present, pointer, &mut ops);
                ops.push(Op::Unary(Unary::Negate));
                checks.push(Check {
                    queries: vec![query(
                        vec![
                            pred(n::TOOL, vec![string(tool.as_str())]),
                            pred(n::ARG, vec![string(pointer), var(pointer)]),
                        ],
                        ops,
                    )],
                    kind: CheckKind::Reject,
                });
            }
            required => {
                body.push(pred(n::ARG, vec![string(pointer), var(pointer)]));
                let mut ops = Vec::new();
                constraint_ops(&required, pointer, &mut ops);
                expressions.push(Expression { ops });
            }
        }
    }
    if body.is_empty() {
        return checks;
    }
    let other_tool = query(
        vec![pred(n::TOOL, vec![var(n::TOOL)])],
        vec![
            Op::Value(var(n::TOOL)),
            Op::Value(string(tool.as_str())),
            Op::Binary(Binary::HeterogeneousNotEqual),
        ],
    );
    let holds = Rule::new(pred(n::QUERY, vec![]), body, expressions, vec![]);
    checks.insert(
        0,
        Check {
            queries: vec![other_tool, holds],
            kind: CheckKind::One,
        },
    );
    checks
}

/// `reject if t(TOOL), k($k), ![keys].contains($k)`: for `tool`, every top-level argument
/// must be one of `keys` (`reject if`, so a call with no arguments passes).
fn closed_check(tool: &ToolName, keys: &BTreeSet<String>) -> Check {
    let set = Term::Set(keys.iter().map(|k| string(k)).collect());
    Check {
        queries: vec![query(
            vec![
                pred(n::TOOL, vec![string(tool.as_str())]),
                pred(n::KEY, vec![var(n::KEY)]),
            ],
            vec![
                Op::Value(set),
                Op::Value(var(n::KEY)),
                Op::Binary(Binary::Contains),
                Op::Unary(Unary::Negate),
            ],
        )],
        kind: CheckKind::Reject,
    }
}

/// `check if t($t), [tools].contains($t)`.
fn tool_check<'a>(tools: impl IntoIterator<Item = &'a ToolName>) -> Check {
    let set = Term::Set(tools.into_iter().map(|t| string(t.as_str())).collect());
    Check {
        queries: vec![query(
            vec![pred(n::TOOL, vec![var(n::TOOL)])],
            vec![
                Op::Value(set),
                Op::Value(var(n::TOOL)),
                Op::Binary(Binary::Contains),
            ],
        )],
        kind: CheckKind::One,
    }
}

/// `check if time($time), $time <= EXPIRY`.
fn expiry_check(at: OffsetDateTime) -> Check {
    Check {
        queries: vec![query(
            vec![pred(n::TIME, vec![var(n::TIME)])],
            vec![
                Op::Value(var(n::TIME)),
                Op::Value(date(at)),
                Op::Binary(Binary::LessOrEqual),
            ],
        )],
        kind: CheckKind::One,
    }
}

/// The facts of one tool's use conditions.
fn use_facts(tool: &ToolName, l: &UseLimits, out: &mut Vec<Fact>) {
    let t = || string(tool.as_str());
    if let Some(uses) = l.budget {
        out.push(fact(n::BUDGET, vec![t(), int(uses)]));
    }
    if let Some((calls, secs)) = l.rate {
        out.push(fact(n::RATE, vec![t(), int(calls), int(secs)]));
    }
    if let Some(k) = l.approvals {
        out.push(fact(n::APPROVALS, vec![t(), int(k)]));
    }
    if let Some(k) = l.label_approvals {
        out.push(fact(n::LABEL_APPROVALS, vec![t(), int(k)]));
    }
    if l.single_use_approvals {
        out.push(fact(n::SINGLE_USE_APPROVALS, vec![t()]));
    }
    if let Some(tier) = l.min_tier {
        out.push(fact(n::TIER, vec![t(), int(tier)]));
    }
    if let Some(accepted) = &l.accepted_labels {
        out.push(fact(n::ACCEPTS, vec![t(), labels(accepted)]));
    }
}

fn chain_facts(fan_out: Option<u32>, max_hops: Option<u32>, out: &mut Vec<Fact>) {
    if let Some(k) = fan_out {
        out.push(fact(n::FAN_OUT, vec![int(k)]));
    }
    if let Some(h) = max_hops {
        out.push(fact(n::HOPS, vec![int(h)]));
    }
}

fn block(facts: Vec<Fact>, checks: Vec<Check>) -> Result<BlockBuilder, Error> {
    let mut b = BlockBuilder::new();
    for f in facts {
        b = b.fact(f)?;
    }
    for c in checks {
        b = b.check(c)?;
    }
    Ok(b)
}

/// Top-level keys mentioned by a set of pointers.
pub(crate) fn keys_of<'a>(pointers: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    pointers
        .into_iter()
        .filter_map(|p| top_level_key(p))
        .collect()
}

/// The authority block for a grant.
pub(crate) fn authority_block(
    issuer: &AuthorityId,
    grant: &Grant,
    issued_at: OffsetDateTime,
) -> Result<BlockBuilder, Error> {
    let mut facts = vec![
        fact(n::VERSION, vec![int(VERSION)]),
        fact(
            n::AUTHORITY,
            vec![
                string(issuer.as_str()),
                Term::Bytes(grant.agent.as_uuid().as_bytes().to_vec()),
                Term::Bytes(grant.holder.to_bytes().to_vec()),
                int(grant.max_depth),
                date(issued_at),
            ],
        ),
    ];
    let mut checks = vec![tool_check(grant.tools.keys())];
    for (tool, tg) in &grant.tools {
        checks.extend(arg_checks(tool, &tg.args));
        if !tg.other_args {
            checks.push(closed_check(tool, &keys_of(tg.args.keys())));
        }
        use_facts(tool, &tg.limits, &mut facts);
    }
    chain_facts(grant.fan_out, grant.max_hops, &mut facts);
    checks.push(expiry_check(grant.expires_at));
    block(facts, checks)
}

/// What a delegation block records besides its narrowing.
pub(crate) struct DelegationFacts {
    pub(crate) next_holder: AgentPublicKey,
    pub(crate) next_agent: AgentId,
    pub(crate) cause: [u8; 32],
}

/// A narrowing block (anonymous attenuation, or the body of a delegation block).
/// `close_keys` holds, per tool being closed, every top-level key any block has mentioned.
pub(crate) fn narrowing_block(
    narrowing: &Narrowing,
    close_keys: &BTreeMap<ToolName, BTreeSet<String>>,
    delegation: Option<&DelegationFacts>,
) -> Result<BlockBuilder, Error> {
    let mut facts = Vec::new();
    let mut checks = Vec::new();
    if let Some(d) = delegation {
        facts.push(fact(
            n::DELEGATION,
            vec![
                Term::Bytes(d.next_holder.to_bytes().to_vec()),
                Term::Bytes(d.next_agent.as_uuid().as_bytes().to_vec()),
                Term::Bytes(d.cause.to_vec()),
            ],
        ));
    }
    if let Some(tools) = &narrowing.tools {
        checks.push(tool_check(tools));
    }
    for (tool, args) in &narrowing.args {
        checks.extend(arg_checks(tool, args));
    }
    for (tool, keys) in close_keys {
        checks.push(closed_check(tool, keys));
    }
    match delegation {
        Some(_) => {
            for (tool, l) in &narrowing.limits {
                use_facts(tool, l, &mut facts);
            }
            chain_facts(narrowing.fan_out, narrowing.max_hops, &mut facts);
            if !narrowing.seen_labels.is_empty() {
                facts.push(fact(n::SEEN, vec![labels(&narrowing.seen_labels)]));
            }
        }
        None if narrowing.has_use_limits() => {
            return Err(Error::grant(
                "budgets, rates, fan-out, hop limits, approvals and seen labels are set only by a grant or a delegation (an anonymous block cannot be attributed)",
            ))
        }
        None => {}
    }
    if let Some(at) = narrowing.expires_at {
        checks.push(expiry_check(at));
    }
    if facts.is_empty() && checks.is_empty() {
        return Err(Error::grant("the narrowing narrows nothing"));
    }
    block(facts, checks)
}
