//! The closed Datalog vocabulary, version 1. The only module that writes Datalog.
//!
//! INVARIANT: every caller-supplied value (tool names, argument pointers and values, constraint
//! parameters, ids, keys, digests) reaches Datalog as a parameter term, never as source text.
//! Source text is assembled only from the fixed fragments in this file and generated parameter
//! names (`p0`, `p1`, ...). See `docs/token-format.md` for the vocabulary.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{self, Term};
use biscuit_auth::datalog::ExternFunc;
use biscuit_auth::{AuthorizerBuilder, BlockBuilder, PublicKey};
use time::OffsetDateTime;

use crate::constraint::{anchored, Constraint, Scalar, ValueSet};
use crate::error::Error;
use crate::grant::top_level_key;
use crate::ids::{AgentId, AuthorityId, ToolName};
use crate::keys::AgentPublicKey;
use crate::subpath;
use crate::url_policy::UrlPolicy;
use crate::value::ArgValue;

/// The vocabulary version written in every authority block (`v(1)`).
pub(crate) const VERSION: i64 = 1;

// Extern functions the executor provides to the checks the vocabulary generates.
const EXT_PATH: &str = "acpath";
const EXT_URL: &str = "acurl";
const EXT_NUM: &str = "acnum";

/// Datalog source under construction, with its parameters.
#[derive(Default)]
struct Source {
    text: String,
    params: HashMap<String, Term>,
}

impl Source {
    /// Registers a parameter and returns its placeholder.
    fn param(&mut self, term: Term) -> String {
        let name = format!("p{}", self.params.len());
        let placeholder = format!("{{{name}}}");
        self.params.insert(name, term);
        placeholder
    }

    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push_str(";\n");
    }

    fn into_block(self) -> Result<BlockBuilder, Error> {
        BlockBuilder::new()
            .code_with_params(&self.text, self.params, HashMap::new())
            .map_err(Error::from)
    }
}

fn str_term(s: &str) -> Term {
    Term::Str(s.to_owned())
}

fn date_term(t: OffsetDateTime) -> Term {
    Term::Date(u64::try_from(t.unix_timestamp()).unwrap_or(0))
}

fn str_set<'a>(items: impl IntoIterator<Item = &'a str>) -> Term {
    Term::Set(items.into_iter().map(str_term).collect())
}

