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

Each part's logic is written once, as ops (`router._effects`) that yield one `Port`
effect per Redis request. `_Link` answers them: on its blocking redis-py client under
`run`, on a `redis.asyncio` client of the running event loop under `arun` (so a Redis
round trip never blocks the loop), with one breaker around both. The blocking methods
(`used`, `reserve`, `allow`, `get`...) are `run` of the ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from router._effects import Op, Port, run
from router._loops import PerLoop
from router.decision import is_organisation_counter
from router.errors import ProviderError
from router.state import Counters, Limits, StateUnavailable, _lua
from router.state.cooldowns import BreakerState, CooldownPolicy, Cooldowns, counts_against
from router.state.notes import note
from router.state.settings import StateSettings

__all__ = ["RedisBudgets", "RedisCache", "RedisCooldowns", "RedisState", "StateUnavailable"]

log = logging.getLogger("router.state")

COUNTER_TTL = 40 * 86400
MARKER_TTL = 86400
ASYNC_READ_TIMEOUT = 5.0
"""Seconds the asyncio client waits for a reply, at least (`timeout_ms` if longer). On a
busy event loop a reply that came in time waits for the loop to read it, and
`timeout_ms` (250 ms) would count that wait as Redis being down: measured with 1,000
concurrent `acomplete`, 44 requests found their budgets failed closed with Redis idle.
Connecting keeps `timeout_ms`, so a Redis that is down is still found at once."""
CONNECTIONS_PER_LOOP = 128
"""Redis requests in flight at once on one event loop (so, at most, its connections): a
burst of thousands of coroutines queues here instead of opening thousands of connections,
and a reply is never counted late against `timeout_ms` because the loop was busy reading
thousands of others. 128 keeps ~25k requests/s in flight to a Redis 5 ms away."""
_Pending = tuple[str, str, tuple[tuple[str, str], ...], int]  # tenant, token, counters, cost


