"""The cascade's verifier, as pure functions over plain values: refusals, JSON and JSON
schema, log-probabilities, agreement, the answer-scorer hook, and the minimum rule."""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

import pytest

from router.decision._verify import (
    CascadeSettings,
    agreement,
    answer,
    is_refusal,
    json_score,
    logprob_score,
    normalise,
    similarity,
    subset_valid,
    token_logprobs,
    verify,
    with_agreement,
)

ALL = CascadeSettings()
jsonschema: Any = importlib.import_module("jsonschema")  # untyped; litellm depends on it


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I\u2019m sorry, but I cannot assist with this request.",
        "I am sorry, I can't do that.",
        "As an AI language model, I do not have personal opinions.",
        "I cannot help with requests like this one.",
        "Sorry, but I am unable to provide that information.",
        "Unfortunately, I can't share that.",
        "I must respectfully decline.",
        "I won't help with that.",
        "  I don't know.",
    ],
)
def test_refusals_are_detected(text: str) -> None:
    assert is_refusal(text)
    verdict = verify(answer(text), settings=ALL)
    assert verdict.score == 0.0
    assert dict(verdict.checks)["refusal"] == 0.0
    assert verdict.notes == ("refusal: opens like a refusal",)


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry to hear about your cat. Here is what usually helps: ...",
        "I can't help but notice the loop never ends: move the increment inside it.",
        "Paris is the capital of France.",
        "The quote was: " + "x" * 250 + " I'm sorry, but I can't help with that.",
        "I don't know the exact figure, but it is about 8 billion people.",
    ],
)
def test_ordinary_answers_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)
    assert verify(answer(text), settings=ALL).score == 1.0


def test_an_empty_answer_scores_zero_but_a_tool_call_is_not_empty() -> None:
    for text in ("", "   \n", None):
        verdict = verify(answer(text), settings=ALL)
        assert (verdict.score, dict(verdict.checks)["empty"]) == (0.0, 0.0)
    call = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert verify(answer(None, tool_calls=call), settings=ALL).score == 1.0


JSON_OBJECT = {"type": "json_object"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "tags"],
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "kind": {"enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ('{"a": 1}', JSON_OBJECT, 1.0),
        ('```json\n{"a": 1}\n```', JSON_OBJECT, 1.0),
        ('{"a": 1', JSON_OBJECT, 0.0),
        ("[1, 2]", JSON_OBJECT, 0.0),
        ("Sure! Here it is: {}", JSON_OBJECT, 0.0),
        ('{"name": "Ada", "tags": ["x"], "age": 36}', JSON_SCHEMA, 1.0),
        ('{"name": "Ada"}', JSON_SCHEMA, 0.0),
        ('{"name": "Ada", "tags": [1]}', JSON_SCHEMA, 0.0),
        ('{"name": "Ada", "tags": [], "kind": "c"}', JSON_SCHEMA, 0.0),
        ('{"name": "Ada", "tags": [], "extra": 1}', JSON_SCHEMA, 0.0),
    ],
)
def test_json_validity_when_json_was_asked(text: str, fmt: dict[str, Any], expected: float) -> None:
    judged = json_score(text, fmt)
    assert judged is not None
    assert judged[0] == expected
    verdict = verify(answer(text), settings=ALL, response_format=fmt)
    assert dict(verdict.checks)["json"] == expected
    assert verdict.score == expected


def test_json_is_not_checked_when_not_asked_or_switched_off() -> None:
    assert json_score("not json", None) is None
    assert json_score("not json", {"type": "text"}) is None
    off = CascadeSettings(valid_json=False)
    verdict = verify(answer("not json"), settings=off, response_format=JSON_OBJECT)
    assert "json" not in dict(verdict.checks)
    assert verdict.score == 1.0


