"""A prompt's profile: 43 numbers that describe what is asked, never what it says.

The quality predictor reads a prompt only through these: length, digits and numbers,
maths and code marks, word length and variety, negations, answer options, question
marks, blanks, non-ASCII share, reasoning words, and which question words occur
("what", "why", "prove", "write", "implement", ...). They mean the same on a chat turn,
a maths word problem or a benchmark item, and they learn no vocabulary from the
training files, so the predictor carries to prompts unlike its training data.

A profile holds no text (it cannot be turned back into the prompt), so it travels in
`Features` and the ledger, and `replay` can re-score recorded requests.

Pure Python, C-level string methods over at most `WINDOW` characters of the question;
about 0.1 ms whatever the prompt's length.
"""

from __future__ import annotations

import math
import re

__all__ = ["BINARY", "FEATURES", "WINDOW", "focus", "profile"]

WINDOW = 2000
"""Characters of a longer question that are read: its first and last WINDOW / 2."""

# A few-shot demonstration ends with a filled-in answer ("Answer:\nB" then a blank
# line); what follows the last one is the question actually asked.
_DEMO_END = re.compile(r"Answer:[ \t]*\n?[ \t]*\S{1,3}[ \t]*\n[ \t]*\n")
# ASCII letters, digits and "_" stay; other ASCII bytes become spaces; UTF-8 multi-byte
# characters stay inside their word. bytes.translate + split is ~4x faster than \w+.
_SPLIT = bytes(b if b >= 128 or chr(b).isalnum() or b == 95 else 32 for b in range(256))
# An answer option at the start of a line ("A. ...", "(b) ..."); searched in "\n" + text
# so the leading literal lets the regex engine skip from newline to newline.
_OPTION = re.compile(r"\n[ \t]*\(?[A-Ja-j][.)][ \t]+([^\n]*)")
_ALL_NONE = ("all of the", "none of the", "both of the", "neither of the")
_MATH_ASCII = "=+*/^<>%"
_MATH_OTHER = ("√", "∑", "∫", "π", "≤", "≥", "×", "÷")
# bytes.translate(None, delete) keeps only the bytes not deleted: one C pass counts them.
_NOT_DIGIT = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)
_NOT_MATH = bytes(b for b in range(256) if chr(b) not in _MATH_ASCII)
_SHORT = bytes(range(10))  # word lengths 0..9, deleted to count the longer words
_CODE_MARKS = ("```", "def ", "return", "{", "}", ";\n", "==", "!=", "->", "import ", "print(")
_NEGATIONS = frozenset(
    ["not", "except", "least", "false", "incorrect", "never", "cannot", "untrue"]
)
_QUESTION_WORDS = (
    "what",
    "which",
    "why",
    "how",
    "who",
    "when",
    "where",
    "calculate",
    "compute",
    "find",
    "solve",
    "estimate",
    "determine",
    "prove",
    "explain",
    "write",
    "describe",
    "compare",
    "evaluate",
    "simplify",
    "implement",
    "summarize",
)
_REASONING = frozenset(
    (
        *("step", "therefore", "because", "if", "then", "suppose", "assume", "given"),
        *("implies", "probability", "expected", "ratio", "rate", "percent", "total"),
        *("each", "per", "average", "minimum", "maximum", "least", "most"),
    )
)

_COUNTED = _NEGATIONS | _REASONING

FEATURES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "digit_share",
    "number_share",
    "log_numbers",
    "log_math_marks",
    "log_latex",
    "log_code_marks",
    "mean_word_len",
    "long_word_share",
    "type_token_ratio",
    "log_negations",
    "n_options",
    "log_option_len",
    "numeric_option_share",
    "all_none_of_the",
    "log_question_marks",
    "fill_in_blank",
    "non_ascii_share",
    "log_reasoning_words",
    *(f"asks_{w}" for w in _QUESTION_WORDS),
)
"""The profile's entries, in order."""

