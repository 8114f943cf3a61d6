"""The cascade's verifier: is a free model's answer good enough to keep? Pure: no I/O.

Each check gives a score in [0, 1]; a check that does not apply to the answer (no JSON
was asked for, the server sent no log-probabilities, no samples were taken, no answer
scorer is set) is left out:

- `empty`: 0 when the answer has neither text nor a tool call, else 1.
- `refusal`: 0 when the answer *opens* like a refusal ("I'm sorry, but I can't...",
  "As an AI language model...", "I cannot help with..."; only the first 200 characters
  are looked at, so an answer that quotes such a phrase later is not a refusal), else 1.
- `json`: when the request asked `response_format` `json_object`, 1 if the text parses
  as a JSON object; with `json_schema`, 1 if it also validates against the schema
  (`jsonschema`, which litellm depends on; without it, `subset_valid` checks the common
  subset: type, required, properties, additionalProperties = false, items, enum, const).
- `logprobs`: exp(mean token log-probability) — the geometric mean of the probabilities
  the model gave its own tokens (`choices[0].logprobs`, OpenAI's shape or llama.cpp's).
- `agreement`: N extra answers (from the same deployment, or from the plan's other free
  deployments with `samples_from = "tier"`); the mean similarity of each to the answer.
  Similarity: 1 when the normalised texts are equal (JSON compared canonically;
  otherwise lower case, punctuation dropped, whitespace collapsed); answers of up to 8
  words must match exactly, longer ones score the overlap of their word sets (Jaccard),
  so a paraphrase of a long answer agrees in part.
- `scorer`: a trained answer scorer's figure, `scorer(prompt_text, answer_text)`, clipped
  to [0, 1]; None (no opinion) leaves the check out. Once other free models' answers are
  in (`samples_from = "tier"`), a scorer that compares answers scores again with them
  (`with_agreement(..., rescore=...)`).

**Rule:** the combined score is the *minimum* of the checks that apply (the weakest
check decides: a refusal is a refusal however confident its tokens), and 1.0 when none
applies. The cascade keeps the answer when the score is at or above the threshold.

>>> verdict = verify(answer("I'm sorry, but I can't help with that."), settings=CascadeSettings())
>>> verdict.score, dict(verdict.checks)
(0.0, {'empty': 1.0, 'refusal': 0.0})
>>> verify(answer('{"a": 1}'), settings=CascadeSettings(),
...        response_format={"type": "json_object"}).score
1.0
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AnswerScorerFn",
    "CascadeSettings",
    "Verdict",
    "agreement",
    "answer",
    "is_refusal",
    "json_score",
    "logprob_score",
    "normalise",
    "similarity",
    "subset_valid",
    "verify",
    "with_agreement",
]

AnswerScorerFn = Callable[[str, str], float | None]
"""`(prompt_text, answer_text) -> score in [0, 1]`, or None when it has no opinion."""


class CascadeSettings(BaseModel):
    """The `[cascade]` table of the config: the threshold and which checks run."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    threshold: float = Field(default=0.5, ge=0, le=1)
    """Keep the free answer when the combined score is at or above this."""
    refusal: bool = True
    """Check for empty answers and refusals."""
    valid_json: bool = True
    """Check JSON (and JSON-schema) validity when the request asked for JSON."""
    logprobs: bool = True
    """Ask deployments you host (local, self-hosted) for token log-probabilities."""
    samples: int = Field(default=0, ge=0, le=8)
    """Extra answers drawn to measure agreement (from where: `samples_from`)."""
    samples_from: Literal["same", "tier"] = "same"
    """"same": the extra answers come from the free deployment that answered, at
    `sample_temperature`. "tier": from the plan's other free deployments, in plan order
    (round robin), at the request's own settings: other models' answers, the agreement
    `router eval --mode cascade` measures on recorded answers. With no other free
    deployment in the plan, "tier" samples the same one."""
    sample_temperature: float = Field(default=0.7, ge=0, le=2)
    """Temperature of the extra samples from the same deployment (at 0 they would all
    agree)."""
    answer_scorer: bool = False
    """Add the shipped trained answer scorer (`router.quality.answers`) as a check. Off by
    default: trained on benchmark answers, it rates a good chat answer ~0.4 (held-out AUC
    0.64 alone); tune `threshold` with `python -m router eval --mode cascade` first."""