/// The expression a constraint becomes, over the variable `$v`. Every branch is type-guarded so
/// a value of the wrong type makes the check fail, never the evaluation error.
fn constraint_expr(c: &Constraint, src: &mut Source) -> Result<String, Error> {
    let s =
        |_: &mut Source, guard: &str, body: String| format!("($v.type() == \"{guard}\" && {body})");
    Ok(match c {
        Constraint::Any => "true".to_owned(),
        Constraint::Exact(Scalar::Str(x)) => {
            let p = src.param(str_term(x));
            s(src, "string", format!("$v == {p}"))
        }
        Constraint::Exact(Scalar::Int(i)) => {
            let p = src.param(Term::Integer(*i));
            s(src, "integer", format!("$v == {p}"))
        }
        Constraint::Exact(Scalar::Bool(b)) => {
            let p = src.param(Term::Bool(*b));
            s(src, "bool", format!("$v == {p}"))
        }
        Constraint::OneOf(set) | Constraint::NotOneOf(set) => {
            let (guard, term) = match set {
                ValueSet::Strs(v) => ("string", str_set(v.iter().map(String::as_str))),
                ValueSet::Ints(v) => (
                    "integer",
                    Term::Set(v.iter().map(|i| Term::Integer(*i)).collect()),
                ),
            };
            let p = src.param(term);
            let neg = if matches!(c, Constraint::NotOneOf(_)) {
                "!"
            } else {
                ""
            };
            s(src, guard, format!("{neg}{p}.contains($v)"))
        }
        Constraint::Prefix(x) => {
            let p = src.param(str_term(x));
            s(src, "string", format!("$v.starts_with({p})"))
        }
        Constraint::Suffix(x) => {
            let p = src.param(str_term(x));
            s(src, "string", format!("$v.ends_with({p})"))
        }
        Constraint::SubPath(root) => {
            let p = src.param(str_term(root));
            s(src, "string", format!("$v.extern::{EXT_PATH}({p})"))
        }
        Constraint::Url(policy) => {
            let json = serde_json::to_string(policy).map_err(|e| Error::grant(e.to_string()))?;
            let p = src.param(str_term(&json));
            s(src, "string", format!("$v.extern::{EXT_URL}({p})"))
        }
        Constraint::IntRange { min, max } => {
            let lo = src.param(Term::Integer(*min));
            let hi = src.param(Term::Integer(*max));
            s(src, "integer", format!("$v >= {lo} && $v <= {hi}"))
        }
        Constraint::NumberRange { min, max } => {
            let json =
                serde_json::to_string(&[min, max]).map_err(|e| Error::grant(e.to_string()))?;
            let p = src.param(str_term(&json));
            format!("$v.extern::{EXT_NUM}({p})")
        }
        Constraint::Regex(pattern) => {
            let p = src.param(str_term(&anchored(pattern)));
            s(src, "string", format!("$v.matches({p})"))
        }
        Constraint::MaxLength(n) => {
            let p = src.param(Term::Integer(i64::from(*n)));
            s(src, "string", format!("$v.length() <= {p}"))
        }
        Constraint::AllOf(parts) | Constraint::AnyOf(parts) => {
            let op = if matches!(c, Constraint::AllOf(_)) {
                " && "
            } else {
                " || "
            };
            let exprs = parts
                .iter()
                .map(|p| constraint_expr(p, src))
                .collect::<Result<Vec<_>, _>>()?;
            format!("({})", exprs.join(op))
        }
    })
}

/// Writes the facts and checks for one tool's argument constraints.
fn tool_constraints(
    src: &mut Source,
    tool: &ToolName,
    args: &BTreeMap<String, Constraint>,
) -> Result<(), Error> {
    for (pointer, c) in args {
        let json = serde_json::to_string(c).map_err(|e| Error::grant(e.to_string()))?;
        // Free-form strings travel as bytes in facts so that the printed block source (read
        // back by the holder side) never needs string escaping.
        let (t, p, j) = (
            src.param(str_term(tool.as_str())),
            src.param(Term::Bytes(pointer.as_bytes().to_vec())),
            src.param(Term::Bytes(json.into_bytes())),
        );
        src.line(&format!("c({t}, {p}, {j})"));
        if matches!(c, Constraint::Any) {
            continue;
        }
        let t = src.param(str_term(tool.as_str()));
        let p = src.param(str_term(pointer));
        let expr = constraint_expr(c, src)?;
        src.line(&format!(
            "check if tool($t), $t != {t} or arg({p}, $v), {expr}"
        ));
    }
    Ok(())
}

/// The closed-world check: for `tool`, every top-level argument must be one of `keys`.
fn closed_world(src: &mut Source, tool: &ToolName, keys: &BTreeSet<String>) {
    let t = src.param(str_term(tool.as_str()));
    let k = src.param(str_set(keys.iter().map(String::as_str)));
    // `reject if`, not `check all`: biscuit's `check all` fails when nothing matches, and a
    // call with no arguments must pass.
    src.line(&format!("reject if tool({t}), argk($k), !{k}.contains($k)"));
}

fn tool_set(src: &mut Source, tools: &BTreeSet<&ToolName>) {
    for tool in tools {
        let t = src.param(str_term(tool.as_str()));
        src.line(&format!("t({t})"));
    }
    let set = src.param(str_set(tools.iter().map(|t| t.as_str())));
    src.line(&format!("check if tool($t), {set}.contains($t)"));
}

