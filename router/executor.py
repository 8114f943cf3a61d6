"""Retries, fallback and one deadline for the whole chain. The only module that imports tenacity.

Per deployment, in plan order: retryable errors (rate limit, 5xx, timeout, connection
reset) are retried with exponential backoff and jitter, honouring Retry-After, up to
`RetryPolicy.attempts` tries; fallback errors (context window, content filter, missing
or rejected credentials, connection refused, DNS or TLS failure) move to the next
deployment of the plan; the caller's invalid request raises at once.
Fallback never adds a deployment: only the plan's candidates are ever called.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from router.cooldowns import Cooldowns
from router.errors import AllDeploymentsFailed, Disposition, ProviderError
from router.models import Deployment
from router.records import Attempt

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["RetryPolicy", "aexecute", "execute"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one deployment before falling back."""

    attempts: int = 3
    initial_wait: float = 0.2
    max_wait: float = 5.0
    jitter: float = 0.2
    max_retry_after: float = 30.0


class _Clock(NamedTuple):
    now: Callable[[], float]
    sleep: Callable[[float], None]


class _AsyncClock(NamedTuple):
    now: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]


def _wait(policy: RetryPolicy, rng: random.Random) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_retry_after)
        backoff = min(policy.max_wait, policy.initial_wait * 2.0 ** (state.attempt_number - 1))
        return float(backoff + rng.uniform(0, policy.jitter * backoff))

    return wait


_RNG = random.Random()  # jitter only; one shared instance (seeding a new one costs ~13 µs)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.disposition is Disposition.RETRY


@functools.cache
def _stop_at_deadline() -> type:
    """tenacity's stop condition "the next wait would end past the deadline", defined once
    (tenacity is imported lazily, so the class is built on first use)."""
    from tenacity.stop import stop_base  # noqa: PLC0415

    class StopAtDeadline(stop_base):
        def __init__(self, chain: _Chain) -> None:
            self.chain = chain

        def __call__(self, state: RetryCallState) -> bool:
            chain = self.chain
            return chain.clock.now() + chain.wait(state) >= chain.deadline

    return StopAtDeadline


class _Chain:
    """The bookkeeping execute() and aexecute() share: deadline, attempts, outcomes."""

    def __init__(
        self,
        timeout: float,
        policy: RetryPolicy,
        clock: _Clock,
        rng: random.Random,
        cooldowns: Cooldowns | None,
    ):
        self.timeout = timeout
        self.clock = clock
        self.deadline = clock.now() + timeout
        self.attempts: list[Attempt] = []
        self.cooldowns = cooldowns
        self.policy = policy
        self.wait = _wait(policy, rng)

    def retry_kwargs(self) -> dict[str, Any]:
        """tenacity's stop, wait and retry for this chain, built only when a call failed
        (the first try of each deployment runs without tenacity: most calls succeed)."""
        from tenacity import retry_if_exception, stop_after_attempt  # noqa: PLC0415

        stop = stop_after_attempt(self.policy.attempts) | _stop_at_deadline()(self)
        return {"stop": stop, "wait": self.wait, "retry": retry_if_exception(_retryable)}

    def seconds_left(self) -> float:
        left = self.deadline - self.clock.now()
        if left <= 0:
            raise TimeoutError
        return left

    def cooling_down(self, d: Deployment) -> bool:
        """True (and recorded) when `d`'s breaker is open: skip it without calling."""
        if self.cooldowns is None or self.cooldowns.allow(d.name):
            return False
        last = self.cooldowns.last_cause(d.name)
        why = "cooling down after failures" + (f" (last: {last})" if last else "")
        self.attempts.append(Attempt(d.name, 0, "skipped", why, 0.0))
        return True

    def record(self, d: Deployment, tries: int, start: float, exc: ProviderError | None) -> None:
        if self.cooldowns is not None:
            if exc is None:
                self.cooldowns.success(d.name)
            else:
                self.cooldowns.failure(d.name, exc)
                self.cooldowns.remember(d.name, exc)
        outcome: Literal["ok", "retry", "fallback", "raise"] = (
            "ok"
            if exc is None
            else "retry"
            if _retryable(exc)
            else "fallback"
            if exc.disposition is Disposition.FALLBACK
            else "raise"
        )
        error = None if exc is None else str(exc)
        self.attempts.append(
            Attempt(d.name, tries, outcome, error, (self.clock.now() - start) * 1000)
        )

    def gave_up(self, exc: ProviderError) -> None:
        """After a deployment's last failure: raise the caller's error, else move on."""
        if exc.disposition is Disposition.RAISE:
            raise exc
        if self.attempts and self.attempts[-1].outcome == "retry":
            self.attempts[-1] = self.attempts[-1]._replace(outcome="gave up")

    def out_of_time(self) -> bool:
        return self.clock.now() >= self.deadline

    def failure(self) -> AllDeploymentsFailed:
        reason = (
            f"deadline of {self.timeout:g} s passed"
            if self.out_of_time()
            else "every deployment in the plan failed"
        )
        return AllDeploymentsFailed(self.attempts, reason)


