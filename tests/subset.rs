//! The subset relation the holder side uses to refuse a widening narrowing before appending it,
//! and the bounds constraint validation enforces. Table-driven; every row can fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use agentcap::*;
use std::collections::BTreeSet;

fn strs(v: &[&str]) -> ValueSet {
    ValueSet::Strs(v.iter().map(|s| s.to_string()).collect())
}

fn ints(v: &[i64]) -> ValueSet {
    ValueSet::Ints(v.iter().copied().collect())
}

#[test]
fn subset_table() {
    let url = |s: &[&str], h: &[&str]| {
        Constraint::url(UrlPolicy::new(s.iter().copied(), h.iter().copied()).unwrap()).unwrap()
    };
    let rows: Vec<(Constraint, Constraint, bool)> = vec![
        (
            Constraint::prefix("/a/b").unwrap(),
            Constraint::prefix("/a").unwrap(),
            true,
        ),
        (
            Constraint::prefix("/a").unwrap(),
            Constraint::prefix("/a/b").unwrap(),
            false,
        ),
        (
            Constraint::suffix("x.csv").unwrap(),
            Constraint::suffix(".csv").unwrap(),
            true,
        ),
        (
            Constraint::suffix(".csv").unwrap(),
            Constraint::suffix("x.csv").unwrap(),
            false,
        ),
        (
            Constraint::sub_path("/data/q3").unwrap(),
            Constraint::sub_path("/data").unwrap(),
            true,
        ),
        (
            Constraint::sub_path("/data").unwrap(),
            Constraint::sub_path("/data/q3").unwrap(),
            false,
        ),
        (
            Constraint::int_range(2, 5).unwrap(),
            Constraint::int_range(1, 10).unwrap(),
            true,
        ),
        (
            Constraint::int_range(0, 5).unwrap(),
            Constraint::int_range(1, 10).unwrap(),
            false,
        ),
        (
            Constraint::int_range(2, 11).unwrap(),
            Constraint::int_range(1, 10).unwrap(),
            false,
        ),
        (
            Constraint::int_range(2, 5).unwrap(),
            Constraint::number_range(1.5, 5.0).unwrap(),
            true,
        ),
        (
            Constraint::int_range(1, 5).unwrap(),
            Constraint::number_range(1.5, 5.0).unwrap(),
            false,
        ),
        (
            Constraint::int_range(2, 6).unwrap(),
            Constraint::number_range(1.5, 5.0).unwrap(),
            false,
        ),
        (
            Constraint::number_range(1.0, 2.0).unwrap(),
            Constraint::number_range(0.5, 2.5).unwrap(),
            true,
        ),
        (
            Constraint::number_range(0.0, 2.0).unwrap(),
            Constraint::number_range(0.5, 2.5).unwrap(),
            false,
        ),
        (
            Constraint::number_range(1.0, 3.0).unwrap(),
            Constraint::number_range(0.5, 2.5).unwrap(),
            false,
        ),
        (
            Constraint::max_length(3).unwrap(),
            Constraint::max_length(4).unwrap(),
            true,
        ),
        (
            Constraint::max_length(5).unwrap(),
            Constraint::max_length(4).unwrap(),
            false,
        ),
        (
            Constraint::NotOneOf(strs(&["a", "b"])),
            Constraint::NotOneOf(strs(&["a"])),
            true,
        ),
        (
            Constraint::NotOneOf(strs(&["a"])),
            Constraint::NotOneOf(strs(&["a", "b"])),
            false,
        ),
        (
            Constraint::NotOneOf(ints(&[1, 2])),
            Constraint::NotOneOf(ints(&[1])),
            true,
        ),
        (
            Constraint::NotOneOf(ints(&[1])),
            Constraint::NotOneOf(ints(&[1, 2])),
            false,
        ),
        (
            Constraint::NotOneOf(ints(&[1, 2])),
            Constraint::NotOneOf(strs(&["a"])),
            false,
        ),
        (
            Constraint::one_of(["a", "b"]).unwrap(),
            Constraint::one_of(["a", "b", "c"]).unwrap(),
            true,
        ),
        (
            Constraint::one_of(["a", "z"]).unwrap(),
            Constraint::one_of(["a", "b", "c"]).unwrap(),
            false,
        ),
        (
            Constraint::OneOf(ints(&[2, 3])),
            Constraint::int_range(1, 3).unwrap(),
            true,
        ),
        (
            Constraint::OneOf(ints(&[2, 4])),
            Constraint::int_range(1, 3).unwrap(),
            false,
        ),
        (
            Constraint::exact("ab").unwrap(),
            Constraint::prefix("a").unwrap(),
            true,
        ),
        (
            Constraint::exact("ba").unwrap(),
            Constraint::prefix("a").unwrap(),
            false,
        ),
        (
            Constraint::Exact(Scalar::Bool(true)),
            Constraint::Exact(Scalar::Bool(true)),
            true,
        ),
        (
            Constraint::Exact(Scalar::Bool(true)),
            Constraint::Exact(Scalar::Bool(false)),
            false,
        ),
        (
            Constraint::regex("a+").unwrap(),
            Constraint::regex("a+").unwrap(),
            true,
        ),
        (
            Constraint::regex("a").unwrap(),
            Constraint::regex("a+").unwrap(),
            false,
        ),
        (Constraint::prefix("x").unwrap(), Constraint::Any, true),
        (Constraint::Any, Constraint::prefix("x").unwrap(), false),
        (
            url(&["https"], &["a.example.com"]),
            url(&["https", "http"], &["*.example.com"]),
            true,
        ),
        (
            url(&["http"], &["a.example.com"]),
            url(&["https"], &["*.example.com"]),
            false,
        ),
        (
            url(&["https"], &["b.other.com"]),
            url(&["https"], &["*.example.com"]),
            false,
        ),
        (
            url(&["https"], &["*.a.example.com"]),
            url(&["https"], &["*.example.com"]),
            true,
        ),
        (
            url(&["https"], &["xn--80ak6aa92e.example.com"]),
            url(&["https"], &["*.example.com"]),
            false,
        ),
        (
            Constraint::url(
                UrlPolicy::new(["https"], ["10.0.0.1"])
                    .unwrap()
                    .allowing_ip_literals(),
            )
            .unwrap(),
            url(&["https"], &["10.0.0.1"]),
            false,
        ),
        // Combinations.
        (
            Constraint::int_range(2, 3).unwrap(),
            Constraint::all_of(vec![
                Constraint::int_range(1, 5).unwrap(),
                Constraint::int_range(0, 10).unwrap(),
            ])
            .unwrap(),
            true,
        ),
        (
            Constraint::all_of(vec![
                Constraint::prefix("/a/x").unwrap(),
                Constraint::max_length(5).unwrap(),
            ])
            .unwrap(),
            Constraint::all_of(vec![
                Constraint::prefix("/a").unwrap(),
                Constraint::max_length(9).unwrap(),
            ])
            .unwrap(),
            true,
        ),
        (
            Constraint::all_of(vec![
                Constraint::prefix("/a").unwrap(),
                Constraint::max_length(9).unwrap(),
            ])
            .unwrap(),
            Constraint::prefix("/a").unwrap(),
            true,
        ),
        (
            Constraint::all_of(vec![
                Constraint::prefix("/b").unwrap(),
                Constraint::max_length(9).unwrap(),
            ])
            .unwrap(),
            Constraint::prefix("/a").unwrap(),
            false,
        ),
        (
            Constraint::any_of(vec![
                Constraint::prefix("/a/x").unwrap(),
                Constraint::prefix("/a/y").unwrap(),
            ])
            .unwrap(),
            Constraint::prefix("/a").unwrap(),
            true,
        ),
        (
            Constraint::any_of(vec![
                Constraint::prefix("/a/x").unwrap(),
                Constraint::prefix("/b").unwrap(),
            ])
            .unwrap(),
            Constraint::prefix("/a").unwrap(),
            false,
        ),
        (
            Constraint::prefix("/a/x").unwrap(),
            Constraint::all_of(vec![
                Constraint::prefix("/a").unwrap(),
                Constraint::max_length(9).unwrap(),
            ])
            .unwrap(),
            false,
        ),
        (
            Constraint::exact("/a/x").unwrap(),
            Constraint::all_of(vec![
                Constraint::prefix("/a").unwrap(),
                Constraint::max_length(9).unwrap(),
            ])
            .unwrap(),
            true,
        ),
        (
            Constraint::prefix("/a/x").unwrap(),
            Constraint::any_of(vec![
                Constraint::prefix("/b").unwrap(),
                Constraint::prefix("/a").unwrap(),
            ])
            .unwrap(),
            true,
        ),
        (
            Constraint::prefix("/c").unwrap(),
            Constraint::any_of(vec![
                Constraint::prefix("/b").unwrap(),
                Constraint::prefix("/a").unwrap(),
            ])
            .unwrap(),
            false,
        ),
    ];
    for (i, (child, parent, want)) in rows.iter().enumerate() {
        assert_eq!(
            child.is_subset_of(parent),
            *want,
            "row {i}: {child:?} within {parent:?}"
        );
    }
}

