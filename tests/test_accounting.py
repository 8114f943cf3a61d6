"""Usage and cost arithmetic (pure), and the usage/cost the Router records when it serves:
complete, a cache hit, a stream that ends, one stopped early and one interrupted (served
by a MockBackend; litellm's own cost figure through the real stack on a FaultServer)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from factories import deployment, features

import router
from router._records import MICRO, Cost, Decision, Usage
from router.errors import StreamInterrupted
from router.money._accounting import account, estimate_usage, price_micro, response_usage, usage_of
from router.serving._executor import RetryPolicy
from router.serving._streaming import AsyncStream
from router.testing import FaultServer, MockServer, ok, stream

FAST = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02, jitter=0.0)
HI = [{"role": "user", "content": "Say hello"}]
GPT4O = (2.5e-6, 1e-5)  # USD per input / output token


def decision(prompt_tokens: int = 40) -> Decision:
    return Decision(
        features=features(prompt_tokens=prompt_tokens),
        candidates=(),
        rejected=(),
        policy="p",
        policy_fingerprint="f",
        objective="free-first",
        quality_target=0.9,
    )


def test_price_is_integer_micro_dollars_rounded_to_nearest() -> None:
    assert price_micro(Usage(1000, 200, "provider"), *GPT4O) == 4500
    assert price_micro(Usage(1, 0, "provider"), 4e-7, 0.0) == 0  # 0.4 µ$ rounds down
    assert price_micro(Usage(1, 0, "provider"), 6e-7, 0.0) == 1
    assert price_micro(Usage(0, 0, "provider"), *GPT4O) == 0


def test_sums_of_micro_dollars_are_exact_where_floats_drift() -> None:
    costs = [price_micro(Usage(100, 0, "provider"), 1e-9 * 1000, 0.0)] * 10  # 0.1 mUSD each
    assert sum(costs) == 1000
    assert sum(c / MICRO for c in costs) != 0.001  # the float sum drifts
    assert sum(costs) / MICRO == 0.001


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"usage": {"prompt_tokens": 7, "completion_tokens": 3}}, Usage(7, 3, "provider")),
        ({"usage": None}, None),
        ({}, None),
        ({"usage": {"prompt_tokens": "7", "completion_tokens": 3}}, None),
        ({"usage": {"prompt_tokens": -1, "completion_tokens": 3}}, None),
    ],
    ids=["reported", "null", "missing", "string", "negative"],
)
def test_usage_of_accepts_only_well_formed_counts(
    response: dict[str, Any], expected: Usage | None
) -> None:
    assert usage_of(response) == expected


def test_missing_usage_is_estimated_from_the_prompt_and_the_text() -> None:
    d = decision(prompt_tokens=40)
    response = {"choices": [{"message": {"content": "word " * 40}}]}
    used = response_usage(d, response)
    assert used.source == "estimate"
    assert used.prompt_tokens == 40
    assert 40 <= used.completion_tokens <= 80
    assert estimate_usage(d, "").completion_tokens == 0


def test_account_prices_usage_at_the_served_deployment_and_the_baseline() -> None:
    api = deployment("gpt-4o", hosting="api", input_usd_per_token=2.5e-6, output_usd_per_token=1e-5)
    local = deployment("local")
    used = Usage(1000, 200, "provider")
    paid = account(decision(), api, used, GPT4O)
    assert paid.cost == Cost(4500, 4500)
    assert paid.cost.saved_usd == 0
    free = account(decision(), local, used, GPT4O)
    assert free.cost == Cost(0, 4500)
    assert free.cost.saved_usd == pytest.approx(0.0045)
    assert free.usage == used
    assert account(decision(), api, used, None).cost == Cost(4500, None)
    hit = account(decision(), api, used, GPT4O, cache_hit=True)
    assert hit.cost == Cost(0, 4500)
    assert paid.to_dict()["cost"]["usd"] == pytest.approx(0.0045)
    assert paid.to_dict()["usage"] == {
        "prompt_tokens": 1000, "completion_tokens": 200, "source": "provider",
        "reported_usd": None,
    }  # fmt: skip


def priced_router(server: MockServer, **options: Any) -> router.Router:
    """One self-hosted deployment at $1/M input and $2/M output; baseline gpt-4o."""
    return router.Router(
        deployments=[
            {"name": "gpu", "model": "openai/m", "api_base": server.base_url,
             "hosting": "self-hosted", "weights": "open", "context_window": 8192,
             "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0, "quality": 0.8},
        ],
        baseline="gpt-4o",
        retry=FAST,
        backend=server.backend,
        **options,
    )  # fmt: skip


def test_complete_records_usage_cost_and_baseline(
    mock_servers: tuple[MockServer, MockServer],
) -> None:
    server, _ = mock_servers
    server.script(ok("hi", prompt_tokens=1000, completion_tokens=500))
    d = priced_router(server).complete(HI).decision
    assert d.usage == Usage(1000, 500, "provider")
    assert d.cost == Cost(1000 + 1000, 2500 + 5000)  # 1000x$1/M + 500x$2/M; gpt-4o prices
    assert d.cost.saved_usd == pytest.approx(0.0055)


def test_cache_hit_costs_nothing_and_keeps_the_baseline(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    server, _ = mock_servers
    server.script(ok("hi", prompt_tokens=1000, completion_tokens=500))
    r = priced_router(server, cache=router.ResponseCache(tmp_path))
    first = r.complete(HI, temperature=0).decision
    again = r.complete(HI, temperature=0).decision
    assert not first.cache_hit
    assert first.cost is not None
    assert first.cost.micro_usd == 2000
    assert again.cache_hit
    assert again.cost == Cost(0, 7500)
    assert len(server.requests) == 1


def test_stream_settles_with_the_providers_usage_at_the_end(
    mock_servers: tuple[MockServer, MockServer],
) -> None:
    server, _ = mock_servers
    server.script(stream(("Hel", "lo ", "there")))
    s = priced_router(server).stream(HI)
    assert s.decision.cost is None  # not settled before the end
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in s if c["choices"])
    assert s.settled
    assert s.decision.usage is not None
    assert s.decision.usage.source == "provider"
    assert s.decision.usage.completion_tokens == 3
    assert s.decision.cost is not None
    assert s.decision.cost.baseline_micro_usd is not None


def test_stream_left_early_is_settled_with_an_estimate(
    mock_servers: tuple[MockServer, MockServer],
) -> None:
    server, _ = mock_servers
    server.script(stream(tuple(f"part{i} " for i in range(50))))
    s = priced_router(server).stream(HI)
    for n, _chunk in enumerate(s):  # leave the loop after three chunks, without close()
        if n == 2:
            break
    assert s.settled
    assert s.decision.usage is not None
    assert s.decision.usage.source == "estimate"
    assert 0 < s.decision.usage.completion_tokens < 50
    assert s.decision.usage.prompt_tokens == s.decision.features.prompt_tokens


def test_stream_closed_before_reading_is_settled(
    mock_servers: tuple[MockServer, MockServer],
) -> None:
    server, _ = mock_servers
    server.script(stream(("a", "b", "c")))
    s = priced_router(server).stream(HI)
    s.close()
    assert s.settled
    assert s.decision.usage is not None
    assert s.decision.usage.source == "estimate"


def test_interrupted_stream_is_settled_with_what_was_delivered(
    mock_servers: tuple[MockServer, MockServer],
) -> None:
    server, _ = mock_servers
    server.script(stream(("one ", "two ", "three"), disconnect_after=2))
    s = priced_router(server).stream(HI)
    with pytest.raises(StreamInterrupted):
        for _chunk in s:
            pass
    assert s.settled
    assert s.decision.usage is not None
    assert s.decision.usage.source == "estimate"
    assert s.decision.usage.completion_tokens >= 2


def test_astream_settles_too(mock_servers: tuple[MockServer, MockServer]) -> None:
    server, _ = mock_servers
    server.script(stream(("Hel", "lo")))

    async def consume() -> AsyncStream:
        s = await priced_router(server).astream(HI)
        async for _chunk in s:
            pass
        return s

    s = asyncio.run(consume())
    assert s.settled
    assert s.decision.cost is not None
    assert s.decision.usage is not None
    assert s.decision.usage.source == "provider"


def test_a_sane_reported_cost_is_used_for_api_deployments_only() -> None:
    api = deployment("gpt-4o", hosting="api", input_usd_per_token=2.5e-6, output_usd_per_token=1e-5)
    gpu = deployment("gpu", hosting="self-hosted", input_usd_per_token=1e-7)
    discounted = Usage(1000, 200, "provider", reported_usd=0.003)  # cached input: 0.67x price
    assert account(decision(), api, discounted, GPT4O).cost == Cost(3000, 4500, "reported")
    wrong_model = Usage(1000, 200, "provider", reported_usd=0.0001)  # 0.02x: not the same model
    assert account(decision(), api, wrong_model, GPT4O).cost == Cost(4500, 4500, "price")
    assert account(decision(), gpu, discounted, GPT4O).cost == Cost(100, 4500, "price")
    # Above the price (litellm's list price over a negotiated one): the price, which is
    # what the budget hold used (invariant 4; tests/test_invariants_state.py).
    above = Usage(1000, 200, "provider", reported_usd=0.006)
    assert account(decision(), api, above, GPT4O).cost == Cost(4500, 4500, "price")
    assert usage_of({"usage": {"prompt_tokens": 1, "completion_tokens": 2, "cost": 0.5}}) == Usage(
        1, 2, "provider", 0.5
    )


def test_litellm_cost_is_recorded_through_the_real_stack(
    servers: tuple[FaultServer, FaultServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = servers
    monkeypatch.setenv("ROUTER_TEST_ACCOUNTING_KEY", "sk-test")
    server.script(ok("hi", prompt_tokens=1000, completion_tokens=500), ok("hi"))

    def api(**prices: float) -> router.Router:
        return router.Router(
            deployments=[
                {"name": "mini", "model": "openai/gpt-4o-mini", "api_base": server.base_url,
                 "hosting": "api", "weights": "closed", "api_key_env": "ROUTER_TEST_ACCOUNTING_KEY",
                 **prices},
            ],
            retry=FAST,
        )  # fmt: skip

    catalog = api().complete(HI).decision  # litellm prices gpt-4o-mini as the catalog does
    assert catalog.usage is not None
    assert catalog.usage.reported_usd == pytest.approx(0.00045)
    assert catalog.cost == Cost(450, None, "reported")
    ours = api(input_cost_per_mtok=10, output_cost_per_mtok=10).complete(HI).decision
    assert ours.cost is not None
    assert ours.cost.source == "price"  # litellm's figure for gpt-4o-mini is 0.03x ours
