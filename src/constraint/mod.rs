//! Typed argument constraints: what one argument of a tool call may hold.
//!
//! Each constraint has three faces that must agree: the native evaluation the verifier runs
//! ([`Constraint::allows`], `eval.rs`), the Datalog check written into the token from it
//! (private `vocabulary` module; biscuit's authorizer over it is the reference the native
//! evaluation is tested against), and a conservative subset relation
//! ([`Constraint::is_subset_of`], `subset.rs`) used to refuse a widening attenuation before it
//! is appended.

use std::collections::BTreeSet;

use regex::RegexBuilder;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::subpath;
use crate::url_policy::UrlPolicy;

mod command;
mod date;
mod email;
mod eval;
mod host;
mod ip;
mod subset;

pub use command::{CommandPolicy, MAX_COMMAND_LEN};
pub use date::DateRange;
pub use email::EmailPolicy;
pub use host::HostPolicy;
pub use ip::IpPolicy;

/// The longest regex pattern accepted, in bytes.
pub const MAX_REGEX_LEN: usize = 256;
/// The most nodes one constraint tree may hold (all-of / any-of included).
pub const MAX_CONSTRAINT_NODES: usize = 64;
/// The most values a one-of / not-one-of set may hold.
pub const MAX_SET_LEN: usize = 256;
/// The longest string a constraint may hold (prefix, suffix, exact value, set member), in bytes.
pub const MAX_CONSTRAINT_STRING: usize = 1024;
/// The most elements an `each` constraint's bounds may name.
pub const MAX_LIST_LEN: u32 = 4096;
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

impl From<&str> for Scalar {
    fn from(s: &str) -> Self {
        Scalar::Str(s.to_owned())
    }
}

impl From<String> for Scalar {
    fn from(s: String) -> Self {
        Scalar::Str(s)
    }
}

impl From<i64> for Scalar {
    fn from(i: i64) -> Self {
        Scalar::Int(i)
    }
}

impl From<bool> for Scalar {
    fn from(b: bool) -> Self {
        Scalar::Bool(b)
    }
}

