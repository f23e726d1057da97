//! Approvals that count distinct principals (the answer to trust capture), and the trust
//! tiers an executor computes itself (the answer to amplification).

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signature;

use crate::digest::Digest;
use crate::error::Error;
use crate::ids::TokenId;
use crate::ids::{AgentId, ExecutorId};
use crate::keys::{AgentKey, AgentPublicKey};

const APPROVAL_DOMAIN: &[u8] = b"agentcap/approval/v1\0";
const APPROVAL_TEXT_VERSION: u8 = 1;
const APPROVAL_TEXT_LEN: usize = 1 + 32 + 64;

/// A signature by an approver over one exact call: the executor, the token and the call digest
/// (tool, canonical arguments, labels, cause). An approval for any other call never counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    approver: AgentPublicKey,
    signature: [u8; 64],
}

impl Approval {
    /// `key` approves the call with digest `call_digest`, made with token `token_id`, at
    /// executor `audience`.
    pub fn sign(
        key: &AgentKey,
        audience: &ExecutorId,
        token_id: &TokenId,
        call_digest: Digest,
    ) -> Self {
        Self {
            approver: key.public(),
            signature: key
                .sign(&preimage(audience, token_id, call_digest))
                .to_bytes(),
        }
    }

    /// The approving key.
    pub fn approver(&self) -> AgentPublicKey {
        self.approver
    }

    /// The text form, for carrying an approval in a message (e.g. MCP `_meta`): base64url
    /// without padding of 97 bytes — the version byte `1`, the approver's 32-byte public key
    /// and the 64-byte signature.
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::with_capacity(APPROVAL_TEXT_LEN);
        bytes.push(APPROVAL_TEXT_VERSION);
        bytes.extend_from_slice(&self.approver.to_bytes());
        bytes.extend_from_slice(&self.signature);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses [`Approval::to_base64`]'s form. Whether the signature is valid, and for which
    /// call, is the verifier's question.
    ///
    /// # Errors
    /// [`Error::Invalid`] for anything but 97 bytes of version 1 with a valid public key.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid("approval", why);
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| bad("not base64url"))?;
        let (Some(&APPROVAL_TEXT_VERSION), Some(key), Some(signature)) =
            (bytes.first(), bytes.get(1..33), bytes.get(33..))
        else {
            return Err(bad("malformed"));
        };
        let signature: [u8; 64] = signature.try_into().map_err(|_| bad("malformed"))?;
        Ok(Self {
            approver: AgentPublicKey::from_bytes(key).map_err(|_| bad("bad approver key"))?,
            signature,
        })
    }

    pub(crate) fn is_valid_for(
        &self,
        audience: &ExecutorId,
        token_id: &TokenId,
        call_digest: Digest,
    ) -> bool {
        self.approver
            .verifying_key()
            .verify_strict(
                &preimage(audience, token_id, call_digest),
                &Signature::from_bytes(&self.signature),
            )
            .is_ok()
    }
}

fn preimage(audience: &ExecutorId, token_id: &TokenId, call_digest: Digest) -> Vec<u8> {
    let mut m = Vec::with_capacity(APPROVAL_DOMAIN.len() + 160);
    m.extend_from_slice(APPROVAL_DOMAIN);
    for part in [audience.as_str().as_bytes(), token_id.as_bytes()] {
        m.extend_from_slice(&(part.len() as u32).to_be_bytes());
        m.extend_from_slice(part);
    }
    m.extend_from_slice(&call_digest.to_bytes());
    m
}

/// The executor's own list of approver keys and the principal (person, team, service) each
/// belongs to. Approvals count distinct principals, so five keys of one principal count once;
/// keys not listed are ignored.
#[derive(Clone, Debug, Default)]
pub struct ApproverRegistry {
    principals: BTreeMap<[u8; 32], String>,
}

impl ApproverRegistry {
    /// An empty registry (no approval counts).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `key` as belonging to `principal`.
    pub fn with(mut self, key: AgentPublicKey, principal: impl Into<String>) -> Self {
        self.principals.insert(key.to_bytes(), principal.into());
        self
    }

    /// The distinct principals behind the valid approvals of this call, ignoring unknown keys
    /// and keys in `excluded` (the requesting chain's own agents).
    /// The distinct principals whose valid approvals of this call count, by name.
    pub(crate) fn count(
        &self,
        approvals: &[Approval],
        excluded: &BTreeSet<[u8; 32]>,
        audience: &ExecutorId,
        token_id: &TokenId,
        call_digest: Digest,
    ) -> BTreeSet<String> {
        let mut principals = BTreeSet::new();
        for a in approvals {
            let key = a.approver.to_bytes();
            let Some(principal) = self.principals.get(&key) else {
                continue;
            };
            if excluded.contains(&key) || principals.contains(principal) {
                continue;
            }
            if a.is_valid_for(audience, token_id, call_digest) {
                principals.insert(principal);
            }
        }
        principals.into_iter().cloned().collect()
    }
}

/// Trust tiers the executor computes itself (e.g. from an agent's track record). This is the
/// only source of a tier: nothing a caller sends can raise it.
pub trait TierProvider: Send + Sync {
    /// The tier of the calling agent, or `None` if unknown (a tool requiring a tier then denies).
    /// `agent` is the id the chain claims; `key` is the calling holder's key, which is proven
    /// by the call's signature: prefer it.
    fn tier(&self, agent: AgentId, key: &AgentPublicKey) -> Option<u32>;
}

/// A fixed table of tiers by agent key. Keys, not agent ids: an agent id in a delegation is the
/// delegator's claim, so a holder could name itself after a high-tier agent; a key it cannot.
#[derive(Clone, Debug, Default)]
pub struct StaticTiers(BTreeMap<[u8; 32], u32>);

impl StaticTiers {
    /// An empty table (every tier unknown).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the tier of the agent holding `key`.
    pub fn with(mut self, key: AgentPublicKey, tier: u32) -> Self {
        self.0.insert(key.to_bytes(), tier);
        self
    }
}

impl TierProvider for StaticTiers {
    fn tier(&self, _: AgentId, key: &AgentPublicKey) -> Option<u32> {
        self.0.get(&key.to_bytes()).copied()
    }
}
