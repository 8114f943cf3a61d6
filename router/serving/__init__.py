"""Serving: provider calls (litellm), retries and fallback, the cascade, streams, and
one request end to end (hold, call, settle, record).

May import: the base modules, router.decision, router.state, router.money. Nothing
of tools.
"""

# -- the face: written by scripts/relayout.py (a re-run adds the names it lacks) --

from __future__ import annotations

from typing import TYPE_CHECKING

from router._lazy import face as _face

if TYPE_CHECKING:
    from router.serving._backends import Backend, LiteLLMBackend, client_timeout, timeout_error
    from router.serving._backends import _litellm as _litellm
    from router.serving._cascade import Cascade
    from router.serving._executor import RetryPolicy, RetrySettings
    from router.serving._serving import Pipeline, Route
    from router.serving._streaming import AsyncStream, Stream, aopen_head, open_head

__all__ = [
    "AsyncStream",
    "Backend",
    "Cascade",
    "LiteLLMBackend",
    "Pipeline",
    "RetryPolicy",
    "RetrySettings",
    "Route",
    "Stream",
    "aopen_head",
    "client_timeout",
    "open_head",
    "timeout_error",
]

_LAZY: dict[str, str] = {
    "AsyncStream": "router.serving._streaming",
    "Backend": "router.serving._backends",
    "Cascade": "router.serving._cascade",
    "LiteLLMBackend": "router.serving._backends",
    "Pipeline": "router.serving._serving",
    "RetryPolicy": "router.serving._executor",
    "RetrySettings": "router.serving._executor",
    "Route": "router.serving._serving",
    "Stream": "router.serving._streaming",
    "_litellm": "router.serving._backends",
    "aopen_head": "router.serving._streaming",
    "client_timeout": "router.serving._backends",
    "open_head": "router.serving._streaming",
    "timeout_error": "router.serving._backends",
}
"""Name -> the private module that defines it, imported on first access."""


__getattr__, __dir__ = _face(__name__, _LAZY, __all__)
