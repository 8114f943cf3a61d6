"""Crash safety (invariant 6, and 4 across a crash): a worker process sending bursts of
concurrent requests on a ledger and a hard budget is SIGKILLed mid-burst, with paid calls
in flight (their money held) and free calls being recorded; a fresh worker then runs on
the same ledger (and the same Redis) to the end. After it:

- every call a caller saw complete (a line the worker printed) is in the ledger, with the
  deployment and the cost the caller saw;
- the ledger opens cleanly (and passes SQLite's integrity check);
- the budget counter equals the sum of the records' costs: no settlement of a completed
  call is lost or counted twice;
- the holds of the killed in-flight requests were there right after the kill, and lapse
  (their expiry is `timeout + HOLD_MARGIN`, shortened in the worker so the test sees it);
- spend never exceeded the limit, and the budget was really used.

Each process runs `tests/crash_worker.py`, served in the process by a MockBackend (what
is under test is the ledger and the budget across a crash, not HTTP); the test waits on
its stdout lines, which also say when the backend received a call, never on sleeps.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from router.money._ledger import Ledger
from router.state import StateSettings
from router.testing.redis_server import RedisServer

WORKER = Path(__file__).parent / "crash_worker.py"
API_CALL_MICRO = 1500  # 50 prompt + 100 completion tokens at $10/M
BUDGET_USD = 0.06  # 40 paid calls: the first worker uses part, the second the rest
LIMIT_MICRO = round(BUDGET_USD * 1_000_000)
COUNTER = "acme/*/day"
# Each request's deadline: the killed worker's hung paid calls must still be waiting when
# the kill lands (it follows their arrival within milliseconds), and the test then waits
# for their holds to lapse (TIMEOUT + HOLD_MARGIN): short, since the mock answers at once.
TIMEOUT = 4.0
HOLD_MARGIN = 0.5  # the worker's: a killed request's hold lapses TIMEOUT + 0.5 s after it began
PAID_THREADS, FREE_THREADS = 3, 3
READY_TIMEOUT = 120.0  # a loaded machine can take its time to start a Python process

Line = dict[str, Any]


class Worker:
    """One `crash_worker.py`; a thread reads its stdout lines into a queue."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        env = {**os.environ, "ROUTER_TEST_CRASH_KEY": "sk-test-not-a-real-key"}
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed by the fixture)
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[Line | None] = queue.Queue()
        self.seen: list[Line] = []
        self.calls: Counter[str] = Counter()  # calls its backend received, per deployment
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = json.loads(raw)
            if "call" in line:
                self.calls[line["call"]] += 1  # one Counter update: atomic enough here
            else:
                self.lines.put(line)
        self.lines.put(None)

    def set_default(self, deployment: str, fault: str, *args: object) -> None:
        """From now on `deployment` answers `router.testing.<fault>(*args)`."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"default": {deployment: [fault, args]}}) + "\n")
        self.proc.stdin.flush()

    def err(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-3000:].decode(errors="replace")

    def next(self, timeout: float) -> Line | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"worker silent for {timeout} s; stderr:\n{self.err()}") from None

    def wait_ready(self) -> None:
        line = self.next(READY_TIMEOUT)
        assert line == {"ready": True}, f"{line}; stderr:\n{self.err()}"

    def take(self, done: Callable[[list[Line]], bool], timeout: float = 60.0) -> None:
        """Take request lines until `done(lines so far)`."""
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            line = self.next(max(deadline - time.monotonic(), 0.01))
            assert line is not None, f"worker ended early; stderr:\n{self.err()}"
            assert "end" not in line, f"worker finished early: {line}"
            self.seen.append(line)

    def kill(self) -> None:
        """SIGKILL; then every line it printed before dying is taken."""
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL
        while (line := self.next(30.0)) is not None:
            self.seen.append(line)

    def finish(self, timeout: float = 120.0) -> None:
        """Take the lines to the end line; the worker exits 0."""
        deadline = time.monotonic() + timeout
        while (line := self.next(max(deadline - time.monotonic(), 0.01))) is not None:
            if "end" not in line:
                self.seen.append(line)
        assert self.proc.wait(timeout=30) == 0, self.err()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Worker]]:
    """Start workers; any still running when the test ends is killed, its pipes closed."""
    started: list[Worker] = []

    def start(**cfg: Any) -> Worker:
        started.append(Worker(cfg))
        return started[-1]

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait(timeout=30)
        w.reader.join(timeout=30)
        for pipe in (w.proc.stdin, w.proc.stdout):
            if pipe is not None:
                pipe.close()
        w.stderr.close()


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Books:
    """The budget counter and its live holds, read the way the router reads them."""

    def __init__(self, ledger: Path, redis_url: str | None) -> None:
        self.ledger = ledger
        self.redis_url = redis_url

    def spent(self) -> int:
        """The settled counter: the ledger's `spend` table, or Redis's `spent` key."""
        if self.redis_url is None:
            rows = Ledger(self.ledger).query("SELECT window, spent_micro FROM spend")
            assert len(rows) <= 1
            return int(rows[0][1]) if rows else 0
        import redis  # noqa: PLC0415

        client: Any = redis.Redis.from_url(self.redis_url, decode_responses=True)
        keys = list(client.scan_iter(match="router:*:b:*:spent"))
        assert len(keys) <= 1
        value = int(client.get(keys[0])) if keys else 0
        client.close()
        return value

    def used(self) -> int:
        """Settled spend plus the holds that have not lapsed (the router's own reading)."""
        window = time.strftime("%Y-%m-%d", time.gmtime())
        if self.redis_url is None:
            return Ledger(self.ledger).used([(COUNTER, window)], time.time())[0]
        from router.state.redis_state import RedisState  # noqa: PLC0415

        state = RedisState(self.redis_url, StateSettings(timeout_ms=2000))
        try:
            return state.budgets.used("acme", [(COUNTER, window)])[0]
        finally:
            state.close()


def records(ledger: Path) -> dict[str, tuple[str | None, int, str]]:
    """tag -> (served_by, cost_micro, outcome) of every record."""
    conn = sqlite3.connect(ledger)
    try:
        rows = conn.execute("SELECT tags, served_by, cost_micro, outcome FROM records").fetchall()
    finally:
        conn.close()
    out = {}
    for tags, served_by, cost, outcome in rows:
        (tag,) = json.loads(tags)
        out[tag] = (served_by, cost, outcome)
    return out


def crash_and_restart(
    ledger: Path, state: str, spawn: Callable[..., Worker]
) -> tuple[list[Line], list[Line], int, float]:
    """Worker A runs until killed mid-burst with its paid calls hung; worker B then runs
    90 requests to the end. Returns both workers' lines, the money still held right after
    the kill (used - spent), and when the last killed hold lapses at the latest."""
    cfg: dict[str, Any] = {
        "ledger": str(ledger),
        "state": state,
        "paid_threads": PAID_THREADS,
        "free_threads": FREE_THREADS,
        "budget_usd": BUDGET_USD,
        "timeout": TIMEOUT,
        "hold_margin": HOLD_MARGIN,
    }
    books = Books(ledger, None if state == "local" else state)
    a = spawn(name="a", requests=None, **cfg)
    a.wait_ready()
    a.take(lambda seen: sum(x["served_by"] == "api" for x in seen) >= 8)  # paid, in a burst
    assert all(x["error"] is None for x in a.seen)
    # From now on the paid calls hang (their holds stay), the free ones keep being
    # answered and recorded: the kill lands among ledger writes and held calls.
    before = a.calls["api"]
    a.set_default("api", "hang", 60.0)
    wait_for(lambda: a.calls["api"] >= before + PAID_THREADS)
    free_before_kill = sum(x["served_by"] == "local" for x in a.seen)
    a.take(lambda seen: sum(x["served_by"] == "local" for x in seen) >= free_before_kill + 3)
    a.kill()
    # Every hold of the killed worker was taken before the kill: it lapses by then.
    lapse_by = time.time() + TIMEOUT + HOLD_MARGIN
    held = books.used() - books.spent()

    b = spawn(name="b", requests=90, **cfg)  # its API answers again
    b.wait_ready()
    b.finish()
    return a.seen, b.seen, held, lapse_by


def check_books(
    ledger: Path,
    redis_url: str | None,
    a: list[Line],
    b: list[Line],
    *,
    held: int,
    lapse_by: float,
) -> None:
    # The ledger opens cleanly after the kill, and SQLite finds it whole.
    book = Ledger(ledger)
    assert book.query("PRAGMA integrity_check") == [("ok",)]

    # Invariant 6: every call a caller saw complete is in the ledger, as the caller saw it.
    found = records(ledger)
    seen = a + b
    assert len(seen) == len({x["tag"] for x in seen}) >= 90 + 8
    missing = [x["tag"] for x in seen if x["tag"] not in found]
    assert missing == []
    assert all(found[x["tag"]][:2] == (x["served_by"], x["cost"]) for x in seen)
    assert all(x["error"] is None for x in seen)  # the free deployment answers everything
    # Nothing but the killed in-flight calls lacks a printed line: no stray records.
    assert len(found) - len(seen) <= PAID_THREADS + FREE_THREADS
    assert all(x["served_by"] == "local" for x in seen if not x["paid"])

    # The killed worker's paid calls held money right after the kill (they were in
    # flight); the hung ones never got a record.
    hold_micro = API_CALL_MICRO + 100  # at most the prompt's byte bound + 100 tokens
    assert held >= API_CALL_MICRO
    assert held <= PAID_THREADS * 2 * hold_micro

    # The counter equals the sum of the records' costs: nothing settled for a completed
    # call was lost, nothing counted twice.
    books = Books(ledger, redis_url)
    spent = books.spent()
    recorded = sum(cost for _, cost, _ in found.values())
    assert spent == recorded

    # Spend stayed within the hard limit, and the budget was really used: the second
    # worker's paid requests ran into it and were served for free.
    assert spent <= LIMIT_MICRO
    assert spent >= LIMIT_MICRO // 2
    assert any(x["paid"] and x["served_by"] == "local" for x in b)

    # The killed requests' holds lapse: once past their expiry only the settled spend
    # counts (the second worker settled all of its own).
    wait_for(lambda: time.time() > lapse_by + 0.2, timeout=TIMEOUT + 30)
    assert books.used() == spent


def test_sigkill_mid_burst_on_a_local_ledger_loses_no_completed_call(
    tmp_path: Path, spawn: Callable[..., Worker]
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    a, b, held, lapse_by = crash_and_restart(ledger, "local", spawn)
    check_books(ledger, None, a, b, held=held, lapse_by=lapse_by)
    # Local state: the killed holds are rows of `reservations` until they lapse (only a
    # record's settlement deletes a row); they are the only ones left.
    (left,) = Ledger(ledger).query("SELECT COUNT(*) FROM reservations")[0]
    assert 1 <= left <= PAID_THREADS


def test_sigkill_mid_burst_with_redis_state_loses_no_completed_call(
    redis_server: RedisServer, tmp_path: Path, spawn: Callable[..., Worker]
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    a, b, held, lapse_by = crash_and_restart(ledger, redis_server.url, spawn)
    check_books(ledger, redis_server.url, a, b, held=held, lapse_by=lapse_by)
