"""OpenAI-style call arguments: their types, their validation into a Request, and the
litellm call parameters they become. Pure: no I/O.

Every Router entry point takes `**args: Unpack[RequestArgs]`, so a type checker and an
editor know each keyword; at run time an unknown keyword is an `InvalidRequest` that
suggests the closest known name.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from pydantic import ValidationError

from router.errors import InvalidRequest
from router.models import Message, Request, Sensitivity

__all__ = ["OPENAI_PARAMS", "OpenAIParams", "RequestArgs", "call_params", "to_request"]


class OpenAIParams(TypedDict, total=False):
    """OpenAI chat parameters: passed through to the provider, not used for planning."""

    temperature: float | None
    top_p: float | None
    n: int | None
    stop: str | list[str] | None
    seed: int | None
    presence_penalty: float | None
    frequency_penalty: float | None
    logit_bias: dict[str, float] | None
    logprobs: bool | None
    top_logprobs: int | None
    tool_choice: str | dict[str, Any] | None
    parallel_tool_calls: bool | None
    user: str | None
    metadata: dict[str, str] | None
    stream: bool | None
    stream_options: dict[str, Any] | None
    max_completion_tokens: int | None
    reasoning_effort: str | None
    modalities: list[str] | None
    prediction: dict[str, Any] | None
    service_tier: str | None
    store: bool | None
    audio: dict[str, Any] | None
    web_search_options: dict[str, Any] | None


class RequestArgs(OpenAIParams, total=False):
    """Everything a request takes besides `messages`.

    `tools`, `response_format` and `max_tokens` are OpenAI's and also shape the plan
    (capabilities, output budget). `tenant`, `sensitivity` (declared; detectors can
    only raise it), `tags` and `quality_target` (overrides the configured one for this
    request) are the router's.
    """

    tools: Sequence[Mapping[str, Any]] | None
    response_format: Mapping[str, Any] | None
    max_tokens: int | None
    tenant: str
    sensitivity: Sensitivity
    tags: Sequence[str]
    quality_target: float | None


OPENAI_PARAMS = frozenset(OpenAIParams.__annotations__)
"""OpenAI chat parameters accepted (and passed through, not used for planning)."""

_ROUTER_ARGS = frozenset(RequestArgs.__annotations__) - OPENAI_PARAMS
_KNOWN = OPENAI_PARAMS | _ROUTER_ARGS


def to_request(messages: Sequence[Mapping[str, Any] | Message], args: Mapping[str, Any]) -> Request:
    """Validate OpenAI-style arguments into a Request, or raise InvalidRequest naming the
    argument and what to write instead."""
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        close = difflib.get_close_matches(unknown[0], _KNOWN, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "not an OpenAI chat parameter"
        raise InvalidRequest(unknown[0], f"unknown parameter; {hint}")
    max_tokens = args.get("max_tokens")
    if max_tokens is None:
        max_tokens = args.get("max_completion_tokens")  # OpenAI's newer name, same budget
    tags = args.get("tags", ())
    if isinstance(tags, str):
        raise InvalidRequest("tags", "give a list of strings, e.g. tags=['support']")
    try:
        return Request.model_validate(
            {
                "messages": messages,
                "tools": args.get("tools"),
                "response_format": args.get("response_format"),
                "max_tokens": max_tokens,
                "tenant": args.get("tenant", "default"),
                "sensitivity": args.get("sensitivity", "public"),
                "tags": tags,
                "quality_target": args.get("quality_target"),
            }
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
            for i, p in enumerate(err["loc"])
            if not (isinstance(p, str) and p.startswith(("function-", "list[", "str")))
        )
        raise InvalidRequest(field or "request", str(err["msg"])) from None


def call_params(request: Request, args: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters litellm gets: the validated messages, tools, response format and
    output budget, and the OpenAI parameters as given. Never `stream` (the backend sets
    it) and never the router's own arguments."""
    call: dict[str, Any] = {
        "messages": [m.model_dump(exclude_none=True) for m in request.messages],
        **{k: v for k, v in args.items() if k in OPENAI_PARAMS and k != "stream"},
    }
    if request.tools is not None:
        call["tools"] = [dict(t) for t in args.get("tools") or ()]
    if request.response_format is not None:
        call["response_format"] = dict(args.get("response_format") or {})
    if request.max_tokens is not None:
        call["max_tokens"] = request.max_tokens
    return call
