"""The OpenAI chat parameters the router passes through, checked before anything is planned.

A bad value is the caller's mistake: it must be an `InvalidRequest` naming the parameter,
raised before a plan, a budget hold or a provider call, so that it never counts as a
deployment failure (a `timeout=nan` once opened every breaker of every tenant). Messages
name the parameter and the position inside it, never the value or a caller's key: a card
number in an exception ends up in logs. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from router.errors import InvalidRequest

__all__ = ["MAX_CHOICES", "MAX_TIMEOUT_S", "check_params", "check_timeout", "shown_name"]

MAX_TIMEOUT_S: Final = 3600.0
"""The longest `timeout` a request may ask for (the budget hold lives this long too)."""
MAX_CHOICES: Final = 128
"""OpenAI's limit on `n`."""
_MAX_SEED: Final = 2**63

_Check = Callable[[object], str | None]


def shown_name(name: str) -> str | None:
    """`name` when it is safe to print in an error (a short identifier without a run of
    four digits: `temprature`, not `cust_4111111111111111`), else None."""
    if len(name) > 40 or not name.isascii() or not name.isidentifier():
        return None
    run = 0
    for ch in name:
        run = run + 1 if ch.isdigit() else 0
        if run >= 4:
            return None
    return name


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: object) -> bool:
    """A real number that is not NaN or infinite (a huge int never becomes a float here)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_number(value)


def _number(low: float, high: float, example: str) -> _Check:
    def check(value: object) -> str | None:
        if not _finite(value):
            return f"give a number from {low:g} to {high:g}, e.g. {example}"
        if not low <= value <= high:  # type: ignore[operator]
            return f"must be from {low:g} to {high:g}, e.g. {example}"
        return None

    return check


def _integer(low: int, high: int, example: str) -> _Check:
    def check(value: object) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"give a whole number from {low:,} to {high:,}, e.g. {example}"
        if not low <= value <= high:
            return f"must be from {low:,} to {high:,}, e.g. {example}"
        return None

    return check


def _of_type(kind: type | tuple[type, ...], what: str, example: str) -> _Check:
    def check(value: object) -> str | None:
        return None if isinstance(value, kind) else f"give {what}, e.g. {example}"

    return check


def _choice(*options: str) -> _Check:
    def check(value: object) -> str | None:
        if isinstance(value, str) and value in options:
            return None
        return f"write one of {', '.join(repr(o) for o in options)}"

    return check


def _stop(value: object) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, list | tuple) and 1 <= len(value) <= 4:
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                return f"item {i} is not a non-empty string; e.g. stop=['\\n\\n', 'END']"
        return None
    return "give a string or a list of 1-4 strings, e.g. stop=['\\n\\n']"


def _logit_bias(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return "give a dict of token id to bias, e.g. logit_bias={'50256': -100}"
    if len(value) > 1024:
        return "holds more than 1,024 entries; write at most 1,024"
    for i, (key, bias) in enumerate(value.items()):
        if not isinstance(key, str) or not key.isdigit() or not key.isascii():
            return f"key {i} is not a token id; keys are token ids as strings, e.g. '50256'"
        if not _finite(bias) or not -100 <= bias <= 100:
            return f"value {i} must be a number from -100 to 100, e.g. {{'50256': -100}}"
    return None


def _metadata(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return "give a dict of strings, e.g. metadata={'team': 'support'}"
    if len(value) > 16:
        return "holds more than 16 pairs (OpenAI's limit); write at most 16"
    for i, (key, item) in enumerate(value.items()):
        if not isinstance(key, str) or not 1 <= len(key) <= 64:
            return f"key {i} must be a string of 1-64 characters, e.g. 'team'"
        if not isinstance(item, str) or len(item) > 512:
            return f"value {i} must be a string of at most 512 characters, e.g. 'support'"
    return None


def _tool_choice(value: object) -> str | None:
    if isinstance(value, str):
        return _choice("none", "auto", "required")(value)
    if isinstance(value, Mapping) and isinstance(value.get("type"), str):
        return None
    return (
        "write 'none', 'auto', 'required' or "
        "{'type': 'function', 'function': {'name': 'get_weather'}}"
    )


def _modalities(value: object) -> str | None:
    if isinstance(value, list | tuple) and value and all(v in ("text", "audio") for v in value):
        return None
    return "give a list of 'text' and 'audio', e.g. modalities=['text']"


def _stream_options(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return "give a dict, e.g. stream_options={'include_usage': True}"
    for i, (key, item) in enumerate(value.items()):
        if key not in ("include_usage", "include_obfuscation"):
            return f"key {i} is unknown; write 'include_usage'"
        if not isinstance(item, bool):
            return f"value {i} must be True or False, e.g. {{'include_usage': True}}"
    return None


def _prediction(value: object) -> str | None:
    if isinstance(value, Mapping) and value.get("type") == "content" and "content" in value:
        return None
    return "write {'type': 'content', 'content': '...'}"


_CHECKS: Final[Mapping[str, _Check]] = {
    "temperature": _number(0, 2, "temperature=0.7"),
    "top_p": _number(0, 1, "top_p=0.9"),
    "n": _integer(1, MAX_CHOICES, "n=1"),
    "stop": _stop,
    "seed": _integer(-_MAX_SEED, _MAX_SEED - 1, "seed=42"),
    "presence_penalty": _number(-2, 2, "presence_penalty=0.5"),
    "frequency_penalty": _number(-2, 2, "frequency_penalty=0.5"),
    "logit_bias": _logit_bias,
    "logprobs": _of_type(bool, "True or False", "logprobs=True"),
    "top_logprobs": _integer(0, 20, "top_logprobs=5"),
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _of_type(bool, "True or False", "parallel_tool_calls=True"),
    "user": _of_type(str, "a string", "user='user-1234'"),
    "metadata": _metadata,
    "stream": _of_type(bool, "True or False", "stream=True"),
    "stream_options": _stream_options,
    "max_completion_tokens": _integer(1, 10_000_000, "max_completion_tokens=512"),
    "max_tokens": _integer(1, 10_000_000, "max_tokens=512"),
    "reasoning_effort": _choice("none", "minimal", "low", "medium", "high"),
    "modalities": _modalities,
    "prediction": _prediction,
    "service_tier": _choice("auto", "default", "flex", "priority", "scale"),
    "store": _of_type(bool, "True or False", "store=True"),
    "audio": _of_type(Mapping, "a dict", "audio={'voice': 'alloy', 'format': 'wav'}"),
    "web_search_options": _of_type(
        Mapping, "a dict", "web_search_options={'search_context_size': 'low'}"
    ),
}


def check_params(args: Mapping[str, Any]) -> None:
    """Raise InvalidRequest for the first OpenAI parameter of a wrong type or range.

    None means "not set" for every parameter, as in OpenAI's client. The checks are
    OpenAI's documented types and ranges; a provider that accepts less still answers 400.
    """
    for name, value in args.items():
        check = _CHECKS.get(name)
        if check is not None and value is not None and (problem := check(value)) is not None:
            raise InvalidRequest(name, problem)


def check_timeout(timeout: object) -> float:
    """`timeout` as float seconds: finite, > 0 and at most MAX_TIMEOUT_S; else InvalidRequest."""
    if not _is_number(timeout):
        return _bad_timeout("give seconds as a number, e.g. timeout=30")
    if not _finite(timeout) or timeout <= 0:  # type: ignore[operator]
        return _bad_timeout("must be a finite number of seconds above 0, e.g. timeout=30")
    if timeout > MAX_TIMEOUT_S:  # type: ignore[operator]
        return _bad_timeout(f"must be at most {MAX_TIMEOUT_S:,.0f} seconds, e.g. timeout=120")
    return float(timeout)  # type: ignore[arg-type]


def _bad_timeout(message: str) -> float:
    raise InvalidRequest("timeout", message)
