//! What an authority grants one agent, and how a holder narrows it.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use crate::constraint::Constraint;
use crate::error::Error;
use crate::ids::{AgentId, Label, ToolName};
use crate::keys::AgentPublicKey;

/// The most tools one grant or narrowing may name.
pub const MAX_TOOLS: usize = 64;
/// The most argument constraints one tool may carry in one block.
pub const MAX_ARGS_PER_TOOL: usize = 64;
/// The longest JSON Pointer accepted, in bytes.
pub const MAX_POINTER_LEN: usize = 256;

/// Turns an argument name (`path`) or a JSON Pointer (`/opts/mode`, RFC 6901) into a pointer.
///
/// # Errors
/// [`Error::Invalid`] for an empty name, a malformed escape or an over-long pointer.
pub(crate) fn arg_pointer(name_or_pointer: &str) -> Result<String, Error> {
    let pointer = if name_or_pointer.starts_with('/') {
        name_or_pointer.to_owned()
    } else if name_or_pointer.is_empty() {
        return Err(Error::invalid("argument name", name_or_pointer));
    } else {
        format!("/{}", name_or_pointer.replace('~', "~0").replace('/', "~1"))
    };
    if pointer.len() > MAX_POINTER_LEN || top_level_key(&pointer).is_none() {
        return Err(Error::invalid("argument pointer", name_or_pointer));
    }
    Ok(pointer)
}

/// The top-level argument name a pointer starts with, unescaped; `None` if malformed.
pub(crate) fn top_level_key(pointer: &str) -> Option<String> {
    let rest = pointer.strip_prefix('/')?;
    let mut segments = rest.split('/').map(unescape);
    let first = segments.next()??;
    for s in segments {
        s?;
    }
    Some(first)
}

fn unescape(segment: &str) -> Option<String> {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The constraints on one tool's arguments.
///
/// **Closed world:** an argument the grant does not mention is denied, unless
/// [`ToolGrant::allow_other_args`] was called. A mentioned argument with a constraint other than
/// [`Constraint::Any`] must be present in the call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolGrant {
    pub(crate) args: BTreeMap<String, Constraint>,
    pub(crate) other_args: bool,
    pub(crate) limits: UseLimits,
    pub(crate) invalid: Option<String>,
}

/// How often a tool may be used: a budget over the whole token tree below the block that sets
/// it, and sliding rate windows per calling agent. Enforced through the verifier's state store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UseLimits {
    /// At most this many allowed calls, ever, across every token derived from the capping block.
    pub budget: Option<u64>,
    /// At most `.0` allowed calls per sliding window of `.1` seconds, per calling agent.
    pub rate: Option<(u32, u64)>,
    /// Approvals from this many distinct principals of the executor's approver registry.
    pub approvals: Option<u32>,
    /// The least trust tier the executor must have computed for the calling agent.
    pub min_tier: Option<u32>,
    /// The data labels a call may carry; `None` accepts every label.
    pub accepted_labels: Option<BTreeSet<Label>>,
    /// Approvals from this many distinct principals let a call carry labels outside
    /// `accepted_labels`; without it such a call is denied.
    pub label_approvals: Option<u32>,
    /// Approvals of this tool count only if single-use (`Approval::sign_once`): each is spent
    /// with the call it approves, in the same atomic state step.
    pub single_use_approvals: bool,
}

impl UseLimits {
    fn is_empty(&self) -> bool {
        self.budget.is_none()
            && self.rate.is_none()
            && self.approvals.is_none()
            && self.min_tier.is_none()
            && self.accepted_labels.is_none()
            && self.label_approvals.is_none()
            && !self.single_use_approvals
    }

    fn validate(&self, tool: &ToolName) -> Result<(), Error> {
        if let Some((n, secs)) = self.rate {
            if n == 0 || secs == 0 || secs > 366 * 24 * 3600 {
                return Err(Error::grant(format!(
                    "tool `{tool}`: a rate needs at least one call per window of 1 s to 1 year"
                )));
            }
        }
        Ok(())
    }
}

