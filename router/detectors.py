"""Fast PII and secret detectors for the routing hot path.

No regex ever scans the whole prompt, since CPython's regex engine costs ~10 ns per character
tried: the text is mapped once through two byte tables (digits -> ``0``, letters -> ``A``/``a``;
token characters -> ``w``) and literal searches running at memchr speed find the few spans worth
a look (runs of 3+ digits, runs of 16+ token characters, ``@``, ``-----BEGIN``). Only those spans
meet the precise regexes and then the python-stdnum / phonenumbers validators, which are imported
on first use (or by `warm_up`) so that importing this module stays cheap.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from typing import Final, TypeAlias, get_args

from router.models import DetectorKind

__all__ = ["detect", "warm_up"]

_KINDS: Final[tuple[DetectorKind, ...]] = get_args(DetectorKind)
_Validator: TypeAlias = Callable[[str], bool]

_DIGIT, _UPPER, _LOWER, _WORD = b"0Aaw"
_SHAPE: Final = bytes(
    _DIGIT if 48 <= b <= 57 else _UPPER if 65 <= b <= 90 else _LOWER if 97 <= b <= 122 else b
    for b in range(256)
)
_TOKEN_BYTES: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/"
)
_MASK: Final = bytes(_WORD if b in _TOKEN_BYTES else 32 for b in range(256))
_RUN: Final = b"w" * 16  # shortest token we look for (AWS key id = 20, JWT header >= 16)

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

# --- email --------------------------------------------------------------------------------
_LOCAL_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
_DOMAIN_RE: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})"
    # not followed by more domain, a call/index (``x@w.T(``) or an scp path (``git@host:repo``)
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9]|[(\[]|:[A-Za-z0-9~/])",
    re.ASCII,
)
_FILE_TLDS: Final = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "avif"})

# --- digit clusters -----------------------------------------------------------------------
# In the shape string: >= 6 digits with short separators; ``000A``, the end of a codice
# fiscale; or ``00 00 00``, as French-style phones and spaced NINOs have no 3-digit run.
_ANCHOR_RE: Final = re.compile(rb"00(?:0(?:[ .()/-]{0,2}0){3,}+|0A| 00 00)")
_CLUSTER: Final = b"0 .-()/+"
_LEAD_TRIM: Final = b" .-)/"
_TAIL_TRIM: Final = b" .-(/+"
_GLUE: Final = frozenset(b"a_")  # lowercase/underscore next to digits: hex, identifiers
_DIGIT_UUID: Final = b"00000000-0000-0000-0000-0"
_DATES: Final = frozenset(
    d + t
    for d in (b"0000-00-00", b"0000/00/00", b"0000.00.00", b"00.00.0000", b"00/00/0000")
    for t in (b"", b" 00", b"-00")
)

_IBAN_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?"
    r"(?![A-Za-z0-9])",
    re.ASCII,
)
_NINO_RE: Final = re.compile(
    # official prefix rules: no D F I Q U V; no O second; BG GB KN NK NT TN ZZ never issued
    r"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?<!BG|GB|KN|NK|NT|TN|ZZ)"
    r"[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[A-D](?![A-Za-z0-9])",
    re.ASCII,
)
# not followed by an exponent: "99585767E-23" is a float
_NIE_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[XYZ]-?[0-9]{7}-?[A-Z](?![A-Za-z0-9]|[+-][0-9])", re.ASCII
)
_DNI_RE: Final = re.compile(
    r"(?<![A-Za-z0-9.+-])[0-9]{8}-?[A-Z](?![A-Za-z0-9]|[+-][0-9])", re.ASCII
)
_CF_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{6}[0-9]{2}[ABCDEHLMPRST][0-9]{2}[A-Z][0-9]{3}[A-Z](?![A-Za-z0-9])",
    re.ASCII,
)
_NUM_START: Final = r"(?<![0-9])(?<![0-9][.,])"  # digits after a decimal point are a fraction
# "4.850 870 209 5432", "978-0137-02741-5": one group in a longer run of digit groups
_IN_GROUPS: Final = r"(?<![0-9][ .-])"
_CARD_RE: Final = re.compile(
    _NUM_START
    + r"(?:[0-9]{4}(?P<s>[ -]?)[0-9]{4}(?P=s)[0-9]{4}(?P=s)[0-9]{1,4}(?:(?P=s)[0-9]{1,3})?"
    r"|[0-9]{4}(?P<t>[ -]?)[0-9]{6}(?P=t)[0-9]{4,5})(?![0-9])",
    re.ASCII,
)
_SSN_RE: Final = re.compile(
    _NUM_START + _IN_GROUPS + r"[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9]|-[0-9])", re.ASCII
)
_NIR_RE: Final = re.compile(
    _NUM_START
    + r"[1-478] [0-9]{2} (?:0[1-9]|1[0-2]|[2-9][0-9]) [0-9]{2} [0-9]{3} [0-9]{3} [0-9]{2}"
    r"(?![0-9])",
    re.ASCII,
)
_LABEL_RE: Final = re.compile(
    r"(?P<ssn>\bssn\b|social security)"
    r"|(?P<bsn>\bbsn\b|burgerservicenummer|sofinummer)"
    r"|(?P<aadhaar>aadhaa?r|\buidai\b)"
    r"|(?P<idnr>steuer-?id|steueridentifikationsnummer|\bidnr\b|identifikationsnummer)"
    r"|(?P<nir>\bnir\b|\binsee\b|s[ée]curit[ée] sociale)",
)
_LABEL_HINTS: Final = (
    "ssn",
    "social",
    "bsn",
    "sofi",
    "aadha",
    "uid",
    "steuer",
    "idnr",
    "nir",
    "insee",
)
_LABEL_WINDOW: Final = 32
_LABEL_LENGTHS: Final = {"ssn": 9, "bsn": 9, "aadhaar": 12, "idnr": 11, "nir": 15}

_NANP_RE: Final = re.compile(
    _NUM_START + r"(?:\([2-9][0-9]{2}\)[ ]?[2-9][0-9]{2}[ .-][0-9]{4}"
    r"|[2-9][0-9]{2}(?P<s>[ .-])[2-9][0-9]{2}(?P=s)[0-9]{4}(?!(?P=s)[0-9]))(?![0-9])",
    re.ASCII,
)
_TRUNK_RE: Final = re.compile(
    _NUM_START + _IN_GROUPS + r"(?:\(0[1-9][0-9]{0,4}\)[ ]?[0-9]{2,5}(?:[ -][0-9]{2,5}){0,3}"
    r"|0[1-9][0-9]{0,4}(?P<s>[ .-])[0-9]{2,8}(?:(?P=s)[0-9]{2,5}){0,4})(?![0-9])",
    re.ASCII,
)
# Where a number written with a leading trunk 0 most likely comes from, tried in order.
_TRUNK_COUNTRIES: Final = (44, 49, 33, 31, 32, 43, 41, 61, 353, 39)
_ZIP4_RE: Final = re.compile(r"[0-9]{5}-[0-9]{4}")
# Dotted national numbers are French (01.23.45.67.89); other dotted runs are ids and decimals.
_DOTTED_RE: Final = re.compile(r"0[1-9](?:\.[0-9]{2}){4}")
_NON_DIGITS: Final = str.maketrans("", "", " .-()/+")


class _Findings:
    """Counts per kind plus the spans already claimed, so one string is counted once.

    Claimed spans never overlap, so sorted by start they are sorted by end too and one
    bisection answers "is this span free?" (a CSV of 500 emails must not go quadratic).
    """

    __slots__ = ("counts", "ends", "starts")

    def __init__(self) -> None:
        self.counts: dict[DetectorKind, int] = {}
        self.starts: list[int] = []
        self.ends: list[int] = []

    def free(self, start: int, end: int) -> bool:
        i = bisect_right(self.starts, start)
        return (i == 0 or self.ends[i - 1] <= start) and (
            i == len(self.starts) or self.starts[i] >= end
        )

    def count(self, kind: DetectorKind) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def add(self, kind: DetectorKind, start: int, end: int) -> None:
        self.count(kind)
        i = bisect_right(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


def detect(text: str) -> dict[DetectorKind, int]:
    """Count findings per kind. Never returns or stores the matched text."""
    if len(text) < 6:
        return {}
    raw = text.encode("ascii", "replace")  # one byte per code point: offsets stay aligned
    shape = raw.translate(_SHAPE)
    found = _Findings()
    if "-----BEGIN" in text:
        _private_keys(text, found)
    hex_runs = _tokens(text, raw, shape, found)
    if "@" in text:
        _emails(text, found)
    if hex_runs:
        # SHAs and UUIDs are full of digit pairs: blank them so the digit search skips them
        blanked = bytearray(shape)
        for start, end in hex_runs:
            blanked[start:end] = b"a" * (end - start)
        shape = bytes(blanked)
    _digit_clusters(text, shape, found)
    counts = found.counts
    return {kind: counts[kind] for kind in _KINDS if kind in counts}


def warm_up() -> None:
    """Import the validators now (~0.1 s) instead of on the first prompt that needs them."""
    import phonenumbers  # noqa: F401, PLC0415
    from stdnum import iban, luhn  # noqa: F401, PLC0415
    from stdnum.de import idnr  # noqa: F401, PLC0415
    from stdnum.es import dni, nie  # noqa: F401, PLC0415
    from stdnum.fr import nir  # noqa: F401, PLC0415
    from stdnum.in_ import aadhaar  # noqa: F401, PLC0415
    from stdnum.it import codicefiscale  # noqa: F401, PLC0415
    from stdnum.nl import bsn  # noqa: F401, PLC0415
    from stdnum.us import ssn  # noqa: F401, PLC0415


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


# --- email --------------------------------------------------------------------------------


def _emails(text: str, found: _Findings) -> None:
    i = text.find("@")
    while i != -1:
        nxt = i + 1
        if i and text[i - 1] in _LOCAL_CHARS:
            m = _DOMAIN_RE.match(text, i + 1)
            if m is not None and m.group(1).lower() not in _FILE_TLDS:
                head = text[max(0, i - 64) : i]
                local = head[len(head.rstrip(_LOCAL_CHARS)) :].lstrip("._%+-")
                start = i - len(local)
                if (
                    local
                    and not local.endswith(".")
                    and ".." not in local
                    and not _in_url_userinfo(text, start)
                    and found.free(start, m.end())
                ):
                    found.add("email", start, m.end())
                    nxt = m.end()
        i = text.find("@", nxt)


def _in_url_userinfo(text: str, start: int) -> bool:
    """``scheme://user:pass@host`` is a credentialed URL, not an email address."""
    j = text.rfind("://", max(0, start - 64), start)
    if j == -1:
        return False
    between = text[j + 3 : start]
    return not any(c in between for c in " \t\r\n/?&=")


