//! The writer and the reader agree (round trips), and the native plan decides exactly as
//! biscuit's own authorizer does on the same token and call facts (the differential test).
//!
//! `PROPTEST_CASES=10000 cargo test --lib vocabulary::tests::native_equals_reference`
//! is the dedicated run; `.ci/run` runs 1,000 cases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::envelope;
use super::plan::{self, CallView};
use super::read;
use super::run::{self, reference};
use super::write::DelegationFacts;
use crate::call::{leaves, ArgBounds};
use crate::constraint::{
    CommandPolicy, Constraint, DateRange, EmailPolicy, HostPolicy, IpPolicy, Scalar, ValueSet,
};
use crate::grant::{Grant, Narrowing, ToolGrant};
use crate::ids::{AgentId, AuthorityId, ToolName};
use crate::keys::{AgentKey, AuthorityKey, TrustedRoots};
use crate::token::Token;
use crate::url_policy::UrlPolicy;
use crate::Authority;

const NOW: i64 = 1_800_000_000;

fn authority() -> Authority {
    Authority::new(
        AuthorityId::new("ops").unwrap(),
        AuthorityKey::from_bytes(1, &[7; 32]),
    )
    .with_clock(std::sync::Arc::new(crate::FixedClock(at(NOW - 100))))
}

fn roots() -> TrustedRoots {
    authority().key().public().into()
}

