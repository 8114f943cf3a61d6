"""Retries, fallback and one deadline for the whole chain. The only module that imports tenacity.

Per deployment, in plan order: retryable errors (rate limit, 5xx, timeout, connection)
are retried with exponential backoff and jitter, honouring Retry-After, up to
`RetryPolicy.attempts` tries; fallback errors (context window, content filter, auth)
move to the next deployment of the plan; the caller's invalid request raises at once.
Fallback never adds a deployment: only the plan's candidates are ever called.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeVar

from router.errors import AllDeploymentsFailed, Disposition, ProviderError
from router.models import Attempt, Deployment

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["Attempt", "RetryPolicy", "execute"]

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


def _wait(policy: RetryPolicy, rng: random.Random) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_retry_after)
        backoff = min(policy.max_wait, policy.initial_wait * 2.0 ** (state.attempt_number - 1))
        return float(backoff + rng.uniform(0, policy.jitter * backoff))

    return wait


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.disposition is Disposition.RETRY


def execute(
    candidates: Sequence[Deployment],
    call: Callable[[Deployment, float], T],
    *,
    timeout: float,
    policy: RetryPolicy = RetryPolicy(),
    clock: _Clock = _Clock(time.monotonic, time.sleep),  # noqa: B008
    rng: random.Random | None = None,
) -> tuple[T, Deployment, tuple[Attempt, ...]]:
    """Call `candidates` in order until one answers; `call(deployment, seconds_left)`.

    Raises the caller's BadRequest at once, and AllDeploymentsFailed (with every
    attempt) when the plan is exhausted or `timeout` seconds have passed.
    """
    # tenacity is imported here, not at module level: `import router` stays cheap.
    from tenacity import Retrying, retry_if_exception, stop_after_attempt  # noqa: PLC0415
    from tenacity.stop import stop_base  # noqa: PLC0415

    deadline = clock.now() + timeout
    attempts: list[Attempt] = []
    wait = _wait(policy, rng or random.Random())

    class _StopAtDeadline(stop_base):
        """Stop when the next wait would end past the deadline."""

        def __call__(self, state: RetryCallState) -> bool:
            return clock.now() + wait(state) >= deadline

    for deployment in candidates:
        tries = 0

        def once(d: Deployment = deployment) -> T:
            nonlocal tries
            tries += 1
            left = deadline - clock.now()
            if left <= 0:
                raise TimeoutError
            start = clock.now()
            try:
                result = call(d, left)
            except ProviderError as exc:
                outcome: Literal["retry", "fallback", "raise"] = (
                    "retry"
                    if _retryable(exc)
                    else "fallback"
                    if exc.disposition is Disposition.FALLBACK
                    else "raise"
                )
                attempts.append(
                    Attempt(d.name, tries, outcome, str(exc), (clock.now() - start) * 1000)
                )
                raise
            attempts.append(Attempt(d.name, tries, "ok", None, (clock.now() - start) * 1000))
            return result

        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts) | _StopAtDeadline(),
            wait=wait,
            retry=retry_if_exception(_retryable),
            sleep=clock.sleep,
            reraise=True,
        )
        try:
            return retrying(once), deployment, tuple(attempts)
        except ProviderError as exc:
            if exc.disposition is Disposition.RAISE:
                raise
            if attempts and attempts[-1].outcome == "retry":
                last = attempts[-1]
                attempts[-1] = last._replace(outcome="gave up")
        except TimeoutError:
            break
        if clock.now() >= deadline:
            break
    reason = (
        f"deadline of {timeout:g} s passed"
        if clock.now() >= deadline
        else "every deployment in the plan failed"
    )
    raise AllDeploymentsFailed(attempts, reason)