impl ToolGrant {
    /// A tool grant with no arguments allowed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Constrains one argument, by top-level name (`path`) or JSON Pointer (`/opts/mode`).
    /// An invalid name is reported when the grant is built.
    pub fn arg(mut self, name_or_pointer: &str, constraint: Constraint) -> Self {
        match arg_pointer(name_or_pointer) {
            Ok(p) => {
                self.args.insert(p, constraint);
            }
            Err(e) => self.invalid = Some(e.to_string()),
        }
        self
    }

    /// Lets the call carry arguments the grant does not mention.
    pub fn allow_other_args(mut self) -> Self {
        self.other_args = true;
        self
    }

    /// Caps allowed calls of this tool at `uses`, across every token derived from this grant.
    pub fn budget(mut self, uses: u64) -> Self {
        self.limits.budget = Some(uses);
        self
    }

    /// Allows at most `calls` calls per sliding window of `per` (whole seconds, at least 1), per
    /// calling agent (e.g. one post per 30 minutes).
    pub fn rate(mut self, calls: u32, per: std::time::Duration) -> Self {
        self.limits.rate = Some((calls, per.as_secs()));
        self
    }

    /// Requires approvals from `principals` distinct principals of the executor's approver
    /// registry (keys of the requesting chain never count).
    pub fn approvals(mut self, principals: u32) -> Self {
        self.limits.approvals = Some(principals);
        self
    }

    /// Makes the tool's approvals single-use: only approvals made with `Approval::sign_once`
    /// count, each at most once (it is spent, with its own nonce, in the same atomic step as the
    /// call), and only until its own expiry.
    pub fn single_use_approvals(mut self) -> Self {
        self.limits.single_use_approvals = true;
        self
    }

    /// Requires the executor to have computed at least `tier` for the calling agent.
    pub fn min_tier(mut self, tier: u32) -> Self {
        self.limits.min_tier = Some(tier);
        self
    }

    /// Accepts only calls whose data labels (the call's, its cause's and its chain's) are all
    /// in `labels`; any other label needs the tool's approvals. Without this, every label is
    /// accepted. An egress tool (post, email, http) should accept few or none.
    pub fn accept_labels(mut self, labels: impl IntoIterator<Item = Label>) -> Self {
        self.limits.accepted_labels = Some(labels.into_iter().collect());
        self
    }

    /// Lets a call whose labels fall outside [`ToolGrant::accept_labels`] through when
    /// `principals` distinct principals approve that exact call (e.g. publishing a secret
    /// after legal and security sign off). Calls with accepted labels need no approval.
    pub fn approvals_for_other_labels(mut self, principals: u32) -> Self {
        self.limits.label_approvals = Some(principals);
        self
    }

    /// The budget, rate, approval, tier and label conditions.
    pub fn limits(&self) -> &UseLimits {
        &self.limits
    }

    /// The constraints, by JSON Pointer.
    pub fn args(&self) -> &BTreeMap<String, Constraint> {
        &self.args
    }

    /// Whether unmentioned arguments are allowed.
    pub fn allows_other_args(&self) -> bool {
        self.other_args
    }

    pub(crate) fn validate(&self, tool: &ToolName) -> Result<(), Error> {
        if let Some(e) = &self.invalid {
            return Err(Error::grant(format!("tool `{tool}`: {e}")));
        }
        if self.args.len() > MAX_ARGS_PER_TOOL {
            return Err(Error::grant(format!(
                "tool `{tool}` has more than {MAX_ARGS_PER_TOOL} argument constraints"
            )));
        }
        for c in self.args.values() {
            c.validate()?;
        }
        self.limits.validate(tool)
    }
}

/// Everything an authority grants one agent: validated, typed, closed-world.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub(crate) agent: AgentId,
    pub(crate) holder: AgentPublicKey,
    pub(crate) tools: BTreeMap<ToolName, ToolGrant>,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) max_depth: u32,
    pub(crate) fan_out: Option<u32>,
    pub(crate) max_hops: Option<u32>,
}