fn key(i: u8) -> AgentKey {
    AgentKey::from_bytes(&[i.wrapping_add(1); 32])
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn strs(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Every constraint kind, with parameters that values in `value()` hit and miss.
fn leaf() -> impl Strategy<Value = Constraint> {
    let s = prop::sample::select(vec!["", "a", "r", "rw", "/data/x", "report.csv", "abc"]);
    prop_oneof![
        s.clone()
            .prop_map(|x| Constraint::Exact(Scalar::Str(x.to_owned()))),
        (-2i64..3).prop_map(|i| Constraint::Exact(Scalar::Int(i))),
        any::<bool>().prop_map(|b| Constraint::Exact(Scalar::Bool(b))),
        prop::sample::subsequence(vec!["a", "r", "rw", "/data/x"], 1..3)
            .prop_map(|v| Constraint::OneOf(ValueSet::Strs(strs(&v)))),
        prop::sample::subsequence(vec![-1i64, 0, 1, 7], 1..3)
            .prop_map(|v| Constraint::OneOf(ValueSet::Ints(v.into_iter().collect()))),
        prop::sample::subsequence(vec!["a", "r", "/data/x/y"], 1..3)
            .prop_map(|v| Constraint::NotOneOf(ValueSet::Strs(strs(&v)))),
        prop::sample::subsequence(vec![0i64, 7], 1..2)
            .prop_map(|v| Constraint::NotOneOf(ValueSet::Ints(v.into_iter().collect()))),
        prop::sample::select(vec!["/data", "a", "https://", ""])
            .prop_map(|p| Constraint::Prefix(p.to_owned())),
        prop::sample::select(vec![".csv", "x", "y"]).prop_map(|p| Constraint::Suffix(p.to_owned())),
        prop::sample::select(vec!["/data", "/data/x", "/"])
            .prop_map(|p| Constraint::SubPath(p.to_owned())),
        prop::sample::select(vec![
            (vec!["https"], vec!["api.example.com"]),
            (vec!["http", "https"], vec!["*.example.com"]),
        ])
        .prop_filter_map("valid policy", |(s, h)| UrlPolicy::new(s, h)
            .ok()
            .map(Constraint::Url)),
        (-3i64..3, 0i64..10).prop_map(|(a, w)| Constraint::IntRange { min: a, max: a + w }),
        (-3i64..3, 0i64..6).prop_map(|(a, w)| Constraint::NumberRange {
            min: a as f64 / 2.0,
            max: (a + w) as f64 / 2.0
        }),
        prop::sample::select(vec!["a.*", "[a-z]+", "r|rw", "/data/.*", "x|(?:y)"])
            .prop_map(|p| Constraint::Regex(p.to_owned())),
        (0u32..12).prop_map(Constraint::MaxLength),
        new_leaf(),
    ]
}

/// The kinds added with lists, absence and the network rules.
fn new_leaf() -> impl Strategy<Value = Constraint> {
    prop_oneof![
        prop::sample::select(vec![
            vec!["www.example.com"],
            vec!["*.example.com", "10.0.0.1"],
            vec!["*"],
        ])
        .prop_map(|h| Constraint::Host(HostPolicy::new(h).unwrap().allowing_ip_literals())),
        prop::sample::select(vec![vec!["example.com"], vec!["*.example.com"]])
            .prop_map(|d| Constraint::Email(EmailPolicy::domains(d).unwrap())),
        prop::sample::select(vec![
            (Some("2026-01-01"), Some("2026-12-31")),
            (None, Some("2026-06-01T00:00:00Z")),
        ])
        .prop_map(|(a, b)| Constraint::Date(DateRange::new(a, b).unwrap())),
        prop::sample::select(vec![vec!["10.0.0.0/8"], vec!["0.0.0.0/0", "::/0"]])
            .prop_map(|n| Constraint::Ip(IpPolicy::new(n).unwrap())),
        (
            prop::sample::select(vec![vec!["ls"], vec!["git", "ls"]]),
            any::<bool>()
        )
            .prop_map(|(p, rule)| {
                let policy = CommandPolicy::new(p).unwrap().with_max_args(2);
                Constraint::Command(if rule {
                    // An argument rule with a regex: compiled once by the plan.
                    policy
                        .with_arg(Constraint::Regex("-[a-z]+|status".into()))
                        .unwrap()
                } else {
                    policy
                })
            }),
        prop::sample::select(vec![json!("a"), json!(1), json!(true)]).prop_map(|v| {
            Constraint::Contains(match v {
                Value::String(s) => Scalar::Str(s),
                Value::Bool(b) => Scalar::Bool(b),
                other => Scalar::Int(other.as_i64().unwrap_or(0)),
            })
        }),
    ]
}

fn constraint() -> impl Strategy<Value = Constraint> {
    prop_oneof![
        4 => leaf(),
        1 => Just(Constraint::Any),
    ]
    .prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Constraint::AllOf),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Constraint::AnyOf),
            inner
                .clone()
                .prop_map(|c| Constraint::Optional(Box::new(c))),
            inner.clone().prop_map(|c| Constraint::Not(Box::new(c))),
            (inner, 0u32..3, 0u32..3).prop_map(|(c, a, w)| Constraint::Each {
                item: Box::new(c),
                min_len: a,
                max_len: a + w,
            }),
        ]
    })
    // A list constraint inside another is refused at issue.
    .prop_filter("valid", |c| c.validate().is_ok())
}

const POINTERS: [&str; 7] = [
    "/path",
    "/mode",
    "/n",
    "/opts/level",
    "/list/0",
    "/list",
    "/opts",
];
const TOOLS: [&str; 3] = ["read_file", "search", "publish"];

