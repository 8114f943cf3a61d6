"""Email addresses, found from each ``@``."""

from __future__ import annotations

import re
from typing import Final

from router.detectors._shared import _Findings

# --- email --------------------------------------------------------------------------------
_LOCAL_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
_DOMAIN_RE: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})"
    # not followed by more domain, a call/index (``x@w.T(``) or an scp path (``git@host:repo``)
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9]|[(\[]|:[A-Za-z0-9~/])",
    re.ASCII,
)
_FILE_TLDS: Final = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "avif"})


def _emails(text: str, found: _Findings) -> None:
    i = text.find("@")
    while i != -1:
        nxt = i + 1
        if i and text[i - 1] in _LOCAL_CHARS:
            m = _DOMAIN_RE.match(text, i + 1)
            if m is not None and m.group(1).lower() not in _FILE_TLDS:
                head = text[max(0, i - 64) : i]
                local = head[len(head.rstrip(_LOCAL_CHARS)) :].lstrip("._%+-")
                start = i - len(local)
                if (
                    local
                    and not local.endswith(".")
                    and ".." not in local
                    and not _in_url_userinfo(text, start)
                    and found.free(start, m.end())
                ):
                    found.add("email", start, m.end())
                    nxt = m.end()
        i = text.find("@", nxt)


def _in_url_userinfo(text: str, start: int) -> bool:
    """``scheme://user:pass@host`` is a credentialed URL, not an email address."""
    j = text.rfind("://", max(0, start - 64), start)
    if j == -1:
        return False
    between = text[j + 3 : start]
    return not any(c in between for c in " \t\r\n/?&=")
