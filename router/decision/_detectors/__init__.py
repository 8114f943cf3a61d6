"""Fast PII and secret detectors for the routing hot path.

No regex ever scans the whole prompt, since CPython's regex engine costs ~10 ns per character
tried: the text is mapped once through two byte tables (digits -> ``0``, letters -> ``A``/``a``;
token characters -> ``w``) and literal searches running at memchr speed find the few spans worth
a look (runs of 16+ token characters, the first digit, ``@``, ``=`` and ``:``). Only those
spans meet the precise regexes and then the python-stdnum / phonenumbers validators, which are
imported on first use (or by `warm_up`) so that importing this package stays cheap.

Text that is not pure ASCII is normalised first (`normalise`: NFKC, every Unicode digit,
space, dash and format character folded, Latin look-alikes mapped), and text holding escapes
(``\\u0034``, ``&#52;``, ``%20``) is also scanned decoded; each kind counts the larger of the
two views. Every step is linear in the text: the cost grows with the input, the recall does
not fall (no window or run limit switches a detector off).

One module per concern: `keys` (API keys and tokens), `pem` (private keys), `assigned`
(secrets assigned to a secret's name; `secret_values` judges the values), `emails` (e-mail
addresses and credentialed URLs), `digits` (digit clusters, which call `ids` for national
IDs), `cards`, `ibans`, `phones`, `validators` and `normalise`; `_shared` holds the byte
tables and the `_Findings` ledger they all write to.
"""

from __future__ import annotations

from typing import Final, get_args

from router._models import DetectorKind
from router.decision._detectors._shared import _SHAPE, _Findings
from router.decision._detectors.assigned import _assignments
from router.decision._detectors.digits import _digit_clusters
from router.decision._detectors.emails import _emails
from router.decision._detectors.keys import _tokens
from router.decision._detectors.normalise import decode_escapes, normalise

__all__ = ["detect", "warm_up"]

_KINDS: Final[tuple[DetectorKind, ...]] = get_args(DetectorKind)


def detect(text: str) -> dict[DetectorKind, int]:
    """Count findings per kind. Never returns or stores the matched text."""
    if len(text) < 6:
        return {}
    counts = _scan(text if text.isascii() else normalise(text))
    decoded = decode_escapes(text)
    if decoded is not None:
        for kind, n in _scan(decoded if decoded.isascii() else normalise(decoded)).items():
            if n > counts.get(kind, 0):
                counts[kind] = n
    return {kind: counts[kind] for kind in _KINDS if kind in counts}


def _scan(text: str) -> dict[DetectorKind, int]:
    raw = text.encode("ascii", "replace")  # one byte per code point: offsets stay aligned
    found = _Findings()
    hex_runs = _tokens(text, raw, found)
    if "@" in text:
        _emails(text, found)
    if "=" in text or ":" in text:
        _assignments(text, found)
    # up to ten memchr scans decide whether the digit detectors (and their byte map) run
    if (
        b"0" in raw
        or b"1" in raw
        or b"2" in raw
        or b"3" in raw
        or b"4" in raw
        or b"5" in raw
        or b"6" in raw
        or b"7" in raw
        or b"8" in raw
        or b"9" in raw
    ):
        shape = raw.translate(_SHAPE)
        if hex_runs:
            # SHAs and UUIDs are full of digit pairs: blank them so the digit search skips them
            blanked = bytearray(shape)
            for start, end in hex_runs:
                blanked[start:end] = b"a" * (end - start)
            shape = bytes(blanked)
        _digit_clusters(text, shape, shape.find(b"0"), found)
    return found.counts


def warm_up() -> None:
    """Import the validators and build the normalisation table now (~0.1 s) instead of on the
    first prompt that needs them."""
    import phonenumbers  # noqa: F401, PLC0415
    from stdnum import iban  # noqa: F401, PLC0415
    from stdnum.de import idnr  # noqa: F401, PLC0415
    from stdnum.es import dni, nie  # noqa: F401, PLC0415
    from stdnum.fr import nir  # noqa: F401, PLC0415
    from stdnum.in_ import aadhaar  # noqa: F401, PLC0415
    from stdnum.it import codicefiscale  # noqa: F401, PLC0415
    from stdnum.nl import bsn  # noqa: F401, PLC0415
    from stdnum.us import ssn  # noqa: F401, PLC0415

    from router.decision._detectors.ibans import _lengths  # noqa: PLC0415
    from router.decision._detectors.normalise import _table  # noqa: PLC0415

    _lengths()
    _table()