/// Use conditions recorded for block `index`: `lim(index, kind, tool, n, seconds)` and
/// `lbl(index, kind, tool, label)`.
fn use_limits<'a>(
    src: &mut Source,
    index: usize,
    limits: impl IntoIterator<Item = (&'a ToolName, &'a crate::grant::UseLimits)>,
    chain: ChainConditions<'_>,
) {
    let i = i64::try_from(index).unwrap_or(i64::MAX);
    let lim = |src: &mut Source, kind: &str, tool: &str, n: i64, secs: i64| {
        let ps = [
            src.param(Term::Integer(i)),
            src.param(str_term(kind)),
            src.param(str_term(tool)),
            src.param(Term::Integer(n)),
            src.param(Term::Integer(secs)),
        ];
        src.line(&format!("lim({})", ps.join(", ")));
    };
    let lbl = |src: &mut Source, kind: &str, tool: &str, label: &str| {
        let ps = [
            src.param(Term::Integer(i)),
            src.param(str_term(kind)),
            src.param(str_term(tool)),
            src.param(str_term(label)),
        ];
        src.line(&format!("lbl({})", ps.join(", ")));
    };
    let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    for (tool, l) in limits {
        let t = tool.as_str();
        if let Some(n) = l.budget {
            lim(src, LIM_BUDGET, t, big(n), 0);
        }
        if let Some((n, secs)) = l.rate {
            lim(src, LIM_RATE, t, i64::from(n), big(secs));
        }
        if let Some(k) = l.approvals {
            lim(src, LIM_APPROVALS, t, i64::from(k), 0);
        }
        if let Some(k) = l.label_approvals {
            lim(src, LIM_LABEL_APPROVALS, t, i64::from(k), 0);
        }
        if let Some(tier) = l.min_tier {
            lim(src, LIM_TIER, t, i64::from(tier), 0);
        }
        if let Some(labels) = &l.accepted_labels {
            // The policy marker: a tool with an empty accepted set accepts no label at all.
            lim(src, LIM_LABEL_POLICY, t, 0, 0);
            for label in labels {
                lbl(src, LBL_ACCEPTS, t, label.as_str());
            }
        }
    }
    if let Some(k) = chain.fan_out {
        lim(src, LIM_FAN_OUT, "", i64::from(k), 0);
    }
    if let Some(h) = chain.max_hops {
        lim(src, LIM_HOPS, "", i64::from(h), 0);
    }
    for label in chain.seen {
        lbl(src, LBL_SEEN, "", label.as_str());
    }
}

/// Conditions that apply to a whole chain rather than one tool.
#[derive(Clone, Copy)]
struct ChainConditions<'a> {
    fan_out: Option<u32>,
    max_hops: Option<u32>,
    seen: &'a BTreeSet<crate::ids::Label>,
}

/// Kinds of `lbl` facts.
pub(crate) const LBL_ACCEPTS: &str = "acc";
pub(crate) const LBL_SEEN: &str = "seen";
pub(crate) const LIM_APPROVALS: &str = "appr";
pub(crate) const LIM_TIER: &str = "tier";
pub(crate) const LIM_LABEL_APPROVALS: &str = "lappr";
pub(crate) const LIM_HOPS: &str = "hop";
pub(crate) const LIM_LABEL_POLICY: &str = "lblp";

/// Whether every `lim` and `lbl` kind is one this verifier enforces. A condition it does not
/// know must deny (fail closed), never be skipped.
pub(crate) fn known_kinds(lims: &[Lim], lbls: &[Lbl]) -> bool {
    const LIMS: [&str; 8] = [
        LIM_BUDGET,
        LIM_RATE,
        LIM_FAN_OUT,
        LIM_APPROVALS,
        LIM_LABEL_APPROVALS,
        LIM_TIER,
        LIM_HOPS,
        LIM_LABEL_POLICY,
    ];
    lims.iter().all(|l| LIMS.contains(&l.kind.as_str()))
        && lbls
            .iter()
            .all(|l| l.kind == LBL_ACCEPTS || l.kind == LBL_SEEN)
}

/// One `lbl` fact as read back: kind, tool, label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lbl {
    pub(crate) kind: String,
    pub(crate) tool: String,
    pub(crate) label: String,
}

