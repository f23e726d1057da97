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
const ONCE_DOMAIN: &[u8] = b"agentcap/approval-once/v1\0";
const APPROVAL_TEXT_VERSION: u8 = 1;
const ONCE_TEXT_VERSION: u8 = 2;
const APPROVAL_TEXT_LEN: usize = 1 + 32 + 64;
const ONCE_TEXT_LEN: usize = 1 + 32 + 16 + 8 + 64;

/// A signature by an approver over one exact call: the executor, the token and the call digest
/// (tool, canonical arguments, labels, cause). An approval for any other call never counts.
///
/// Two kinds: [`Approval::sign`] counts for every repetition of the exact call (with fresh
/// proofs) while the token lives; [`Approval::sign_once`] carries its own nonce and expiry and
/// is spent by the first call it is counted for. A tool whose grant makes approvals single-use
/// (`ToolGrant::single_use_approvals`) counts only the second kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    approver: AgentPublicKey,
    signature: [u8; 64],
    once: Option<Once>,
}

/// A single-use approval a call spends: (approver key, nonce, expiry in Unix seconds).
pub(crate) type Spend = ([u8; 32], [u8; 16], i64);

/// What makes an approval single-use: its nonce and its expiry (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Once {
    nonce: [u8; 16],
    expires_at: i64,
}

impl Approval {
    /// The longest a single-use approval may still have to live when it is counted: its nonce
    /// is remembered until its expiry, so one signed to expire later does not count.
    pub const MAX_ONCE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

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
                .sign(&preimage(audience, token_id, call_digest, None))
                .to_bytes(),
            once: None,
        }
    }

    /// `key` approves the call with digest `call_digest`, made with token `token_id`, at
    /// executor `audience`, **once**, until `expires_at` (at most [`Approval::MAX_ONCE_LIFETIME`] after
    /// the call is made, or it does not count). The approval carries a fresh random nonce; the
    /// verifier spends it with the call in the same atomic state step, so it never counts again.
    pub fn sign_once(
        key: &AgentKey,
        audience: &ExecutorId,
        token_id: &TokenId,
        call_digest: Digest,
        expires_at: time::OffsetDateTime,
    ) -> Self {
        let once = Once {
            nonce: *uuid::Uuid::new_v4().as_bytes(),
            expires_at: expires_at.unix_timestamp(),
        };
        Self {
            approver: key.public(),
            signature: key
                .sign(&preimage(audience, token_id, call_digest, Some(&once)))
                .to_bytes(),
            once: Some(once),
        }
    }

    /// Whether this approval is single-use ([`Approval::sign_once`]).
    pub fn is_single_use(&self) -> bool {
        self.once.is_some()
    }

    /// A single-use approval's expiry.
    pub fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.once
            .and_then(|o| time::OffsetDateTime::from_unix_timestamp(o.expires_at).ok())
    }

    /// The approving key.
    pub fn approver(&self) -> AgentPublicKey {
        self.approver
    }

    /// The text form, for carrying an approval in a message (e.g. MCP `_meta`): base64url
    /// without padding of 97 bytes — the version byte `1`, the approver's 32-byte public key
    /// and the 64-byte signature — or, single-use, of 121 bytes: the version byte `2`, the key,
    /// the 16-byte nonce, the expiry (Unix seconds, 8 bytes big-endian) and the signature.
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::with_capacity(ONCE_TEXT_LEN);
        bytes.push(if self.once.is_some() {
            ONCE_TEXT_VERSION
        } else {
            APPROVAL_TEXT_VERSION
        });
        bytes.extend_from_slice(&self.approver.to_bytes());
        if let Some(o) = &self.once {
            bytes.extend_from_slice(&o.nonce);
            bytes.extend_from_slice(&o.expires_at.to_be_bytes());
        }
        bytes.extend_from_slice(&self.signature);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses [`Approval::to_base64`]'s form. Whether the signature is valid, and for which
    /// call, is the verifier's question.
    ///
    /// # Errors
    /// [`Error::Invalid`] for anything but 97 bytes of version 1 or 121 bytes of version 2 with
    /// a valid public key.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid("approval", why);
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| bad("not base64url"))?;
        let (version, key) = match (bytes.first(), bytes.get(1..33)) {
            (Some(v), Some(key)) => (*v, key),
            _ => return Err(bad("malformed")),
        };
        let (once, signature) = match (version, bytes.len()) {
            (APPROVAL_TEXT_VERSION, APPROVAL_TEXT_LEN) => (None, bytes.get(33..)),
            (ONCE_TEXT_VERSION, ONCE_TEXT_LEN) => {
                let nonce: [u8; 16] = bytes
                    .get(33..49)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| bad("malformed"))?;
                let expires: [u8; 8] = bytes
                    .get(49..57)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| bad("malformed"))?;
                (
                    Some(Once {
                        nonce,
                        expires_at: i64::from_be_bytes(expires),
                    }),
                    bytes.get(57..),
                )
            }
            _ => return Err(bad("malformed")),
        };
        let signature: [u8; 64] = signature
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("malformed"))?;
        Ok(Self {
            approver: AgentPublicKey::from_bytes(key).map_err(|_| bad("bad approver key"))?,
            signature,
            once,
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
                &preimage(audience, token_id, call_digest, self.once.as_ref()),
                &Signature::from_bytes(&self.signature),
            )
            .is_ok()
    }
}

