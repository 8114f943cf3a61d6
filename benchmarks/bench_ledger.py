"""What the ledger and a budget add to a request, measured side by side.

Three Routers over the same 3 deployments (a free local model, a cheap self-hosted
one, a paid API the "best" objective prefers) answer `complete` through an
in-process backend that returns a fixed response at once (no HTTP: what is measured
is the router's own path, not a server):

  A. no ledger                      plan + call + accounting
  B. ledger                         + one record written (SQLite WAL, real disk)
  C. ledger + a hard daily budget   + read the budget, reserve the maximum cost,
                                      settle it with the record (one more transaction)

The loop interleaves A, B and C call by call so machine drift hits all three alike.
Target (issue 4): C - A, the ledger write plus the budget reservation, p50 <= 0.3 ms.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import router
from router._models import Deployment

__all__ = ["main"]

TARGET_ADDED_MS = 0.3
WARMUP = 200
ITERS = 3_000

DEPLOYMENTS: list[dict[str, Any]] = [
    {"name": "local", "model": "openai/a", "api_base": "http://127.0.0.1:9/v1",
     "hosting": "local", "context_window": 32_768, "quality": 0.6},
    {"name": "gpu", "model": "openai/b", "api_base": "http://127.0.0.1:9/v1",
     "hosting": "self-hosted", "context_window": 32_768, "quality": 0.75,
     "input_cost_per_mtok": 0.1, "output_cost_per_mtok": 0.2},
    {"name": "api", "model": "gpt-4o", "hosting": "api", "quality": 0.95},
]  # fmt: skip

RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "model": "x",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}],
    "usage": {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100},
}
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant for the support team."},
    {"role": "user", "content": "Summarise the ticket below in two sentences. " * 8},
]


class InstantBackend:
    """Answers every call at once with the same response (the router's path only)."""

    def complete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        return dict(RESPONSE)

    async def acomplete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        return dict(RESPONSE)

    def stream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]:
        yield dict(RESPONSE)

    async def astream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        yield dict(RESPONSE)


def _router(**options: Any) -> router.Router:
    return router.Router(
        DEPLOYMENTS, objective="best", baseline="gpt-4o", backend=InstantBackend(), **options
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        routers = {
            "A no ledger": _router(),
            "B ledger": _router(ledger=folder / "b.sqlite"),
            "C ledger + budget": _router(
                ledger=folder / "c.sqlite",
                budgets=[{"tenant": "*", "period": "day", "usd": 1e9}],
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in routers}
        for i in range(WARMUP + ITERS):
            for name, r in routers.items():
                gc.disable()
                start = time.perf_counter()
                r.complete(MESSAGES, max_tokens=256, tenant="acme")
                elapsed = time.perf_counter() - start
                gc.enable()
                if i >= WARMUP:
                    times[name].append(elapsed * 1000)
        c = routers["C ledger + budget"]
        assert c.ledger is not None
        served = c.ledger.query("SELECT served_by, COUNT(*) FROM records GROUP BY served_by")
    print(f"Router.complete, in-process instant backend, {ITERS:,} calls each, interleaved")
    print(f"  {'':<20} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    for name, values in times.items():
        print(
            f"  {name:<20} {statistics.median(values):>8.3f} {_pct(values, 0.9):>8.3f} "
            f"{_pct(values, 0.99):>8.3f}"
        )
    base = statistics.median(times["A no ledger"])
    ledger_only = statistics.median(times["B ledger"]) - base
    added = statistics.median(times["C ledger + budget"]) - base
    # Per-iteration differences are paired (same moment, same drift): a steadier estimate.
    paired = statistics.median(
        c_ms - a_ms
        for a_ms, c_ms in zip(times["A no ledger"], times["C ledger + budget"], strict=True)
    )
    print(f"  served by (C): {dict(served)}")
    print(f"  added by the ledger write:                       p50 {ledger_only:.3f} ms")
    print(f"  added by ledger write + budget reserve/settle:   p50 {added:.3f} ms "
          f"(paired median {paired:.3f} ms)")  # fmt: skip
    verdict = "PASS" if paired <= TARGET_ADDED_MS else "MISS"
    print(f"  target: added p50 <= {TARGET_ADDED_MS} ms: {verdict}")


if __name__ == "__main__":
    main()