/// Reads the `lbl` facts of block `index` (scoped as [`read_limits`]).
pub(crate) fn read_labels(
    authorizer: &mut biscuit_auth::Authorizer,
    index: usize,
    signer: Option<PublicKey>,
) -> Result<Vec<Lbl>, biscuit_auth::error::Token> {
    let mut rule: builder::Rule = match signer {
        Some(_) => "q($k, $t, $l) <- lbl({i}, $k, $t, $l) trusting {key}".try_into()?,
        None => "q($k, $t, $l) <- lbl({i}, $k, $t, $l)".try_into()?,
    };
    rule.set("i", Term::Integer(i64::try_from(index).unwrap_or(i64::MAX)))?;
    if let Some(key) = signer {
        rule.set_scope("key", key)?;
    }
    let rows: Vec<(String, String, String)> = authorizer.query(rule)?;
    Ok(rows
        .into_iter()
        .map(|(kind, tool, label)| Lbl { kind, tool, label })
        .collect())
}

/// Kinds of `lim` facts.
pub(crate) const LIM_BUDGET: &str = "bud";
pub(crate) const LIM_RATE: &str = "rate";
pub(crate) const LIM_FAN_OUT: &str = "fan";

/// One `lim` fact as read back: kind, tool, n, seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lim {
    pub(crate) kind: String,
    pub(crate) tool: String,
    pub(crate) n: i64,
    pub(crate) secs: i64,
}

/// Reads the `lim` facts of block `index`: the authority's with the default scope, a
/// delegation block's trusting only its signer.
pub(crate) fn read_limits(
    authorizer: &mut biscuit_auth::Authorizer,
    index: usize,
    signer: Option<PublicKey>,
) -> Result<Vec<Lim>, biscuit_auth::error::Token> {
    let mut rule: builder::Rule = match signer {
        Some(_) => "q($k, $t, $n, $s) <- lim({i}, $k, $t, $n, $s) trusting {key}".try_into()?,
        None => "q($k, $t, $n, $s) <- lim({i}, $k, $t, $n, $s)".try_into()?,
    };
    rule.set("i", Term::Integer(i64::try_from(index).unwrap_or(i64::MAX)))?;
    if let Some(key) = signer {
        rule.set_scope("key", key)?;
    }
    let rows: Vec<(String, String, i64, i64)> = authorizer.query(rule)?;
    Ok(rows
        .into_iter()
        .map(|(kind, tool, n, secs)| Lim {
            kind,
            tool,
            n,
            secs,
        })
        .collect())
}

fn expiry(src: &mut Source, at: OffsetDateTime) {
    let e = src.param(date_term(at));
    src.line(&format!("exp({e})"));
    let e = src.param(date_term(at));
    src.line(&format!("check if time($t), $t <= {e}"));
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
    grant: &crate::grant::Grant,
) -> Result<BlockBuilder, Error> {
    let mut src = Source::default();
    let v = src.param(Term::Integer(VERSION));
    let i = src.param(str_term(issuer.as_str()));
    let a = src.param(Term::Bytes(grant.agent.as_uuid().as_bytes().to_vec()));
    let h = src.param(Term::Bytes(grant.holder.to_bytes().to_vec()));
    let d = src.param(Term::Integer(i64::from(grant.max_depth)));
    src.line(&format!("v({v})"));
    src.line(&format!("iss({i})"));
    src.line(&format!("agent({a})"));
    src.line(&format!("holder({h})"));
    src.line(&format!("dmax({d})"));
    tool_set(&mut src, &grant.tools.keys().collect());
    for (tool, tg) in &grant.tools {
        tool_constraints(&mut src, tool, &tg.args)?;
        if tg.other_args {
            let t = src.param(str_term(tool.as_str()));
            src.line(&format!("open({t})"));
        } else {
            closed_world(&mut src, tool, &keys_of(tg.args.keys()));
        }
    }
    let no_labels = BTreeSet::new();
    use_limits(
        &mut src,
        0,
        grant.tools.iter().map(|(t, g)| (t, &g.limits)),
        ChainConditions {
            fan_out: grant.fan_out,
            max_hops: grant.max_hops,
            seen: &no_labels,
        },
    );
    expiry(&mut src, grant.expires_at);
    src.into_block()
}

