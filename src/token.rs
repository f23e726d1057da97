//! The token: a biscuit whose blocks speak the agentcap vocabulary, and the holder-side
//! operations on it (attenuate, delegate, describe).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use biscuit_auth::Biscuit;
use time::OffsetDateTime;

use crate::call::Digest;
use crate::constraint::Constraint;
use crate::error::Error;
use crate::grant::Narrowing;
use crate::ids::{AgentId, ToolName};
use crate::keys::{AgentKey, AgentPublicKey, TrustedRoots};
use crate::vocabulary::read::{self, BlockRole, Condition, ReadBlock};
use crate::vocabulary::write::{self, DelegationFacts};

/// The id of a token: the revocation id of its last block (64 bytes). Revoking it cuts this
/// token and every token derived from it. Text form: lowercase hex.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(Vec<u8>);

impl TokenId {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (!bytes.is_empty() && bytes.len() <= 128).then(|| Self(bytes.to_vec()))
    }

    /// The bytes of the id.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

/// A capability token whose signatures were checked against trusted roots.
///
/// This is the holder's handle: it can be encoded, attenuated, delegated, described and used
/// to sign calls. Verification of a call is the [`Verifier`](crate::Verifier)'s job, which
/// decodes the token text again itself.
#[derive(Clone)]
pub struct Token {
    pub(crate) biscuit: Biscuit,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id())
            .field("blocks", &self.biscuit.block_count())
            .finish()
    }
}

impl Token {
    /// Decodes base64url token text and checks every signature against `roots`.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] when the text is not a token, the key id is unknown, or a
    /// signature does not verify.
    pub fn from_base64(text: &str, roots: &TrustedRoots) -> Result<Self, Error> {
        let biscuit = Biscuit::from_base64(text.trim(), roots.provider())
            .map_err(|e| Error::InvalidToken(e.to_string()))?;
        Ok(Self { biscuit })
    }

    /// The base64url text form (with padding, as biscuit writes it).
    ///
    /// # Errors
    /// [`Error::Biscuit`] if serialisation fails.
    pub fn to_base64(&self) -> Result<String, Error> {
        Ok(self.biscuit.to_base64()?)
    }

    /// The size of the serialized token, in bytes.
    ///
    /// # Errors
    /// [`Error::Biscuit`] if serialisation fails.
    pub fn size(&self) -> Result<usize, Error> {
        Ok(self.biscuit.serialized_size()?)
    }

    /// The token id (the last block's revocation id).
    pub fn id(&self) -> TokenId {
        let ids = self.biscuit.revocation_identifiers();
        TokenId(ids.last().cloned().unwrap_or_default())
    }

    /// The revocation id of every block, authority first.
    pub fn revocation_ids(&self) -> Vec<TokenId> {
        self.biscuit
            .revocation_identifiers()
            .into_iter()
            .map(TokenId)
            .collect()
    }

    /// The number of blocks (authority included).
    pub fn block_count(&self) -> usize {
        self.biscuit.block_count()
    }

    /// The root key id the token was issued under.
    pub fn root_key_id(&self) -> Option<u32> {
        self.biscuit.root_key_id()
    }

    /// What the token says, block by block, and what it allows in effect.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] when a block does not speak the vocabulary.
    pub fn describe(&self) -> Result<TokenDescription, Error> {
        // The verifier's own reader: the holder side cannot read a token differently.
        let raw = read::read_bytes(self.biscuit.to_vec()?, usize::MAX)
            .map_err(|e| Error::InvalidToken(format!("{e:?}")))?;
        TokenDescription::from_blocks(&raw.blocks)
    }

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
        let block = write::narrowing_block(narrowing, &close, None)?;
        Ok(Token {
            biscuit: self.biscuit.append(block)?,
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
        let desc = self.describe()?;
        if desc.holder != current_holder.public() {
            return Err(Error::NotHolder);
        }
        if desc.hops.len() >= desc.max_depth as usize {
            return Err(Error::DepthExhausted(desc.max_depth));
        }
        let close = if narrowing == &Narrowing::new() {
            BTreeMap::new()
        } else {
            desc.check_narrowing(narrowing)?
        };
        let facts = DelegationFacts {
            next_holder,
            next_agent,
            cause: cause.to_bytes(),
        };
        let block = write::narrowing_block(narrowing, &close, Some(&facts))?;
        let request = self.biscuit.third_party_request()?;
        let signed = request.create_block(&current_holder.to_biscuit()?, block)?;
        let biscuit = self
            .biscuit
            .append_third_party(current_holder.public().to_biscuit()?, signed)?;
        Ok(Token { biscuit })
    }
}

/// One delegation hop as the token records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The key that signed the delegation (the holder before it).
    pub delegator: AgentPublicKey,
    /// The new holder's key.
    pub holder: AgentPublicKey,
    /// The new holder's agent id.
    pub agent: AgentId,
    /// The digest of the message that caused the delegation.
    pub cause: Digest,
}

