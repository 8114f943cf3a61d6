"""`router.local`: `router.local.LocalServer()` (README, SECURITY.md).

The code is in `router.tools._local`; this module re-exports its `__all__`.
"""

# A public path kept by scripts/relayout.py (issue 16).

from router.tools import _local as _impl
from router.tools._local import *  # noqa: F403  (the names of its __all__)

__all__ = list(_impl.__all__)
