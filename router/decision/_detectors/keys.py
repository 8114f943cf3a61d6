"""API keys and tokens, private keys (`pem`), and entropy-checked assigned secrets.

Everything here starts from a run of 16+ token characters found by one literal search over
a byte mask; literal prefixes inside the run pick the formats worth a full pattern
(OpenAI, Anthropic, AWS, GitHub, GitLab, Slack tokens and webhooks, Stripe, Google, npm,
PyPI, Hugging Face, SendGrid, JWTs, DER and OpenSSH key bodies). A key wrapped over two
lines is read as one when its pattern needs the other line: forwards from a run cut at a
line break, backwards from a run under a short line (a key's first 4-15 characters, or the
line ending inside its prefix: "hooks.slack.com/servi|ces/..."); a SendGrid key is read
from its ``SG.`` across one line break. A key whose two halves are both under 16
characters (an AWS key id or a GitLab token cut in the middle) is not found: no run starts
the search, and looking for one would cost every prompt a second pass.
"""

from __future__ import annotations

import re
from typing import Final

from router._models import DetectorKind
from router.decision._detectors._shared import _MASK, _RUN, _SHAPE, _Findings
from router.decision._detectors.ibans import _compact_iban
from router.decision._detectors.pem import BARE_BODY, BARE_STARTS, armor_before
from router.decision._detectors.secret_values import assigned_run

# --- API keys and tokens ------------------------------------------------------------------
# Literal prefixes first (cheap search inside a run), then the full pattern anchored there.
# Formats from the providers' documentation and gitleaks' rules.
_TOKEN_START_RE: Final = re.compile(
    r"sk[-_]|rk_|whsec_|A(?:KIA|SIA|BIA|CCA|3T|Iza)|gh[pousr]_|github_pat_|gl[a-z]{1,5}-"
    r"|xox[abposre]-|xapp-|hf_|npm_|pypi-|(?:services|workflows|triggers)/|" + BARE_STARTS
)
_TOKEN_RE: Final = re.compile(
    rf"""
      (?P<anthropic>sk-ant-[A-Za-z0-9_-]{{32,}})
    | (?P<openai>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{{32,}})
    | (?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{{16}}(?![A-Za-z0-9])
    | gh[pousr]_[A-Za-z0-9]{{36,255}}(?![A-Za-z0-9])
    | github_pat_[A-Za-z0-9_]{{22,255}}
    | gl(?:pat|ptt|dt|rt|cbt|ft|imt|agent|oas|soat|ffct)-[A-Za-z0-9_-]{{20,}}
    | (?P<slack>(?:xox[abposre]|xapp)-[A-Za-z0-9-]{{10,}})
    | AIza[A-Za-z0-9_-]{{35}}(?![A-Za-z0-9_-])
    | (?:[sr]k_(?:live|test|prod)_|whsec_)[A-Za-z0-9]{{16,}}
    | (?P<hf>hf_[A-Za-z0-9]{{30,40}})(?![A-Za-z0-9])
    | npm_[A-Za-z0-9]{{36}}(?![A-Za-z0-9])
    | pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{{50,}}
    | (?P<webhook>(?:services|workflows|triggers)/[A-Za-z0-9_/+]{{24,}})
    | (?P<key>(?:{BARE_BODY})[A-Za-z0-9+/=]{{8,}})
    """,
    re.ASCII | re.VERBOSE,
)
_SENDGRID_RE: Final = re.compile(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
_JWT_CHARS: Final = re.compile(r"[A-Za-z0-9_.-]*")
# the beginning of a JWT: its header, then its payload (maybe cut anywhere)
_JWT_START: Final = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.(?:e(?:y(?:J[A-Za-z0-9_-]*\.?)?)?)?)?")
_JWT_RE: Final = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", re.ASCII)
# key ids in capitals that may hold no digit (base32: 1 in 28 AWS key ids has none)
_CAPITAL_KEYS: Final = (b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"A3T")
_HEX: Final = b"0123456789abcdef-"
_B64URL: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
_SLACK_HOOKS: Final = "hooks.slack.com/"


