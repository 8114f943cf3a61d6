"""Shared state on Redis: budget counters and holds, cooldowns, the response cache.

The only module that imports redis-py (lazily: `pip install 'freefirst-router[redis]'`).

Key layout (`P` = `StateSettings.key_prefix`, default "router"; `{...}` is the Redis
Cluster hash tag, so every script touches one slot):

- `P:{t:TENANT}:b:COUNTER:WINDOW:spent` (integer): settled micro-dollars of one budget
  window; expires 40 days after its last change.
- `P:{t:TENANT}:b:COUNTER:WINDOW:holds` (hash): request token -> "amount:expires"; a
  hold lapses at the request's timeout + 60 s.
- `P:{t:TENANT}:settled:TOKEN` (string): the request's settlement was counted; 1 day.
- `P:{org}:b:COUNTER:WINDOW:spent`, `...:holds`, `P:{org}:settled:TOKEN`: the same for
  the counters of `scope = "organisation"` budgets, one for all tenants.
- `P:{t:TENANT}:c:HASH` (JSON string): a cached answer with its tenant;
  `cache_ttl_seconds`.
- `P:{cd:DEPLOYMENT}` (hash): the breaker (failures, opened at, probe out); expires
  10 cooldowns after its last failure.

COUNTER is the budget's counter (`tenant/tag/period`, or the organisation's
`organisation/tag/period/all-tenants`), WINDOW its UTC day or month. A request's
counters live in at most two hash tags, its tenant's and `{org}`: its holds and its
settlement are one script per hash tag (Redis Cluster runs no script across slots),
the tenant's first. A hold is all or nothing in each; when the organisation refuses,
the tenant's hold just taken is released again (meanwhile it can only make another
request of that tenant wait, never let one overspend). Without Redis: see
`StateSettings`; a settlement that cannot be written is kept in this process and
replayed (once per hash tag: the markers) when Redis answers again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from router.budgets import is_organisation_counter
from router.cooldowns import BreakerState, CooldownPolicy, Cooldowns, counts_against
from router.errors import ProviderError
from router.state import StateUnavailable, _lua
from router.state.notes import note
from router.state.settings import StateSettings

__all__ = ["RedisBudgets", "RedisCache", "RedisCooldowns", "RedisState", "StateUnavailable"]

log = logging.getLogger("router.state")

COUNTER_TTL = 40 * 86400
MARKER_TTL = 86400
_T = TypeVar("_T")


class _Link:
    """One redis-py client behind a breaker: after a failure, calls fail fast for
    `retry_seconds`, then the next call reconnects (redis-py opens a new connection)."""

    def __init__(self, url: str, settings: StateSettings) -> None:
        import redis as redis_py  # noqa: PLC0415  (only Redis users import it)

        self._errors: tuple[type[BaseException], ...] = (
            redis_py.ConnectionError,
            redis_py.TimeoutError,
            OSError,
        )
        timeout = settings.timeout_ms / 1000
        # Any: redis-py types every command as "result or awaitable" (sync and async share
        # the stubs); this client is the sync one.
        self.client: Any = redis_py.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry_on_timeout=False,
            decode_responses=True,
        )
        self.url = url
        self.retry_seconds = settings.retry_seconds
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._scripts: dict[str, Any] = {}

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def script(self, source: str) -> Any:
        found = self._scripts.get(source)
        if found is None:  # register_script: EVALSHA, reloaded after NOSCRIPT (a restart)
            found = self._scripts[source] = self.client.register_script(source)
        return found

    def call(self, fn: Callable[[], _T]) -> _T:
        if time.monotonic() < self._down_until:
            raise StateUnavailable(f"{self._safe_url()} unreachable (retrying shortly)")
        try:
            result = fn()
        except self._errors as exc:
            with self._lock:
                was_up = self._down_until == 0.0
                self._down_until = time.monotonic() + self.retry_seconds
            if was_up:
                log.warning("shared state %s unreachable: %s", self._safe_url(), type(exc).__name__)
            raise StateUnavailable(
                f"{self._safe_url()} unreachable ({type(exc).__name__})"
            ) from None
        if self._down_until:
            with self._lock:
                if self._down_until:
                    self._down_until = 0.0
                    log.warning("shared state %s reachable again", self._safe_url())
        return result

    def _safe_url(self) -> str:
        """The URL without a password (never logged or recorded)."""
        head, _, tail = self.url.rpartition("@")
        return self.url if not head else self.url.split("//", 1)[0] + "//***@" + tail


class RedisBudgets:
    """Budget counters and holds in Redis: what `Books` uses instead of the ledger's."""

    settles_with_record = False

    def __init__(self, link: _Link, prefix: str) -> None:
        self._link = link
        self._prefix = prefix
        self._pending: list[tuple[str, str, tuple[tuple[str, str], ...], int]] = []
        self._lock = threading.Lock()

    def _tag(self, tenant: str, key: str) -> str:
        """The hash tag of a counter: the organisation's, or its tenant's."""
        return "{org}" if is_organisation_counter(key) else f"{{t:{tenant}}}"

    def _groups(self, tenant: str, counters: Sequence[tuple[str, str]]) -> list[list[int]]:
        """The counters' indices per hash tag (one script each): the tenant's, then
        the organisation's."""
        own = [i for i, (key, _) in enumerate(counters) if not is_organisation_counter(key)]
        org = [i for i, (key, _) in enumerate(counters) if is_organisation_counter(key)]
        return [g for g in (own, org) if g]

    def _keys(self, tenant: str, counters: Sequence[tuple[str, str]]) -> list[str]:
        out = []
        for key, window in counters:
            base = f"{self._prefix}:{self._tag(tenant, key)}:b:{key}:{window}"
            out += [base + ":spent", base + ":holds"]
        return out

    def used(self, tenant: str, counters: Sequence[tuple[str, str]]) -> list[int]:
        """Settled spend plus live holds per (counter, window), in micro-dollars."""
        if not counters:
            return []
        self._flush()
        script = self._link.script(_lua.USED)
        out = [0] * len(counters)
        for group in self._groups(tenant, counters):
            keys = self._keys(tenant, [counters[i] for i in group])
            values = self._link.call(partial(script, keys=keys))
            for i, v in zip(group, values, strict=True):
                out[i] = int(v)
        return out

    def reserve(
        self,
        tenant: str,
        token: str,
        limits: Sequence[tuple[str, str, int]],
        amount_micro: int,
        *,
        hold_seconds: float,
    ) -> list[int] | None:
        """Hold `amount_micro` on every counter or on none (None: one would go over)."""
        self._flush()
        counters = [(k, w) for k, w, _ in limits]
        script = self._link.script(_lua.RESERVE)
        out = [0] * len(limits)
        held: list[tuple[str, str]] = []
        for group in self._groups(tenant, counters):
            keys = self._keys(tenant, [counters[i] for i in group])
            args = [
                token,
                amount_micro,
                f"{hold_seconds:.3f}",
                COUNTER_TTL,
                *(limits[i][2] for i in group),
            ]
            try:
                values = self._link.call(partial(script, keys=keys, args=args))
            except StateUnavailable:
                # The script may have run with its reply lost: release the token later (a
                # zero-cost settlement, once) rather than leave its hold until it lapses.
                with self._lock:
                    self._pending.append((tenant, token, tuple(counters), 0))
                raise
            if values is None:
                if held:  # the tenant's hold taken a moment ago: give it back now
                    self.settle(tenant, token, held, 0)
                return None
            for i, v in zip(group, values, strict=True):
                out[i] = int(v)
            held += [counters[i] for i in group]
        return out

    def settle(
        self, tenant: str, token: str, counters: Sequence[tuple[str, str]], cost_micro: int
    ) -> None:
        """Release the token's holds and add its cost, once. Kept and replayed later when
        Redis cannot be reached now."""
        try:
            self._settle(tenant, token, tuple(counters), cost_micro)
        except StateUnavailable:
            with self._lock:
                self._pending.append((tenant, token, tuple(counters), cost_micro))
            note("shared state unavailable: budget settlement queued in this process")

    def _settle(
        self, tenant: str, token: str, counters: tuple[tuple[str, str], ...], cost: int
    ) -> None:
        """One script per hash tag, each once (its own marker): a replay after a partial
        settlement counts only the part that was not."""
        script = self._link.script(_lua.SETTLE)
        for group in self._groups(tenant, counters):
            part = [counters[i] for i in group]
            marker = f"{self._prefix}:{self._tag(tenant, part[0][0])}:settled:{token}"
            keys = [marker, *self._keys(tenant, part)]
            args = [token, max(cost, 0), COUNTER_TTL, MARKER_TTL]
            self._link.call(partial(script, keys=keys, args=args))

    @property
    def pending(self) -> int:
        """Settlements waiting for Redis in this process."""
        return len(self._pending)

    def _flush(self) -> None:
        if not self._pending or not self._link.up:
            return
        with self._lock:
            waiting, self._pending = self._pending, []
        for i, item in enumerate(waiting):
            try:
                self._settle(*item)
            except StateUnavailable:
                with self._lock:
                    self._pending = waiting[i:] + self._pending
                return


