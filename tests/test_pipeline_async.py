"""The serving pipeline on the event loop: store work never blocks it, a caller's
cancellation during store work still leaves one record and releases the budget hold,
and the blocking and the async entry points take the same steps (one pipeline)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from factories import max_gap_while

import router
from router.money._ledger import Ledger
from router.testing import MockBackend, ok, rate_limited, server_error

HI = [{"role": "user", "content": "Say hi"}]
LOCAL = {"name": "local", "model": "openai/m", "api_base": "http://127.0.0.1:9/v1",
         "context_window": 8192}  # fmt: skip
API = {"name": "api", "model": "openai/gpt-x", "api_base": "http://127.0.0.2:9/v1",
       "hosting": "api", "weights": "closed", "context_window": 8192,
       "input_cost_per_mtok": 10.0, "output_cost_per_mtok": 10.0}  # fmt: skip


class SlowCache:
    """A cache of the caller's own (no ops): each lookup blocks its thread for a while."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.gets = 0

    def get(self, key: str, tenant: str) -> dict[str, Any] | None:
        self.gets += 1
        time.sleep(self.seconds)
        return None

    def put(self, key: str, tenant: str, response: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None


def test_a_slow_cache_lookup_does_not_stall_the_event_loop() -> None:
    cache = SlowCache(1.0)
    r = router.Router([LOCAL], backend=MockBackend(default=ok("hi")), cache=cache)
    result, gap = asyncio.run(max_gap_while(r.acomplete(HI, temperature=0)))
    assert result.content == "hi"
    assert cache.gets == 1
    # the 1 s lookup ran in a worker thread (on the loop, the gap would be >= 1 s; the
    # margin is for a loaded machine: make test -n auto met a 0.15 s gap once)
    assert gap < 0.5


def test_the_same_steps_blocking_and_async(tmp_path: Path) -> None:
    """A rate limit, then a 503, then an answer: the same attempts, record and cost."""
    outcomes = []
    for mode in ("sync", "async"):
        backend = MockBackend(default=ok("fine"))
        backend.script(rate_limited(0), server_error(503), deployment="local")
        r = router.Router(
            [LOCAL], backend=backend, ledger=tmp_path / f"{mode}.sqlite",
            retry={"attempts": 3, "initial_wait": 0, "jitter": 0},
        )  # fmt: skip
        result = r.complete(HI) if mode == "sync" else asyncio.run(r.acomplete(HI))
        d = result.decision
        outcomes.append(
            ([(a.deployment, a.try_number, a.outcome) for a in d.attempts], d.served_by)
        )
        assert Ledger(tmp_path / f"{mode}.sqlite").count() == 1
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == (
        [("local", 1, "retry"), ("local", 2, "retry"), ("local", 3, "ok")],
        "local",
    )


def test_a_cancel_during_store_work_records_the_request_and_releases_its_hold(
    tmp_path: Path,
) -> None:
    """The caller gives up (wait_for) while the cache lookup runs in its thread: the
    lookup finishes, the cancellation lands at the call that would come next, and the
    request is recorded as cancelled with its hold released (not left to lapse)."""
    path = tmp_path / "ledger.sqlite"
    backend = MockBackend(default=ok("paid answer"))
    r = router.Router(
        [API], backend=backend, ledger=path, cache=SlowCache(0.3),
        budgets=[{"tenant": "*", "period": "day", "usd": 5.0}],
    )  # fmt: skip

    async def caller() -> None:
        await asyncio.wait_for(r.acomplete(HI, temperature=0), 0.1)

    with pytest.raises(TimeoutError):
        asyncio.run(caller())
    assert backend.calls == []  # cancelled before the call: nothing sent, nothing spent
    conn = sqlite3.connect(path)
    try:
        records = conn.execute("SELECT outcome, error, cost_micro FROM records").fetchall()
        (held,) = conn.execute("SELECT COUNT(*) FROM reservations").fetchone()
    finally:
        conn.close()
    assert records == [("error", "CancelledError", 0)]
    assert held == 0


def test_a_cancel_while_the_answer_is_recorded_keeps_the_answer_paid_and_recorded(
    tmp_path: Path,
) -> None:
    """Cancelled once the answer is in (the record is being written): the record holds
    the answer and its cost, and the cancellation reaches the caller at its next await."""
    path = tmp_path / "ledger.sqlite"

    class SlowPut(SlowCache):
        def get(self, key: str, tenant: str) -> dict[str, Any] | None:
            return None

        def put(self, key: str, tenant: str, response: dict[str, Any]) -> None:
            time.sleep(self.seconds)

    r = router.Router(
        [API], backend=MockBackend(default=ok("paid answer")), ledger=path,
        cache=SlowPut(0.0),
    )  # fmt: skip
    cache = r.cache
    assert isinstance(cache, SlowPut)

    async def caller() -> tuple[str | None, bool]:
        task = asyncio.current_task()
        assert task is not None
        cache.seconds = 0.3
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, task.cancel)  # lands while the answer is being cached
        result = await r.acomplete(HI, temperature=0)
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            return result.content, True
        return result.content, False

    text, cancelled_later = asyncio.run(caller())
    assert (text, cancelled_later) == ("paid answer", True)
    conn = sqlite3.connect(path)
    try:
        records = conn.execute("SELECT outcome, cost_micro FROM records").fetchall()
    finally:
        conn.close()
    assert len(records) == 1
    assert records[0][0] == "ok"
    assert records[0][1] > 0
