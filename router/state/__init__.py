"""Where the state requests share lives: `local` (this machine) or Redis (many machines).

Three kinds of state are shared by the requests of one deployment of the router:

- **budget counters and holds** (integer micro-dollars): `local` keeps them in the
  SQLite ledger (`router.money._ledger`, safe across the processes of one machine); Redis in
  per-tenant keys changed only by Lua scripts (atomic on the server);
- **cooldowns** (a circuit breaker per deployment): `local` in this process's memory;
  Redis in one hash per deployment, so a breaker one process opens benches the
  deployment for every process;
- **the response cache**: `local` on disk (`router.state.cache.ResponseCache`, diskcache);
  Redis with a TTL per entry, one key space per tenant.

`open_state("redis://host:port/db")` returns a `RedisState` whose parts the Router
uses; `"local"` (the default) returns `None` and the Router keeps its embedded parts.
When Redis cannot be reached the router keeps serving (see `StateSettings`), records
the degradation in `decision.shared_state`, and tries Redis again after
`retry_seconds`. Key layout, lifetimes and the budget bound: README, "Shared state".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from router.state.notes import collecting, note
from router.state.settings import StateSettings

if TYPE_CHECKING:
    from router._effects import Op

__all__ = [
    "BudgetStore",
    "Counters",
    "Limits",
    "StateSettings",
    "StateUnavailable",
    "collecting",
    "is_redis_url",
    "note",
]


class StateUnavailable(Exception):
    """The shared state could not be reached (or is left alone after a failure)."""


Counters = Sequence[tuple[str, str]]
"""Budget counters: (counter, window) pairs."""
Limits = Sequence[tuple[str, str, int]]
"""Budget counters with their limits: (counter, window, limit in micro-dollars)."""


class BudgetStore(Protocol):
    """Where budget counters and holds live: the SQLite ledger (`router.money._ledger.
    LedgerBudgets`, one machine) or Redis (`router.state.redis_state.RedisBudgets`).
    Counters are (budget counter, window) pairs, amounts integer micro-dollars.

    Each operation is an op (`router._effects`), which the serving pipeline drives with
    `run` or `arun`; the blocking methods of the stores are `run` of their ops."""

    settles_with_record: bool
    """True when writing the ledger record settles the hold (the ledger's trigger)."""

    def used_op(self, tenant: str, counters: Counters) -> Op[list[int]]:
        """Settled spend plus live holds per counter."""
        ...

    def reserve_op(
        self, tenant: str, token: str, limits: Limits, amount_micro: int, *, hold_seconds: float
    ) -> Op[list[int] | None]:
        """Hold the amount on every counter, or on none (None); what each had used."""
        ...

    def settle_op(self, tenant: str, token: str, counters: Counters, cost_micro: int) -> Op[None]:
        """Release the token's holds and add its actual cost, once."""
        ...


def is_redis_url(value: str) -> bool:
    """`redis://`, `rediss://` (TLS) or `unix://` (a socket path)."""
    return value.startswith(("redis://", "rediss://", "unix://"))
