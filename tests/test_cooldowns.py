"""Circuit breakers: unit behaviour with a fake clock, and through Router.complete."""

from __future__ import annotations

import pytest
from factories import pair_router

from router.errors import (
    AuthenticationFailed,
    BadRequest,
    ContextWindowExceeded,
    ProviderError,
    ProviderUnavailable,
)
from router.serving._executor import RetryPolicy
from router.state.cooldowns import CooldownPolicy, Cooldowns
from router.testing import MockServer, ok, server_error

DOWN = ProviderUnavailable("a", "server error", status=503)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def breakers(threshold: int = 2, seconds: float = 10.0) -> tuple[Cooldowns, Clock]:
    clock = Clock()
    return Cooldowns(CooldownPolicy(threshold=threshold, seconds=seconds), clock), clock


def test_consecutive_failures_open_the_breaker() -> None:
    cd, _ = breakers()
    cd.failure("a", DOWN)
    assert cd.allow("a")
    cd.failure("a", DOWN)
    assert not cd.allow("a")
    state = cd.state("a")
    assert (state.state, state.consecutive_failures, state.retry_in_seconds) == ("open", 2, 10.0)


def test_a_success_resets_the_count() -> None:
    cd, _ = breakers()
    cd.failure("a", DOWN)
    cd.success("a")
    cd.failure("a", DOWN)
    assert cd.allow("a")


def test_after_the_cooldown_exactly_one_probe_goes_through() -> None:
    cd, clock = breakers()
    cd.failure("a", DOWN)
    cd.failure("a", DOWN)
    clock.t += 10.0
    assert cd.state("a").state == "half-open"
    assert cd.allow("a")
    assert not cd.allow("a")  # the probe is in flight


@pytest.mark.parametrize(
    ("probe_failed", "expected"), [(True, "open"), (False, "closed")], ids=["fails", "succeeds"]
)
def test_the_probe_closes_or_reopens(probe_failed: bool, expected: str) -> None:
    cd, clock = breakers()
    cd.failure("a", DOWN)
    cd.failure("a", DOWN)
    clock.t += 10.0
    assert cd.allow("a")
    if probe_failed:
        cd.failure("a", DOWN)
    else:
        cd.success("a")
    assert cd.state("a").state == expected


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (DOWN, True),
        (AuthenticationFailed("a", "authentication failed"), True),
        (ContextWindowExceeded("a", "context window exceeded"), False),
        (BadRequest("a", "invalid"), False),
    ],
    ids=["5xx", "auth", "context-window", "bad-request"],
)
def test_only_deployment_failures_count(error: ProviderError, counts: bool) -> None:
    cd, _ = breakers(threshold=1)
    cd.failure("a", error)
    assert cd.allow("a") is not counts


def test_an_open_breaker_is_skipped_and_visible_in_health(
    mock_servers: tuple[MockServer, MockServer],
) -> None:
    first, second = mock_servers
    r = pair_router(
        first,
        second,
        retry=RetryPolicy(attempts=2, initial_wait=0.01, jitter=0.0),
        cooldown=CooldownPolicy(threshold=2, seconds=60.0),
    )
    first.script(server_error(503), server_error(503))
    hi = [{"role": "user", "content": "hi"}]
    assert r.complete(hi).decision.served_by == "b"
    assert r.health()["a"].state == "open"
    assert r.health()["b"].state == "closed"
    first.script(ok("a is back"))
    second_result = r.complete(hi)
    assert second_result.decision.served_by == "b"
    assert second_result.decision.attempts[0].outcome == "skipped"
    assert len(first.requests) == 2  # the open breaker kept the third request away