SUBSET_CASES: list[tuple[Any, dict[str, Any]]] = [
    ({"name": "Ada", "tags": []}, SCHEMA),
    ({"name": "Ada"}, SCHEMA),
    ({"name": 3, "tags": []}, SCHEMA),
    ({"name": "Ada", "tags": ["a", 2]}, SCHEMA),
    ({"name": "Ada", "tags": [], "age": 3.0}, SCHEMA),
    ({"name": "Ada", "tags": [], "age": True}, SCHEMA),
    ({"name": "Ada", "tags": [], "zzz": 1}, SCHEMA),
    ([1, 2, 3], {"type": "array", "items": {"type": "number"}}),
    ([1, None], {"type": "array", "items": {"type": ["number", "null"]}}),
    ("x", {"const": "x"}),
    ("y", {"const": "x"}),
    ({"a": {"b": [{"c": 1}]}}, {"properties": {"a": {"properties": {"b": {"items": {
        "required": ["c"], "properties": {"c": {"type": "string"}}}}}}}}),
]  # fmt: skip


@pytest.mark.parametrize(("value", "schema"), SUBSET_CASES)
def test_the_fallback_validator_agrees_with_jsonschema_on_its_subset(
    value: Any, schema: dict[str, Any]
) -> None:
    expected = jsonschema.Draft202012Validator(schema).is_valid(value)
    assert subset_valid(value, schema)[0] is expected


def test_the_fallback_validator_says_where_it_failed() -> None:
    assert subset_valid({"name": "Ada", "tags": ["a", 2]}, SCHEMA) == (False, "tags/1: type failed")
    assert subset_valid({"tags": []}, SCHEMA) == (False, "(root): required failed")


def test_logprobs_map_to_the_geometric_mean_token_probability() -> None:
    assert logprob_score([-0.5, -1.5]) == pytest.approx(math.exp(-1.0))
    assert logprob_score([0.0, 0.0]) == 1.0
    assert logprob_score([-math.inf, -0.1]) == 0.0
    assert logprob_score([]) is None
    verdict = verify(answer("Paris.", logprobs=[-0.2, -0.4]), settings=ALL)
    assert dict(verdict.checks)["logprobs"] == pytest.approx(math.exp(-0.3))
    assert verdict.score == pytest.approx(math.exp(-0.3))  # the minimum of 1, 1, 0.74


def test_token_logprobs_read_openai_and_llamacpp_shapes_and_skip_junk() -> None:
    openai = {"choices": [{"logprobs": {"content": [{"logprob": -0.1}, {"logprob": None}]}}]}
    llamacpp = {"choices": [{"logprobs": {"token_logprobs": [-0.2, float("nan"), -0.3, 0.5]}}]}
    assert token_logprobs(openai) == [-0.1]
    assert token_logprobs(llamacpp) == [-0.2, -0.3]
    assert token_logprobs({"choices": [{"logprobs": None}]}) == []
    assert token_logprobs({}) == []


def test_agreement_compares_normalised_answers() -> None:
    assert normalise("  The Answer: 42! ") == "the answer 42"
    assert similarity('{"a": 1, "b": [2]}', '{"b":[2],"a":1}') == 1.0
    assert similarity("The answer is 4.", "the answer is 5") == 0.0
    long_a = "the quick brown fox jumps over the lazy dog near the river bank"
    long_b = "the quick brown fox jumps over the lazy cat near the river bank"
    assert similarity(long_a, long_b) == pytest.approx(10 / 12)
    assert agreement("Paris", ["paris.", "Paris", "Lyon", "PARIS!"]) == 0.75
    assert agreement("Paris", []) is None
    verdict = verify(answer("Paris"), settings=ALL, samples=["Lyon", "Paris"])
    assert dict(verdict.checks)["agreement"] == 0.5
    assert verdict.score == 0.5
    assert (
        with_agreement(verify(answer("Paris"), settings=ALL), answer("Paris"), ["Lyon", "Paris"])
        == verdict
    )