@dataclass(frozen=True, slots=True)
class _Command:
    """One Redis command: the client method's name and its arguments (both clients have
    the same methods)."""

    name: str
    args: tuple[Any, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()

    def on(self, client: Any, scripts: Callable[[str], Any]) -> Any:
        return getattr(client, self.name)(*self.args, **dict(self.options))


@dataclass(frozen=True, slots=True)
class _Script:
    """One Lua script run: EVALSHA, loaded again after NOSCRIPT (a restarted server)."""

    source: str
    keys: tuple[str, ...]
    args: tuple[Any, ...] = ()

    def on(self, client: Any, scripts: Callable[[str], Any]) -> Any:
        return scripts(self.source)(keys=list(self.keys), args=list(self.args))


_Request = _Command | _Script


class _Loop:
    """The `redis.asyncio` client of one event loop, with its registered scripts (kept
    and closed with its loop by `router._loops.PerLoop`)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.scripts: dict[str, Any] = {}
        self.slots = asyncio.Semaphore(CONNECTIONS_PER_LOOP)

    def script(self, source: str) -> Any:
        found = self.scripts.get(source)
        if found is None:
            found = self.scripts[source] = self.client.register_script(source)
        return found


async def _aclose_loop(own: _Loop) -> None:
    await own.client.aclose()


class _Link:
    """Redis behind a breaker, one request at a time (a `router._effects.PortHandler`):
    `run` on the blocking redis-py client, `arun` on a `redis.asyncio` client of the running
    event loop (one per loop: a Router may serve from several `asyncio.run`s in turn and
    from threads). After a connection failure on either, requests fail fast
    (`StateUnavailable`) for `retry_seconds`; then the next one reconnects."""

    def __init__(self, url: str, settings: StateSettings) -> None:
        import redis as redis_py  # noqa: PLC0415  (only Redis users import it)

        self._errors: tuple[type[BaseException], ...] = (
            redis_py.ConnectionError,
            redis_py.TimeoutError,
            OSError,  # TimeoutError too
        )
        timeout = settings.timeout_ms / 1000
        self._options: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            "retry_on_timeout": False,
            "decode_responses": True,
        }
        # Any: redis-py types every command as "result or awaitable" (sync and async share
        # the stubs); this client is the sync one.
        self.client: Any = redis_py.Redis.from_url(url, **self._options)
        self.url = url
        self.retry_seconds = settings.retry_seconds
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._scripts: dict[str, Any] = {}
        self._loops: PerLoop[_Loop] = PerLoop(self._loop_client, _aclose_loop)

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def script(self, source: str) -> Any:
        """The blocking client's script object (register_script: EVALSHA, reloaded after
        NOSCRIPT)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = self.client.register_script(source)
        return found

    def run(self, request: _Request) -> Any:
        with self._breaker():
            return request.on(self.client, self.script)

    async def arun(self, request: _Request) -> Any:
        own = self._loops.current() or await self._loops.get()
        async with own.slots:  # the breaker is asked after the wait for a slot
            with self._breaker():
                return await request.on(own.client, own.script)

    @contextlib.contextmanager
    def _breaker(self) -> Iterator[None]:
        if time.monotonic() < self._down_until:
            raise StateUnavailable(f"{self._safe_url()} unreachable (retrying shortly)")
        try:
            yield
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

    def _loop_client(self) -> _Loop:
        """A new client for the running loop (its first request)."""
        import redis.asyncio as aredis  # noqa: PLC0415

        options = {
            **self._options,
            "socket_timeout": max(self._options["socket_timeout"], ASYNC_READ_TIMEOUT),
        }
        return _Loop(aredis.Redis.from_url(self.url, **options))

    def close(self) -> None:
        """Close the blocking client and every loop's client that can still be closed, on
        its own loop (`PerLoop.close`)."""
        self.client.close()
        self._loops.close()

    def warmup(self) -> None:
        """Load the asyncio client's module now (the first async request would otherwise
        import it on the event loop)."""
        import redis.asyncio  # noqa: F401, PLC0415

    def ping(self) -> None:
        """One PING on the blocking client, each socket step bounded by `timeout_ms`.
        It asks Redis itself, past the breaker (which may still be open after a failure)
        and without changing it. Raises StateUnavailable naming the failure's type, the
        client's exception as its `__cause__`."""
        try:
            self.client.ping()
        except Exception as exc:  # any failure: not reachable (the type says which)
            raise StateUnavailable(
                f"{self._safe_url()} did not answer PING ({type(exc).__name__})"
            ) from exc

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
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()

    def _tag(self, tenant: str, key: str) -> str:
        """The hash tag of a counter: the organisation's, or its tenant's."""
        return "{org}" if is_organisation_counter(key) else f"{{t:{tenant}}}"

    def _groups(self, tenant: str, counters: Counters) -> list[list[int]]:
        """The counters' indices per hash tag (one script each): the tenant's, then
        the organisation's."""
        own = [i for i, (key, _) in enumerate(counters) if not is_organisation_counter(key)]
        org = [i for i, (key, _) in enumerate(counters) if is_organisation_counter(key)]
        return [g for g in (own, org) if g]

    def _keys(self, tenant: str, counters: Counters) -> list[str]:
        out = []
        for key, window in counters:
            base = f"{self._prefix}:{self._tag(tenant, key)}:b:{key}:{window}"
            out += [base + ":spent", base + ":holds"]
        return out

    def _script(self, source: str, keys: Sequence[str], args: Sequence[Any] = ()) -> Port:
        return Port(self._link, _Script(source, tuple(keys), tuple(args)))

    def used(self, tenant: str, counters: Counters) -> list[int]:
        return run(self.used_op(tenant, counters))

    def reserve(
        self, tenant: str, token: str, limits: Limits, amount_micro: int, *, hold_seconds: float
    ) -> list[int] | None:
        return run(self.reserve_op(tenant, token, limits, amount_micro, hold_seconds=hold_seconds))

    def settle(self, tenant: str, token: str, counters: Counters, cost_micro: int) -> None:
        return run(self.settle_op(tenant, token, counters, cost_micro))

    def used_op(self, tenant: str, counters: Counters) -> Op[list[int]]:
        """Settled spend plus live holds per (counter, window), in micro-dollars."""
        if not counters:
            return []
        yield from self._flush_op()
        out = [0] * len(counters)
        for group in self._groups(tenant, counters):
            keys = self._keys(tenant, [counters[i] for i in group])
            values = yield self._script(_lua.USED, keys)
            for i, v in zip(group, values, strict=True):
                out[i] = int(v)
        return out

    def reserve_op(
        self, tenant: str, token: str, limits: Limits, amount_micro: int, *, hold_seconds: float
    ) -> Op[list[int] | None]:
        """Hold `amount_micro` on every counter or on none (None: one would go over)."""
        yield from self._flush_op()
        counters = [(k, w) for k, w, _ in limits]
        out = [0] * len(limits)
        held: list[tuple[str, str]] = []
        for group in self._groups(tenant, counters):
            keys = self._keys(tenant, [counters[i] for i in group])
            hold = f"{hold_seconds:.3f}"
            args = [token, amount_micro, hold, COUNTER_TTL, *(limits[i][2] for i in group)]
            try:
                values = yield self._script(_lua.RESERVE, keys, args)
            except BaseException:
                # Unreachable, or the caller cancelled: the script may have run with its reply
                # lost. Release the token later (a zero-cost settlement, once) rather than
                # leave its hold until it lapses.
                self._queue([(tenant, token, tuple(counters), 0)])
                raise
            if values is None:
                if held:  # the tenant's hold taken a moment ago: give it back now
                    yield from self.settle_op(tenant, token, held, 0)
                return None
            for i, v in zip(group, values, strict=True):
                out[i] = int(v)
            held += [counters[i] for i in group]
        return out

    def settle_op(self, tenant: str, token: str, counters: Counters, cost_micro: int) -> Op[None]:
        """Release the token's holds and add its cost, once. Kept and replayed later when
        Redis cannot be reached now (or the caller was cancelled meanwhile)."""
        item = (tenant, token, tuple(counters), cost_micro)
        try:
            yield from self._settle_op(*item)
        except StateUnavailable:
            self._queue([item])
            note("shared state unavailable: budget settlement queued in this process")
        except BaseException:
            self._queue([item])
            raise

    def _settle_op(
        self, tenant: str, token: str, counters: tuple[tuple[str, str], ...], cost: int
    ) -> Op[None]:
        """One script per hash tag, each once (its own marker): a replay after a partial
        settlement counts only the part that was not."""
        for group in self._groups(tenant, counters):
            part = [counters[i] for i in group]
            marker = f"{self._prefix}:{self._tag(tenant, part[0][0])}:settled:{token}"
            keys = [marker, *self._keys(tenant, part)]
            yield self._script(_lua.SETTLE, keys, [token, max(cost, 0), COUNTER_TTL, MARKER_TTL])

    @property
    def pending(self) -> int:
        """Settlements waiting for Redis in this process."""
        return len(self._pending)

    def _queue(self, items: list[_Pending]) -> None:
        with self._lock:
            self._pending = items + self._pending

    def _flush(self) -> None:
        run(self._flush_op())

    def _flush_op(self) -> Op[None]:
        """Replay the queued settlements (each counts once: the markers) while Redis answers."""
        if not self._pending or not self._link.up:
            return
        with self._lock:
            waiting, self._pending = self._pending, []
        for i, item in enumerate(waiting):
            try:
                yield from self._settle_op(*item)
            except BaseException as exc:
                self._queue(waiting[i:])
                if isinstance(exc, StateUnavailable):
                    return
                raise


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
        return run(self.allow_op(name))

    def success(self, name: str) -> None:
        run(self.success_op(name))

    def failure(self, name: str, exc: ProviderError) -> None:
        run(self._failure_op(name, exc))

    def state(self, name: str) -> BreakerState:
        return run(self.state_op(name))

    def allow_op(self, name: str) -> Op[bool]:
        script = _Script(_lua.ALLOW, (self._key(name),), (self.policy.seconds,))
        try:
            verdict = int((yield Port(self._link, script)))
        except StateUnavailable:
            note("shared state unavailable: cooldowns from this process's memory")
            return super().allow(name)
        if verdict == 2:
            self._clean.add(name)
        else:
            self._clean.discard(name)
        return verdict > 0

    def success_op(self, name: str) -> Op[None]:
        super().success(name)
        if name in self._clean:
            return  # no breaker when we asked: nothing to reset (one round trip saved)
        try:
            yield Port(self._link, _Command("delete", (self._key(name),)))
            self._clean.add(name)
        except StateUnavailable:
            note("shared state unavailable: cooldowns from this process's memory")

    def failure_op(self, name: str, exc: ProviderError) -> Op[None]:
        self.remember(name, exc)
        yield from self._failure_op(name, exc)

    def _failure_op(self, name: str, exc: ProviderError) -> Op[None]:
        if not counts_against(exc):
            return
        super().failure(name, exc)
        self._clean.discard(name)
        script = _Script(_lua.FAILURE, (self._key(name),), (self.policy.threshold, self._ttl))
        try:
            yield Port(self._link, script)
        except StateUnavailable:
            note("shared state unavailable: cooldowns from this process's memory")

    def state_op(self, name: str) -> Op[BreakerState]:
        """What `Router.health()` reports, from Redis (this process's memory without it)."""
        try:
            raw = yield Port(self._link, _Command("hgetall", (self._key(name),)))
            sec, usec = yield Port(self._link, _Command("time"))
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
        return run(self.get_op(key, tenant))

    def put(self, key: str, tenant: str, response: dict[str, Any]) -> None:
        run(self.put_op(key, tenant, response))

    def get_op(self, key: str, tenant: str) -> Op[dict[str, Any] | None]:
        try:
            raw = yield Port(self._link, _Command("get", (self._key(tenant, key),)))
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

    def put_op(self, key: str, tenant: str, response: dict[str, Any]) -> Op[None]:
        blob = json.dumps({"tenant": tenant, "response": response}, separators=(",", ":"))
        ex = (("ex", max(1, int(self.ttl_seconds))),)
        try:
            yield Port(self._link, _Command("set", (self._key(tenant, key), blob), ex))
        except StateUnavailable:
            note("shared state unavailable: response cache bypassed")

    def close(self) -> None:
        return None


class RedisState:
    """The Redis parts one Router uses, over one link (a blocking client and one asyncio
    client per event loop)."""

    def __init__(
        self, url: str, settings: StateSettings, cooldown: CooldownPolicy | None = None
    ) -> None:
        self.settings = settings
        self.link = _Link(url, settings)
        prefix = settings.key_prefix
        self.budgets = RedisBudgets(self.link, prefix)
        self.cooldowns = RedisCooldowns(self.link, prefix, cooldown)
        self.cache = RedisCache(self.link, prefix, settings.cache_ttl_seconds)

    def warmup(self) -> None:
        """What the first async request would load on the event loop (see `_Link.warmup`)."""
        self.link.warmup()

    def ping(self) -> None:
        """Whether Redis answers now (`Router.readiness`): blocking, up to `[state]
        timeout_ms` to connect and as much for the reply. Returns when it answered;
        raises StateUnavailable otherwise (its `__cause__` is redis-py's exception)."""
        self.link.ping()

    def close(self) -> None:
        """Close the blocking client and the asyncio clients (see `_Link.close`)."""
        self.link.close()