/// What a delegation block records besides its narrowing.
pub(crate) struct DelegationFacts {
    pub(crate) block_index: usize,
    pub(crate) next_holder: AgentPublicKey,
    pub(crate) next_agent: AgentId,
    pub(crate) cause: [u8; 32],
}

/// A narrowing block (anonymous attenuation, or the body of a delegation block).
/// `close_keys` holds, per tool being closed, every top-level key any block has mentioned.
pub(crate) fn narrowing_block(
    n: &crate::grant::Narrowing,
    close_keys: &BTreeMap<ToolName, BTreeSet<String>>,
    delegation: Option<&DelegationFacts>,
) -> Result<BlockBuilder, Error> {
    let mut src = Source::default();
    if let Some(d) = delegation {
        let i = src.param(Term::Integer(
            i64::try_from(d.block_index).unwrap_or(i64::MAX),
        ));
        let h = src.param(Term::Bytes(d.next_holder.to_bytes().to_vec()));
        let a = src.param(Term::Bytes(d.next_agent.as_uuid().as_bytes().to_vec()));
        let c = src.param(Term::Bytes(d.cause.to_vec()));
        src.line(&format!("d({i}, {h}, {a}, {c})"));
    }
    if let Some(tools) = &n.tools {
        tool_set(&mut src, &tools.iter().collect());
    }
    for (tool, args) in &n.args {
        tool_constraints(&mut src, tool, args)?;
    }
    for (tool, keys) in close_keys {
        let t = src.param(str_term(tool.as_str()));
        src.line(&format!("close({t})"));
        closed_world(&mut src, tool, keys);
    }
    match delegation {
        Some(d) => use_limits(
            &mut src,
            d.block_index,
            &n.limits,
            ChainConditions {
                fan_out: n.fan_out,
                max_hops: n.max_hops,
                seen: &n.seen_labels,
            },
        ),
        None if n.has_use_limits() => {
            return Err(Error::grant(
                "budgets, rates, fan-out, hop limits, approvals and seen labels are set only by a grant or a delegation (an anonymous block cannot be attributed)",
            ))
        }
        None => {}
    }
    if let Some(at) = n.expires_at {
        expiry(&mut src, at);
    }
    if src.text.is_empty() {
        return Err(Error::grant("the narrowing narrows nothing"));
    }
    src.into_block()
}

