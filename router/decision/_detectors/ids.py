"""National IDs: the formats with letters (NINO, NIE, DNI, codice fiscale) and the numeric
ones a label names (SSN, BSN, Aadhaar, Steuer-ID, NIR, DNI), with any separator people use.

A label says what the number is, so after one the value is read from the label on, in
groups of digits with one separator repeated: none, blanks, a tab, a line break, a comma,
``-``, ``.``, ``/`` or `` - `` (a spreadsheet paste, one group per line); the checksum
(python-stdnum) then decides. Without a label only the tight formats count (`digits`):
a NINO's letters and pairs, an SSN's dashes, a compact NIR, each checked the same way.
"""

from __future__ import annotations

import re
from typing import Final

from router.decision._detectors._shared import _Findings
from router.decision._detectors.validators import (
    _LABELLED_VALIDATORS,
    _valid_cf,
    _valid_dni,
    _valid_nie,
    _valid_nino,
    _valid_nir,
)

# One separator between the groups of an ID, the same throughout (a backreference): none,
# one of " .-", blanks, " - ", a tab or a line break.
_ID_SEP: Final = r"(?:[ .-]?| {2,}| - |[ \t]*\t[ \t]*|[ \t]*\r?\n[ \t]*)"
# official prefix rules: no D F I Q U V; no O second; BG GB KN NK NT TN ZZ never issued
_NINO_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?<!BG|GB|KN|NK|NT|TN|ZZ)"
    rf"(?P<s>{_ID_SEP})[0-9]{{2}}(?P=s)[0-9]{{2}}(?P=s)[0-9]{{2}}(?P=s)[A-D](?![A-Za-z0-9])",
    re.ASCII | re.IGNORECASE,
)
# not followed by an exponent: "99585767E-23" is a float
_NIE_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[XYZ][ .-]?[0-9]{7}[ .-]?[A-Z](?![A-Za-z0-9]|[+-][0-9])",
    re.ASCII | re.IGNORECASE,
)
_DNI_RE: Final = re.compile(
    r"(?<![A-Za-z0-9.+-])[0-9]{8}[ .-]?[A-Z](?![A-Za-z0-9]|[+-][0-9])",
    re.ASCII | re.IGNORECASE,
)
_CF_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{6}[0-9]{2}[ABCDEHLMPRST][0-9]{2}[A-Z][0-9]{3}[A-Z](?![A-Za-z0-9])",
    re.ASCII | re.IGNORECASE,
)
# a compact NIR of someone born in Corsica: department 2A or 2B, where the letter stands
_CORSICAN_NIR_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[1-478][0-9]{2}(?:0[1-9]|1[0-2]|[2-9][0-9])2[ABab][0-9]{8}(?![A-Za-z0-9])"
)
_COMPACT: Final = str.maketrans("", "", " .-\t\r\n")

# --- labelled IDs -------------------------------------------------------------------------
_LABEL_RE: Final = re.compile(
    r"(?P<ssn>\bssn\b|social security)"
    r"|(?P<bsn>\bbsn\b|burgerservicenummer|sofinummer)"
    r"|(?P<aadhaar>aadhaa?r|\buidai\b)"
    r"|(?P<idnr>steuer-?id|steueridentifikationsnummer|\bidnr\b|identifikationsnummer)"
    r"|(?P<nir>\bnir\b|\binsee\b|s[ée]curit[ée] sociale)"
    r"|(?P<dni>\bdni\b|\bnif\b)",
)
_LABEL_HINTS: Final = (
    "ssn", "social", "bsn", "sofi", "aadha", "uid", "steuer", "idnr", "nir", "insee", "dni",
    "nif",
)  # fmt: skip
LABEL_WINDOW: Final = 48  # a label ends at most this far before the digits that follow it
_LABEL_GAP: Final = 24  # "SSN of the new customer: " -- at most this between label and value
_LABEL_LENGTHS: Final = {"ssn": 9, "bsn": 9, "aadhaar": 12, "idnr": 11, "nir": 15, "dni": 8}
# groups of digits, one separator repeated; a NIR's department may be 2A or 2B (Corsica)
_GROUP_SEP: Final = r"(?:[ \t]*[-./,][ \t]*|[ \t]+|[ \t]*\r?\n[ \t]*)"
_GROUPED_RE: Final = re.compile(rf"[0-9]+(?:(?P<s>{_GROUP_SEP})[0-9]+(?:(?P=s)[0-9]+)*+)?+")
_GROUPED_NIR_RE: Final = re.compile(
    rf"[0-9AaBb]+(?:(?P<s>{_GROUP_SEP})[0-9AaBb]+(?:(?P=s)[0-9AaBb]+)*+)?+"
)
_DNI_LETTER_RE: Final = re.compile(rf"{_GROUP_SEP}?[A-Za-z](?![A-Za-z0-9])")
_DIGIT_RE: Final = re.compile(r"[0-9]")
_READ_MAX: Final = 64  # characters of a labelled value read (an ID with separators is shorter)


