"""What the serving and money layers call: the request being watched, if any.

A request is watched (metrics, spans) when its Router observes: `Router.complete` and
the other entry points then drive the pipeline's op through `bound(op, watch)`, which
makes `watch` current (`current()`) only while the op's own code runs, one step at a
time, and never across a `yield`. So a hook deep inside an op (`Books._record`, the
cascade's verification) finds its request's watch on both drivers: the blocking one
(the op runs in the caller's thread) and the async one (it runs in the caller's task,
interleaved with others at every yield), and also inside `Gather`'s sub-ops, which
`bound` binds in turn. Nothing relies on a context variable surviving a `yield`: it is
set and reset around each `send`/`throw`.

`bound` also sees every effect the op yields: it times the provider calls (`Complete`,
`OpenStream`) and the retry waits (`Sleep`), and tells the watch, which opens and ends a
span per call and works out the router's own overhead.

When nothing observes, `current()` returns `NOOP`, whose hooks do nothing, and no op is
wrapped: the cost is one context-variable read per hook.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from router._effects import Complete, Gather, Sleep

if TYPE_CHECKING:
    from router._effects import Effect, Op
    from router._records import Decision, Verification

__all__ = ["NOOP", "Call", "Verifying", "Watch", "bound", "current"]


class Verifying:
    """The cascade's verification of a free answer, as it happens (a span when tracing)."""

    __slots__ = ()

    def done(self, record: Verification) -> None:
        """The verdict is in: `record` holds the score, checks and samples."""


class Call:
    """One provider call the watch was told about (a span when tracing)."""

    __slots__ = ()


class Watch:
    """The hooks of one request. This base class is the no-op: every hook does nothing."""

    __slots__ = ()

    def recorded(self, decision: Decision, outcome: str, error: str | None = None) -> None:
        """The request's ledger record is being written (`Books._record`): its final
        decision, outcome ("ok", "interrupted", "error", "unservable") and error column."""

    def verifying(self, first: str) -> Verifying:
        """The cascade starts verifying the free answer of deployment `first`."""
        return _VERIFYING

    def call_started(self, effect: Complete, nested: bool) -> Call | None:
        """A provider call goes out (`nested`: inside a `Gather`, e.g. a cascade sample)."""
        return None

    def entered(self, call: Call | None) -> object:
        """The call goes out now: make it the current span (a token for `left`), so that
        what runs for it (an instrumented HTTP client, a propagator's headers) nests
        under it."""
        return None

    def left(self, token: object) -> None:
        """The call is back: undo `entered`."""

    def call_ended(
        self,
        call: Call | None,
        effect: Complete,
        seconds: float,
        *,
        result: Any,
        error: BaseException | None,
        nested: bool,
    ) -> None:
        """The call answered (`result`) or failed (`error`) after `seconds`."""

    def waited(self, seconds: float, nested: bool) -> None:
        """A retry backoff (or a Gather of calls, for a nested-free parent) took `seconds`."""

    def gathered(self, seconds: float) -> None:
        """A `Gather` of ops (the cascade's samples) took `seconds` of wall time."""


NOOP = Watch()
"""What `current()` gives when no request is watched."""
_VERIFYING = Verifying()

_CURRENT: ContextVar[Watch] = ContextVar("router_observe_watch", default=NOOP)


def current() -> Watch:
    """The watch of the request whose op is running now, or `NOOP`."""
    return _CURRENT.get()


def bound(op: Op[Any], watch: Watch, nested: bool = False) -> Op[Any]:
    """Drive `op`, yielding its effects unchanged (a `Gather`'s ops bound in turn), with
    `watch` current while the op's code runs and told about its calls and waits."""
    value: Any = None
    error: BaseException | None = None
    clock = time.perf_counter
    while True:
        token = _CURRENT.set(watch)
        try:
            effect: Effect = op.send(value) if error is None else op.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            _CURRENT.reset(token)
        value, error = None, None
        if isinstance(effect, Complete):  # a completion, or a stream's head (OpenStream)
            call = watch.call_started(effect, nested)
            entered = watch.entered(call)
            started = clock()
            try:
                value = yield effect
            except GeneratorExit:
                watch.left(entered)
                _close(op, watch)
                raise
            except BaseException as exc:
                error = exc
            seconds = clock() - started
            watch.left(entered)
            watch.call_ended(call, effect, seconds, result=value, error=error, nested=nested)
            continue
        if isinstance(effect, Gather):
            effect = Gather(tuple(bound(sub, watch, True) for sub in effect.ops))
        started = clock()
        try:
            value = yield effect
        except GeneratorExit:
            _close(op, watch)
            raise
        except BaseException as exc:
            error = exc
        if isinstance(effect, Sleep):
            watch.waited(clock() - started, nested)
        elif isinstance(effect, Gather):
            watch.gathered(clock() - started)


def _close(op: Op[Any], watch: Watch) -> None:
    """The driver left the op mid-way: close it too, its `finally` clauses with the watch."""
    token = _CURRENT.set(watch)
    try:
        op.close()
    finally:
        _CURRENT.reset(token)
