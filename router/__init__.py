"""router: free open-weights models by default, paid closed APIs by exception.

Each request is scored against cost, capability and policy and planned onto a
local open model or a closed API, with a record of why. Start with
`router.Router` (or `Router.from_config(path)`) and `Router.plan(messages)`.
"""

from router import errors, policy
from router._router import Router
from router.cache import ResponseCache
from router.cooldowns import CooldownPolicy
from router.errors import (
    ConfigError,
    InvalidRequest,
    NoEligibleDeployment,
    RouterError,
    UnknownModelError,
)
from router.executor import RetryPolicy
from router.models import CostModel, Deployment, Features, Request
from router.planner import Settings
from router.records import Attempt, Candidate, Cost, Decision, Rejection, Result, Usage
from router.streaming import AsyncStream, Stream

__version__ = "0.1.0"

__all__ = [
    "AsyncStream",
    "Attempt",
    "Candidate",
    "ConfigError",
    "CooldownPolicy",
    "Cost",
    "CostModel",
    "Decision",
    "Deployment",
    "Features",
    "InvalidRequest",
    "NoEligibleDeployment",
    "Rejection",
    "Request",
    "ResponseCache",
    "Result",
    "RetryPolicy",
    "Router",
    "RouterError",
    "Settings",
    "Stream",
    "UnknownModelError",
    "Usage",
    "__version__",
    "errors",
    "policy",
]
