"""Effects: the request logic asks for I/O; two drivers do it, one blocking, one async.

Every step of serving a request (plan, hold, cache probe, the attempt loop, verdict,
settle, record) is written once, as a generator (an *op*) that yields effects and gets
their results sent back:

    def fetch(d: Deployment, params: dict, left: float) -> Op[dict]:
        response = yield Complete(backend, d, params, left)
        return response

`run(op)` drives an op in the calling thread: a backend's blocking methods, `time.sleep`,
file and database work inline. `await arun(op)` drives the same op on the event loop:
the backend's coroutines, `asyncio.sleep`, `Blocking` work in a worker thread, `Port`
requests through their async side (Redis's asyncio client), `Gather` concurrently. An
op that needs no I/O yields nothing and both drivers return its value at once.

Why generators (and not two copies, or an async core with a sync shell): the logic
cannot drift between sync and async because there is one copy; the sync path starts no
event loop and no thread; an effect is a plain value, so a test can drive an op by hand.
An exception raised by an effect is thrown into the op at the `yield`, so `try` around
a `yield` catches a provider's error exactly as it would around a call.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from router._models import Deployment
    from router.serving import Backend

__all__ = [
    "WAITS",
    "Blocking",
    "Complete",
    "Effect",
    "Gather",
    "Op",
    "OpenStream",
    "Port",
    "PortHandler",
    "Sleep",
    "arun",
    "blocking",
    "done",
    "run",
]

T = TypeVar("T")

Chunk = dict[str, Any]
Head = tuple[list[Chunk], Iterator[Chunk] | AsyncIterator[Chunk]]


class _Waits:
    """Whether retry waits (`Sleep`) really sleep. `router.testing.no_retry_waits()` turns
    them off for a test, as stamina's testing mode does; nothing else should."""

    enabled: bool = True


WAITS = _Waits()


@dataclass(frozen=True, slots=True)
class Complete:
    """One completion from one deployment: `backend.complete` / `await backend.acomplete`."""

    backend: Backend
    deployment: Deployment
    params: dict[str, Any]
    timeout: float