_DECIMALS = (4,) * len(FEATURES)  # every entry is rounded to 4 decimals

BINARY = frozenset({"all_none_of_the", "fill_in_blank", *(f"asks_{w}" for w in _QUESTION_WORDS)})
"""Entries that are 0 or 1 (the others are counts and shares)."""


def focus(text: str) -> str:
    """The question asked: the text after the last worked few-shot demonstration.

    >>> focus("Q: 1+1?\\nAnswer: B\\n\\nQ: 2+2?")
    'Q: 2+2?'
    """
    last = None
    for last in _DEMO_END.finditer(text):  # noqa: B007
        pass
    return text[last.end() :] if last is not None else text


def profile(prompt: str) -> tuple[float, ...]:
    """The `FEATURES` of the question in `prompt`, rounded to 4 decimals.

    A question longer than `WINDOW` characters is read through its first and last
    `WINDOW / 2`: lengths, lines and question marks are counted on the whole, shares on
    the window, other counts on the window scaled to the whole. The cost is bounded
    (about 0.1 ms) whatever the prompt's size.

    >>> p = dict(zip(FEATURES, profile("Why is the sky blue?")))
    >>> p["asks_why"], p["log_question_marks"] == round(math.log(2), 4), p["n_options"]
    (1.0, True, 0.0)
    """
    full = focus(prompt)
    if len(full) > WINDOW:
        half = WINDOW // 2
        text = full[:half] + "\n" + full[-half:]
        scale = len(full) / len(text)
    else:
        text, scale = full, 1.0
    low = text.lower()
    raw = text.encode("utf-8", "surrogatepass")
    words = low.encode("utf-8", "surrogatepass").translate(_SPLIT).decode("utf-8", "replace")
    words_l = words.split()
    lens = list(map(len, words_l))
    try:
        packed = bytes(lens)  # C-speed sums and counts over the word lengths
        total_len, n_long = sum(packed), len(packed.translate(None, _SHORT))
    except ValueError:  # a "word" of 256+ characters
        total_len, n_long = sum(lens), sum(map((9).__lt__, lens))
    seen = set(words_l)
    hits = list(filter(_COUNTED.__contains__, words_l))
    nw = max(len(words_l), 1)
    digit_words = list(filter(str.isdigit, words_l))
    n_alpha = max(len(words_l) - len(digit_words), 1)
    options = _OPTION.findall("\n" + text)
    n_chars = max(len(text), 1)
    values = (
        math.log1p(len(full)),
        math.log1p(len(words_l) * scale),
        math.log1p(full.count("\n") + 1),
        len(raw.translate(None, _NOT_DIGIT)) / n_chars,
        len(digit_words) / nw,
        math.log1p(len(digit_words) * scale),
        math.log1p(
            (len(raw.translate(None, _NOT_MATH)) + sum(map(text.count, _MATH_OTHER))) * scale
        ),
        math.log1p((text.count("\\") + text.count("$")) * scale),
        math.log1p(sum(map(text.count, _CODE_MARKS)) * scale),
        (total_len - sum(map(len, digit_words))) / n_alpha,
        n_long / nw,
        len(seen) / nw,
        math.log1p(sum(map(_NEGATIONS.__contains__, hits)) * scale),
        float(len(options)),
        math.log1p(sum(map(len, options)) / len(options)) if options else 0.0,
        sum(1 for o in options if any(map(o.__contains__, "0123456789"))) / len(options)
        if options
        else 0.0,
        1.0 if any(map(low.__contains__, _ALL_NONE)) else 0.0,
        math.log1p(full.count("?")),
        1.0 if "_" in seen else 0.0,
        (len(raw) - len(text)) / n_chars,
        math.log1p(sum(map(_REASONING.__contains__, hits)) * scale),
        *map(float, map(seen.__contains__, _QUESTION_WORDS)),
    )
    return tuple(map(round, values, _DECIMALS))
