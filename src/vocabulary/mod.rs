//! The closed Datalog vocabulary, version 2: biscuit's only door.
//!
//! Everything that names a biscuit type or a vocabulary string lives here:
//! - [`write`]: the writer, which builds every block from typed values (no Datalog text is
//!   parsed; caller-supplied values become terms, never source);
//! - [`read`]: the grammar reader, which reads each block's facts and checks straight from the
//!   token bytes and refuses anything the writer does not emit (linear in the bytes, runs
//!   nothing);
//! - [`plan`]: the typed plan compiled once per verified chain and evaluated natively per call;
//! - [`run`]: the signature check, the mapping of biscuit's errors, and biscuit's own
//!   authorizer as the reference semantics the plan is tested against.
//!
//! See `docs/token-format.md` for the grammar.

pub(crate) mod envelope;
mod expr;
pub(crate) mod plan;
pub(crate) mod read;
mod records;
pub(crate) mod run;
pub(crate) mod signed;
mod terms;
pub(crate) mod write;

#[cfg(fuzzing)]
pub mod fuzzing;

#[cfg(test)]
mod tests;

/// The vocabulary version written in every authority block (`v(2)`).
pub(crate) const VERSION: i64 = 2;

/// Predicate and variable names. Short on purpose: third-party blocks carry their own symbol
/// table, so every name is paid again per hop; variables share the names of the predicates
/// they range over, so they cost no extra symbol.
pub(crate) mod names {
    /// `v(version)`: authority only.
    pub(crate) const VERSION: &str = "v";
    /// `a(issuer, agent id, holder key, max depth, issued at)`: authority only.
    pub(crate) const AUTHORITY: &str = "a";
    /// `d(next holder key, next agent id, cause digest)`: delegation blocks only.
    pub(crate) const DELEGATION: &str = "d";
    /// `b(tool, uses)`: a budget.
    pub(crate) const BUDGET: &str = "b";
    /// `r(tool, calls, seconds)`: a rate window.
    pub(crate) const RATE: &str = "r";
    /// `p(tool, principals)`: approvals required.
    pub(crate) const APPROVALS: &str = "p";
    /// `pl(tool, principals)`: approvals that let labels outside the accepted set through.
    pub(crate) const LABEL_APPROVALS: &str = "pl";
    /// `p1(tool)`: approvals of the tool are single-use.
    pub(crate) const SINGLE_USE_APPROVALS: &str = "p1";
    /// `ti(tool, tier)`: the least trust tier (authority only).
    pub(crate) const TIER: &str = "ti";
    /// `lp(tool, [labels])`: the labels a tool accepts (authority only).
    pub(crate) const ACCEPTS: &str = "lp";
    /// `f(holders)`: the fan-out cap.
    pub(crate) const FAN_OUT: &str = "f";
    /// `h(hops)`: the hop limit.
    pub(crate) const HOPS: &str = "h";
    /// `s([labels])`: labels a delegator has seen (delegation blocks only).
    pub(crate) const SEEN: &str = "s";

    /// Call fact `t(tool)`, and the variable over tool names.
    pub(crate) const TOOL: &str = "t";
    /// Call fact `g(pointer, value)` (one per value the pointer reaches, arrays and objects
    /// included), and the variable over values.
    pub(crate) const ARG: &str = "g";
    /// Call fact `k(key)` (one per top-level argument name), and the variable over keys.
    pub(crate) const KEY: &str = "k";
    /// Call fact `time(now)` and its variable (a default symbol: free).
    pub(crate) const TIME: &str = "time";
    /// The head of every check query (a default symbol).
    pub(crate) const QUERY: &str = "query";

    /// Type names the guards compare with.
    pub(crate) const STRING: &str = "string";
    pub(crate) const INTEGER: &str = "integer";
    pub(crate) const ARRAY: &str = "array";
    /// The parameter of an `each` constraint's closure (an element of the array).
    pub(crate) const ELEM: &str = "e";

    /// Extern functions: sub-path (a default symbol), URL policy, number range.
    pub(crate) const EXT_PATH: &str = "path";
    pub(crate) const EXT_URL: &str = "url";
    pub(crate) const EXT_NUM: &str = "num";
    /// Extern functions of the kinds Datalog cannot express, each with its policy as JSON
    /// (default symbols where biscuit has one: free).
    pub(crate) const EXT_HOST: &str = "hostname";
    pub(crate) const EXT_EMAIL: &str = "email";
    pub(crate) const EXT_IP: &str = "ip_address";
    pub(crate) const EXT_DATE: &str = "date";
    pub(crate) const EXT_COMMAND: &str = "cmd";
}
