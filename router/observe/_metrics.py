"""Prometheus metrics: one set per process, in prometheus_client's default registry.

| metric | type | labels |
|---|---|---|
| `router_requests_total` | counter | tenant, deployment, outcome (below) |
| `router_attempts_total` | counter | deployment, outcome (ok, retry, fallback, ...) |
| `router_request_duration_seconds` | histogram | deployment |
| `router_overhead_seconds` | histogram | deployment |
| `router_cost_usd_total` | counter | tenant, deployment |
| `router_baseline_cost_usd_total` | counter | tenant, deployment |
| `router_savings_usd` | gauge (a running sum; may go down) | tenant, deployment |
| `router_tokens_total` | counter | deployment, kind (input, output) |
| `router_cascade_total` | counter | verdict (kept, escalated, unverified) |
| `router_breaker_state` | gauge: 0 closed, 1 half-open, 2 open | deployment |
| `router_breaker_failures` | gauge | deployment |
| `router_budget_remaining_usd` | gauge | scope, tenant, tag, period |
| `router_budget_limit_usd` | gauge | scope, tenant, tag, period |

Labels are bounded: `deployment` is a name from the config (or "none" when nothing
served, as for a request refused as invalid before it was planned: outcome "invalid"),
`outcome` and `verdict` come from fixed lists, and `tenant` is a tenant named in
the config (`[[budgets]]`, "default", or `Observer.name_tenants`), at most
`MAX_TENANTS` per process; any other tenant is counted as "other". No prompt text, key,
request id or error message is ever a label value.

`router_requests_total`'s outcomes: the ledger record's (`ok`, `interrupted`, `error`,
`unservable`), with `cache_hit`, `budget_exhausted` and `cancelled` (its caller cut it:
a stream closed or left after its first chunk, a request cancelled before its answer,
e.g. a server's client that disconnected) told apart, and `invalid` for a request
refused as invalid before it was planned (it has no record).

Breakers and budgets are read when the metrics are rendered (`render_metrics()`), from
every observing Router of this process; with shared state (Redis, or `[state]
directory`) that is every process's view.

Several worker processes (`uvicorn --workers N`, gunicorn): set `PROMETHEUS_MULTIPROC_DIR`
to an empty directory before the workers start (prometheus_client then keeps each
process's values in files there) and `render_metrics()` sums every worker's files.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from router.errors import ConfigError

__all__ = [
    "MAX_TENANTS",
    "OTHER",
    "Metrics",
    "Source",
    "metrics",
    "name_tenants",
    "named_tenants",
    "render_metrics",
    "tenant_label",
]

_log = logging.getLogger("router")

MAX_TENANTS = 100
"""Tenant label values per process, "other" aside: the cap on the tenant dimension."""
OTHER = "other"
"""The tenant label of every tenant not named (or named past the cap)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
)  # fmt: skip
BREAKER_VALUES = {"closed": 0.0, "half-open": 1.0, "open": 2.0}

_lock = threading.Lock()
_named: set[str] = {"default"}


def name_tenants(names: Iterable[str]) -> None:
    """Give these tenants a label of their own (up to `MAX_TENANTS` in all)."""
    with _lock:
        for name in names:
            if name in _named:
                continue
            if len(_named) >= MAX_TENANTS:
                _log.warning(
                    "metrics: more than %d tenants named; the others are counted as %r",
                    MAX_TENANTS,
                    OTHER,
                )
                return
            _named.add(name)


def named_tenants() -> list[str]:
    """The tenants with a label of their own."""
    with _lock:
        return sorted(_named)


def tenant_label(tenant: str) -> str:
    """The tenant's label value: its name when named, else "other"."""
    return tenant if tenant in _named else OTHER


class Source:
    """What an observing Router shows when the metrics are rendered: its breakers and
    budgets (`router.observe._observer.Observer` implements it)."""

    def breakers(self) -> Iterable[tuple[str, str, int]]:
        """(deployment, state, consecutive failures) per deployment."""
        return ()

    def budgets(self) -> Iterable[tuple[tuple[str, str, str, str], float, float]]:
        """((scope, tenant label, tag, period), remaining USD, limit USD) per counter."""
        return ()


_sources: weakref.WeakSet[Source] = weakref.WeakSet()


