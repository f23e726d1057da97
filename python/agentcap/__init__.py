"""agentcap: attenuable, holder-bound capability tokens for AI agents and the tools they call.

The tokens, proofs and verifier are the Rust crate's (``agentcap._agentcap``); this package adds
what a Python tool executor needs around them: a ``Holder`` (an agent's token and key, kept
out of the model's reach), the ``guard`` decorator for any function tool, and framework guards
(``agentcap.mcp`` for the MCP Python SDK's ``MCPServer``).
"""

from ._agentcap import (
    DENIED_MESSAGE,
    META_APPROVALS,
    META_CAUSE,
    META_CLASS,
    META_LABELS,
    META_PROOF,
    META_TOKEN,
    AgentcapError,
    AgentKey,
    AgentPublicKey,
    Approval,
    Authority,
    AuthorityKey,
    Authorized,
    CallProof,
    Constraint,
    Denied,
    Grant,
    LogKey,
    Narrowing,
    RootPublicKey,
    Token,
    ToolCall,
    ToolGrant,
    Verifier,
    call_meta,
    message_digest,
    new_agent_id,
)
from ._guard import Holder, current_holder, guard, holding

__all__ = [
    "DENIED_MESSAGE",
    "META_APPROVALS",
    "META_CAUSE",
    "META_CLASS",
    "META_LABELS",
    "META_PROOF",
    "META_TOKEN",
    "AgentcapError",
    "AgentKey",
    "AgentPublicKey",
    "Approval",
    "Authority",
    "AuthorityKey",
    "Authorized",
    "CallProof",
    "Constraint",
    "Denied",
    "Grant",
    "Holder",
    "LogKey",
    "Narrowing",
    "RootPublicKey",
    "Token",
    "ToolCall",
    "ToolGrant",
    "Verifier",
    "call_meta",
    "current_holder",
    "guard",
    "holding",
    "message_digest",
    "new_agent_id",
]
