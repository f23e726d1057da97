"""CrewAI: ``guard_tool(tool, verifier, holder=...)`` wraps any CrewAI ``BaseTool`` so that
every run — ``tool.run(...)`` and the structured tool a CrewAI agent's tool usage invokes — is
signed by the agent's holder and verified before the inner tool runs with the verified
arguments. A refused call returns the generic denial text with its class (what the agent's
model sees); the inner tool never runs.

CrewAI gives a tool no run context, so the holder is bound where the tool is given to an agent
(one guarded tool object per agent: ``holder=Holder(token, key)``), or comes from a function, or
from ``holding(...)``.
"""

from __future__ import annotations

from typing import Any

from crewai.tools import BaseTool
from pydantic import ConfigDict, Field

from ._agentcap import Verifier
from ._guard import HolderSource, _decide_or_denial, _resolve


class GuardedTool(BaseTool):
    """A CrewAI tool that verifies each call before running ``inner``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: Any = Field(exclude=True)
    verifier: Any = Field(exclude=True)
    holder_source: Any = Field(default=None, exclude=True)
    verified_name: str = Field(default="", exclude=True)

    def _run(self, **kwargs: Any) -> Any:
        name = self.verified_name or self.name
        authorized, denial = _decide_or_denial(
            self.verifier, name, _resolve(self.holder_source), kwargs
        )
        if denial is not None:
            return denial
        return self.inner.run(**authorized.args)


def _never(*_args: Any, **_kwargs: Any) -> bool:
    return False


def guard_tool(
    tool: BaseTool, verifier: Verifier, holder: HolderSource = None, name: str = ""
) -> GuardedTool:
    """``tool``, guarded by ``verifier``, acting for ``holder``. ``name`` is the tool name the
    grant uses, when CrewAI's (``"Read File"``) is not a valid agentcap tool name. Its results
    are never cached: CrewAI's shared cache would hand one agent's result to another without a
    decision."""
    return GuardedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        inner=tool,
        verifier=verifier,
        holder_source=holder,
        verified_name=name,
        cache_function=_never,
    )


__all__ = ["GuardedTool", "guard_tool"]
