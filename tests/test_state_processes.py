"""Shared state on a real redis-server across OS processes: one small hard budget
hammered by several processes, a breaker and a cache entry one process writes and
another honours, and redis-server SIGKILLed mid-run and started again.

Each process runs `tests/state_worker.py`: its own Router (`state=redis://...`). What is
under test is the state the processes share through Redis, so the budget, breaker and
cache tests serve from a MockBackend in each worker (no litellm import: a worker is ready
in about a second); the Redis outage test stays end to end, its workers calling loopback
fault servers through litellm's real HTTP stack.
"""

from __future__ import annotations

import json
import os
import queue
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
import redis

from router.testing import FaultServer, hang, ok
from router.testing.redis_server import RedisServer

WORKER = Path(__file__).parent / "state_worker.py"
API_CALL_MICRO = 1500  # 50 prompt + 100 completion tokens at $10/M
HANG_CALL_MICRO = 100  # hang(): 7 prompt + 3 completion tokens at $10/M
CLOSED = "shared state unavailable: budgets failed closed (paid deployments left out)"
QUEUED = "shared state unavailable: budget settlement queued in this process"
RETRY_SECONDS = 0.2  # the outage test's `retry_seconds`
READY_TIMEOUT = 120.0  # importing litellm takes seconds, more on a loaded machine
NOWHERE = "http://127.0.0.1:9/v1"  # a mock worker's api_base (loopback; never connected)

Line = dict[str, Any]


@pytest.fixture
def pair() -> Iterator[tuple[FaultServer, FaultServer]]:
    answer = ok("hi", prompt_tokens=50, completion_tokens=100)
    with FaultServer(default=answer) as api, FaultServer(default=answer) as local:
        yield api, local


class Worker:
    """One `state_worker.py` process; its stdout lines are read into a queue by a thread.
    `servers` (api, local): litellm calls them; None: a MockBackend in the worker."""

    def __init__(
        self, servers: tuple[FaultServer, FaultServer] | None, url: str, **cfg: Any
    ) -> None:
        config = {
            "redis": url,
            "backend": "mock" if servers is None else "litellm",
            "api": NOWHERE if servers is None else servers[0].base_url,
            "local": NOWHERE if servers is None else servers[1].base_url,
            "script": {},
            "requests": 1,
            "threads": 1,
            "tenants": ["acme"],
            "budget_usd": None,
            "threshold": 5,
            "cooldown_seconds": 30.0,
            "cache": False,
            "temperature": None,
            "ledger": None,
            "state_settings": {"timeout_ms": 2000},
            "go": False,
            **cfg,
        }
        env = {**os.environ, "ROUTER_TEST_STATE_KEY": "sk-test-not-a-real-key"}
        # A file, not a pipe (a full pipe would block the worker); `spawn` closes it.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[Line | None] = queue.Queue()
        self.seen: list[Line] = []  # request lines taken from the queue so far
        self.end: Line | None = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(json.loads(raw))
        self.lines.put(None)

    def _next(self, deadline: float) -> Line | None:
        try:
            return self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"worker silent for too long; stderr:\n{self._err()}") from None

    def _err(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-3000:].decode(errors="replace")

    def wait_ready(self) -> None:
        line = self._next(time.monotonic() + READY_TIMEOUT)
        assert line == {"ready": True}, f"{line}; stderr:\n{self._err()}"

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def until(self, done: Callable[[list[Line]], bool], timeout: float = 30.0) -> list[Line]:
        """Take request lines until `done(all lines so far)` holds."""
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            line = self._next(deadline)
            assert line is not None, f"worker ended early; stderr:\n{self._err()}"
            assert "end" not in line, f"worker finished early: {line}"
            self.seen.append(line)
        return self.seen

    def finish(self, timeout: float = 60.0) -> tuple[list[Line], Line]:
        """Close stdin, take the remaining lines, wait for the exit; (requests, end line)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        deadline = time.monotonic() + timeout
        while (line := self._next(deadline)) is not None:
            if "end" in line:
                self.end = line
            else:
                self.seen.append(line)
        code = self.proc.wait(timeout=max(deadline - time.monotonic(), 1.0))
        assert code == 0, self._err()
        assert self.end is not None
        return self.seen, self.end


@pytest.fixture
def spawn() -> Iterator[Callable[..., Worker]]:
    """Start workers; any still running when the test ends (a failed test) is killed."""
    started: list[Worker] = []

    def start(*args: Any, **cfg: Any) -> Worker:
        started.append(Worker(*args, **cfg))
        return started[-1]

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait(timeout=30)
        w.reader.join(timeout=30)  # it reads stdout to EOF: then the pipes can close
        for pipe in (w.proc.stdin, w.proc.stdout):
            if pipe is not None:
                pipe.close()
        w.stderr.close()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def client(url: str) -> Any:  # redis-py types every command as "result or awaitable"
    return redis.Redis.from_url(url, decode_responses=True)


def counters(url: str) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """Every budget counter's `spent` and every non-empty `holds` hash in Redis."""
    c = client(url)
    spent = {k: int(c.get(k)) for k in c.scan_iter(match="router:*:b:*:spent")}
    holds = {k: c.hgetall(k) for k in c.scan_iter(match="router:*:b:*:holds")}
    c.close()
    return spent, {k: v for k, v in holds.items() if v}


