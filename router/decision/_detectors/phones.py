"""Phone numbers inside a digit cluster: ``+CC ...``, NANP, and national numbers with a trunk 0.

Groups may be separated by a blank, two blanks, a dot, a dash or a slash ("0151/2345678"),
the area code may stand in parentheses ("(022) 45485", "(506)-297-6111"), and a national
number may be written without separators ("0612345678") when it stands alone: no digit, letter
or other group glued to it, not a sequence, not after "ISBN". Every candidate must be a valid
number (phonenumbers) of the country its form names: NANP, or one of the countries whose
numbers start with a trunk 0.
"""

from __future__ import annotations

import re
from typing import Final

from router.decision._detectors._shared import (
    _IN_GROUPS,
    _NON_DIGITS,
    _NUM_START,
    _SSN_RE,
    _Findings,
)
from router.decision._detectors.validators import _is_valid_phone, _valid_national

# one separator between the groups of a phone number: a blank, a dot, a dash, a slash
# (German "0151/2345678") or two blanks
_PSEP: Final = r"(?:[ ./-]| {2})"
_NANP_RE: Final = re.compile(
    _NUM_START + rf"(?:\([2-9][0-9]{{2}}\){_PSEP}?[2-9][0-9]{{2}}{_PSEP}?[0-9]{{4}}"
    r"|[2-9][0-9]{2}(?P<s>[ .-]| {2})[2-9][0-9]{2}(?P=s)[0-9]{4}(?!(?P=s)[0-9]))(?![0-9])",
    re.ASCII,
)
_TRUNK_RE: Final = re.compile(
    _NUM_START
    + _IN_GROUPS
    # "(022) 45485", "(02)-1225-2656": the trunk and area code in parentheses
    + rf"(?:(?P<paren>\(0[1-9][0-9]{{0,4}}\)){_PSEP}?[0-9]{{2,10}}"
    rf"(?:(?P<p>{_PSEP})[0-9]{{2,5}}(?:(?P=p)[0-9]{{2,5}}){{0,2}})?"
    # "01 234567890", "06 12 34 56 78", "0151/2345678"
    rf"|0[1-9][0-9]{{0,4}}(?P<s>{_PSEP})[0-9]{{2,10}}(?:(?P=s)[0-9]{{2,5}}){{0,4}}"
    # "0612345678": unseparated, the whole cluster (checked in `_phones`)
    r"|(?P<compact>0[1-9][0-9]{7,10}))(?![0-9])",
    re.ASCII,
)
# Where a number written with a leading trunk 0 most likely comes from, tried in order.
_TRUNK_COUNTRIES: Final = (44, 49, 33, 31, 32, 43, 41, 61, 353, 39)
_ZIP4_RE: Final = re.compile(r"[0-9]{5}-[0-9]{4}")
_QUAD_RE: Final = re.compile(r"[0-9]{3}(?:\.[0-9]{3}){3}")  # a zero-padded IPv4 address
# digit strings that are sequences, not numbers someone was given
_SEQUENCES: Final = "01234567890123456789 98765432109876543210"


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
            if _trunk_number(text, m, cs, ce) and found.free(m.start(), m.end()):
                found.add("phone", m.start(), m.end())


def _trunk_number(text: str, m: re.Match[str], cs: int, ce: int) -> bool:
    """Is the national number `m` (a trunk 0 first) a valid number of a trunk country?"""
    number = m.group()
    if _SSN_RE.fullmatch(number) or _ZIP4_RE.fullmatch(number) or _QUAD_RE.fullmatch(number):
        return False  # failed SSNs, US ZIP+4 codes (02110-1301), IP addresses
    if m.group("compact") is not None:
        # unseparated: only a number standing alone, not a sequence
        cs += text[cs] == "("
        ce -= text[ce - 1] == ")"
        if m.span() != (cs, ce) or number in _SEQUENCES:
            return False
        if "isbn" in text[max(0, cs - 12) : cs].lower():
            return False  # an ISBN-10 of an English-language book starts with 0
    # "(022) 45485": with its area code in parentheses, an Irish number has 8 digits
    shortest = 8 if m.group("paren") is not None else 9
    return _valid_national(number, _TRUNK_COUNTRIES, shortest=shortest)


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

    end = value.find("+", plus + 1)
    if end == -1:
        end = len(value)
    tail = value[plus + 1 : end]  # up to the next "+" only: a cluster may hold thousands
    if tail.count(".") == 1 and tail.replace(".", "").isdigit():
        return 0  # "+35236450.6" is a signed decimal
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
