"""The two drivers of router._effects: one op, run blocking or on the event loop.

The request path is written once as ops; these tests pin what each driver does with
each effect, that an effect's exception reaches the op at its `yield`, and that the
async driver keeps the event loop free (work in threads, samples at once)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from factories import deployment, max_gap_while

from router._effects import (
    WAITS,
    Blocking,
    Complete,
    Gather,
    Op,
    OpenStream,
    Port,
    Sleep,
    arun,
    blocking,
    done,
    run,
)
from router._models import Deployment
from router.errors import ProviderUnavailable, RateLimited

D = deployment("d")


class Backend:
    """Answers by name, or raises the error it was given for that deployment."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.calls: list[str] = []

    def _answer(self, how: str) -> dict[str, Any]:
        self.calls.append(how)
        if self.fail is not None:
            raise self.fail
        return {"how": how}

    def complete(self, d: Deployment, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self._answer("sync")

    async def acomplete(
        self, d: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        await asyncio.sleep(0)
        return self._answer("async")

    def stream(self, d: Deployment, params: dict[str, Any], timeout: float) -> Iterator[Any]:
        yield {"choices": [{"delta": {"content": "a"}}]}
        yield {"choices": [{"delta": {"content": "b"}}]}

    async def astream(
        self, d: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[Any]:
        yield {"choices": [{"delta": {"content": "a"}}]}
        yield {"choices": [{"delta": {"content": "b"}}]}


def fetch(backend: Backend) -> Op[str]:
    response = yield Complete(backend, D, {}, 1.0)
    return str(response["how"])


def test_one_op_runs_blocking_and_async() -> None:
    backend = Backend()
    assert run(fetch(backend)) == "sync"
    assert asyncio.run(arun(fetch(backend))) == "async"
    assert backend.calls == ["sync", "async"]


def test_an_effects_error_is_raised_in_the_op_where_it_yielded() -> None:
    def guarded(backend: Backend) -> Op[str]:
        try:
            return (yield from fetch(backend))
        except RateLimited as exc:
            return f"caught {exc.deployment}"

    backend = Backend(fail=RateLimited("d", "rate limited"))
    assert run(guarded(backend)) == "caught d"
    assert asyncio.run(arun(guarded(backend))) == "caught d"
    with pytest.raises(RateLimited):  # not caught by the op: leaves the driver
        run(fetch(backend))
    with pytest.raises(RateLimited):
        asyncio.run(arun(fetch(backend)))


def test_an_op_without_effects_returns_at_once() -> None:
    assert run(done(3)) == 3
    assert asyncio.run(arun(done(4))) == 4


def test_blocking_work_runs_inline_or_in_a_worker_thread() -> None:
    caller = threading.get_ident()

    def where() -> int:
        return threading.get_ident()

    assert run(blocking(where)) == caller

    async def main() -> tuple[int, int]:
        return threading.get_ident(), await arun(blocking(where))

    loop_thread, worker = asyncio.run(main())
    assert worker != loop_thread


def test_async_blocking_work_leaves_the_event_loop_free() -> None:
    """A 0.3 s blocking call (a busy SQLite file, a slow disk) while a 5 ms ticker runs:
    the ticker keeps ticking (on the blocking driver it would stall 0.3 s)."""

    _, gap = asyncio.run(max_gap_while(arun(blocking(lambda: time.sleep(0.3)))))
    assert gap < 0.15


def test_gather_is_concurrent_on_the_loop_and_in_order_when_blocking() -> None:
    order: list[str] = []

    def sample(name: str, seconds: float) -> Op[str]:
        yield Sleep(seconds)
        order.append(name)
        return name

    def both() -> Op[list[str]]:
        got: list[str] = yield Gather((sample("slow", 0.2), sample("fast", 0.05)))
        return got

    started = time.perf_counter()
    assert asyncio.run(arun(both())) == ["slow", "fast"]  # results in the order asked
    assert order == ["fast", "slow"]  # but run at once: the fast one finished first
    assert time.perf_counter() - started < 0.24  # not 0.25 one after the other
    order.clear()
    assert run(both()) == ["slow", "fast"]
    assert order == ["slow", "fast"]


def test_no_retry_waits_switch_skips_sleeps_in_both_drivers() -> None:
    def wait() -> Op[str]:
        yield Sleep(5.0)
        return "woke"

    WAITS.enabled = False
    try:
        started = time.perf_counter()
        assert run(wait()) == "woke"
        assert asyncio.run(arun(wait())) == "woke"
        assert time.perf_counter() - started < 1.0
    finally:
        WAITS.enabled = True


def test_a_port_request_goes_to_the_blocking_or_the_async_side() -> None:
    class Handler:
        def run(self, request: Any) -> str:
            return f"blocking {request}"

        async def arun(self, request: Any) -> str:
            return f"async {request}"

    def ask() -> Op[str]:
        answer: str = yield Port(Handler(), "ping")
        return answer

    assert run(ask()) == "blocking ping"
    assert asyncio.run(arun(ask())) == "async ping"


def test_open_stream_reads_up_to_the_first_output_on_both_sides() -> None:
    def opened(backend: Backend) -> Op[Any]:
        head = yield OpenStream(backend, D, {}, 1.0)
        return head

    head, rest = run(opened(Backend()))
    assert [c["choices"][0]["delta"]["content"] for c in [*head, *rest]] == ["a", "b"]

    async def main() -> list[str]:
        head, rest = await arun(opened(Backend()))
        return [c["choices"][0]["delta"]["content"] for c in head] + [
            c["choices"][0]["delta"]["content"] async for c in rest
        ]

    assert asyncio.run(main()) == ["a", "b"]


def test_a_cancelled_coroutine_lets_the_op_clean_up() -> None:
    """Cancelling the task (a client that went away) is thrown into the op, which may
    still record what happened (an effect after the cancellation) before it ends."""
    recorded: list[str] = []

    def op() -> Op[None]:
        try:
            yield Sleep(5.0)
        except asyncio.CancelledError:
            yield Blocking(lambda: recorded.append("cancelled"))
            raise

    async def main() -> None:
        task = asyncio.create_task(arun(op()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert recorded == ["cancelled"]


def test_a_provider_error_from_a_stream_that_never_answers() -> None:
    class Empty(Backend):
        def stream(self, d: Deployment, params: dict[str, Any], timeout: float) -> Iterator[Any]:
            yield {"choices": [{"delta": {}}]}

    def opened() -> Op[Any]:
        head = yield OpenStream(Empty(), D, {}, 1.0)
        return head

    with pytest.raises(ProviderUnavailable, match="without output"):
        run(opened())
