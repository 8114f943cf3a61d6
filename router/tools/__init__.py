"""Tools: `python -m router` (explain, check, catalog, packs, demo, local, report,
replay, eval, calibrate) and what only they use. `import router` and a Router never
import this package.

May import: anything in router.
"""

# -- the face: written by scripts/relayout.py (a re-run adds the names it lacks) --

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from router.tools._cli import main

__all__ = [
    "main",
]

_LAZY: dict[str, str] = {
    "main": "router.tools._cli",
}
"""Name -> the private module that defines it, imported on first access."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # the next access is a plain attribute lookup
        return value
    if not name.startswith("__"):  # a submodule, as `import pkg.mod` binds it
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
