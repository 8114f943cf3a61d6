"""A stream the caller iterates: chunks pass through, and the decision is final at the end.

Fallback is allowed only before the first chunk reaches the caller: the router opens
the stream inside the executor and reads up to the first chunk with output (text or a
tool call). A stream that ends with no output at all (empty, or a body that was not
SSE) is a provider failure there, retried and then fallen back like any other. After
the first chunk reaches the caller, a failure raises `StreamInterrupted` carrying
what was delivered.

The stream settles exactly once — when it ends, fails, is closed (`close()`), or the
caller leaves the loop early — and `decision` then holds the usage and cost. The
usage is the provider's when it sent it (the router asks for it with
`stream_options.include_usage`), otherwise an estimate from the delivered text
(`decision.usage.source == "estimate"`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NoReturn

from router.accounting import usage_of
from router.errors import ProviderError, ProviderUnavailable, StreamInterrupted
from router.records import Decision, Usage

__all__ = ["AsyncStream", "Settle", "Stream", "aopen_head", "open_head"]

Chunk = dict[str, Any]

Settle = Callable[[Usage | None, str, bool], Decision]
"""(usage the provider reported or None, text delivered, interrupted) -> final decision."""


def _has_output(chunk: Chunk) -> bool:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or delta.get("function_call"):
            return True
        if delta.get("refusal"):
            return True
    return False


def _no_output(deployment: str) -> ProviderUnavailable:
    return ProviderUnavailable(deployment, "stream ended without output (empty or not SSE)")


def open_head(deployment: str, chunks: Iterator[Chunk]) -> tuple[list[Chunk], Iterator[Chunk]]:
    """The chunks up to and including the first with output, and the rest of the stream.
    Raises ProviderUnavailable (retry) when the stream ends with no output."""
    head: list[Chunk] = []
    for chunk in chunks:
        head.append(chunk)
        if _has_output(chunk):
            return head, chunks
    raise _no_output(deployment)


async def aopen_head(
    deployment: str, chunks: AsyncIterator[Chunk]
) -> tuple[list[Chunk], AsyncIterator[Chunk]]:
    """`open_head` for an async stream."""
    head: list[Chunk] = []
    async for chunk in chunks:
        head.append(chunk)
        if _has_output(chunk):
            return head, chunks
    raise _no_output(deployment)


class Stream:
    """Iterate for OpenAI chunk dicts; then read `text`, `usage` and `decision`."""

    def __init__(
        self,
        head: list[Chunk],
        rest: Iterator[Chunk],
        decision: Decision,
        settle: Settle | None = None,
    ) -> None:
        self._head = head
        self._rest = rest
        self.decision = decision
        self._settle = settle
        self.usage: dict[str, Any] | None = None
        self._parts: list[str] = []
        self.finished = False
        self.settled = False
        self.interrupted = False

    @property
    def text(self) -> str:
        """The content delivered so far."""
        return "".join(self._parts)

    def _take(self, chunk: dict[str, Any]) -> dict[str, Any]:
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                self._parts.append(content)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        return chunk

    def _done(self) -> None:
        """Settle usage and cost once, however the stream ended."""
        if self.settled:
            return
        self.settled = True
        if self._settle is not None:
            reported = usage_of({"usage": self.usage}) if self.usage else None
            self.decision = self._settle(reported, self.text, self.interrupted)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        served = self.decision.served_by or "?"
        try:
            while self._head:
                yield self._take(self._head.pop(0))
            for chunk in self._rest:
                yield self._take(chunk)
            self.finished = True
        except ProviderError as exc:
            self.interrupted = True
            raise StreamInterrupted(served, self.text, exc) from None
        finally:
            self._done()

    def close(self) -> None:
        """Stop early: the connection is closed and what was delivered is settled."""
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()
        self._done()


class AsyncStream(Stream):
    """`Stream` for `async for`: the same rules, on litellm's async client."""

    def __init__(
        self,
        head: list[Chunk],
        rest: AsyncIterator[Chunk],
        decision: Decision,
        settle: Settle | None = None,
    ) -> None:
        super().__init__(head, iter(()), decision, settle)
        self._arest = rest

    def __iter__(self) -> NoReturn:
        # A plain `for` would run `Stream.__iter__` over the chunks already received and
        # then settle that partial text as a complete answer (issue 16): refuse it.
        raise TypeError(
            "an AsyncStream (from Router.astream) is read with `async for chunk in stream`, "
            "not `for`; for a plain loop use Router.stream"
        )

    def close(self) -> NoReturn:
        raise TypeError("an AsyncStream is closed with `await stream.aclose()`, not close()")

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        served = self.decision.served_by or "?"
        try:
            while self._head:
                yield self._take(self._head.pop(0))
            async for chunk in self._arest:
                yield self._take(chunk)
            self.finished = True
        except ProviderError as exc:
            self.interrupted = True
            raise StreamInterrupted(served, self.text, exc) from None
        finally:
            self._done()

    async def aclose(self) -> None:
        """Stop early: the connection is closed and what was delivered is settled."""
        close = getattr(self._arest, "aclose", None)
        if close is not None:
            await close()
        self._done()