def test_processes_hammering_one_small_budget_on_redis_never_overspend_it(
    redis_url: str, spawn: Callable[..., Worker]
) -> None:
    budget_usd = 0.02  # room for 13 API calls at $0.0015 (each holds its $0.00155 bound)
    started = time.time()
    workers = [
        spawn(None, redis_url, requests=20, threads=4, budget_usd=budget_usd, go=True)
        for _ in range(3)
    ]
    for w in workers:
        w.wait_ready()
    for w in workers:  # all at once, after the imports
        w.go()
    results = [w.finish() for w in workers]
    lines = [line for seen, _ in results for line in seen]

    assert len(lines) == 60  # every request got an answer (the free deployment is up)
    assert [line["error"] for line in lines] == [None] * 60
    assert all(line["notes"] == [] for line in lines)  # Redis answered every call
    served = Counter(line["served_by"] for line in lines)
    assert set(served) <= {"api", "local"}
    assert all(line["cost"] == 0 for line in lines if line["served_by"] == "local")
    assert all(line["cost"] == API_CALL_MICRO for line in lines if line["served_by"] == "api")
    seen_cost = sum(line["cost"] for line in lines)

    spent, holds = counters(redis_url)
    days = {time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (started, time.time())}
    assert len(spent) == 1
    assert set(spent) <= {f"router:{{t:acme}}:b:acme/*/day:{day}:spent" for day in days}
    (counter,) = spent.values()
    assert counter == seen_cost  # no lost or double-counted settlement
    assert counter <= budget_usd * 1_000_000  # the documented bound: 0 over the limit
    assert served["api"] == counter // API_CALL_MICRO
    assert served["api"] >= 10  # the budget was really used, not refused wholesale
    assert holds == {}  # every hold was released by its settlement
    api_calls = sum(end["calls"]["api"] for _, end in results)
    assert api_calls == served["api"]  # no paid call outside the counter
    assert all(end["pending"] == 0 for _, end in results)


def test_a_breaker_opened_by_one_process_benches_the_deployment_for_another(
    redis_url: str, spawn: Callable[..., Worker]
) -> None:
    twice_503 = {"api": [["server_error", [503]], ["server_error", [503]]]}
    cfg: dict[str, Any] = {"threshold": 2, "cooldown_seconds": 30.0, "requests": 2}
    a = spawn(None, redis_url, script=twice_503, **cfg)
    b = spawn(None, redis_url, go=True, **cfg)  # imports meanwhile, sends after "go"
    a.wait_ready()
    seen_a, end_a = a.finish()
    assert [line["served_by"] for line in seen_a] == ["local", "local"]
    assert [line["attempts"][0] for line in seen_a] == [["api", "gave up"]] * 2
    assert end_a["calls"]["api"] == 2
    assert end_a["health"]["api"] == ["open", 2]

    b.wait_ready()
    b.go()
    seen_b, end_b = b.finish()
    assert end_b["calls"]["api"] == 0  # B never called the deployment A benched
    assert [line["served_by"] for line in seen_b] == ["local", "local"]
    assert [line["attempts"][0] for line in seen_b] == [["api", "skipped"]] * 2
    assert all(line["notes"] == [] for line in seen_a + seen_b)
    assert end_b["health"] == {"api": ["open", 2], "local": ["closed", 0]}


def test_a_cached_answer_written_by_one_process_serves_another_of_the_same_tenant_only(
    redis_url: str, spawn: Callable[..., Worker]
) -> None:
    cfg: dict[str, Any] = {"cache": True, "temperature": 0.0, "budget_usd": 1.0}
    writer = spawn(None, redis_url, tenants=["acme"], **cfg)
    reader = spawn(None, redis_url, tenants=["acme", "other"], requests=2, go=True, **cfg)
    writer.wait_ready()
    (first,), end_writer = writer.finish()
    assert (first["served_by"], first["cache_hit"], first["error"]) == ("api", False, None)
    assert end_writer["calls"]["api"] == 1
    c = client(redis_url)
    assert len(list(c.scan_iter(match="router:{t:acme}:c:*"))) == 1
    assert list(c.scan_iter(match="router:{t:other}:c:*")) == []

    reader.wait_ready()
    reader.go()
    (same, other), end_reader = reader.finish()
    assert (same["tenant"], same["served_by"], same["cache_hit"]) == ("acme", "api", True)
    assert same["cost"] == 0
    assert (other["tenant"], other["served_by"], other["cache_hit"]) == ("other", "api", False)
    assert other["cost"] == API_CALL_MICRO
    # the cache hit called nothing; the other tenant did
    assert end_writer["calls"]["api"] + end_reader["calls"]["api"] == 2
    assert end_writer["calls"]["local"] == end_reader["calls"]["local"] == 0
    assert len(list(c.scan_iter(match="router:{t:other}:c:*"))) == 1
    spent, holds = counters(redis_url)
    assert sorted(spent.values()) == [API_CALL_MICRO, API_CALL_MICRO]  # the hit cost nothing
    assert holds == {}
    c.close()


