//! Typed argument constraints: what one argument of a tool call may hold.
//!
//! Each constraint has three faces that must agree: a native evaluation ([`Constraint::allows`]),
//! a Datalog check generated from it (private `vocabulary` module) that the verifier runs, and a
//! conservative subset relation ([`Constraint::is_subset_of`]) used to refuse a widening
//! attenuation before it is appended.

use std::collections::BTreeSet;

use regex::RegexBuilder;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::subpath;
use crate::url_policy::UrlPolicy;
use crate::value::ArgValue;

/// The longest regex pattern accepted, in bytes.
pub const MAX_REGEX_LEN: usize = 256;
/// The most nodes one constraint tree may hold (all-of / any-of included).
pub const MAX_CONSTRAINT_NODES: usize = 64;
/// The most values a one-of / not-one-of set may hold.
pub const MAX_SET_LEN: usize = 256;
/// The longest string a constraint may hold (prefix, suffix, exact value, set member), in bytes.
pub const MAX_CONSTRAINT_STRING: usize = 1024;
/// The compiled-size limit for a regex, in bytes.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A scalar JSON value that an argument can be compared with exactly.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

/// A set of strings or a set of integers (sets are homogeneous).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ValueSet {
    /// A set of strings.
    Strs(BTreeSet<String>),
    /// A set of integers.
    Ints(BTreeSet<i64>),
}

impl ValueSet {
    fn len(&self) -> usize {
        match self {
            ValueSet::Strs(s) => s.len(),
            ValueSet::Ints(s) => s.len(),
        }
    }

    fn contains(&self, v: &ArgValue<'_>) -> Option<bool> {
        match (self, v) {
            (ValueSet::Strs(s), ArgValue::Str(x)) => Some(s.contains(*x)),
            (ValueSet::Ints(s), ArgValue::Int(x)) => Some(s.contains(x)),
            _ => None,
        }
    }

    fn is_superset(&self, other: &ValueSet) -> bool {
        match (self, other) {
            (ValueSet::Strs(a), ValueSet::Strs(b)) => a.is_superset(b),
            (ValueSet::Ints(a), ValueSet::Ints(b)) => a.is_superset(b),
            _ => false,
        }
    }

    fn scalars(&self) -> Vec<Scalar> {
        match self {
            ValueSet::Strs(s) => s.iter().cloned().map(Scalar::Str).collect(),
            ValueSet::Ints(s) => s.iter().copied().map(Scalar::Int).collect(),
        }
    }
}

