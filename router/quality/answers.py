"""`AnswerScorer`: P(an answer is good) from the prompt, the answer and, optionally, other free
models' answers to the same prompt (stdlib only).

A logistic model over features of the answer that do not depend on any benchmark's wording:

- empty answer; refusal ("I can't help with that", "As an AI ..."); hedging ("I think",
  "not sure", "cannot determine", ...);
- repetition (a degenerate answer repeating the same 4-grams or lines);
- multiple choice (the prompt lists options `A) ... B) ...`): whether the answer gives
  exactly one clear choice letter (else none or several), a verbose answer, the chance
  level 1 / number of options;
- code (the prompt asks for a function, program, script...): the code block is missing,
  the Python in it does not parse, a fence left open (a truncated answer), its length;
- open-ended prompts: the answer's length against the prompt's;
- agreement with other answers (self-consistency across models): the answers are reduced
  to a key (the choice letter, the code's tokens, the final number, or the normalised
  words) and compared; the share of the others that agree, by kind of key.

The weights live in a small JSON artifact, `router/data/answer-scorer.json`, trained by
`scripts/train_answer_scorer.py` on the training rows of `../shared/routing-data`'s
RouterBench files (the recorded answers of its open models), with a prior on the weights
that data cannot teach there (no recorded answer is empty or a refusal);
`default_answer_scorer()` loads it once. `scorer(prompt, answer)` is the verifier hook
`(prompt, answer) -> float`.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ARTIFACT",
    "FEATURES",
    "SCHEMA",
    "AnswerScorer",
    "answer_features",
    "answer_key",
    "default_answer_scorer",
    "recorded_text",
]

SCHEMA = "router-answer-scorer/1"
ARTIFACT = Path(__file__).resolve().parent.parent / "data" / "answer-scorer.json"
FEATURES = (
    "bias",
    "empty",
    "refusal",
    "hedge",
    "repetition",
    "length_ratio",
    "mc_prompt",
    "mc_chance",
    "mc_unclear",
    "mc_verbose",
    "code_prompt",
    "code_missing",
    "code_invalid",
    "code_truncated",
    "code_lines",
    "has_others",
    "agree_choice",
    "agree_code",
    "agree_number",
    "agree_text",
    "agree_all",
)

_REFUSAL = re.compile(
    r"\b(i\s*(?:'m| am)\s*(?:sorry|unable|not able)|i\s*(?:can(?:no|')t|cannot|won't|will not)"
    r"\s+(?:help|assist|provide|answer|comply|do that)|as an ai\b|i must decline"
    r"|not (?:able|allowed) to (?:help|answer|provide))",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"\b(i think|i believe|not sure|unsure|i'm not certain|not certain|cannot (?:be )?determine"
    r"|can't (?:be )?determine|hard to say|difficult to (?:say|determine)|it depends|unclear"
    r"|possibly|perhaps|probably|might be|may be|i guess|no way to know|ambiguous)\b",
    re.IGNORECASE,
)
_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])[).:][ \t]+\S", re.MULTILINE)
_CODE_ASK = re.compile(
    r"\b(write|implement|create|complete|fix|define|code)\b[^\n]{0,80}?"
    r"\b(function|program|script|class|method|code|query|regex)\b"
    r"|\b(python|javascript|typescript|java|c\+\+|rust|golang|sql|bash)\b[^\n]{0,40}?"
    r"\b(function|program|script|code)\b",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_TAGGED = re.compile(r"\[PYTHON\](.*?)(?:\[/PYTHON\]|\Z)", re.DOTALL)
_CODE_LINE = re.compile(r"^\s*(def |class |import |from \S+ import |function |return\b)", re.M)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|[^\s\w]")
_ANSWER_IS = re.compile(r"(?i:answer|option|choice)\s*(?i:is)?\s*:?\s*\(?([A-J])\b")


def recorded_text(text: str) -> str:
    """An answer as recorded by RouterBench (a Python list literal of strings) as plain text.

    >>> recorded_text("['B\\\\n']"), recorded_text("plain")
    ('B\\n', 'plain')
    """
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            parts = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return "\n".join(parts)
    return text


def _options(prompt: str) -> list[str]:
    """The option letters of the prompt's last multiple-choice block (A, B, ...)."""
    letters = _OPTION_LINE.findall(prompt[-4000:])
    block: list[str] = []
    for letter in letters:  # the last run A, B, C... (few-shot prompts repeat the layout)
        if letter == "A":
            block = ["A"]
        elif block and ord(letter) == ord(block[-1]) + 1:
            block.append(letter)
    return block if len(block) >= 2 else []


