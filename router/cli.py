"""`router.cli`: `from router.cli import main` (README); the `router` console script.

The code is in `router.tools._cli`; this module re-exports its `__all__`.
"""

# A public path kept by scripts/relayout.py (issue 16).

from router.tools._cli import (
    main,
)

__all__ = [
    "main",
]
