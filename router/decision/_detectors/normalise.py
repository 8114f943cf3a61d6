"""What the detectors read: Unicode folded to the ASCII forms they match, and decoded escapes.

`normalise` runs only on text that is not pure ASCII: NFKC (fullwidth digits, NBSP and most
other spaces), then one translation table built from the Unicode database on first use:
every decimal digit (category Nd: Arabic-Indic, Devanagari, ...) to its ASCII digit, every
space (Zs) to a space, line and paragraph separators to a newline, format characters (Cf:
zero-width space and joiners, word joiner, soft hyphen, BOM, bidi marks) dropped, dashes (Pd
and the minus sign) to ``-``, and the Cyrillic and Greek letters that look Latin to their
Latin twins (``DЕ89...`` with a Cyrillic Е is an IBAN).

`decode_escapes` returns a second view of the text with JSON/Python backslash escapes
(``\\u0034``), HTML character references (``&#52;``) and URL percent-escapes (``%20``)
decoded, or None when the text holds none: a card in tool-call arguments or in an image URL's
query is then read as a card. The caller scans both views and keeps the larger count.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from typing import Final

# Letters a reader takes for Latin ones. Only the unambiguous look-alikes: enough that
# "DЕ89" or "АKIA" written with a Cyrillic letter reads as the Latin string.
_CONFUSABLES: Final = {
    # Cyrillic capitals and small letters
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "У": "Y", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q",
    "Ԝ": "W", "Ү": "Y", "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y",
    "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h",
    # Greek capitals and small letters
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ο": "o", "ν": "v",
}  # fmt: skip
# Where the categories below have members (the Unicode database is read once, lazily).
_RANGES: Final = ((0x80, 0x20000), (0xE0000, 0xE1000))


@functools.cache
def _table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for lo, hi in _RANGES:
        for cp in range(lo, min(hi, sys.maxunicode + 1)):
            ch = chr(cp)
            cat = unicodedata.category(ch)
            if cat == "Nd":
                table[cp] = str(unicodedata.decimal(ch))
            elif cat == "Zs":
                table[cp] = " "
            elif cat in ("Zl", "Zp"):
                table[cp] = "\n"
            elif cat == "Cf":
                table[cp] = None
            elif cat == "Pd":
                table[cp] = "-"
    table[0x2212] = "-"  # MINUS SIGN (Sm), typed for a dash
    table.update({ord(k): v for k, v in _CONFUSABLES.items()})
    return table


def normalise(text: str) -> str:
    """The ASCII-foldable form of non-ASCII text (see the module docstring)."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.translate(_table())


# --- escapes ------------------------------------------------------------------------------
_BACKSLASH_HINT: Final = re.compile(r"\\(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2})")
# "4111\t1111..." inside a JSON string: a digit next to an escaped tab or newline
_ESCAPED_SPACE_HINT: Final = re.compile(r"[0-9]\\[nrt]|\\[nrt][0-9]")
_BACKSLASH: Final = re.compile(
    r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2})|(.))", re.DOTALL
)
_SIMPLE: Final = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "0": "\0"}
_ENTITY_HINT: Final = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)
_PERCENT_HINT: Final = re.compile(r"%[0-9A-Fa-f]{2}")


def _unbackslash(m: re.Match[str]) -> str:
    code = m.group(1) or m.group(2) or m.group(3)
    if code is not None:
        cp = int(code, 16)
        return chr(cp) if cp <= sys.maxunicode else m.group()
    ch = m.group(4)
    return _SIMPLE.get(ch, ch)


def decode_escapes(text: str) -> str | None:
    """`text` with its escapes decoded, or None when there is nothing to decode.

    Each trigger is a single-character search first (memchr speed), so ordinary prose pays
    three scans that stop at once.
    """
    view = text
    if "\\" in view and (_BACKSLASH_HINT.search(view) or _ESCAPED_SPACE_HINT.search(view)):
        view = _BACKSLASH.sub(_unbackslash, view)
    if "&" in view and _ENTITY_HINT.search(view):
        import html  # noqa: PLC0415

        view = html.unescape(view)
    if "%" in view and _PERCENT_HINT.search(view):
        from urllib.parse import unquote  # noqa: PLC0415

        view = unquote(view, errors="replace")
    return None if view is text else view
