"""Digit clusters: payment cards, IBANs and national IDs (labelled or self-checking)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, TypeAlias

from router.detectors._shared import (
    _NON_DIGITS,
    _NUM_START,
    _SSN_RE,
    _UPPER,
    _Findings,
)
from router.detectors.phones import _phones
from router.detectors.validators import (
    _LABELLED_VALIDATORS,
    _valid_card,
    _valid_cf,
    _valid_dni,
    _valid_iban,
    _valid_nie,
    _valid_nino,
    _valid_nir,
    _valid_ssn,
)
from router.models import DetectorKind

_Validator: TypeAlias = Callable[[str], bool]

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
_CARD_RE: Final = re.compile(
    _NUM_START
    + r"(?:[0-9]{4}(?P<s>[ -]?)[0-9]{4}(?P=s)[0-9]{4}(?P=s)[0-9]{1,4}(?:(?P=s)[0-9]{1,3})?"
    r"|[0-9]{4}(?P<t>[ -]?)[0-9]{6}(?P=t)[0-9]{4,5})(?![0-9])",
    re.ASCII,
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
