"""Retries, fallback and one deadline for the whole chain, as an op (router._effects).

Per deployment, in plan order: retryable errors (rate limit, 5xx, timeout, connection
reset) are retried with exponential backoff and jitter, honouring Retry-After, up to
`RetryPolicy.attempts` tries; fallback errors (context window, content filter, missing
or rejected credentials, connection refused, DNS or TLS failure) move to the next
deployment of the plan; the caller's invalid request raises at once.
Fallback never adds a deployment: only the plan's candidates are ever called.

`attempts` is the one copy of these rules: it yields the calls, the breakers' reads
and writes and the backoff waits as effects, and the blocking or the async driver does
them. (tenacity drove the calls itself, so it needed a sync and an async copy of the
loop; the rules are a few lines, kept here.)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from router._effects import Op, Sleep
from router._models import Deployment
from router._records import Attempt, Decision
from router.decision import RetrySettings
from router.errors import AllDeploymentsFailed, Disposition, ProviderError
from router.state.cooldowns import Cooldowns

__all__ = ["Call", "Job", "RetryPolicy", "RetrySettings", "attempts"]

T = TypeVar("T")

Call = Callable[[Deployment, float], Op[T]]
"""`call(deployment, seconds_left)`: an op that calls the deployment once."""


@dataclass(frozen=True, slots=True)
class Job(Generic[T]):
    """One request for a serving strategy (route, cascade): its decision, the call's
    parameters, the seconds it has, how to call a deployment (`then`: a completion, or
    the head of a stream), and how to give an answer the strategy already holds (a
    cascade's kept free answer) in the same shape (`keep`)."""

    decision: Decision
    call: dict[str, Any]
    timeout: float
    then: Call[T]
    keep: Callable[[dict[str, Any]], T]


RetryPolicy = RetrySettings
"""`Router(retry=RetryPolicy(attempts=2))`: the `[retry]` table, by its older name."""


DEFAULT_RETRY = RetrySettings()

_RNG = random.Random()  # jitter only; one shared instance (seeding a new one costs ~13 µs)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.disposition is Disposition.RETRY


def _outcome(exc: ProviderError) -> Literal["retry", "fallback", "raise"]:
    if _retryable(exc):
        return "retry"
    return "fallback" if exc.disposition is Disposition.FALLBACK else "raise"


CLOCK_SLACK = 0.01
"""Seconds before the deadline that count as at it. A call cut at its deadline by the event
loop's timer can end a little before `time.monotonic()` reaches it: uvloop's clock is
libuv's loop time, in whole milliseconds and cached for the loop's iteration (a fresh
clone's server on uvloop once called a passed deadline "every deployment failed")."""


class _Chain:
    """One request's deadline and attempts."""

    def __init__(self, timeout: float, now: Callable[[], float]) -> None:
        self.timeout = timeout
        self.now = now
        self.deadline = now() + timeout
        self.attempts: list[Attempt] = []

    def skipped(self, d: Deployment, cooldowns: Cooldowns) -> None:
        last = cooldowns.last_cause(d.name)
        why = "cooling down after failures" + (f" (last: {last})" if last else "")
        self.attempts.append(Attempt(d.name, 0, "skipped", why, 0.0))

    def record(self, d: Deployment, tries: int, start: float, exc: ProviderError | None) -> None:
        outcome = "ok" if exc is None else _outcome(exc)
        error = None if exc is None else str(exc)
        self.attempts.append(Attempt(d.name, tries, outcome, error, (self.now() - start) * 1000))

    def gave_up(self) -> None:
        """The deployment's last try was retryable: no more tries for it."""
        if self.attempts and self.attempts[-1].outcome == "retry":
            self.attempts[-1] = self.attempts[-1]._replace(outcome="gave up")

    def expired(self) -> bool:
        return self.now() >= self.deadline - CLOCK_SLACK

    def failure(self) -> AllDeploymentsFailed:
        reason = (
            f"deadline of {self.timeout:g} s passed"
            if self.expired()
            else "every deployment in the plan failed"
        )
        return AllDeploymentsFailed(self.attempts, reason)


def attempts(
    candidates: Sequence[Deployment],
    call: Call[T],
    *,
    timeout: float,
    policy: RetryPolicy = DEFAULT_RETRY,
    cooldowns: Cooldowns | None = None,
    now: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> Op[tuple[T, Deployment, tuple[Attempt, ...]]]:
    """Call `candidates` in order until one answers: the answer, who gave it, and every
    attempt. Raises the caller's BadRequest at once, and AllDeploymentsFailed (with every
    attempt) when the plan is exhausted or `timeout` seconds have passed."""
    chain, rng = _Chain(timeout, now), rng or _RNG
    for d in candidates:
        if cooldowns is not None and not (yield from cooldowns.allow_op(d.name)):
            chain.skipped(d, cooldowns)
            continue
        tries = 0
        while True:
            left = chain.deadline - now()
            if left <= CLOCK_SLACK:
                raise chain.failure()
            tries, start = tries + 1, now()
            try:
                result = yield from call(d, left)
            except ProviderError as exc:
                if cooldowns is not None:
                    yield from cooldowns.failure_op(d.name, exc)
                chain.record(d, tries, start, exc)
                if exc.disposition is Disposition.RAISE:
                    raise
                if not _retryable(exc) or tries >= policy.attempts:
                    break
                wait = policy.wait(tries, exc, rng)
                if now() + wait >= chain.deadline:
                    break
                yield Sleep(wait)
                continue
            if cooldowns is not None:
                yield from cooldowns.success_op(d.name)
            chain.record(d, tries, start, None)
            return result, d, tuple(chain.attempts)
        chain.gave_up()
        if chain.expired():
            break
    raise chain.failure()
