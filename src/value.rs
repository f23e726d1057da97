//! The scalar view of a JSON argument that constraints and Datalog facts share.

use serde_json::Value;

/// The largest integer magnitude every JSON implementation represents exactly (2^53).
pub(crate) const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// One JSON value as constraints see it. Integral numbers that fit `i64` are integers whatever
/// their JSON spelling (`1`, `1.0`, `1e0`), because RFC 8785 canonicalisation spells them alike.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ArgValue<'a> {
    /// An integer beyond ±2^53: RFC 8785 canonicalises numbers as IEEE-754 doubles, so two such
    /// integers can share one canonical form (and one signature). Calls holding one are refused.
    Unportable,
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// An array or object: only its leaves are addressable.
    Container,
}

impl<'a> ArgValue<'a> {
    pub(crate) fn of(value: &'a Value) -> Self {
        match value {
            Value::String(s) => ArgValue::Str(s),
            Value::Bool(b) => ArgValue::Bool(*b),
            Value::Null => ArgValue::Null,
            Value::Number(n) => number(n),
            Value::Array(_) | Value::Object(_) => ArgValue::Container,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            ArgValue::Int(i) => Some(*i as f64),
            ArgValue::Float(f) => Some(*f),
            _ => None,
        }
    }
}

fn number(n: &serde_json::Number) -> ArgValue<'static> {
    if let Some(i) = n.as_i64() {
        return if i.unsigned_abs() <= MAX_SAFE_INTEGER {
            ArgValue::Int(i)
        } else {
            ArgValue::Unportable
        };
    }
    if n.is_u64() {
        return ArgValue::Unportable;
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64 => {
            ArgValue::Int(f as i64)
        }
        // Every double beyond 2^53 is an integer, and RFC 8785 writes it as one: it is as
        // unportable as the integer itself (found by the `canonical_args` fuzz target).
        Some(f) if f.abs() > MAX_SAFE_INTEGER as f64 => ArgValue::Unportable,
        Some(f) => ArgValue::Float(f),
        // Not reachable with serde_json's default number type; treat as an opaque container.
        None => ArgValue::Container,
    }
}

/// Whether a JSON value holds an integer beyond ±2^53 anywhere (checked iteratively).
pub(crate) fn has_unportable_integer(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            other => {
                if ArgValue::of(other) == ArgValue::Unportable {
                    return true;
                }
            }
        }
    }
    false
}
