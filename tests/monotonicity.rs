//! Narrow only: for random grants and random narrowings (attenuation or delegation), every call
//! the child token allows, the parent allows. Case count from `PROPTEST_CASES` (CI: 1,000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use agentcap::*;
use biscuit_auth::{Algorithm, Biscuit, BlockBuilder, PublicKey};
use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use time::Duration;

fn leaf() -> impl Strategy<Value = Constraint> {
    let words = prop::sample::select(vec!["", "a", "b", "ab", "ba", "abc"]);
    prop_oneof![
        Just(Constraint::Any),
        words.clone().prop_map(|w| Constraint::prefix(w).unwrap()),
        words.clone().prop_map(|w| Constraint::suffix(w).unwrap()),
        prop::collection::btree_set(words.clone(), 1..4)
            .prop_map(|s| Constraint::one_of(s).unwrap()),
        prop::collection::btree_set(words, 1..3).prop_map(|s| Constraint::not_one_of(s).unwrap()),
        (0u32..5).prop_map(|n| Constraint::max_length(n).unwrap()),
        prop::sample::select(vec!["a.*", "[ab]+", "b?a*"])
            .prop_map(|p| Constraint::regex(p).unwrap()),
        prop::sample::select(vec!["a", "b"]).prop_map(|w| Constraint::contains(w).unwrap()),
        prop::sample::select(vec![
            vec!["a.example.com"],
            vec!["*.example.com"],
            vec!["*"]
        ])
        .prop_map(|h| Constraint::host(HostPolicy::new(h).unwrap()).unwrap()),
        prop::sample::select(vec![vec!["example.com"], vec!["*.example.com"]])
            .prop_map(|d| Constraint::email(EmailPolicy::domains(d).unwrap()).unwrap()),
        prop::sample::select(vec![
            (Some("2026-01-01"), None),
            (Some("2026-01-01"), Some("2026-06-30")),
            (None, Some("2026-03-01")),
        ])
        .prop_map(|(a, b)| Constraint::date(DateRange::new(a, b).unwrap()).unwrap()),
        prop::sample::select(vec![
            vec!["10.0.0.0/8"],
            vec!["10.1.0.0/16"],
            vec!["0.0.0.0/0"]
        ])
        .prop_map(|n| Constraint::ip(IpPolicy::new(n).unwrap()).unwrap()),
        (
            prop::sample::select(vec![vec!["ls"], vec!["ls", "git"]]),
            0u32..3
        )
            .prop_map(|(p, n)| {
                Constraint::command(CommandPolicy::new(p).unwrap().with_max_args(n)).unwrap()
            }),
    ]
}

fn constraint() -> impl Strategy<Value = Constraint> {
    prop_oneof![
        3 => leaf(),
        1 => prop::collection::vec(leaf(), 1..3).prop_map(|v| Constraint::all_of(v).unwrap()),
        1 => prop::collection::vec(leaf(), 1..3).prop_map(|v| Constraint::any_of(v).unwrap()),
        1 => leaf().prop_map(|c| Constraint::optional(c).unwrap()),
        1 => leaf().prop_map(|c| Constraint::not(c).unwrap()),
        1 => (leaf(), 0u32..2, 0u32..3).prop_filter_map("a list inside a list", |(c, a, w)| {
            Constraint::each(c, a, a + w).ok()
        }),
    ]
}

/// Values every kind above hits and misses: strings, a number, arrays, absence (`None`).
fn any_value() -> impl Strategy<Value = Option<Value>> {
    let word = prop::sample::select(vec![
        "",
        "a",
        "b",
        "ab",
        "ba",
        "abc",
        "a.example.com",
        "x.a.example.com",
        "b@example.com",
        "b@a.example.com",
        "2026-02-01",
        "2026-07-01",
        "2025-12-31",
        "10.0.0.1",
        "10.1.0.1",
        "8.8.8.8",
        "ls",
        "ls -l",
        "git log",
        "ls a b",
    ]);
    prop_oneof![
        4 => word.clone().prop_map(|s| Some(json!(s))),
        1 => Just(Some(json!(1))),
        2 => prop::collection::vec(word, 0..3).prop_map(|v| Some(json!(v))),
        1 => Just(None),
    ]
}

