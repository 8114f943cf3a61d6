"""OpenAI-style call arguments: their types, their validation into a Request, and the
litellm call parameters they become. Pure: no I/O.

Every Router entry point takes `**args: Unpack[RequestArgs]`, so a type checker and an
editor know each keyword; at run time an unknown keyword is an `InvalidRequest` that
suggests the closest known name.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from pydantic import BaseModel, ValidationError

from router.errors import InvalidRequest
from router.models import Message, Request, Sensitivity

__all__ = [
    "MAX_JSON_DEPTH",
    "OPENAI_PARAMS",
    "OpenAIParams",
    "RequestArgs",
    "call_params",
    "check_json",
    "forwarded_text",
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
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise InvalidRequest("messages", _MESSAGES_HINT)
    check_json(messages, "messages")
    for name, value in args.items():
        check_json(value, name)
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
                "forwarded_text": forwarded_text(args),
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


def _child(where: str, key: str) -> str:
    """`where.key`, or `where['k\\x00ey']` for a key that is not a plain name (escaped and
    cut short, so an error message stays one printable line)."""
    if key.isascii() and key.isidentifier():
        return f"{where}.{key}"
    shown = key if len(key) <= 40 else key[:40] + "..."
    return f"{where}[{shown!r}]"


def forwarded_text(args: Mapping[str, Any]) -> str:
    """The strings of the OpenAI parameters passed through to the provider (`user`,
    `metadata`, `stop`, `prediction`, `web_search_options`, ...), one per line: the
    detectors scan them like the messages, since they leave the machine with them.
    (Call after `check_json`: the values are plain JSON, nested at most MAX_JSON_DEPTH.)"""
    out: list[str] = []
    stack: list[object] = [args[k] for k in sorted(args) if k in OPENAI_PARAMS]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return "\n".join(out)


def check_json(value: object, field: str) -> None:
    """Raise InvalidRequest unless `value` is plain JSON a provider can take: dicts with
    string keys, lists, strings that are valid Unicode (no lone surrogates), finite
    numbers, booleans and None, nested at most MAX_JSON_DEPTH levels. Iterative, so a
    structure nested 100,000 levels deep (or one that contains itself) is refused
    instead of exhausting the stack."""
    stack: list[tuple[object, int, str]] = [(value, 0, field)]
    while stack:
        item, depth, where = stack.pop()
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise InvalidRequest(
                        where,
                        f"holds a lone surrogate (U+{ord(item[exc.start]):04X}) at character "
                        f"{exc.start}, which is not valid Unicode; decode bytes with "
                        "errors='replace' (or remove the surrogate) before sending",
                    ) from None
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidRequest(where, f"{item} is not a JSON number; give a finite number")
            continue
        if isinstance(item, bytes | bytearray | memoryview):
            raise InvalidRequest(
                where,
                "is bytes, not text; decode it first, e.g. data.decode('utf-8', errors='replace')",
            )
        if depth >= MAX_JSON_DEPTH:
            shown = where if len(where) <= 80 else where[:60] + "..."
            raise InvalidRequest(
                shown, f"nested more than {MAX_JSON_DEPTH} levels deep; flatten it"
            )
        if isinstance(item, BaseModel):  # a Message given as a value: its fields and extras
            item = dict(item)
        if isinstance(item, Mapping):
            for k, v in item.items():
                if not isinstance(k, str):
                    raise InvalidRequest(
                        where, f"has a key of type {type(k).__name__}; JSON keys are strings"
                    )
                stack.append((k, depth + 1, f"{where} (a key)"))
                stack.append((v, depth + 1, _child(where, k)))
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(item))
        else:
            raise InvalidRequest(
                where,
                f"is a {type(item).__name__}; give JSON values (str, number, bool, None, "
                "list or dict)",
            )


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
