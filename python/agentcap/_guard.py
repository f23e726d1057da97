"""The holder side and the plain decorator.

A ``Holder`` is what one agent holds: its token and its key (and the labels and cause the
framework attaches to its calls). It lives in the framework's run context, never in the
model's: the model picks a tool and arguments; the guard signs and verifies that exact call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from ._agentcap import (
    AgentcapError,
    AgentKey,
    CallProof,
    Denied,
    Token,
    ToolCall,
    Verifier,
    message_digest,
    new_agent_id,
)


class Holder:
    """An agent's token and key (and the labels and cause the framework attaches to its calls).
    Immutable: a new cause makes a new holder. ``repr`` never shows the key."""

    __slots__ = ("_token", "_key", "_labels", "_cause", "_text")

    def __init__(
        self,
        token: Token,
        key: AgentKey,
        labels: Sequence[str] = (),
        cause: Optional[str] = None,
    ) -> None:
        self._token = token
        self._key = key
        self._labels = tuple(labels)
        self._cause = cause
        self._text = token.to_text()

    @property
    def token(self) -> Token:
        return self._token

    @property
    def key(self) -> AgentKey:
        return self._key

    @property
    def labels(self) -> tuple:
        return self._labels

    @property
    def cause(self) -> Optional[str]:
        return self._cause

    @property
    def token_text(self) -> str:
        return self._text

    def with_cause(self, cause: Optional[str]) -> "Holder":
        """The same holder, its calls caused by ``cause`` (a message digest)."""
        return Holder(self._token, self._key, self._labels, cause)

    def call(self, tool: str, args: dict) -> ToolCall:
        """The call, with this holder's labels and cause."""
        return ToolCall(tool, args, labels=list(self._labels) or None, cause=self._cause)

    def sign(self, executor: str, call: ToolCall) -> CallProof:
        """A fresh proof of ``call`` for ``executor``."""
        return CallProof.sign(self._key, self._token, executor, call)

    def __repr__(self) -> str:
        return f"Holder(token={self._token!r}, key={self._key!r})"


class Holders:
    """The holders of one multi-agent run, by agent name: what a framework's run context
    carries (LangGraph's ``configurable``, the OpenAI Agents SDK's run context). Handoffs
    delegate here, so the receiving agent gets a narrower token for its own key, with the
    handoff message as the cause. Make one per run: handoffs and received messages change
    which holder an agent name maps to."""

    def __init__(self, holders: Optional[dict] = None) -> None:
        self._holders: dict = dict(holders or {})

    def __getitem__(self, agent: str) -> Holder:
        return self._holders[agent]

    def get(self, agent: str) -> Optional[Holder]:
        return self._holders.get(agent)

    def __setitem__(self, agent: str, holder: Holder) -> None:
        self._holders[agent] = holder

    def __contains__(self, agent: object) -> bool:
        return agent in self._holders

    def hand_off(
        self,
        from_agent: str,
        to_agent: str,
        to_key: AgentKey,
        message: str,
        narrowing: Any = None,
        to_agent_id: Optional[str] = None,
    ) -> Holder:
        """``from_agent`` hands ``message`` to ``to_agent``: its token is delegated to
        ``to_key`` (optionally narrowed), caused by the digest of ``message``; the receiving
        agent's calls carry that cause and the sender's labels."""
        source = self._holders[from_agent]
        cause = message_digest(message.encode())
        token = source.token.delegate(
            source.key, to_key.public, to_agent_id or new_agent_id(), cause, narrowing
        )
        holder = Holder(token, to_key, labels=source.labels, cause=cause)
        self._holders[to_agent] = holder
        return holder

    def received(self, agent: str, message: str) -> Holder:
        """``agent`` acts on ``message`` (from another agent): its next calls name it as their
        cause, so they inherit its labels and hop count."""
        holder = self._holders[agent].with_cause(message_digest(message.encode()))
        self._holders[agent] = holder
        return holder

    def __repr__(self) -> str:
        return f"Holders({sorted(self._holders)})"


_CURRENT: contextvars.ContextVar[Optional[Holder]] = contextvars.ContextVar(
    "agentcap_holder", default=None
)


def current_holder() -> Optional[Holder]:
    """The holder set by the innermost ``holding(...)`` block, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def holding(holder: Holder) -> Iterator[Holder]:
    """Within this block (and the tasks it starts), guarded tools act for ``holder``."""
    token = _CURRENT.set(holder)
    try:
        yield holder
    finally:
        _CURRENT.reset(token)


HolderSource = Union[Holder, Callable[[], Optional[Holder]], None]


def _resolve(source: HolderSource) -> Optional[Holder]:
    if source is None:
        return current_holder()
    if isinstance(source, Holder):
        return source
    return source()


def _decide(verifier: Verifier, tool: str, holder: Optional[Holder], args: dict):
    if holder is None:
        # Denied like any call without a token (and an audit record).
        return verifier.verify_meta(tool, args, None)
    try:
        call = holder.call(tool, args)
    except AgentcapError:
        # Arguments without one JSON meaning (or a bad tool name): an audited denial.
        raise verifier.reject_malformed(tool, "arguments without one JSON meaning") from None
    proof = holder.sign(verifier.executor, call)
    return verifier.verify(holder.token_text, call, proof)


DENIED_TEXT = "agentcap: call denied (denied)"


def _decide_or_denial(verifier: Verifier, tool: str, holder: Optional[Holder], args: dict):
    """For framework guards that hand the model text: ``(authorized, None)``, or ``(None, the
    denial text)`` — the generic message and the class, nothing else."""
    try:
        return _decide(verifier, tool, holder, args), None
    except Denied as denied:
        return None, str(denied)
    except AgentcapError:
        return None, DENIED_TEXT


def _keywords(fn: Callable[..., Any], name: str, args: tuple, kwargs: dict) -> dict:
    """The call's arguments by name: positional ones bound to ``fn``'s parameters (a tool's
    arguments are a JSON object)."""
    if not args:
        return kwargs
    sig = inspect.signature(fn)
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
        raise TypeError(f"{name}: a guarded tool with *args or **kwargs takes keyword arguments only")
    return dict(sig.bind(*args, **kwargs).arguments)


def guard(
    verifier: Verifier,
    *,
    holder: HolderSource = None,
    tool: Optional[str] = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Guard a function tool: each call is signed by the holder (``holder``: a ``Holder``, a
    function returning one, or by default the one set by ``holding``) and verified by
    ``verifier`` before the body runs; the body receives exactly the verified arguments. A
    refused call raises ``Denied`` and the body never runs. Positional arguments are bound to
    the function's parameter names (a tool's arguments are a JSON object; a function with
    ``*args``/``**kwargs`` takes keywords only). Works for ``async def`` tools too
    (verification then runs in a worker thread)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = tool or fn.__name__

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                named = _keywords(fn, name, args, kwargs)
                h = _resolve(holder)
                authorized = await asyncio.to_thread(_decide, verifier, name, h, named)
                return await fn(**authorized.args)

            async_inner.agentcap_verifier = verifier  # type: ignore[attr-defined]
            return async_inner

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            authorized = _decide(verifier, name, _resolve(holder), _keywords(fn, name, args, kwargs))
            return fn(**authorized.args)

        inner.agentcap_verifier = verifier  # type: ignore[attr-defined]
        return inner

    return wrap


__all__ = ["Denied", "Holder", "Holders", "current_holder", "guard", "holding"]
