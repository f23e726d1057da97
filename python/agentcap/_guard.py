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

from ._agentcap import AgentKey, CallProof, Denied, Token, ToolCall, Verifier


class Holder:
    """An agent's token and key. ``repr`` never shows the key."""

    __slots__ = ("token", "key", "labels", "cause", "_text")

    def __init__(
        self,
        token: Token,
        key: AgentKey,
        labels: Sequence[str] = (),
        cause: Optional[str] = None,
    ) -> None:
        self.token = token
        self.key = key
        self.labels = list(labels)
        self.cause = cause
        self._text = token.to_text()

    @property
    def token_text(self) -> str:
        return self._text

    def call(self, tool: str, args: dict) -> ToolCall:
        """The call, with this holder's labels and cause."""
        return ToolCall(tool, args, labels=self.labels or None, cause=self.cause)

    def sign(self, executor: str, call: ToolCall) -> CallProof:
        """A fresh proof of ``call`` for ``executor``."""
        return CallProof.sign(self.key, self.token, executor, call)

    def __repr__(self) -> str:
        return f"Holder(token={self.token!r}, key={self.key!r})"


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
    call = holder.call(tool, args)
    proof = holder.sign(verifier.executor, call)
    return verifier.verify(holder.token_text, call, proof)


def guard(
    verifier: Verifier,
    *,
    holder: HolderSource = None,
    tool: Optional[str] = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Guard a function tool: each call is signed by the holder (``holder``: a ``Holder``, a
    function returning one, or by default the one set by ``holding``) and verified by
    ``verifier`` before the body runs; the body receives exactly the verified arguments. A
    refused call raises ``Denied`` and the body never runs. Arguments are keyword arguments
    (a tool's arguments are a JSON object). Works for ``async def`` tools too (verification
    then runs in a worker thread)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = tool or fn.__name__

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                if args:
                    raise TypeError(f"{name}: a guarded tool takes keyword arguments only")
                h = _resolve(holder)
                authorized = await asyncio.to_thread(_decide, verifier, name, h, kwargs)
                return await fn(**authorized.args)

            async_inner.agentcap_verifier = verifier  # type: ignore[attr-defined]
            return async_inner

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if args:
                raise TypeError(f"{name}: a guarded tool takes keyword arguments only")
            authorized = _decide(verifier, name, _resolve(holder), kwargs)
            return fn(**authorized.args)

        inner.agentcap_verifier = verifier  # type: ignore[attr-defined]
        return inner

    return wrap


__all__ = ["Denied", "Holder", "current_holder", "guard", "holding"]