# --- digit clusters -----------------------------------------------------------------------


def _digit_clusters(text: str, shape: bytes, found: _Findings) -> None:
    size = len(shape)
    pos = 0
    while (m := _ANCHOR_RE.search(shape, pos)) is not None:
        a, pos = m.span()
        left = shape[a - 1] if a else 32
        if shape[pos - 1] == _UPPER:
            _codice_fiscale(text, a - 12, found)
            continue
        if left in _GLUE and pos < size and shape[pos] in _GLUE:
            continue  # hex or an identifier
        if left not in _CLUSTER and m.group() in _DATES:
            continue  # dates are by far the most common anchor: skip them before any work
        cs, ce = _cluster_bounds(shape, a)
        if cs == ce:
            # a wall of digits (tables, dumps) holds no identifier we could delimit: skip it
            rest = shape[a:]
            pos = a + len(rest) - len(rest.lstrip(_CLUSTER))
            continue
        pos = max(pos, ce)
        if ce - cs >= 6 and found.free(cs, ce):
            _cluster(text, shape, cs, ce, found)


def _cluster_bounds(shape: bytes, a: int) -> tuple[int, int]:
    head = shape[max(0, a - 40) : a]
    back = len(head) - len(head.rstrip(_CLUSTER))
    tail = shape[a : a + 80]
    ahead = len(tail) - len(tail.lstrip(_CLUSTER))
    if back == 40 or ahead == 80:
        return a, a
    cs, ce = a - back, a + ahead
    while cs < ce and shape[cs] in _LEAD_TRIM:
        cs += 1
    while ce > cs and shape[ce - 1] in _TAIL_TRIM:
        ce -= 1
    if ce > cs and shape[ce - 1] == 41 and shape.count(b"(", cs, ce) < shape.count(b")", cs, ce):
        ce -= 1  # closing parenthesis of the surrounding prose, not of an area code
    return cs, ce


