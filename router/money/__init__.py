"""Money: the SQLite ledger, budget holds and settlement, usage x price = cost.

May import: the base modules, router.decision, router.state; router.quality only
lazily. Nothing of serving or tools.
"""

# -- the face: written by scripts/relayout.py (a re-run adds the names it lacks) --

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from router.money._accounting import estimate_usage, price_micro, response_usage, usage_of
    from router.money._books import Books, Ticket
    from router.money._feedback import (
        MIN_REFERENCE,
        REFERENCE_SIZE,
        Gathered,
        gather,
        new_request_id,
        profile_digest,
        record_feedback,
        spread,
    )
    from router.money._ledger import Ledger, Outcome, Row

__all__ = [
    "MIN_REFERENCE",
    "REFERENCE_SIZE",
    "Books",
    "Gathered",
    "Ledger",
    "Outcome",
    "Row",
    "Ticket",
    "estimate_usage",
    "gather",
    "new_request_id",
    "price_micro",
    "profile_digest",
    "record_feedback",
    "response_usage",
    "spread",
    "usage_of",
]

_LAZY: dict[str, str] = {
    "Books": "router.money._books",
    "Gathered": "router.money._feedback",
    "Ledger": "router.money._ledger",
    "MIN_REFERENCE": "router.money._feedback",
    "Outcome": "router.money._ledger",
    "REFERENCE_SIZE": "router.money._feedback",
    "Row": "router.money._ledger",
    "Ticket": "router.money._books",
    "estimate_usage": "router.money._accounting",
    "gather": "router.money._feedback",
    "new_request_id": "router.money._feedback",
    "price_micro": "router.money._accounting",
    "profile_digest": "router.money._feedback",
    "record_feedback": "router.money._feedback",
    "response_usage": "router.money._accounting",
    "spread": "router.money._feedback",
    "usage_of": "router.money._accounting",
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
