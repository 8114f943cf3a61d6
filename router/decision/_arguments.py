"""OpenAI-style call arguments: their types, their validation into a Request, and the
litellm call parameters they become. Pure: no I/O.

Every Router entry point takes `**args: Unpack[RequestArgs]`, so a type checker and an
editor know each keyword; at run time an unknown keyword is an `InvalidRequest` that
suggests the closest known name.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ValidationError

from router._models import Message, Request, Sensitivity
from router.decision._params import check_params, shown_name
from router.errors import InvalidRequest

__all__ = [
    "MAX_JSON_DEPTH",
    "OPENAI_PARAMS",
    "SERVING_ARGS",
    "CompleteArgs",
    "OpenAIParams",
    "RequestArgs",
    "StreamArgs",
    "call_params",
    "check_json",
    "to_request",
]

MAX_JSON_DEPTH = 64
"""How deeply lists and dicts may nest in a request (a 10-level JSON schema needs ~25)."""


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


class StreamArgs(RequestArgs, total=False):
    """`Router.stream` and `astream`: the request's arguments, and how to serve it.

    `timeout` (seconds, default 60) bounds the whole chain of calls; `mode` ("route" or
    "cascade") overrides the Router's for this request."""

    timeout: float
    mode: Literal["route", "cascade"]


class CompleteArgs(StreamArgs, total=False):
    """`Router.complete` and `acomplete`: `StreamArgs`, and `cache` (True or False
    overrides the rule that only deterministic requests are cached)."""

    cache: bool | None


SERVING_ARGS = frozenset(CompleteArgs.__annotations__) - frozenset(RequestArgs.__annotations__)
"""How to serve a request (not part of it): timeout, mode, cache."""

OPENAI_PARAMS = frozenset(OpenAIParams.__annotations__)
"""OpenAI chat parameters accepted (and passed through, not used for planning)."""

_ROUTER_ARGS = frozenset(RequestArgs.__annotations__) - OPENAI_PARAMS
_KNOWN = OPENAI_PARAMS | _ROUTER_ARGS
_PASSED = OPENAI_PARAMS - {"stream", "max_tokens", "max_completion_tokens"}
"""Passed through as given (`stream` is the backend's; the output bound is the router's)."""


def to_request(messages: Sequence[Mapping[str, Any] | Message], args: Mapping[str, Any]) -> Request:
    """Validate OpenAI-style arguments into a Request, or raise InvalidRequest naming the
    argument and what to write instead (never echoing a value: see `router.decision._params`)."""
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        name = shown_name(unknown[0])
        close = difflib.get_close_matches(name, _KNOWN, n=1) if name else []
        hint = f"did you mean {close[0]!r}?" if close else "not an OpenAI chat parameter"
        raise InvalidRequest(name or "an argument", f"unknown parameter; {hint}")
    tags = args.get("tags", ())
    if isinstance(tags, str):
        raise InvalidRequest("tags", "give a list of strings, e.g. tags=['support']")
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise InvalidRequest("messages", _MESSAGES_HINT)
    check_json(messages, "messages")
    for name, value in args.items():
        check_json(value, name)
    check_params(args)
    # One output bound: the larger of the two names, sent under the caller's newer one.
    old, new = args.get("max_tokens"), args.get("max_completion_tokens")
    bound = new if old is None else old if new is None else max(old, new)
    try:
        return Request.model_validate(
            {
                "messages": messages,
                "tools": args.get("tools"),
                "response_format": args.get("response_format"),
                "max_tokens": bound,
                "output_field": "max_tokens" if new is None else "max_completion_tokens",
                "choices": args.get("n") or 1,
                "tenant": args.get("tenant", "default"),
                "sensitivity": args.get("sensitivity", "public"),
                "tags": tags,
                "quality_target": args.get("quality_target"),
                "params": {k: v for k, v in args.items() if k in _PASSED and v is not None},
            }
        )
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        field = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
            for i, p in enumerate(err["loc"])
            if not (isinstance(p, str) and p.startswith(("function-", "list[", "str")))
        )
        problem = InvalidRequest(field or "request", _hint(err, field))
    # Raised outside the `except`: pydantic's error (whose input is the messages) must
    # not ride along as the hidden __context__ (invariant 5).
    raise problem


_MESSAGES_HINT = "give a list of messages, e.g. [{'role': 'user', 'content': 'Hello'}]"
_PART_HINT = "a string, or a list of parts like {'type': 'text', 'text': '...'}"


