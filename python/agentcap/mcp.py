"""The MCP Python SDK (``mcp`` 2.x, ``MCPServer``): every ``tools/call`` verified from its
``_meta`` before the tool runs, in exactly the wire format of the Rust ``GuardedServer``,
``McpCaller`` and ``agentcap mcp-proxy`` (docs/mcp.md §1).

Server::

    from mcp.server.mcpserver import MCPServer
    from agentcap.mcp import guard_server

    server = MCPServer("files")
    guard_server(server, verifier)      # before serving

Client: put ``agentcap.call_meta(key, token, executor, call)`` in the request's ``_meta``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import anyio

from ._agentcap import DENIED_MESSAGE, META_CLASS, AgentcapError, Denied, Verifier

_PREFIX = "agentcap/"


def denial_result(denied: Denied) -> Any:
    """The tool result a denied caller receives (an SDK ``CallToolResult``, which the SDK
    writes for the session's protocol version): the generic text with the class, and the class
    under ``agentcap/class`` in ``_meta``."""
    import mcp_types

    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=str(denied))],
        is_error=True,
        _meta={META_CLASS: denied.klass},
    )


def denial_class(result: Any) -> Optional[str]:
    """The class of a denial result (a dict or an SDK result object); ``None`` otherwise."""
    if isinstance(result, dict):
        is_error, meta = result.get("isError"), result.get("_meta")
    else:
        is_error = getattr(result, "is_error", None)
        if is_error is None:
            is_error = getattr(result, "isError", None)
        meta = getattr(result, "meta", None)
    if not is_error or not isinstance(meta, dict):
        return None
    value = meta.get(META_CLASS)
    return value if value in ("denied", "needs_approval", "state_unavailable") else None


class GuardMiddleware:
    """``ServerMiddleware`` for ``MCPServer``: decides each ``tools/call`` with ``verifier``
    (in a worker thread) before the SDK validates or runs it. A denied call returns
    ``denial_result``; an allowed one reaches the tool with exactly the verified arguments and a
    ``_meta`` without the agentcap keys (the token and proof are not the tool's business)."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        if ctx.request_id is None:
            return None  # a "tools/call" notification: nothing to run

        params = dict(ctx.params or {})
        name = params.get("name")
        if not isinstance(name, str):
            name = ""
        try:
            authorized = await anyio.to_thread.run_sync(
                self.verifier.verify_meta, name, params.get("arguments"), params.get("_meta")
            )
        except Denied as denied:
            return denial_result(denied)
        except AgentcapError:
            return denial_result(
                self.verifier.reject_malformed(name, "unreadable tools/call")  # type: ignore[arg-type]
            )
        params["arguments"] = authorized.args
        meta = params.get("_meta")
        if isinstance(meta, dict):
            kept = {k: v for k, v in meta.items() if not k.startswith(_PREFIX)}
            if kept:
                params["_meta"] = kept
            else:
                params.pop("_meta", None)
        return await call_next(dataclasses.replace(ctx, params=params))


def guard_server(server: Any, verifier: Verifier) -> Any:
    """Adds ``GuardMiddleware(verifier)`` to an ``MCPServer`` (or a low-level ``Server``);
    returns the server. Add it before serving, and last: a middleware added after it could
    rewrite the verified parameters."""
    server.middleware.append(GuardMiddleware(verifier))
    return server


__all__ = ["GuardMiddleware", "denial_class", "denial_result", "guard_server"]
