"""Every router error as an HTTP answer in OpenAI's error shape, by one table.

`{"error": {"message", "type", "param", "code"}}`, the shape the OpenAI SDKs parse into
their exceptions (`BadRequestError`, `NotFoundError`, `RateLimitError`, ...). Each class of
`router.errors` has its own row in `STATUS` (a test keeps the table equal to the module's
`__all__`), so a new error is mapped on purpose, not by inheritance. Two rows are refined
by what the error carries: `NoEligibleDeployment` is 429 when a budget left the plan empty
(with `Retry-After`: when the budget's window resets) and 503 when the shared state that
holds the budgets did not answer; `AllDeploymentsFailed` is 504 when the deadline passed
and 503 when every deployment was benched by its breaker.

Messages are the router's own, which never hold prompt text or a secret (invariant 5);
errors of the server's own machinery (config, ledger, model file) say only that and are
logged in full for the operator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from router.errors import (
    AllDeploymentsFailed,
    AuthenticationFailed,
    BadRequest,
    ConfigError,
    ConnectionRefused,
    ContentFiltered,
    ContextWindowExceeded,
    CredentialsRejected,
    HostNotFound,
    InvalidRequest,
    LedgerError,
    MissingCredentials,
    ModelIntegrityError,
    NoEligibleDeployment,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
    RouterError,
    StreamInterrupted,
    TLSFailed,
    UnknownModelError,
)

__all__ = ["STATUS", "Answer", "Mapped", "answer_for", "error_body", "plain"]


class Mapped(NamedTuple):
    """An error class's HTTP status and OpenAI error `type` and `code`."""

    status: int
    type: str
    code: str


_INVALID, _UPSTREAM, _SERVER = "invalid_request_error", "upstream_error", "server_error"

STATUS: Mapping[type[RouterError], Mapped] = {
    RouterError: Mapped(500, _SERVER, "router_error"),
    ConfigError: Mapped(500, _SERVER, "server_misconfigured"),
    UnknownModelError: Mapped(500, _SERVER, "server_misconfigured"),
    InvalidRequest: Mapped(400, _INVALID, "invalid_request"),
    NoEligibleDeployment: Mapped(400, _INVALID, "no_eligible_deployment"),
    # a deployment's failure reaches the client only when the plan cannot go on
    ProviderError: Mapped(502, _UPSTREAM, "upstream_error"),
    RateLimited: Mapped(503, _UPSTREAM, "upstream_rate_limited"),
    ProviderUnavailable: Mapped(502, _UPSTREAM, "upstream_unavailable"),
    ProviderTimeout: Mapped(504, _UPSTREAM, "upstream_timeout"),
    ProviderUnreachable: Mapped(503, _UPSTREAM, "upstream_unreachable"),
    ConnectionRefused: Mapped(503, _UPSTREAM, "upstream_unreachable"),
    HostNotFound: Mapped(503, _UPSTREAM, "upstream_unreachable"),
    TLSFailed: Mapped(503, _UPSTREAM, "upstream_unreachable"),
    ContextWindowExceeded: Mapped(400, _INVALID, "context_length_exceeded"),
    ContentFiltered: Mapped(400, _INVALID, "content_filter"),
    # the router's credentials for a deployment, not the client's key: never a 401
    AuthenticationFailed: Mapped(502, _UPSTREAM, "upstream_credentials"),
    MissingCredentials: Mapped(502, _UPSTREAM, "upstream_credentials"),
    CredentialsRejected: Mapped(502, _UPSTREAM, "upstream_credentials"),
    BadRequest: Mapped(400, _INVALID, "upstream_rejected_request"),
    AllDeploymentsFailed: Mapped(502, _UPSTREAM, "all_deployments_failed"),
    StreamInterrupted: Mapped(502, _UPSTREAM, "stream_interrupted"),
    LedgerError: Mapped(500, _SERVER, "ledger_unavailable"),
    ModelIntegrityError: Mapped(500, _SERVER, "model_integrity"),
}
"""Each error class of `router.errors` -> its answer (refined for two: module docstring)."""

_OPERATOR = (ConfigError, LedgerError, ModelIntegrityError)
"""Errors about the server's own set-up: the client is told only where to look."""
_STATE_CLOSED = "shared state unavailable: budgets failed closed"


class Answer(NamedTuple):
    """An error answer: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def error_body(
    message: str, type_: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def plain(status: int, message: str, code: str, param: str | None = None) -> Answer:
    """An answer the server gives before the router is asked (auth, size, parsing)."""
    type_ = _INVALID if status < 500 else _SERVER
    return Answer(status, error_body(message, type_, code, param), {})


def _mapped(exc: RouterError) -> Mapped:
    for cls in type(exc).__mro__:
        found = STATUS.get(cls)
        if found is not None:
            return found
    return STATUS[RouterError]


def answer_for(exc: RouterError, *, retry_after: float | None = None) -> Answer:
    """The answer for `exc`. `retry_after`: seconds until a refused request may succeed
    (a budget's reset, a breaker's probe), sent as `Retry-After` on 429 and 503."""
    status, type_, code = _mapped(exc)
    message, param = str(exc), None
    if isinstance(exc, InvalidRequest):
        param = exc.field
    elif isinstance(exc, NoEligibleDeployment):
        decision = exc.decision
        if any(_STATE_CLOSED in note for note in decision.shared_state):
            status, type_, code = 503, _SERVER, "shared_state_unavailable"
        elif any(r.stage == "budget" for r in decision.rejected):
            status, type_, code = 429, "insufficient_quota", "budget_exhausted"
    elif isinstance(exc, AllDeploymentsFailed):
        if "deadline" in message.split(";", 1)[0]:
            status, code = 504, "deadline_exceeded"
        elif exc.attempts and all(a.outcome == "skipped" for a in _attempts(exc)):
            status, code = 503, "deployments_cooling_down"
    elif isinstance(exc, _OPERATOR):
        message = (
            f"the router cannot serve this request ({type(exc).__name__}); the server's "
            "log names the cause"
        )
    headers = {}
    if retry_after is not None and status in (429, 503):
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return Answer(status, error_body(message, type_, code, param), headers)


def _attempts(exc: AllDeploymentsFailed) -> Sequence[Any]:
    return exc.attempts
