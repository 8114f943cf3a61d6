"""`router.scoring`: `Router(scorer=router.scoring.prior_scorer)` (README).

The code is in `router.decision._scoring`; this module re-exports its `__all__`.
"""

# A public path kept by scripts/relayout.py (issue 16).

from router.decision._scoring import (
    OBJECTIVES,
    ObjectiveName,
    Scored,
    Scorer,
    default_scorer,
    prior_scorer,
)

__all__ = [
    "OBJECTIVES",
    "ObjectiveName",
    "Scored",
    "Scorer",
    "default_scorer",
    "prior_scorer",
]
