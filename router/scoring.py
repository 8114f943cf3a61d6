"""`router.scoring`: `Router(scorer=router.scoring.prior_scorer)` (README).

The code is in `router.decision._scoring`; this module re-exports its `__all__`.
"""

# A public path kept by scripts/relayout.py (issue 16).

from router.decision import _scoring as _impl
from router.decision._scoring import *  # noqa: F403  (the names of its __all__)

__all__ = list(_impl.__all__)
