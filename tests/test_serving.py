"""Router.complete through litellm's real HTTP stack against the loopback fault server."""

from __future__ import annotations

import pytest
from factories import pair_router

import router
from router.errors import AllDeploymentsFailed, BadRequest, NoEligibleDeployment
from router.serving._executor import RetryPolicy
from router.testing import (
    FaultServer,
    bad_request,
    content_filtered,
    context_length_exceeded,
    hang,
    malformed_json,
    ok,
    rate_limited,
    reset,
    server_error,
    unauthorized,
)

FAST = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, jitter=0.0, max_retry_after=0.2)
HI = [{"role": "user", "content": "Say hi"}]


def make_router(first: FaultServer, second: FaultServer) -> router.Router:
    return pair_router(first, second, names=("local-a", "local-b"), retry=FAST)


def test_answer_comes_back_with_its_decision(servers: tuple[FaultServer, FaultServer]) -> None:
    first, second = servers
    first.script(ok("hello there"))
    result = make_router(first, second).complete(HI, temperature=0)
    assert result.content == "hello there"
    assert result.decision.served_by == "local-a"
    assert [a.outcome for a in result.decision.attempts] == ["ok"]
    assert first.requests[0]["messages"] == HI
    assert first.requests[0]["temperature"] == 0


@pytest.mark.parametrize(
    "fault",
    [rate_limited(0.05), server_error(500), server_error(503), malformed_json(), reset()],
    ids=["429", "500", "503", "malformed-json", "reset"],
)
def test_transient_faults_are_retried_on_the_same_deployment(
    servers: tuple[FaultServer, FaultServer], fault: object
) -> None:
    first, second = servers
    first.script(fault, ok("recovered"))  # type: ignore[arg-type]
    result = make_router(first, second).complete(HI)
    assert result.content == "recovered"
    assert [(a.deployment, a.outcome) for a in result.decision.attempts] == [
        ("local-a", "retry"),
        ("local-a", "ok"),
    ]
    assert second.requests == []


@pytest.mark.parametrize(
    "fault",
    [context_length_exceeded(), unauthorized(), content_filtered()],
    ids=["context-window", "401", "content-filter"],
)
def test_fallback_faults_move_to_the_next_deployment_at_once(
    servers: tuple[FaultServer, FaultServer], fault: object
) -> None:
    first, second = servers
    first.script(fault)  # type: ignore[arg-type]
    second.script(ok("from b"))
    result = make_router(first, second).complete(HI)
    assert result.content == "from b"
    assert [a.outcome for a in result.decision.attempts] == ["fallback", "ok"]
    assert len(first.requests) == 1


def test_the_callers_invalid_request_is_raised_without_fallback(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(bad_request())
    with pytest.raises(BadRequest) as caught:
        make_router(first, second).complete(HI)
    assert caught.value.deployment == "local-a"
    assert second.requests == []


def test_a_hang_past_the_deadline_fails_with_what_was_tried(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(hang(5), hang(5), hang(5))
    second.script(hang(5), hang(5), hang(5))
    with pytest.raises(AllDeploymentsFailed) as caught:
        make_router(first, second).complete(HI, timeout=0.6)
    assert "deadline of 0.6 s passed" in str(caught.value)
    assert caught.value.attempts[0].deployment == "local-a"


def test_confidential_request_never_falls_back_to_an_api(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, _ = servers
    api = FaultServer().start()
    try:
        r = router.Router(
            deployments=[
                {"name": "local", "model": "openai/a", "api_base": first.base_url,
                 "context_window": 8192},
                {"name": "api", "model": "openai/gpt-4o-mini", "api_base": api.base_url,
                 "hosting": "api", "weights": "closed", "context_window": 8192,
                 "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.6},
            ],
            retry=FAST,
        )  # fmt: skip
        first.script(server_error(503), server_error(503), server_error(503))
        with pytest.raises(AllDeploymentsFailed) as caught:
            r.complete(HI, sensitivity="confidential")
        assert {a.deployment for a in caught.value.attempts} == {"local"}
        assert api.requests == []
    finally:
        api.stop()


def test_missing_api_key_is_a_fallback_not_a_crash(
    servers: tuple[FaultServer, FaultServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = servers
    monkeypatch.delenv("ROUTER_TEST_KEY", raising=False)
    r = router.Router(
        deployments=[
            {"name": "paid", "model": "openai/x", "api_base": first.base_url, "hosting": "api",
             "weights": "closed", "context_window": 8192, "api_key_env": "ROUTER_TEST_KEY",
             "input_cost_per_mtok": 1, "output_cost_per_mtok": 1, "quality": 0.9},
        ],
        retry=FAST,
    )  # fmt: skip
    with pytest.raises(AllDeploymentsFailed) as caught:
        r.complete(HI)
    assert "ROUTER_TEST_KEY is not set" in str(caught.value)
    assert first.requests == []


def test_nothing_eligible_calls_nothing(servers: tuple[FaultServer, FaultServer]) -> None:
    first, second = servers
    with pytest.raises(NoEligibleDeployment):
        make_router(first, second).complete(HI, max_tokens=100_000)
    assert first.requests == []
    assert second.requests == []


def test_the_callers_metadata_is_not_written_into_by_litellm() -> None:
    """litellm adds its timings, the provider's response headers and api_base to the
    `metadata` dict it is given: the router hands it a copy, so the caller's dict (which
    a caller may reuse for the next request) stays as the caller wrote it."""
    with FaultServer(default=ok("x")) as server:
        r = router.Router(
            [{"name": "local", "model": "openai/m", "api_base": server.base_url,
              "context_window": 8192}]
        )  # fmt: skip
        metadata = {"k": "v"}
        r.complete([{"role": "user", "content": "hi"}], metadata=metadata)
        for _ in r.stream([{"role": "user", "content": "hi"}], metadata=metadata):
            pass
    assert metadata == {"k": "v"}
