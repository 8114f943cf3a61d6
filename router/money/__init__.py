"""Money: the SQLite ledger, budget holds and settlement, usage x price = cost.

May import: the base modules, router.decision, router.state; router.quality only
lazily. Nothing of serving or tools.
"""

# -- the face: written by scripts/relayout.py (a re-run adds the names it lacks) --

from __future__ import annotations

from typing import TYPE_CHECKING

from router._lazy import face as _face

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


__getattr__, __dir__ = _face(__name__, _LAZY, __all__)
