"""Cooldowns: a circuit breaker per deployment, so one that keeps failing is skipped a while.

closed --(threshold consecutive failures)--> open --(cooldown elapsed)--> half-open
half-open lets one probe through: success closes the breaker, failure re-opens it.
Only failures that say something about the deployment's health count (5xx, timeouts,
rate limits, connection refused or reset, DNS and TLS failures, a model or endpoint
not found); a request-specific refusal (context window, content filter, the caller's
bad request) does not, and neither do missing or rejected credentials: a breaker would
hide that cause behind "cooling down", and setting the key fixes the next request.

State lives in this process's memory; `router.state.redis_state.RedisCooldowns` keeps it
in Redis so every process honours a breaker one opened.
Thread-safe; nothing here awaits, so asyncio callers use it directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from router._effects import Op, done
from router.decision import CooldownSettings
from router.errors import (
    AuthenticationFailed,
    CredentialsRejected,
    Disposition,
    MissingCredentials,
    ProviderError,
    ProviderUnreachable,
)

__all__ = ["BreakerState", "CooldownPolicy", "CooldownSettings", "Cooldowns"]


CooldownPolicy = CooldownSettings
"""`Router(cooldown=CooldownPolicy(threshold=3))`: the `[cooldown]` table, by its older name."""


@dataclass(frozen=True, slots=True)
class BreakerState:
    """What `Router.health()` reports for one deployment."""

    state: Literal["closed", "open", "half-open"]
    consecutive_failures: int
    retry_in_seconds: float


def counts_against(exc: ProviderError) -> bool:
    """Whether a failure says the deployment is unhealthy (not just this request, and not
    its credentials: those are reported on every request instead)."""
    if isinstance(exc, MissingCredentials | CredentialsRejected):
        return False
    return exc.disposition is Disposition.RETRY or isinstance(
        exc, AuthenticationFailed | ProviderUnreachable
    )


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class Cooldowns:
    """Per-deployment breakers under one lock."""

    def __init__(
        self, policy: CooldownPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or CooldownSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, _Breaker] = {}

    def allow(self, name: str) -> bool:
        """May `name` be called now? An elapsed open breaker admits exactly one probe."""
        with self._lock:
            b = self._breakers.get(name)
            if b is None or b.opened_at is None:
                return True
            if b.probing or self._clock() - b.opened_at < self.policy.seconds:
                return False
            b.probing = True
            return True

    def success(self, name: str) -> None:
        with self._lock:
            self._breakers.pop(name, None)

    def remember(self, name: str, exc: ProviderError) -> None:
        """Keep what the last failure that counts against `name` was (this process only), so
        a request that skips the deployment says why it is cooling down."""
        if counts_against(exc):
            self.__dict__.setdefault("_last_cause", {})[name] = exc.detail

    def last_cause(self, name: str) -> str | None:
        """The detail of `name`'s last counted failure seen by this process, if any."""
        causes: dict[str, str] = self.__dict__.get("_last_cause", {})
        return causes.get(name)

    def failure(self, name: str, exc: ProviderError) -> None:
        if not counts_against(exc):
            return
        with self._lock:
            b = self._breakers.setdefault(name, _Breaker())
            b.failures += 1
            if b.probing or b.failures >= self.policy.threshold:
                b.opened_at, b.probing = self._clock(), False

    # -- as ops (what the serving pipeline calls; see router._effects) -----------------
    # Memory needs no I/O: these run at once. DiskCooldowns and RedisCooldowns override
    # them with the effects their store needs.

    def allow_op(self, name: str) -> Op[bool]:
        """`allow` as an op."""
        return done(self.allow(name))

    def success_op(self, name: str) -> Op[None]:
        """`success` as an op."""
        self.success(name)
        return done(None)

    def failure_op(self, name: str, exc: ProviderError) -> Op[None]:
        """`failure` and `remember` as one op."""
        self.remember(name, exc)
        self.failure(name, exc)
        return done(None)

    def state(self, name: str) -> BreakerState:
        with self._lock:
            b = self._breakers.get(name)
            if b is None:
                return BreakerState("closed", 0, 0.0)
            if b.opened_at is None:
                return BreakerState("closed", b.failures, 0.0)
            left = self.policy.seconds - (self._clock() - b.opened_at)
            if b.probing or left <= 0:
                return BreakerState("half-open", b.failures, 0.0)
            return BreakerState("open", b.failures, left)