def execute(
    candidates: Sequence[Deployment],
    call: Callable[[Deployment, float], T],
    *,
    timeout: float,
    policy: RetryPolicy = RetryPolicy(),
    clock: _Clock = _Clock(time.monotonic, time.sleep),  # noqa: B008
    rng: random.Random | None = None,
    cooldowns: Cooldowns | None = None,
) -> tuple[T, Deployment, tuple[Attempt, ...]]:
    """Call `candidates` in order until one answers; `call(deployment, seconds_left)`.

    Raises the caller's BadRequest at once, and AllDeploymentsFailed (with every
    attempt) when the plan is exhausted or `timeout` seconds have passed.
    """
    chain = _Chain(timeout, policy, clock, rng or _RNG, cooldowns)
    for deployment in candidates:
        if chain.cooling_down(deployment):
            continue
        tries = 0

        def once(d: Deployment = deployment) -> T:
            nonlocal tries
            tries += 1
            left, start = chain.seconds_left(), clock.now()
            try:
                result = call(d, left)
            except ProviderError as exc:
                chain.record(d, tries, start, exc)
                raise
            chain.record(d, tries, start, None)
            return result

        try:
            try:
                return once(), deployment, tuple(chain.attempts)
            except ProviderError as first:
                if not _retryable(first):
                    raise
                return _retry(chain, once, first, clock.sleep), deployment, tuple(chain.attempts)
        except ProviderError as exc:
            chain.gave_up(exc)
        except TimeoutError:
            break
        if chain.out_of_time():
            break
    raise chain.failure()


def _retry(chain: _Chain, once: Callable[[], T], first: ProviderError, sleep: Any) -> T:
    """tenacity takes over after a retryable first failure: its first "attempt" replays
    that failure (so backoff and Retry-After apply as to any other), then calls again."""
    from tenacity import Retrying  # noqa: PLC0415  (lazy: `import router` stays cheap)

    replay = [first]

    def again() -> T:
        if replay:
            raise replay.pop()
        return once()

    return Retrying(sleep=sleep, reraise=True, **chain.retry_kwargs())(again)


async def aexecute(
    candidates: Sequence[Deployment],
    call: Callable[[Deployment, float], Awaitable[T]],
    *,
    timeout: float,
    policy: RetryPolicy = RetryPolicy(),
    clock: _AsyncClock | None = None,
    rng: random.Random | None = None,
    cooldowns: Cooldowns | None = None,
) -> tuple[T, Deployment, tuple[Attempt, ...]]:
    """`execute` for coroutines: the same rules, awaiting instead of blocking."""
    import asyncio  # noqa: PLC0415  (lazy, like tenacity: `import router` stays cheap)

    clock = clock or _AsyncClock(time.monotonic, asyncio.sleep)

    chain = _Chain(timeout, policy, _Clock(clock.now, time.sleep), rng or _RNG, cooldowns)
    for deployment in candidates:
        if chain.cooling_down(deployment):
            continue
        tries = 0

        async def once(d: Deployment = deployment) -> T:
            nonlocal tries
            tries += 1
            left, start = chain.seconds_left(), clock.now()
            try:
                result = await call(d, left)
            except ProviderError as exc:
                chain.record(d, tries, start, exc)
                raise
            chain.record(d, tries, start, None)
            return result

        try:
            try:
                return await once(), deployment, tuple(chain.attempts)
            except ProviderError as first:
                if not _retryable(first):
                    raise
                result = await _aretry(chain, once, first, clock.sleep)
                return result, deployment, tuple(chain.attempts)
        except ProviderError as exc:
            chain.gave_up(exc)
        except TimeoutError:
            break
        if chain.out_of_time():
            break
    raise chain.failure()


async def _aretry(
    chain: _Chain, once: Callable[[], Awaitable[T]], first: ProviderError, sleep: Any
) -> T:
    """`_retry` for coroutines."""
    from tenacity import AsyncRetrying  # noqa: PLC0415

    replay = [first]

    async def again() -> T:
        if replay:
            raise replay.pop()
        return await once()

    return await AsyncRetrying(sleep=sleep, reraise=True, **chain.retry_kwargs())(again)
