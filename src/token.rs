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
use crate::vocabulary::{self, BlockView, DelegationFacts};

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
        let mut blocks = Vec::with_capacity(self.biscuit.block_count());
        for i in 0..self.biscuit.block_count() {
            let src = self.biscuit.print_block_source(i)?;
            let signer = self
                .biscuit
                .block_external_key(i)?
                .and_then(|k| AgentPublicKey::from_biscuit(&k));
            blocks.push((vocabulary::block_view(&src)?, signer));
        }
        TokenDescription::from_views(blocks)
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
        let block = vocabulary::narrowing_block(narrowing, &close, None)?;
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
            block_index: self.biscuit.block_count(),
            next_holder,
            next_agent,
            cause: cause.to_bytes(),
        };
        let block = vocabulary::narrowing_block(narrowing, &close, Some(&facts))?;
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
    /// A third-party block without a delegation record (the verifier denies such a token).
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
    fn from_views(blocks: Vec<(BlockView, Option<AgentPublicKey>)>) -> Result<Self, Error> {
        let bad = |m: &str| Error::InvalidToken(m.to_owned());
        let mut iter = blocks.into_iter();
        let (auth, _) = iter.next().ok_or_else(|| bad("no authority block"))?;
        let holder = auth
            .holder
            .as_deref()
            .ok_or_else(|| bad("no holder in the authority block"))?;
        let mut holder = AgentPublicKey::from_bytes(holder)?;
        let root_agent = auth
            .agent
            .as_deref()
            .and_then(AgentId::from_slice)
            .ok_or_else(|| bad("no agent id"))?;
        let max_depth = u32::try_from(auth.max_depth.ok_or_else(|| bad("no depth"))?)
            .map_err(|_| bad("bad depth"))?;
        let names = |set: &BTreeSet<String>| -> Result<BTreeSet<ToolName>, Error> {
            set.iter().map(|t| ToolName::new(t.as_str())).collect()
        };
        let mut tools = names(auth.tools.as_ref().ok_or_else(|| bad("no tools"))?)?;
        let mut open_tools = names(&auth.open)?;
        let mut expires = auth.expires_at.ok_or_else(|| bad("no expiry"))?;
        let mut constraints: BTreeMap<ToolName, BTreeMap<String, Vec<Constraint>>> =
            BTreeMap::new();
        let mut hops = Vec::new();
        let mut budgets: BTreeMap<ToolName, u64> = BTreeMap::new();
        let mut rates: BTreeMap<ToolName, Vec<(u32, u64)>> = BTreeMap::new();
        let mut fan_out: Option<u32> = None;
        let mut max_hops: Option<u32> = None;
        let mut approvals: BTreeMap<ToolName, u32> = BTreeMap::new();
        let mut seen_labels: BTreeSet<String> = BTreeSet::new();
        let mut all = vec![(auth, None)];
        all.extend(iter);
        let mut summaries = Vec::new();
        for (index, (view, signer)) in all.into_iter().enumerate() {
            summaries.push(BlockSummary {
                index,
                kind: match (index, &view.delegation, signer) {
                    (0, _, _) => BlockKind::Authority,
                    (_, Some(_), Some(_)) => BlockKind::Delegation,
                    (_, _, Some(_)) => BlockKind::ThirdParty,
                    _ => BlockKind::Attenuation,
                },
                signer,
                tools: view.tools.clone(),
                constraints: view.constraints.clone(),
                expires_at: view
                    .expires_at
                    .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok()),
                seen_labels: view
                    .labels
                    .iter()
                    .filter(|l| l.kind == vocabulary::LBL_SEEN)
                    .map(|l| l.label.clone())
                    .collect(),
                limits: view
                    .limits
                    .iter()
                    .map(|l| (l.kind.clone(), l.tool.clone(), l.n, l.secs))
                    .collect(),
            });
            if let Some(t) = &view.tools {
                let t = names(t)?;
                tools = tools.intersection(&t).cloned().collect();
            }
            for closed in names(&view.closed)? {
                open_tools.remove(&closed);
            }
            for (tool, pointer, c) in view.constraints {
                constraints
                    .entry(ToolName::new(tool)?)
                    .or_default()
                    .entry(pointer)
                    .or_default()
                    .push(c);
            }
            if let Some(e) = view.expires_at {
                expires = expires.min(e);
            }
            seen_labels.extend(
                view.labels
                    .iter()
                    .filter(|l| l.kind == vocabulary::LBL_SEEN)
                    .map(|l| l.label.clone()),
            );
            for l in &view.limits {
                let n = u64::try_from(l.n).map_err(|_| bad("bad limit"))?;
                match l.kind.as_str() {
                    vocabulary::LIM_BUDGET => {
                        let b = budgets.entry(ToolName::new(l.tool.as_str())?).or_insert(n);
                        *b = (*b).min(n);
                    }
                    vocabulary::LIM_RATE => {
                        let calls = u32::try_from(n).map_err(|_| bad("bad rate"))?;
                        let secs = u64::try_from(l.secs).map_err(|_| bad("bad rate"))?;
                        rates
                            .entry(ToolName::new(l.tool.as_str())?)
                            .or_default()
                            .push((calls, secs));
                    }
                    vocabulary::LIM_HOPS => {
                        let h = u32::try_from(n).map_err(|_| bad("bad hop limit"))?;
                        max_hops = Some(max_hops.map_or(h, |m| m.min(h)));
                    }
                    vocabulary::LIM_APPROVALS => {
                        let k = u32::try_from(n).map_err(|_| bad("bad approvals"))?;
                        let a = approvals
                            .entry(ToolName::new(l.tool.as_str())?)
                            .or_insert(k);
                        *a = (*a).max(k);
                    }
                    vocabulary::LIM_FAN_OUT => {
                        let k = u32::try_from(n).map_err(|_| bad("bad fan-out"))?;
                        fan_out = Some(fan_out.map_or(k, |f| f.min(k)));
                    }
                    _ => {}
                }
            }
            if let (Some((h, a, c)), Some(signer)) = (view.delegation, signer) {
                let next = AgentPublicKey::from_bytes(&h)?;
                let cause: [u8; 32] = c.as_slice().try_into().map_err(|_| bad("bad cause"))?;
                hops.push(Hop {
                    delegator: signer,
                    holder: next,
                    agent: AgentId::from_slice(&a).ok_or_else(|| bad("bad agent id"))?,
                    cause: Digest::from_bytes(cause),
                });
                holder = next;
            }
        }
        let expires_at =
            OffsetDateTime::from_unix_timestamp(expires).map_err(|_| bad("bad expiry"))?;
        Ok(Self {
            root_agent,
            holder,
            hops,
            max_depth,
            tools,
            constraints,
            open_tools,
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
                match existing.and_then(|e| e.get(pointer)) {
                    Some(parents) => {
                        if let Some(p) = parents.iter().find(|p| !c.is_subset_of(p)) {
                            return Err(Error::NotNarrower(format!(
                                "constraint on `{pointer}` of tool `{tool}` is not within {}",
                                serde_json::to_string(p).unwrap_or_default()
                            )));
                        }
                    }
                    None if self.open_tools.contains(tool) => {}
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
            close.insert(tool.clone(), vocabulary::keys_of(pointers));
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