def _hint(err: Mapping[str, Any], field: str) -> str:
    """Pydantic's message, plus what to write for the mistakes people make."""
    msg = str(err["msg"]).removeprefix("Value error, ")
    last = field.rsplit(".", 1)[-1]
    if field == "max_tokens":
        return f"{msg}; give a whole number of tokens, e.g. max_tokens=512"
    if field == "messages" and err["type"] in ("tuple_type", "too_short"):
        return f"{msg}; {_MESSAGES_HINT}"
    if field.startswith("messages[") and "." not in field:
        return f"{msg}; each message is a dict like {{'role': 'user', 'content': '...'}}"
    if last == "role" and err["type"] == "missing":
        return "is required; write e.g. {'role': 'user', 'content': '...'}"
    if last == "content" and err["type"] != "value_error":
        return f"{msg}; content is {_PART_HINT}"
    return msg


_Path = tuple[Any, Any]
"""Where a value sits, built cheaply and rendered only for an error: (parent path or None,
step), a step being a name, a list index, or a dict key as (key, position, is-the-key)."""


def _where(path: _Path) -> str:
    """`messages[0].content[1].text`; a key that is not safe to print (see
    `router.decision._params.shown_name`) shows as its position, `metadata[key 3]`: an error never
    echoes a caller's key, which may hold what the detectors look for."""
    steps: list[str] = []
    node: _Path | None = path
    while node is not None:
        parent, step = node
        if isinstance(step, str):
            steps.append(step)
        elif isinstance(step, int):
            steps.append(f"[{step}]")
        else:
            key, position, itself = step
            name = None if itself else shown_name(key)
            steps.append(f".{name}" if name is not None else f"[key {position}]")
        node = parent
    return "".join(reversed(steps))


def check_json(value: object, field: str) -> None:
    """Raise InvalidRequest unless `value` is plain JSON a provider can take: dicts with
    string keys, lists, strings that are valid Unicode (no lone surrogates), finite
    numbers, booleans and None, nested at most MAX_JSON_DEPTH levels. Iterative, so a
    structure nested 100,000 levels deep (or one that contains itself) is refused
    instead of exhausting the stack."""
    stack: list[tuple[object, int, _Path]] = [(value, 0, (None, field))]
    while stack:
        item, depth, path = stack.pop()
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise InvalidRequest(
                        _where(path),
                        f"holds a lone surrogate (U+{ord(item[exc.start]):04X}) at character "
                        f"{exc.start}, which is not valid Unicode; decode bytes with "
                        "errors='replace' (or remove the surrogate) before sending",
                    ) from None
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidRequest(_where(path), "is NaN or infinite; give a finite number")
            continue
        if isinstance(item, bytes | bytearray | memoryview):
            raise InvalidRequest(
                _where(path),
                "is bytes, not text; decode it first, e.g. data.decode('utf-8', errors='replace')",
            )
        if depth >= MAX_JSON_DEPTH:
            where = _where(path)
            shown = where if len(where) <= 80 else where[:60] + "..."
            raise InvalidRequest(
                shown, f"nested more than {MAX_JSON_DEPTH} levels deep; flatten it"
            )
        if isinstance(item, BaseModel):  # a Message given as a value: its fields and extras
            item = dict(item)
        if isinstance(item, Mapping):
            for i, (k, v) in enumerate(item.items()):
                if not isinstance(k, str):
                    raise InvalidRequest(
                        _where(path),
                        f"has a key of type {type(k).__name__}; JSON keys are strings",
                    )
                stack.append((k, depth + 1, (path, (k, i, True))))
                stack.append((v, depth + 1, (path, (k, i, False))))
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1, (path, i)) for i, v in enumerate(item))
        else:
            raise InvalidRequest(
                _where(path),
                f"is a {type(item).__name__}; give JSON values (str, number, bool, None, "
                "list or dict)",
            )


def call_params(request: Request) -> dict[str, Any]:
    """The parameters litellm gets, built from the validated Request alone, so that what
    is sent is what was scanned: the messages, tools, response format, the OpenAI
    parameters as given, and the output bound under one name. Never `stream` (the
    backend sets it) and never the router's own arguments. The parameters are copies:
    litellm writes into some of them (`metadata` gets its timings, the provider's
    response headers and api_base), which must not reach the caller's objects."""
    call: dict[str, Any] = {
        "messages": [m.model_dump(exclude_none=True) for m in request.messages],
        **copy.deepcopy(request.params),
    }
    if request.tools is not None:
        call["tools"] = [dict(t) for t in request.tools]
    if request.response_format is not None:
        call["response_format"] = dict(request.response_format)
    if request.max_tokens is not None:
        call[request.output_field] = request.max_tokens
    return call
