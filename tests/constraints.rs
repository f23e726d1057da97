//! Per constraint kind: allow and deny rows, including bypass attempts. Every row is checked
//! twice — by the native evaluation and by a full verify through Datalog — and both must agree
//! with the expected outcome.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use agentcap::*;
use common::*;
use serde_json::{json, Value};
use time::Duration;

fn check(kind: &str, c: Constraint, rows: &[(Value, bool)]) {
    let w = World::new();
    let grant = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(1))
        .tool("search", ToolGrant::new().arg("v", c.clone()))
        .build()
        .unwrap();
    let token = w.authority.issue(&grant).unwrap();
    for (value, want) in rows {
        assert_eq!(
            c.allows(value),
            *want,
            "{kind}: native evaluation of {value}"
        );
        let got = w.call(&token, &w.alice, "search", json!({ "v": value }));
        assert_eq!(
            got.is_ok(),
            *want,
            "{kind}: verify of {value}: {:?}",
            got.err().map(|d| d.operator_reason().clone())
        );
    }
}

#[test]
fn constraint_exact() {
    check(
        "exact",
        Constraint::exact("main").unwrap(),
        &[
            (json!("main"), true),
            (json!("main "), false),
            (json!("MAIN"), false),
            (json!(["main"]), false),
            (json!(1), false),
        ],
    );
    check(
        "exact int",
        Constraint::Exact(Scalar::Int(3)),
        &[
            (json!(3), true),
            (json!(3.0), true),
            (json!("3"), false),
            (json!(4), false),
        ],
    );
    check(
        "exact bool",
        Constraint::Exact(Scalar::Bool(true)),
        &[
            (json!(true), true),
            (json!("true"), false),
            (json!(1), false),
        ],
    );
}

#[test]
fn constraint_one_of_and_not_one_of() {
    check(
        "one_of",
        Constraint::one_of(["a", "b"]).unwrap(),
        &[
            (json!("a"), true),
            (json!("b"), true),
            (json!("c"), false),
            (json!("A"), false),
            (json!(null), false),
        ],
    );
    check(
        "not_one_of",
        Constraint::not_one_of(["root", "admin"]).unwrap(),
        &[
            (json!("alice"), true),
            (json!("root"), false),
            (json!("admin"), false),
            (json!(7), false),
        ],
    );
    let ints = Constraint::OneOf(ValueSet::Ints([1, 2, 3].into_iter().collect()));
    check(
        "one_of ints",
        ints,
        &[
            (json!(2), true),
            (json!(2.0), true),
            (json!(4), false),
            (json!("2"), false),
        ],
    );
}

#[test]
fn constraint_prefix_and_suffix() {
    check(
        "prefix",
        Constraint::prefix("report-").unwrap(),
        &[
            (json!("report-q3"), true),
            (json!("report-"), true),
            (json!("Report-q3"), false),
            (json!("x-report-"), false),
            (json!(1), false),
        ],
    );
    check(
        "suffix",
        Constraint::suffix(".csv").unwrap(),
        &[
            (json!("a.csv"), true),
            (json!("a.csv.exe"), false),
            (json!("a.CSV"), false),
        ],
    );
}

#[test]
fn constraint_sub_path_bypass_attempts() {
    check(
        "sub_path",
        Constraint::sub_path("/data").unwrap(),
        &[
            (json!("/data/q3.csv"), true),
            (json!("/data/a/b"), true),
            (json!("/data/a/./b"), false),
            (json!("/data//a"), false),
            (json!("/data/a/"), false),
            (json!("/data"), true),
            (json!("/data/../etc/passwd"), false),
            (json!("/data/a/../../etc"), false),
            (json!("/data/%2e%2e/etc/passwd"), false),
            (json!("/data/..%2fetc"), false),
            (json!("/data\\..\\etc"), false),
            (json!("/datax/secret"), false),
            (json!("/etc/passwd"), false),
            (json!("data/q3.csv"), false),
            (json!("/data/a\u{0}.txt"), false),
            (json!(["/data/a"]), false),
        ],
    );
    assert!(Constraint::sub_path("relative").is_err());
    assert!(Constraint::sub_path("/data/../etc").is_err());
}

