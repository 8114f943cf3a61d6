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
import math
import os
from collections.abc import Callable, Mapping
from typing import Protocol, get_args

from router._models import (
    CAPABILITIES,
    UNSCANNABLE_KINDS,
    Capability,
    Detection,
    DetectorKind,
    Features,
    Request,
    Sensitivity,
    Unscannable,
    sensitivity_rank,
)
from router.decision._catalog import LONG_CONTEXT_TOKENS
from router.decision._detectors import detect
from router.decision._scan import IMAGE_TOKENS, scan
from router.errors import InvalidRequest

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

TOKENIZER_MARGIN = 1.10
"""Other models' tokenizers may need up to ~10% more tokens than cl100k."""

_PER_MESSAGE = 4
_KINDS: tuple[DetectorKind, ...] = get_args(DetectorKind)
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
    """Tokens the prompt may take on any model: what the context-window check uses (plus
    `Deployment.image_surplus` on a model whose image rule counts more)."""
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
    unscannable_level: Sensitivity = "confidential",
) -> Features:
    """Features of a request. Pure: no clock, no network.

    `exact_above_bytes`: count tokens exactly when the byte bound exceeds it (the
    planner passes the tightest context window minus the output budget).
    `profile`: when given, `Features.profile` is `profile(last user turn's text)`.
    `stop_count_above`: the exact count may stop once it passes this many tokens (the
    widest context window: the prompt then fits nowhere, whatever its exact size).
    `unscannable_level`: the sensitivity that content no detector can read (images, audio,
    binary files) raises the request to: the policy pack's `unscannable`.
    """
    view = scan(request)
    text = view.text
    raw = text.encode("utf-8", errors="surrogatepass")
    overhead = _PER_MESSAGE * len(request.messages) + 3 + view.media_tokens
    n_bytes = len(raw) + overhead
    exact = exact_above_bytes is not None and n_bytes > exact_above_bytes
    tokens = (
        count_tokens(text, stop_count_above) if exact else estimate_tokens(text, raw)
    ) + overhead

    caps: set[Capability] = set()
    if view.uses_tools:
        caps.add("tools")
    if view.images:
        caps.add("vision")
    if request.response_format is not None:
        kind = request.response_format.get("type")
        if kind not in _JSON_FORMATS:
            raise InvalidRequest(
                "response_format.type",
                f"is not supported; write one of {', '.join(map(repr, _JSON_FORMATS))}",
            )
        need = _JSON_FORMATS[kind]
        if need is not None:
            caps.add(need)
    if tokens > LONG_CONTEXT_TOKENS:
        caps.add("long_context")

    found = detect(f"{text}\n{view.extra}" if view.extra else text)
    if view.alternate:
        for kind, count in detect(view.alternate).items():
            found[kind] = max(found.get(kind, 0), count)
    # A partial mapping (e.g. only {"email": "public"}) keeps the defaults for other kinds.
    detections = (
        tuple(
            Detection(
                kind=kind,
                count=found[kind],
                level=detector_levels.get(kind, DEFAULT_DETECTOR_LEVELS[kind]),
            )
            for kind in _KINDS
            if kind in found
        )
        if found
        else ()
    )
    unscannable = (
        tuple(
            Unscannable(kind=kind, count=view.unscannable[kind], level=unscannable_level)
            for kind in UNSCANNABLE_KINDS
            if kind in view.unscannable
        )
        if view.unscannable
        else ()
    )
    sensitivity = request.sensitivity
    if detections or unscannable:
        for level in (*(d.level for d in detections), *(u.level for u in unscannable)):
            if sensitivity_rank(level) > sensitivity_rank(sensitivity):
                sensitivity = level

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
        unscannable=unscannable,
        choices=request.choices,
        images=view.images,
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
