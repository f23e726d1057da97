//! The expression grammar: biscuit's postfix ops built into a bounded tree, and the tree
//! matched against the exact shapes `write.rs` emits for each constraint kind.

use biscuit_auth::format::schema;

use super::names as n;
use super::terms::{ints, strs, term, Symbols, T};
use crate::constraint::{Constraint, Scalar, ValueSet};

/// Deepest expression tree (closures included). The writer's deepest, a constraint nested
/// eight deep, stays far below it.
pub(crate) const MAX_EXPR_DEPTH: usize = 40;

/// An expression tree built from biscuit's postfix ops, with its depth.
#[derive(Debug)]
pub(crate) enum E<'a> {
    Term(T<'a>),
    /// A closure without parameters (the right side of a lazy `&&` / `||`).
    Closure(Box<E<'a>>),
    Negate(Box<E<'a>>),
    Length(Box<E<'a>>),
    TypeOf(Box<E<'a>>),
    Bin(Bin<'a>, Box<E<'a>>, Box<E<'a>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bin<'a> {
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

pub(crate) fn tree<'a>(ops: &'a [schema::Op], sym: &Symbols<'a>, depth: usize) -> Option<E<'a>> {
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

pub(crate) fn is_var(e: &E<'_>, name: &str) -> bool {
    matches!(e, E::Term(T::Var(v)) if *v == name)
}

/// `$v.type() == "<ty>"`: the guard of a typed leaf over `var`.
pub(crate) fn guard_type<'a>(e: &E<'a>, var: &str) -> Option<&'a str> {
    match e {
        E::Bin(Bin::Eq, l, r) => match (l.as_ref(), r.as_ref()) {
            (E::TypeOf(v), E::Term(T::Str(ty))) if is_var(v, var) => Some(ty),
            _ => None,
        },
        _ => None,
    }
}

/// The body of a typed leaf, given its guard's type.
pub(crate) fn guarded(ty: &str, body: &E<'_>, var: &str) -> Option<Constraint> {
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
pub(crate) fn constraint(e: &E<'_>, var: &str) -> Option<Constraint> {
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
pub(crate) fn flatten(
    e: &E<'_>,
    op: Bin<'_>,
    var: &str,
    parts: &mut Vec<Constraint>,
) -> Option<()> {
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