class RedisCooldowns(Cooldowns):
    """A breaker per deployment in Redis (server time), so every process honours one a
    process opened. When Redis is unreachable, this process's own breakers decide."""

    def __init__(self, link: _Link, prefix: str, policy: CooldownPolicy | None = None) -> None:
        policy = policy or CooldownPolicy()
        super().__init__(policy)
        self._link = link
        self._prefix = prefix
        self._clean: set[str] = set()  # deployments Redis said had no breaker on our last call
        self._ttl = max(int(policy.seconds * 10), 60)

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{{cd:{name}}}"

    def allow(self, name: str) -> bool:
        script = self._link.script(_lua.ALLOW)
        try:
            verdict = int(
                self._link.call(lambda: script(keys=[self._key(name)], args=[self.policy.seconds]))
            )
        except StateUnavailable:
            note("shared state unavailable: cooldowns from this process's memory")
            return super().allow(name)
        if verdict == 2:
            self._clean.add(name)
        else:
            self._clean.discard(name)
        return verdict > 0

    def success(self, name: str) -> None:
        super().success(name)
        if name in self._clean:
            return  # no breaker when we asked: nothing to reset (one round trip saved)
        try:
            self._link.call(lambda: self._link.client.delete(self._key(name)))
            self._clean.add(name)
        except StateUnavailable:
            note("shared state unavailable: cooldowns from this process's memory")

    def failure(self, name: str, exc: ProviderError) -> None:
        if not counts_against(exc):
            return
        super().failure(name, exc)
        self._clean.discard(name)
        script = self._link.script(_lua.FAILURE)
        try:
            self._link.call(
                lambda: script(keys=[self._key(name)], args=[self.policy.threshold, self._ttl])
            )
        except StateUnavailable:
            note("shared state unavailable: cooldowns from this process's memory")

    def state(self, name: str) -> BreakerState:
        try:
            raw, (sec, usec) = self._link.call(
                lambda: (self._link.client.hgetall(self._key(name)), self._link.client.time())
            )
        except StateUnavailable:
            return super().state(name)
        if not raw:
            return BreakerState("closed", 0, 0.0)
        failures = int(raw.get("f", 0))
        if "o" not in raw:
            return BreakerState("closed", failures, 0.0)
        left = self.policy.seconds - (sec + usec / 1e6 - float(raw["o"]))
        if raw.get("p") == "1" or left <= 0:
            return BreakerState("half-open", failures, 0.0)
        return BreakerState("open", failures, left)