class Metrics:
    """The metric objects (created once per process, on first use)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram  # noqa: PLC0415

        self.requests = Counter(
            "router_requests_total",
            "Requests by tenant, serving deployment and outcome",
            ("tenant", "deployment", "outcome"),
        )
        self.attempts = Counter(
            "router_attempts_total",
            "Calls to deployments (and breaker skips) by outcome",
            ("deployment", "outcome"),
        )
        self.duration = Histogram(
            "router_request_duration_seconds",
            "Wall time of a request, from the call to its record (a stream: to its end)",
            ("deployment",),
            buckets=LATENCY_BUCKETS,
        )
        self.overhead = Histogram(
            "router_overhead_seconds",
            "The router's own time in a request: its wall time less provider calls and "
            "retry waits (a stream: up to its first chunk, plus its settlement)",
            ("deployment",),
            buckets=OVERHEAD_BUCKETS,
        )
        self.cost = Counter(
            "router_cost_usd_total", "What requests cost, USD", ("tenant", "deployment")
        )
        self.baseline = Counter(
            "router_baseline_cost_usd_total",
            "What the same requests would have cost on the baseline model, USD",
            ("tenant", "deployment"),
        )
        self.savings = Gauge(
            "router_savings_usd",
            "Baseline cost minus cost, summed (negative when the router paid more)",
            ("tenant", "deployment"),
            multiprocess_mode="sum",
        )
        self.tokens = Counter(
            "router_tokens_total", "Tokens of served answers", ("deployment", "kind")
        )
        self.cascade = Counter("router_cascade_total", "Cascaded requests by verdict", ("verdict",))
        self.breaker = Gauge(
            "router_breaker_state",
            "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open",
            ("deployment",),
            multiprocess_mode="mostrecent",
        )
        self.breaker_failures = Gauge(
            "router_breaker_failures",
            "Consecutive failures counted against the deployment",
            ("deployment",),
            multiprocess_mode="mostrecent",
        )
        budget_labels = ("scope", "tenant", "tag", "period")
        self.budget_remaining = Gauge(
            "router_budget_remaining_usd",
            "What is left of a budget in its current window, USD",
            budget_labels,
            multiprocess_mode="mostrecent",
        )
        self.budget_limit = Gauge(
            "router_budget_limit_usd",
            "A budget's limit per window, USD",
            budget_labels,
            multiprocess_mode="mostrecent",
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached (prometheus_client's lookup takes a lock)."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def refresh(self) -> None:
        """Set the breaker and budget gauges from every observing Router of this process."""
        for source in list(_sources):
            try:
                for name, state, failures in source.breakers():
                    self.child(self.breaker, name).set(BREAKER_VALUES.get(state, 0.0))
                    self.child(self.breaker_failures, name).set(failures)
                for labels, remaining, limit in source.budgets():
                    self.child(self.budget_remaining, *labels).set(remaining)
                    self.child(self.budget_limit, *labels).set(limit)
            except Exception as exc:  # a store down: the gauges keep their last values
                _log.debug("metrics: could not read breakers or budgets (%s)", exc)


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """The process's metrics, created on first use (needs prometheus_client)."""
    global _metrics  # noqa: PLW0603
    if _metrics is None:
        with _lock:
            if _metrics is None:
                try:
                    _metrics = Metrics()
                except ImportError:
                    raise ConfigError(
                        "Router(...)",
                        "metrics",
                        "metrics need prometheus_client: pip install 'freefirst-router[metrics]'",
                    ) from None
    return _metrics


def watch_source(source: Source) -> None:
    """Show `source`'s breakers and budgets whenever the metrics are rendered."""
    _sources.add(source)


def render_metrics() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, and its content type: the body and the
    `Content-Type` of a `GET /metrics` answer.

    Reads every observing Router's breakers and budgets first (a Redis or SQLite read
    each: call it off the event loop, e.g. `await asyncio.to_thread(render_metrics)`).
    With `PROMETHEUS_MULTIPROC_DIR` set, it renders the sum of every worker process's
    values from that directory."""
    m = metrics()
    m.refresh()
    from prometheus_client import (  # noqa: PLC0415
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
    )

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def sources() -> list[Source]:
    """The observing Routers alive now (for tests)."""
    return list(_sources)