class Verdict(NamedTuple):
    """The combined score, each check's score, and a note for each check that failed."""

    score: float
    checks: tuple[tuple[str, float], ...]
    notes: tuple[str, ...]


_OPENING = 200
_REFUSAL = re.compile(
    r"""
    ^\W*(?:i'?m|i\ am)\ (?:really\ |very\ |so\ )?sorry,?\ (?:but\ )?
        (?:as\ an\ ai|i\ (?:can'?t|cannot|can\ not|won'?t|am\ unable|'?m\ unable|am\ not\ able
            |'?m\ not\ able|must\ decline|do\ not\ feel|don'?t\ feel))
    | \bas\ an\ ai(?:\ language)?\ model\b
    | \bi\ (?:cannot|can\ ?not|can'?t|won'?t|am\ unable\ to|'?m\ unable\ to|am\ not\ able\ to
            |'?m\ not\ able\ to)
        \ (?:help(?!\ but)|assist|comply|fulfil|fulfill|provide\ (?:that|this|help|assistance)
            |do\ that|answer\ that|support\ that|engage)
    | ^\W*(?:sorry|unfortunately),?\ (?:but\ )?i\ (?:can'?t|cannot|am\ unable|'?m\ unable)
    | \bi\ must\ (?:respectfully\ )?decline\b
    | ^\W*i\ (?:do\ not|don'?t)\ know\W*$
    """,
    re.VERBOSE,
)


def answer(
    text: str | None, *, logprobs: Sequence[float] | None = None, tool_calls: Any = None
) -> dict[str, Any]:
    """An OpenAI-shaped response holding `text` (for tests and doctests)."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {"content": [{"token": "t", "logprob": lp} for lp in logprobs]}
    return {"choices": [choice]}


def _choice(response: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = response.get("choices") or [{}]
    first = choices[0]
    return first if isinstance(first, Mapping) else {}


def _text(response: Mapping[str, Any]) -> str:
    content = (_choice(response).get("message") or {}).get("content")
    return content if isinstance(content, str) else ""


def _has_tool_call(response: Mapping[str, Any]) -> bool:
    message = _choice(response).get("message") or {}
    return bool(message.get("tool_calls") or message.get("function_call"))


def is_refusal(text: str) -> bool:
    """True when `text` opens like a refusal.

    >>> is_refusal("As an AI language model, I do not have opinions.")
    True
    >>> is_refusal("Sure! I can't wait to help: here is the plan.")
    False
    """
    opening = text[:_OPENING].replace("\u2019", "'").lower()
    return _REFUSAL.search(" ".join(opening.split())) is not None


def _json_kind(response_format: Mapping[str, Any] | None) -> tuple[str, Any] | None:
    """("object", None) for json_object, ("schema", schema) for json_schema, else None."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "object", None
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return "schema", schema if isinstance(schema, Mapping) else None
    return None


def json_score(text: str, response_format: Mapping[str, Any] | None) -> tuple[float, str] | None:
    """(1 or 0, note) when the request asked for JSON; None when it did not.

    >>> json_score('{"n": 1}', {"type": "json_object"})
    (1.0, '')
    >>> json_score('{"n": "one"}', {"type": "json_schema", "json_schema": {"name": "x",
    ...     "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}})[0]
    0.0
    """
    kind = _json_kind(response_format)
    if kind is None:
        return None
    stripped = _strip_fence(text)
    try:
        value = json.loads(stripped)
    except ValueError:
        return 0.0, "not valid JSON"
    if kind[0] == "object" or kind[1] is None:
        if kind[0] == "object" and not isinstance(value, dict):
            return 0.0, "JSON, but not an object"
        return 1.0, ""
    ok, why = _schema_valid(value, kind[1])
    return (1.0, "") if ok else (0.0, f"does not match the JSON schema: {why}")