/// What one argument may hold. Build with the constructors, which validate; the variants are
/// public so grants can be inspected and matched on.
///
/// An argument named in a grant must be present unless its constraint allows absence:
/// [`Constraint::Any`], [`Constraint::Optional`], an `any_of` with a part that allows absence,
/// or an `all_of` whose every part does. A present argument is judged whatever its JSON type:
/// a constraint on strings refuses a number, an array or an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Constraint {
    /// Anything, including absence (also inside `any_of`). Names the argument so a closed tool
    /// accepts it.
    Any,
    /// Absent, or present and allowed by the inner constraint.
    Optional(Box<Constraint>),
    /// Present, and not allowed by the inner constraint (any other JSON type included:
    /// `not(prefix("/etc"))` allows the number `1`).
    Not(Box<Constraint>),
    /// An array of `min_len..=max_len` elements, every one allowed by `item`.
    Each {
        /// The constraint on every element (no `each` or `contains` inside).
        item: Box<Constraint>,
        /// The fewest elements.
        min_len: u32,
        /// The most elements.
        max_len: u32,
    },
    /// An array holding this value (among others).
    Contains(Scalar),
    /// A bare host name or IP address allowed by the policy.
    Host(HostPolicy),
    /// An email address allowed by the policy.
    Email(EmailPolicy),
    /// An RFC 3339 date or date-time within the range.
    Date(DateRange),
    /// An IP address allowed by the policy.
    Ip(IpPolicy),
    /// A shell command line allowed by the policy.
    Command(CommandPolicy),
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

    /// Exactly this string, integer or boolean.
    ///
    /// # Errors
    /// As [`Constraint::exact`].
    pub fn exact_value(value: impl Into<Scalar>) -> Result<Self, Error> {
        Self::Exact(value.into()).validated()
    }

    /// One of these integers.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty or too large.
    pub fn one_of_ints<I: IntoIterator<Item = i64>>(values: I) -> Result<Self, Error> {
        Self::OneOf(ValueSet::Ints(values.into_iter().collect())).validated()
    }

    /// An integer that is none of these.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty or too large.
    pub fn not_one_of_ints<I: IntoIterator<Item = i64>>(values: I) -> Result<Self, Error> {
        Self::NotOneOf(ValueSet::Ints(values.into_iter().collect())).validated()
    }

    /// One of these numbers (an integer or not; `2` and `2.0` are the same number). Datalog
    /// has no type for non-integral numbers, so this is an `any_of` of one-point number ranges.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the list is empty, longer than the node bound allows, or
    /// holds a number that is not finite.
    pub fn one_of_numbers<I: IntoIterator<Item = f64>>(values: I) -> Result<Self, Error> {
        let parts = values
            .into_iter()
            .map(|x| Self::number_range(x, x))
            .collect::<Result<Vec<_>, _>>()?;
        Self::any_of(parts)
    }

    /// A boolean equal to `value` (the boolean set `{true, false}` is `any`, a single one is
    /// this).
    ///
    /// # Errors
    /// Never fails; returns `Result` like the other constructors.
    pub fn exact_bool(value: bool) -> Result<Self, Error> {
        Self::Exact(Scalar::Bool(value)).validated()
    }

    /// Absent, or allowed by `inner`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when `inner` is invalid.
    pub fn optional(inner: Constraint) -> Result<Self, Error> {
        Self::Optional(Box::new(inner)).validated()
    }

    /// Present and not allowed by `inner`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when `inner` is invalid.
    // Named as the kind is serialized (`not`); it builds a constraint, it negates no value.
    #[allow(clippy::should_implement_trait)]
    pub fn not(inner: Constraint) -> Result<Self, Error> {
        Self::Not(Box::new(inner)).validated()
    }

    /// An array of `min_len..=max_len` elements, each allowed by `item`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when `min_len > max_len`, `max_len` exceeds [`MAX_LIST_LEN`],
    /// or `item` is invalid or holds a list constraint.
    pub fn each(item: Constraint, min_len: u32, max_len: u32) -> Result<Self, Error> {
        Self::Each {
            item: Box::new(item),
            min_len,
            max_len,
        }
        .validated()
    }

    /// An array holding `value`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when a string value is too long.
    pub fn contains(value: impl Into<Scalar>) -> Result<Self, Error> {
        Self::Contains(value.into()).validated()
    }

    /// An array whose elements all belong to `set` (at most [`MAX_LIST_LEN`] of them,
    /// repetitions allowed): `each(one_of(set))`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty or too large.
    pub fn subset_of(set: ValueSet) -> Result<Self, Error> {
        Self::each(Self::OneOf(set), 0, MAX_LIST_LEN)
    }

    /// A bare host allowed by `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the policy is malformed.
    pub fn host(policy: HostPolicy) -> Result<Self, Error> {
        Self::Host(policy).validated()
    }

    /// An email address allowed by `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the policy is malformed.
    pub fn email(policy: EmailPolicy) -> Result<Self, Error> {
        Self::Email(policy).validated()
    }

    /// An RFC 3339 date or date-time in `range`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the range is malformed.
    pub fn date(range: DateRange) -> Result<Self, Error> {
        Self::Date(range).validated()
    }

    /// An IP address allowed by `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the policy is malformed.
    pub fn ip(policy: IpPolicy) -> Result<Self, Error> {
        Self::Ip(policy).validated()
    }

    /// A shell command line allowed by `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the policy is malformed.
    pub fn command(policy: CommandPolicy) -> Result<Self, Error> {
        Self::Command(policy).validated()
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
        self.validate_inner(&mut nodes, 0, true, false)
    }

    /// As [`Constraint::validate`], without compiling regexes: the token reader's check, which
    /// must stay linear in the bytes before the holder's signature is checked (the plan
    /// compiles regexes afterwards, and refuses one that does not compile).
    pub(crate) fn validate_shape(&self) -> Result<(), Error> {
        let mut nodes = 0;
        self.validate_inner(&mut nodes, 0, false, false)
    }

    fn validate_inner(
        &self,
        nodes: &mut usize,
        depth: usize,
        compile: bool,
        in_list: bool,
    ) -> Result<(), Error> {
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
            Constraint::Optional(inner) | Constraint::Not(inner) => {
                inner.validate_inner(nodes, depth + 1, compile, in_list)
            }
            Constraint::Each { .. } | Constraint::Contains(_) if in_list => Err(Error::grant(
                "a list constraint cannot hold another (`each` of `each` or `contains`)",
            )),
            Constraint::Each {
                item,
                min_len,
                max_len,
            } => {
                if min_len > max_len || *max_len > MAX_LIST_LEN {
                    return Err(Error::grant(format!(
                        "list length {min_len}..={max_len} must be non-empty and at most {MAX_LIST_LEN}"
                    )));
                }
                item.validate_inner(nodes, depth + 1, compile, true)
            }
            Constraint::Contains(Scalar::Str(s)) if long(s) => Err(Error::grant(format!(
                "constraint strings are limited to {MAX_CONSTRAINT_STRING} bytes"
            ))),
            Constraint::Contains(_) => Ok(()),
            Constraint::Host(p) => p.validate(),
            Constraint::Email(p) => p.validate(),
            Constraint::Date(r) => r.validate(),
            Constraint::Ip(p) => p.validate(),
            Constraint::Command(p) => {
                p.validate_shape()?;
                match &p.arg {
                    // Judged natively on each word: any kind may appear.
                    Some(arg) => arg.validate_inner(nodes, depth + 1, compile, false),
                    None => Ok(()),
                }
            }
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
                parts
                    .iter()
                    .try_for_each(|p| p.validate_inner(nodes, depth + 1, compile, in_list))
            }
        }
    }

    /// The constraint's kind, as its serialized form names it (`sub_path`, `one_of`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Constraint::Any => "any",
            Constraint::Optional(_) => "optional",
            Constraint::Not(_) => "not",
            Constraint::Each { .. } => "each",
            Constraint::Contains(_) => "contains",
            Constraint::Host(_) => "host",
            Constraint::Email(_) => "email",
            Constraint::Date(_) => "date",
            Constraint::Ip(_) => "ip",
            Constraint::Command(_) => "command",
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

    /// Whether absence satisfies the constraint.
    pub fn allows_absence(&self) -> bool {
        match self {
            Constraint::Any | Constraint::Optional(_) => true,
            Constraint::AllOf(parts) => parts.iter().all(Constraint::allows_absence),
            Constraint::AnyOf(parts) => parts.iter().any(Constraint::allows_absence),
            _ => false,
        }
    }

    /// The same constraint on a present value, with every `optional` wrapper removed (on a
    /// present value `optional(c)` is `c`).
    pub(crate) fn on_present(&self) -> Constraint {
        match self {
            Constraint::Optional(inner) => inner.on_present(),
            Constraint::Not(inner) => Constraint::Not(Box::new(inner.on_present())),
            Constraint::Each {
                item,
                min_len,
                max_len,
            } => Constraint::Each {
                item: Box::new(item.on_present()),
                min_len: *min_len,
                max_len: *max_len,
            },
            // A single part is that part (the token writes the same ops for both).
            Constraint::AllOf(parts) | Constraint::AnyOf(parts) if parts.len() == 1 => parts
                .first()
                .map_or(Constraint::Any, Constraint::on_present),
            Constraint::AllOf(parts) => {
                Constraint::AllOf(parts.iter().map(Constraint::on_present).collect())
            }
            Constraint::AnyOf(parts) => {
                Constraint::AnyOf(parts.iter().map(Constraint::on_present).collect())
            }
            other => other.clone(),
        }
    }

    /// The one form the token records: `optional(c)` when absence is allowed, `c` otherwise,
    /// with `c` free of `optional` wrappers. Allows exactly what `self` allows.
    pub fn normalized(&self) -> Constraint {
        let present = self.on_present();
        if self.allows_absence() && present != Constraint::Any {
            Constraint::Optional(Box::new(present))
        } else if self.allows_absence() {
            Constraint::Any
        } else {
            present
        }
    }
}

/// The pattern as the verifier runs it: anchored at both ends.
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// Compiles a pattern as the verifier runs it: anchored, size-bounded. The pattern must be a
/// regex on its own first: `a)|(b` would otherwise escape the anchors (`^(?:a)|(b)$` matches
/// anything starting with `a`).
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| Error::grant(format!("regex `{pattern}` does not compile: {e}")))?;
    RegexBuilder::new(&anchored(pattern))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| Error::grant(format!("regex `{pattern}` does not compile: {e}")))
}
