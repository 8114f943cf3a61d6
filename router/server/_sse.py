"""Server-Sent Events as OpenAI writes them, and a client that leaves cancelling the work.

OpenAI's stream is plain SSE with one field: `data: {compact JSON}\\n\\n` per chunk, then
`data: [DONE]\\n\\n`; an error after the stream began is one `data: {"error": {...}}`
event and no `[DONE]` (the SDKs raise it as an APIError). That is a dozen lines, so the
writer is ours rather than sse-starlette's: the bytes are exactly these (no `event:`,
`id:` or ping comments, no `\\r\\n`), and the disconnect handling below is what the
router's pipeline needs, not a generic task group. One addition: with `include_usage`,
the usage chunk of a stream that ended well carries its cost in an `x_router` object
(`cost_extension`), since its headers left before the cost was known.

A client that disconnects cancels what runs for it: `or_disconnect` races a coroutine
(`Router.acomplete`, or opening a stream) against the ASGI `http.disconnect` message, and
`EventStream` does the same for the chunks. The cancellation is asyncio's own, once, so
the pipeline's store work in flight finishes and the request is recorded (before an
answer: outcome "error", error "CancelledError"; a stream left after its first chunk
settles and charges what was delivered: outcome "interrupted", error "ClosedByCaller"),
and the upstream connection is closed by the backend's `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from router.errors import RouterError, StreamInterrupted
from router.server._errors import answer_for, plain
from router.server._openai import chunk, usage_chunk, usage_of

if TYPE_CHECKING:
    from router import AsyncStream, Decision

__all__ = [
    "DONE",
    "ClientGone",
    "EventStream",
    "cost_extension",
    "cost_fields",
    "event",
    "or_disconnect",
]

T = TypeVar("T")
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DONE = b"data: [DONE]\n\n"
_log = logging.getLogger("router.server")


def event(payload: Mapping[str, Any]) -> bytes:
    """One SSE event holding `payload` as compact JSON (JSON escapes every line break)."""
    return (
        b"data: "
        + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        + b"\n\n"
    )


def cost_fields(decision: Decision) -> dict[str, str]:
    """What the request cost, as the `x-router-cost-usd` (and, with a baseline,
    `x-router-saved-usd`) headers say it; empty before it is settled."""
    cost = decision.cost
    if cost is None:
        return {}
    fields = {"x-router-cost-usd": f"{cost.usd:.6f}"}
    if cost.saved_usd is not None:
        fields["x-router-saved-usd"] = f"{cost.saved_usd:.6f}"
    return fields


def cost_extension(decision: Decision) -> dict[str, float]:
    """A settled stream's cost, which its headers (sent first) could not hold, for the
    `include_usage` chunk's `x_router` object: {"cost_usd", "saved_usd" (with a
    baseline)}. An extra key in a chunk is what OpenAI's own additions look like to a
    client (the SDKs keep unknown keys; a hand-written parser reads the keys it knows);
    an SSE comment line was not: parsers written against OpenAI's streams, which never
    carry one, broke on it."""
    return {
        name.removeprefix("x-router-").replace("-", "_"): float(value)
        for name, value in cost_fields(decision).items()
    }


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def or_disconnect(work: Awaitable[T], receive: Receive) -> T:
    """`await work`, cancelled (and ClientGone raised) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request itself is cancelled (the server stops)
        await _cancelled(task, watch)
        raise
    if task.done():
        watch.cancel()
        return task.result()
    await _cancelled(task, watch)
    raise ClientGone


async def _cancelled(task: asyncio.Future[Any], watch: asyncio.Future[Any]) -> None:
    """Cancel the work and wait until it has recorded the request (see the docstring)."""
    watch.cancel()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


class EventStream:
    """An ASGI response streaming a Router stream as OpenAI's SSE (`include_usage`: the
    usage chunk before `[DONE]`). `done(outcome)` is called once at the end: "ok",
    "interrupted", "error" or "client gone"."""

    def __init__(
        self,
        stream: AsyncStream,
        *,
        headers: Mapping[str, str],
        model: str,
        include_usage: bool,
        done: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self.stream = stream
        self.headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),  # a proxy (nginx) must not hold chunks back
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
        ]
        self.model = model
        self.include_usage = include_usage
        self.done = done

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not pump.done():
                await _cancelled(pump, watch)
                self.done("client gone")
            watch.cancel()
        if not pump.cancelled() and pump.exception() is not None:  # the socket failed
            _log.warning("stream not delivered: %s", type(pump.exception()).__name__)

    async def _pump(self, send: Send) -> None:
        stream, last = self.stream, {}
        try:
            async for raw in stream:
                out = chunk(raw, self.model, self.include_usage)
                if out is not None:
                    last = out
                    await send(
                        {"type": "http.response.body", "body": event(out), "more_body": True}
                    )
            tail = b""
            if self.include_usage:
                u = stream.decision.usage
                counts = (u.prompt_tokens, u.completion_tokens) if u else (0, 0)
                final = usage_chunk(last, usage_of(stream.usage, counts))
                cost = cost_extension(stream.decision)
                if cost:
                    final["x_router"] = cost
                tail = event(final)
            await send({"type": "http.response.body", "body": tail + DONE, "more_body": False})
            self.done("ok")
        except StreamInterrupted as exc:
            await self._fail(send, answer_for(exc).body, "interrupted")
        except RouterError as exc:
            await self._fail(send, answer_for(exc).body, "error")
        except Exception as exc:  # never the message: it may carry what the model was sent
            _log.error("stream failed: %s", type(exc).__name__)
            await self._fail(send, plain(500, "internal error", "internal_error").body, "error")
        finally:
            await stream.aclose()  # settled once; closes the upstream when left early

    async def _fail(self, send: Send, body: Mapping[str, Any], outcome: str) -> None:
        await send({"type": "http.response.body", "body": event(body), "more_body": False})
        self.done(outcome)
