"""router: free open-weights models by default, paid closed APIs by exception.

Each request is scored against cost, capability and policy and planned onto a
local open model or a closed API, with a record of why. Start with
`router.Router` (or `Router.from_config(path)`) and `Router.plan(messages)`.

`import router` loads only this module and `router.errors`: every other name is
imported on first use (PEP 562 `__getattr__`), so a process that only catches the
router's errors, or starts a CLI, does not pay for pydantic and the planner. litellm
is imported later still, by the first call to a model or by `Router.warmup()`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from router import errors
from router.errors import (
    AllDeploymentsFailed,
    AuthenticationFailed,
    BadRequest,
    ConfigError,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    LedgerError,
    ModelIntegrityError,
    NoEligibleDeployment,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    RouterError,
    StreamInterrupted,
    UnknownModelError,
)

if TYPE_CHECKING:  # the lazy names, for type checkers and editors
    from router import policy
    from router._router import Router
    from router.backends import Backend, LiteLLMBackend
    from router.budgets import Budget
    from router.cache import ResponseCache
    from router.catalog import DeploymentSpec
    from router.cooldowns import CooldownPolicy
    from router.executor import RetryPolicy
    from router.ledger import Ledger
    from router.models import CostModel, Deployment, Features, Request
    from router.policy import Policy
    from router.records import Attempt, Candidate, Cost, Decision, Rejection, Result, Usage
    from router.settings import CooldownSettings, RetrySettings, RouterConfig, Settings
    from router.state.settings import StateSettings
    from router.streaming import AsyncStream, Stream
    from router.verify import CascadeSettings

__version__ = "0.1.0"

__all__ = [
    "AllDeploymentsFailed",
    "AsyncStream",
    "Attempt",
    "AuthenticationFailed",
    "Backend",
    "BadRequest",
    "Budget",
    "Candidate",
    "CascadeSettings",
    "ConfigError",
    "ContentFiltered",
    "ContextWindowExceeded",
    "CooldownPolicy",
    "CooldownSettings",
    "Cost",
    "CostModel",
    "Decision",
    "Deployment",
    "DeploymentSpec",
    "Features",
    "InvalidRequest",
    "Ledger",
    "LedgerError",
    "LiteLLMBackend",
    "ModelIntegrityError",
    "NoEligibleDeployment",
    "Policy",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "Rejection",
    "Request",
    "ResponseCache",
    "Result",
    "RetryPolicy",
    "RetrySettings",
    "Router",
    "RouterConfig",
    "RouterError",
    "Settings",
    "StateSettings",
    "Stream",
    "StreamInterrupted",
    "UnknownModelError",
    "Usage",
    "__version__",
    "errors",
    "policy",
]
# Every error class `router.errors` lists, also one added there after this list was written.
_MORE_ERRORS = [n for n in errors.__all__ if n != "Disposition" and n not in __all__]
globals().update({n: getattr(errors, n) for n in _MORE_ERRORS})
__all__.extend(_MORE_ERRORS)

_LAZY: dict[str, str] = {
    "AsyncStream": "router.streaming",
    "Attempt": "router.records",
    "Backend": "router.backends",
    "Budget": "router.budgets",
    "CascadeSettings": "router.verify",
    "Candidate": "router.records",
    "CooldownPolicy": "router.cooldowns",
    "CooldownSettings": "router.settings",
    "Cost": "router.records",
    "CostModel": "router.models",
    "Decision": "router.records",
    "Deployment": "router.models",
    "DeploymentSpec": "router.catalog",
    "Features": "router.models",
    "Ledger": "router.ledger",
    "LiteLLMBackend": "router.backends",
    "Policy": "router.policy",
    "Rejection": "router.records",
    "Request": "router.models",
    "ResponseCache": "router.cache",
    "Result": "router.records",
    "RetryPolicy": "router.executor",
    "RetrySettings": "router.settings",
    "Router": "router._router",
    "RouterConfig": "router.settings",
    "Settings": "router.settings",
    "StateSettings": "router.state.settings",
    "Stream": "router.streaming",
    "Usage": "router.records",
}
"""Public name -> the module that defines it, imported on first access."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # the next access is a plain attribute lookup
        return value
    if not name.startswith("__"):
        # a submodule (`router.policy`, and `router.scoring`... as before the names were
        # lazy, when `import router` happened to load them): imported on first access
        try:
            return importlib.import_module(f"router.{name}")  # also binds the attribute
        except ModuleNotFoundError as exc:
            if exc.name != f"router.{name}":
                raise
    raise AttributeError(f"module 'router' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