def test_redis_killed_mid_run_and_restarted_degrades_as_configured_and_recovers(
    pair: tuple[FaultServer, FaultServer],
    redis_server: RedisServer,
    tmp_path: Path,
    spawn: Callable[..., Worker],
) -> None:
    api, local = pair
    ledger = tmp_path / "ledger.sqlite"
    w = spawn(
        (api, local),
        redis_server.url,
        requests=None,  # until stdin closes
        threads=2,
        budget_usd=1000.0,
        ledger=str(ledger),
        # A generous timeout: on a loaded machine a slow answer must not pass for an outage.
        state_settings={"retry_seconds": RETRY_SECONDS, "timeout_ms": 2000},
    )
    w.wait_ready()

    def healthy(line: Line) -> bool:
        return bool(line["served_by"] == "api" and line["notes"] == [])

    w.until(lambda seen: sum(map(healthy, seen)) >= 10)
    # Both threads' paid calls in flight across the kill: their holds were taken before
    # it, their settlements cannot reach Redis after it (kept in the process, replayed
    # after the restart). Killing while both threads wait for the API (no Redis call is
    # out) also keeps the kill from cutting off a reservation's reply, whose hold would
    # stay until it lapses.
    before = len(api.requests)
    api.script(hang(1.0), hang(1.0))  # each answers 7 + 3 tokens: 100 micro-dollars
    wait_for(lambda: len(api.requests) >= before + 2)  # one per thread: both are waiting
    killed_at = time.time()
    redis_server.kill()  # SIGKILL, mid-run
    w.until(
        lambda seen: (
            sum(CLOSED in x["notes"] for x in seen) >= 10
            and sum(QUEUED in x["notes"] for x in seen) >= 2
        )
    )
    time.sleep(2.5 * RETRY_SECONDS)  # a few retry windows fail too
    redis_server.start()  # same port; appendonly: the counters survive
    restarted_at = time.time()
    w.until(lambda seen: sum(healthy(x) and x["started"] > restarted_at for x in seen) >= 10)
    lines, end = w.finish()

    # No crash, no request lost: every request got an answer, and a record.
    assert [line["error"] for line in lines] == [None] * len(lines)
    assert sorted(line["i"] for line in lines) == list(range(len(lines)))
    with sqlite3.connect(ledger) as conn:
        records = conn.execute("SELECT served_by, cost_micro, decision FROM records").fetchall()
    conn.close()
    assert len(records) == len(lines)
    assert Counter((s, c) for s, c, _ in records) == Counter(
        (x["served_by"], x["cost"]) for x in lines
    )

    # The degradation was observed and recorded: budgets failed closed, so the requests
    # that could not check them were served by the free deployment.
    closed = [line for line in lines if CLOSED in line["notes"]]
    assert len(closed) >= 10
    assert {(x["served_by"], x["cost"]) for x in closed} == {("local", 0)}
    assert all(killed_at <= x["ended"] for x in closed)
    # ... and only while Redis was down, or left alone for `retry_seconds` after that
    assert all(x["started"] <= restarted_at + RETRY_SECONDS + 1.0 for x in closed)
    recorded_notes = Counter(
        tuple(json.loads(decision)["shared_state"]) for *_, decision in records
    )
    assert recorded_notes == Counter(tuple(x["notes"]) for x in lines)

    # It recovered: the last requests were served by the paid deployment with nothing
    # to report, and every paid call is on the Redis counter (a settlement cut off by
    # the kill was replayed once after the restart, not lost and not counted twice).
    assert healthy(lines[-1]) or healthy(lines[-2])
    queued = [x for x in lines if QUEUED in x["notes"]]  # the two hung calls
    assert [(x["served_by"], x["cost"]) for x in queued] == [("api", HANG_CALL_MICRO)] * 2
    assert all(x["started"] < killed_at < x["ended"] for x in queued)
    assert end["pending"] == 0
    assert end["health"] == {"api": ["closed", 0], "local": ["closed", 0]}
    spent, holds = counters(redis_server.url)
    paid = sum(x["cost"] for x in lines if x["served_by"] == "api")
    assert list(spent.values()) == [paid]
    paid_calls = sum(x["served_by"] == "api" for x in lines)
    assert paid == API_CALL_MICRO * (paid_calls - 2) + 2 * HANG_CALL_MICRO
    assert holds == {}
