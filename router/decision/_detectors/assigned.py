"""Secrets assigned to a name that says so: ``password = "p@ss!w0rd#2024"``, ``token: ...``.

Two ways in. From a value (`assigned_run`): a long run of token characters, found by the
key scan, whose left context names a secret (entropy-checked). From a name
(`_assignments`): every ``=`` and ``:`` is found at memchr speed, and only one whose left
word ends in a secret name (``password``, ``passwd``, ``pwd``, ``pass``, ``passphrase``,
``secret``, ``token``, ``api_key``, ``secret_key``, ``private_key``, ``access_key``,
``AccountKey``, ``SharedAccessKey``, SAS ``sig``; snake, kebab or camel case) has its value
read: quoted or not, in code, YAML, .env, JSON or a query string. The value counts when it
is non-trivial: 8+ characters, a letter and a non-letter, no whitespace, and not a
placeholder (``<password>``, ``${PASS}``, ``{password}``, ``***``, ``your_password``), an
environment or config lookup (``os.environ[...]``, ``settings.PASSWORD``), a call, a path
or a single dictionary word.

One line break may stand anywhere in an assignment, as where a terminal or an editor
wrapped the line: inside the name, around the separator, or inside the value (a bare value
goes on into the next line's first word only when that holds no ``=`` or ``:`` and the two
together are no plain word, so ``PASSWORD=hunter2`` then ``docker-compose up`` stays apart).
"""

from __future__ import annotations

import re
from typing import Final

from router.decision._detectors._shared import _Findings
from router.decision._detectors.secret_values import NAMES, nontrivial

_ENDINGS: Final = frozenset(n[-2:] for n in NAMES)  # how the secret names end
# ... in any case, so that the hot loop below need not lower-case what it reads, or with a
# line break before the last letter ("DB_PASSW|D=", a wrapped line)
_ENDINGS_ANY_CASE: Final = frozenset(
    a + b for e in _ENDINGS for a in (e[0], e[0].upper(), "\n") for b in (e[1], e[1].upper())
)
_NAME_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
_QUOTES: Final = "\"'`"
_BEFORE_SEP: Final = " \t\r\n\"'`"  # may stand between a name and its separator
# a bare value ends at a blank, a delimiter or a quote (and "&" in a query string); read at
# most 512 characters of it
_UNQUOTED: Final = re.compile(r"[^\s,;\"'`<>]{1,512}")
_UNQUOTED_QUERY: Final = re.compile(r"[^\s,;&#\"'`<>]{1,512}")
# code, not a literal: a call or a subscript ("get_token()", "os.environ[...]"), or one cut
# at a quote ("os.environ[" before '"DB_PASSWORD"]')
# (arguments start as code does: "dgPUAsr(%7*2xK1qb)" is a password)
_CODE_RE: Final = re.compile(r"[A-Za-z_][\w.]*(?:\((?:[\w\"'\[({*)-].*)?\)|\[.*\])", re.DOTALL)
_OPENED_RE: Final = re.compile(r"[A-Za-z_][\w.]*[(\[]")
_OPERATORS: Final = frozenset("=!<>:+-*/%|&^")
# a value and the next line's first word that together hold only word characters may be a
# short value and a command ("PASSWORD=hunter2" then "docker-compose up"): not joined
_WORDISH_RE: Final = re.compile(r"[A-Za-z0-9_.-]*")


# --- from the name ------------------------------------------------------------------------


def _assignments(text: str, found: _Findings) -> None:
    for sep in "=:":
        i = text.find(sep)
        while i != -1:
            # most separators follow a word that names no secret: rejected here, inline
            if i > 1 and (text[i - 2 : i] in _ENDINGS_ANY_CASE or text[i - 1] in _BEFORE_SEP):
                # separators inside a value just read are part of it: each character is read
                # as a value at most once ("password=password=..." stays linear)
                end = _assignment_at(text, i, found)
                i = text.find(sep, end if end > i else i + 1)
            else:
                i = text.find(sep, i + 1)


def _assignment_at(text: str, i: int, found: _Findings) -> int:
    """Read the assignment whose separator is at `i`; returns the end of the value read
    (0 when none was).

    One line break may stand anywhere in it -- inside the name, around the separator or
    inside the value -- as where a terminal or an editor wrapped a long line."""
    nxt = text[i + 1 : i + 2]
    before = text[i - 1] if i else ""
    if text[i] == "=":
        if nxt == "=" or before in _OPERATORS:
            return 0  # a comparison or an augmented assignment (":=" is read at its colon)
        vstart = i + 2 if nxt == ">" else i + 1
    else:
        if nxt == ":" or before == ":":
            return 0  # "::"
        vstart = i + 2 if nxt == "=" else i + 1
    # the name ends before the separator, blanks and one closing quote
    j, broke = _back_over_blanks(text, i - 1, may_break=True)
    if j >= 0 and text[j] in _QUOTES:
        j -= 1
        if not broke and j > 0 and text[j] == "\n":  # '"client_secret|": "..."'
            j -= 1 + (text[j - 1] == "\r")
            broke = True
    ending = text[j - 1 : j + 1] if j >= 1 else ""
    if ending[:1] == "\n" and not broke:
        last = j - 2 - (text[j - 2 : j - 1] == "\r")
        ending = text[last : last + 1] + text[j]  # "DB_PASSW|D="
    if len(ending) < 2 or ending.lower() not in _ENDINGS:
        return 0  # no secret's name ends so: most separators stop here
    named = _name_before(text, j, may_break=not broke)
    if named is None:
        return 0
    k, name, name_broke = named
    span = _value(text, vstart, query=k > 0 and text[k - 1] in "?&")
    if span is None:
        return 0
    vs, ve = span
    if (broke or name_broke) and ("\n" in text[vs:ve] or "\n" in text[i:vs]):
        return ve  # one line break is all a wrapped line holds: a second is the next line
    value = text[vs:ve].replace("\r\n", "").replace("\n", "")
    quoted = text[vs - 1] in _QUOTES
    if not quoted and "\n" in text[i:vs] and (":" in value or "=" in value):
        return 0  # "secret:\n  key: value": a YAML mapping, not a value on the next line
    if name.lower().endswith("sig") and (len(value) < 16 or text[k - 1 : k] not in ("?", "&")):
        return ve  # Azure SAS: only "...&sig=<signature>" in a query string
    counted = _counted(text, value, ve, quoted=quoted)
    if not counted and not quoted and not broke and not name_broke and "\n" not in text[i:vs]:
        # a bare value wrapped once: read on into the next line ("DB_PASSWD=iCpW|vXWoh...")
        more = _next_line(text, ve)
        if more is not None and not _WORDISH_RE.fullmatch(value + text[more[0] : more[1]]):
            ve, value = more[1], value + text[more[0] : more[1]]
            counted = _counted(text, value, ve, quoted=False)
    if counted and found.free(vs, ve):
        found.add("api_key", vs, ve)
    return ve


