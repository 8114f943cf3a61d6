"""A request becomes Features: token counts, capabilities needed, sensitivity.

Token counting is two-tier. The UTF-8 byte length of the prompt is a hard upper
bound on its token count (every BPE token covers at least one byte), so when the
bound plus the output budget fits every context window, no tokenizer runs. Only
when a window is close do we count exactly with tiktoken (cl100k, offline, from
the files litellm ships), adding a 10% margin for models with other tokenizers.

Sensitivity is the higher of what the caller declares and what the detectors
find: detection can only raise it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from router.catalog import LONG_CONTEXT_TOKENS
from router.detectors import detect
from router.errors import InvalidRequest
from router.models import (
    CAPABILITIES,
    Capability,
    Detection,
    DetectorKind,
    Features,
    Request,
    Sensitivity,
    sensitivity_rank,
)

__all__ = [
    "DEFAULT_DETECTOR_LEVELS",
    "IMAGE_TOKENS",
    "TOKENIZER_MARGIN",
    "count_tokens",
    "estimate_tokens",
    "extract",
    "prompt_tokens_max",
]

DEFAULT_DETECTOR_LEVELS: Mapping[DetectorKind, Sensitivity] = {
    "email": "internal",
    "phone": "internal",
    "payment_card": "confidential",
    "iban": "confidential",
    "national_id": "confidential",
    "api_key": "restricted",
    "private_key": "restricted",
}
"""The sensitivity each finding raises a request to. Override per kind in the config."""

IMAGE_TOKENS = 765
"""Tokens counted per image part (OpenAI's cost of a 512x512 high-detail tile set)."""

TOKENIZER_MARGIN = 1.10
"""Other models' tokenizers may need up to ~10% more tokens than cl100k."""

_PER_MESSAGE = 4
_IMAGE_TYPES = {"image_url", "input_image", "image"}
_BINARY_TYPES = {"input_audio", "audio", "file", "input_file"}
"""Parts whose other fields hold encoded media: not text a detector could read."""
_JSON_FORMATS: dict[str, Capability | None] = {
    "text": None,
    "json_object": "json",
    "json_schema": "json_schema",
}


class _Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


@functools.lru_cache(maxsize=1)
def _encoding() -> _Encoder:
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        spec = importlib.util.find_spec("litellm")
        if spec is not None and spec.submodule_search_locations:
            pkg = next(iter(spec.submodule_search_locations))
            os.environ["TIKTOKEN_CACHE_DIR"] = os.path.join(pkg, "litellm_core_utils", "tokenizers")
    import tiktoken  # noqa: PLC0415  (lazy: loading an encoding costs ~0.15 s)

    enc: _Encoder = tiktoken.get_encoding("cl100k_base")
    return enc


_CHUNK = 1 << 16


def count_tokens(text: str, stop_above: int | None = None) -> int:
    """Exact cl100k token count of `text`, offline.

    With `stop_above`, a text over 1 MB is counted in 64 KB pieces cut at whitespace,
    and counting stops once the count passes `stop_above`: the caller only needs to
    know that it does not fit (a 10 MB prompt would take seconds to count in full).
    """
    enc = _encoding()
    if stop_above is None or len(text) <= 16 * _CHUNK:
        return len(enc.encode_ordinary(text))
    total, start = 0, 0
    while start < len(text):
        end = min(start + _CHUNK, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + _CHUNK // 2, end)
            end = cut if cut > start else end
        total += len(enc.encode_ordinary(text[start:end]))
        if total > stop_above:
            return total
        start = end
    return total


def _blob(request: Request) -> tuple[str, int, bool]:
    """All text a model would read, joined; the number of images; whether tools are used."""
    parts: list[str] = []
    images = 0
    uses_tools = bool(request.tools)
    for msg in request.messages:
        parts.append(msg.role)
        if msg.name is not None:  # sent to the provider too: the detectors must see it
            parts.append(msg.name)
        content = msg.content
        if isinstance(content, str):
            parts.append(content)
        elif content is not None:
            for part in content:
                kind = part["type"]
                if kind in _IMAGE_TYPES:
                    images += 1
                    continue
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                rest = {k: v for k, v in part.items() if k not in ("type", "text")}
                if rest and kind not in _BINARY_TYPES:
                    parts.append(_dumps(rest))
        if msg.model_extra:  # extra provider fields pass through: scan them as well
            parts.append(_dumps(msg.model_extra))
        if msg.tool_calls:
            uses_tools = True
            parts.append(_dumps(msg.tool_calls))
        if msg.role == "tool":
            uses_tools = True
    if request.tools:
        parts.append(_dumps(request.tools))
    if request.response_format:
        parts.append(_dumps(request.response_format))
    return "\n".join(parts), images, uses_tools


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


_NOT_DIGITS = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)


def estimate_tokens(text: str, raw: bytes) -> int:
    """A fast estimate of cl100k tokens, in C-speed passes only: ~4 bytes per token for
    ASCII prose and code, one token per digit (numbers split into short groups), and
    1.2 tokens per non-ASCII character (CJK and other scripts tokenise densely)."""
    digits = len(raw.translate(None, _NOT_DIGITS))
    extra = len(raw) - len(text)  # bytes beyond one per character
    non_ascii = 0 if not extra else min(len(text), math.ceil(extra / 2))
    ascii_rest = len(text) - non_ascii - digits
    return math.ceil(max(ascii_rest, 0) / 4 + digits + non_ascii * 1.2)


def prompt_tokens_max(features: Features) -> int:
    """Tokens the prompt may take on any model: what the context-window check uses."""
    if not features.prompt_tokens_exact:
        return features.prompt_bytes
    with_margin = math.ceil(features.prompt_tokens * TOKENIZER_MARGIN)
    return min(features.prompt_bytes, with_margin)


def extract(
    request: Request,
    *,
    default_max_tokens: int,
    exact_above_bytes: int | None = None,
    detector_levels: Mapping[DetectorKind, Sensitivity] = DEFAULT_DETECTOR_LEVELS,
    profile: Callable[[str], tuple[float, ...]] | None = None,
    stop_count_above: int | None = None,
) -> Features:
    """Features of a request. Pure: no clock, no network.

    `exact_above_bytes`: count tokens exactly when the byte bound exceeds it (the
    planner passes the tightest context window minus the output budget).
    `profile`: when given, `Features.profile` is `profile(last user turn's text)`.
    `stop_count_above`: the exact count may stop once it passes this many tokens (the
    widest context window: the prompt then fits nowhere, whatever its exact size).
    """
    text, images, uses_tools = _blob(request)
    raw = text.encode("utf-8", errors="surrogatepass")
    overhead = _PER_MESSAGE * len(request.messages) + 3 + IMAGE_TOKENS * images
    n_bytes = len(raw) + overhead
    exact = exact_above_bytes is not None and n_bytes > exact_above_bytes
    tokens = (
        count_tokens(text, stop_count_above) if exact else estimate_tokens(text, raw)
    ) + overhead

    caps: set[Capability] = set()
    if uses_tools:
        caps.add("tools")
    if images:
        caps.add("vision")
    if request.response_format is not None:
        kind = request.response_format.get("type")
        if kind not in _JSON_FORMATS:
            raise InvalidRequest(
                "response_format.type",
                f"{kind!r} is not supported; write one of {', '.join(_JSON_FORMATS)}",
            )
        need = _JSON_FORMATS[kind]
        if need is not None:
            caps.add(need)
    if tokens > LONG_CONTEXT_TOKENS:
        caps.add("long_context")

    found = detect(f"{text}\n{request.forwarded_text}" if request.forwarded_text else text)
    # A partial mapping (e.g. only {"email": "public"}) keeps the defaults for other kinds.
    detections = tuple(
        Detection(
            kind=kind,
            count=count,
            level=detector_levels.get(kind, DEFAULT_DETECTOR_LEVELS[kind]),
        )
        for kind, count in found.items()
    )
    sensitivity = request.sensitivity
    for d in detections:
        if sensitivity_rank(d.level) > sensitivity_rank(sensitivity):
            sensitivity = d.level

    if request.max_tokens is not None:
        max_out, budget_source = request.max_tokens, "request"
    else:
        max_out, budget_source = default_max_tokens, "default"

    return Features(
        prompt_hash=hashlib.blake2b(raw, digest_size=32).hexdigest(),
        prompt_bytes=n_bytes,
        prompt_tokens=tokens,
        prompt_tokens_exact=exact,
        max_output_tokens=max_out,
        output_budget_source=budget_source,
        capabilities=tuple(c for c in CAPABILITIES if c in caps),
        declared_sensitivity=request.sensitivity,
        sensitivity=sensitivity,
        detections=detections,
        tenant=request.tenant,
        tags=request.tags,
        message_count=len(request.messages),
        profile=profile(_last_user_text(request)) if profile is not None else (),
    )


def _last_user_text(request: Request) -> str:
    """The question asked: the last user turn's text (the last message if none is a user's)."""
    users = [m for m in request.messages if m.role == "user"] or list(request.messages)
    content = users[-1].content if users else None
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    return "\n".join(p["text"] for p in content if isinstance(p.get("text"), str))
