#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod approval;
pub mod audit;
mod authority;
mod cache;
mod call;
mod clock;
mod constraint;
mod decision;
mod delegate;
mod describe;
mod digest;
mod error;
mod grant;
mod host;
mod ids;
mod keys;
mod limits;
#[cfg(feature = "mcp")]
pub mod mcp;
mod network;
mod proof;
#[cfg(feature = "rig")]
pub mod rig;
pub mod state;
mod subpath;
mod token;
mod url_policy;
mod usage;
mod value;
mod verify;
mod vocabulary;
pub mod wire;

pub use approval::{Approval, ApproverRegistry, StaticTiers, TierProvider};
pub use authority::Authority;
pub use call::ToolCall;
pub use clock::{Clock, FixedClock, SystemClock};
pub use constraint::{
    CommandPolicy, Constraint, DateRange, EmailPolicy, HostPolicy, IpPolicy, Scalar, ValueSet,
    MAX_COMMAND_LEN, MAX_CONSTRAINT_NODES, MAX_CONSTRAINT_STRING, MAX_LIST_LEN, MAX_REGEX_LEN,
    MAX_SET_LEN,
};
pub use decision::{Authorized, Chain, Denied, DenyClass, DenyReason, Hop};
pub use describe::{BlockKind, BlockSummary, TokenDescription};
pub use digest::Digest;
pub use error::Error;
pub use grant::{
    Grant, GrantBuilder, Narrowing, ToolGrant, UseLimits, MAX_ARGS_PER_TOOL, MAX_POINTER_LEN,
    MAX_TOOLS,
};
pub use host::is_public_ip;
pub use ids::{AgentId, AuthorityId, ExecutorId, Label, TokenId, ToolName};
pub use keys::{AgentKey, AgentPublicKey, AuthorityKey, RootPublicKey, TrustedRoots};
pub use limits::Limits;
pub use proof::CallProof;
pub use token::Token;
pub use url_policy::UrlPolicy;
pub use verify::{Verifier, VerifierBuilder};

/// Entry points for the fuzz targets (only under `cargo fuzz`, which sets `cfg(fuzzing)`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub use vocabulary::fuzzing;