/// A readable summary of a token: who holds it, how it got there, and what it allows in
/// effect (the intersection of every block).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenDescription {
    /// The agent the authority granted the token to.
    pub root_agent: AgentId,
    /// The current holder: the key that must sign calls.
    pub holder: AgentPublicKey,
    /// The delegation hops, in order.
    pub hops: Vec<Hop>,
    /// The grant's maximum delegation depth.
    pub max_depth: u32,
    /// The tools allowed in effect.
    pub tools: BTreeSet<ToolName>,
    /// Per tool, every constraint from every block, by JSON Pointer.
    pub constraints: BTreeMap<ToolName, BTreeMap<String, Vec<Constraint>>>,
    /// Tools that accept unmentioned arguments.
    pub open_tools: BTreeSet<ToolName>,
    /// Per closed tool, the top-level arguments every closing block allows.
    pub allowed_keys: BTreeMap<ToolName, BTreeSet<String>>,
    /// The earliest expiry of any block.
    pub expires_at: OffsetDateTime,
    /// Per tool, the lowest budget any block sets.
    pub budgets: BTreeMap<ToolName, u64>,
    /// Per tool, every rate window any block sets: (calls, seconds).
    pub rates: BTreeMap<ToolName, Vec<(u32, u64)>>,
    /// The lowest fan-out cap any block sets.
    pub fan_out: Option<u32>,
    /// The lowest hop limit any block sets.
    pub max_hops: Option<u32>,
    /// Per tool, the most approvals any block requires.
    pub approvals: BTreeMap<ToolName, u32>,
    /// Data labels delegations recorded as seen: every call of this token carries them.
    pub seen_labels: BTreeSet<String>,
    /// What each block says, authority first.
    pub blocks: Vec<BlockSummary>,
}

/// What one block of a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockKind {
    /// The authority block, signed by the root.
    Authority,
    /// An anonymous narrowing block.
    Attenuation,
    /// A delegation: a third-party block signed by the holder before it.
    Delegation,
    /// A third-party block without a delegation record. Not produced since vocabulary 2:
    /// the reader refuses such a token.
    ThirdParty,
}

/// What one block says, as the holder side reads it back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BlockSummary {
    /// The block index (0 is the authority).
    pub index: usize,
    /// What kind of block it is.
    pub kind: BlockKind,
    /// The key that signed it, for third-party blocks.
    pub signer: Option<AgentPublicKey>,
    /// The tools it keeps (the authority: grants), if it names any.
    pub tools: Option<BTreeSet<String>>,
    /// Its argument constraints: (tool, JSON Pointer, constraint).
    pub constraints: Vec<(String, String, Constraint)>,
    /// Its expiry, if it sets one.
    pub expires_at: Option<OffsetDateTime>,
    /// Labels it records as seen.
    pub seen_labels: Vec<String>,
    /// Its use conditions: (kind, tool, n, seconds), e.g. (`bud`, `search`, 10, 0).
    pub limits: Vec<(String, String, i64, i64)>,
}

