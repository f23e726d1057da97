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

pub use crate::wire::{
    META_APPROVALS, META_CAUSE, META_CLASS, META_LABELS, META_PREFIX, META_PROOF, META_TOKEN,
};
