"""The stores on the event loop: Redis through its asyncio client, the ledger through its
writer thread (issue 16, point 2: async never blocks the loop).

- Redis 20 ms away (a TCP proxy that holds each reply): `arun` of the cooldown, budget
  and cache ops leaves a 1 ms ticker running (no gap near 20 ms) while the op takes 20 ms
  or more; `run` of the same op on the loop stalls the ticker (the control), and the two
  drivers give the same answers. NOSCRIPT, the breaker and the notes on both clients.
- The ledger: concurrent `arun(write_op)`s all land, in fewer transactions than rows; a
  process killed right after its awaits returned has every one of those rows; one bad row
  fails only its own writer; concurrent holds never go over the limit.
- One Router with Redis state, from two `asyncio.run`s in turn and from two threads at
  once: no client is left bound to a closed loop.

`python tests/test_async_stores.py ledger-worker LEDGER` is the process the SIGKILL test
starts (it writes bursts of rows forever and prints each row's id once its await returned).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from factories import free_and_paid

import router
from router._effects import Op, arun, run
from router.errors import ProviderUnavailable
from router.money._ledger import FeedbackRow, Ledger, LedgerBudgets, Row
from router.state import StateUnavailable, collecting
from router.state.cooldowns import BreakerState
from router.state.redis_state import RedisState
from router.state.settings import StateSettings
from router.testing import FaultServer, ok
from router.testing.redis_server import RedisServer

T = TypeVar("T")

DELAY = 0.020  # what the proxy adds to every reply
TICK = 0.001
DAY = "2026-12-07"


# ------------------------------------------------------------------ a slow network


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that forwards requests at once and holds every chunk of
    the replies for `delay` seconds (Redis "5 ms away", here 20 ms). Threads, not asyncio:
    a loop blocked by the code under test must not block the proxy too."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets.append(s)
            threading.Thread(target=self._pipe, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, self.delay), daemon=True
            ).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, delay: float) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if delay:
                    time.sleep(delay)
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()


@pytest.fixture
def slow_redis(redis_url: str, redis_session_server: RedisServer) -> Iterator[str]:
    """The session's redis-server (emptied) behind a 20 ms proxy."""
    proxy = DelayProxy(redis_session_server.port, DELAY)
    try:
        yield proxy.url
    finally:
        proxy.close()


def redis_client(url: str) -> Any:
    import redis  # noqa: PLC0415

    return redis.Redis.from_url(url, decode_responses=True)


# ------------------------------------------------------------------ the loop's lag