def labelled(text: str, start: int, found: _Findings) -> None:
    """An ID that a label before `start` (the first digits of a number) names."""
    lo = max(0, start - LABEL_WINDOW)
    window = text[lo:start].lower()
    for hint in _LABEL_HINTS:  # a loop, not any(): this runs for every cluster of digits
        if hint in window:
            break
    else:
        return
    label = None
    for m in _LABEL_RE.finditer(window):
        label = m
    if label is None:
        return
    kind = label.lastgroup or ""  # every alternative is a named group
    # the value starts at the label's first digit after it ("SSN (US): 123 45 6789")
    d = _DIGIT_RE.search(text, lo + label.end(), start + 1)
    if d is None or d.start() - (lo + label.end()) > _LABEL_GAP:
        return
    _read_labelled(text, d.start(), kind, found)


def _read_labelled(text: str, start: int, kind: str, found: _Findings) -> None:
    pattern = _GROUPED_NIR_RE if kind == "nir" else _GROUPED_RE
    m = pattern.match(text, start, min(len(text), start + _READ_MAX))
    if m is None or (start and text[start - 1].isalnum()):
        return
    want, sep = _LABEL_LENGTHS[kind], m.group("s") or ""
    digits, end, sizes = "", start, []
    for group in m.group().split(sep) if sep else (m.group(),):
        digits += group
        end += len(group)
        sizes.append(len(group))
        if len(digits) >= want:
            break
        end += len(sep)
    if len(digits) != want:
        return
    if kind == "ssn" and len(sizes) > 1 and sizes != [3, 2, 4]:
        return  # "Social Security paid out 123,456,789": an amount, not an SSN
    if kind == "dni":
        letter = _DNI_LETTER_RE.match(text, end)
        if letter is None:
            return
        digits += letter.group()[-1]
        end = letter.end()
    elif end < len(text) and text[end].isalnum():
        return  # the groups read run on into more digits or a word
    if found.free(start, end) and _LABELLED_VALIDATORS[kind](digits.upper()):
        found.add("national_id", start, end)


# --- the formats with letters -------------------------------------------------------------


def letter_formats(text: str, cs: int, before: bytes, after: bytes, found: _Findings) -> None:
    """NINO, NIE or DNI around the digit cluster starting at `cs` (`before`/`after`: the
    shape of the characters just around it)."""
    if b"A" not in before + after and b"a" not in after:
        return
    for pattern, offsets, valid in (
        (_NINO_RE, (2, 3, 4), _valid_nino),
        (_NIE_RE, (1, 2), _valid_nie),
        (_DNI_RE, (0,), _valid_dni),
    ):
        for off in offsets:
            hit = pattern.match(text, cs - off) if cs >= off else None
            if (
                hit is not None
                and found.free(hit.start(), hit.end())
                and valid(hit.group().upper().translate(_COMPACT))
            ):
                found.add("national_id", hit.start(), hit.end())
                return


def nino_near(text: str, at: int, found: _Findings) -> None:
    """A NINO whose pairs are split by a tab, line breaks or wide blanks, around `at` (its
    first pair)."""
    m = _NINO_RE.search(text, max(0, at - 8), min(len(text), at + 40))
    if m is not None and found.free(m.start(), m.end()):
        found.add("national_id", m.start(), m.end())


def corsican_nir(text: str, start: int, found: _Findings) -> None:
    """A compact NIR whose department is 2A or 2B, starting at `start`."""
    m = _CORSICAN_NIR_RE.match(text, start)
    if m is not None and found.free(*m.span()) and _valid_nir(m.group().upper()):
        found.add("national_id", *m.span())


def codice_fiscale(text: str, start: int, found: _Findings) -> None:
    if start < 0:
        return
    m = _CF_RE.match(text, start)
    if m is not None and found.free(start, m.end()) and _valid_cf(m.group().upper()):
        found.add("national_id", start, m.end())