fn tool_grant() -> impl Strategy<Value = ToolGrant> {
    (
        prop::collection::btree_map(prop::sample::select(POINTERS.to_vec()), constraint(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(args, open)| {
            let mut g = ToolGrant::new();
            for (p, c) in args {
                g = g.arg(p, c);
            }
            if open {
                g = g.allow_other_args();
            }
            g
        })
}

/// One block after the authority: an anonymous or a delegated narrowing, written straight
/// (not checked for narrowing: the verifier must hold every block whatever it says).
#[derive(Debug, Clone)]
struct Step {
    delegate: bool,
    tools: Option<Vec<&'static str>>,
    args: Vec<(&'static str, &'static str, Constraint)>,
    close: Vec<(&'static str, Vec<&'static str>)>,
    expires: Option<i64>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        any::<bool>(),
        prop::option::of(prop::sample::subsequence(TOOLS.to_vec(), 1..3)),
        prop::collection::vec(
            (
                prop::sample::select(TOOLS.to_vec()),
                prop::sample::select(POINTERS.to_vec()),
                constraint(),
            ),
            0..3,
        ),
        prop::collection::vec(
            (
                prop::sample::select(TOOLS.to_vec()),
                prop::sample::subsequence(vec!["path", "mode", "n", "opts", "list"], 0..4),
            ),
            0..2,
        ),
        prop::option::of(prop::sample::select(vec![NOW - 1, NOW, NOW + 50])),
    )
        .prop_map(|(delegate, tools, args, close, expires)| Step {
            delegate,
            tools,
            args,
            close,
            expires,
        })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "a",
            "r",
            "rw",
            "x",
            "abc",
            "/data",
            "/data/x",
            "/data/x/y",
            "/data/../etc",
            "/etc/passwd",
            "report.csv",
            "https://api.example.com/v1",
            "http://a.example.com",
            "https://evil.com",
            "xy",
            "www.example.com",
            "a.example.com",
            "localhost",
            "10.0.0.1",
            "10.0.0.01",
            "8.8.8.8",
            "::1",
            "bob@example.com",
            "bob@a.example.com",
            "Bob@example.com",
            "2026-03-01",
            "2027-01-01",
            "2026-05-01T10:00:00+02:00",
            "2026-07-01T00:00:00Z",
            "ls -la",
            "git status",
            "ls; rm -rf /",
            "git log -n 1",
        ])
        .prop_map(|s| json!(s)),
        (-3i64..9).prop_map(|i| json!(i)),
        prop::sample::select(vec![0.5, -1.5, 2.5, 1.0]).prop_map(|f| json!(f)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ]
}

fn args() -> impl Strategy<Value = Value> {
    (
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
    )
        .prop_map(|(path, mode, n, level, first, extra)| {
            let mut m = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            };
            put("path", path);
            put("mode", mode);
            put("n", n);
            put("opts", level.map(|l| json!({ "level": l })));
            put(
                "list",
                first.map(|f| match f {
                    // Sometimes one element, sometimes none, sometimes a nested array.
                    Value::Bool(true) => json!([]),
                    Value::Null => json!([["a"]]),
                    Value::Number(n) if n.as_i64() == Some(1) => json!(["a"]),
                    f => json!([f, "a"]),
                }),
            );
            put("extra", extra);
            Value::Object(m)
        })
}

fn build(grant_tools: BTreeMap<&'static str, ToolGrant>, steps: &[Step]) -> Token {
    let mut builder = Grant::builder(
        AgentId::from_uuid(uuid::Uuid::nil()),
        key(0).public(),
        at(NOW + 100),
    )
    .max_depth(16);
    for (t, g) in grant_tools {
        builder = builder.tool(t, g);
    }
    let grant = builder.build().expect("grant");
    let mut token = authority().issue(&grant).expect("issue");
    let mut holder = 0u8;
    for s in steps {
        let mut n = Narrowing::new();
        if let Some(t) = &s.tools {
            n = n.only_tools(t.iter().copied());
        }
        for (t, p, c) in &s.args {
            n = n.constrain(t, p, c.clone());
        }
        if let Some(e) = s.expires {
            n = n.expires_at(at(e));
        }
        let close: BTreeMap<ToolName, BTreeSet<String>> = s
            .close
            .iter()
            .map(|(t, keys)| (ToolName::new(*t).unwrap(), strs(keys)))
            .collect();
        if s.delegate {
            let facts = DelegationFacts {
                next_holder: key(holder + 1).public(),
                next_agent: AgentId::from_uuid(uuid::Uuid::nil()),
                cause: [holder; 32],
            };
            // Written straight, without the holder side's narrowing check.
            token = Token {
                signed: token
                    .signed
                    .delegate(&key(holder), &n, &close, &facts)
                    .expect("delegate"),
            };
            holder += 1;
        } else if let Ok(signed) = token.signed.attenuate(&n, &close) {
            token = Token { signed };
        }
    }
    token
}