def _cluster(text: str, shape: bytes, cs: int, ce: int, found: _Findings) -> None:
    left = shape[cs - 1] if cs else 32
    right = shape[ce] if ce < len(shape) else 32
    if left in _GLUE or right in _GLUE:
        return  # digits glued to a lowercase word: hex (SHAs, UUIDs), identifiers
    core = shape[cs:ce]
    if core in _DATES or _DIGIT_UUID in core:
        return
    if b"A" in shape[max(0, cs - 3) : cs] or b"A" in shape[ce : ce + 2]:
        _letter_formats(text, shape, cs, ce, found)
    if _UPPER in (left, right):
        return
    digits = shape.count(b"0", cs, ce)
    if digits >= 13:
        _spans(text, (cs, ce), _CARD_RE, found, kind="payment_card", valid=_valid_card)
    if digits >= 9 and "-" in text[cs:ce]:
        _spans(text, (cs, ce), _SSN_RE, found, kind="national_id", valid=_valid_ssn)
    if digits >= 15:
        _spans(text, (cs, ce), _NIR_RE, found, kind="national_id", valid=_valid_nir)
    if digits >= 9:
        _labelled(text, cs, ce, found)
    if digits >= 9 or b"+" in core:
        _phones(text, cs, ce, found)


def _spans(
    text: str,
    span: tuple[int, int],
    pattern: re.Pattern[str],
    found: _Findings,
    *,
    kind: DetectorKind,
    valid: _Validator,
) -> None:
    for m in pattern.finditer(text, *span):
        if found.free(m.start(), m.end()) and valid(m.group()):
            found.add(kind, m.start(), m.end())


