"""Formatting transforms for the detection corpus: how people (and their tools) write a value.

Each transform has a name (a row of the report), says which samples it makes sense for, and
renders the sample's text (label + value) in its way. Only the value changes; the label stays
as written ("SSN: "). The separators and spaces are the ones issue 13 lists: what PDFs, web
pages, spreadsheets and CJK input methods produce.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from _detection_values import Sample

SEPARATORS: dict[str, str] = {
    "none": "",
    "space": " ",
    "space2": "  ",
    "tab": "\t",
    "newline": "\n",
    "dash": "-",
    "spaced-dash": " - ",
    "dot": ".",
    "slash": "/",
    "comma": ",",
    "nbsp": "\u00a0",
    "thin": "\u2009",
    "narrow-nbsp": "\u202f",
    "figure": "\u2007",
    "ideographic": "\u3000",
}
_SEPS_BY_SHAPE: dict[str, frozenset[str]] = {
    "digits": frozenset(SEPARATORS),
    "alnum": frozenset(SEPARATORS) - {"slash", "comma"},
    "phone": frozenset(SEPARATORS) - {"tab", "newline", "spaced-dash", "comma"},
}
INVISIBLES: dict[str, str] = {
    "zwsp": "\u200b",
    "zwnj": "\u200c",
    "zwj": "\u200d",
    "word-joiner": "\u2060",
    "soft-hyphen": "\u00ad",
    "bom": "\ufeff",
}
DIGIT_SCRIPTS: dict[str, int] = {"fullwidth": 0xFF10, "arabic-indic": 0x0660, "persian": 0x06F0}
_FULLWIDTH_LETTERS = {
    **{ord(c): 0xFF21 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")},
    **{ord(c): 0xFF41 + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")},
    ord("+"): 0xFF0B,
}


@dataclass(frozen=True)
class Transform:
    name: str
    applies: Callable[[Sample], bool]
    render: Callable[[Sample, random.Random], str]


def _with_value(sample: Sample, value: str) -> str:
    return sample.label + value


def _shape_in(*shapes: str) -> Callable[[Sample], bool]:
    return lambda s: s.shape in shapes


def _everything(sample: Sample) -> bool:
    return True


# --- separators ------------------------------------------------------------------------------


def _separator(name: str) -> Transform:
    sep = SEPARATORS[name]

    def applies(s: Sample) -> bool:
        return len(s.groups) > 1 and name in _SEPS_BY_SHAPE.get(s.shape, frozenset())

    return Transform(f"sep:{name}", applies, lambda s, _: _with_value(s, sep.join(s.groups)))


# --- invisible characters and other scripts --------------------------------------------------


def insert_at(sample: Sample, rng: random.Random) -> int:
    """A point strictly inside the identifying part, in its middle half (seeded)."""
    start, end = sample.core
    width = end - start
    return start + rng.randint(max(1, width // 4), max(1, 3 * width // 4))


def _invisible(name: str) -> Transform:
    char = INVISIBLES[name]

    def render(s: Sample, rng: random.Random) -> str:
        at = insert_at(s, rng)
        return s.text[:at] + char + s.text[at:]

    return Transform(f"insert:{name}", _everything, render)


def to_script(text: str, name: str) -> str:
    """Digits in another Unicode script (fullwidth also turns ASCII letters and + fullwidth)."""
    zero = DIGIT_SCRIPTS[name]
    table = {ord(str(d)): zero + d for d in range(10)}
    if name == "fullwidth":
        table.update(_FULLWIDTH_LETTERS)
    return text.translate(table)


def _script(name: str) -> Transform:
    return Transform(
        f"digits:{name}",
        _shape_in("digits", "alnum", "phone"),
        lambda s, _: _with_value(s, to_script(s.value, name)),
    )


def json_u(text: str) -> str:
    r"""Every ASCII digit written as a JSON escape: ``4`` -> ``\u0034``."""
    return "".join(f"\\u{ord(c):04x}" if c.isascii() and c.isdigit() else c for c in text)


# --- case ------------------------------------------------------------------------------------


def _mixed(text: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


def _has_letters(s: Sample) -> bool:
    return s.shape in ("alnum", "email") and any(c.isalpha() for c in s.value)


def _pem_case(s: Sample, change: Callable[[str], str]) -> str:
    lines = list(s.groups)
    lines[0], lines[-1] = change(lines[0]), change(lines[-1])
    return "\n".join(lines)


def _case_transforms() -> list[Transform]:
    letters = _has_letters
    return [
        Transform("case:lower", lambda s: letters(s) and s.shape != "email",
                  lambda s, _: _with_value(s, s.value.lower())),
        Transform("case:upper", lambda s: s.shape == "email",
                  lambda s, _: _with_value(s, s.value.upper())),
        Transform("case:mixed", letters, lambda s, rng: _with_value(s, _mixed(s.value, rng))),
        Transform("case:pem-header-lower", _shape_in("pem"),
                  lambda s, _: _pem_case(s, str.lower)),
        Transform("case:pem-header-title", _shape_in("pem"),
                  lambda s, _: _pem_case(s, str.title)),
    ]  # fmt: skip


# --- layout ----------------------------------------------------------------------------------


def _wrap(s: Sample, rng: random.Random) -> str:
    at = insert_at(s, rng)
    return s.text[:at] + "\n" + s.text[at:]


def _pem(name: str, render: Callable[[Sample], str]) -> Transform:
    return Transform(f"pem:{name}", _shape_in("pem"), lambda s, _: render(s))


def _pem_transforms() -> list[Transform]:
    return [
        _pem("one-line", lambda s: " ".join(s.groups)),
        _pem("no-newlines", lambda s: "".join(s.groups)),
        _pem("crlf", lambda s: "\r\n".join(s.groups)),
        _pem("four-dashes", lambda s: s.value.replace("-----", "----")),
        _pem("json-escaped", lambda s: "\\n".join(s.groups)),
        _pem("indented", lambda s: "\n".join("    " + g for g in s.groups)),
        _pem("truncated", lambda s: "\n".join(s.groups[:4])),
    ]


def _layout_transforms() -> list[Transform]:
    not_pem = _shape_in("digits", "alnum", "phone", "email", "token", "assign")
    return [
        Transform("wrap:newline", _shape_in("token", "assign"), _wrap),
        Transform("layout:indent-40", _everything, lambda s, _: "\n" + " " * 40 + s.text),
        Transform("layout:table-padding", _everything,
                  lambda s, _: s.text + " " * 40 + "| 12.00 |"),
        Transform("layout:in-quotes", not_pem, lambda s, _: f'"{s.text}"'),
        Transform("layout:in-parens", not_pem, lambda s, _: f"({s.text})"),
        Transform("layout:period-after", not_pem, lambda s, _: f"{s.text}."),
        Transform("email:display-name", _shape_in("email"),
                  lambda s, _: f"Jane Roe <{s.value}>"),
        Transform("email:mailto", _shape_in("email"), lambda s, _: f"mailto:{s.value}"),
        Transform("escape:json-u", _shape_in("digits", "alnum", "phone"),
                  lambda s, _: _with_value(s, json_u(s.value))),
    ]  # fmt: skip


TRANSFORMS: tuple[Transform, ...] = (
    Transform("plain", _everything, lambda s, _: s.text),
    *(_separator(name) for name in SEPARATORS),
    *(_invisible(name) for name in INVISIBLES),
    *(_script(name) for name in DIGIT_SCRIPTS),
    *_case_transforms(),
    *_layout_transforms(),
    *_pem_transforms(),
)
