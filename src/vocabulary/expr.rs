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
    /// A closure over one element `$e` (the right side of `.all`).
    Lambda(Box<E<'a>>),
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
    All,
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
                let inner = Box::new(tree(&c.ops, sym, depth + 1)?);
                let e = match c.params.as_slice() {
                    [] => E::Closure(inner),
                    [p] if sym.get(u64::from(*p))? == n::ELEM => E::Lambda(inner),
                    _ => return None,
                };
                stack.push((e, depth + 2));
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
                    (B::All, None) => Bin::All,
                    _ => return None,
                };
                let (right, dr) = stack.pop()?;
                let (left, dl) = stack.pop()?;
                // Only the lazy operators take a closure and only `.all` a lambda, both on
                // their right.
                let lazy = matches!(op, Bin::And | Bin::Or);
                let all = op == Bin::All;
                if lazy != matches!(right, E::Closure(_))
                    || all != matches!(right, E::Lambda(_))
                    || matches!(left, E::Closure(_) | E::Lambda(_))
                {
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

/// The JSON parameter the writer emits for an extern-function kind.
pub(crate) fn extern_param(c: &Constraint) -> Option<String> {
    match c {
        Constraint::SubPath(root) => Some(root.clone()),
        Constraint::Url(p) => serde_json::to_string(p).ok(),
        Constraint::NumberRange { min, max } => serde_json::to_string(&[min, max]).ok(),
        Constraint::Host(p) => serde_json::to_string(p).ok(),
        Constraint::Email(p) => serde_json::to_string(p).ok(),
        Constraint::Date(r) => serde_json::to_string(r).ok(),
        Constraint::Ip(p) => serde_json::to_string(p).ok(),
        Constraint::Command(p) => serde_json::to_string(p).ok(),
        _ => None,
    }
}

fn is_len(e: &E<'_>, var: &str) -> bool {
    matches!(e, E::Length(v) if is_var(v, var))
}

fn scalar(t: &T<'_>) -> Option<Scalar> {
    Some(match t {
        T::Str(s) => Scalar::Str((*s).to_owned()),
        T::Int(i) => Scalar::Int(*i),
        T::Bool(b) => Scalar::Bool(*b),
        _ => return None,
    })
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
        (n::ARRAY, Bin::Contains, v, E::Term(x)) if g(v) => Constraint::Contains(scalar(x)?),
        // $v.length() >= MIN && ($v.length() <= MAX && $v.all($e -> ITEM))
        (n::ARRAY, Bin::And, E::Bin(Bin::Ge, len, lo), E::Closure(rest)) if is_len(len, var) => {
            let (E::Term(T::Int(lo)), E::Bin(Bin::And, at_most, all)) =
                (lo.as_ref(), rest.as_ref())
            else {
                return None;
            };
            let E::Bin(Bin::Le, len2, hi) = at_most.as_ref() else {
                return None;
            };
            let (true, E::Term(T::Int(hi)), E::Closure(all)) =
                (is_len(len2, var), hi.as_ref(), all.as_ref())
            else {
                return None;
            };
            let E::Bin(Bin::All, v2, lambda) = all.as_ref() else {
                return None;
            };
            let (true, E::Lambda(item)) = (g(v2), lambda.as_ref()) else {
                return None;
            };
            Constraint::Each {
                item: Box::new(constraint(item, n::ELEM)?),
                min_len: u32::try_from(*lo).ok()?,
                max_len: u32::try_from(*hi).ok()?,
            }
        }
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
        E::Bin(Bin::Eq, v, x) if g(v) => match x.as_ref() {
            E::Term(t) => Some(Constraint::Exact(scalar(t)?)),
            _ => None,
        },
        E::Negate(inner) => Some(Constraint::Not(Box::new(constraint(inner, var)?))),
        E::Bin(Bin::Ffi(name), v, param) if g(v) => {
            let E::Term(T::Str(param)) = param.as_ref() else {
                return None;
            };
            let c = match *name {
                n::EXT_PATH => Some(Constraint::SubPath((*param).to_owned())),
                n::EXT_URL => Some(Constraint::Url(serde_json::from_str(param).ok()?)),
                n::EXT_NUM => {
                    let [min, max]: [f64; 2] = serde_json::from_str(param).ok()?;
                    Some(Constraint::NumberRange { min, max })
                }
                n::EXT_HOST => Some(Constraint::Host(serde_json::from_str(param).ok()?)),
                n::EXT_EMAIL => Some(Constraint::Email(serde_json::from_str(param).ok()?)),
                n::EXT_DATE => Some(Constraint::Date(serde_json::from_str(param).ok()?)),
                n::EXT_IP => Some(Constraint::Ip(serde_json::from_str(param).ok()?)),
                n::EXT_COMMAND => Some(Constraint::Command(serde_json::from_str(param).ok()?)),
                _ => None,
            }?;
            // One spelling: the parameter must be exactly what the writer emits for it (no
            // unknown field, no other order or spacing).
            (extern_param(&c).as_deref() == Some(*param)).then_some(c)
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
