"""Caller input is validated before anything is planned (issue 13, point 5).

A bad value is an InvalidRequest naming the parameter, raised before a plan, a hold or a
call: it never counts as a deployment failure and never moves a breaker. Error text
names parameters and positions, never the caller's keys or values.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import Router
from router.decision._params import MAX_TIMEOUT_S, check_params, check_timeout, shown_name
from router.errors import InvalidRequest, RouterError
from router.serving._executor import RetryPolicy
from router.testing import MockBackend, MockServer, ok

HI = [{"role": "user", "content": "hi"}]
CARD = "4111 1111 1111 1111"

BAD_PARAMS: list[tuple[str, dict[str, Any], str]] = [
    ("temperature-word", {"temperature": "hot"}, "temperature"),
    ("temperature-negative", {"temperature": -5}, "temperature"),
    ("temperature-high", {"temperature": 2.5}, "temperature"),
    ("temperature-bool", {"temperature": True}, "temperature"),
    ("top-p-above-one", {"top_p": 1.5}, "top_p"),
    ("n-zero", {"n": 0}, "n"),
    ("n-float", {"n": 2.0}, "n"),
    ("n-huge", {"n": 10_000}, "n"),
    ("stop-int", {"stop": 5}, "stop"),
    ("stop-five-items", {"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ("stop-empty-item", {"stop": ["a", ""]}, "stop"),
    ("seed-string", {"seed": "42"}, "seed"),
    ("seed-huge", {"seed": 2**70}, "seed"),
    ("presence-penalty-high", {"presence_penalty": 3}, "presence_penalty"),
    ("frequency-penalty-low", {"frequency_penalty": -2.5}, "frequency_penalty"),
    ("logit-bias-word-key", {"logit_bias": {"hello": 5}}, "logit_bias"),
    ("logit-bias-out-of-range", {"logit_bias": {"50256": 500}}, "logit_bias"),
    ("logprobs-string", {"logprobs": "yes"}, "logprobs"),
    ("top-logprobs-high", {"top_logprobs": 50}, "top_logprobs"),
    ("tool-choice-word", {"tool_choice": "always"}, "tool_choice"),
    ("parallel-tool-calls-int", {"parallel_tool_calls": 1}, "parallel_tool_calls"),
    ("user-int", {"user": 5}, "user"),
    ("metadata-list", {"metadata": ["a"]}, "metadata"),
    ("metadata-int-value", {"metadata": {"team": 5}}, "metadata"),
    ("metadata-17-pairs", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ("stream-options-unknown", {"stream_options": {"include": True}}, "stream_options"),
    ("max-completion-tokens-zero", {"max_completion_tokens": 0}, "max_completion_tokens"),
    ("max-completion-tokens-string", {"max_completion_tokens": "9"}, "max_completion_tokens"),
    ("reasoning-effort-word", {"reasoning_effort": "max"}, "reasoning_effort"),
    ("modalities-video", {"modalities": ["video"]}, "modalities"),
    ("prediction-string", {"prediction": "abc"}, "prediction"),
    ("service-tier-word", {"service_tier": "gold"}, "service_tier"),
    ("store-string", {"store": "no"}, "store"),
    ("audio-string", {"audio": "alloy"}, "audio"),
    ("web-search-options-list", {"web_search_options": ["low"]}, "web_search_options"),
]


@pytest.mark.parametrize(("args", "field"), [pytest.param(a, f, id=i) for i, a, f in BAD_PARAMS])
def test_a_bad_parameter_is_refused_naming_it(args: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_params(args)
    assert caught.value.field == field
    assert "e.g." in caught.value.message or "write" in caught.value.message


GOOD_PARAMS: list[dict[str, Any]] = [
    {"temperature": 0, "top_p": 1, "n": 3, "seed": -7, "stop": "\n"},
    {"temperature": 1.5, "presence_penalty": -2, "frequency_penalty": 2.0},
    {"stop": ["END", "\n\n"], "logit_bias": {"50256": -100}, "logprobs": True, "top_logprobs": 5},
    {"tool_choice": "auto", "parallel_tool_calls": False, "user": "u-1"},
    {"tool_choice": {"type": "function", "function": {"name": "f"}}},
    {"metadata": {"team": "support"}, "stream_options": {"include_usage": True}},
    {"max_completion_tokens": 9, "reasoning_effort": "low", "modalities": ["text"]},
    {"prediction": {"type": "content", "content": "x"}, "service_tier": "auto", "store": False},
    {"temperature": None, "n": None, "stop": None},  # None is "not set"
]


@pytest.mark.parametrize("args", GOOD_PARAMS, ids=",".join)
def test_good_parameters_pass(args: dict[str, Any]) -> None:
    check_params(args)


@pytest.mark.parametrize(
    "timeout",
    [math.nan, math.inf, -math.inf, 0, -1, "5", None, True, MAX_TIMEOUT_S + 1, 10**400],
    ids=["nan", "inf", "-inf", "zero", "negative", "string", "none", "bool", "too-long", "huge"],
)
def test_a_bad_timeout_is_an_invalid_request(timeout: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_timeout(timeout)
    assert caught.value.field == "timeout"


def test_a_good_timeout_is_seconds_as_float() -> None:
    assert check_timeout(30) == 30.0
    assert check_timeout(0.25) == 0.25
    assert check_timeout(MAX_TIMEOUT_S) == MAX_TIMEOUT_S


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("temprature", "temprature"),
        ("cust_4111111111111111", None),
        ("k 4111 1111 1111 1111", None),
        ("x" * 41, None),
        ("caf\u00e9", None),
        ("seed2024", None),
        ("gpt4o_v2", "gpt4o_v2"),
    ],
)
def test_only_short_identifiers_without_long_digit_runs_are_printed(
    name: str, shown: str | None
) -> None:
    assert shown_name(name) == shown


# ---------------------------------------------------------------- through the Router


@pytest.fixture
def served(mock_backend: MockBackend) -> tuple[MockServer, MockServer]:
    """A local and an API deployment's (mock) servers: nothing a refused call would have
    sent can hide."""
    return mock_backend.server(default=ok("fine")), mock_backend.server(default=ok("paid"))


def _router(local: MockServer, api: MockServer, **options: Any) -> Router:
    return Router(
        deployments=[
            {"name": "local", "model": "openai/q", "api_base": local.base_url,
             "context_window": 8192, "quality": 0.6},
            {"name": "api", "model": "openai/big", "api_base": api.base_url,
             "hosting": "api", "weights": "closed", "context_window": 8192, "quality": 0.9,
             "api_key_env": "ROUTER_TEST_PARAMS_KEY", "input_cost_per_mtok": 2.5,
             "output_cost_per_mtok": 10},
        ],
        objective="best",
        retry=RetryPolicy(attempts=1),
        backend=local.backend,
        **options,
    )  # fmt: skip


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("timeout-nan", {"timeout": math.nan}, "timeout"),
    ("timeout-inf", {"timeout": math.inf}, "timeout"),
    ("timeout-string", {"timeout": "5"}, "timeout"),
    ("temperature-hot", {"temperature": "hot"}, "temperature"),
    ("temperature-minus-5", {"temperature": -5}, "temperature"),
    ("n-zero", {"n": 0}, "n"),
    ("stop-5", {"stop": 5}, "stop"),
    ("cache-yes", {"cache": "yes"}, "cache"),
]


@pytest.mark.parametrize(("args", "field"), [pytest.param(a, f, id=i) for i, a, f in BAD_CALLS])
def test_a_bad_value_is_refused_and_benches_nobody(
    served: tuple[MockServer, MockServer],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    args: dict[str, Any],
    field: str,
) -> None:
    """`timeout=nan` was reported as HTTP 500 by every deployment, opened every breaker
    and failed the next normal requests of every tenant for ~30 s."""
    monkeypatch.setenv("ROUTER_TEST_PARAMS_KEY", "sk-test")
    local, api = served
    budget = {"tenant": "*", "period": "day", "usd": 1.0}
    r = _router(local, api, ledger=tmp_path / "l.sqlite", budgets=[budget])
    for _ in range(3):  # the breaker threshold is 3 failures by default
        with pytest.raises(InvalidRequest) as caught:
            r.complete(HI, **args)
        assert caught.value.field == field
    assert local.requests == []
    assert api.requests == []
    assert {s.state for s in r.health().values()} == {"closed"}
    assert r.complete(HI, tenant="other").content == "paid"  # nobody was benched


def test_async_entry_points_validate_too(
    served: tuple[MockServer, MockServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_TEST_PARAMS_KEY", "sk-test")
    local, api = served
    r = _router(local, api)

    async def each() -> None:
        with pytest.raises(InvalidRequest, match="timeout"):
            await r.acomplete(HI, timeout=math.nan)
        with pytest.raises(InvalidRequest, match="temperature"):
            await r.astream(HI, temperature="hot")  # type: ignore[arg-type]

    asyncio.run(each())
    with pytest.raises(InvalidRequest, match="timeout"):
        r.stream(HI, timeout=-1)
    assert local.requests == []
    assert api.requests == []


# ---------------------------------------------------------------- never echoed

_SECRETISH = st.sampled_from(
    [CARD, "4111111111111111", "DE89 3704 0044 0532 0130 00", "sk-" + "proj-" + "Ab3d" * 10]
)


@settings(max_examples=60, deadline=None)
@given(
    secret=_SECRETISH,
    where=st.sampled_from(
        [
            "metadata-key",
            "metadata-value",
            "response-format",
            "unknown-arg",
            "extra-key-nan",
            "stop-item",
            "tool-choice",
            "reasoning",
        ]
    ),
)
def test_error_text_never_holds_the_callers_values(secret: str, where: str) -> None:
    """`metadata['k 4111 1111 1111 1111']` and `response_format.type: '... 4111 ...'`
    put the card in exception text, which ends up in logs."""
    r = Router(
        deployments=[{"name": "local", "model": "openai/q",
                      "api_base": "http://127.0.0.1:9/v1", "context_window": 8192}]
    )  # fmt: skip
    cases: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
        "metadata-key": (HI, {"metadata": {f"k {secret}": 5}}),
        "metadata-value": (HI, {"metadata": {"k": [secret]}}),
        "response-format": (HI, {"response_format": {"type": f"x {secret}"}}),
        "unknown-arg": (HI, {secret.replace(" ", "_"): 1}),
        "extra-key-nan": ([{"role": "user", "content": "hi", secret: math.nan}], {}),
        "stop-item": (HI, {"stop": [secret, 5]}),
        "tool-choice": (HI, {"tool_choice": secret}),
        "reasoning": (HI, {"reasoning_effort": secret}),
    }
    messages, args = cases[where]
    with pytest.raises(RouterError) as caught:
        r.plan(messages, **args)
    text = str(caught.value)
    digits = "".join(ch for ch in secret if ch.isalnum())
    assert secret not in text
    assert digits not in "".join(ch for ch in text if ch.isalnum())
