"""Every error `router` raises, under one base.

```
RouterError
├── ConfigError              a config or policy file (or Router argument) is wrong:
│   └── UnknownModelError    names file, key and what to write instead
├── InvalidRequest           the caller's request is malformed (messages, max_tokens...)
├── NoEligibleDeployment     nothing may serve this request; lists every rejection
├── ProviderError            one deployment failed; `disposition` says what happens next
│   ├── RateLimited, ProviderUnavailable, ProviderTimeout         RETRY the same deployment
│   ├── ProviderUnreachable: ConnectionRefused, HostNotFound, TLSFailed   FALLBACK in the plan
│   ├── ContextWindowExceeded, ContentFiltered, AuthenticationFailed   FALLBACK in the plan
│   │   └── MissingCredentials, CredentialsRejected   never open a breaker
│   └── BadRequest                                                RAISE at once
├── AllDeploymentsFailed     every deployment in the plan failed or the deadline passed
├── StreamInterrupted        a stream broke after the first chunk reached the caller
├── LedgerError              a ledger file is corrupt, foreign or unreadable (never overwritten)
└── ModelIntegrityError      a local model file does not match its SHA-256 (or has none): not served
```

Each message is one line a person can act on. Prompt text and secrets never
appear in a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from router._records import Decision

__all__ = [
    "AllDeploymentsFailed",
    "AuthenticationFailed",
    "BadRequest",
    "ConfigError",
    "ConnectionRefused",
    "ContentFiltered",
    "ContextWindowExceeded",
    "CredentialsRejected",
    "Disposition",
    "HostNotFound",
    "InvalidRequest",
    "LedgerError",
    "MissingCredentials",
    "ModelIntegrityError",
    "NoEligibleDeployment",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ProviderUnreachable",
    "RateLimited",
    "RouterError",
    "StreamInterrupted",
    "TLSFailed",
    "UnknownModelError",
]


class RouterError(Exception):
    """Base of every error raised by `router`."""

    request_id: str | None = None
    """The request's id when it was planned and recorded (what `Router.feedback` takes and
    the ledger row carries); None for errors raised before (a bad argument, a config)."""


class ConfigError(RouterError, ValueError):
    """A configuration or policy value is wrong.

    `source` is the file (or "Router(...)" for arguments given in code), `key`
    the dotted path of the offending value, `message` what is wrong and what to
    write instead.
    """

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


class UnknownModelError(ConfigError):
    """A deployment names a model the catalog does not know and omits the facts needed."""


class InvalidRequest(RouterError, ValueError):
    """The caller's request is malformed; `field` names the argument to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NoEligibleDeployment(RouterError):
    """No deployment may serve the request. `decision.rejected` holds every reason."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        parts = [f"{r.name}: {'; '.join(r.reasons)}" for r in decision.rejected]
        detail = " | ".join(parts) if parts else "no deployments are configured"
        f = decision.features
        why = [
            *(["declared"] if f.declared_sensitivity == f.sensitivity != "public" else []),
            *(d.kind for d in f.detections if d.level == f.sensitivity),
            *(f"unscannable {u.kind}" for u in f.unscannable if u.level == f.sensitivity),
        ]
        because = f" from {', '.join(why)}" if why and f.sensitivity != "public" else ""
        state = "".join(f"; {n}" for n in decision.shared_state)  # budgets failed closed
        super().__init__(
            f"no eligible deployment under policy {decision.policy!r} "
            f"(sensitivity {f.sensitivity}{because}): {detail}{state}"
        )
        self.request_id = decision.request_id


class Disposition(StrEnum):
    """What the executor does with a provider error."""

    RETRY = "retry"  # the same deployment, after a backoff (rate limit, 5xx, timeout...)
    FALLBACK = "fallback"  # the next deployment in the plan (context window, auth, filter)
    RAISE = "raise"  # stop at once: the caller's request is invalid; no money on fallbacks


class ProviderError(RouterError):
    """A deployment failed to answer. Messages name the deployment and the kind of failure,
    never the prompt, the provider's raw message or a credential."""

    disposition: ClassVar[Disposition] = Disposition.RETRY

    def __init__(
        self,
        deployment: str,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.deployment = deployment
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        code = f" (HTTP {status})" if status else ""
        super().__init__(f"{deployment}: {detail}{code}")


class RateLimited(ProviderError):
    """429: retried after Retry-After (or a backoff)."""


class ProviderUnavailable(ProviderError):
    """5xx, a connection reset, or a malformed response: retried."""


class ProviderTimeout(ProviderError):
    """No answer within the time left: retried while the deadline allows."""


class ContextWindowExceeded(ProviderError):
    """The prompt does not fit this deployment: the next one in the plan may take it."""

    disposition = Disposition.FALLBACK


class ContentFiltered(ProviderError):
    """The provider's content filter refused: the next deployment may answer."""

    disposition = Disposition.FALLBACK


class AuthenticationFailed(ProviderError):
    """This deployment's credentials are missing or refused: the next one may serve."""

    disposition = Disposition.FALLBACK


class MissingCredentials(AuthenticationFailed):
    """The deployment's key is not configured (its `api_key_env` variable, or the provider's
    usual one, is unset): nothing was sent. Said again on every request that needs the key;
    never opens a breaker (setting the variable fixes the next request at once)."""


class CredentialsRejected(AuthenticationFailed):
    """The provider answered 401 or 403 to the key: said on every request, never opens a
    breaker (a breaker would hide the cause behind "cooling down")."""


class ProviderUnreachable(ProviderUnavailable):
    """No connection could be made, for a reason retrying at once will not change: the next
    deployment in the plan is tried. Counts against the deployment's breaker."""

    disposition = Disposition.FALLBACK


class ConnectionRefused(ProviderUnreachable):
    """Nothing listens at the deployment's host:port (a local server not running)."""


class HostNotFound(ProviderUnreachable):
    """The deployment's host name does not resolve (DNS)."""


class TLSFailed(ProviderUnreachable):
    """The TLS handshake failed: certificate rejected, or the server does not speak TLS."""


class BadRequest(ProviderError):
    """The caller's request is invalid for the API: raised at once, no fallback."""

    disposition = Disposition.RAISE


class AllDeploymentsFailed(RouterError):
    """Every deployment in the plan failed, or the deadline passed. `attempts` says what
    was tried; fallback never left the plan."""

    def __init__(self, attempts: Sequence[Any], reason: str) -> None:
        self.attempts = tuple(attempts)
        tried = (
            ", ".join(f"{a.deployment} #{a.try_number}: {a.error}" for a in self.attempts)
            or "nothing"
        )
        super().__init__(f"{reason}; tried {tried}")


class StreamInterrupted(RouterError):
    """A stream failed after chunks reached the caller: no fallback is possible then.
    `delivered` is the text the caller already received, `deployment` who sent it."""

    def __init__(self, deployment: str, delivered: str, cause: ProviderError) -> None:
        self.deployment = deployment
        self.delivered = delivered
        self.cause = cause
        super().__init__(
            f"{deployment}: stream interrupted after {len(delivered)} characters ({cause.detail})"
        )


class LedgerError(RouterError):
    """A ledger file cannot be used: corrupt, not a router ledger, or unreadable.

    The file is left exactly as it was; `path` names it.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class ModelIntegrityError(RouterError):
    """A local model file failed verification and was not served.

    `path` is the file, `expected` the SHA-256 it had to match (None when nothing pinned
    it), `actual` the SHA-256 it has. Nothing was started: no process, no port.
    """

    def __init__(self, path: str, expected: str | None, actual: str, message: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        self.message = message
        super().__init__(f"{path}: {message}")