def _strip_fence(text: str) -> str:
    """The text inside one ```json ... ``` fence, which small models like to add."""
    s = text.strip()
    if s.startswith("```") and s.endswith("```") and len(s) >= 6:
        s = s[3:-3]
        first, _, rest = s.partition("\n")
        return rest if first.strip().isalpha() or not first.strip() else s
    return s


def _schema_valid(value: Any, schema: Mapping[str, Any]) -> tuple[bool, str]:
    try:  # lazy (~90 ms, only when a schema is checked); untyped, hence import_module
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:  # pragma: no cover - litellm depends on jsonschema
        return subset_valid(value, schema)
    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError:
        return subset_valid(value, schema)  # a schema jsonschema rejects: check what we can
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    if error is None:
        return True, ""
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return False, f"{where}: {error.validator} failed"


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def subset_valid(value: Any, schema: Mapping[str, Any], path: str = "") -> tuple[bool, str]:
    """JSON-schema validation of the common subset: `type` (one or a list), `enum`,
    `const`, `required`, `properties`, `additionalProperties: false`, `items` (one
    schema). Other keywords are ignored (they pass).

    >>> subset_valid({"a": [1, 2]}, {"type": "object", "required": ["a"],
    ...     "properties": {"a": {"type": "array", "items": {"type": "integer"}}}})
    (True, '')
    >>> subset_valid({"a": [1, "x"]}, {"properties": {"a": {"items": {"type": "integer"}}}})
    (False, 'a/1: type failed')
    """
    where = path or "(root)"
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_TYPES.get(n, lambda _: True)(value) for n in names):
            return False, f"{where}: type failed"
    if "enum" in schema and value not in list(schema["enum"]):
        return False, f"{where}: enum failed"
    if "const" in schema and value != schema["const"]:
        return False, f"{where}: const failed"
    if isinstance(value, dict):
        for key in schema.get("required") or ():
            if key not in value:
                return False, f"{where}: required failed"
        props = schema.get("properties") or {}
        for key, item in value.items():
            sub = props.get(key)
            if sub is None:
                if schema.get("additionalProperties") is False:
                    return False, f"{where}: additionalProperties failed"
                continue
            ok, why = subset_valid(item, sub, f"{path}/{key}" if path else str(key))
            if not ok:
                return False, why
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        for i, item in enumerate(value):
            ok, why = subset_valid(item, items, f"{path}/{i}" if path else str(i))
            if not ok:
                return False, why
    return True, ""


def token_logprobs(response: Mapping[str, Any]) -> list[float]:
    """The finite token log-probabilities of the first choice (OpenAI's `content` list, or
    a `token_logprobs` list as older llama.cpp servers send); empty when there are none.
    -inf (a token of probability 0) is kept."""
    raw = _choice(response).get("logprobs")
    if not isinstance(raw, Mapping):
        return []
    values: list[Any]
    content = raw.get("content")
    if isinstance(content, list):
        values = [t.get("logprob") for t in content if isinstance(t, Mapping)]
    else:
        listed = raw.get("token_logprobs")
        values = list(listed) if isinstance(listed, list) else []
    return [
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v) and v <= 0
    ]


def logprob_score(logprobs: Sequence[float]) -> float | None:
    """exp(mean token log-probability): the geometric mean of the token probabilities.

    >>> round(logprob_score([-0.1, -0.3]), 4)   # exp(-0.2)
    0.8187
    >>> logprob_score([]) is None
    True
    """
    if not logprobs:
        return None
    return math.exp(math.fsum(logprobs) / len(logprobs))


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_EXACT_WORDS = 8


def normalise(text: str) -> str:
    """JSON canonically (sorted keys, compact); other text in lower case without
    punctuation, whitespace collapsed.

    >>> normalise("  The answer: 42! ")
    'the answer 42'
    >>> normalise('{"b": 1, "a": 2}')
    '{"a":2,"b":1}'
    """
    stripped = _strip_fence(text)
    if stripped[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(stripped), sort_keys=True, separators=(",", ":"))
        except ValueError:
            pass
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def similarity(a: str, b: str) -> float:
    """1 for equal normalised texts; 0 for different short ones (<= 8 words); otherwise
    the Jaccard overlap of the word sets.

    >>> similarity("The answer is 4.", "the answer is 4")
    1.0
    >>> similarity("The answer is 4.", "The answer is 5.")
    0.0
    """
    na, nb = normalise(a), normalise(b)
    if na == nb:
        return 1.0
    wa, wb = set(na.split()), set(nb.split())
    if max(len(na.split()), len(nb.split())) <= _EXACT_WORDS:
        return 0.0
    return len(wa & wb) / len(wa | wb) if wa | wb else 1.0