#[test]
fn constraint_url_bypass_attempts() {
    let policy = UrlPolicy::new(["https"], ["api.example.com", "*.cdn.example.com"]).unwrap();
    check(
        "url",
        Constraint::url(policy).unwrap(),
        &[
            (json!("https://api.example.com/v1/items?id=3"), true),
            (json!("https://img.cdn.example.com/a.png"), true),
            (json!("https://cdn.example.com/a.png"), false),
            (json!("http://api.example.com/"), false),
            (json!("https://api.example.com@evil.com/"), false),
            (json!("https://evil.com\\@api.example.com/"), false),
            (json!("https://api.example.com.evil.com/"), false),
            (json!("https://api.example.com./"), false),
            (json!("https://img.cdn.example.com./a.png"), false),
            (json!("https://user:pass@api.example.com/"), false),
            (json!("https://api.example.com:8080/"), false),
            (json!("https://93.184.216.34/"), false),
            (json!("https://[::1]/"), false),
            (json!("https://xn--pple-43d.cdn.example.com/"), false),
            (json!("javascript:alert(1)"), false),
            (json!(42), false),
        ],
    );
}

#[test]
fn constraint_ranges() {
    check(
        "int_range",
        Constraint::int_range(1, 10).unwrap(),
        &[
            (json!(1), true),
            (json!(10), true),
            (json!(0), false),
            (json!(11), false),
            (json!(5.5), false),
            (json!("5"), false),
        ],
    );
    check(
        "number_range",
        Constraint::number_range(-1.5, 2.5).unwrap(),
        &[
            (json!(0), true),
            (json!(2.5), true),
            (json!(-1.5), true),
            (json!(2.6), false),
            (json!(-2), false),
            (json!("1"), false),
        ],
    );
    assert!(Constraint::int_range(5, 1).is_err());
    assert!(Constraint::number_range(0.0, f64::NAN).is_err());
}

#[test]
fn constraint_regex_is_anchored_and_bounded() {
    check(
        "regex",
        Constraint::regex("[a-z]{2,4}-[0-9]+").unwrap(),
        &[
            (json!("ab-1"), true),
            (json!("abcd-123"), true),
            (json!("1ab-1"), false),
            (json!("abcde-1"), false),
            (json!("ab-1\n"), false),
            (json!("ab-1; rm -rf /"), false),
            (json!(1), false),
        ],
    );
    assert!(Constraint::regex("a".repeat(MAX_REGEX_LEN + 1)).is_err());
    assert!(Constraint::regex("(unclosed").is_err());
    // A pattern built to backtrack elsewhere is linear here (the regex crate has no backtracking).
    check(
        "regex redos",
        Constraint::regex("(a+)+$").unwrap(),
        &[(json!(format!("{}!", "a".repeat(5000))), false)],
    );
}

#[test]
fn constraint_max_length_counts_bytes() {
    check(
        "max_length",
        Constraint::max_length(4).unwrap(),
        &[
            (json!("abcd"), true),
            (json!("abcde"), false),
            (json!("ééé"), false),
            (json!(1234567), false),
        ],
    );
}

#[test]
fn constraint_all_of_and_any_of() {
    let all = Constraint::all_of(vec![
        Constraint::prefix("a").unwrap(),
        Constraint::max_length(3).unwrap(),
    ])
    .unwrap();
    check(
        "all_of",
        all,
        &[
            (json!("abc"), true),
            (json!("abcd"), false),
            (json!("bcd"), false),
        ],
    );
    let any = Constraint::any_of(vec![
        Constraint::exact("x").unwrap(),
        Constraint::int_range(0, 9).unwrap(),
    ])
    .unwrap();
    check(
        "any_of",
        any,
        &[
            (json!("x"), true),
            (json!(5), true),
            (json!("y"), false),
            (json!(10), false),
        ],
    );
    assert!(Constraint::all_of(vec![]).is_err());
}

#[test]
fn constraint_closed_world_and_pointers() {
    let w = World::new();
    let grant = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(1))
        .tool(
            "deploy",
            ToolGrant::new()
                .arg("/opts/env", Constraint::one_of(["staging"]).unwrap())
                .arg("service", Constraint::Any),
        )
        .build()
        .unwrap();
    let t = w.authority.issue(&grant).unwrap();
    let v = Verifier::builder(
        w.executor.clone(),
        w.authority.key().public().into(),
        ["deploy"],
    )
    .clock(std::sync::Arc::new(FixedClock(now())))
    .build()
    .unwrap();
    let run = |args: Value| {
        let call = ToolCall::new("deploy", args).unwrap();
        let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
        v.verify(&t.to_base64().unwrap(), &call, &proof)
    };
    assert!(run(json!({"opts": {"env": "staging"}, "service": "web"})).is_ok());
    assert!(
        run(json!({"opts": {"env": "staging"}})).is_ok(),
        "an `any` argument may be absent"
    );
    assert!(run(json!({"opts": {"env": "prod"}})).is_err());
    assert!(
        run(json!({"service": "web"})).is_err(),
        "a constrained argument must be present"
    );
    assert!(
        run(json!({"opts": {"env": "staging"}, "force": true})).is_err(),
        "unmentioned argument"
    );
}