fn preimage(
    audience: &ExecutorId,
    token_id: &TokenId,
    call_digest: Digest,
    once: Option<&Once>,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(ONCE_DOMAIN.len() + 190);
    m.extend_from_slice(if once.is_some() {
        ONCE_DOMAIN
    } else {
        APPROVAL_DOMAIN
    });
    for part in [audience.as_str().as_bytes(), token_id.as_bytes()] {
        m.extend_from_slice(&(part.len() as u32).to_be_bytes());
        m.extend_from_slice(part);
    }
    m.extend_from_slice(&call_digest.to_bytes());
    if let Some(o) = once {
        m.extend_from_slice(&o.nonce);
        m.extend_from_slice(&o.expires_at.to_be_bytes());
    }
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
    /// The distinct principals whose valid approvals of this exact call count, up to `need`,
    /// and the single-use approvals counted (approver key, nonce, expiry in Unix seconds), which
    /// the call must spend: approvals beyond `need` are neither counted nor spent. A single-use
    /// approval counts only while `now ≤ expiry ≤ now +` [`Approval::MAX_ONCE_LIFETIME`]; with
    /// `single_use_only`, no other approval counts.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn count(
        &self,
        approvals: &[Approval],
        excluded: &BTreeSet<[u8; 32]>,
        audience: &ExecutorId,
        token_id: &TokenId,
        call_digest: Digest,
        now: i64,
        single_use_only: bool,
        need: usize,
    ) -> (BTreeSet<String>, Vec<Spend>) {
        let max_life = i64::try_from(Approval::MAX_ONCE_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        let mut principals = BTreeSet::new();
        let mut spend = Vec::new();
        for a in approvals {
            if principals.len() >= need {
                break;
            }
            let key = a.approver.to_bytes();
            let Some(principal) = self.principals.get(&key) else {
                continue;
            };
            if excluded.contains(&key) || principals.contains(principal) {
                continue;
            }
            match &a.once {
                None if single_use_only => continue,
                Some(o) if o.expires_at < now || o.expires_at > now.saturating_add(max_life) => {
                    continue
                }
                _ => {}
            }
            if a.is_valid_for(audience, token_id, call_digest) {
                principals.insert(principal.clone());
                if let Some(o) = &a.once {
                    spend.push((key, o.nonce, o.expires_at));
                }
            }
        }
        (principals, spend)
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
