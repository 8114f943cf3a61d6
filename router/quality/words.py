"""The words the quality predictor reads: the question's lower-cased words and word pairs.

Training (`scripts/quality_fit.py`, through scikit-learn's `TfidfVectorizer` with
`tokenizer=terms`) and the runtime (`router.quality.trained`) both read a prompt
through `terms` and `grams`, so the two agree term for term. Nothing here is stored:
the predictor keeps two numbers per prompt (`Features.profile`), never its words.

Pure Python, C-level string methods over at most `WINDOW` characters of the question.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

__all__ = ["WINDOW", "focus", "grams", "terms"]

WINDOW = 2000
"""Characters of a longer question that are read: its first and last WINDOW / 2."""

# A few-shot demonstration ends with a filled-in answer ("Answer:\nB" then a blank
# line); what follows the last one is the question actually asked.
_DEMO_END = re.compile(r"Answer:[ \t]*\n?[ \t]*\S{1,3}[ \t]*\n[ \t]*\n")
# ASCII letters, digits and "_" stay; other ASCII bytes split words; UTF-8 stays inside.
_SPLIT = bytes(b if b >= 128 or chr(b).isalnum() or b == 95 else 32 for b in range(256))


def focus(text: str) -> str:
    """The question asked: the text after the last worked few-shot demonstration.

    >>> focus("Q: 1+1?\\nAnswer: B\\n\\nQ: 2+2?")
    'Q: 2+2?'
    """
    last = None
    for last in _DEMO_END.finditer(text):  # noqa: B007
        pass
    return text[last.end() :] if last is not None else text


def terms(prompt: str) -> list[str]:
    """The lower-cased words of the question (after few-shot demos; the first and last
    WINDOW / 2 characters of a longer one), split at ASCII punctuation and spaces.

    >>> terms("Prove: x^2 >= 0, for x in R!")
    ['prove', 'x', '2', '0', 'for', 'x', 'in', 'r']
    """
    text = focus(prompt)
    if len(text) > WINDOW:
        text = text[: WINDOW // 2] + "\n" + text[-WINDOW // 2 :]
    raw = text.lower().encode("utf-8", "surrogatepass").translate(_SPLIT)
    return raw.decode("utf-8", "replace").split()


def grams(words: Sequence[str], n: int) -> Iterator[str]:
    """The words, then each run of 2..n consecutive words joined by a space (the n-grams
    scikit-learn's `TfidfVectorizer(ngram_range=(1, n))` makes of them).

    >>> list(grams(["a", "b", "c"], 2))
    ['a', 'b', 'c', 'a b', 'b c']
    """
    yield from words
    for k in range(2, n + 1):
        for i in range(len(words) - k + 1):
            yield " ".join(words[i : i + k])
