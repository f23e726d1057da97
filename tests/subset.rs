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
