"""IBANs in any case, with spaces, dashes, dots or no separators, checked cheaply first.

An IBAN is read from its head (two letters, two digits): the country's length (from
python-stdnum's registry) says how many letters and digits follow, separators between any
two of them are skipped (blanks, tabs, a line break, a dash or a dot), and the number must
end there. The length and the mod-97 checksum
are computed here, so that text such as ``DE89AAAAAAAAAAAA`` repeated costs a dictionary
lookup per head; only a number that passes both meets stdnum's full check (BBAN format,
country rules).
"""

from __future__ import annotations

import functools
import re
import string
from typing import Final

from router.decision._detectors._shared import _Findings

_HEAD_RE: Final = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}", re.ASCII)
_LETTER_VALUES: Final = str.maketrans({c: str(ord(c) - 55) for c in string.ascii_uppercase})
_SEPARATORS: Final = str.maketrans("", "", " .-\t\r\n")


@functools.cache
def _lengths() -> dict[str, int]:
    from stdnum import numdb  # noqa: PLC0415

    out = {}
    for _, low, _, props, _ in numdb.get("iban").prefixes:
        bban = props.get("bban", "")
        out[low] = 4 + sum(int(n) for n in re.findall(r"([0-9]+)!", bban))
    return out


# between two characters: blanks around at most one dash, dot or line break (possessive, so
# a failed match never tries other splits of a long blank)
_SEP: Final = r"[ \t]*+(?:[-.]|\r?\n)?+[ \t]*+"


@functools.cache
def _body_re(count: int) -> re.Pattern[str]:
    """`count` letters or digits, each after a separator or none, then not another one."""
    return re.compile(rf"(?:{_SEP}[A-Za-z0-9]){{{count}}}(?![A-Za-z0-9])", re.ASCII)


def _iban_at(text: str, i: int) -> int:
    """End of a valid IBAN whose head starts at `i`, or 0."""
    want = _lengths().get(text[i : i + 2].upper())
    if want is None:
        return 0
    m = _body_re(want - 4).match(text, i + 4)
    if m is None:
        return 0
    compact = (text[i : i + 4] + m.group().translate(_SEPARATORS)).upper()
    return m.end() if _valid_compact(compact) else 0


def _valid_compact(compact: str) -> bool:
    """Length, mod 97, then python-stdnum (imported on first use) for the rest."""
    if _lengths().get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    if int((compact[4:] + compact[:4]).translate(_LETTER_VALUES)) % 97 != 1:
        return False
    from stdnum import iban  # noqa: PLC0415

    return bool(iban.is_valid(compact))


def _ibans_near(text: str, cs: int, found: _Findings, checked: set[int]) -> None:
    """IBANs that reach the digits starting at `cs`: their head is at most one IBAN (34
    characters, with separators) before it. `checked` holds the heads already read."""
    for m in _HEAD_RE.finditer(text, max(0, cs - 48), cs + 2):
        head = m.start()
        if head in checked:
            continue
        checked.add(head)
        end = _iban_at(text, head)
        if end > cs and found.free(head, end):
            found.add("iban", head, end)


def iban_head_near(shape: bytes, cs: int) -> bool:
    """Could an IBAN's head (letters, then the check digits) be close enough before `cs` to
    reach it? Two short literal searches in the shape: prose ("number 4111 ...") has none."""
    window = shape[max(0, cs - 48) : cs + 2]
    return b"A0" in window or b"a0" in window


def _compact_iban(text: str, start: int, end: int) -> bool:
    """Is the token run text[start:end] one whole IBAN?"""
    return _HEAD_RE.match(text, start) is not None and _iban_at(text, start) == end
