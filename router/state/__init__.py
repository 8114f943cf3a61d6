"""Where the state requests share lives: `local` (this machine) or Redis (many machines).

Three kinds of state are shared by the requests of one deployment of the router:

- **budget counters and holds** (integer micro-dollars): `local` keeps them in the
  SQLite ledger (`router.ledger`, safe across the processes of one machine); Redis in
  per-tenant keys changed only by Lua scripts (atomic on the server);
- **cooldowns** (a circuit breaker per deployment): `local` in this process's memory;
  Redis in one hash per deployment, so a breaker one process opens benches the
  deployment for every process;
- **the response cache**: `local` on disk (`router.cache.ResponseCache`, diskcache);
  Redis with a TTL per entry, one key space per tenant.

`open_state("redis://host:port/db")` returns a `RedisState` whose parts the Router
uses; `"local"` (the default) returns `None` and the Router keeps its embedded parts.
When Redis cannot be reached the router keeps serving (see `StateSettings`), records
the degradation in `decision.shared_state`, and tries Redis again after
`retry_seconds`. Key layout, lifetimes and the budget bound: README, "Shared state".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from router.state.notes import collecting, note
from router.state.settings import StateSettings

__all__ = [
    "BudgetStore",
    "StateSettings",
    "StateUnavailable",
    "collecting",
    "is_redis_url",
    "note",
]


class StateUnavailable(Exception):
    """The shared state could not be reached (or is left alone after a failure)."""


class BudgetStore(Protocol):
    """Where budget counters and holds live: the SQLite ledger (`router.ledger.
    LedgerBudgets`, one machine) or Redis (`router.state.redis_state.RedisBudgets`).
    Counters are (budget counter, window) pairs, amounts integer micro-dollars."""

    settles_with_record: bool
    """True when writing the ledger record settles the hold (the ledger's trigger)."""

    def used(self, tenant: str, counters: Sequence[tuple[str, str]]) -> list[int]:
        """Settled spend plus live holds per counter."""
        ...

    def reserve(
        self,
        tenant: str,
        token: str,
        limits: Sequence[tuple[str, str, int]],
        amount_micro: int,
        *,
        hold_seconds: float,
    ) -> list[int] | None:
        """Hold the amount on every counter, or on none (None); what each had used."""
        ...

    def settle(
        self, tenant: str, token: str, counters: Sequence[tuple[str, str]], cost_micro: int
    ) -> None:
        """Release the token's holds and add its actual cost, once."""
        ...


def is_redis_url(value: str) -> bool:
    """`redis://`, `rediss://` (TLS) or `unix://` (a socket path)."""
    return value.startswith(("redis://", "rediss://", "unix://"))
