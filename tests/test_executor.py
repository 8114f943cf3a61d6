"""The executor's retry / fallback / deadline logic, with a scripted call and a fake clock.

`attempts` is an op (router._effects): the test drives it by hand, doing its `Sleep`
effects on the fake clock, which is what a driver does with a real one."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from factories import deployment

from router._effects import Op, Sleep
from router._models import Deployment
from router.errors import (
    AllDeploymentsFailed,
    AuthenticationFailed,
    BadRequest,
    ContextWindowExceeded,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from router.serving._executor import Call, RetryPolicy, attempts

A, B, C = deployment("a"), deployment("b"), deployment("c")
NO_JITTER = RetryPolicy(attempts=3, jitter=0.0)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class Script(NamedTuple):
    plan: dict[str, list[ProviderError | str | float]]
    calls: list[str]


def scripted(script: Script, clock: FakeClock) -> Call[str]:
    def call(d: Deployment, left: float) -> Op[str]:
        yield from ()  # an op: it needs no effect of its own here
        script.calls.append(d.name)
        clock.t += 0.01
        step = script.plan[d.name].pop(0)
        if isinstance(step, float):  # the provider hangs this long, then the call times out
            clock.t += min(step, left)
            raise ProviderTimeout(d.name, "timed out")
        if isinstance(step, ProviderError):
            raise step
        return step

    return call


def run(
    plan: dict[str, list[ProviderError | str | float]],
    candidates: tuple[Deployment, ...] = (A, B, C),
    timeout: float = 60.0,
    policy: RetryPolicy = NO_JITTER,
) -> tuple[str, str, list[str], FakeClock, Script]:
    clock = FakeClock()
    script = Script(plan, [])
    result, served, tried = drive(
        attempts(
            candidates, scripted(script, clock), timeout=timeout, policy=policy, now=clock.now
        ),
        clock,
    )
    return result, served.name, [a.outcome for a in tried], clock, script


def drive(op: Op[Any], clock: FakeClock) -> Any:
    """Run `op` to its end: its only effects here are the backoff waits."""
    try:
        effect = next(op)
        while True:
            assert isinstance(effect, Sleep), effect
            clock.sleep(effect.seconds)
            effect = op.send(None)
    except StopIteration as stop:
        return stop.value


def test_first_deployment_answers() -> None:
    result, served, outcomes, _, script = run({"a": ["hi"]})
    assert (result, served, outcomes, script.calls) == ("hi", "a", ["ok"], ["a"])


def test_retryable_errors_retry_the_same_deployment_with_backoff() -> None:
    plan: dict[str, list[ProviderError | str | float]] = {
        "a": [ProviderUnavailable("a", "server error", status=503), ProviderTimeout("a", "t"), "hi"]
    }
    _, served, outcomes, clock, _ = run(plan)
    assert served == "a"
    assert outcomes == ["retry", "retry", "ok"]
    assert clock.sleeps == [0.2, 0.4]  # exponential, no jitter in this policy


def test_retry_after_is_honoured() -> None:
    _, _, _, clock, _ = run({"a": [RateLimited("a", "rate limited", retry_after=1.5), "hi"]})
    assert clock.sleeps == [1.5]


def test_exhausted_retries_fall_back_to_the_next_deployment() -> None:
    err = ProviderUnavailable("a", "server error", status=500)
    _, served, outcomes, _, script = run({"a": [err, err, err], "b": ["hi"]})
    assert served == "b"
    assert outcomes == ["retry", "retry", "gave up", "ok"]
    assert script.calls == ["a", "a", "a", "b"]


@pytest.mark.parametrize(
    "error",
    [
        ContextWindowExceeded("a", "context window exceeded", status=400),
        AuthenticationFailed("a", "authentication failed", status=401),
    ],
    ids=["context-window", "auth"],
)
def test_fallback_errors_move_on_without_retrying(error: ProviderError) -> None:
    _, served, outcomes, clock, script = run({"a": [error], "b": ["hi"]})
    assert (served, outcomes, script.calls, clock.sleeps) == (
        "b",
        ["fallback", "ok"],
        ["a", "b"],
        [],
    )


def test_the_callers_bad_request_raises_at_once() -> None:
    with pytest.raises(BadRequest):
        run({"a": [BadRequest("a", "invalid", status=400)], "b": ["never"]})


def test_fallback_never_leaves_the_candidates() -> None:
    err = AuthenticationFailed("x", "authentication failed")
    with pytest.raises(AllDeploymentsFailed) as caught:
        run({"a": [err], "b": [err]}, candidates=(A, B))
    assert {a.deployment for a in caught.value.attempts} == {"a", "b"}
    assert "every deployment in the plan failed" in str(caught.value)


def test_one_deadline_bounds_the_whole_chain() -> None:
    with pytest.raises(AllDeploymentsFailed) as caught:
        run({"a": [0.7, 0.7, "late"], "b": ["never"]}, timeout=1.0)
    assert "deadline of 1 s passed" in str(caught.value)
    assert {a.deployment for a in caught.value.attempts} == {"a"}


def test_a_call_cut_a_few_ms_before_the_deadline_is_the_deadline() -> None:
    """uvloop's timer can fire before time.monotonic() reaches the deadline (its clock is
    in cached milliseconds): a call ending 5 ms early is cut by the deadline, and no other
    deployment gets the few ms left."""
    with pytest.raises(AllDeploymentsFailed) as caught:
        run({"a": [0.985], "b": ["never"]}, timeout=1.0)
    assert "deadline of 1 s passed" in str(caught.value)
    assert {a.deployment for a in caught.value.attempts} == {"a"}


def test_no_wait_is_started_that_would_end_past_the_deadline() -> None:
    err = RateLimited("a", "rate limited", retry_after=20.0)
    _, served, _, clock, _ = run({"a": [err], "b": ["hi"]}, timeout=15.0)
    assert served == "b"
    assert clock.sleeps == []