@dataclass(frozen=True, slots=True)
class OpenStream(Complete):
    """Open a stream and read up to its first chunk with output: `(head, rest)`, where
    `rest` is an iterator (sync driver) or an async iterator (async driver)."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait (a retry's backoff)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Blocking:
    """File or database work (SQLite, diskcache, a lock): `fn()` inline when blocking, in a
    worker thread on the event loop."""

    fn: Callable[[], Any]


class PortHandler(Protocol):
    """Something with its own blocking and async client (Redis): one request, two ways."""

    def run(self, request: Any) -> Any: ...

    async def arun(self, request: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Port:
    """A request to a `PortHandler`: `handler.run(request)` / `await handler.arun(request)`."""

    handler: PortHandler
    request: Any


@dataclass(frozen=True, slots=True)
class Gather:
    """Several ops; their results in order. Blocking: one after another; async: at once."""

    ops: tuple[Op[Any], ...]


Effect = Complete | OpenStream | Sleep | Blocking | Port | Gather
Op = Generator[Effect, Any, T]


def done(value: T) -> Op[T]:
    """An op that needs no I/O: both drivers return `value` at once."""
    yield from ()
    return value


def blocking(fn: Callable[[], T]) -> Op[T]:
    """An op of one `Blocking` effect (a store without ops of its own)."""
    result: T = yield Blocking(fn)
    return result


class _Step:
    """Advances an op by one effect: what both drivers share."""

    __slots__ = ("effect", "error", "op", "value")

    def __init__(self, op: Op[Any]) -> None:
        self.op = op
        self.value: Any = None
        self.error: BaseException | None = None
        self.effect: Effect | None = None
        self.send(None)

    def send(self, value: Any) -> None:
        try:
            self.effect = self.op.send(value)
        except StopIteration as stop:
            self.effect, self.value = None, stop.value
        except BaseException as exc:  # the op's own outcome: re-raised by result()
            self.effect, self.error = None, exc

    def throw(self, exc: BaseException) -> None:
        try:
            self.effect = self.op.throw(exc)
        except StopIteration as stop:
            self.effect, self.value = None, stop.value
        except BaseException as raised:
            self.effect, self.error = None, raised

    def result(self) -> Any:
        error, self.error = self.error, None
        if error is not None:
            raise error
        return self.value


def run(op: Op[T]) -> T:
    """Drive `op` to its end in this thread (blocking I/O)."""
    step = _Step(op)
    while (effect := step.effect) is not None:
        try:
            step.send(_SYNC[type(effect)](effect))
        except BaseException as exc:  # thrown into the op where it yielded
            step.throw(exc)
    result: T = step.result()
    return result


async def arun(op: Op[T]) -> T:
    """Drive `op` to its end on the running event loop (nothing blocks it).

    Store work (`Blocking`, `Port`) runs to its end once started: a cancellation that
    arrives meanwhile (a caller's `wait_for`, a client that went away) waits for it, and
    is raised in the op at its next call or sleep instead, where the op records the
    request and releases its budget hold. (A hold taken in a thread whose await was
    cancelled would otherwise stay held, and the request unrecorded.) An op that has no
    call or sleep left (it is writing the record of an answer already paid for) ends as
    it would have, and the cancellation is requested again: it is raised at the
    caller's next `await`, as it was before the store work went off the loop.
    """
    step = _Step(op)
    deferred: BaseException | None = None
    while (effect := step.effect) is not None:
        kind = type(effect)
        if kind in _STORE:
            value, error, cancelled = await _to_the_end(_start(effect))
            deferred = deferred or cancelled
            if error is None:
                step.send(value)
            else:
                step.throw(error)
        elif deferred is not None:  # the caller's cancellation, where the op records it
            late, deferred = deferred, None
            step.throw(late)
        else:
            try:
                step.send(await _ASYNC[kind](effect))
            except BaseException as exc:  # thrown into the op where it yielded
                step.throw(exc)
    if deferred is not None:
        _cancel_again(deferred)
    result: T = step.result()
    return result


def _cancel_again(cancelled: BaseException) -> None:
    """Request the current task's cancellation again (once: the count is kept)."""
    import asyncio  # noqa: PLC0415

    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
        task.cancel(*cancelled.args[:1])


def _start(effect: Effect) -> Any:
    """A store effect's work, started now: a future of its result."""
    import asyncio  # noqa: PLC0415
    import contextvars  # noqa: PLC0415

    if isinstance(effect, Blocking):
        run_in = contextvars.copy_context().run  # the request's notes go with it
        return asyncio.get_running_loop().run_in_executor(None, run_in, effect.fn)
    assert isinstance(effect, Port)
    return asyncio.ensure_future(effect.handler.arun(effect.request))


async def _to_the_end(work: Any) -> tuple[Any, BaseException | None, BaseException | None]:
    """(result, its error, a cancellation of ours that arrived while it ran)."""
    import asyncio  # noqa: PLC0415

    cancelled: BaseException | None = None
    while True:
        try:
            return await asyncio.shield(work), None, cancelled
        except asyncio.CancelledError as exc:
            if not work.done():  # we were cancelled, not the work: wait for it
                cancelled = exc
                continue
            if work.cancelled():
                raise
            failure = work.exception()  # it ended just as we were cancelled
            return (None, failure, exc) if failure else (work.result(), None, exc)
        except BaseException as exc:  # the work's own failure
            return None, exc, cancelled


# -- the blocking driver's effects -------------------------------------------------


def _complete(e: Complete) -> Any:
    return e.backend.complete(e.deployment, e.params, e.timeout)


def _open_stream(e: OpenStream) -> Head:
    from router.serving import open_head  # noqa: PLC0415  (no import cycle)

    return open_head(e.deployment.name, e.backend.stream(e.deployment, e.params, e.timeout))


def _sleep(e: Sleep) -> None:
    if WAITS.enabled and e.seconds > 0:
        time.sleep(e.seconds)


def _blocking(e: Blocking) -> Any:
    return e.fn()


def _port(e: Port) -> Any:
    return e.handler.run(e.request)


def _gather(e: Gather) -> list[Any]:
    return [run(op) for op in e.ops]


_SYNC: dict[type, Callable[[Any], Any]] = {
    Complete: _complete,
    OpenStream: _open_stream,
    Sleep: _sleep,
    Blocking: _blocking,
    Port: _port,
    Gather: _gather,
}


# -- the async driver's effects ----------------------------------------------------


async def _acomplete(e: Complete) -> Any:
    return await e.backend.acomplete(e.deployment, e.params, e.timeout)


async def _aopen_stream(e: OpenStream) -> Head:
    import asyncio  # noqa: PLC0415  (loaded already when a coroutine runs)

    from router.serving import aopen_head, timeout_error  # noqa: PLC0415

    d = e.deployment
    try:
        async with asyncio.timeout(e.timeout):  # the exact deadline (see client_timeout)
            return await aopen_head(d.name, e.backend.astream(d, e.params, e.timeout))
    except TimeoutError:
        raise timeout_error(d, e.timeout) from None


async def _asleep(e: Sleep) -> None:
    import asyncio  # noqa: PLC0415

    if WAITS.enabled and e.seconds > 0:
        await asyncio.sleep(e.seconds)


async def _agather(e: Gather) -> list[Any]:
    import asyncio  # noqa: PLC0415

    return list(await asyncio.gather(*(arun(op) for op in e.ops)))


_STORE = frozenset({Blocking, Port})
"""Effects that touch stores: never abandoned half-way on the event loop."""

_ASYNC: dict[type, Callable[[Any], Any]] = {
    Complete: _acomplete,
    OpenStream: _aopen_stream,
    Sleep: _asleep,
    Gather: _agather,
}