def _choice(answer: str, options: Sequence[str]) -> tuple[str | None, int]:
    """(the clear choice letter or None, how many distinct option letters the answer names)."""
    text = answer.strip()
    allowed = set(options)
    head = re.match(r"\(?([A-J])\)?(?:[.):,\s]|$)", text)
    named = {c for c in re.findall(r"(?<![\w'])\(?([A-J])\)?(?![\w'])", text[:400]) if c in allowed}
    if head and head.group(1) in allowed:
        return head.group(1), max(1, len(named))
    stated = [c for c in _ANSWER_IS.findall(text[:400]) if c in allowed]
    if len(set(stated)) == 1:
        return stated[0], len(named)
    if len(named) == 1:
        return next(iter(named)), 1
    return None, len(named)


def _code(answer: str) -> tuple[str, bool]:
    """(the code in the answer, whether a fence was left open)."""
    blocks = _FENCE.findall(answer) or _TAGGED.findall(answer)
    if blocks:
        return "\n".join(blocks), answer.count("```") % 2 == 1
    lines = [ln for ln in answer.splitlines() if _CODE_LINE.match(ln) or ln.startswith("    ")]
    return ("\n".join(lines) if any(_CODE_LINE.match(ln) for ln in lines) else ""), False


def _parses(code: str) -> bool | None:
    """Whether Python-looking code parses; None when it does not look like Python."""
    if not re.search(r"^\s*(def |class |import |from )", code, re.M):
        return None
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a string literal
            warnings.simplefilter("ignore")
            ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


@functools.lru_cache(maxsize=4096)
def answer_key(prompt: str, answer: str) -> tuple[str, object]:
    """What agreement compares: ("choice", letter), ("code", tokens), ("number", text) or
    ("text", words).

    >>> answer_key("Q?\\nA) x\\nB) y\\nAnswer:", "B")
    ('choice', 'B')
    >>> answer_key("How many apples?", "She has 12 apples left, so 1,200 cents... total: 12.")
    ('number', '12')
    """
    options = _options(prompt)
    if options:
        letter, _ = _choice(answer, options)
        if letter is not None:
            return "choice", letter
    if _CODE_ASK.search(prompt[-2000:]):
        code, _ = _code(answer)
        if code:
            return "code", frozenset(_TOKEN.findall(code))
    numbers = _NUMBER.findall(answer)
    if numbers and not options:
        return "number", numbers[-1].replace(",", "").rstrip(".")
    return "text", frozenset(w.lower() for w in _WORD.findall(answer))


def _similarity(a: tuple[str, object], b: tuple[str, object]) -> float:
    if a[0] != b[0]:
        return 0.0
    if isinstance(a[1], frozenset) and isinstance(b[1], frozenset):
        union = a[1] | b[1]
        return len(a[1] & b[1]) / len(union) if union else 1.0
    return 1.0 if a[1] == b[1] else 0.0


def _repetition(answer: str) -> float:
    words = answer.split()
    grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    by_grams = 1.0 - len(set(grams)) / len(grams) if len(grams) >= 20 else 0.0
    lines = [ln.strip() for ln in answer.splitlines() if len(ln.strip()) > 10]
    by_lines = 1.0 - len(set(lines)) / len(lines) if len(lines) >= 4 else 0.0
    return max(by_grams, by_lines)