def agreement(text: str, samples: Sequence[str]) -> float | None:
    """Mean similarity of `samples` to `text`; None without samples."""
    if not samples:
        return None
    return math.fsum(similarity(text, s) for s in samples) / len(samples)


def with_agreement(
    verdict: Verdict,
    response: Mapping[str, Any],
    samples: Sequence[str],
    *,
    rescore: Callable[[Sequence[str]], float | None] | None = None,
) -> Verdict:
    """`verdict` with the agreement of `samples` added (the same as verifying again with
    them, without running the other checks twice). `rescore(samples)`, when given, is the
    answer scorer's figure once it can compare the answer with the samples (other free
    models' answers); it replaces the scorer's first figure. A rescore that raises is
    noted and the first figure stays."""
    agreed = agreement(_text(response), samples)
    if agreed is None:
        return verdict
    checks = [*verdict.checks, ("agreement", agreed)]
    notes = list(verdict.notes)
    if rescore is not None and any(name == "scorer" for name, _ in checks):
        figure, failure = _scorer_figure(lambda: rescore(samples))
        if failure:
            notes.append(f"scorer: {failure} with the samples; kept")
        elif figure is not None:
            checks = [(n, figure if n == "scorer" else v) for n, v in checks]
    return Verdict(min(v for _, v in checks), tuple(checks), tuple(notes))


def _scorer_figure(call: Callable[[], float | None]) -> tuple[float | None, str]:
    """(an answer scorer's figure clipped to [0, 1], or None for no opinion; what went
    wrong, or ""). A broken scorer must not fail the request: its exception becomes text."""
    try:
        figure = call()
    except Exception as exc:  # a broken scorer must not fail the request
        return None, f"raised {type(exc).__name__}"
    if figure is None or math.isnan(figure):
        return None, ""
    return min(1.0, max(0.0, float(figure))), ""


def verify(
    response: Mapping[str, Any],
    *,
    settings: CascadeSettings,
    response_format: Mapping[str, Any] | None = None,
    samples: Sequence[str] = (),
    prompt_text: str = "",
    scorer: AnswerScorerFn | None = None,
) -> Verdict:
    """Score an answer: the minimum of the checks that apply (see the module's docstring).

    A scorer that raises is recorded in the notes and left out: a broken scorer must not
    fail the request (the verdict then rests on the other checks)."""
    text = _text(response)
    checks: list[tuple[str, float]] = []
    notes: list[str] = []

    def add(name: str, score: float, note: str) -> None:
        checks.append((name, score))
        if note:
            notes.append(f"{name}: {note}")

    if settings.refusal:
        empty = not text.strip() and not _has_tool_call(response)
        add("empty", 0.0 if empty else 1.0, "no text and no tool call" if empty else "")
        refused = bool(text) and is_refusal(text)
        add("refusal", 0.0 if refused else 1.0, "opens like a refusal" if refused else "")
    if settings.valid_json and not _has_tool_call(response):
        judged = json_score(text, response_format)
        if judged is not None:
            add("json", judged[0], judged[1])
    lp = logprob_score(token_logprobs(response))
    if lp is not None:
        add("logprobs", lp, "")
    agreed = agreement(text, samples)
    if agreed is not None:
        add("agreement", agreed, "")
    if scorer is not None:
        figure, failure = _scorer_figure(lambda: scorer(prompt_text, text))
        if failure:
            notes.append(f"scorer: {failure}; left out")
        elif figure is not None:
            add("scorer", figure, "")
    score = min((s for _, s in checks), default=1.0)
    return Verdict(score, tuple(checks), tuple(notes))
