"""`router.policy`: the rule kinds (`router.__all__` lists `policy`).

The code is in `router.decision._policy`; this module re-exports its `__all__`.
"""

# A public path kept by scripts/relayout.py (issue 16).

from router.decision import _policy as _impl
from router.decision._policy import *  # noqa: F403  (the names of its __all__)

__all__ = list(_impl.__all__)