def _letter_formats(text: str, shape: bytes, cs: int, ce: int, found: _Findings) -> None:
    if b"AA" in shape[max(0, cs - 36) : cs + 2]:
        tail = shape[ce : ce + 40]
        we = ce + len(tail) - len(tail.lstrip(b"A0 "))
        for m in _IBAN_RE.finditer(text, max(0, cs - 36), we):
            # only an IBAN that contains this cluster: others get their own cluster
            if m.end() > cs and found.free(m.start(), m.end()) and _valid_iban(m.group()):
                found.add("iban", m.start(), m.end())
    for pattern, offsets, valid in (
        (_NINO_RE, (2, 3), _valid_nino),
        (_NIE_RE, (1, 2), _valid_nie),
        (_DNI_RE, (0,), _valid_dni),
    ):
        for off in offsets:
            hit = pattern.match(text, cs - off) if cs >= off else None
            if hit is not None and found.free(hit.start(), hit.end()) and valid(hit.group()):
                found.add("national_id", hit.start(), hit.end())
                return


def _codice_fiscale(text: str, start: int, found: _Findings) -> None:
    if start < 0:
        return
    m = _CF_RE.match(text, start)
    if m is not None and found.free(start, m.end()) and _valid_cf(m.group()):
        found.add("national_id", start, m.end())