def answer_features(prompt: str, answer: str, others: Sequence[str] = ()) -> list[float]:
    """The features of one answer, in the order of `FEATURES`."""
    text = answer.strip()
    options = _options(prompt)
    code_ask = not options and bool(_CODE_ASK.search(prompt[-2000:]))
    f = dict.fromkeys(FEATURES, 0.0)
    f["bias"] = 1.0
    f["empty"] = float(not text)
    f["refusal"] = float(bool(_REFUSAL.search(text[:600])))
    f["hedge"] = min(1.0, len(_HEDGE.findall(text[:2000])) / 2)
    f["repetition"] = _repetition(text)
    if options:
        letter, named = _choice(text, options)
        f["mc_prompt"] = 1.0
        f["mc_chance"] = 1 / len(options)
        f["mc_unclear"] = float(letter is None or named > 1)
        f["mc_verbose"] = float(len(text.split()) > 20)
    elif code_ask:
        code, open_fence = _code(text)
        f["code_prompt"] = 1.0
        f["code_missing"] = float(not code)
        f["code_invalid"] = float(_parses(code) is False) if code else 0.0
        f["code_truncated"] = float(open_fence)
        f["code_lines"] = min(1.0, math.log1p(code.count("\n") + 1) / 5) if code else 0.0
    else:  # open-ended: the answer's length against the prompt's
        ratio = math.log((len(text) + 1) / (len(prompt.strip()) + 1)) / 4
        f["length_ratio"] = max(-1.0, min(1.0, ratio))
    if others:
        mine = answer_key(prompt, text)
        keys = [answer_key(prompt, o.strip()) for o in others]
        sims = [_similarity(mine, k) for k in keys]
        share = math.fsum(sims) / len(sims)
        f["has_others"] = 1.0
        f[f"agree_{mine[0]}"] = share
        f["agree_all"] = float(bool(text) and min(sims) >= (0.6 if mine[0] == "code" else 0.999))
    return [f[name] for name in FEATURES]


class AnswerScorer:
    """P(answer is good) = sigmoid(weights . answer_features(...)), in [0, 1]."""

    def __init__(self, weights: Mapping[str, float], *, info: Mapping[str, Any] | None = None):
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown answer features {sorted(unknown)}; known: {FEATURES}")
        for name, value in weights.items():
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"weight {name!r} must be a finite number, got {value!r}")
        self.weights = tuple(float(weights.get(name, 0.0)) for name in FEATURES)
        self.info = dict(info or {})

    @classmethod
    def load(cls, path: str | Path = ARTIFACT) -> AnswerScorer:
        """Read an artifact written by `scripts/train_answer_scorer.py`."""
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"{path}: not an answer-scorer artifact (schema {SCHEMA!r})")
        info = {k: v for k, v in data.items() if k != "weights"}
        return cls(data["weights"], info=info)

    def score(self, prompt: str, answer: str, others: Sequence[str] = ()) -> float:
        """P(good) for `answer` to `prompt`; `others`: other free models' answers to it."""
        features = answer_features(prompt, answer, others)
        z = math.fsum(w * x for w, x in zip(self.weights, features, strict=True))
        z = max(-40.0, min(40.0, z))
        return 1.0 / (1.0 + math.exp(-z))

    def __call__(self, prompt: str, answer: str) -> float:
        """The verifier hook: P(good) from the prompt and the answer alone."""
        return self.score(prompt, answer)

    def __repr__(self) -> str:
        return f"AnswerScorer({self.info.get('name', 'custom')!r})"


@functools.lru_cache(maxsize=1)
def default_answer_scorer() -> AnswerScorer:
    """The scorer shipped in the package (`router/data/answer-scorer.json`), loaded once."""
    return AnswerScorer.load(ARTIFACT)
