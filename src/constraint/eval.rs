//! The native evaluation: what the verifier runs on every call.

use serde_json::Value;

use super::{compile_regex, Constraint, Scalar, ValueSet};
use crate::subpath;
use crate::value::ArgValue;

fn in_set(set: &ValueSet, v: &ArgValue<'_>) -> Option<bool> {
    match (set, v) {
        (ValueSet::Strs(s), ArgValue::Str(x)) => Some(s.contains(*x)),
        (ValueSet::Ints(s), ArgValue::Int(x)) => Some(s.contains(x)),
        _ => None,
    }
}

pub(crate) fn scalar_value(s: &Scalar) -> ArgValue<'_> {
    match s {
        Scalar::Str(x) => ArgValue::Str(x),
        Scalar::Int(i) => ArgValue::Int(*i),
        Scalar::Bool(b) => ArgValue::Bool(*b),
    }
}

impl Constraint {
    /// Whether a present argument value satisfies the constraint: the verifier's own
    /// evaluation (absence is judged by [`Constraint::allows_absence`]).
    pub fn allows(&self, value: &Value) -> bool {
        self.allows_with(value, &|pattern, s| {
            compile_regex(pattern).is_ok_and(|re| re.is_match(s))
        })
    }

    /// As [`Constraint::allows`], with regexes matched by `regex` (the plan passes its
    /// compiled ones).
    pub(crate) fn allows_with(&self, value: &Value, regex: &dyn Fn(&str, &str) -> bool) -> bool {
        match self {
            Constraint::Optional(inner) => inner.allows_with(value, regex),
            Constraint::Not(inner) => !inner.allows_with(value, regex),
            Constraint::AllOf(parts) => parts.iter().all(|p| p.allows_with(value, regex)),
            Constraint::AnyOf(parts) => parts.iter().any(|p| p.allows_with(value, regex)),
            Constraint::Each {
                item,
                min_len,
                max_len,
            } => match value {
                Value::Array(items) => {
                    let n = items.len();
                    *min_len as usize <= n
                        && n <= *max_len as usize
                        && items.iter().all(|x| item.allows_with(x, regex))
                }
                _ => false,
            },
            Constraint::Contains(s) => match value {
                Value::Array(items) => {
                    let want = scalar_value(s);
                    items.iter().any(|x| ArgValue::of(x) == want)
                }
                _ => false,
            },
            Constraint::Regex(pattern) => match value {
                Value::String(s) => regex(pattern, s),
                _ => false,
            },
            scalar => scalar.allows_scalar(&ArgValue::of(value)),
        }
    }

    /// A leaf kind on one scalar (containers refused by every leaf but `any`).
    fn allows_scalar(&self, v: &ArgValue<'_>) -> bool {
        let s = match v {
            ArgValue::Str(x) => Some(*x),
            _ => None,
        };
        match self {
            Constraint::Any => true,
            Constraint::Exact(x) => *v == scalar_value(x),
            Constraint::OneOf(set) => in_set(set, v) == Some(true),
            Constraint::NotOneOf(set) => in_set(set, v) == Some(false),
            Constraint::Prefix(p) => s.is_some_and(|x| x.starts_with(p.as_str())),
            Constraint::Suffix(p) => s.is_some_and(|x| x.ends_with(p.as_str())),
            Constraint::SubPath(root) => s.is_some_and(|x| subpath::is_within(root, x)),
            Constraint::Url(policy) => s.is_some_and(|x| policy.allows(x)),
            Constraint::Host(policy) => s.is_some_and(|x| policy.allows(x)),
            Constraint::Email(policy) => s.is_some_and(|x| policy.allows(x)),
            Constraint::Date(range) => s.is_some_and(|x| range.allows(x)),
            Constraint::Ip(policy) => s.is_some_and(|x| policy.allows(x)),
            Constraint::Command(policy) => s.is_some_and(|x| policy.allows(x)),
            Constraint::IntRange { min, max } => {
                matches!(v, ArgValue::Int(x) if min <= x && x <= max)
            }
            Constraint::NumberRange { min, max } => {
                v.as_f64().is_some_and(|x| *min <= x && x <= *max)
            }
            Constraint::MaxLength(n) => s.is_some_and(|x| x.len() <= *n as usize),
            // Composite kinds are handled by `allows_with`; reaching here is a bug: refuse.
            Constraint::Optional(_)
            | Constraint::Not(_)
            | Constraint::AllOf(_)
            | Constraint::AnyOf(_)
            | Constraint::Each { .. }
            | Constraint::Contains(_)
            | Constraint::Regex(_) => false,
        }
    }
}