impl Grant {
    /// Starts a grant for `agent`, whose key `holder` must sign every call, valid until
    /// `expires_at`. Every field a grant cannot do without is an argument here.
    pub fn builder(
        agent: AgentId,
        holder: AgentPublicKey,
        expires_at: OffsetDateTime,
    ) -> GrantBuilder {
        GrantBuilder {
            grant: Grant {
                agent,
                holder,
                tools: BTreeMap::new(),
                expires_at,
                max_depth: 0,
                fan_out: None,
                max_hops: None,
            },
            invalid: None,
        }
    }

    /// The agent the grant is for.
    pub fn agent(&self) -> AgentId {
        self.agent
    }

    /// The holder key that must sign calls.
    pub fn holder(&self) -> AgentPublicKey {
        self.holder
    }

    /// The granted tools.
    pub fn tools(&self) -> &BTreeMap<ToolName, ToolGrant> {
        &self.tools
    }

    /// When the token stops being valid.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }

    /// How many delegations may follow the authority block.
    pub fn max_depth(&self) -> u32 {
        self.max_depth
    }
}

/// Builds a [`Grant`]; see [`Grant::builder`].
#[derive(Clone, Debug)]
pub struct GrantBuilder {
    grant: Grant,
    invalid: Option<String>,
}

impl GrantBuilder {
    /// Grants a tool with its argument constraints. An invalid name is reported by `build`.
    pub fn tool(mut self, name: &str, grant: ToolGrant) -> Self {
        match ToolName::new(name) {
            Ok(n) => {
                self.grant.tools.insert(n, grant);
            }
            Err(e) => self.invalid = Some(e.to_string()),
        }
        self
    }

    /// How many delegations may follow. Defaults to 0: the token cannot be delegated.
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.grant.max_depth = depth;
        self
    }

    /// Lets each holder delegate to at most `holders` distinct agents (counted by the verifier's
    /// state store when a delegated token is first presented). Defaults to no cap.
    pub fn fan_out(mut self, holders: u32) -> Self {
        self.grant.fan_out = Some(holders);
        self
    }

    /// Denies a call caused by a message more than `hops` agent-to-agent hops from its origin
    /// (the executor's message ledger counts hops). Defaults to no limit.
    pub fn max_hops(mut self, hops: u32) -> Self {
        self.grant.max_hops = Some(hops);
        self
    }

    /// Validates and returns the grant.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when no tool is granted, too many are, a name or constraint is
    /// invalid, or the depth exceeds 16.
    pub fn build(self) -> Result<Grant, Error> {
        if let Some(e) = self.invalid {
            return Err(Error::grant(e));
        }
        let g = self.grant;
        if g.tools.is_empty() {
            return Err(Error::grant("a grant needs at least one tool"));
        }
        if g.tools.len() > MAX_TOOLS {
            return Err(Error::grant(format!(
                "a grant may name at most {MAX_TOOLS} tools"
            )));
        }
        if g.max_depth > 16 {
            return Err(Error::grant("max delegation depth is limited to 16"));
        }
        for (name, tool) in &g.tools {
            tool.validate(name)?;
        }
        Ok(g)
    }
}

/// A narrowing that a holder appends to a token (anonymously, or inside a delegation):
/// fewer tools, more argument constraints, closed argument lists, an earlier expiry.
/// It can only remove authority: the crate refuses one that is not provably narrower, and the
/// verifier enforces every block's checks regardless.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Narrowing {
    pub(crate) tools: Option<BTreeSet<ToolName>>,
    pub(crate) args: BTreeMap<ToolName, BTreeMap<String, Constraint>>,
    pub(crate) close: BTreeSet<ToolName>,
    pub(crate) expires_at: Option<OffsetDateTime>,
    pub(crate) limits: BTreeMap<ToolName, UseLimits>,
    pub(crate) fan_out: Option<u32>,
    pub(crate) max_hops: Option<u32>,
    pub(crate) seen_labels: BTreeSet<Label>,
    pub(crate) invalid: Option<String>,
}