fn decide(
    token: &Token,
    tool: &str,
    args: &Value,
    now: i64,
) -> (Result<(), crate::DenyReason>, bool) {
    let bytes = token.signed.to_vec().unwrap();
    let raw = read::read_bytes(bytes.clone(), 64).expect("the writer's blocks read back");
    let (_, plan) = plan::compile(&raw, &mut run::KeyCache::default()).expect("compiles");
    let bounds = ArgBounds {
        max_depth: 32,
        max_leaves: 1024,
    };
    let (_, keys) = leaves(args, &bounds).expect("small args");
    let tool = ToolName::new(tool).unwrap();
    let view = CallView {
        tool: &tool,
        args,
        top_keys: &keys,
        now,
    };
    let native = plan.evaluate(&view);
    let reference = reference::allows(&bytes, &roots(), &view)
        .unwrap_or_else(|e| panic!("reference runs: {e}"));
    (native, reference)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// The native plan allows exactly the calls biscuit's own authorizer allows.
    #[test]
    fn native_equals_reference(
        grant_tools in prop::collection::btree_map(prop::sample::select(TOOLS.to_vec()), tool_grant(), 1..3),
        steps in prop::collection::vec(step(), 0..4),
        tool in prop::sample::select(vec!["read_file", "search", "publish", "delete"]),
        args in args(),
        now in prop::sample::select(vec![NOW - 1, NOW, NOW + 1, NOW + 50, NOW + 51, NOW + 100, NOW + 101]),
    ) {
        let token = build(grant_tools, &steps);
        let (native, reference) = decide(&token, tool, &args, now);
        prop_assert_eq!(native.is_ok(), reference, "native {:?}", native);
    }

    /// The same, with the list, absence and negation kinds on an argument that is often an
    /// array, often absent, often of another type.
    #[test]
    fn lists_and_absence_native_equals_reference(
        item in constraint(),
        wrap in 0u8..5,
        lo in 0u32..3,
        width in 0u32..3,
        list in prop::option::of(prop::collection::vec(value(), 0..4)),
        scalar in prop::option::of(value()),
    ) {
        let c = match wrap {
            0 => Constraint::Each { item: Box::new(item), min_len: lo, max_len: lo + width },
            1 => Constraint::Optional(Box::new(Constraint::Each {
                item: Box::new(item),
                min_len: lo,
                max_len: lo + width,
            })),
            2 => Constraint::Not(Box::new(item)),
            3 => Constraint::Optional(Box::new(item)),
            _ => Constraint::AnyOf(vec![item, Constraint::Contains(Scalar::Str("a".into()))]),
        };
        prop_assume!(c.validate().is_ok());
        let token = build(
            BTreeMap::from([("read_file", ToolGrant::new().arg("/list", c).allow_other_args())]),
            &[],
        );
        let mut args = serde_json::Map::new();
        match (list, scalar) {
            (Some(items), _) => {
                args.insert("list".into(), Value::Array(items));
            }
            (None, Some(v)) => {
                args.insert("list".into(), v);
            }
            (None, None) => {}
        }
        let (native, reference) = decide(&token, "read_file", &Value::Object(args), NOW);
        prop_assert_eq!(native.is_ok(), reference, "native {:?}", native);
    }

    /// Every constraint reads back as what was written (an all-of or any-of of one part reads
    /// back as that part: the same ops, the same semantics).
    #[test]
    fn constraints_round_trip(c in constraint()) {
        prop_assume!(c.normalized() != Constraint::Any);
            let token = build(
            BTreeMap::from([("read_file", ToolGrant::new().arg("/path", c.clone()))]),
            &[],
        );
            let raw = read::read_bytes(token.signed.to_vec().unwrap(), 64).unwrap();
        let read_back = raw.blocks.first().and_then(|b| b.content.args.first()).map(|a| a.constraint.clone());
        prop_assert_eq!(read_back.map(normal), Some(normal(c.normalized())));
    }
}

