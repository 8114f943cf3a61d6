"""Private keys: a PEM header in any variant before a real base64 body, or a bare key body.

Found from the token runs the key scan already visits, so a prompt without one pays nothing:
a run of base64 counts when a ``BEGIN ... PRIVATE KEY`` header (any case, four or five
dashes, any label: RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP ... BLOCK) ends before it with only
line breaks, spaces, ``\\n`` escapes (service-account JSON) or armor headers (``Proc-Type:``,
``Version:``) in between. A one-line paste with spaces for newlines is the same. A body
without its header counts when it starts the way DER and OpenSSH keys always start.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

# any armored block; a label with "PRIVATE KEY" is a private key, others (PUBLIC KEY,
# CERTIFICATE) hold nothing secret, whatever their body looks like
_HEADER_RE: Final = re.compile(
    r"-{4,5}[ \t]*begin[ _]+((?:[a-z0-9]+[ _]+)*?[a-z0-9]+)[ \t]*-{4,5}",
    re.ASCII | re.IGNORECASE,
)
_PRIVATE_RE: Final = re.compile(r"private[ _]+key", re.IGNORECASE)
# between the header and the body: breaks, blanks, escaped breaks, armor headers, quotes
_GAP_RE: Final = re.compile(
    r"""(?:\s|\\[rn]|["']|[A-Za-z][A-Za-z-]*+:[ \t]?[^\r\n\\]*+)*+""", re.ASCII
)
_UPPER: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
_BASE64: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_LOOKBACK: Final = 600  # header plus armor headers: a body starts within this of its header
# How DER and OpenSSH private keys always start, in base64: PKCS#1 RSA (SEQUENCE, 2-byte
# length, version 0, INTEGER n), PKCS#8 RSA (version 0, rsaEncryption OID), SEC1 EC P-256 and
# P-384 (version 1, OCTET STRING), PKCS#8 EC (id-ecPublicKey OID), Ed25519 (PKCS#8, OID
# 1.3.101.112) and OpenSSH ("openssh-key-v1").
BARE_BODY: Final = (
    r"MII[A-Za-z0-9+/]{3}IBAAK|MII[A-Za-z0-9+/]{3}IBADANBgkqhkiG9w0BAQEFAAS|MHcCAQEEI"
    r"|MIGkAgEBBD|MIG[A-Za-z0-9+/]{2}AgEAMBMGByqGSM49|MC4CAQAwBQYDK2Vw|b3BlbnNzaC1rZXktdjE"
)
BARE_STARTS: Final = r"MII|MHcCAQEE|MIG|MC4CAQAw|b3BlbnNz"


class Armor(NamedTuple):
    """An armored block whose body begins in a token run."""

    header: int  # where its BEGIN line starts
    body: int  # where the body begins (inside the run)
    private: bool  # a private key; other blocks (PUBLIC KEY, CERTIFICATE) hold no secret


def armor_before(text: str, start: int, end: int) -> Armor | None:
    """The armored block whose body begins in the token run text[start:end], if any."""
    lo = max(0, start - _LOOKBACK)
    if "----" not in text[lo : start + 8]:
        return None
    headers = list(_HEADER_RE.finditer(text, lo, min(end, start + 48)))
    if not headers:
        return None
    header = headers[-1]  # the nearest
    if start and text[start - 1] == "\\" and text[start] in "nr":
        start += 1  # the run begins with the "n" of a "\\n" escape
    body = max(start, header.end())
    if header.end() < start and _GAP_RE.fullmatch(text, header.end(), start) is None:
        return None
    # a real base64 body in this run, not a "...", "XXXX" or "0000" placeholder
    head = text[body : min(end, body + 32)]
    chars = set(head)
    if len(head) < 16 or len(chars & _BASE64) < 8 or not (chars & _UPPER and chars & _LOWER):
        return None
    return Armor(header.start(), body, _PRIVATE_RE.search(header.group(1)) is not None)