#[test]
fn subset_validation_bounds() {
    let many: BTreeSet<String> = (0..=MAX_SET_LEN).map(|i| i.to_string()).collect();
    assert!(
        Constraint::one_of(many.iter().cloned()).is_err(),
        "more than MAX_SET_LEN values"
    );
    assert!(
        Constraint::one_of(many.iter().take(MAX_SET_LEN).cloned()).is_ok(),
        "exactly MAX_SET_LEN values"
    );
    assert!(
        Constraint::one_of(Vec::<String>::new()).is_err(),
        "empty set"
    );
    assert!(
        Constraint::not_one_of(Vec::<String>::new()).is_err(),
        "empty set"
    );
    assert!(Constraint::one_of(["x".repeat(MAX_CONSTRAINT_STRING + 1)]).is_err());
    assert!(Constraint::prefix("x".repeat(MAX_CONSTRAINT_STRING)).is_ok());
    assert!(Constraint::prefix("x".repeat(MAX_CONSTRAINT_STRING + 1)).is_err());
    assert!(Constraint::exact("x".repeat(MAX_CONSTRAINT_STRING + 1)).is_err());
    assert!(Constraint::suffix("x".repeat(MAX_CONSTRAINT_STRING + 1)).is_err());
    assert!(Constraint::regex("a".repeat(MAX_REGEX_LEN)).is_ok());
    // A pattern within the length limit whose compiled form exceeds the size limit.
    assert!(
        Constraint::regex("\\w{100}\\w{100}\\w{100}").is_err()
            || Constraint::regex("(\\w{50}){50}").is_err()
    );
    let mut deep = Constraint::prefix("a").unwrap();
    for _ in 0..9 {
        deep = Constraint::AllOf(vec![deep]);
    }
    assert!(deep.validate().is_err(), "nested deeper than 8");
    let wide = Constraint::AnyOf((0..MAX_CONSTRAINT_NODES).map(|_| Constraint::Any).collect());
    assert!(
        wide.validate().is_err(),
        "more than MAX_CONSTRAINT_NODES nodes"
    );
    let ok = Constraint::AnyOf(
        (0..MAX_CONSTRAINT_NODES - 1)
            .map(|_| Constraint::Any)
            .collect(),
    );
    assert!(ok.validate().is_ok(), "exactly MAX_CONSTRAINT_NODES nodes");
    assert!(Constraint::int_range(3, 3).is_ok() && Constraint::int_range(4, 3).is_err());
    assert!(Constraint::number_range(f64::NEG_INFINITY, 0.0).is_err());
}

