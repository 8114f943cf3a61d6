"""Test support for users and for router's own tests: a fault-injecting OpenAI-compatible
server, an in-process backend speaking the same faults, and a switch for retry waits.

`FaultServer` serves `/v1/chat/completions` on 127.0.0.1 and answers each request
with the next scripted `Fault` (rate limits, 5xx, hangs, resets, malformed JSON,
OpenAI error bodies, SSE streams that drop mid-way), then with its default.
Standard library only; `import router` does not import this package.

`MockBackend` (`Router(..., backend=MockBackend(...))`) answers the same `Fault`s in the
process, with no HTTP and no litellm: what LiteLLMBackend makes of each fault served by
a FaultServer, the same errors and the same response dicts. Use it to test what the
router does with answers (budgets, ledger, cache, policy); keep a FaultServer for what
litellm does with the wire.

`no_retry_waits()` (a context manager) and `set_testing(True)` make the router skip its
retry backoffs, as stamina's testing mode does: a test of three retries after a 429
takes no time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from router.testing.faultserver import (
    Fault,
    FaultKind,
    FaultServer,
    bad_request,
    content_filtered,
    context_length_exceeded,
    hang,
    malformed_json,
    ok,
    ok_billed,
    ok_with_logprobs,
    rate_limited,
    reset,
    server_error,
    stream,
    unauthorized,
)

if TYPE_CHECKING:  # loaded on first use: it imports router's models (pydantic)
    from router.testing.mock_backend import MockBackend, MockCall, MockEndpoint, MockServer

__all__ = [
    "Fault",
    "FaultKind",
    "FaultServer",
    "MockBackend",
    "MockCall",
    "MockEndpoint",
    "MockServer",
    "bad_request",
    "content_filtered",
    "context_length_exceeded",
    "hang",
    "malformed_json",
    "no_retry_waits",
    "ok",
    "ok_billed",
    "ok_with_logprobs",
    "rate_limited",
    "reset",
    "server_error",
    "set_testing",
    "stream",
    "unauthorized",
]

_LAZY = frozenset({"MockBackend", "MockCall", "MockEndpoint", "MockServer"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from router.testing import mock_backend  # noqa: PLC0415

        value = getattr(mock_backend, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'router.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)


def set_testing(enabled: bool) -> None:
    """Testing mode on (True): the router's retry waits (`Sleep` effects: backoffs,
    Retry-After) return at once, in every thread, until `set_testing(False)`. Like
    `stamina.set_testing`; `no_retry_waits()` does it for one block."""
    from router._effects import WAITS  # noqa: PLC0415  (no import cycle, nothing heavy)

    WAITS.enabled = not enabled


@contextlib.contextmanager
def no_retry_waits() -> Iterator[None]:
    """Within the block the router does not wait between retries; after it, as before.

    Process-wide (a flag, not a context variable), so a router serving from other threads
    skips its waits too while the block runs."""
    from router._effects import WAITS  # noqa: PLC0415

    before = WAITS.enabled
    WAITS.enabled = False
    try:
        yield
    finally:
        WAITS.enabled = before