class RedisCache:
    """Cached answers in Redis with a TTL, one key space per tenant. Unreachable Redis:
    the cache is bypassed (a miss; nothing stored)."""

    def __init__(self, link: _Link, prefix: str, ttl_seconds: float) -> None:
        self._link = link
        self._prefix = prefix
        self.ttl_seconds = ttl_seconds

    def _key(self, tenant: str, key: str) -> str:
        return f"{self._prefix}:{{t:{tenant}}}:c:{key}"

    def get(self, key: str, tenant: str) -> dict[str, Any] | None:
        try:
            raw = self._link.call(lambda: self._link.client.get(self._key(tenant, key)))
        except StateUnavailable:
            note("shared state unavailable: response cache bypassed")
            return None
        if not isinstance(raw, str):
            return None
        entry = json.loads(raw)
        if not isinstance(entry, dict) or entry.get("tenant") != tenant:
            return None
        response = entry.get("response")
        return response if isinstance(response, dict) else None

    def put(self, key: str, tenant: str, response: dict[str, Any]) -> None:
        blob = json.dumps({"tenant": tenant, "response": response}, separators=(",", ":"))
        ttl = max(1, int(self.ttl_seconds))
        try:
            self._link.call(lambda: self._link.client.set(self._key(tenant, key), blob, ex=ttl))
        except StateUnavailable:
            note("shared state unavailable: response cache bypassed")

    def close(self) -> None:
        return None


class RedisState:
    """The Redis parts one Router uses, over one connection pool."""

    def __init__(
        self, url: str, settings: StateSettings, cooldown: CooldownPolicy | None = None
    ) -> None:
        self.settings = settings
        self.link = _Link(url, settings)
        prefix = settings.key_prefix
        self.budgets = RedisBudgets(self.link, prefix)
        self.cooldowns = RedisCooldowns(self.link, prefix, cooldown)
        self.cache = RedisCache(self.link, prefix, settings.cache_ttl_seconds)

    def close(self) -> None:
        self.link.client.close()