async def _with_ticker(work: Callable[[], Awaitable[T]]) -> tuple[T, float, list[float]]:
    """`work()`'s result, how long it took, and the gaps between the ticks of a 1 ms
    ticker that ran on the same loop meanwhile."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.005)  # the ticker is running
    gaps.clear()
    started = time.perf_counter()
    result = await work()
    took = time.perf_counter() - started
    stop.set()
    await task
    return result, took, gaps


def _lag(op: Callable[[], Op[T]], *, blocking: bool) -> tuple[T, float, float]:
    """(result, seconds the op took, the longest tick gap) of one op on a fresh loop,
    driven by `arun` or, as the control, by the blocking `run` on the loop itself."""

    async def work() -> T:
        return run(op()) if blocking else await arun(op())

    async def main() -> tuple[T, float, list[float]]:
        return await _with_ticker(work)

    result, took, gaps = asyncio.run(main())
    return result, took, max(gaps, default=0.0)


STALL = DELAY * 0.6  # a tick gap this long would mean the loop waited for Redis


def _unblocked(op: Callable[[], Op[T]]) -> tuple[T, float, float]:
    """`_lag` via `arun`, measured up to five times: a busy machine (2 cores, other test
    runs) starves a thread now and then; a loop that waits for Redis stalls every time."""
    for _ in range(5):
        result, took, longest = _lag(op, blocking=False)
        if longest < STALL:
            break
    return result, took, longest


@pytest.mark.parametrize("part", ["cooldowns.allow_op", "budgets.reserve_op", "cache.get_op"])
def test_redis_ops_leave_the_loop_running_while_redis_answers_20ms_later(
    slow_redis: str, part: str
) -> None:
    s = RedisState(slow_redis, StateSettings(timeout_ms=2000))
    limits = [("acme/*/day", DAY, 10_000)]
    counter = iter(range(1000))

    def op() -> Op[Any]:
        n = next(counter)
        if part == "cooldowns.allow_op":
            return s.cooldowns.allow_op(f"d{n}")
        if part == "budgets.reserve_op":
            return s.budgets.reserve_op("acme", f"tok{n}", limits, 1, hold_seconds=60)
        return s.cache.get_op("k", "acme")

    try:
        run(op())  # both clients' scripts loaded: each op below is one round trip
        asyncio.run(arun(op()))
        result, took, longest = _unblocked(op)
        assert took >= DELAY  # the reply really was 20 ms away...
        assert longest < STALL, f"the loop stalled {longest * 1000:.1f} ms"  # ...not the loop
        same, _, stalled = _lag(op, blocking=True)
        assert stalled >= DELAY * 0.9  # the control: the blocking driver holds the loop
        assert (same is None) == (result is None)
    finally:
        s.close()
    print(
        f"\n{part}: async op {took * 1000:.1f} ms, longest tick gap {longest * 1000:.1f} ms; "
        f"blocking on the loop: longest gap {stalled * 1000:.1f} ms"
    )


def test_both_drivers_give_the_same_answers(redis_url: str) -> None:
    """The same sequence of ops, once with `run` (keys and tokens `s...`) and once with
    `arun` (`a...`): the same results, step by step."""
    s = RedisState(redis_url, StateSettings())
    fault = ProviderUnavailable("d", "503")

    def steps(p: str) -> list[Op[Any]]:
        limits = [(f"{p}/*/day", DAY, 1000), ("organisation/*/day/all-tenants", p, 700)]
        counters = [(k, w) for k, w, _ in limits]
        return [
            s.cooldowns.allow_op(f"{p}-d"),
            s.cooldowns.failure_op(f"{p}-d", fault),
            s.cooldowns.allow_op(f"{p}-d"),
            s.cooldowns.state_op(f"{p}-d"),
            s.cooldowns.success_op(f"{p}-d"),
            s.budgets.reserve_op(p, f"{p}1", limits, 400, hold_seconds=60),
            s.budgets.reserve_op(p, f"{p}2", limits, 400, hold_seconds=60),  # the org's 700
            s.budgets.used_op(p, counters),
            s.budgets.settle_op(p, f"{p}1", counters, 150),
            s.budgets.settle_op(p, f"{p}1", counters, 150),  # counted once
            s.budgets.used_op(p, counters),
            s.cache.put_op("k", p, {"answer": [1, "two"]}),
            s.cache.get_op("k", p),
            s.cache.get_op("k", "someone-else"),
        ]

    blocking = [run(op) for op in steps("s")]

    async def each() -> list[Any]:
        return [await arun(op) for op in steps("a")]

    try:
        awaited = asyncio.run(each())
    finally:
        s.close()
    assert blocking == awaited
    assert blocking[3] == BreakerState("closed", 1, 0.0)
    assert blocking[5] == [0, 0]
    assert blocking[6] is None
    assert blocking[7] == [400, 400]
    assert blocking[10] == [150, 150]
    assert blocking[12] == {"answer": [1, "two"]}
    assert blocking[13] is None


def test_scripts_are_loaded_again_after_noscript_on_both_clients(redis_url: str) -> None:
    s = RedisState(redis_url, StateSettings())
    limits = [("acme/*/day", DAY, 10_000)]

    async def reserve(token: str) -> list[int] | None:
        return await arun(s.budgets.reserve_op("acme", token, limits, 5, hold_seconds=60))

    async def twice() -> list[Any]:
        first = await reserve("a1")
        redis_client(redis_url).script_flush()  # what a restarted server looks like
        return [first, await reserve("a2")]

    try:
        assert s.budgets.reserve("acme", "s1", limits, 5, hold_seconds=60) == [0]
        assert asyncio.run(twice()) == [[5], [10]]
        redis_client(redis_url).script_flush()
        assert s.budgets.reserve("acme", "s2", limits, 5, hold_seconds=60) == [15]
    finally:
        s.close()


def test_one_breaker_for_both_clients_and_the_notes_on_the_loop() -> None:
    """Unreachable Redis: the async client trips the breaker, and within `retry_seconds`
    both drivers fail fast; the cache and cooldowns degrade with their notes, which reach
    the request's own list (the task's context) on the loop."""
    s = RedisState("redis://127.0.0.1:9/0", StateSettings(retry_seconds=30, timeout_ms=100))
    counters = [("acme/*/day", DAY)]

    async def main() -> tuple[list[str], Any, bool, float]:
        notes = collecting()
        with pytest.raises(StateUnavailable):
            await arun(s.budgets.used_op("acme", counters))
        started = time.perf_counter()
        with pytest.raises(StateUnavailable, match="retrying shortly"):
            await arun(s.budgets.used_op("acme", counters))
        cached = await arun(s.cache.get_op("k", "acme"))
        allowed = await arun(s.cooldowns.allow_op("d"))
        return notes, cached, allowed, time.perf_counter() - started

    try:
        notes, cached, allowed, took = asyncio.run(main())
        assert took < 0.05  # no call waited for the dead server
        assert cached is None
        assert allowed  # this process's memory: no breaker open
        assert "shared state unavailable: response cache bypassed" in notes
        assert "shared state unavailable: cooldowns from this process's memory" in notes
        started = time.perf_counter()
        with pytest.raises(StateUnavailable, match="retrying shortly"):
            s.budgets.used("acme", counters)  # the blocking client: the same breaker
        assert time.perf_counter() - started < 0.05
    finally:
        s.close()


def test_a_settlement_cancelled_on_the_loop_counts_once(redis_url: str) -> None:
    """A caller cancelled while its settlement is in flight: the settlement still counts,
    once (the driver lets store work finish; were it cut short, it would be queued and
    replayed by the next op, the marker keeping it to one count)."""
    s = RedisState(redis_url, StateSettings())
    limits = [("acme/*/day", DAY, 10_000)]
    counters = [("acme/*/day", DAY)]
    assert s.budgets.reserve("acme", "t", limits, 500, hold_seconds=60) == [0]

    async def cancelled_settle() -> None:
        task = asyncio.create_task(arun(s.budgets.settle_op("acme", "t", counters, 120)))
        await asyncio.sleep(0)  # sent, not answered
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(cancelled_settle())
        assert s.budgets.used("acme", counters) == [120]
        assert s.budgets.pending == 0
    finally:
        s.close()


def test_a_hold_interrupted_in_its_op_is_released(redis_url: str, tmp_path: Path) -> None:
    """An exception thrown into a reserve op at its yield (a cancellation, were a driver to
    deliver it there): the hold may have been taken but no record will carry the token, so
    the store releases it (Redis: a queued zero-cost settlement, replayed by the next op;
    the ledger: a release through its writer), instead of leaving it until it lapses. The
    op is driven by hand: its effect is run, then the exception thrown in."""
    s = RedisState(redis_url, StateSettings())
    ledger = Ledger(tmp_path / "ledger.sqlite")
    stores: dict[str, Any] = {"redis": s.budgets, "ledger": LedgerBudgets(ledger, time.time)}
    limits = [("acme/*/day", DAY, 10_000)]
    counters = [("acme/*/day", DAY)]
    try:
        for name, store in stores.items():
            op = store.reserve_op("acme", f"{name}-t", limits, 500, hold_seconds=600)
            effect = next(op)
            effect.handler.run(effect.request)  # the hold is taken...
            assert run(store.used_op("acme", counters)) == [500]
            with pytest.raises(asyncio.CancelledError):
                op.throw(asyncio.CancelledError())  # ...and its caller goes away
            deadline = time.monotonic() + 2
            while (used := run(store.used_op("acme", counters))) != [0]:
                assert time.monotonic() < deadline, f"{name}: the hold stayed ({used})"
                time.sleep(0.01)
    finally:
        s.close()


# ------------------------------------------------------------------ one Router, many loops


def _connections(url: str) -> Callable[[int], int]:
    """A probe: waits (up to 2 s) until at most `n` other clients are connected to the
    Redis server, and returns how many are (a closed client's socket is seen closed by the
    server a moment later)."""
    probe = redis_client(url)

    def at_most(n: int) -> int:
        deadline = time.monotonic() + 2
        while (count := len(probe.client_list()) - 1) > n and time.monotonic() < deadline:
            time.sleep(0.01)
        return count

    return at_most


def test_a_router_serves_from_successive_asyncio_runs_and_from_threads(
    redis_url: str, tmp_path: Path
) -> None:
    os.environ.setdefault("ASYNC_STORES_KEY", "sk-test")
    with FaultServer() as local, FaultServer() as api:
        r = router.Router(
            free_and_paid(local, api, "ASYNC_STORES_KEY"),
            state=redis_url,
            budgets=[{"tenant": "*", "period": "day", "usd": 1.0}],
            ledger=tmp_path / "ledger.sqlite",
            cache=True,
            quality_target=0.95,
            paid_share=1.0,
        )
        assert r.shared is not None
        link = r.shared.link
        connected = _connections(redis_url)
        baseline = connected(10**6)

        async def ask(text: str) -> Any:
            res = await r.acomplete(
                [{"role": "user", "content": text}], max_tokens=50, temperature=0
            )
            assert r.shared is not None
            used = await arun(r.shared.budgets.used_op("default", [("default/*/day", DAY)]))
            return res.decision, used, len(link._loops)

        for i in range(2):  # two loops in turn: the first one's client is closed with it
            api.script(ok(f"paid {i}", prompt_tokens=20, completion_tokens=40))
            decision, used, clients = asyncio.run(ask(f"question {i}"))
            assert decision.served_by == "api"
            assert len(used) == 1
            assert decision.shared_state == ()  # Redis answered every request
            assert clients == 1
            assert len(link._loops) == 0  # closed at the loop's shutdown
        hit, _, _ = asyncio.run(ask("question 1"))
        assert hit.cache_hit
        assert connected(baseline + 1) <= baseline + 1  # no asyncio client left connected

        results: list[Any] = []

        def thread(i: int) -> None:
            results.append(asyncio.run(ask("question 0" if i else "question 1")))

        pool = [threading.Thread(target=thread, args=(i,)) for i in range(2)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        assert [d.cache_hit for d, _, _ in results] == [True, True]
        assert all(d.shared_state == () for d, _, _ in results)
        assert r.ledger is not None
        assert r.ledger.count() == 5
        client = redis_client(redis_url)
        spent = sum(int(client.get(k) or 0) for k in client.keys("*:spent"))
        assert spent == 2 * 450  # two paid calls; cache hits cost nothing
        r.shared.close()


def test_close_closes_the_asyncio_clients_it_can(redis_url: str) -> None:
    """An idle loop's client is closed on it; a loop closed without shutting down is
    forgotten, and the next loop gets a new client."""
    s = RedisState(redis_url, StateSettings())
    connected = _connections(redis_url)
    baseline = connected(10**6)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(arun(s.cache.get_op("k", "acme"))) is None
        assert connected(10**6) == baseline + 1
        s.close()  # the loop is idle: its client is closed on it
        assert connected(baseline) == baseline
        assert len(s.link._loops) == 0
        loop.run_until_complete(arun(s.cache.get_op("k", "acme")))  # a new client
    finally:
        loop.close()  # without shutting down: the client stays bound to a closed loop
    assert asyncio.run(arun(s.cache.get_op("k", "acme"))) is None  # works: a fresh client
    assert len(s.link._loops) == 0


# ------------------------------------------------------------------ the ledger's writer


def _row(request_id: str, *, ticket: str | None = None, cost: int = 0) -> Row:
    counters = json.dumps([["acme/*/day", DAY]]) if ticket else None
    return Row(
        ts=time.time(), day=DAY, tenant="acme", tags="[]", sensitivity="public",
        policy_fingerprint="fp", outcome="ok", error=None, served_by="api", hosting="api",
        weights="closed", cache_hit=0, attempts=1, fallbacks=0, latency_ms=1.0,
        prompt_tokens=10, completion_tokens=10, cost_micro=cost, baseline_micro=cost,
        budget_changed=0, decision="{}", prompt=None, ticket=ticket, counters=counters,
        request_id=request_id,
    )  # fmt: skip


def test_concurrent_async_writes_all_land_in_fewer_transactions(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", lazy=True)
    n = 300

    async def write(i: int) -> None:
        feedback = [FeedbackRow(time.time(), f"{i:024x}", "cascade", "api", "m", 1.0)]
        await arun(ledger.write_op(_row(f"{i:024x}"), feedback if i % 3 == 0 else ()))

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(write(i) for i in range(n)))
        return time.perf_counter() - started

    took = asyncio.run(main())
    assert ledger.count() == n
    assert ledger.query("SELECT COUNT(*) FROM feedback") == [(100,)]
    ids = {r.request_id for r in ledger.rows()}
    assert ids == {f"{i:024x}" for i in range(n)}
    writer = ledger._writer
    assert writer.written == n
    assert writer.transactions < n  # group commit: rows shared transactions
    print(f"\n{n} concurrent writes: {writer.transactions} transactions, {took * 1000:.0f} ms")
    asyncio.run(main())  # a second loop: the same writer thread serves it
    assert ledger.count() == 2 * n
    ledger.close()


def test_the_blocking_path_writes_inline(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    run(ledger.write_op(_row("a" * 24)))
    assert ledger.count() == 1
    assert ledger._writer.written == 0  # no thread was involved


def test_a_bad_row_fails_only_its_own_writer(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    bad = _row("b" * 24)._replace(decision=object())  # type: ignore[arg-type]

    async def main() -> list[Any]:
        good = [arun(ledger.write_op(_row(f"{i:024x}"))) for i in range(20)]
        return await asyncio.gather(*good[:10], arun(ledger.write_op(bad)), *good[10:],
                                     return_exceptions=True)  # fmt: skip

    outcomes = asyncio.run(main())
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], sqlite3.Error)
    assert ledger.count() == 20


def test_a_cancelled_writer_returns_after_its_row_landed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")

    async def main() -> int:
        task = asyncio.create_task(arun(ledger.write_op(_row("c" * 24))))
        await asyncio.sleep(0)  # queued
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return ledger.count()  # at the moment the cancellation arrived

    assert asyncio.run(main()) == 1


def test_concurrent_holds_on_the_loop_never_go_over_the_limit(tmp_path: Path) -> None:
    """300 holds of 7 on a limit of 700 at once (through the writer thread, with records
    settling others): exactly 100 are taken, and the counter never passes the limit."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    budgets = LedgerBudgets(ledger, time.time)
    limits = [("acme/*/day", DAY, 700)]

    async def hold(i: int) -> list[int] | None:
        seen = await arun(budgets.reserve_op("acme", f"t{i}", limits, 7, hold_seconds=60))
        if seen is not None and i % 2:  # settle half of them at their cost (5 of 7 held)
            await arun(ledger.write_op(_row(f"{i:024x}", ticket=f"t{i}", cost=5)))
        return seen

    async def main() -> list[list[int] | None]:
        return await asyncio.gather(*(hold(i) for i in range(300)))

    seen = asyncio.run(main())
    taken = [s for s in seen if s is not None]
    used = budgets.used("acme", [("acme/*/day", DAY)])[0]
    assert used <= 700
    assert all(s[0] + 7 <= 700 for s in taken)  # each hold fitted what was used before it
    settled = ledger.count()
    assert used == 7 * (len(taken) - settled) + 5 * settled
    assert len(taken) >= 100  # settled holds gave 2 back each: room for a few more