/// Flattens single-part and same-kind nested all-of / any-of, as the ops do.
fn normal(c: Constraint) -> Constraint {
    match c {
        Constraint::AllOf(parts) | Constraint::AnyOf(parts) if parts.len() == 1 => parts
            .into_iter()
            .next()
            .map(normal)
            .unwrap_or(Constraint::Any),
        Constraint::AllOf(parts) => Constraint::AllOf(flat(parts, true)),
        Constraint::AnyOf(parts) => Constraint::AnyOf(flat(parts, false)),
        Constraint::Optional(inner) => Constraint::Optional(Box::new(normal(*inner))),
        Constraint::Not(inner) => Constraint::Not(Box::new(normal(*inner))),
        Constraint::Each {
            item,
            min_len,
            max_len,
        } => Constraint::Each {
            item: Box::new(normal(*item)),
            min_len,
            max_len,
        },
        other => other,
    }
}

fn flat(parts: Vec<Constraint>, all: bool) -> Vec<Constraint> {
    let mut out = Vec::new();
    for (i, p) in parts.into_iter().map(normal).enumerate() {
        match p {
            // Only a left-most nested chain of the same operator merges (a nested one on the
            // right sits in its own closure).
            Constraint::AllOf(inner) if all && i == 0 => out.extend(inner),
            Constraint::AnyOf(inner) if !all && i == 0 => out.extend(inner),
            other => out.push(other),
        }
    }
    out
}

#[test]
fn a_token_reads_back_with_its_records() {
    let token = build(
        BTreeMap::from([(
            "read_file",
            ToolGrant::new().arg("path", Constraint::SubPath("/data".into())),
        )]),
        &[Step {
            delegate: true,
            tools: None,
            args: vec![],
            close: vec![],
            expires: None,
        }],
    );
    let bytes = token.signed.to_vec().unwrap();
    let env = envelope::envelope(bytes.clone(), 64).unwrap();
    let records = envelope::records(&env).unwrap();
    assert_eq!(records.delegations.len(), 1);
    assert_eq!(
        plan::walk(&records).unwrap().holder,
        key(1).public().to_bytes()
    );
    let raw = read::read_bytes(bytes, 64).unwrap();
    assert_eq!(raw.blocks.len(), 2);
    assert!(matches!(
        raw.blocks[0].content.role,
        read::BlockRole::Authority(_)
    ));
    assert!(matches!(
        raw.blocks[1].content.role,
        read::BlockRole::Delegation(_)
    ));
    assert_eq!(raw.blocks[1].signer, Some(key(0).public().to_bytes()));
}

/// Biscuit's set membership fails on `null`; a one-of is guarded so that an any-of whose later
/// branch allows `null` decides as natively (found by reading biscuit's evaluator).
#[test]
fn a_null_argument_in_an_any_of_decides_as_natively() {
    let c = Constraint::AnyOf(vec![
        Constraint::OneOf(ValueSet::Strs(strs(&["a"]))),
        Constraint::AllOf(vec![Constraint::Any]),
    ]);
    let token = build(
        BTreeMap::from([("read_file", ToolGrant::new().arg("/path", c))]),
        &[],
    );
    for value in [Value::Null, json!("a"), json!(3)] {
        let (native, reference) = decide(&token, "read_file", &json!({ "path": value }), NOW);
        assert_eq!(native.is_ok(), reference, "{value}");
        assert!(reference, "{value}");
    }
}

