"""OpenAI's chat-completions wire format: a request body -> `Router` arguments, and the
router's answers (litellm-shaped dicts) -> what OpenAI sends. Pure: no I/O.

What the body may hold is OpenAI's: `model`, `messages`, `stream`, `stream_options` and
the chat parameters the router passes through (`router.decision.OPENAI_PARAMS`, plus
`tools`, `response_format`, `max_tokens`), each validated by the router itself. The
router's own arguments are refused in a body: the tenant is the API key's (a request can
never choose another), and how a request is planned is the model name's
(`[[server.models]]`). A declared sensitivity may come in the `x-router-sensitivity`
header: detection can only raise it, so a client can ask for more care, never less.

Answers keep OpenAI's fields and drop litellm's own (`provider_specific_fields`,
`citations`, `None` for fields OpenAI leaves out). A stream's usage is sent once, as
OpenAI does with `stream_options.include_usage`: a last chunk with `choices: []` and the
usage, every chunk before it carrying `"usage": null`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from router.server._errors import Answer, plain

__all__ = [
    "ROUTER_ONLY",
    "BodyError",
    "Parsed",
    "chunk",
    "completion",
    "parse_body",
    "usage_chunk",
    "usage_of",
]

ROUTER_ONLY = frozenset(
    {"tenant", "sensitivity", "tags", "quality_target", "timeout", "mode", "cache"}
)
"""`Router` arguments a body may not carry (module docstring)."""

_DROP = frozenset({"provider_specific_fields", "citations", "moderation", "obfuscation"})
"""litellm's fields that OpenAI does not send."""


class BodyError(Exception):
    """The body is not a chat request: `answer` says why (400)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body["error"]["message"])
        self.answer = answer


class Parsed(NamedTuple):
    """A chat request: the model name, the messages, the Router keywords, and the stream."""

    model: str
    messages: Any
    args: dict[str, Any]
    stream: bool
    include_usage: bool


def _bad(message: str, param: str | None, code: str = "invalid_value") -> BodyError:
    return BodyError(plain(400, message, code, param))


def parse_body(raw: bytes) -> Parsed:
    """The request in `raw`, or BodyError. The messages and parameters are checked by the
    Router (`InvalidRequest`); this checks only what the server itself reads."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise _bad(
            "We could not parse the JSON body of your request; send a JSON object "
            "(Content-Type: application/json)",
            None,
            "invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", None, "invalid_json")
    model = body.pop("model", None)
    if not isinstance(model, str) or not model:
        raise _bad(
            'you must provide a model parameter, e.g. "model": "router" '
            "(GET /v1/models lists the names)",
            "model",
            "missing_required_parameter",
        )
    if "messages" not in body:
        raise _bad(
            'you must provide messages, e.g. [{"role": "user", "content": "Hello"}]',
            "messages",
            "missing_required_parameter",
        )
    messages = body.pop("messages")
    stream = body.pop("stream", None)
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream must be true or false", "stream")
    options = body.pop("stream_options", None)
    include_usage = False
    if options is not None:
        if not stream:
            raise _bad(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
            )
        if not isinstance(options, dict) or any(
            k not in ("include_usage", "include_obfuscation") or not isinstance(v, bool)
            for k, v in options.items()
        ):
            raise _bad(
                'stream_options must be an object like {"include_usage": true}',
                "stream_options",
            )
        include_usage = options.get("include_usage") is True
    for name in sorted(ROUTER_ONLY.intersection(body)):
        raise _bad(
            f"unknown parameter {name!r} in a request to the server: the tenant comes from "
            "the API key, planning from the model name (GET /v1/models), a declared "
            "sensitivity from the x-router-sensitivity header",
            name,
            "unknown_parameter",
        )
    return Parsed(model, messages, body, bool(stream), include_usage)


# -- answers ----------------------------------------------------------------------------


def _clean(value: Mapping[str, Any], keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`value` without litellm's own fields and without None, except the keys in `keep`."""
    return {k: v for k, v in value.items() if k not in _DROP and (v is not None or k in keep)}


def usage_of(usage: Mapping[str, Any] | None, fallback: tuple[int, int]) -> dict[str, Any]:
    """OpenAI's usage object: the provider's (its details kept when it sent them), else the
    router's figures (`fallback`: prompt and completion tokens, as recorded)."""
    if usage and isinstance(usage.get("prompt_tokens"), int):
        out = {
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": int(usage.get("completion_tokens") or 0),
        }
        out["total_tokens"] = int(usage.get("total_tokens") or sum(out.values()))
        for detail in ("prompt_tokens_details", "completion_tokens_details"):
            if isinstance(usage.get(detail), Mapping):
                out[detail] = _clean(usage[detail])
        return out
    prompt, completion_tokens = fallback
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def _head(value: Mapping[str, Any], kind: str, model: str) -> dict[str, Any]:
    created = value.get("created")
    out: dict[str, Any] = {
        "id": str(value.get("id") or "chatcmpl-router"),
        "object": kind,
        "created": int(created) if isinstance(created, int | float) else int(time.time()),
        "model": str(value.get("model") or model),
    }
    if value.get("system_fingerprint") is not None:
        out["system_fingerprint"] = value["system_fingerprint"]
    return out


def completion(
    response: Mapping[str, Any], model: str, fallback: tuple[int, int]
) -> dict[str, Any]:
    """A chat completion as OpenAI sends it (`model`: the name used when the answer has
    none; `fallback`: the recorded token counts when it has no usage)."""
    choices = []
    for i, choice in enumerate(response.get("choices") or ()):
        message = _clean(choice.get("message") or {}, keep=frozenset({"content"}))
        message.setdefault("role", "assistant")
        choices.append(
            {
                "index": choice.get("index", i),
                "message": message,
                "logprobs": choice.get("logprobs"),
                "finish_reason": choice.get("finish_reason") or "stop",
            }
        )
    return {
        **_head(response, "chat.completion", model),
        "choices": choices,
        "usage": usage_of(response.get("usage"), fallback),
    }


def chunk(value: Mapping[str, Any], model: str, include_usage: bool) -> dict[str, Any] | None:
    """A stream chunk as OpenAI sends it, or None for a chunk without choices (the
    provider's usage: sent once, at the end, by `usage_chunk`)."""
    choices = value.get("choices")
    if not choices:
        return None
    out = _head(value, "chat.completion.chunk", model)
    out["choices"] = [
        {
            "index": c.get("index", i),
            "delta": _clean(c.get("delta") or {}),
            "logprobs": c.get("logprobs"),
            "finish_reason": c.get("finish_reason"),
        }
        for i, c in enumerate(choices)
    ]
    if include_usage:
        out["usage"] = None
    return out


def usage_chunk(last: Mapping[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    """The chunk `stream_options.include_usage` asks for: `choices: []` and the usage, with
    the id, created and model of the stream's last chunk."""
    return {**{k: last[k] for k in ("id", "object", "created", "model") if k in last},
            "choices": [], "usage": usage}  # fmt: skip