def _labelled(text: str, cs: int, ce: int, found: _Findings) -> None:
    window = text[max(0, cs - _LABEL_WINDOW) : cs].lower()
    if not any(hint in window for hint in _LABEL_HINTS):
        return
    label = None
    for m in _LABEL_RE.finditer(window):
        label = m.lastgroup
    if label is None:
        return
    want = _LABEL_LENGTHS[label]
    value = text[cs:ce]
    first = value.split(" ", 1)[0]
    for candidate in (value, first):
        digits = candidate.translate(_NON_DIGITS)
        end = cs + len(candidate)
        if len(digits) == want and digits.isdigit() and found.free(cs, end):
            if _LABELLED_VALIDATORS[label](digits):
                found.add("national_id", cs, end)
            return


def _phones(text: str, cs: int, ce: int, found: _Findings) -> None:
    value = text[cs:ce]
    plus = value.find("+")
    while plus != -1:
        # "+ 252344137" is arithmetic; a dialling prefix is glued to the country code
        end = _international_phone(value, plus) if value[plus + 1 : plus + 2].isdigit() else 0
        if end and found.free(cs + plus, cs + end):
            found.add("phone", cs + plus, cs + end)
        plus = value.find("+", max(end, plus + 1))
    for m in _NANP_RE.finditer(text, cs, ce):
        start = _nanp_start(text, m)
        if start >= 0 and found.free(start, m.end()) and _valid_national(m.group(), (1,)):
            found.add("phone", start, m.end())
    if "0" in value:
        for m in _TRUNK_RE.finditer(text, cs, ce):
            number = m.group()
            if _SSN_RE.fullmatch(number) or _ZIP4_RE.fullmatch(number):
                continue  # failed SSNs and US ZIP+4 codes (02110-1301) are not phones either
            if "." in number and not _DOTTED_RE.fullmatch(number):
                continue
            if found.free(m.start(), m.end()) and _valid_national(number, _TRUNK_COUNTRIES):
                found.add("phone", m.start(), m.end())


def _nanp_start(text: str, m: re.Match[str]) -> int:
    """Start of a NANP number including a leading "1 " / "1-", or -1 if it is embedded.

    "1.520 993 1551" (a constant's digits) is embedded; "1-415-555-2671" is not.
    """
    s = m.start()
    if s < 2 or not text[s - 2].isdigit() or text[s - 1] not in " .-":
        return s
    own = m.group("s") or " -"
    trunk_one = text[s - 2] == "1" and (s < 3 or text[s - 3] in " \t\n(:+")
    return s - 2 if trunk_one and text[s - 1] in own else -1


def _international_phone(value: str, plus: int) -> int:
    """End offset of a valid ``+CC ...`` number starting at ``plus``, or 0.

    The cluster may run on into an unrelated number ("+1 415 555 2671 2024"), so trailing
    groups are dropped one at a time until the rest validates.
    """
    import phonenumbers  # noqa: PLC0415

    tail = value[plus + 1 :]
    if tail.count(".") == 1 and tail.replace(".", "").isdigit():
        return 0  # "+35236450.6" is a signed decimal
    end = value.find("+", plus + 1)
    if end == -1:
        end = len(value)
    for _ in range(4):
        # "(0)" is the trunk prefix some write inside international numbers
        digits = value[plus:end].replace("(0)", "").translate(_NON_DIGITS)
        if len(digits) < 7:
            return 0
        if end - plus > 2 and value[end - 2] in " -.":
            end -= 2  # a lone trailing digit ("+352 36450.6") is not part of a number
            continue
        # country codes are prefix-free, so at most one of the 1-3 digit prefixes is one
        for n in (1, 2, 3):
            cc = int(digits[:n])
            if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                national = digits[n:]
                if cc != 39 and national.startswith("0"):
                    national = national[1:]
                if _is_valid_phone(cc, national):
                    return end
                break
        cut = max(value.rfind(c, plus, end) for c in " -.")
        if cut <= plus:
            return 0
        end = cut
    return 0