fn signatures(bytes: &[u8]) -> Result<(), crate::DenyReason> {
    let env =
        envelope::envelope(bytes.to_vec(), 64).map_err(|_| crate::DenyReason::MalformedToken)?;
    // As the verifier does: the root chosen by the token's key id, then the check.
    let roots = roots();
    let root = env
        .root_key_id
        .and_then(|id| roots.get(id))
        .ok_or(crate::DenyReason::UnknownRootKey)?;
    run::verify_signatures(&env, root.verifying_key(), &mut run::KeyCache::default())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// The crate's own signature check accepts exactly the tokens biscuit-auth's accepts: on
    /// valid chains (0 to 3 delegations, attenuations) and on every one of them with one byte
    /// changed, one byte dropped, or two blocks swapped.
    #[test]
    fn signatures_equal_biscuits_check(
        steps in prop::collection::vec(step(), 0..4),
        edit in 0usize..3,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let token = build(BTreeMap::from([("read_file", ToolGrant::new())]), &steps);
        let valid = token.signed.to_vec().unwrap();
        prop_assert!(signatures(&valid).is_ok());
        prop_assert!(run::reference_signatures(&valid, &roots()).is_ok());
        let mut bytes = valid.clone();
        match edit {
            0 => {
                let i = at.index(bytes.len());
                bytes[i] ^= byte.max(1);
            }
            1 => {
                bytes.remove(at.index(bytes.len()));
            }
            _ => {
                use prost::Message;
                let mut c = biscuit_auth::format::schema::Biscuit::decode(bytes.as_slice()).unwrap();
                if c.blocks.len() >= 2 {
                    c.blocks.swap(0, 1);
                } else if let Some(b) = c.blocks.first_mut() {
                    b.version = Some(b.version.unwrap_or(0) ^ 1);
                }
                bytes = c.encode_to_vec();
            }
        }
        // Where the crate's envelope reader takes the bytes, both checks agree.
        if envelope::envelope(bytes.clone(), 64).is_ok() {
            let ours = signatures(&bytes).is_ok();
            let theirs = run::reference_signatures(&bytes, &roots()).is_ok();
            prop_assert_eq!(ours, theirs, "edit {}", edit);
        }
    }
}

/// The envelope is refused unless every block has a 64-byte signature and an ed25519 next key,
/// every external signature is 64 bytes, and the token carries its proof (prost does not
/// enforce proto2's `required`, so each is checked by hand).
#[test]
fn an_envelope_without_its_required_parts_is_malformed() {
    use biscuit_auth::format::schema;
    use prost::Message;
    let token = build(
        BTreeMap::from([("read_file", ToolGrant::new())]),
        &[Step {
            delegate: true,
            tools: None,
            args: vec![],
            close: vec![],
            expires: None,
        }],
    );
    let valid = token.signed.to_vec().unwrap();
    assert!(envelope::envelope(valid.clone(), 64).is_ok());
    let edit = |f: &dyn Fn(&mut schema::Biscuit)| {
        let mut c = schema::Biscuit::decode(valid.as_slice()).unwrap();
        f(&mut c);
        envelope::envelope(c.encode_to_vec(), 64).map(|_| ())
    };
    let malformed = Err(read::ReadError::Malformed);
    assert_eq!(edit(&|c| c.authority.signature.truncate(63)), malformed);
    assert_eq!(edit(&|c| c.blocks[0].signature.push(0)), malformed);
    assert_eq!(edit(&|c| c.authority.next_key.algorithm = 1), malformed);
    assert_eq!(edit(&|c| c.blocks[0].next_key.key.truncate(31)), malformed);
    assert_eq!(
        edit(&|c| {
            if let Some(e) = c.blocks[0].external_signature.as_mut() {
                e.signature.truncate(10);
            }
        }),
        malformed
    );
    assert_eq!(edit(&|c| c.proof.content = None), malformed);
    assert_eq!(
        envelope::envelope(valid.clone(), 1).map(|_| ()),
        Err(read::ReadError::TooManyBlocks)
    );
    assert!(envelope::envelope(valid, 2).is_ok());
}