proptest! {
    /// The subset relation is sound: whatever a constraint that claims to be narrower allows
    /// (absence included), the wider one allows.
    #[test]
    fn subset_relation_is_sound(child in constraint(), parent in constraint(), values in prop::collection::vec(any_value(), 8)) {
        if child.is_subset_of(&parent) {
            for v in &values {
                let (c, p) = match v {
                    Some(v) => (child.allows(v), parent.allows(v)),
                    None => (child.allows_absence(), parent.allows_absence()),
                };
                prop_assert!(!c || p, "{child:?} ⊆ {parent:?} but {v:?} is allowed only by the child");
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    parent: Constraint,
    open: bool,
    child: Option<Constraint>,
    only_search: bool,
    close: bool,
    delegate: bool,
    calls: Vec<(bool, Value)>,
}

fn case() -> impl Strategy<Value = Case> {
    let call = (any::<bool>(), any_value(), any::<bool>()).prop_map(|(search, v, extra)| {
        let mut args = serde_json::Map::new();
        if let Some(v) = v {
            args.insert("v".into(), v);
        }
        if extra {
            args.insert("w".into(), json!("x"));
        }
        (search, Value::Object(args))
    });
    (
        constraint(),
        any::<bool>(),
        prop::option::of(constraint()),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(call, 6),
    )
        .prop_map(
            |(parent, open, child, only_search, close, delegate, calls)| Case {
                parent,
                open,
                child,
                only_search,
                close,
                delegate,
                calls,
            },
        )
}

fn run(w: &World, t: &Token, key: &AgentKey, search: bool, args: &Value) -> bool {
    let (tool, args) = if search {
        ("search", args.clone())
    } else {
        ("read_file", json!({"path": "/data/x"}))
    };
    w.call(t, key, tool, args).is_ok()
}

proptest! {
    #[test]
    fn narrowing_never_widens(c in case()) {
        let w = World::new();
        let mut search = ToolGrant::new().arg("v", c.parent.clone());
        if c.open { search = search.allow_other_args(); }
        let grant = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(1))
            .tool("search", search)
            .tool("read_file", ToolGrant::new().arg("path", Constraint::sub_path("/data").unwrap()))
            .max_depth(2)
            .build()
            .unwrap();
        let parent = w.authority.issue(&grant).unwrap();
        let mut n = Narrowing::new();
        if let Some(child) = &c.child { n = n.constrain("search", "v", child.clone()); }
        if c.only_search { n = n.only_tools(["search"]); }
        if c.close { n = n.close_args("search"); }
        let (child, key) = if c.delegate {
            match parent.delegate(&w.alice, w.bob.public(), w.bob_id, Digest::of_message(b"m"), &n) {
                Ok(t) => (t, &w.bob),
                Err(_) => return Ok(()),
            }
        } else {
            match parent.attenuate(&n) {
                Ok(t) => (t, &w.alice),
                Err(_) => return Ok(()),
            }
        };
        for (search, args) in &c.calls {
            if run(&w, &child, key, *search, args) {
                prop_assert!(run(&w, &parent, &w.alice, *search, args), "child allowed {args} on search={search}, parent did not");
            }
        }
    }
}

/// A block made by hand (not through `attenuate`) that tries to add a tool, open a closed tool
/// and loosen a constraint gains nothing: facts that would grant are outside the grammar, and
/// checks within it can only add conditions (every block's checks still apply).
#[test]
fn hand_made_widening_block_cannot_widen() {
    let w = World::new();
    let t = w.token();
    let root =
        PublicKey::from_bytes(&w.authority.key().public().to_bytes(), Algorithm::Ed25519).unwrap();
    let b = Biscuit::from_base64(t.to_base64().unwrap(), root).unwrap();
    let widening = BlockBuilder::new()
        .code(
            r#"t("publish"); open("read_file"); c("read_file", hex:2f70617468, hex:7b22616e79223a6e756c6c7d);
               tool("publish"); arg("/path", "/data/ok"); check if true"#,
        )
        .unwrap();
    let widened = Token::from_base64(
        &b.append(widening).unwrap().to_base64().unwrap(),
        &w.authority.key().public().into(),
    )
    .unwrap();
    assert!(matches!(
        reason(w.call(&widened, &w.alice, "publish", json!({}))),
        DenyReason::OutsideGrammar { block: 1, .. }
    ));
    // The same attempt within the grammar: a wider tool set, a wider closed list, a looser
    // constraint on `path`.
    let widening = BlockBuilder::new()
        .code(
            r#"check if t($t), {"read_file", "search", "publish"}.contains($t);
               reject if t("read_file"), k($k), !{"path", "x"}.contains($k)"#,
        )
        .unwrap()
        .check(loose_path_check())
        .unwrap();
    let b = Biscuit::from_base64(t.to_base64().unwrap(), root).unwrap();
    let widened = Token::from_base64(
        &b.append(widening).unwrap().to_base64().unwrap(),
        &w.authority.key().public().into(),
    )
    .unwrap();
    assert_eq!(widened.describe().unwrap().blocks.len(), 2);
    assert_eq!(
        reason(w.call(&widened, &w.alice, "publish", json!({}))),
        DenyReason::ToolNotGranted { block: 0 }
    );
    assert!(matches!(
        reason(w.call(
            &widened,
            &w.alice,
            "read_file",
            json!({"path": "/data/a", "x": 1})
        )),
        DenyReason::ArgumentNotAllowed { block: 0, .. }
    ));
    assert!(matches!(
        reason(w.call(&widened, &w.alice, "read_file", read("/etc/passwd"))),
        DenyReason::ArgumentRejected { block: 0, .. }
    ));
    assert!(w
        .call(&widened, &w.alice, "read_file", read("/etc/passwd"))
        .is_err());
    assert!(w
        .call(
            &widened,
            &w.alice,
            "read_file",
            json!({"path": "/data/a", "mode": "w"})
        )
        .is_err());
    assert!(w
        .call(&widened, &w.alice, "read_file", read("/data/a"))
        .is_ok());
}

/// `check if t($t), $t != "read_file" or g("/path", $/path), $/path.type() == "string" &&
/// $/path.starts_with("/")`: the writer's shape (the variable is named by the pointer, which
/// Datalog text cannot spell), with a constraint looser than the grant's.
fn loose_path_check() -> biscuit_auth::builder::Check {
    use biscuit_auth::builder::{
        Binary, Check, CheckKind, Expression, Op, Predicate, Rule, Term, Unary,
    };
    let v = || Op::Value(Term::Variable("/path".to_owned()));
    let s = |x: &str| Op::Value(Term::Str(x.to_owned()));
    let head = || Predicate::new("query".to_owned(), vec![]);
    let other_tool = Rule::new(
        head(),
        vec![Predicate::new(
            "t".to_owned(),
            vec![Term::Variable("t".to_owned())],
        )],
        vec![Expression {
            ops: vec![
                Op::Value(Term::Variable("t".to_owned())),
                s("read_file"),
                Op::Binary(Binary::HeterogeneousNotEqual),
            ],
        }],
        vec![],
    );
    let holds = Rule::new(
        head(),
        vec![Predicate::new(
            "g".to_owned(),
            vec![
                Term::Str("/path".to_owned()),
                Term::Variable("/path".to_owned()),
            ],
        )],
        vec![Expression {
            ops: vec![
                v(),
                Op::Unary(Unary::TypeOf),
                s("string"),
                Op::Binary(Binary::HeterogeneousEqual),
                Op::Closure(vec![], vec![v(), s("/"), Op::Binary(Binary::Prefix)]),
                Op::Binary(Binary::LazyAnd),
            ],
        }],
        vec![],
    );
    Check {
        queries: vec![other_tool, holds],
        kind: CheckKind::One,
    }
}
