"""OpenAI-style keyword arguments: validation into a Request and the litellm call they make."""

from __future__ import annotations

import pytest

from router.decision._arguments import OPENAI_PARAMS, RequestArgs, call_params, to_request
from router.errors import InvalidRequest

HI = [{"role": "user", "content": "hi"}]


def test_router_arguments_never_reach_the_provider() -> None:
    args: RequestArgs = {
        "tenant": "acme",
        "sensitivity": "internal",
        "tags": ["batch"],
        "quality_target": 0.5,
        "temperature": 0.0,
        "seed": 7,
        "max_tokens": 20,
    }
    call = call_params(to_request(HI, args))
    assert call == {
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.0,
        "seed": 7,
        "max_tokens": 20,
    }


def test_max_completion_tokens_is_the_output_budget_and_passes_through() -> None:
    args: RequestArgs = {"max_completion_tokens": 33}
    req = to_request(HI, args)
    assert req.max_tokens == 33
    call = call_params(req)
    assert call["max_completion_tokens"] == 33
    assert "max_tokens" not in call


@pytest.mark.parametrize(
    ("args", "field", "bound"),
    [
        ({"max_tokens": 10, "max_completion_tokens": 100_000}, "max_completion_tokens", 100_000),
        ({"max_tokens": 500, "max_completion_tokens": 20}, "max_completion_tokens", 500),
        ({"max_tokens": 64}, "max_tokens", 64),
    ],
    ids=["completion-larger", "max-tokens-larger", "max-tokens-only"],
)
def test_one_output_bound_the_larger_of_both_names(
    args: RequestArgs, field: str, bound: int
) -> None:
    """Forwarding max_completion_tokens=100000 beside a held max_tokens=10 let a provider
    bill 10,000 times what the budget held: one bound is sent, the one that is held."""
    req = to_request(HI, args)
    assert req.max_tokens == bound
    call = call_params(req)
    assert call[field] == bound
    assert {"max_tokens", "max_completion_tokens"} & set(call) == {field}


def test_stream_flag_is_never_passed_on() -> None:
    args: RequestArgs = {"stream": False}
    assert "stream" not in call_params(to_request(HI, args))


def test_tools_and_response_format_are_passed_as_plain_data() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    args: RequestArgs = {"tools": [tool], "response_format": {"type": "json_object"}}
    call = call_params(to_request(HI, args))
    assert call["tools"] == [tool]
    assert call["response_format"] == {"type": "json_object"}


def test_unknown_argument_suggests_the_closest_name() -> None:
    with pytest.raises(InvalidRequest, match="did you mean 'temperature'") as caught:
        to_request(HI, {"temprature": 0})
    assert caught.value.field == "temprature"
    with pytest.raises(InvalidRequest, match="did you mean 'tenant'"):
        to_request(HI, {"tennant": "acme"})


def test_the_typed_names_are_the_accepted_names() -> None:
    assert {"temperature", "top_p", "seed", "tool_choice", "stop"} <= OPENAI_PARAMS
    assert not {"tenant", "sensitivity", "tags", "quality_target", "tools"} & OPENAI_PARAMS
