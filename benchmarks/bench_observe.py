"""What metrics and spans add to a request (issue 17), measured side by side.

Three Routers over the same 3 deployments answer through an in-process backend that
returns a fixed response at once (no HTTP, no ledger: what is measured is the router's
own path, so the hooks' share of it is as large as it can be):

  off                 `tracing=False`, no metrics: the op is not wrapped at all
  metrics             `metrics=True`: the op driven by the watch, 6-9 metric updates
  metrics + tracing   also an OpenTelemetry SDK provider (BatchSpanProcessor, an
                      exporter that drops): a request span and a span per call

The calls are interleaved (off, metrics, tracing, off, ...) so machine drift hits all
three alike; each round of `CALLS` calls gives a median per configuration, and the table
shows the median of `ROUNDS` rounds, for `complete` and for `acomplete`.

    python benchmarks/bench_observe.py
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import router
from router._models import Deployment

__all__ = ["main"]

ROUNDS = 7
CALLS = 400
WARMUP = 200

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
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}
    ],
    "usage": {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100},
}
MESSAGES = [{"role": "user", "content": "Summarise the ticket below in two sentences. " * 8}]


class InstantBackend:
    """Answers every call at once with the same response."""

    def complete(self, deployment: Deployment, params: dict[str, Any], timeout: float) -> Any:
        return dict(RESPONSE)

    async def acomplete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> Any:
        return dict(RESPONSE)

    def stream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]:
        yield dict(RESPONSE)

    async def astream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        yield dict(RESPONSE)


def _tracing() -> None:
    """An SDK tracer provider whose spans are batched and dropped (what is measured is
    making, filling and ending the spans, not an exporter's network)."""
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)


def _routers() -> dict[str, router.Router]:
    def make(**options: Any) -> router.Router:
        return router.Router(
            DEPLOYMENTS, objective="best", baseline="gpt-4o", backend=InstantBackend(), **options
        )

    return {
        "off": make(tracing=False),
        "metrics": make(metrics=True, tracing=False),
        "metrics + tracing": make(metrics=True),
    }


Timed = Callable[[router.Router], float]


def _sync_call(r: router.Router) -> float:
    start = time.perf_counter()
    r.complete(MESSAGES, max_tokens=256, tenant="acme")
    return time.perf_counter() - start


def _measure(routers: dict[str, router.Router], timed: Timed) -> dict[str, list[float]]:
    """Per configuration, the median µs of each round."""
    rounds: dict[str, list[float]] = {name: [] for name in routers}
    for _ in range(WARMUP):
        for r in routers.values():
            timed(r)
    for _ in range(ROUNDS):
        seen: dict[str, list[float]] = {name: [] for name in routers}
        gc.collect()
        gc.disable()
        try:
            for _ in range(CALLS):
                for name, r in routers.items():
                    seen[name].append(timed(r) * 1e6)
        finally:
            gc.enable()
        for name, values in seen.items():
            rounds[name].append(statistics.median(values))
    return rounds


def _measure_async(routers: dict[str, router.Router]) -> dict[str, list[float]]:
    async def once(r: router.Router) -> float:
        start = time.perf_counter()
        await r.acomplete(MESSAGES, max_tokens=256, tenant="acme")
        return time.perf_counter() - start

    async def run_all() -> dict[str, list[float]]:
        rounds: dict[str, list[float]] = {name: [] for name in routers}
        for _ in range(WARMUP):
            for r in routers.values():
                await once(r)
        for _ in range(ROUNDS):
            seen: dict[str, list[float]] = {name: [] for name in routers}
            gc.collect()
            gc.disable()
            try:
                for _ in range(CALLS):
                    for name, r in routers.items():
                        seen[name].append(await once(r) * 1e6)
            finally:
                gc.enable()
            for name, values in seen.items():
                rounds[name].append(statistics.median(values))
        return rounds

    return asyncio.run(run_all())


def _table(title: str, rounds: dict[str, list[float]]) -> None:
    base = statistics.median(rounds["off"])
    print(title)
    print(f"  {'':<20} {'median us':>10} {'added us':>9} {'ratio':>6}   rounds (median us each)")
    for name, values in rounds.items():
        med = statistics.median(values)
        each = " ".join(f"{v:.0f}" for v in values)
        print(f"  {name:<20} {med:>10.1f} {med - base:>9.1f} {med / base:>6.3f}   {each}")


def main() -> None:
    _tracing()
    routers = _routers()
    print(
        f"Router.complete / acomplete on an instant in-process backend: {ROUNDS} rounds x "
        f"{CALLS} calls per configuration, interleaved; the median of the rounds' medians"
    )
    _table("complete (blocking driver)", _measure(routers, _sync_call))
    _table("acomplete (event loop)", _measure_async(routers))


if __name__ == "__main__":
    main()
