"""The `[state]` table of the config: how shared state behaves, above all without Redis."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StateSettings"]


class StateSettings(BaseModel):
    """What the router does when its shared state (Redis) cannot be reached, and how
    long it waits for it. Every degradation is recorded in `decision.shared_state`."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    budgets_when_unavailable: Literal["closed", "open"] = "closed"
    """`closed` (default): paid deployments are left out (the budget cannot be checked),
    free ones still serve. `open`: plan as if the budgets had room, hold nothing."""
    retry_seconds: float = Field(default=1.0, gt=0, le=300)
    """After a failure, Redis is not tried again for this long (requests do not each
    wait for a dead server); then the next request reconnects."""
    timeout_ms: float = Field(default=250.0, gt=0, le=10_000)
    """Connect and read timeout of one Redis call."""
    key_prefix: str = Field(default="router", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """First part of every key, so several routers can share one Redis database."""
    cache_ttl_seconds: float = Field(default=3600.0, gt=0)
    """Lifetime of a response cache entry in Redis."""
    directory: str | None = None
    """With `state = "local"`: a folder where the breakers of this machine's processes
    are shared (diskcache). In a config file, relative to the file. Without it each
    process keeps its own breakers in memory."""