/// The executor-side facts for one call: the tool, each top-level key, each scalar leaf.
pub(crate) fn call_facts(
    mut builder: AuthorizerBuilder,
    tool: &ToolName,
    leaves: &[(String, ArgValue<'_>)],
    top_keys: &[&str],
    now: OffsetDateTime,
) -> Result<AuthorizerBuilder, biscuit_auth::error::Token> {
    let now = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(now.unix_timestamp()).unwrap_or(0));
    builder = builder.fact(builder::fact("time", &[builder::date(&now)]))?;
    builder = builder.fact(builder::fact("tool", &[str_term(tool.as_str())]))?;
    for k in top_keys {
        builder = builder.fact(builder::fact("argk", &[str_term(k)]))?;
    }
    for (pointer, value) in leaves {
        let term = match value {
            ArgValue::Str(s) => str_term(s),
            ArgValue::Int(i) => Term::Integer(*i),
            // Non-integral numbers have no Datalog type: they travel as 8 big-endian bytes,
            // so no string or integer constraint can match them by accident.
            ArgValue::Float(f) => Term::Bytes(f.to_be_bytes().to_vec()),
            ArgValue::Bool(b) => Term::Bool(*b),
            ArgValue::Null => Term::Null,
            ArgValue::Container | ArgValue::Unportable => continue,
        };
        builder = builder.fact(builder::fact("arg", &[str_term(pointer), term]))?;
    }
    builder = builder.policy("allow if tool($t), t($t)")?;
    Ok(builder)
}

/// Registers the extern functions the generated checks call.
pub(crate) fn extern_funcs(builder: AuthorizerBuilder) -> AuthorizerBuilder {
    let path = ExternFunc::new(Arc::new(|left, right| match (left, right) {
        (Term::Str(v), Some(Term::Str(root))) => Ok(Term::Bool(subpath::is_within(&root, &v))),
        _ => Err("acpath expects (string, string)".to_owned()),
    }));
    let url = ExternFunc::new(Arc::new(|left, right| match (left, right) {
        (Term::Str(v), Some(Term::Str(policy))) => {
            let policy: UrlPolicy = serde_json::from_str(&policy).map_err(|e| e.to_string())?;
            policy.validate().map_err(|e| e.to_string())?;
            Ok(Term::Bool(policy.allows(&v)))
        }
        _ => Err("acurl expects (string, string)".to_owned()),
    }));
    let num = ExternFunc::new(Arc::new(|left, right| {
        let Some(Term::Str(range)) = right else {
            return Err("acnum expects a range".to_owned());
        };
        let [min, max]: [f64; 2] = serde_json::from_str(&range).map_err(|e| e.to_string())?;
        let value = match left {
            Term::Integer(i) => i as f64,
            Term::Bytes(b) => match <[u8; 8]>::try_from(b.as_slice()) {
                Ok(arr) => f64::from_be_bytes(arr),
                Err(_) => return Ok(Term::Bool(false)),
            },
            _ => return Ok(Term::Bool(false)),
        };
        Ok(Term::Bool(min <= value && value <= max))
    }));
    builder
        .register_extern_func(EXT_PATH.to_owned(), path)
        .register_extern_func(EXT_URL.to_owned(), url)
        .register_extern_func(EXT_NUM.to_owned(), num)
}

/// A delegation record as read: next holder key bytes, next agent id, cause bytes.
pub(crate) type DelegationRecord = (Vec<u8>, Vec<u8>, Vec<u8>);

/// The authority facts the verifier needs.
pub(crate) struct AuthorityFacts {
    pub(crate) issuer: String,
    pub(crate) agent: Vec<u8>,
    pub(crate) holder: Vec<u8>,
    pub(crate) max_depth: i64,
}

/// Reads the authority facts; `Ok(Err(_))` unless each is present exactly once. The version
/// is read first and on its own, so an unknown version is reported as such.
pub(crate) fn read_authority(
    authorizer: &mut biscuit_auth::Authorizer,
) -> Result<Result<AuthorityFacts, Option<i64>>, biscuit_auth::error::Token> {
    let versions: Vec<(i64,)> = authorizer.query("q($v) <- v($v)")?;
    let version = match versions.as_slice() {
        [(v,)] => *v,
        _ => return Ok(Err(None)),
    };
    if version != VERSION {
        return Ok(Err(Some(version)));
    }
    let rows: Vec<(String, Vec<u8>, Vec<u8>, i64)> =
        authorizer.query("q($i, $a, $h, $d) <- iss($i), agent($a), holder($h), dmax($d)")?;
    let mut rows = rows.into_iter();
    Ok(match (rows.next(), rows.next()) {
        (Some((issuer, agent, holder, max_depth)), None) => Ok(AuthorityFacts {
            issuer,
            agent,
            holder,
            max_depth,
        }),
        _ => Err(None),
    })
}

/// Reads the delegation record of block `index`, trusting only the block's signer `signer`;
/// `None` unless exactly one record names this block.
pub(crate) fn read_delegation(
    authorizer: &mut biscuit_auth::Authorizer,
    index: usize,
    signer: PublicKey,
) -> Result<Option<DelegationRecord>, biscuit_auth::error::Token> {
    let mut rule: builder::Rule = "q($h, $a, $c) <- d({i}, $h, $a, $c) trusting {k}".try_into()?;
    rule.set("i", Term::Integer(i64::try_from(index).unwrap_or(i64::MAX)))?;
    rule.set_scope("k", signer)?;
    let rows: Vec<DelegationRecord> = authorizer.query(rule)?;
    let mut rows = rows.into_iter();
    Ok(match (rows.next(), rows.next()) {
        (Some(row), None) => Some(row),
        _ => None,
    })
}

/// What one block says, read back for the holder side (inspection and narrowing checks).
/// Not used by the verifier, which enforces the checks instead of reading them.
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockView {
    pub(crate) tools: Option<BTreeSet<String>>,
    pub(crate) constraints: Vec<(String, String, Constraint)>,
    pub(crate) open: BTreeSet<String>,
    pub(crate) limits: Vec<Lim>,
    pub(crate) labels: Vec<Lbl>,
    pub(crate) closed: BTreeSet<String>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) holder: Option<Vec<u8>>,
    pub(crate) max_depth: Option<i64>,
    pub(crate) agent: Option<Vec<u8>>,
    pub(crate) delegation: Option<DelegationRecord>,
}

