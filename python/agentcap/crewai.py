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

from ._agentcap import AgentcapError, Denied, Verifier
from ._guard import HolderSource, _decide, _resolve

DENIED = "agentcap: call denied (denied)"


class GuardedTool(BaseTool):
    """A CrewAI tool that verifies each call before running ``inner``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: Any = Field(exclude=True)
    verifier: Any = Field(exclude=True)
    holder_source: Any = Field(default=None, exclude=True)

    def _run(self, **kwargs: Any) -> Any:
        try:
            authorized = _decide(self.verifier, self.name, _resolve(self.holder_source), kwargs)
        except Denied as denied:
            return str(denied)
        except AgentcapError:
            return DENIED
        return self.inner.run(**authorized.args)


def guard_tool(tool: BaseTool, verifier: Verifier, holder: HolderSource = None) -> GuardedTool:
    """``tool``, guarded by ``verifier``, acting for ``holder``."""
    return GuardedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        inner=tool,
        verifier=verifier,
        holder_source=holder,
    )


__all__ = ["GuardedTool", "guard_tool"]
