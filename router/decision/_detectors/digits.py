"""Digit clusters: IBANs, national IDs (labelled or self-checking, read by `ids`) and phones;
cards are scanned on their own (`cards`) between the formats with letters and the numeric
ones. Runs of digit groups split by tabs, commas or line breaks (a spreadsheet paste, one
group per line) are no clusters: only a labelled ID or a NINO is read there (`_wide`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Final, TypeAlias

from router._models import DetectorKind
from router.decision._detectors._shared import (
    _NUM_START,
    _SSN_RE,
    _UPPER,
    _Findings,
)
from router.decision._detectors.cards import _cards
from router.decision._detectors.ibans import _ibans_near, iban_head_near
from router.decision._detectors.ids import (
    codice_fiscale,
    corsican_nir,
    labelled,
    letter_formats,
    nino_near,
)
from router.decision._detectors.phones import _phones
from router.decision._detectors.validators import _valid_nir, _valid_ssn

_Validator: TypeAlias = Callable[[str], bool]

# --- digit clusters -----------------------------------------------------------------------
# In the shape string: >= 6 digits with short separators; ``000A``, the end of a codice
# fiscale; or ``00 00 00`` (also with dots, dashes, slashes or two blanks), as French-style
# phones and NINOs have no 3-digit run. Or (group `w`) two digits, then a tab, a comma, a
# line break or `` - `` before a digit or a capital: the groups of an ID pasted from a
# spreadsheet or one per line; only IDs are read there (`_wide`), not phones or amounts.
_ANCHOR_RE: Final = re.compile(
    rb"00(?:0(?:[ .()/-]{0,3}0){3,}+|0[Aa]|(?P<p>[ ./-]| {2})00(?P=p)00"
    rb"|(?P<w>(?:[\t,]|\r?\n| - )[ \t]*+[0A]))"
)
# the rest of such a run: digits joined by those separators (read once, at its first anchor)
_WIDE_RUN: Final = re.compile(rb"(?:0++|[ \t]*+(?:[\t,]|\r?\n)[ \t]*+| - )*+")
_CLUSTER: Final = b"0 .-()/+"
_CLUSTER_RUN: Final = re.compile(rb"[0 .()/+-]*+")
_LEAD_TRIM: Final = b" .-)/"
_TAIL_TRIM: Final = b" .-(/+"
_LETTERS: Final = frozenset(b"Aa")
_TWO_LETTERS: Final = frozenset((b"AA", b"Aa", b"aA", b"aa"))
_GLUE: Final = frozenset(b"a_")
_HEXISH: Final = "abcdef_"  # lowercase/underscore next to digits: hex, identifiers
_DIGIT_UUID: Final = b"00000000-0000-0000-0000-0"
_DATES: Final = frozenset(
    d + t
    for d in (b"0000-00-00", b"0000/00/00", b"0000.00.00", b"00.00.0000", b"00/00/0000")
    for t in (b"", b" 00", b"-00")
)
# a compact or grouped NIR (French social security number) needs no label
_NIR_RE: Final = re.compile(
    _NUM_START + r"[1-478](?P<s>[ ./-]?)[0-9]{2}(?P=s)(?:0[1-9]|1[0-2]|[2-9][0-9])(?P=s)[0-9]{2}"
    r"(?P=s)[0-9]{3}(?P=s)[0-9]{3}(?P=s)[0-9]{2}(?![0-9])",
    re.ASCII,
)


def _digit_clusters(text: str, shape: bytes, start: int, found: _Findings) -> None:
    """Everything made of digits: IBANs and other formats with letters first, then cards
    (their own scan, every group start), then numeric IDs and phones per cluster.

    `start` is the first digit. A cluster is a maximal run of digits and short separators
    around an anchor, of any length (a table of numbers is one cluster); clusters never
    overlap, so each character is read a bounded number of times.
    """
    wide: list[int] = []
    clusters = list(_clusters(text, shape, start, wide))
    checked: set[int] = set()  # IBAN heads already read
    for cs, ce in clusters:
        if _letters_near(shape, cs, ce):
            _letter_formats(text, shape, (cs, ce), found, checked)
    _cards(text, shape, start, found, checked)
    for cs, ce in clusters:
        _numeric(text, shape, cs, ce, found)
    for a in wide:
        _wide(text, shape, a, found)


def _clusters(text: str, shape: bytes, start: int, wide: list[int]) -> Iterator[tuple[int, int]]:
    """The clusters from `start` on; the starts of the runs with wide separators go to
    `wide`."""
    pos, prev_end = start, 0
    while (m := _ANCHOR_RE.search(shape, pos)) is not None:
        a, pos = m.span()
        left = shape[a - 1] if a else 32
        if m.start("w") != -1:
            while a and shape[a - 1] == 48:  # "0": back to the first digit of the group
                a -= 1
            wide.append(a)
            pos = _WIDE_RUN.match(shape, pos).end()  # type: ignore[union-attr]
            continue
        if shape[pos - 1] in _LETTERS:
            yield a - 12, a - 12  # the end of a codice fiscale: its start, empty
            continue
        if a and pos < len(text) and text[a - 1] in _HEXISH and text[pos] in _HEXISH:
            continue  # hex or an identifier ("z2138128f" is a lower-case NIE)
        if left not in _CLUSTER and m.group() in _DATES and _date(text, a):
            continue  # dates are by far the most common anchor: skip them before any work
        # back to the previous cluster at most (clusters are disjoint: linear overall),
        # forward as far as the cluster goes
        head = shape[prev_end:a]
        cs = a - (len(head) - len(head.rstrip(_CLUSTER)))
        ce = _CLUSTER_RUN.match(shape, a).end()  # type: ignore[union-attr]
        while cs < ce and shape[cs] in _LEAD_TRIM:
            cs += 1
        while ce > cs and shape[ce - 1] in _TAIL_TRIM:
            ce -= 1
        if (
            ce > cs
            and shape[ce - 1] == 41
            and shape.count(b"(", cs, ce) < shape.count(b")", cs, ce)
        ):
            ce -= 1  # closing parenthesis of the surrounding prose, not of an area code
        pos = prev_end = max(pos, ce)
        if ce - cs >= 6:
            yield cs, ce


def _date(text: str, at: int) -> bool:
    """Does the date-shaped number at `at` read as one: a year 1xxx or 2xxx first, else a
    day 0-3? "0450-66-71-06" is a Belgian mobile number."""
    year_first = text[at + 4 : at + 5] in ("-", "/", ".")
    return text[at] in ("12" if year_first else "0123")


def _letters_near(shape: bytes, cs: int, ce: int) -> bool:
    if cs == ce:
        return True  # a codice fiscale anchor
    before, after = shape[max(0, cs - 3) : cs], shape[ce : ce + 2]
    # NINO, NIE and DNI end in a letter: in lower case, one must follow ("number 4111 ...")
    return (
        iban_head_near(shape, cs)
        or b"A" in before
        or b"A" in after
        or (b"a" in after and (b"a" in before or after[-1:] == b"a"))
    )


def _letter_formats(
    text: str, shape: bytes, span: tuple[int, int], found: _Findings, checked: set[int]
) -> None:
    cs, ce = span
    if cs == ce:
        codice_fiscale(text, cs, found)
        return
    if iban_head_near(shape, cs):
        _ibans_near(text, cs, found, checked)
    letter_formats(text, cs, shape[max(0, cs - 3) : cs], shape[ce : ce + 2], found)


def _numeric(text: str, shape: bytes, cs: int, ce: int, found: _Findings) -> None:
    if cs == ce:
        return
    core = shape[cs:ce]
    if (core in _DATES and _date(text, cs)) or _DIGIT_UUID in core:
        return
    digits = shape.count(b"0", cs, ce)
    right = shape[ce] if ce < len(shape) else 32
    if digits >= 6:
        # a label says what the number is, even glued ("2A" in a Corsican NIR)
        labelled(text, cs, found)
        if right in _LETTERS and text[ce - 1] == "2":
            corsican_nir(text, ce - 6, found)  # "149082|A00412622"
    left = shape[cs - 1] if cs else 32
    if left in _GLUE or right in _GLUE or _UPPER in (left, right):
        return  # digits glued to a word: hex (SHAs, UUIDs), identifiers, codes
    if digits >= 9 and "-" in text[cs:ce]:
        _spans(text, (cs, ce), _SSN_RE, found, kind="national_id", valid=_valid_ssn)
    if digits >= 15:
        _spans(text, (cs, ce), _NIR_RE, found, kind="national_id", valid=_valid_nir)
    if digits >= 9 or b"+" in core or (digits == 8 and b"(" in core):
        _phones(text, cs, ce, found)  # "(022) 45485": an Irish number has 8 digits


def _wide(text: str, shape: bytes, start: int, found: _Findings) -> None:
    """The run of digit groups at `start` whose separators are tabs, commas, line breaks or
    wide blanks: a labelled ID, or a NINO (its letters just before)."""
    labelled(text, start, found)
    # a NINO's two letters stand just before its first pair, across one separator
    if shape[max(0, start - 6) : start].rstrip(b" \t\r\n.-")[-2:] in _TWO_LETTERS:
        nino_near(text, start, found)


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
