"""Observability: Prometheus metrics and OpenTelemetry spans for every request.

Metrics are on when a Router is built with `metrics=True` (`[router] metrics = true`;
`pip install 'freefirst-router[metrics]'`); `render_metrics()` gives the body and
content type of a `GET /metrics` answer. Spans are on when OpenTelemetry is installed
and the application set a tracer provider (`[router] tracing = false` turns them off);
otherwise every hook is a no-op. See `router.observe._metrics` (the metrics, their
labels, several worker processes) and `router.observe._tracing` (spans and attributes).

May import: the base modules only. The serving and money layers call its hooks
(`current()`); the facade builds an `Observer` per Router.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router._lazy import face as _face

if TYPE_CHECKING:
    from router.observe._hooks import NOOP, Watch, bound, current
    from router.observe._metrics import (
        MAX_TENANTS,
        OTHER,
        name_tenants,
        render_metrics,
        tenant_label,
    )
    from router.observe._observer import Observer

__all__ = [
    "MAX_TENANTS",
    "NOOP",
    "OTHER",
    "Observer",
    "Watch",
    "bound",
    "current",
    "name_tenants",
    "render_metrics",
    "tenant_label",
]

_LAZY: dict[str, str] = {
    "MAX_TENANTS": "router.observe._metrics",
    "NOOP": "router.observe._hooks",
    "OTHER": "router.observe._metrics",
    "Observer": "router.observe._observer",
    "Watch": "router.observe._hooks",
    "bound": "router.observe._hooks",
    "current": "router.observe._hooks",
    "name_tenants": "router.observe._metrics",
    "render_metrics": "router.observe._metrics",
    "tenant_label": "router.observe._metrics",
}
"""Name -> the private module that defines it, imported on first access."""


__getattr__, __dir__ = _face(__name__, _LAZY, __all__)