/// Predicates the holder side reads back.
const VIEW_PREDICATES: [&str; 11] = [
    "t", "c", "open", "close", "exp", "holder", "dmax", "agent", "d", "lim", "lbl",
];

/// Reads one block's vocabulary facts from its printed source. Only fact lines of the
/// vocabulary's predicates are parsed, one at a time (biscuit prints rules and checks, and
/// strings, in a form it does not always parse back); the vocabulary writes every such fact in
/// a form that prints without escaping, so a line that fails to parse is an error.
pub(crate) fn block_view(source: &str) -> Result<BlockView, Error> {
    let mut facts = Vec::new();
    for line in source.lines() {
        let line = line.trim();
        let is_view_fact = line
            .split_once('(')
            .is_some_and(|(name, _)| VIEW_PREDICATES.contains(&name))
            && !line.contains("<-");
        if is_view_fact {
            let parsed = BlockBuilder::new().code(line).map_err(Error::from)?;
            facts.extend(parsed.facts);
        }
    }
    let mut view = BlockView::default();
    for fact in facts {
        let terms = &fact.predicate.terms;
        match (fact.predicate.name.as_str(), terms.as_slice()) {
            ("t", [Term::Str(t)]) => {
                view.tools
                    .get_or_insert_with(BTreeSet::new)
                    .insert(t.clone());
            }
            ("c", [Term::Str(t), Term::Bytes(p), Term::Bytes(j)]) => {
                let c: Constraint =
                    serde_json::from_slice(j).map_err(|e| Error::InvalidToken(e.to_string()))?;
                c.validate()?;
                let p =
                    String::from_utf8(p.clone()).map_err(|e| Error::InvalidToken(e.to_string()))?;
                view.constraints.push((t.clone(), p, c));
            }
            ("open", [Term::Str(t)]) => {
                view.open.insert(t.clone());
            }
            ("close", [Term::Str(t)]) => {
                view.closed.insert(t.clone());
            }
            ("exp", [Term::Date(d)]) => {
                let d = i64::try_from(*d).unwrap_or(i64::MAX);
                view.expires_at = Some(view.expires_at.map_or(d, |e| e.min(d)));
            }
            ("holder", [Term::Bytes(h)]) => view.holder = Some(h.clone()),
            ("dmax", [Term::Integer(d)]) => view.max_depth = Some(*d),
            (
                "lim",
                [Term::Integer(_), Term::Str(kind), Term::Str(tool), Term::Integer(n), Term::Integer(secs)],
            ) => {
                view.limits.push(Lim {
                    kind: kind.clone(),
                    tool: tool.clone(),
                    n: *n,
                    secs: *secs,
                });
            }
            ("lbl", [Term::Integer(_), Term::Str(kind), Term::Str(tool), Term::Str(label)]) => {
                view.labels.push(Lbl {
                    kind: kind.clone(),
                    tool: tool.clone(),
                    label: label.clone(),
                });
            }
            ("agent", [Term::Bytes(a)]) => view.agent = Some(a.clone()),
            ("d", [Term::Integer(_), Term::Bytes(h), Term::Bytes(a), Term::Bytes(c)]) => {
                view.delegation = Some((h.clone(), a.clone(), c.clone()));
            }
            _ => {}
        }
    }
    Ok(view)
}
