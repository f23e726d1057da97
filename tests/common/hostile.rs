//! Hostile tokens: what anyone who has seen a token's text can append to it (anonymous blocks
//! need no key), each up to the default size limit. Shared by the attack tests and the
//! `hostile tokens` benchmark group: every one must be denied after at most the linear parse and
//! one signature check, in no more time than a legitimate cold 1-hop verification.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use biscuit_auth::builder::{
    Binary, BlockBuilder, Check, CheckKind, Expression, Op, Predicate, Rule, Term, Unary,
};
use biscuit_auth::Biscuit;

/// Stays below the default `Limits::max_token_bytes` (64 KiB of text) once base64-encoded.
const BUDGET: usize = 46 * 1024;

fn grow(base: &Biscuit, mut add: impl FnMut(BlockBuilder, usize) -> BlockBuilder) -> Biscuit {
    // Double the amount until the token would pass the budget, then keep the largest that fits.
    let mut n = 16;
    let mut best = base.append(add(BlockBuilder::new(), 1)).unwrap();
    loop {
        let t = base.append(add(BlockBuilder::new(), n)).unwrap();
        if t.serialized_size().unwrap() > BUDGET {
            return best;
        }
        best = t;
        if n >= 1 << 16 {
            return best;
        }
        n *= 2;
    }
}

fn var(s: &str) -> Term {
    Term::Variable(s.to_owned())
}

/// A check whose one query has `body` and `ops`.
fn check(body: Vec<Predicate>, ops: Vec<Op>) -> Check {
    Check {
        queries: vec![Rule::new(
            Predicate::new("query".to_owned(), vec![]),
            body,
            vec![Expression { ops }],
            vec![],
        )],
        kind: CheckKind::One,
    }
}

/// (name, token) for every hostile shape.
pub fn tokens(base: &Biscuit) -> Vec<(&'static str, Biscuit)> {
    let mut out = Vec::new();
    // Many facts, and a three-way join over them.
    out.push((
        "facts and a three-way join",
        grow(base, |mut b, n| {
            for i in 0..n {
                b = b
                    .fact(biscuit_auth::builder::fact("f", &[Term::Integer(i as i64)]))
                    .unwrap();
            }
            b.rule(Rule::new(
                Predicate::new("j".to_owned(), vec![var("a"), var("b"), var("c")]),
                vec![
                    Predicate::new("f".to_owned(), vec![var("a")]),
                    Predicate::new("f".to_owned(), vec![var("b")]),
                    Predicate::new("f".to_owned(), vec![var("c")]),
                ],
                vec![],
                vec![],
            ))
            .unwrap()
        }),
    ));
    // A catastrophic-looking regex matched against every one of many facts.
    out.push((
        "a regex over many facts",
        grow(base, |mut b, n| {
            for i in 0..n {
                b = b
                    .fact(biscuit_auth::builder::fact(
                        "s",
                        &[Term::Str(format!("{}!", "a".repeat(i % 40 + 10)))],
                    ))
                    .unwrap();
            }
            b.check(check(
                vec![Predicate::new("s".to_owned(), vec![var("x")])],
                vec![
                    Op::Value(var("x")),
                    Op::Value(Term::Str("^(a|a?)+(a|a?)+$".to_owned())),
                    Op::Binary(Binary::Regex),
                ],
            ))
            .unwrap()
        }),
    ));
    // One long expression (deep and wide arithmetic) in a check.
    out.push((
        "a long expression",
        grow(base, |b, n| {
            let mut ops = vec![Op::Value(Term::Integer(1))];
            for i in 0..n * 4 {
                ops.push(Op::Value(Term::Integer(i as i64)));
                ops.push(Op::Binary(Binary::Add));
            }
            ops.push(Op::Value(Term::Integer(0)));
            ops.push(Op::Binary(Binary::GreaterThan));
            b.check(check(
                vec![Predicate::new("t".to_owned(), vec![var("t")])],
                ops,
            ))
            .unwrap()
        }),
    ));
    // A large symbol table (many distinct strings).
    out.push((
        "a large symbol table",
        grow(base, |b, n| {
            let set = Term::Set((0..n).map(|i| Term::Str(format!("symbol-{i}"))).collect());
            b.check(check(
                vec![Predicate::new("t".to_owned(), vec![var("t")])],
                vec![
                    Op::Value(set),
                    Op::Value(var("t")),
                    Op::Binary(Binary::Contains),
                ],
            ))
            .unwrap()
        }),
    ));
    // Within the grammar: a block of many argument checks (every one a regex) that the reader
    // accepts; the garbage proof is what denies it.
    out.push((
        "many checks within the grammar",
        grow(base, |b, n| {
            // Within the reader's symbol bound (1,024 per block).
            let n = n.min(900);
            let body = (0..n)
                .map(|i| {
                    let p = format!("/a{i}");
                    Predicate::new("g".to_owned(), vec![Term::Str(p.clone()), var(&p)])
                })
                .collect();
            let exprs = (0..n)
                .map(|i| {
                    let v = || Op::Value(var(&format!("/a{i}")));
                    Expression {
                        ops: vec![
                            v(),
                            Op::Unary(Unary::TypeOf),
                            Op::Value(Term::Str("string".to_owned())),
                            Op::Binary(Binary::HeterogeneousEqual),
                            Op::Closure(
                                vec![],
                                vec![
                                    v(),
                                    Op::Value(Term::Str("^(?:(a|a?)+)$".to_owned())),
                                    Op::Binary(Binary::Regex),
                                ],
                            ),
                            Op::Binary(Binary::LazyAnd),
                        ],
                    }
                })
                .collect();
            let other = Rule::new(
                Predicate::new("query".to_owned(), vec![]),
                vec![Predicate::new("t".to_owned(), vec![var("t")])],
                vec![Expression {
                    ops: vec![
                        Op::Value(var("t")),
                        Op::Value(Term::Str("search".to_owned())),
                        Op::Binary(Binary::HeterogeneousNotEqual),
                    ],
                }],
                vec![],
            );
            let holds = Rule::new(
                Predicate::new("query".to_owned(), vec![]),
                body,
                exprs,
                vec![],
            );
            b.check(Check {
                queries: vec![other, holds],
                kind: CheckKind::One,
            })
            .unwrap()
        }),
    ));
    // Many blocks, each within the grammar (up to the default block limit).
    let mut many = base.clone();
    for _ in 0..30 {
        many = many
            .append(
                BlockBuilder::new()
                    .check(check(
                        vec![Predicate::new("time".to_owned(), vec![var("time")])],
                        vec![
                            Op::Value(var("time")),
                            Op::Value(Term::Date(4_000_000_000)),
                            Op::Binary(Binary::LessOrEqual),
                        ],
                    ))
                    .unwrap(),
            )
            .unwrap();
    }
    out.push(("thirty blocks within the grammar", many));
    out
}
