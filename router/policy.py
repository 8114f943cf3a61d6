"""`router.policy`: the rule kinds (`router.__all__` lists `policy`).

The code is in `router.decision._policy`; this module re-exports its `__all__`.
"""

# A public path kept by scripts/relayout.py (issue 16).

from router.decision._policy import (
    SELECTOR_FIELDS,
    Allow,
    BoundPolicy,
    Deny,
    LocalOnly,
    MaxCost,
    Policy,
    Require,
    Rule,
    RuleFn,
    Selector,
)

__all__ = [
    "SELECTOR_FIELDS",
    "Allow",
    "BoundPolicy",
    "Deny",
    "LocalOnly",
    "MaxCost",
    "Policy",
    "Require",
    "Rule",
    "RuleFn",
    "Selector",
]
