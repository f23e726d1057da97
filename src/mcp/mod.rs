//! The MCP binding (feature `mcp`, on the official Rust SDK `rmcp`): a server-side guard that
//! verifies every `tools/call` before the tool runs, and a client-side helper that attaches a
//! token and a fresh proof to each call. With the feature `mcp-proxy`, [`proxy`] puts the same
//! guard in front of an MCP server written by someone else.
//!
//! Wire format: the request's `_meta` carries [`META_TOKEN`] (token text), [`META_PROOF`]
//! (proof text), and, when the call has them, [`META_LABELS`] (array of label strings),
//! [`META_CAUSE`] (64 hex digits) and [`META_APPROVALS`] (array of approval texts). The
//! executor id (audience) is the server's configured id. A missing or invalid one is a tool
//! error result with the generic denial text and the denial's class ([`META_CLASS`]); the tool
//! body never runs; the operator reason goes to `tracing` and to the verifier's audit log. See
//! `docs/mcp.md`.

mod caller;
mod guard;
#[cfg(feature = "mcp-proxy")]
pub mod proxy;
mod server;

pub use caller::McpCaller;
pub use guard::{denial_class, McpGuard};
pub use server::GuardedServer;

/// `_meta` key of the token text.
pub const META_TOKEN: &str = "agentcap/token";
/// `_meta` key of the call proof text.
pub const META_PROOF: &str = "agentcap/proof";
/// `_meta` key of the call's data labels (array of strings).
pub const META_LABELS: &str = "agentcap/labels";
/// `_meta` key of the call's cause (hex digest).
pub const META_CAUSE: &str = "agentcap/cause";
/// `_meta` key of approvals of the call (array of [`Approval::to_base64`](crate::Approval::to_base64) texts).
pub const META_APPROVALS: &str = "agentcap/approvals";
/// `_meta` key of a denial result: the denial's class (`denied`, `needs_approval`,
/// `state_unavailable`), the one thing about a denial a caller is told.
pub const META_CLASS: &str = "agentcap/class";
/// The prefix of every agentcap `_meta` key; a proxy never forwards these upstream.
pub const META_PREFIX: &str = "agentcap/";
