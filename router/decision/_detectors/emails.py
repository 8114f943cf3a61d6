"""Email addresses and credentialed URLs, both found from each ``@``.

``scheme://user:password@host`` (postgres, mysql, mongodb+srv, redis, amqp, https, any
scheme) is a secret, counted as an api_key, unless the password is a template
(``${PASS}``, ``<password>``, ``{password}``, ``***``); its userinfo is never an e-mail.
The userinfo may be wrapped once over two lines when what it holds is still a user and a
real password (no dots in the user, 8+ characters, not a word).
"""

from __future__ import annotations

import re
from typing import Final

from router.decision._detectors._shared import TEMPLATE_RE, _Findings

# --- email --------------------------------------------------------------------------------
_LOCAL_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
_DOMAIN_RE: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})"
    # not followed by more domain, a call/index (``x@w.T(``) or an scp path (``git@host:repo``)
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9]|[(\[]|:[A-Za-z0-9~/])",
    re.ASCII,
)
_USERINFO_MAX: Final = 256  # "user:password" of a URL; tokens used as passwords included
_SCHEME_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-"
_FILE_TLDS: Final = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "avif"})


def _emails(text: str, found: _Findings) -> None:
    i = text.find("@")
    while i != -1:
        nxt = i + 1
        url = _url_userinfo(text, i)
        if url is not None:
            start, password = url
            if _real_password(password) and found.free(start, i):
                found.add("api_key", start, i)
        elif i and text[i - 1] in _LOCAL_CHARS:
            m = _DOMAIN_RE.match(text, i + 1)
            if m is not None and m.group(1).lower() not in _FILE_TLDS:
                head = text[max(0, i - 64) : i]
                local = head[len(head.rstrip(_LOCAL_CHARS)) :].lstrip("._%+-")
                start = i - len(local)
                if (
                    local
                    and not local.endswith(".")
                    and ".." not in local
                    and found.free(start, m.end())
                ):
                    found.add("email", start, m.end())
                    nxt = m.end()
        i = text.find("@", nxt)


def _url_userinfo(text: str, at: int) -> tuple[int, str] | None:
    """For the ``@`` at `at` ending a URL's userinfo: the scheme's start and the password
    ("" when there is none); None when this ``@`` is not in a URL's authority."""
    j = text.rfind("://", max(0, at - _USERINFO_MAX), at)
    if j == -1:
        return None
    userinfo = text[j + 3 : at]
    wrapped = "\n" in userinfo
    if wrapped:
        # wrapped once inside the userinfo (a terminal or an e-mail client cut the line)
        if userinfo.count("\n") > 1:
            return None
        userinfo = userinfo.replace("\r\n", "").replace("\n", "")
    user, colon, password = userinfo.partition(":")
    # a "#" or "?" ends the authority, unless inside a password pasted unencoded
    if any(c in user for c in " \t\r\n/?#") or any(c in password for c in " \t\r\n/?"):
        return None
    if wrapped and not _wrapped_password(user, password):
        return None  # "https://example.com\nContact:jane@..." is a URL, then an e-mail
    s = j
    while s > 0 and j - s < 32 and text[s - 1] in _SCHEME_CHARS:
        s -= 1
    return s, password if colon else ""


def _wrapped_password(user: str, password: str) -> bool:
    """Is a userinfo read across a line break a real one: a user without the dots of a
    host name and a password that is no word?"""
    return (
        "." not in user
        and len(password) >= 8
        and not password.isalpha()
        and any(c.isalpha() for c in password)
    )


def _real_password(password: str) -> bool:
    """Anything but nothing, a template (``${PASS}``, ``$PASS``, ``<password>``, ``{pw}``,
    ``%s``) or a mask (``***``, ``xxx``)."""
    if not password or TEMPLATE_RE.fullmatch(password) or "${" in password:
        return False
    return len(set(password.lower())) > 1 or password[0] not in "*x."