def test_the_answer_scorer_hook_gets_prompt_and_answer_and_is_clipped() -> None:
    seen: list[tuple[str, str]] = []

    def scorer(prompt: str, text: str) -> float | None:
        seen.append((prompt, text))
        return {"low": 0.2, "high": 7.0}.get(text)

    low = verify(answer("low"), settings=ALL, prompt_text="q?", scorer=scorer)
    high = verify(answer("high"), settings=ALL, prompt_text="q?", scorer=scorer)
    none = verify(answer("other"), settings=ALL, prompt_text="q?", scorer=scorer)
    assert seen == [("q?", "low"), ("q?", "high"), ("q?", "other")]
    assert (low.score, dict(low.checks)["scorer"]) == (0.2, 0.2)
    assert dict(high.checks)["scorer"] == 1.0
    assert "scorer" not in dict(none.checks)


def test_a_broken_scorer_is_noted_and_left_out() -> None:
    def broken(prompt: str, text: str) -> float | None:
        raise RuntimeError("model file missing")

    verdict = verify(answer("fine"), settings=ALL, scorer=broken)
    assert verdict.score == 1.0
    assert "scorer" not in dict(verdict.checks)
    assert verdict.notes == ("scorer: raised RuntimeError; left out",)


def test_the_combined_score_is_the_minimum_and_one_without_checks() -> None:
    bad_json = answer("{broken", logprobs=[-0.01])
    verdict = verify(bad_json, settings=ALL, response_format=JSON_OBJECT)
    assert dict(verdict.checks)["logprobs"] > 0.98
    assert verdict.score == 0.0
    none = CascadeSettings(refusal=False, valid_json=False)
    assert verify(answer(""), settings=none) == (1.0, (), ())


@pytest.mark.parametrize(
    "bad",
    [{"threshold": 1.5}, {"threshold": -0.1}, {"samples": -1}, {"samples": 99}, {"x": 1}],
)
def test_cascade_settings_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        CascadeSettings.model_validate(bad)


def test_with_agreement_rescores_the_answer_scorer_with_the_samples() -> None:
    first = verify(answer("Paris"), settings=ALL, prompt_text="q?", scorer=lambda p, t: 0.5)
    assert dict(first.checks)["scorer"] == 0.5
    seen: list[Sequence[str]] = []

    def rescore(others: Sequence[str]) -> float:
        seen.append(others)
        return 0.9

    agreed = with_agreement(first, answer("Paris"), ["paris"], rescore=rescore)
    assert seen == [["paris"]]
    assert dict(agreed.checks) == {"empty": 1.0, "refusal": 1.0, "scorer": 0.9, "agreement": 1.0}
    assert agreed.score == 0.9
    # Out of range is clipped; None or NaN keep the first figure.
    assert (
        dict(with_agreement(first, answer("Paris"), ["x"], rescore=lambda o: 3.0).checks)["scorer"]
        == 1.0
    )
    silent: list[float | None] = [None, math.nan]
    for figure in silent:

        def quiet(others: Sequence[str], figure: float | None = figure) -> float | None:
            return figure

        kept = with_agreement(first, answer("Paris"), ["Paris"], rescore=quiet)
        assert dict(kept.checks)["scorer"] == 0.5


def test_a_rescore_that_raises_keeps_the_first_figure_and_says_so() -> None:
    first = verify(answer("Paris"), settings=ALL, prompt_text="q?", scorer=lambda p, t: 0.6)

    def broken(others: Sequence[str]) -> float:
        raise RuntimeError("boom")

    out = with_agreement(first, answer("Paris"), ["Paris"], rescore=broken)
    assert dict(out.checks)["scorer"] == 0.6
    assert out.score == 0.6
    assert out.notes == ("scorer: raised RuntimeError with the samples; kept",)


def test_no_rescore_without_a_scorer_check() -> None:
    calls: list[int] = []
    first = verify(answer("Paris"), settings=ALL)
    out = with_agreement(first, answer("Paris"), ["Paris"], rescore=lambda o: calls.append(1))
    assert calls == []
    assert "scorer" not in dict(out.checks)