def _valid_national(value: str, countries: tuple[int, ...]) -> bool:
    digits = value.translate(_NON_DIGITS)
    if countries == (1,):
        return _is_valid_phone(1, digits[-10:])
    if not 9 <= len(digits) <= 12:
        return False
    # Italian numbers keep their leading zero; everywhere else it is the trunk prefix
    return any(_is_valid_phone(cc, digits if cc == 39 else digits[1:]) for cc in countries)


def _is_valid_phone(cc: int, national: str) -> bool:
    """phonenumbers' own validity check, on a number built directly (skipping its parser)."""
    import phonenumbers  # noqa: PLC0415

    if not national.isdigit() or len(national) > 17:
        return False
    number = phonenumbers.PhoneNumber(country_code=cc, national_number=int(national))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros and len(national) > 1:  # as parse() records it, e.g. Italian 06 ...
        number.italian_leading_zero = True
        number.number_of_leading_zeros = min(zeros, len(national) - 1)
    return bool(phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number))


# --- validators (python-stdnum, imported on first use) ------------------------------------


def _valid_card(value: str) -> bool:
    from stdnum import luhn  # noqa: PLC0415

    digits = value.translate(_NON_DIGITS)
    if len(digits) == len(value) and len(digits) not in (15, 16):
        return False  # unseparated 13/17-19 digit runs are mostly seeds, ids and timestamps
    return _plausible_iin(digits) and bool(luhn.is_valid(digits))


def _plausible_iin(d: str) -> bool:
    n, p2, p3, p4 = len(d), int(d[:2]), int(d[:3]), int(d[:4])
    if d[0] == "4":  # Visa (13-digit cards are long gone)
        return n in (16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p2 == 36 or 300 <= p3 <= 305 or p4 == 3095 or p2 in (38, 39):  # Diners Club
        return 14 <= n <= 19
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763):  # Maestro
        return 13 <= n <= 19
    # Discover, JCB, UnionPay, Mir
    return 16 <= n <= 19 and (
        p4 == 6011 or 644 <= p3 <= 649 or p2 in (62, 65) or 3528 <= p4 <= 3589 or 2200 <= p4 <= 2204
    )


def _valid_iban(value: str) -> bool:
    from stdnum import iban  # noqa: PLC0415

    return bool(iban.is_valid(value))


def _valid_ssn(value: str) -> bool:
    from stdnum.us import ssn  # noqa: PLC0415

    return bool(ssn.is_valid(value))


def _valid_nir(value: str) -> bool:
    from stdnum.fr import nir  # noqa: PLC0415

    return bool(nir.is_valid(value))


def _valid_idnr(value: str) -> bool:
    from stdnum.de import idnr  # noqa: PLC0415

    return bool(idnr.is_valid(value))


def _valid_bsn(value: str) -> bool:
    from stdnum.nl import bsn  # noqa: PLC0415

    return bool(bsn.is_valid(value))


def _valid_aadhaar(value: str) -> bool:
    from stdnum.in_ import aadhaar  # noqa: PLC0415

    return bool(aadhaar.is_valid(value))


def _valid_dni(value: str) -> bool:
    from stdnum.es import dni  # noqa: PLC0415

    return bool(dni.is_valid(value))


def _valid_nie(value: str) -> bool:
    from stdnum.es import nie  # noqa: PLC0415

    return bool(nie.is_valid(value))


def _valid_cf(value: str) -> bool:
    from stdnum.it import codicefiscale  # noqa: PLC0415

    return bool(codicefiscale.is_valid(value))


def _valid_nino(value: str) -> bool:
    return True  # no check digit exists; the regex already enforces the allocation rules


_LABELLED_VALIDATORS: Final = {
    "ssn": _valid_ssn,
    "bsn": _valid_bsn,
    "aadhaar": _valid_aadhaar,
    "idnr": _valid_idnr,
    "nir": _valid_nir,
}
