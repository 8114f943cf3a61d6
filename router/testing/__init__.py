"""Test support for users and for router's own tests: a fault-injecting OpenAI-compatible server.

`FaultServer` serves `/v1/chat/completions` on 127.0.0.1 and answers each request
with the next scripted `Fault` (rate limits, 5xx, hangs, resets, malformed JSON,
OpenAI error bodies, SSE streams that drop mid-way), then with its default.
Standard library only; `import router` does not import this package.
"""

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

__all__ = [
    "Fault",
    "FaultKind",
    "FaultServer",
    "bad_request",
    "content_filtered",
    "context_length_exceeded",
    "hang",
    "malformed_json",
    "ok",
    "ok_billed",
    "ok_with_logprobs",
    "rate_limited",
    "reset",
    "server_error",
    "stream",
    "unauthorized",
]
