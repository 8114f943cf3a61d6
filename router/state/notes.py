"""What a request saw of shared state: notes collected while it is served.

Budgets are read and held before the call, cooldowns are consulted by the executor
during it, the cache is probed and filled around it; none of them holds the request.
A context variable carries the request's note list to all of them (threads and asyncio
tasks each have their own context), and the Books copy the notes into the decision
(`Decision.shared_state`) when the request is recorded.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["collecting", "note"]

_NOTES: ContextVar[list[str] | None] = ContextVar("router_state_notes", default=None)


def collecting() -> list[str]:
    """Start collecting this request's notes; returns the list they are added to."""
    notes: list[str] = []
    _NOTES.set(notes)
    return notes


def note(message: str) -> None:
    """Add a note to the current request's list (once; nothing outside a request)."""
    notes = _NOTES.get()
    if notes is not None and message not in notes:
        notes.append(message)
