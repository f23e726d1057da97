//! The events an audit log records, and the record that wraps each one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One delegation hop as the log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopRecord {
    /// The key that signed the delegation (`ed25519/<hex>`).
    pub delegator: String,
    /// The new holder's key.
    pub holder: String,
    /// The new holder's agent id.
    pub agent: String,
    /// The digest of the message that caused the delegation (hex).
    pub cause: String,
}

/// One decision of a verifier. Raw arguments are not recorded unless a redaction rule for the
/// tool lists the argument pointers to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The executor that decided.
    pub executor: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// The deny reason's stable code, for denials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The deny reason for operators, for denials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The tool called.
    pub tool: String,
    /// The call digest (hex).
    pub call_digest: String,
    /// The token id the proof names (hex).
    pub token_id: String,
    /// The call's cause (hex), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The call's labels; for allowed calls, every label it carried (its own, its chain's and
    /// those inherited from its cause through the message ledger).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// For allowed calls: the principals whose approvals were counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    /// For allowed calls: the hop count inherited from the call's cause through the message
    /// ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<u32>,
    /// For allowed calls: the root agent the authority granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_agent: Option<String>,
    /// For allowed calls: the issuing authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// For allowed calls: every delegation hop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<HopRecord>,
    /// Argument values kept by an opt-in redaction rule (pointer → value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// Something the log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
// A decision record is the common case, not an outlier worth a box; it grows when another
// crate turns on serde_json's `preserve_order` (rig does), which is what trips this lint.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// The first record of a log: the key its checkpoints are signed with.
    Open {
        /// The log's public key (`ed25519/<hex>`).
        log_key: String,
        /// The record format version (1).
        version: u32,
    },
    /// A verifier's decision.
    Decision(DecisionRecord),
    /// A token was issued.
    Issuance {
        /// The new token's id (hex).
        token_id: String,
        /// The agent it was granted to.
        agent: String,
        /// The holder key.
        holder: String,
        /// The granted tools.
        tools: Vec<String>,
    },
    /// A token was attenuated.
    Attenuation {
        /// The parent token id (hex).
        parent: String,
        /// The attenuated token id (hex).
        token_id: String,
    },
    /// A token was delegated.
    Delegation {
        /// The parent token id (hex).
        parent: String,
        /// The delegated token id (hex).
        token_id: String,
        /// The hop the delegation added.
        hop: HopRecord,
    },
    /// A revocation (by block revocation id or by agent key).
    Revocation {
        /// The revoked revocation id (hex), if by id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revocation_id: Option<String>,
        /// The revoked agent key, if by key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_key: Option<String>,
    },
    /// An agent-to-agent message the framework delivered.
    Message {
        /// The sending agent.
        from: String,
        /// The receiving agent.
        to: String,
        /// The message digest (hex): what a delegation or call names as its cause.
        digest: String,
        /// The labels of the message's data.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<String>,
        /// The digest of the message the sender was answering or forwarding, if any: the link
        /// a trace follows back to the origin.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// A signed checkpoint over every record before it.
    Checkpoint {
        /// The signature (hex) over the domain tag, this record's sequence number and `prev`.
        sig: String,
        /// Whether the log was closed with this checkpoint.
        closed: bool,
    },
    /// The log was reopened after a crash left a torn last line, which was cut off.
    Recovery {
        /// How many bytes of torn record were cut off.
        dropped_bytes: u64,
    },
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the log, from 0.
    pub seq: u64,
    /// A stable unique id.
    pub id: String,
    /// When it was recorded, Unix milliseconds.
    pub ts: i64,
    /// SHA-256 of the previous line's bytes (hex; zeros for the first record).
    pub prev: String,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}
