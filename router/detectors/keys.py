"""Private keys (PEM blocks), API keys and tokens, and entropy-checked assigned secrets."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Final

from router.detectors._shared import _MASK, _RUN, _Findings
from router.detectors.validators import _valid_iban

# --- private keys -------------------------------------------------------------------------
_NL: Final = r"(?:\r?\n|(?:\\r)?\\n)"  # newlines, or "\n" escapes as in service-account JSON
_PEM_RE: Final = re.compile(
    rf"""
    -----BEGIN[ ](?:[A-Z0-9]+[ ])*PRIVATE[ ]KEY(?:[ ]BLOCK)?-----[ \t]*{_NL}
    (?:[A-Za-z][A-Za-z-]*:[^\r\n\\]*{_NL})*  # RFC 1421 / OpenPGP armor headers
    (?:[ \t]*{_NL})?
    [ \t]*[A-Za-z0-9+/=]{{16}}  # real base64: a "..." placeholder body is not a key
    """,
    re.ASCII | re.VERBOSE,
)

# --- API keys and tokens ------------------------------------------------------------------
# Literal prefixes first (cheap search inside a run), then the full pattern anchored there.
_TOKEN_START_RE: Final = re.compile(
    r"sk[-_]|rk_|A(?:KIA|SIA|BIA|CCA|Iza)|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|hf_"
)
_TOKEN_RE: Final = re.compile(
    r"""
      (?P<anthropic>sk-ant-[A-Za-z0-9_-]{32,})
    | (?P<openai>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,})
    | (?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])
    | gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9])
    | github_pat_[A-Za-z0-9_]{22,255}
    | glpat-[A-Za-z0-9_-]{20,}
    | (?P<slack>xox[abposr]-[A-Za-z0-9-]{10,})
    | AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])
    | [sr]k_(?:live|test)_[A-Za-z0-9]{16,}
    | (?P<hf>hf_[A-Za-z0-9]{30,40})(?![A-Za-z0-9])
    """,
    re.ASCII | re.VERBOSE,
)
_JWT_RE: Final = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", re.ASCII)
_SECRET_NAMES: Final = (
    *(
        f"{a}{sep}key"
        for a in ("api", "secret", "private", "secret_access")
        for sep in ("_", "-", "")
    ),
    *("secret", "token", "password", "passwd", "pwd", "passphrase"),
)
_IDENTIFIER_RE: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_CAMEL_WORD_RE: Final = re.compile(r"[A-Z][a-z]{3,}")
_MIN_ENTROPY: Final = 3.5
_HEX: Final = b"0123456789abcdef-"
_B64URL: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


# --- private keys -------------------------------------------------------------------------


def _private_keys(text: str, found: _Findings) -> None:
    i = text.find("-----BEGIN")
    while i != -1:
        m = _PEM_RE.match(text, i)
        if m is not None:
            # Counted without claiming the block: base64 bodies never pass the token and
            # number checks anyway, and a claim reaching past the text would break the
            # guarantee that appending text never removes an earlier finding.
            found.count("private_key")
        i = text.find("-----BEGIN", i + 10 if m is None else m.end())


# --- API keys and tokens ------------------------------------------------------------------


def _tokens(text: str, raw: bytes, shape: bytes, found: _Findings) -> list[tuple[int, int]]:
    """Find token runs; returns the lowercase-hex runs (with a letter) for the digit search."""
    hex_runs: list[tuple[int, int]] = []
    mask = raw.translate(_MASK)
    i = mask.find(_RUN)
    while i != -1:
        end = mask.find(b" ", i)
        if end == -1:
            end = len(mask)
        seg = shape[i:end]
        if (b"0" in seg or (b"A" in seg and b"a" in seg)) and found.free(i, end):
            if raw[i:end].translate(None, _HEX):
                end = max(end, _token_run(text, (i, end), seg, found))
            else:
                # lowercase hex (SHAs, UUIDs, digests) holds no token prefix and no JWT
                if _is_assigned_secret(text, i, end, seg):
                    found.add("api_key", i, end)
                if b"a" in seg:
                    hex_runs.append((i, end))
        i = mask.find(_RUN, end)
    return hex_runs


def _token_run(text: str, run: tuple[int, int], seg: bytes, found: _Findings) -> int:
    """Classify one run of token characters; returns where scanning may resume."""
    start, end = run
    jwt = _jwt_at(text, start)
    if jwt is not None and found.free(*jwt):
        found.add("api_key", *jwt)
        return jwt[1]
    if (
        # a compact IBAN with a mostly-letter BBAN has no digit cluster to be found by
        seg.startswith(b"AA00")
        and end - start <= 34
        and not seg.translate(None, b"A0")
        and found.free(start, end)
        and _valid_iban(text[start:end])
    ):
        found.add("iban", start, end)
        return end
    hit = False
    pos = start
    while (p := _TOKEN_START_RE.search(text, pos, end)) is not None:
        pos = p.start() + 1
        if p.start() > start and text[p.start() - 1] in _B64URL:
            continue  # "task-...", "my_hf_...": the prefix is inside a longer word
        m = _TOKEN_RE.match(text, p.start(), end)
        if m is not None and _plausible_token(m) and found.free(m.start(), m.end()):
            found.add("api_key", m.start(), m.end())
            hit = True
            pos = m.end()
    if not hit and _is_assigned_secret(text, start, end, seg):
        found.add("api_key", start, end)
    return end


def _jwt_at(text: str, start: int) -> tuple[int, int] | None:
    if not text.startswith("eyJ", start):
        return None
    if start > 1 and text[start - 1] == ".":
        # this run is the payload: the header before it was too short to be a run of its own
        head = text[max(0, start - 257) : start - 1]
        start -= 1 + len(head) - len(head.rstrip(_B64URL))
    m = _JWT_RE.match(text, start)
    return None if m is None else (start, m.end())


def _plausible_token(m: re.Match[str]) -> bool:
    kind = m.lastgroup
    value = m.group()
    if kind in ("openai", "anthropic"):
        # "sk-" also starts ordinary hyphenated words; real keys are random base62 soup
        return _has_classes(value, upper=True, lower=True, digit=True)
    if kind == "slack":
        return any(c.isdigit() for c in value)
    if kind == "hf":
        return _has_classes(value, upper=True, lower=True, digit=False)
    return True


def _has_classes(value: str, *, upper: bool, lower: bool, digit: bool) -> bool:
    return (
        (not upper or any(c.isupper() for c in value))
        and (not lower or any(c.islower() for c in value))
        and (not digit or any(c.isdigit() for c in value))
    )


def _is_assigned_secret(text: str, start: int, end: int, seg: bytes) -> bool:
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
    if _IDENTIFIER_RE.fullmatch(value) or len(_CAMEL_WORD_RE.findall(value)) >= 2:
        return False  # snake_case / CONSTANT / CamelCase names such as PKCS7PrivateKeyTypes
    return _entropy(value) >= _MIN_ENTROPY


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
    if not rest.endswith(_SECRET_NAMES):
        return False
    for name in _SECRET_NAMES:
        if rest.endswith(name) and _word_ends(rest, name):
            return not flag or rest[: -len(name)].endswith("-")
    return False


def _word_ends(text: str, word: str) -> bool:
    i = len(text) - len(word) - 1
    return i < 0 or not text[i].isalnum()


def _entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())
