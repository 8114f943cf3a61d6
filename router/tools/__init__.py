"""Tools: `python -m router` (explain, check, catalog, packs, demo, local, report,
replay, eval, calibrate) and what only they use. `import router` and a Router never
import this package.

May import: anything in router.
"""

# -- the face: written by scripts/relayout.py (a re-run adds the names it lacks) --

from __future__ import annotations

from typing import TYPE_CHECKING

from router._lazy import face as _face

if TYPE_CHECKING:
    from router.tools._cli import main

__all__ = [
    "main",
]

_LAZY: dict[str, str] = {
    "main": "router.tools._cli",
}
"""Name -> the private module that defines it, imported on first access."""


__getattr__, __dir__ = _face(__name__, _LAZY, __all__)
