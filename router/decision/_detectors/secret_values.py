"""Is a value a secret? What the assignment and key scans ask of a candidate value.

`nontrivial` judges a value read after a secret's name (`password = ...`): long enough,
mixed, not a placeholder, template, path, identifier, call or dictionary word.
`assigned_run` judges a long run of token characters by its left context (a secret's name,
`Bearer`, a `--password` flag) and its entropy. `NAMES` are the secret names both use.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Final

from router.decision._detectors._shared import TEMPLATE_RE

__all__ = ["NAMES", "assigned_run", "nontrivial"]

NAMES: Final = (
    *(
        f"{a}{sep}key"
        for a in ("api", "secret", "private", "secret_access", "access")
        for sep in ("_", "-", "")
    ),
    *("accountkey", "sharedaccesskey"),
    *("secret", "token", "password", "passwd", "pwd", "passphrase", "pass", "sig"),
)
_FORMAT_RE: Final = re.compile(r"%\([A-Za-z_]\w*\)[a-z]")  # Python's "%(password)s"
_IDENTIFIER_RE: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_CAMEL_WORD_RE: Final = re.compile(r"[A-Z][a-z]{2,}")
_DOTTED_RE: Final = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+\.?")
# a value holding one of these is a placeholder; one whose letters spell one of the
# second list is a dictionary word with decorations ("password123", "Secret!")
_PLACEHOLDER_PARTS: Final = (
    "your", "example", "placeholder", "redacted", "changeme", "change_me", "xxxx", "dummy",
    "sample", "insert", "todo", "fixme",
)  # fmt: skip
_PLACEHOLDER_WORDS: Final = frozenset(
    ("password", "passwd", "pass", "secret", "token", "test", "admin", "none", "null", "string")
)
_MIN_ENTROPY: Final = 3.5


def nontrivial(value: str, *, quoted: bool) -> bool:
    if len(value) < 8 or TEMPLATE_RE.fullmatch(value) or value.startswith(("-----", "<")):
        return False  # short, a template, a tag, or a PEM block (counted as a key)
    if "${" in value or "{{" in value or "://" in value or _FORMAT_RE.search(value):
        return False
    if value.startswith(("/", "./", "../", "~/")) or len(set(value)) <= 2:
        return False  # a path; "********", "xxxxxxxx"
    if any(c.isspace() for c in value):
        return False
    if not quoted and _DOTTED_RE.fullmatch(value):
        return False  # an attribute: code
    if _identifier(value):
        return False  # an identifier (an env var's name, a constant)
    letters = [c for c in value if c.isalpha()]
    if not letters or len(letters) == len(value):
        return False  # no letter (a number), or one dictionary word
    low = value.lower()
    if value[0] == "@" and value[-1] == "@":
        return False  # an @TOKEN@ template
    return not any(w in low for w in _PLACEHOLDER_PARTS) and (
        "".join(letters).lower() not in _PLACEHOLDER_WORDS
    )


def assigned_run(text: str, start: int, end: int, seg: bytes) -> bool:
    """Is the token run text[start:end] a high-entropy value assigned to a secret's name?"""
    if end - start < 16 or b"0" not in seg or (b"a" not in seg and b"A" not in seg):
        return False
    if start and text[start - 1] not in "\"'`=: \t":
        return False
    after = text[end : end + 2]
    if after[:1] in ("(", "[") or (after[:1] == "." and after[1:].isalpha()):
        return False  # a call, subscript or attribute: code, not a literal value
    if not _secret_context(text[max(0, start - 48) : start].lower()):
        return False
    value = text[start:end]
    return not _identifier(value) and _entropy(value) >= _MIN_ENTROPY


def _identifier(value: str) -> bool:
    """snake_case, CONSTANT_CASE, or CamelCase words making up most of it, such as
    PKCS7PrivateKeyTypes (random base62 holds capitalised chunks too: about a quarter)."""
    if _IDENTIFIER_RE.fullmatch(value):
        return True
    if not value.replace("_", "").isalnum():
        return False
    words = _CAMEL_WORD_RE.findall(value)
    return len(words) >= 2 and sum(map(len, words)) * 10 >= len(value) * 6


def _secret_context(before: str) -> bool:
    """Does the (lowercased) text before a value name it a secret?

    Plain string operations from the right, as a backwards regex would need a full scan.
    Accepts ``api_key = "``, ``"token": "``, ``PASSWORD=``, ``--password ``, ``Bearer ``.
    """
    rest = before.rstrip("\"'`")
    if len(rest) < len(before) and len(rest) > 1 and rest[-1] in "bru" and rest[-2] in " =:(":
        rest = rest[:-1]  # b"..." / r"..." literal prefix
    rest = rest.rstrip(" \t")
    if rest.endswith((":", "=")):
        rest = rest.rstrip(":=>").rstrip(" \t").rstrip("\"'")
        flag = False
    elif len(rest) < len(before):
        flag = True  # whitespace only: a CLI flag or an Authorization scheme
    else:
        return False
    if flag and rest.endswith(("bearer", "basic")):
        return _word_ends(rest, "bearer" if rest.endswith("bearer") else "basic")
    if not rest.endswith(NAMES):
        return False
    for name in NAMES:
        if rest.endswith(name) and _word_ends(rest, name):
            return not flag or rest[: -len(name)].endswith("-")
    return False


def _word_ends(text: str, word: str) -> bool:
    i = len(text) - len(word) - 1
    return i < 0 or not text[i].isalnum()


def _entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())
