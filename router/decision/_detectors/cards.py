"""Payment cards: every start of a 4-digit group, any separator people use, Luhn + IIN.

The search runs over the shape string (digits are ``0``), from each start of a run of 4+
digits; a run start in the middle of a longer list of groups is tried too, so a card after
``10.00 20.00 ...`` or inside a table of numbers is found. Groups are 4-4-4-(1-4)[-(1-3)]
or 4-6-(4-5) (Amex, Diners), separated by whitespace of any amount (spaces, tabs, one
group per line) around at most one of ``- . / , _``; every separator of one number must be
of the same kind. Unseparated, 14 to 19 digits (13 are a millisecond timestamp). Lists of
numbers are told apart by their order (an arithmetic progression, a sorted run). Each run
start costs one anchored match, so the time is linear in the text whatever it holds.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from router.decision._detectors._shared import _Findings
from router.decision._detectors.ibans import _ibans_near, iban_head_near
from router.decision._detectors.validators import _plausible_iin

_SEP: Final = rb"[ \t\r\n]*+[-./,_]?+[ \t\r\n]*+"
_CARD_RE: Final = re.compile(
    rb"0000(?P<a>%s)0000(?P<b>%s)0000(?P<c>%s)0{1,4}+(?:(?P<d>%s)0{1,3}+)?(?!0)"
    rb"|0000(?P<e>%s)000000(?P<f>%s)0{4,5}+(?!0)" % ((_SEP,) * 6)
)
_NON_DIGIT: Final = re.compile(rb"[^0]")
_NEIGHBOUR_RE: Final = re.compile(r"([0-9]{1,6})(?![0-9])")
_KEEP_DIGITS: Final = str.maketrans("", "", " \t\r\n-./,_")


def _kind(sep: bytes) -> bytes:
    """The kind of one separator: its punctuation, else newline, else blank, else none."""
    core = sep.strip(b" \t\r\n")
    if core:
        return core  # the one punctuation character the pattern allows
    if b"\n" in sep or b"\r" in sep:
        return b"\n"
    return b" " if sep else b""


def _cards(text: str, shape: bytes, start: int, found: _Findings, checked: set[int]) -> None:
    """Count the cards in `text`; `start` is where the first digit is (or earlier). IBANs
    reaching a group are read first (`checked`: the IBAN heads already read): an IBAN
    written with tabs or one group per line has no other digit cluster to be found by."""
    size = len(shape)
    pos = start
    while (i := shape.find(b"0000", pos)) != -1:
        if iban_head_near(shape, i):
            _ibans_near(text, i, found, checked)
        m = _CARD_RE.match(shape, i)
        end = _card_at(text, i, m, found) if m is not None else 0
        if end:
            pos = end
            continue
        rest = _NON_DIGIT.search(shape, i + 4)
        pos = size if rest is None else rest.start()


def _card_at(text: str, i: int, m: re.Match[bytes], found: _Findings) -> int:
    """End of the card matched at `i` (claimed and counted), or 0."""
    a, b, c, e, f = m.group("a", "b", "c", "e", "f")
    seps = (e, f) if e is not None else (a, b, c)
    if seps.count(seps[0]) == len(seps):
        kind = _kind(seps[0])  # the same separator throughout, by far the usual case
    else:
        kinds = {_kind(sep) for sep in seps}
        if len(kinds) != 1:
            return 0
        kind = kinds.pop()
    ends = [m.end()]
    fifth = m.group("d")
    if fifth is not None and kind:
        if not fifth:
            return 0  # a fourth group of 4 glued to more digits
        # the fifth group belongs to the number only after the same kind of separator
        ends = [m.end(), m.start("d")] if _kind(fifth) == kind else [m.start("d")]
    if i >= 2 and text[i - 1] in ".," and text[i - 1] != kind.decode() and text[i - 2].isdigit():
        return 0  # the fraction of a decimal number
    if not kind and text[max(0, i - 2) : i] in ("0x", "0X"):
        return 0  # a hex literal
    for end in ends:
        digits = text[i:end].translate(_KEEP_DIGITS)
        if not _valid_digits(digits, separated=bool(kind)):
            continue
        if kind and len(digits) == 16 and _sorted_list(text, i, end, digits, m.group("a")):
            continue
        if found.free(i, end):
            found.add("payment_card", i, end)
            return end
    return 0


def _sorted_list(text: str, start: int, end: int, digits: str, sep: bytes) -> bool:
    """Four groups inside a sorted list of numbers ("..., 2269, 2437, 2611, 2791, 2977,
    3169, ...", a program's output): with the two numbers on either side, each after the
    card's own separator `sep`, six or more in order. A card's random groups fall so in a
    table of random numbers about once in 400; amounts on the line before ("35.74") are
    no neighbours of a card written with blanks."""
    g = [int(digits[k : k + 4]) for k in (0, 4, 8, 12)]
    if g[0] < g[1] < g[2] < g[3]:
        step = 1
    elif g[0] > g[1] > g[2] > g[3]:
        step = -1
    else:
        return False
    joint = sep.decode()
    ordered = 0
    for edge, numbers, sign in (
        (g[0], _neighbours(text[max(0, start - 24) : start][::-1], joint[::-1], True), -1),
        (g[3], _neighbours(text[end : end + 24], joint, False), 1),
    ):
        last = edge
        for n in numbers:  # outwards from the card
            if (n - last) * step * sign <= 0:
                break
            ordered += 1
            last = n
    return ordered >= 2


def _neighbours(side: str, joint: str, reverse: bool) -> list[int]:
    """Up to two numbers at the start of `side`, each after the separator `joint`."""
    out: list[int] = []
    pos = 0
    while len(out) < 2 and side.startswith(joint, pos):
        m = _NEIGHBOUR_RE.match(side, pos + len(joint))
        if m is None:
            break
        out.append(int(m.group(1)[::-1] if reverse else m.group(1)))
        pos = m.end()
    return out


def _progression(digits: str) -> bool:
    """Four groups of four in arithmetic progression ("2301 2302 2303 2304"): a list of
    numbers, not a card (a card's groups are random)."""
    if len(digits) != 16:
        return False
    a, b, c, d = (int(digits[k : k + 4]) for k in (0, 4, 8, 12))
    return b - a == c - b == d - c


@functools.lru_cache(maxsize=4096)
def _valid_digits(digits: str, *, separated: bool) -> bool:
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    if not separated and len(digits) == 13:
        return False  # an unseparated 13-digit run is a millisecond timestamp
    if not _plausible_iin(digits):  # the cheapest test first: it rejects most numbers
        return False
    return not (separated and _progression(digits)) and _luhn(digits)


def _luhn(digits: str) -> bool:
    """stdnum.luhn.is_valid for a string of digits, without its compaction and checks:
    on random 4-digit groups (the slowest card input) it costs 1.61 s/MB against 1.28 s/MB
    for this loop (tests/test_detector_formats.py checks the two agree)."""
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if k % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
