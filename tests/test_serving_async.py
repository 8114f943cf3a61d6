"""Router.acomplete through litellm's real async HTTP stack against the loopback fault server."""

from __future__ import annotations

import asyncio
import time

import pytest
from factories import pair_router

import router
from router._records import Result
from router.errors import AllDeploymentsFailed, BadRequest
from router.serving._backends import client_timeout
from router.serving._executor import RetryPolicy
from router.testing import FaultServer, bad_request, hang, ok, rate_limited, server_error

FAST = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, jitter=0.0, max_retry_after=0.2)
HI = [{"role": "user", "content": "Say hi"}]


def make_router(first: FaultServer, second: FaultServer) -> router.Router:
    return pair_router(first, second, names=("local-a", "local-b"), retry=FAST)


def test_acomplete_answers_with_its_decision(servers: tuple[FaultServer, FaultServer]) -> None:
    first, second = servers
    first.script(ok("async hello"))
    result = asyncio.run(make_router(first, second).acomplete(HI))
    assert result.content == "async hello"
    assert result.decision.served_by == "local-a"


def test_acomplete_retries_then_falls_back(servers: tuple[FaultServer, FaultServer]) -> None:
    first, second = servers
    first.script(rate_limited(0.01), server_error(503), server_error(500))
    second.script(ok("from b"))
    result = asyncio.run(make_router(first, second).acomplete(HI))
    assert result.content == "from b"
    assert [a.outcome for a in result.decision.attempts] == ["retry", "retry", "gave up", "ok"]


def test_acomplete_raises_the_callers_bad_request(servers: tuple[FaultServer, FaultServer]) -> None:
    first, second = servers
    first.script(bad_request())
    with pytest.raises(BadRequest):
        asyncio.run(make_router(first, second).acomplete(HI))
    assert second.requests == []


def test_acomplete_deadline(servers: tuple[FaultServer, FaultServer]) -> None:
    first, second = servers
    first.script(hang(5), hang(5))
    second.script(hang(5), hang(5))
    with pytest.raises(AllDeploymentsFailed, match=r"deadline of 0\.5 s passed"):
        asyncio.run(make_router(first, second).acomplete(HI, timeout=0.5))


def test_hundreds_of_concurrent_requests_all_succeed(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    r = make_router(first, second)

    async def many() -> list[Result]:
        return await asyncio.gather(*(r.acomplete(HI) for _ in range(200)))

    results = asyncio.run(many())
    assert len(results) == 200
    assert all(res.content == "hello" for res in results)
    assert {res.decision.served_by for res in results} == {"local-a"}
    assert len(first.requests) == 200


def test_acomplete_keeps_the_exact_deadline_though_litellm_gets_whole_seconds(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(hang(5.0))
    second.script(hang(5.0))
    start = time.monotonic()
    with pytest.raises(AllDeploymentsFailed, match=r"deadline of 2\.5 s passed"):
        asyncio.run(make_router(first, second).acomplete(HI, timeout=2.5))
    assert 2.4 <= time.monotonic() - start < 2.9  # not the 3 s litellm was given


@pytest.mark.parametrize(
    ("left", "given"), [(59.98, 60.0), (2.0, 2.0), (2.01, 3.0), (1.99, 1.99), (0.3, 0.3)]
)
def test_litellm_gets_whole_seconds_until_the_last_two(left: float, given: float) -> None:
    assert client_timeout(left) == given
