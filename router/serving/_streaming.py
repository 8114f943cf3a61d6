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

Its record says how it ended (`Settle`'s `cut`): read to its end, outcome "ok"; cut
before its end, outcome "interrupted", with the error column naming the cut: the
provider's failure ("StreamInterrupted"), the caller (`CLOSED_BY_CALLER`: `close()` /
`aclose()`, a loop left early, the reading task cancelled, e.g. by a server whose
client disconnected), or another exception's class name. Either way what was delivered
is charged to the budgets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NoReturn

from router._effects import Op, arun, done, run
from router._records import CLOSED_BY_CALLER, Decision, Usage
from router.errors import ProviderError, ProviderUnavailable, StreamInterrupted
from router.money import usage_of

__all__ = [
    "CLOSED_BY_CALLER",
    "INTERRUPTED",
    "AsyncStream",
    "Settle",
    "Stream",
    "aopen_head",
    "open_head",
]

Chunk = dict[str, Any]

Settle = Callable[[Usage | None, str, str | None], "Op[Decision]"]
"""(usage the provider reported or None, text delivered, what cut the stream before its
end or None) -> an op that records the request and gives the final decision
(router._effects)."""

INTERRUPTED = "StreamInterrupted"
"""The cut of a stream the provider broke after its first chunk."""


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


class _Head:
    """The chunks of a stream up to and including the first with output."""

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment
        self.chunks: list[Chunk] = []

    def full(self, chunk: Chunk) -> bool:
        """Take `chunk`; True once the head holds output."""
        self.chunks.append(chunk)
        return _has_output(chunk)

    def empty(self) -> ProviderUnavailable:
        """The stream ended with no output: a provider failure (retried, then fallen back)."""
        return _no_output(self.deployment)


def open_head(deployment: str, chunks: Iterator[Chunk]) -> tuple[list[Chunk], Iterator[Chunk]]:
    """The chunks up to and including the first with output, and the rest of the stream.
    Raises ProviderUnavailable (retry) when the stream ends with no output."""
    head = _Head(deployment)
    if any(head.full(chunk) for chunk in chunks):
        return head.chunks, chunks
    raise head.empty()


async def aopen_head(
    deployment: str, chunks: AsyncIterator[Chunk]
) -> tuple[list[Chunk], AsyncIterator[Chunk]]:
    """`open_head` for an async stream."""
    head = _Head(deployment)
    async for chunk in chunks:
        if head.full(chunk):
            return head.chunks, chunks
    raise head.empty()


class Stream:
    """Iterate for OpenAI chunk dicts; then read `text`, `usage` and `decision`."""

    def __init__(
        self,
        head: list[Chunk],
        rest: Iterator[Chunk] | AsyncIterator[Chunk] | None,
        decision: Decision,
        settle: Settle | None = None,
    ) -> None:
        self._head = head
        self._rest: Any = rest  # an Iterator (Stream) or an AsyncIterator (AsyncStream)
        self.decision = decision
        self._settle = settle
        self.usage: dict[str, Any] | None = None
        self._parts: list[str] = []
        self.finished = False
        self.settled = False
        """True once `decision` holds the final usage, cost and record."""
        self._settling_started = False
        self._cut: str | None = None  # what ended the stream before its end, if anything

    @property
    def interrupted(self) -> bool:
        """True when the provider broke the stream after its first chunk."""
        return self._cut == INTERRUPTED

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

    def _taken_head(self) -> Iterator[dict[str, Any]]:
        while self._head:
            yield self._take(self._head.pop(0))

    def _broke(self, exc: ProviderError) -> StreamInterrupted:
        self._cut = self._cut or INTERRUPTED
        return StreamInterrupted(self.decision.served_by or "?", self.text, exc)

    def _left(self, exc: BaseException) -> None:
        """The stream stopped before its end, not by the provider's failure: the caller
        left (GeneratorExit: the loop was left or the iterator closed; CancelledError:
        the reading task was cancelled; KeyboardInterrupt...), or another exception."""
        cut = CLOSED_BY_CALLER if not isinstance(exc, Exception) else type(exc).__name__
        self._cut = self._cut or cut

    def _closing(self) -> None:
        """`close()` / `aclose()`: before the end, the caller cut the stream."""
        if not self.finished:
            self._cut = self._cut or CLOSED_BY_CALLER

    def _settling(self) -> Op[Decision]:
        """Settle usage and cost once, however the stream ended (an op: the record)."""
        if self._settling_started or self._settle is None:
            return done(self.decision)
        self._settling_started = True
        reported = usage_of({"usage": self.usage}) if self.usage else None
        return self._settle(reported, self.text, None if self.finished else self._cut)

    def _settled(self, decision: Decision) -> None:
        self.decision, self.settled = decision, True

    def _done(self) -> None:
        self._settled(run(self._settling()))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            yield from self._taken_head()
            yield from map(self._take, self._rest or ())
            self.finished = True
        except ProviderError as exc:
            raise self._broke(exc) from None
        except BaseException as exc:
            self._left(exc)
            raise
        finally:
            if not self.finished:  # left early (a loop's `break`): let go of the upstream
                self._close_rest()
            self._done()

    def _close_rest(self) -> None:
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        """Stop early: the connection is closed and what was delivered is settled (and
        recorded as cut by the caller, `CLOSED_BY_CALLER`, unless the stream had ended)."""
        self._closing()
        self._close_rest()
        self._done()


class AsyncStream(Stream):
    """`Stream` for `async for`: the same rules; the record is written off the loop."""

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
        try:
            for chunk in self._taken_head():
                yield chunk
            if self._rest is not None:
                async for chunk in self._rest:
                    yield self._take(chunk)
            self.finished = True
        except ProviderError as exc:
            raise self._broke(exc) from None
        except BaseException as exc:
            self._left(exc)
            raise
        finally:
            if not self.finished:  # left early (cancelled, or closed): let go of the upstream
                await self._aclose_rest()
            self._settled(await arun(self._settling()))

    async def _aclose_rest(self) -> None:
        close = getattr(self._rest, "aclose", None)
        if close is not None:
            await close()

    async def aclose(self) -> None:
        """Stop early: the connection is closed and what was delivered is settled (and
        recorded as cut by the caller, `CLOSED_BY_CALLER`, unless the stream had ended)."""
        self._closing()
        await self._aclose_rest()
        self._settled(await arun(self._settling()))