#[test]
fn subset_table_for_lists_absence_and_network_kinds() {
    let p = |s: &str| Constraint::prefix(s).unwrap();
    let host = |h: &[&str]| Constraint::host(HostPolicy::new(h.iter().copied()).unwrap()).unwrap();
    let email =
        |d: &[&str]| Constraint::email(EmailPolicy::domains(d.iter().copied()).unwrap()).unwrap();
    let date =
        |a: Option<&str>, b: Option<&str>| Constraint::date(DateRange::new(a, b).unwrap()).unwrap();
    let ip = |n: &[&str]| Constraint::ip(IpPolicy::new(n.iter().copied()).unwrap()).unwrap();
    let cmd = |p: &[&str], n: u32| {
        Constraint::command(
            CommandPolicy::new(p.iter().copied())
                .unwrap()
                .with_max_args(n),
        )
        .unwrap()
    };
    let opt = |c: Constraint| Constraint::optional(c).unwrap();
    let each = |c: Constraint, a: u32, b: u32| Constraint::each(c, a, b).unwrap();
    let rows: Vec<(Constraint, Constraint, bool)> = vec![
        // Absence: a required argument narrows an optional one, never the reverse.
        (p("/a/b"), opt(p("/a")), true),
        (opt(p("/a/b")), opt(p("/a")), true),
        (opt(p("/a")), p("/a"), false),
        (Constraint::Any, p("/a"), false),
        (opt(p("/a")), Constraint::Any, true),
        (
            Constraint::any_of(vec![Constraint::Any, p("/a")]).unwrap(),
            p("/a"),
            false,
        ),
        // Negation reverses the relation.
        (
            Constraint::not(p("/a")).unwrap(),
            Constraint::not(p("/a/b")).unwrap(),
            true,
        ),
        (
            Constraint::not(p("/a/b")).unwrap(),
            Constraint::not(p("/a")).unwrap(),
            false,
        ),
        (p("/b"), Constraint::not(p("/a")).unwrap(), false),
        // Lists: a narrower item and tighter bounds.
        (each(p("/a/b"), 1, 2), each(p("/a"), 0, 3), true),
        (each(p("/a"), 1, 2), each(p("/a/b"), 0, 3), false),
        (each(p("/a"), 0, 4), each(p("/a"), 0, 3), false),
        (each(p("/a"), 0, 2), each(p("/a"), 1, 3), false),
        (
            each(Constraint::exact("x").unwrap(), 1, 2),
            Constraint::contains("x").unwrap(),
            true,
        ),
        (
            each(Constraint::exact("x").unwrap(), 0, 2),
            Constraint::contains("x").unwrap(),
            false,
        ),
        (
            Constraint::contains("x").unwrap(),
            Constraint::contains("x").unwrap(),
            true,
        ),
        (
            Constraint::contains("x").unwrap(),
            Constraint::contains("y").unwrap(),
            false,
        ),
        // Hosts and emails follow the URL rule.
        (host(&["a.example.com"]), host(&["*.example.com"]), true),
        (host(&["*.a.example.com"]), host(&["*.example.com"]), true),
        (host(&["*.example.com"]), host(&["a.example.com"]), false),
        (host(&["example.com"]), host(&["*.example.com"]), false),
        (
            host(&["example.org"]),
            Constraint::host(HostPolicy::public()).unwrap(),
            true,
        ),
        (
            host(&["localhost"]),
            Constraint::host(HostPolicy::public()).unwrap(),
            false,
        ),
        (
            Constraint::host(HostPolicy::public()).unwrap(),
            host(&["*.example.com"]),
            false,
        ),
        (email(&["eu.example.com"]), email(&["*.example.com"]), true),
        (email(&["*.example.com"]), email(&["example.com"]), false),
        (
            Constraint::email(EmailPolicy::addresses(["a@example.com"]).unwrap()).unwrap(),
            email(&["example.com"]),
            true,
        ),
        (
            Constraint::email(
                EmailPolicy::domains(["example.com"])
                    .unwrap()
                    .allowing_subaddress(),
            )
            .unwrap(),
            email(&["example.com"]),
            false,
        ),
        // Dates: inside the bounds, of the same kind.
        (
            date(Some("2026-02-01"), Some("2026-03-01")),
            date(Some("2026-01-01"), None),
            true,
        ),
        (
            date(Some("2025-02-01"), Some("2026-03-01")),
            date(Some("2026-01-01"), None),
            false,
        ),
        (
            date(Some("2026-02-01"), None),
            date(Some("2026-01-01"), Some("2026-12-31")),
            false,
        ),
        (
            date(
                Some("2026-02-01T00:00:00Z"),
                Some("2026-02-01T10:00:00+01:00"),
            ),
            date(
                Some("2026-01-31T23:00:00-01:00"),
                Some("2026-02-01T09:00:00Z"),
            ),
            true,
        ),
        (
            date(Some("2026-02-01"), None),
            date(Some("2026-01-01T00:00:00Z"), None),
            false,
        ),
        // Networks: a smaller network inside a listed one.
        (ip(&["10.1.0.0/16"]), ip(&["10.0.0.0/8"]), true),
        (ip(&["10.0.0.0/8"]), ip(&["10.1.0.0/16"]), false),
        (ip(&["10.1.2.3"]), ip(&["10.0.0.0/8"]), true),
        (
            ip(&["8.8.8.0/24"]),
            Constraint::ip(IpPolicy::public()).unwrap(),
            false,
        ),
        (
            Constraint::ip(IpPolicy::new(["8.8.8.0/24"]).unwrap().public_only()).unwrap(),
            Constraint::ip(IpPolicy::public()).unwrap(),
            true,
        ),
        // Commands: fewer programs, fewer arguments, a narrower argument rule.
        (cmd(&["git"], 2), cmd(&["git", "ls"], 4), true),
        (cmd(&["git", "rm"], 2), cmd(&["git", "ls"], 4), false),
        (cmd(&["git"], 5), cmd(&["git"], 4), false),
        (
            Constraint::command(
                CommandPolicy::new(["git"])
                    .unwrap()
                    .with_subcommands(["log"])
                    .unwrap(),
            )
            .unwrap(),
            Constraint::command(
                CommandPolicy::new(["git"])
                    .unwrap()
                    .with_subcommands(["log", "status"])
                    .unwrap(),
            )
            .unwrap(),
            true,
        ),
        (
            cmd(&["git"], 32),
            Constraint::command(
                CommandPolicy::new(["git"])
                    .unwrap()
                    .with_subcommands(["log"])
                    .unwrap(),
            )
            .unwrap(),
            false,
        ),
        (
            Constraint::command(
                CommandPolicy::new(["git"])
                    .unwrap()
                    .with_arg(p("-a"))
                    .unwrap(),
            )
            .unwrap(),
            Constraint::command(
                CommandPolicy::new(["git"])
                    .unwrap()
                    .with_arg(p("-"))
                    .unwrap(),
            )
            .unwrap(),
            true,
        ),
        (
            cmd(&["git"], 4),
            Constraint::command(
                CommandPolicy::new(["git"])
                    .unwrap()
                    .with_arg(p("-"))
                    .unwrap(),
            )
            .unwrap(),
            false,
        ),
    ];
    for (i, (child, parent, want)) in rows.iter().enumerate() {
        assert_eq!(
            child.is_subset_of(parent),
            *want,
            "row {i}: {child:?} ⊆ {parent:?}"
        );
    }
}