/// Before any signature, the records are read with the same symbol bounds as the whole
/// grammar: at most `MAX_SYMBOLS` symbols of at most `MAX_SYMBOL_BYTES` each.
#[test]
fn the_records_respect_the_symbol_bounds() {
    use biscuit_auth::format::schema;
    use prost::Message;
    let token = build(BTreeMap::from([("read_file", ToolGrant::new())]), &[]);
    let valid = token.signed.to_vec().unwrap();
    let with_symbols = |extra: usize, len: usize| {
        let mut c = schema::Biscuit::decode(valid.as_slice()).unwrap();
        let mut block = schema::Block::decode(c.authority.block.as_slice()).unwrap();
        let have = block.symbols.len();
        for i in 0..extra.saturating_sub(have) {
            block.symbols.push(format!("{i:0len$}"));
        }
        c.authority.block = block.encode_to_vec();
        let env = envelope::envelope(c.encode_to_vec(), 64).unwrap();
        envelope::records(&env).map(|_| ())
    };
    let outside = Err(read::ReadError::OutsideGrammar {
        block: 0,
        what: "the symbol table's size",
    });
    assert!(with_symbols(read::MAX_SYMBOLS, 8).is_ok());
    assert_eq!(with_symbols(read::MAX_SYMBOLS + 1, 8), outside);
    assert!(with_symbols(20, read::MAX_SYMBOL_BYTES).is_ok());
    assert_eq!(with_symbols(20, read::MAX_SYMBOL_BYTES + 1), outside);
}

/// An argument check whose expression names another variable than the one its `g` fact binds
/// (or a type guard over another variable) is outside the grammar: biscuit would refuse the
/// unbound variable, so the native plan must not read it as a constraint on the argument.
#[test]
fn a_check_over_an_unbound_variable_is_outside_the_grammar() {
    use biscuit_auth::builder::{
        Binary, BlockBuilder, Check, CheckKind, Expression, Op, Predicate, Rule, Term, Unary,
    };
    let token = build(
        BTreeMap::from([("read_file", ToolGrant::new().allow_other_args())]),
        &[],
    );
    let query = |body: Vec<Predicate>, ops: Vec<Op>| {
        Rule::new(
            Predicate::new("query".to_owned(), vec![]),
            body,
            vec![Expression { ops }],
            vec![],
        )
    };
    let v = |name: &str| Op::Value(Term::Variable(name.to_owned()));
    let other_tool = query(
        vec![Predicate::new(
            "t".to_owned(),
            vec![Term::Variable("t".to_owned())],
        )],
        vec![
            v("t"),
            Op::Value(Term::Str("read_file".to_owned())),
            Op::Binary(Binary::HeterogeneousNotEqual),
        ],
    );
    let bound = |expr_var: &str, guard_var: &str| {
        let holds = query(
            vec![Predicate::new(
                "g".to_owned(),
                vec![
                    Term::Str("/path".to_owned()),
                    Term::Variable("/path".to_owned()),
                ],
            )],
            vec![
                v(guard_var),
                Op::Unary(Unary::TypeOf),
                Op::Value(Term::Str("string".to_owned())),
                Op::Binary(Binary::HeterogeneousEqual),
                Op::Closure(
                    vec![],
                    vec![
                        v(expr_var),
                        Op::Value(Term::Str("/data".to_owned())),
                        Op::Binary(Binary::Prefix),
                    ],
                ),
                Op::Binary(Binary::LazyAnd),
            ],
        );
        let check = Check {
            queries: vec![other_tool.clone(), holds],
            kind: CheckKind::One,
        };
        let signed = token
            .signed
            .0
            .append(BlockBuilder::new().check(check).unwrap())
            .unwrap();
        read::read_bytes(signed.to_vec().unwrap(), 64).map(|raw| raw.blocks.len())
    };
    assert_eq!(bound("/path", "/path"), Ok(2));
    let outside = Err(read::ReadError::OutsideGrammar {
        block: 1,
        what: "a check",
    });
    assert_eq!(bound("x", "/path"), outside);
    assert_eq!(bound("/path", "x"), outside);
}