impl TokenDescription {
    fn from_blocks(blocks: &[ReadBlock]) -> Result<Self, Error> {
        let bad = |m: &str| Error::InvalidToken(m.to_owned());
        let first = blocks.first().ok_or_else(|| bad("no authority block"))?;
        let BlockRole::Authority(auth) = &first.content.role else {
            return Err(bad("no authority record"));
        };
        let root_holder = AgentPublicKey::from_bytes(&auth.holder)?;
        let mut holder = root_holder;
        let root_agent = AgentId::from_slice(&auth.agent).ok_or_else(|| bad("bad agent id"))?;
        let mut tools = first.content.tools.clone().unwrap_or_default();
        let mut open_tools: BTreeSet<ToolName> = tools
            .iter()
            .filter(|t| !first.content.closed.iter().any(|(c, _)| c == *t))
            .cloned()
            .collect();
        let mut allowed_keys: BTreeMap<ToolName, BTreeSet<String>> = BTreeMap::new();
        let mut expires = u64::MAX;
        let mut constraints: BTreeMap<ToolName, BTreeMap<String, Vec<Constraint>>> =
            BTreeMap::new();
        let mut hops = Vec::new();
        let mut budgets: BTreeMap<ToolName, u64> = BTreeMap::new();
        let mut rates: BTreeMap<ToolName, Vec<(u32, u64)>> = BTreeMap::new();
        let mut fan_out: Option<u32> = None;
        let mut max_hops: Option<u32> = None;
        let mut approvals: BTreeMap<ToolName, u32> = BTreeMap::new();
        let mut seen_labels: BTreeSet<String> = BTreeSet::new();
        let mut summaries = Vec::new();
        for (index, block) in blocks.iter().enumerate() {
            let c = &block.content;
            let signer = block
                .signer
                .map(|s| AgentPublicKey::from_bytes(&s))
                .transpose()?;
            let seen: Vec<String> = c
                .conditions
                .iter()
                .filter_map(|x| match x {
                    Condition::Seen(l) => Some(l.iter().map(|l| l.to_string())),
                    _ => None,
                })
                .flatten()
                .collect();
            summaries.push(BlockSummary {
                index,
                kind: match c.role {
                    BlockRole::Authority(_) => BlockKind::Authority,
                    BlockRole::Delegation(_) => BlockKind::Delegation,
                    BlockRole::Attenuation => BlockKind::Attenuation,
                },
                signer,
                tools: c
                    .tools
                    .as_ref()
                    .map(|t| t.iter().map(|t| t.to_string()).collect()),
                constraints: c
                    .args
                    .iter()
                    .map(|a| (a.tool.to_string(), a.pointer.clone(), a.constraint.clone()))
                    .collect(),
                expires_at: c
                    .expires_at
                    .and_then(|e| i64::try_from(e).ok())
                    .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok()),
                seen_labels: seen.clone(),
                limits: c.conditions.iter().filter_map(limit_row).collect(),
            });
            if let Some(t) = &c.tools {
                tools = tools.intersection(t).cloned().collect();
            }
            for (tool, keys) in &c.closed {
                open_tools.remove(tool);
                let allowed = allowed_keys
                    .entry(tool.clone())
                    .or_insert_with(|| keys.clone());
                allowed.retain(|k| keys.contains(k));
            }
            for a in &c.args {
                constraints
                    .entry(a.tool.clone())
                    .or_default()
                    .entry(a.pointer.clone())
                    .or_default()
                    .push(a.constraint.clone());
            }
            if let Some(e) = c.expires_at {
                expires = expires.min(e);
            }
            seen_labels.extend(seen);
            for l in &c.conditions {
                match l {
                    Condition::Budget { tool, uses } => {
                        let b = budgets.entry(tool.clone()).or_insert(*uses);
                        *b = (*b).min(*uses);
                    }
                    Condition::Rate { tool, calls, secs } => {
                        rates.entry(tool.clone()).or_default().push((*calls, *secs))
                    }
                    Condition::MaxHops(h) => max_hops = Some(max_hops.map_or(*h, |m| m.min(*h))),
                    Condition::Approvals { tool, principals } => {
                        let a = approvals.entry(tool.clone()).or_insert(*principals);
                        *a = (*a).max(*principals);
                    }
                    Condition::FanOut(k) => fan_out = Some(fan_out.map_or(*k, |f| f.min(*k))),
                    _ => {}
                }
            }
            if let (BlockRole::Delegation(d), Some(signer)) = (&c.role, signer) {
                let next = AgentPublicKey::from_bytes(&d.holder)?;
                hops.push(Hop {
                    delegator: signer,
                    holder: next,
                    agent: AgentId::from_slice(&d.agent).ok_or_else(|| bad("bad agent id"))?,
                    cause: Digest::from_bytes(d.cause),
                });
                holder = next;
            }
        }
        let expires_at = i64::try_from(expires)
            .ok()
            .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
            .ok_or_else(|| bad("bad expiry"))?;
        Ok(Self {
            root_agent,
            holder,
            hops,
            max_depth: auth.max_depth,
            tools,
            constraints,
            open_tools,
            allowed_keys,
            expires_at,
            budgets,
            rates,
            fan_out,
            max_hops,
            approvals,
            seen_labels,
            blocks: summaries,
        })
    }

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

/// A condition as a `(kind, tool, n, seconds)` row of [`BlockSummary::limits`].
fn limit_row(c: &Condition) -> Option<(String, String, i64, i64)> {
    let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let row = |kind: &str, tool: &ToolName, n: i64, secs: i64| {
        Some((kind.to_owned(), tool.to_string(), n, secs))
    };
    match c {
        Condition::Budget { tool, uses } => row("bud", tool, big(*uses), 0),
        Condition::Rate { tool, calls, secs } => row("rate", tool, i64::from(*calls), big(*secs)),
        Condition::Approvals { tool, principals } => row("appr", tool, i64::from(*principals), 0),
        Condition::LabelApprovals { tool, principals } => {
            row("lappr", tool, i64::from(*principals), 0)
        }
        Condition::MinTier { tool, tier } => row("tier", tool, i64::from(*tier), 0),
        Condition::AcceptedLabels { tool, .. } => row("lblp", tool, 0, 0),
        Condition::FanOut(k) => Some(("fan".to_owned(), String::new(), i64::from(*k), 0)),
        Condition::MaxHops(h) => Some(("hop".to_owned(), String::new(), i64::from(*h), 0)),
        Condition::Seen(_) => None,
    }
}