impl Narrowing {
    /// A narrowing that narrows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps only these tools.
    pub fn only_tools<'a>(mut self, tools: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = BTreeSet::new();
        for t in tools {
            match ToolName::new(t) {
                Ok(n) => {
                    set.insert(n);
                }
                Err(e) => self.invalid = Some(e.to_string()),
            }
        }
        self.tools = Some(set);
        self
    }

    /// Adds a constraint on one argument of one tool.
    pub fn constrain(mut self, tool: &str, name_or_pointer: &str, constraint: Constraint) -> Self {
        match (ToolName::new(tool), arg_pointer(name_or_pointer)) {
            (Ok(t), Ok(p)) => {
                self.args.entry(t).or_default().insert(p, constraint);
            }
            (Err(e), _) | (_, Err(e)) => self.invalid = Some(e.to_string()),
        }
        self
    }

    /// Denies, for this tool, every argument no block so far mentions.
    pub fn close_args(mut self, tool: &str) -> Self {
        match ToolName::new(tool) {
            Ok(t) => {
                self.close.insert(t);
            }
            Err(e) => self.invalid = Some(e.to_string()),
        }
        self
    }

    /// Caps calls of `tool` at `uses` across the tree below this block (delegation only: the
    /// verifier attributes uses to the block that set the cap, and it can attribute facts only
    /// to blocks signed by a holder).
    pub fn budget(mut self, tool: &str, uses: u64) -> Self {
        match ToolName::new(tool) {
            Ok(t) => self.limits.entry(t).or_default().budget = Some(uses),
            Err(e) => self.invalid = Some(e.to_string()),
        }
        self
    }

    /// Allows at most `calls` calls of `tool` per sliding window of `per`, per calling agent
    /// (delegation only).
    pub fn rate(mut self, tool: &str, calls: u32, per: std::time::Duration) -> Self {
        match ToolName::new(tool) {
            Ok(t) => self.limits.entry(t).or_default().rate = Some((calls, per.as_secs())),
            Err(e) => self.invalid = Some(e.to_string()),
        }
        self
    }

    /// Lets the new holder delegate to at most `holders` distinct agents (delegation only).
    pub fn fan_out(mut self, holders: u32) -> Self {
        self.fan_out = Some(holders);
        self
    }

    /// Lowers the hop limit (delegation only).
    pub fn max_hops(mut self, hops: u32) -> Self {
        self.max_hops = Some(hops);
        self
    }

    /// Records data labels the delegating holder has seen: every call below this delegation
    /// carries them (labels only accumulate down a chain). Delegation only.
    pub fn seen_labels(mut self, labels: impl IntoIterator<Item = Label>) -> Self {
        self.seen_labels.extend(labels);
        self
    }

    /// Requires approvals from `principals` distinct principals for `tool` (delegation only).
    pub fn approvals(mut self, tool: &str, principals: u32) -> Self {
        match ToolName::new(tool) {
            Ok(t) => self.limits.entry(t).or_default().approvals = Some(principals),
            Err(e) => self.invalid = Some(e.to_string()),
        }
        self
    }

    /// Makes the approvals of `tool` single-use (delegation only); see
    /// [`ToolGrant::single_use_approvals`].
    pub fn single_use_approvals(mut self, tool: &str) -> Self {
        match ToolName::new(tool) {
            Ok(t) => self.limits.entry(t).or_default().single_use_approvals = true,
            Err(e) => self.invalid = Some(e.to_string()),
        }
        self
    }

    pub(crate) fn has_use_limits(&self) -> bool {
        self.fan_out.is_some()
            || self.max_hops.is_some()
            || !self.seen_labels.is_empty()
            || self.limits.values().any(|l| !l.is_empty())
    }

    /// Expires earlier.
    pub fn expires_at(mut self, at: OffsetDateTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(e) = &self.invalid {
            return Err(Error::grant(e.clone()));
        }
        if let Some(t) = &self.tools {
            if t.is_empty() || t.len() > MAX_TOOLS {
                return Err(Error::grant(format!(
                    "a narrowing keeps 1 to {MAX_TOOLS} tools"
                )));
            }
        }
        for (tool, limits) in &self.limits {
            limits.validate(tool)?;
        }
        for (tool, args) in &self.args {
            if args.len() > MAX_ARGS_PER_TOOL {
                return Err(Error::grant(format!(
                    "tool `{tool}` has more than {MAX_ARGS_PER_TOOL} argument constraints"
                )));
            }
            for c in args.values() {
                c.validate()?;
            }
        }
        Ok(())
    }
}
