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

from typing import TYPE_CHECKING

from router import errors
from router._lazy import face as _face
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
    from router._models import CostModel, Deployment, Features, Request
    from router._records import Attempt, Candidate, Cost, Decision, Rejection, Result, Usage
    from router._router import Router
    from router.decision import (
        Budget,
        CascadeSettings,
        CooldownSettings,
        DeploymentSpec,
        Policy,
        RetrySettings,
        RouterConfig,
        Settings,
    )
    from router.money import Ledger
    from router.serving import AsyncStream, Backend, LiteLLMBackend, RetryPolicy, Stream
    from router.state.cache import ResponseCache
    from router.state.cooldowns import CooldownPolicy
    from router.state.settings import StateSettings

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
    "AsyncStream": "router.serving",
    "Attempt": "router._records",
    "Backend": "router.serving",
    "Budget": "router.decision",
    "CascadeSettings": "router.decision",
    "Candidate": "router._records",
    "CooldownPolicy": "router.state.cooldowns",
    "CooldownSettings": "router.decision",
    "Cost": "router._records",
    "CostModel": "router._models",
    "Decision": "router._records",
    "Deployment": "router._models",
    "DeploymentSpec": "router.decision",
    "Features": "router._models",
    "Ledger": "router.money",
    "LiteLLMBackend": "router.serving",
    "Policy": "router.decision",
    "Rejection": "router._records",
    "Request": "router._models",
    "ResponseCache": "router.state.cache",
    "Result": "router._records",
    "RetryPolicy": "router.serving",
    "RetrySettings": "router.decision",
    "Router": "router._router",
    "RouterConfig": "router.decision",
    "Settings": "router.decision",
    "StateSettings": "router.state.settings",
    "Stream": "router.serving",
    "Usage": "router._records",
}
"""Public name -> the module that defines it, imported on first access."""


__getattr__, __dir__ = _face(__name__, _LAZY, __all__)
