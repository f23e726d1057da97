"""LangChain and LangGraph: ``guard_tool(tool, verifier)`` wraps any ``BaseTool`` (a
``StructuredTool``, a ``@tool`` function) so that every run — ``tool.invoke``, an agent
executor, LangGraph's ``ToolNode`` — is signed by the holder and verified before the inner tool
runs. A refused call becomes a ``ToolException`` whose text is the generic denial and its class
(what the model sees); the inner tool never runs.

Where the holder comes from: the run's ``config["configurable"]["agentcap"]`` — a ``Holder``, or
``Holders`` (by agent name, with ``agent=`` given to ``guard_tool``) — else ``holding(...)``.
The configurable never reaches the model's messages.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, ToolException
from pydantic import ConfigDict

from ._agentcap import Verifier
from ._guard import Holder, Holders, _decide_or_denial, current_holder

CONFIG_KEY = "agentcap"


def _holder(config: Optional[RunnableConfig], agent: Optional[str]) -> Optional[Holder]:
    found = ((config or {}).get("configurable") or {}).get(CONFIG_KEY)
    if isinstance(found, Holders):
        return found.get(agent) if agent else None
    if isinstance(found, Holder):
        return found
    return current_holder()


class GuardedTool(BaseTool):
    """A ``BaseTool`` that verifies each call before running ``inner`` with the verified
    arguments."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseTool
    verifier: Any
    agent: Optional[str] = None

    def _decide(self, config: Optional[RunnableConfig], kwargs: dict) -> Any:
        authorized, denial = _decide_or_denial(
            self.verifier, self.name, _holder(config, self.agent), kwargs
        )
        if denial is not None:
            raise ToolException(denial)
        return authorized

    # `run`/`arun`, never `invoke`: `invoke` would read verified arguments shaped like a tool
    # call (`{"type": "tool_call", "args": …}`) as a call with other, unverified arguments.
    def _run(self, config: RunnableConfig, run_manager: Any = None, **kwargs: Any) -> Any:
        authorized = self._decide(config, kwargs)
        return self.inner.run(authorized.args, config=config)

    async def _arun(self, config: RunnableConfig, run_manager: Any = None, **kwargs: Any) -> Any:
        authorized = await asyncio.to_thread(self._decide, config, kwargs)
        return await self.inner.arun(authorized.args, config=config)


def guard_tool(tool: BaseTool, verifier: Verifier, agent: Optional[str] = None) -> GuardedTool:
    """``tool``, guarded by ``verifier``; ``agent`` names the holder in a ``Holders``."""
    return GuardedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        inner=tool,
        verifier=verifier,
        agent=agent,
        handle_tool_error=True,
    )


def run_config(holders: Any, **configurable: Any) -> RunnableConfig:
    """A ``RunnableConfig`` carrying ``holders`` (a ``Holder`` or ``Holders``) for guarded tools."""
    return {"configurable": {CONFIG_KEY: holders, **configurable}}


__all__ = ["GuardedTool", "guard_tool", "run_config"]
