"""The OpenAI Agents SDK (``openai-agents``): ``guard_tool(function_tool, verifier)`` wraps a
``FunctionTool`` so that its invocation — what the SDK's runner calls with the model's JSON
arguments — is signed by the acting agent's holder and verified before the inner tool runs with
the verified arguments. A refused call returns the generic denial text with its class (what
the model sees); the inner tool never runs.

The holders live in the run context (``Runner.run(agent, input, context=holders)``: a
``Holders``, looked up by the acting agent's name; or a ``Holder``; or any object with an
``agentcap`` attribute holding either), never in the model's input. ``delegating_handoff``
makes a handoff delegate: the receiving agent gets the sender's token, narrowed, for its own
key, caused by the handoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, Optional

from agents import Agent, FunctionTool, RunContextWrapper, handoff

from ._agentcap import AgentcapError, AgentKey, Verifier
from ._guard import Holder, Holders, _decide_or_denial, current_holder


def _holders(context: Any) -> Any:
    if isinstance(context, (Holders, Holder)):
        return context
    return getattr(context, "agentcap", None)


def _holder(ctx: Any, agent: Optional[str]) -> Optional[Holder]:
    found = _holders(getattr(ctx, "context", None))
    if isinstance(found, Holder):
        return found
    if isinstance(found, Holders):
        name = agent or getattr(getattr(ctx, "agent", None), "name", None)
        return found.get(name) if name else None
    return current_holder()


def guard_tool(tool: FunctionTool, verifier: Verifier, agent: Optional[str] = None) -> FunctionTool:
    """``tool``, guarded by ``verifier``. ``agent`` fixes whose holder signs (by default the
    agent the SDK says is acting)."""
    inner = tool.on_invoke_tool

    async def on_invoke_tool(ctx: Any, arguments: str) -> Any:
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            # Not a JSON object: an audited denial like any unreadable call.
            return str(verifier.reject_malformed(tool.name, "arguments are not a JSON object"))
        authorized, denial = await asyncio.to_thread(
            _decide_or_denial, verifier, tool.name, _holder(ctx, agent), args
        )
        if denial is not None:
            return denial
        return await inner(ctx, json.dumps(authorized.args))

    return dataclasses.replace(tool, on_invoke_tool=on_invoke_tool)


def delegating_handoff(
    from_agent: str,
    to: Agent,
    to_key: AgentKey,
    narrowing: Any = None,
    **handoff_kwargs: Any,
) -> Any:
    """A ``handoff`` from the agent named ``from_agent`` to ``to`` that delegates: the sender's
    token (from the run context's ``Holders``) is delegated to ``to_key`` — narrowed by
    ``narrowing`` — and becomes ``to.name``'s holder, caused by the handoff message
    ``"handoff from <from_agent> to <to.name>"``."""

    async def on_handoff(ctx: RunContextWrapper[Any]) -> None:
        holders = _holders(ctx.context)
        if not isinstance(holders, Holders) or from_agent not in holders:
            raise AgentcapError("delegating_handoff needs the sender's holder in the run context")
        message = f"handoff from {from_agent} to {to.name}"
        holders.hand_off(from_agent, to.name, to_key, message, narrowing)

    return handoff(to, on_handoff=on_handoff, **handoff_kwargs)


__all__ = ["delegating_handoff", "guard_tool"]
