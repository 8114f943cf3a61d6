"""A stream the caller iterates: chunks pass through, and the decision is final at the end.

Fallback is allowed only before the first chunk reaches the caller (the router opens
the stream and reads its first chunk inside the executor). After that, a failure
raises `StreamInterrupted` carrying what was delivered. The usage the provider
reports in its last chunk is kept, also when the caller stops early (`close()`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from router.errors import ProviderError, StreamInterrupted
from router.models import Decision

__all__ = ["AsyncStream", "Stream"]


class Stream:
    """Iterate for OpenAI chunk dicts; then read `text`, `usage` and `decision`."""

    def __init__(
        self, first: dict[str, Any], rest: Iterator[dict[str, Any]], decision: Decision
    ) -> None:
        self._first: dict[str, Any] | None = first
        self._rest = rest
        self.decision = decision
        self.usage: dict[str, Any] | None = None
        self._parts: list[str] = []
        self.finished = False

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

    def __iter__(self) -> Iterator[dict[str, Any]]:
        served = self.decision.served_by or "?"
        try:
            if self._first is not None:
                first, self._first = self._first, None
                yield self._take(first)
            for chunk in self._rest:
                yield self._take(chunk)
            self.finished = True
        except ProviderError as exc:
            raise StreamInterrupted(served, self.text, exc) from None

    def close(self) -> None:
        """Stop early: the connection is closed and what was delivered stays recorded."""
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()


class AsyncStream(Stream):
    """`Stream` for `async for`: the same rules, on litellm's async client."""

    def __init__(
        self, first: dict[str, Any], rest: AsyncIterator[dict[str, Any]], decision: Decision
    ) -> None:
        super().__init__(first, iter(()), decision)
        self._arest = rest

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        served = self.decision.served_by or "?"
        try:
            if self._first is not None:
                first, self._first = self._first, None
                yield self._take(first)
            async for chunk in self._arest:
                yield self._take(chunk)
            self.finished = True
        except ProviderError as exc:
            raise StreamInterrupted(served, self.text, exc) from None

    async def aclose(self) -> None:
        """Stop early: the connection is closed and what was delivered stays recorded."""
        close = getattr(self._arest, "aclose", None)
        if close is not None:
            await close()