/// What one argument may hold. Build with the constructors, which validate; the variants are
/// public so grants can be inspected and matched on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Constraint {
    /// Anything, including absence. Names the argument so a closed tool accepts it.
    Any,
    /// Exactly this value.
    Exact(Scalar),
    /// One of these values.
    OneOf(ValueSet),
    /// A value of the set's type that is none of these.
    NotOneOf(ValueSet),
    /// A string starting with this.
    Prefix(String),
    /// A string ending with this.
    Suffix(String),
    /// An absolute path at or below this absolute root, with no `..`, `%`, `\` or control
    /// characters, spelled canonically — no empty or `.` segment, no trailing `/` — so that
    /// other constraints on the same argument compare the one spelling the tool opens
    /// (lexical: see the threat model about symbolic links).
    SubPath(String),
    /// A URL allowed by the policy.
    Url(UrlPolicy),
    /// An integer in `[min, max]`.
    IntRange {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A number (integer or not) in `[min, max]`.
    NumberRange {
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// A string that the whole pattern matches (the pattern is anchored at both ends).
    Regex(String),
    /// A string of at most this many bytes (UTF-8).
    MaxLength(u32),
    /// Every one of these.
    AllOf(Vec<Constraint>),
    /// At least one of these.
    AnyOf(Vec<Constraint>),
}

impl Constraint {
    /// Exactly this string.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the string is longer than [`MAX_CONSTRAINT_STRING`].
    pub fn exact(value: impl Into<String>) -> Result<Self, Error> {
        Self::Exact(Scalar::Str(value.into())).validated()
    }

    /// One of these strings.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty or too large.
    pub fn one_of<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Result<Self, Error> {
        Self::OneOf(ValueSet::Strs(values.into_iter().map(Into::into).collect())).validated()
    }

    /// A string that is none of these.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty or too large.
    pub fn not_one_of<I: IntoIterator<Item = S>, S: Into<String>>(
        values: I,
    ) -> Result<Self, Error> {
        Self::NotOneOf(ValueSet::Strs(values.into_iter().map(Into::into).collect())).validated()
    }

    /// A string starting with `prefix`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the prefix is too long.
    pub fn prefix(prefix: impl Into<String>) -> Result<Self, Error> {
        Self::Prefix(prefix.into()).validated()
    }

    /// A string ending with `suffix`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the suffix is too long.
    pub fn suffix(suffix: impl Into<String>) -> Result<Self, Error> {
        Self::Suffix(suffix.into()).validated()
    }

    /// A path at or below `root`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the root is not an absolute, normalised-safe path.
    pub fn sub_path(root: impl Into<String>) -> Result<Self, Error> {
        Self::SubPath(root.into()).validated()
    }

    /// A URL allowed by `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the policy is malformed.
    pub fn url(policy: UrlPolicy) -> Result<Self, Error> {
        Self::Url(policy).validated()
    }

    /// An integer in `[min, max]`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when `min > max`.
    pub fn int_range(min: i64, max: i64) -> Result<Self, Error> {
        Self::IntRange { min, max }.validated()
    }

    /// A number in `[min, max]`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when a bound is not finite or `min > max`.
    pub fn number_range(min: f64, max: f64) -> Result<Self, Error> {
        Self::NumberRange { min, max }.validated()
    }

    /// A string matched whole by `pattern` (Rust `regex` syntax; linear time, no backtracking).
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the pattern is longer than [`MAX_REGEX_LEN`], does not
    /// compile, or compiles too large.
    pub fn regex(pattern: impl Into<String>) -> Result<Self, Error> {
        Self::Regex(pattern.into()).validated()
    }

    /// A string of at most `bytes` bytes.
    ///
    /// # Errors
    /// Never fails today; returns `Result` for symmetry with the other constructors.
    pub fn max_length(bytes: u32) -> Result<Self, Error> {
        Self::MaxLength(bytes).validated()
    }

    /// Every one of `parts`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when `parts` is empty or the tree is too large.
    pub fn all_of(parts: Vec<Constraint>) -> Result<Self, Error> {
        Self::AllOf(parts).validated()
    }

    /// At least one of `parts`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when `parts` is empty or the tree is too large.
    pub fn any_of(parts: Vec<Constraint>) -> Result<Self, Error> {
        Self::AnyOf(parts).validated()
    }

    fn validated(self) -> Result<Self, Error> {
        self.validate()?;
        Ok(self)
    }

    /// Checks the whole tree against the documented bounds.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] naming the first problem found.
    pub fn validate(&self) -> Result<(), Error> {
        let mut nodes = 0;
        self.validate_inner(&mut nodes, 0, true)
    }

    /// As [`Constraint::validate`], without compiling regexes: the token reader's check, which
    /// must stay linear in the bytes before the holder's signature is checked (the plan
    /// compiles regexes afterwards, and refuses one that does not compile).
    pub(crate) fn validate_shape(&self) -> Result<(), Error> {
        let mut nodes = 0;
        self.validate_inner(&mut nodes, 0, false)
    }

    fn validate_inner(&self, nodes: &mut usize, depth: usize, compile: bool) -> Result<(), Error> {
        *nodes += 1;
        if *nodes > MAX_CONSTRAINT_NODES || depth > 8 {
            return Err(Error::grant(format!(
                "a constraint may hold at most {MAX_CONSTRAINT_NODES} nodes nested at most 8 deep"
            )));
        }
        let long = |s: &str| s.len() > MAX_CONSTRAINT_STRING;
        match self {
            Constraint::Any | Constraint::MaxLength(_) => Ok(()),
            Constraint::Exact(Scalar::Str(s)) | Constraint::Prefix(s) | Constraint::Suffix(s) if long(s) => {
                Err(Error::grant(format!("constraint strings are limited to {MAX_CONSTRAINT_STRING} bytes")))
            }
            Constraint::Exact(_) | Constraint::Prefix(_) | Constraint::Suffix(_) => Ok(()),
            Constraint::OneOf(set) | Constraint::NotOneOf(set) => {
                let too_long = match set {
                    ValueSet::Strs(s) => s.iter().any(|x| long(x)),
                    ValueSet::Ints(_) => false,
                };
                if set.len() == 0 || set.len() > MAX_SET_LEN || too_long {
                    Err(Error::grant(format!("a value set needs 1 to {MAX_SET_LEN} values")))
                } else {
                    Ok(())
                }
            }
            Constraint::SubPath(root) => match subpath::components(root) {
                Some(_) => Ok(()),
                None => Err(Error::grant(format!("sub-path root `{root}` must be an absolute path without `..`, `%`, `\\` or control characters"))),
            },
            Constraint::Url(policy) => policy.validate(),
            Constraint::IntRange { min, max } if min > max => {
                Err(Error::grant(format!("integer range {min}..={max} is empty")))
            }
            Constraint::IntRange { .. } => Ok(()),
            Constraint::NumberRange { min, max } => {
                if min.is_finite() && max.is_finite() && min <= max {
                    Ok(())
                } else {
                    Err(Error::grant(format!("number range {min}..={max} must be finite and non-empty")))
                }
            }
            Constraint::Regex(pattern) => {
                if pattern.len() > MAX_REGEX_LEN {
                    return Err(Error::grant(format!("regex patterns are limited to {MAX_REGEX_LEN} bytes")));
                }
                if !compile {
                    return Ok(());
                }
                compile_regex(pattern).map(|_| ())
            }
            Constraint::AllOf(parts) | Constraint::AnyOf(parts) => {
                if parts.is_empty() {
                    return Err(Error::grant("all-of and any-of need at least one part"));
                }
                parts.iter().try_for_each(|p| p.validate_inner(nodes, depth + 1, compile))
            }
        }
    }

    /// Whether a present argument value satisfies the constraint (native evaluation; the
    /// verifier enforces the same semantics through Datalog).
    pub fn allows(&self, value: &Value) -> bool {
        self.allows_value(&ArgValue::of(value))
    }

    /// The constraint's kind, as its serialized form names it (`sub_path`, `one_of`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Constraint::Any => "any",
            Constraint::Exact(_) => "exact",
            Constraint::OneOf(_) => "one_of",
            Constraint::NotOneOf(_) => "not_one_of",
            Constraint::Prefix(_) => "prefix",
            Constraint::Suffix(_) => "suffix",
            Constraint::SubPath(_) => "sub_path",
            Constraint::Url(_) => "url",
            Constraint::IntRange { .. } => "int_range",
            Constraint::NumberRange { .. } => "number_range",
            Constraint::Regex(_) => "regex",
            Constraint::MaxLength(_) => "max_length",
            Constraint::AllOf(_) => "all_of",
            Constraint::AnyOf(_) => "any_of",
        }
    }

    pub(crate) fn allows_value(&self, v: &ArgValue<'_>) -> bool {
        match self {
            Constraint::Any => true,
            Constraint::Exact(Scalar::Str(s)) => matches!(v, ArgValue::Str(x) if x == s),
            Constraint::Exact(Scalar::Int(i)) => matches!(v, ArgValue::Int(x) if x == i),
            Constraint::Exact(Scalar::Bool(b)) => matches!(v, ArgValue::Bool(x) if x == b),
            Constraint::OneOf(set) => set.contains(v) == Some(true),
            Constraint::NotOneOf(set) => set.contains(v) == Some(false),
            Constraint::Prefix(p) => matches!(v, ArgValue::Str(x) if x.starts_with(p.as_str())),
            Constraint::Suffix(p) => matches!(v, ArgValue::Str(x) if x.ends_with(p.as_str())),
            Constraint::SubPath(root) => {
                matches!(v, ArgValue::Str(x) if subpath::is_within(root, x))
            }
            Constraint::Url(policy) => matches!(v, ArgValue::Str(x) if policy.allows(x)),
            Constraint::IntRange { min, max } => {
                matches!(v, ArgValue::Int(x) if min <= x && x <= max)
            }
            Constraint::NumberRange { min, max } => {
                v.as_f64().is_some_and(|x| *min <= x && x <= *max)
            }
            Constraint::Regex(pattern) => match v {
                ArgValue::Str(x) => regex_matches(pattern, x),
                _ => false,
            },
            Constraint::MaxLength(n) => matches!(v, ArgValue::Str(x) if x.len() <= *n as usize),
            Constraint::AllOf(parts) => parts.iter().all(|p| p.allows_value(v)),
            Constraint::AnyOf(parts) => parts.iter().any(|p| p.allows_value(v)),
        }
    }

    /// Whether every value this constraint allows is allowed by `parent`.
    ///
    /// Conservative: `false` means "not provably narrower", which an attenuation reports as an
    /// error. The verifier does not rely on it: every block's checks are enforced anyway.
    pub fn is_subset_of(&self, parent: &Constraint) -> bool {
        if self == parent || matches!(parent, Constraint::Any) {
            return true;
        }
        if let Some(values) = self.finite_values() {
            return values.iter().all(|s| parent.allows_value(&scalar_value(s)));
        }
        match (self, parent) {
            (Constraint::AnyOf(parts), _) => parts.iter().all(|p| p.is_subset_of(parent)),
            (_, Constraint::AllOf(parts)) => parts.iter().all(|p| self.is_subset_of(p)),
            (Constraint::AllOf(parts), _) => parts.iter().any(|p| p.is_subset_of(parent)),
            (_, Constraint::AnyOf(parts)) => parts.iter().any(|p| self.is_subset_of(p)),
            (Constraint::Prefix(a), Constraint::Prefix(b)) => a.starts_with(b.as_str()),
            (Constraint::Suffix(a), Constraint::Suffix(b)) => a.ends_with(b.as_str()),
            (Constraint::SubPath(a), Constraint::SubPath(b)) => subpath::root_within(b, a),
            (Constraint::Url(a), Constraint::Url(b)) => a.is_subset_of(b),
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
    fn finite_values(&self) -> Option<Vec<Scalar>> {
        match self {
            Constraint::Exact(s) => Some(vec![s.clone()]),
            Constraint::OneOf(set) => Some(set.scalars()),
            _ => None,
        }
    }
}

fn scalar_value(s: &Scalar) -> ArgValue<'_> {
    match s {
        Scalar::Str(x) => ArgValue::Str(x),
        Scalar::Int(i) => ArgValue::Int(*i),
        Scalar::Bool(b) => ArgValue::Bool(*b),
    }
}

/// The pattern as the verifier runs it: anchored at both ends.
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// Compiles a pattern as the verifier runs it: anchored, size-bounded.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, Error> {
    RegexBuilder::new(&anchored(pattern))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| Error::grant(format!("regex `{pattern}` does not compile: {e}")))
}

fn regex_matches(pattern: &str, value: &str) -> bool {
    compile_regex(pattern).is_ok_and(|re| re.is_match(value))
}
