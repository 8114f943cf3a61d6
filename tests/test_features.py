"""Request -> Features: two-tier token counting, capabilities, output budget,
sensitivity = max(declared, detected), and no prompt text in the result."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import router.decision._features as features_mod
from router._models import DetectorKind, Features, Request, Sensitivity
from router.decision._catalog import LONG_CONTEXT_TOKENS
from router.decision._features import (
    DEFAULT_DETECTOR_LEVELS,
    IMAGE_TOKENS,
    count_tokens,
    estimate_tokens,
    extract,
    prompt_tokens_max,
)
from router.errors import InvalidRequest

CARD = "4111 1111 1111 1111"  # a public test card number (Luhn-valid)
EMAIL = "bob.smith@example.org"
PLAIN = "Summarise the causes of the French Revolution in five bullet points."
WIDE = "日本語の文章と中文句子，한국어 문장 😀🎉👍🏽🇫🇷 ∑∫√ café naïve"
TEXT = st.one_of(st.text(), st.text(alphabet=st.sampled_from(WIDE)))


def _req(*messages: Mapping[str, Any], **fields: Any) -> Request:
    return Request.model_validate({"messages": list(messages), **fields})


def _user(content: str | list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "user", "content": content}


def _features(request: Request, **kwargs: Any) -> Features:
    return extract(request, default_max_tokens=kwargs.pop("default_max_tokens", 512), **kwargs)


@given(TEXT)
@settings(deadline=None)  # the first example loads the encoding (~0.2 s)
def test_byte_length_bounds_exact_token_count(text: str) -> None:
    assert len(text.encode("utf-8")) >= count_tokens(text)


@given(TEXT)
@settings(deadline=None)
def test_prompt_bytes_bounds_exact_prompt_tokens(text: str) -> None:
    f = _features(_req(_user(text)), exact_above_bytes=0)
    assert f.prompt_tokens_exact
    assert f.prompt_bytes >= f.prompt_tokens


@given(TEXT, st.booleans())
@settings(max_examples=50, deadline=None)
def test_prompt_tokens_max_stays_within_byte_bound(text: str, exact: bool) -> None:
    f = _features(_req(_user(text)), exact_above_bytes=0 if exact else None)
    assert f.prompt_tokens_exact is exact
    bound = prompt_tokens_max(f)
    assert bound <= f.prompt_bytes
    if exact:
        assert f.prompt_tokens <= bound
    else:
        assert bound == f.prompt_bytes


def _no_tokenizer(text: str) -> int:
    raise AssertionError("the tokenizer ran although the byte bound fits")


@pytest.mark.parametrize(
    ("offset", "exact"),
    [(None, False), (0, False), (1_000, False), (-1, True), (-10_000, True)],
    ids=["no-threshold", "at-threshold", "below-threshold", "just-above", "far-above"],
)
def test_exact_count_only_when_bytes_exceed_threshold(
    monkeypatch: pytest.MonkeyPatch, offset: int | None, exact: bool
) -> None:
    request = _req(_user(PLAIN))
    n_bytes = _features(request).prompt_bytes
    if not exact:
        monkeypatch.setattr(features_mod, "count_tokens", _no_tokenizer)
    threshold = None if offset is None else max(n_bytes + offset, 0)
    f = _features(request, exact_above_bytes=threshold)
    assert f.prompt_tokens_exact is exact
    assert f.prompt_bytes == n_bytes


def test_exact_count_uses_the_tokenizer() -> None:
    f = _features(_req(_user(PLAIN)), exact_above_bytes=0)
    assert f.prompt_tokens > count_tokens(PLAIN)  # plus the per-message overhead
    assert f.prompt_tokens < count_tokens(PLAIN) + 20


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
IMAGE = {"type": "image_url", "image_url": {"url": "data:,"}}

# (messages, other request fields, capabilities the request uses)
CAPABILITY_CASES: list[tuple[list[dict[str, Any]], dict[str, Any], tuple[str, ...]]] = [
    ([_user(PLAIN)], {}, ()),
    ([_user(PLAIN)], {"tools": [TOOL]}, ("tools",)),
    ([_user(PLAIN), {"role": "assistant", "content": None, "tool_calls": [CALL]}], {}, ("tools",)),
    ([_user(PLAIN), {"role": "tool", "content": "22C", "tool_call_id": "c1"}], {}, ("tools",)),
    ([_user([{"type": "text", "text": PLAIN}, IMAGE])], {}, ("vision",)),
    ([_user([{"type": "input_image", "image_url": "data:,"}])], {}, ("vision",)),
    ([_user(PLAIN)], {"response_format": {"type": "text"}}, ()),
    ([_user(PLAIN)], {"response_format": {"type": "json_object"}}, ("json",)),
    ([_user(PLAIN)], {"response_format": {"type": "json_schema", "json_schema": {}}},
     ("json_schema",)),
    ([_user([IMAGE])], {"tools": [TOOL], "response_format": {"type": "json_schema"}},
     ("tools", "vision", "json_schema")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "fields", "expected"),
    CAPABILITY_CASES,
    ids=[
        "plain-text", "tools-param", "assistant-tool-calls", "tool-role", "image-url",
        "input-image", "format-text", "json-object", "json-schema", "all-in-order",
    ],
)  # fmt: skip
def test_capabilities_the_request_uses(
    messages: list[dict[str, Any]], fields: dict[str, Any], expected: tuple[str, ...]
) -> None:
    assert _features(_req(*messages, **fields)).capabilities == expected


@pytest.mark.parametrize("images", [1, 3])
@pytest.mark.parametrize("exact", [False, True], ids=["estimate", "exact"])
def test_each_image_counts_image_tokens(images: int, exact: bool) -> None:
    text_only = _req(_user([{"type": "text", "text": PLAIN}]))
    with_images = _req(_user([{"type": "text", "text": PLAIN}, *[IMAGE] * images]))
    threshold = 0 if exact else None
    a = _features(text_only, exact_above_bytes=threshold)
    b = _features(with_images, exact_above_bytes=threshold)
    assert b.prompt_tokens - a.prompt_tokens == images * IMAGE_TOKENS
    assert b.prompt_bytes - a.prompt_bytes == images * IMAGE_TOKENS


@pytest.mark.parametrize(
    "response_format",
    [{"type": "xml"}, {"type": "json"}, {"type": "JSON_OBJECT"}],
    ids=["xml", "json-not-json_object", "wrong-case"],
)
def test_unknown_response_format_type_is_invalid_request(
    response_format: dict[str, Any],
) -> None:
    with pytest.raises(InvalidRequest) as info:
        _features(_req(_user(PLAIN), response_format=response_format))
    assert info.value.field == "response_format.type"
    assert str(info.value).startswith("response_format.type: ")
    assert "'text', 'json_object', 'json_schema'" in str(info.value)
    assert repr(response_format["type"]) not in str(info.value)  # never echoes the value


def _sized(n_chars: int, exact: bool) -> Features:
    return _features(_req(_user("a" * n_chars)), exact_above_bytes=0 if exact else None)


def test_long_context_starts_just_above_the_threshold() -> None:
    n = 4 * LONG_CONTEXT_TOKENS - 64  # the estimate is ~1 token per 4 bytes
    while _sized(n + 1, exact=False).prompt_tokens <= LONG_CONTEXT_TOKENS:
        n += 1
    at, above = _sized(n, exact=False), _sized(n + 1, exact=False)
    assert at.prompt_tokens == LONG_CONTEXT_TOKENS
    assert "long_context" not in at.capabilities
    assert above.prompt_tokens == LONG_CONTEXT_TOKENS + 1
    assert "long_context" in above.capabilities


@pytest.mark.parametrize(
    ("prompt", "long"),
    [(PLAIN, False), ("word " * 40_000, True), ("x" * 100_000, False)],
    ids=["short", "40k-words", "100k-bytes-few-tokens"],
)
def test_long_context_with_exact_count(prompt: str, long: bool) -> None:
    f = _features(_req(_user(prompt)), exact_above_bytes=0)
    assert f.prompt_tokens_exact
    assert (f.prompt_tokens > LONG_CONTEXT_TOKENS) is long
    assert ("long_context" in f.capabilities) is long


@pytest.mark.parametrize(
    ("max_tokens", "expected", "source"),
    [(None, 512, "default"), (300, 300, "request"), (4000, 4000, "request")],
    ids=["default", "smaller", "larger"],
)
def test_output_budget(max_tokens: int | None, expected: int, source: str) -> None:
    f = _features(_req(_user(PLAIN), max_tokens=max_tokens), default_max_tokens=512)
    assert (f.max_output_tokens, f.output_budget_source) == (expected, source)


LOWER_EMAIL = {**DEFAULT_DETECTOR_LEVELS, "email": "public"}
RAISE_CARD = {**DEFAULT_DETECTOR_LEVELS, "payment_card": "restricted"}

# (declared, prompt, detector levels, expected sensitivity)
Levels = Mapping[DetectorKind, Sensitivity]
SENSITIVITY_CASES: list[tuple[Sensitivity, str, Levels, Sensitivity]] = [
    ("public", PLAIN, DEFAULT_DETECTOR_LEVELS, "public"),
    ("restricted", PLAIN, DEFAULT_DETECTOR_LEVELS, "restricted"),
    ("public", f"Charge card {CARD} please.", DEFAULT_DETECTOR_LEVELS, "confidential"),
    ("public", f"Mail {EMAIL} the notes.", DEFAULT_DETECTOR_LEVELS, "internal"),
    ("confidential", f"Mail {EMAIL} the notes.", DEFAULT_DETECTOR_LEVELS, "confidential"),
    ("public", f"Mail {EMAIL} the notes.", LOWER_EMAIL, "public"),
    ("internal", f"Mail {EMAIL} the notes.", LOWER_EMAIL, "internal"),
    ("public", f"Charge card {CARD} please.", RAISE_CARD, "restricted"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("declared", "prompt", "levels", "expected"),
    SENSITIVITY_CASES,
    ids=[
        "public-clean", "restricted-clean-stays", "card-raises", "email-raises",
        "email-does-not-lower", "email-set-public", "custom-level-does-not-lower",
        "card-set-restricted",
    ],
)  # fmt: skip
def test_sensitivity_is_max_of_declared_and_detected(
    declared: Sensitivity,
    prompt: str,
    levels: Levels,
    expected: Sensitivity,
) -> None:
    f = _features(_req(_user(prompt), sensitivity=declared), detector_levels=levels)
    assert f.declared_sensitivity == declared
    assert f.sensitivity == expected
    assert all(d.level == levels[d.kind] for d in f.detections)


def test_detections_name_kind_and_count_only() -> None:
    f = _features(_req(_user(f"Card {CARD}, mail {EMAIL}.")))
    kinds = {d.kind: d for d in f.detections}
    assert {"payment_card", "email"} <= set(kinds)
    assert kinds["payment_card"].level == "confidential"
    assert kinds["email"].count == 1


def test_partial_detector_levels_fall_back_to_defaults() -> None:
    levels: dict[DetectorKind, Sensitivity] = {"email": "public"}
    f = _features(_req(_user(f"Mail {EMAIL}, card {CARD}.")), detector_levels=levels)
    assert f.sensitivity == "confidential"
    assert {d.kind: d.level for d in f.detections}["email"] == "public"


def test_prompt_hash_is_256_bit_hex_and_stable() -> None:
    a = _features(_req(_user(PLAIN)))
    again = _features(_req(_user(PLAIN)))
    other = _features(_req(_user(PLAIN + "!")))
    assert re.fullmatch(r"[0-9a-f]{64}", a.prompt_hash)
    assert a.prompt_hash == again.prompt_hash
    assert a.prompt_hash != other.prompt_hash


def test_features_hold_no_prompt_text() -> None:
    secret_phrase = "the-purple-walrus-eats-at-midnight"
    prompt = f"{secret_phrase}: charge {CARD} and mail {EMAIL}"
    f = _features(
        _req({"role": "system", "content": "You are terse."}, _user(prompt), tools=[TOOL]),
        exact_above_bytes=0,
    )
    dumped = f.model_dump_json()
    for fragment in (secret_phrase, CARD, EMAIL, "You are terse", "bob.smith"):
        assert fragment not in dumped
    assert f.message_count == 2


ESTIMATE_SAMPLES = {
    "english": "The committee discussed the roadmap and agreed on the next steps. " * 40,
    "digits": "1 2 3 4 5 " * 200,
    "cjk": "数据必须保留在本地服务器上，不得发送到外部接口。" * 50,
    "code": "def f(x):\n    return [i * i for i in range(x) if i % 3 == 0]\n" * 40,
    "numbers": "Invoice 20240513 total 1250.00 USD, order 998877. " * 40,
    "emoji": "🎉🚀 party time 🎈" * 100,
}


@pytest.mark.parametrize("text", ESTIMATE_SAMPLES.values(), ids=ESTIMATE_SAMPLES.keys())
def test_fast_estimate_is_within_a_factor_of_two_of_the_exact_count(text: str) -> None:
    exact = count_tokens(text)
    estimate = estimate_tokens(text, text.encode("utf-8"))
    assert exact / 2 <= estimate <= exact * 2


def test_counting_a_huge_prompt_stops_once_it_fits_nowhere() -> None:
    """Above 1 MB with a stop, the count runs in pieces and stops past the stop: enough
    to know the prompt fits no window, without tokenizing all of it."""
    from router.decision._features import count_tokens  # noqa: PLC0415

    huge = "word " * 400_000  # 2 MB, 400,001 tokens
    full = count_tokens(huge)
    partial = count_tokens(huge, stop_above=50_000)
    assert 50_000 < partial < full
    assert count_tokens(huge, stop_above=10_000_000) == full  # never stopped: exact
    small = "word " * 1000
    assert count_tokens(small, stop_above=10) == count_tokens(small)  # small: exact