def test_a_process_killed_after_its_awaits_returned_loses_no_row(tmp_path: Path) -> None:
    """A child writes bursts of 50 concurrent rows forever and prints each row's id once
    its `arun(write_op)` returned; it is SIGKILLed mid-burst. Every printed id is in the
    ledger (and the file is sound)."""
    path = tmp_path / "ledger.sqlite"
    child = subprocess.Popen(
        [sys.executable, __file__, "ledger-worker", str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert child.stdout is not None
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while len(printed) < 1200 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            printed.append(line.strip())
        time.sleep(random.uniform(0, 0.02))  # the kill lands anywhere in a burst
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()  # what it printed before it died
        child.stdout.close()
        child.wait()
    printed += rest.split()
    assert len(printed) >= 1200, "the worker did not get going"
    ledger = Ledger(path)
    landed = {r.request_id for r in ledger.rows()}
    missing = set(printed) - landed
    assert not missing, f"{len(missing)} rows whose await had returned were lost"
    assert ledger.query("PRAGMA integrity_check") == [("ok",)]
    print(f"\nkilled after {len(printed)} awaits had returned: {len(landed)} rows in the file")


def _ledger_worker(path: str) -> None:
    ledger = Ledger(path)

    async def write(rid: str) -> None:
        await arun(ledger.write_op(_row(rid)))
        sys.stdout.write(rid + "\n")
        sys.stdout.flush()

    async def forever() -> None:
        burst = 0
        while True:
            await asyncio.gather(*(write(f"{burst:012x}{i:012x}") for i in range(50)))
            burst += 1

    asyncio.run(forever())


if __name__ == "__main__":
    if sys.argv[1:2] == ["ledger-worker"]:
        sys.path.insert(0, str(Path(__file__).parent.parent))
        _ledger_worker(sys.argv[2])
