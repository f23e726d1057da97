//! The subset relation: whether a narrowing really narrows (conservative).

use serde_json::Value;

use super::{Constraint, Scalar};

fn scalar_json(s: &Scalar) -> Value {
    match s {
        Scalar::Str(x) => Value::String(x.clone()),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Bool(b) => Value::Bool(*b),
    }
}

impl Constraint {
    /// Whether every value (and absence) this constraint allows is allowed by `parent`.
    ///
    /// Conservative: `false` means "not provably narrower", which an attenuation reports as an
    /// error. The verifier does not rely on it: every block's checks are enforced anyway.
    pub fn is_subset_of(&self, parent: &Constraint) -> bool {
        if self.allows_absence() && !parent.allows_absence() {
            return false;
        }
        self.on_present().present_subset(&parent.on_present())
    }

    /// The subset relation on present values (both sides free of `optional`).
    fn present_subset(&self, parent: &Constraint) -> bool {
        if self == parent || matches!(parent, Constraint::Any) {
            return true;
        }
        if let Some(values) = self.finite_values() {
            return values.iter().all(|s| parent.allows(&scalar_json(s)));
        }
        match (self, parent) {
            (Constraint::AnyOf(parts), _) => parts.iter().all(|p| p.present_subset(parent)),
            (_, Constraint::AllOf(parts)) => parts.iter().all(|p| self.present_subset(p)),
            (Constraint::AllOf(parts), _) => parts.iter().any(|p| p.present_subset(parent)),
            (_, Constraint::AnyOf(parts)) => parts.iter().any(|p| self.present_subset(p)),
            // not(a) ⊆ not(b) when b ⊆ a.
            (Constraint::Not(a), Constraint::Not(b)) => b.present_subset(a),
            // c ⊆ not(b) when c and b are disjoint: provable here only for finite sets.
            (_, Constraint::Not(_)) => false,
            (
                Constraint::Each {
                    item: a,
                    min_len: lo_a,
                    max_len: hi_a,
                },
                Constraint::Each {
                    item: b,
                    min_len: lo_b,
                    max_len: hi_b,
                },
            ) => lo_b <= lo_a && hi_a <= hi_b && a.present_subset(b),
            (Constraint::Each { item, min_len, .. }, Constraint::Contains(x)) => {
                // Every element is x, and there is at least one.
                *min_len >= 1 && item.finite_values().is_some_and(|v| v == [x.clone()])
            }
            (Constraint::Prefix(a), Constraint::Prefix(b)) => a.starts_with(b.as_str()),
            (Constraint::Suffix(a), Constraint::Suffix(b)) => a.ends_with(b.as_str()),
            (Constraint::SubPath(a), Constraint::SubPath(b)) => crate::subpath::root_within(b, a),
            (Constraint::Url(a), Constraint::Url(b)) => a.is_subset_of(b),
            (Constraint::Host(a), Constraint::Host(b)) => a.is_subset_of(b),
            (Constraint::Email(a), Constraint::Email(b)) => a.is_subset_of(b),
            (Constraint::Date(a), Constraint::Date(b)) => a.is_subset_of(b),
            (Constraint::Ip(a), Constraint::Ip(b)) => a.is_subset_of(b),
            (Constraint::Command(a), Constraint::Command(b)) => a.is_subset_of(b),
            (Constraint::IntRange { min: a, max: b }, Constraint::IntRange { min: c, max: d }) => {
                c <= a && b <= d
            }
            (
                Constraint::IntRange { min: a, max: b },
                Constraint::NumberRange { min: c, max: d },
            ) => *c <= *a as f64 && (*b as f64) <= *d,
            (
                Constraint::NumberRange { min: a, max: b },
                Constraint::NumberRange { min: c, max: d },
            ) => c <= a && b <= d,
            (Constraint::MaxLength(a), Constraint::MaxLength(b)) => a <= b,
            (Constraint::NotOneOf(a), Constraint::NotOneOf(b)) => a.is_superset(b),
            _ => false,
        }
    }

    /// The values of a constraint that allows only finitely many scalars.
    pub(crate) fn finite_values(&self) -> Option<Vec<Scalar>> {
        match self {
            Constraint::Exact(s) => Some(vec![s.clone()]),
            Constraint::OneOf(set) => Some(set.scalars()),
            _ => None,
        }
    }
}