def _counted(text: str, value: str, ve: int, *, quoted: bool) -> bool:
    """Is this value (ending at `ve`) a secret: not code, and non-trivial?"""
    code = not quoted and (
        _CODE_RE.fullmatch(value) is not None
        or (text[ve : ve + 1] in _QUOTES and _OPENED_RE.fullmatch(value) is not None)
    )
    return not code and nontrivial(value, quoted=quoted)


def _back_over_blanks(text: str, j: int, *, may_break: bool) -> tuple[int, bool]:
    """Back from `j` over blanks and, if `may_break`, one line break; returns the index
    reached and whether a line break was crossed."""
    while j >= 0 and text[j] in " \t":
        j -= 1
    if not may_break or j < 0 or text[j] != "\n":
        return j, False
    j -= 1 + (j > 0 and text[j - 1] == "\r")
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j, True


def _name_before(text: str, j: int, *, may_break: bool) -> tuple[int, str, bool] | None:
    """The secret's name ending at `j`: its start, itself, and whether it was read across a
    line break ("aws_secret_access|_key"); None when no secret's name ends there."""
    k = j
    while k > 0 and j - k < 64 and text[k - 1] in _NAME_CHARS:
        k -= 1
    name = text[k : j + 1]
    if _secret_name(name):
        return k, name, False
    if not may_break or k < 2 or text[k - 1] != "\n":
        return None
    b = k - 1 - (text[k - 2] == "\r")
    h = b
    while h > 0 and b - h < 64 and text[h - 1] in _NAME_CHARS:
        h -= 1
    joined = text[h:b] + name
    return (h, joined, True) if h < b and _secret_name(joined) else None


def _next_line(text: str, end: int) -> tuple[int, int] | None:
    """The bare word that starts the line after a value ending at `end`, if the value goes
    on there: no blank first, and no ``=`` or ``:`` in it (the next line's own assignment
    or key)."""
    nxt = end + 1 + (text[end : end + 2] == "\r\n")
    if text[end : end + 1] not in ("\n", "\r"):
        return None
    m = _UNQUOTED.match(text, nxt)
    if m is None or "=" in m.group() or ":" in m.group():
        return None
    return nxt, m.end()


def _secret_name(name: str) -> bool:
    low = name.lower()
    if not low.endswith(NAMES):
        return False
    for secret in NAMES:
        if not low.endswith(secret):
            continue
        at = len(low) - len(secret)
        if at == 0 or not low[at - 1].isalnum():
            return True
        if name[at].isupper() and (name[at - 1].islower() or name[at - 1].isdigit()):
            return True  # camelCase: dbPassword, clientSecret, accessToken
    return False


def _value(text: str, start: int, *, query: bool) -> tuple[int, int] | None:
    """Span of the value after a separator: a quoted string on one line, or a bare word."""
    i = start
    while i < len(text) and text[i] in " \t":
        i += 1
    if text[i : i + 1] == "\n" or text[i : i + 2] == "\r\n":
        # the value on the next line ("token =\n    abc..."), once
        i += 1 + (text[i] == "\r")
        while i < len(text) and text[i] in " \t":
            i += 1
    if i < len(text) and text[i] in "bru" and text[i + 1 : i + 2] in ("'", '"'):
        i += 1  # b"...", r"...", u"..." literals
    if i >= len(text):
        return None
    q = text[i]
    if q in _QUOTES:
        # the next quote of the same kind: every other separator's value starts with its
        # own quote, so this search never runs far twice
        # (a value wrapped once over two lines is read as one; more breaks are prose)
        close = text.find(q, i + 1)
        if close == -1 or text.count("\n", i + 1, close) > 1:
            return None
        return i + 1, close
    m = (_UNQUOTED_QUERY if query else _UNQUOTED).match(text, i)
    end = i if m is None else m.end()
    while (
        end > i
        and (
            text[end - 1] == "."  # the full stop of a sentence
            or (text[end - 1] in ")]}" and _unbalanced(text[i:end]))  # f(password=abc)
        )
    ):
        end -= 1
    return (i, end) if end > i else None


def _unbalanced(value: str) -> bool:
    """Does the value close more brackets of its last kind than it opens?"""
    close = value[-1]
    return value.count(close) > value.count({")": "(", "]": "[", "}": "{"}[close])