def _tokens(text: str, raw: bytes, found: _Findings) -> list[tuple[int, int]]:
    """Find token runs; returns the lowercase-hex runs (with a letter) for the digit search."""
    hex_runs: list[tuple[int, int]] = []
    mask = raw.translate(_MASK)
    headers: set[int] = set()  # private-key headers already counted
    i = mask.find(_RUN)
    while i != -1:
        end = mask.find(b" ", i)
        if end == -1:
            end = len(mask)
        seg = raw[i:end].translate(_SHAPE)
        if (
            b"0" in seg
            or (b"A" in seg and b"a" in seg)
            or raw.startswith(_CAPITAL_KEYS, i)
            or (b"A" in seg and raw[i - 1 : i] == b"\n")  # all capitals: an AWS id's 2nd line?
        ) and found.free(i, end):
            if _is_compact_iban(text, seg, i, end):
                found.add("iban", i, end)
            elif raw[i:end].translate(None, _HEX):
                end = max(end, _token_run(text, mask, (i, end), seg, found=found, headers=headers))
            else:
                # lowercase hex (SHAs, UUIDs, digests) holds no token prefix and no JWT, but
                # may go on a key cut above it ("xoxp-7715\n9...")
                stop = _continues_above(text, mask, i, found)
                if stop:
                    end = stop
                else:
                    if assigned_run(text, i, end, seg):
                        found.add("api_key", i, end)
                    if b"a" in seg:
                        hex_runs.append((i, end))
        i = mask.find(_RUN, end)
    return hex_runs


def _token_run(
    text: str,
    mask: bytes,
    run: tuple[int, int],
    seg: bytes,
    *,
    found: _Findings,
    headers: set[int],
) -> int:
    """Classify one run of token characters; returns where scanning may resume."""
    start, end = run
    armor = armor_before(text, start, end)
    if armor is not None:
        # a public key's or a certificate's body is never read as a key or token; a private
        # key counts once, at the first run of its body
        if armor.private and armor.header not in headers:
            headers.add(armor.header)
            found.add("private_key", armor.body, end)
        return end
    jwt = _jwt_at(text, start)
    if jwt is not None and found.free(*jwt):
        found.add("api_key", *jwt)
        return jwt[1]
    if start >= 3 and text[start - 1] in ".\n":
        sendgrid = _sendgrid_before(text, start)
        if sendgrid is not None and found.free(*sendgrid):
            found.add("api_key", *sendgrid)
            return max(end, sendgrid[1])
    hit = False
    pos = start
    cut = -1  # the last prefix whose pattern the run fails: maybe a key wrapped at its end
    while (p := _TOKEN_START_RE.search(text, pos, end)) is not None:
        pos = p.start() + 1
        if p.start() > start and text[p.start() - 1] in _B64URL:
            continue  # "task-...", "my_hf_...": the prefix is inside a longer word
        m = _TOKEN_RE.match(text, p.start(), end)
        if m is None:
            cut = p.start()
            continue
        if _plausible_token(m, text, m.start()) and found.free(*m.span()):
            found.add(_kind(m), m.start(), m.end())
            hit = True
            pos = m.end()
            cut = -1
    if cut != -1 and text[end : end + 1] in ("\n", "\r"):
        # a key wrapped over two lines: read on into the next line's run (once per run)
        stop = _wrapped(text, mask, cut, end)
        if stop and found.free(cut, stop):
            found.add("api_key", cut, stop)
            return stop
    if not hit:
        stop = _continues_above(text, mask, start, found)
        if stop:
            return stop
        if assigned_run(text, start, end, seg):
            found.add("api_key", start, end)
    return end


def _continues_above(text: str, mask: bytes, start: int, found: _Findings) -> int:
    """Count a key whose short first line (under 16 characters) ends just above the run at
    `start` and goes on in it; returns where it ends, or 0. The key may begin inside that
    line ("com/servi|ces/T..." of a Slack webhook) or with it."""
    head = _wrapped_head(text, mask, start)
    if head == -1:
        return 0
    nl = start - 1 - (text[start - 2 : start] == "\r\n")
    for p in _TOKEN_START_RE.finditer(text[head:nl] + text[start : start + 16]):
        if p.start() >= nl - head:
            break
        stop = _wrapped(text, mask, head + p.start(), nl)
        if stop > start and found.free(head + p.start(), stop):
            found.add("api_key", head + p.start(), stop)
            return stop
    return 0


def _sendgrid_before(text: str, start: int) -> tuple[int, int] | None:
    """The SendGrid key (``SG.`` + 22 + ``.`` + 43) that the run at `start` is part of,
    maybe wrapped once over two lines."""
    s = text.rfind("SG.", max(0, start - 28), start)
    if s == -1:
        return None
    window = text[s : s + 74]  # the key, a line break and one character after it
    m = _SENDGRID_RE.match(window)
    if m is not None:
        return s, s + m.end()
    br = window.find("\n")
    if br == -1:
        return None
    cut = br - (window[br - 1 : br] == "\r")
    m = _SENDGRID_RE.match(window[:cut] + window[br + 1 :])
    if m is None:
        return None
    return s, s + m.end() + (br + 1 - cut if m.end() > cut else 0)


