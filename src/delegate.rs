//! The holder side's operations: narrowing a token (anyone holding its text may) and
//! delegating it (its holder only), each refused unless provably narrower.

use std::collections::{BTreeMap, BTreeSet};

use crate::describe::TokenDescription;
use crate::digest::Digest;
use crate::error::Error;
use crate::grant::Narrowing;
use crate::ids::{AgentId, ToolName};
use crate::keys::{AgentKey, AgentPublicKey};
use crate::token::Token;
use crate::vocabulary::write::{self, DelegationFacts};

impl Token {
    /// Appends an anonymous block that narrows the token. Anyone holding the token text can
    /// do this; no key is needed and the holder does not change.
    ///
    /// # Errors
    /// [`Error::NotNarrower`] when the narrowing is not provably narrower than the token
    /// (a tool it lacks, a constraint not within the existing one, a later expiry);
    /// [`Error::InvalidGrant`] when it is malformed or empty.
    pub fn attenuate(&self, narrowing: &Narrowing) -> Result<Token, Error> {
        let desc = self.describe()?;
        let close = desc.check_narrowing(narrowing)?;
        Ok(Token {
            signed: self.signed.attenuate(narrowing, &close)?,
        })
    }

    /// Delegates the token to `next_holder` (agent `next_agent`) because of the message whose
    /// digest is `cause`, narrowed by `narrowing`. The block is a third-party block signed by
    /// `current_holder`, which must be the token's current holder key.
    ///
    /// # Errors
    /// [`Error::NotHolder`] when `current_holder` is not the current holder;
    /// [`Error::DepthExhausted`] when the grant allows no further delegation;
    /// [`Error::NotNarrower`] / [`Error::InvalidGrant`] as for [`Token::attenuate`].
    pub fn delegate(
        &self,
        current_holder: &AgentKey,
        next_holder: AgentPublicKey,
        next_agent: AgentId,
        cause: Digest,
        narrowing: &Narrowing,
    ) -> Result<Token, Error> {
        // Who holds the token and how deep it is come from the records alone; the whole token
        // is read only when there is a narrowing to check.
        let holding = self.signed.holding()?;
        if holding.holder != current_holder.public().to_bytes() {
            return Err(Error::NotHolder);
        }
        if holding.hops >= holding.max_depth as usize {
            return Err(Error::DepthExhausted(holding.max_depth));
        }
        let close = if narrowing == &Narrowing::new() {
            BTreeMap::new()
        } else {
            self.describe()?.check_narrowing(narrowing)?
        };
        let facts = DelegationFacts {
            next_holder,
            next_agent,
            cause: cause.to_bytes(),
        };
        Ok(Token {
            signed: self
                .signed
                .delegate(current_holder, narrowing, &close, &facts)?,
        })
    }
}

impl TokenDescription {
    /// Checks that `n` is provably narrower; returns, per tool it closes, the keys to keep.
    fn check_narrowing(
        &self,
        n: &Narrowing,
    ) -> Result<BTreeMap<ToolName, BTreeSet<String>>, Error> {
        n.validate()?;
        if let Some(tools) = &n.tools {
            if let Some(extra) = tools.iter().find(|t| !self.tools.contains(*t)) {
                return Err(Error::NotNarrower(format!(
                    "tool `{extra}` is not granted by the token"
                )));
            }
        }
        for (tool, args) in &n.args {
            if !self.tools.contains(tool) {
                return Err(Error::NotNarrower(format!(
                    "tool `{tool}` is not granted by the token"
                )));
            }
            let existing = self.constraints.get(tool);
            for (pointer, c) in args {
                let allowed = crate::grant::top_level_key(pointer).is_some_and(|k| {
                    self.allowed_keys
                        .get(tool)
                        .is_some_and(|keys| keys.contains(&k))
                });
                match existing.and_then(|e| e.get(pointer)) {
                    Some(parents) => {
                        if let Some(p) = parents.iter().find(|p| !c.is_subset_of(p)) {
                            return Err(Error::NotNarrower(format!(
                                "constraint on `{pointer}` of tool `{tool}` is not within {}",
                                serde_json::to_string(p).unwrap_or_default()
                            )));
                        }
                    }
                    None if self.open_tools.contains(tool) || allowed => {}
                    None => {
                        return Err(Error::NotNarrower(format!(
                            "argument `{pointer}` is not allowed for tool `{tool}`"
                        )))
                    }
                }
            }
        }
        let mut close = BTreeMap::new();
        for tool in &n.close {
            if !self.tools.contains(tool) {
                return Err(Error::NotNarrower(format!(
                    "tool `{tool}` is not granted by the token"
                )));
            }
            let mut pointers: Vec<&String> = self
                .constraints
                .get(tool)
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            if let Some(a) = n.args.get(tool) {
                pointers.extend(a.keys());
            }
            let mut keys = write::keys_of(pointers);
            if let Some(allowed) = self.allowed_keys.get(tool) {
                keys.retain(|k| allowed.contains(k));
            }
            close.insert(tool.clone(), keys);
        }
        for (tool, limits) in &n.limits {
            if !self.tools.contains(tool) {
                return Err(Error::NotNarrower(format!(
                    "tool `{tool}` is not granted by the token"
                )));
            }
            if let (Some(b), Some(parent)) = (limits.budget, self.budgets.get(tool)) {
                if b > *parent {
                    return Err(Error::NotNarrower(format!(
                        "budget {b} for tool `{tool}` exceeds the token's {parent}"
                    )));
                }
            }
            if let Some((calls, secs)) = limits.rate {
                let wider = self
                    .rates
                    .get(tool)
                    .into_iter()
                    .flatten()
                    .find(|(c, s)| calls > *c || secs < *s);
                if let Some((c, s)) = wider {
                    return Err(Error::NotNarrower(format!(
                        "rate {calls} per {secs} s for tool `{tool}` is not within the token's {c} per {s} s"
                    )));
                }
            }
        }
        for (tool, limits) in &n.limits {
            if let (Some(k), Some(parent)) = (limits.approvals, self.approvals.get(tool)) {
                if k < *parent {
                    return Err(Error::NotNarrower(format!(
                        "{k} approvals for tool `{tool}` are fewer than the token's {parent}"
                    )));
                }
            }
            if limits.min_tier.is_some() || limits.accepted_labels.is_some() {
                return Err(Error::grant(
                    "tiers and accepted labels are set by the grant; a delegation records seen labels",
                ));
            }
        }
        if let (Some(h), Some(parent)) = (n.max_hops, self.max_hops) {
            if h > parent {
                return Err(Error::NotNarrower(format!(
                    "hop limit {h} exceeds the token's {parent}"
                )));
            }
        }
        if let (Some(k), Some(parent)) = (n.fan_out, self.fan_out) {
            if k > parent {
                return Err(Error::NotNarrower(format!(
                    "fan-out {k} exceeds the token's {parent}"
                )));
            }
        }
        if let Some(at) = n.expires_at {
            if at > self.expires_at {
                return Err(Error::NotNarrower(format!(
                    "expiry {at} is later than the token's {}",
                    self.expires_at
                )));
            }
        }
        Ok(close)
    }
}
