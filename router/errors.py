"""Every error `router` raises, under one base.

```
RouterError
├── ConfigError              a config or policy file (or Router argument) is wrong:
│   └── UnknownModelError    names file, key and what to write instead
├── InvalidRequest           the caller's request is malformed (messages, max_tokens...)
└── NoEligibleDeployment     nothing may serve this request; lists every rejection
```

Each message is one line a person can act on. Prompt text and secrets never
appear in a message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.models import Decision

__all__ = [
    "ConfigError",
    "InvalidRequest",
    "NoEligibleDeployment",
    "RouterError",
    "UnknownModelError",
]


class RouterError(Exception):
    """Base of every error raised by `router`."""


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
        super().__init__(
            f"no eligible deployment under policy {decision.policy!r} "
            f"(sensitivity {decision.features.sensitivity}): {detail}"
        )