def _is_compact_iban(text: str, seg: bytes, start: int, end: int) -> bool:
    """A whole run that is an IBAN without spaces: "de89370400440532013000" and
    "de89-3704-..." are also lowercase hex, and a mostly-letter BBAN has no digit cluster to
    be found by."""
    return (
        seg[0] in b"Aa"
        and seg[1] in b"Aa"
        and seg[2:4] == b"00"
        and end - start <= 42
        and _compact_iban(text, start, end)
    )


def _kind(m: re.Match[str]) -> DetectorKind:
    return "private_key" if m.lastgroup == "key" else "api_key"


def _wrapped(text: str, mask: bytes, start: int, end: int) -> int:
    """End of a key starting at `start` whose run breaks at a newline (`end`) and goes on at
    the start of the next line, or 0. Only a pattern the first line fails is read on."""
    nxt = end + 2 if text.startswith("\r\n", end) else end + 1
    if text[end : end + 1] not in ("\n", "\r") or mask[nxt : nxt + 1] != b"w":
        return 0
    stop = mask.find(b" ", nxt)
    if stop == -1:
        stop = len(mask)
    m = _TOKEN_RE.match(text[start:end] + text[nxt:stop])
    if m is None or m.end() <= end - start or m.lastgroup == "key":
        return 0
    if not _plausible_token(m, text, start):
        return 0
    return nxt + m.end() - (end - start)


def _wrapped_head(text: str, mask: bytes, start: int) -> int:
    """Start of the short run (under 16 token characters) that ends the line just above
    `start`, or -1: the head of a key cut there, maybe inside its prefix ("github|_pat_")."""
    nl = start - 1
    if nl < 1 or text[nl] != "\n":
        return -1
    if text[nl - 1] == "\r":
        nl -= 1
    head = nl
    while head > 0 and nl - head < 16 and mask[head - 1] == 119:  # "w"
        head -= 1
    if head == nl or (head > 0 and mask[head - 1] == 119):
        return -1  # nothing above, or a line of 16+ (read forwards already)
    return head


def _jwt_at(text: str, start: int) -> tuple[int, int] | None:
    if not text.startswith("eyJ", start):
        return None
    if start > 1 and text[start - 1] == ".":
        # this run is the payload: the header before it was too short to be a run of its own
        head = text[max(0, start - 257) : start - 1]
        start -= 1 + len(head) - len(head.rstrip(_B64URL))
    m = _JWT_RE.match(text, start)
    if m is not None:
        return start, m.end()
    # wrapped over two lines: the start of a JWT up to a line break, read on into the next
    # line (each run reads only its own JWT's first two parts: linear)
    begun = _JWT_START.match(text, start)
    if begun is None:
        return None
    line = begun.end()
    nxt = line + 2 if text.startswith("\r\n", line) else line + 1
    if text[line : line + 1] not in ("\n", "\r"):
        return None
    rest = _JWT_CHARS.match(text, nxt).end()  # type: ignore[union-attr]
    m = _JWT_RE.match(text[start:line] + text[nxt:rest])
    if m is None or m.end() <= line - start:
        return None
    return start, nxt + m.end() - (line - start)


def _plausible_token(m: re.Match[str], text: str, start: int) -> bool:
    kind = m.lastgroup
    value = m.group()
    if kind == "webhook":
        # the host before "services/", maybe cut by a line break
        host = text[max(0, start - len(_SLACK_HOOKS) - 2) : start].lower()
        return host.replace("\r", "").replace("\n", "").endswith(_SLACK_HOOKS)
    if kind == "key":
        return len(set(value)) >= 8  # a DER or OpenSSH key body, not a repeated filler
    if kind in ("openai", "anthropic"):
        # "sk-" also starts ordinary hyphenated words; real keys are random base62 soup
        return _has_classes(value, upper=True, lower=True, digit=True)
    if kind == "slack":
        return any(c.isdigit() for c in value)
    if kind == "hf":
        return _has_classes(value, upper=True, lower=True, digit=False)
    return True


def _has_classes(value: str, *, upper: bool, lower: bool, digit: bool) -> bool:
    return (
        (not upper or any(c.isupper() for c in value))
        and (not lower or any(c.islower() for c in value))
        and (not digit or any(c.isdigit() for c in value))
    )
