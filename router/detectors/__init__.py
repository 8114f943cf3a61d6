"""Fast PII and secret detectors for the routing hot path.

No regex ever scans the whole prompt, since CPython's regex engine costs ~10 ns per character
tried: the text is mapped once through two byte tables (digits -> ``0``, letters -> ``A``/``a``;
token characters -> ``w``) and literal searches running at memchr speed find the few spans worth
a look (runs of 3+ digits, runs of 16+ token characters, ``@``, ``-----BEGIN``). Only those spans
meet the precise regexes and then the python-stdnum / phonenumbers validators, which are imported
on first use (or by `warm_up`) so that importing this package stays cheap.

One module per concern: `keys` (private keys, API keys and tokens), `emails`, `digits`
(digit clusters: cards, IBANs, national IDs), `phones` and `validators`; `_shared` holds the
byte tables and the `_Findings` ledger they all write to.
"""

from __future__ import annotations

from typing import Final, get_args

from router.detectors._shared import _SHAPE, _Findings
from router.detectors.digits import _digit_clusters
from router.detectors.emails import _emails
from router.detectors.keys import _private_keys, _tokens
from router.models import DetectorKind

__all__ = ["detect", "warm_up"]

_KINDS: Final[tuple[DetectorKind, ...]] = get_args(DetectorKind)


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
