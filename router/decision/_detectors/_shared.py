"""What the detector modules share: the pre-filter's byte tables, the digit-group pieces
used by both the number and the phone detectors, and the `_Findings` ledger."""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Final

from router._models import DetectorKind

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

# --- digit groups (numbers and phones) ----------------------------------------------------
_NUM_START: Final = r"(?<![0-9])(?<![0-9][.,])"  # digits after a decimal point are a fraction
# "4.850 870 209 5432", "978-0137-02741-5": one group in a longer run of digit groups
_IN_GROUPS: Final = r"(?<![0-9][ .-])"
_SSN_RE: Final = re.compile(
    _NUM_START + _IN_GROUPS + r"[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9]|-[0-9])", re.ASCII
)
_NON_DIGITS: Final = str.maketrans("", "", " .-()/+")

# A placeholder standing for a secret: ${VAR}, $(cmd), $VAR / %VAR% (capitals, or lower-case
# letters and underscores, as variable names are written), %s, <name>, {name}, {{ name }},
# [name]. A value that is wholly one of these holds no secret ("$DBrPxr57Q44" does).
_VAR: Final = r"(?:[A-Z_][A-Z0-9_]*|[a-z_]+)"
TEMPLATE_RE: Final = re.compile(
    rf"\$\{{[^}}]*\}}|\$\([^)]*\)|\${_VAR}|%{_VAR}%|%[sd]"
    r"|<[^>]*>|\{\{[^}]*\}\}|\{[^}]*\}|\[[^\]]*\]"
)


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
