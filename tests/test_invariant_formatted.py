"""Invariants 0 and 1 on real-world input: for any request built from a sensitive value
written the ways people write it, placed anywhere a request forwards, no API deployment
receives a byte of it -- through complete, acomplete, stream, astream, cascade, the
cache and fallback (issue 13, "Measured": a property test per invariant).

Two local deployments and an "api" one on a MockBackend (router.testing: FaultServer's
answers, in process), `objective="best"` (the API wins whenever policy allows), the
free-first pack. Hypothesis draws the value (a Luhn-valid card, a mod-97-valid IBAN, an
API key or a private key), a formatting transform (separators, Unicode spaces,
zero-width characters, other digit scripts, case, line wraps), the place (every field
the router forwards), the call mode and whether the first local call fails (fallback)
or the cache is on. The check reads what the backend received for the API deployment:
it must stay empty.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from factories import call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import Router
from router.errors import AllDeploymentsFailed
from router.serving._executor import RetryPolicy
from router.state.cache import ResponseCache
from router.testing import MockBackend, ok, server_error

KEY_ENV = "ROUTER_TEST_FORMATTED_KEY"
Mode = Literal["complete", "acomplete", "stream", "astream", "cascade"]
MODES: tuple[Mode, ...] = ("complete", "acomplete", "stream", "astream", "cascade")

# ---------------------------------------------------------------- values


def _luhn(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


@st.composite
def cards(draw: st.DrawFn) -> list[str]:
    """A Luhn-valid card as its groups: Visa/Mastercard/Discover 4-4-4-4, Amex 4-6-5."""
    prefix, length = draw(st.sampled_from([("4", 16), ("52", 16), ("6011", 16), ("37", 15)]))
    rest = draw(st.text("0123456789", min_size=length - len(prefix) - 1,
                        max_size=length - len(prefix) - 1))  # fmt: skip
    number = _luhn(prefix + rest)
    cuts = (4, 10) if length == 15 else (4, 8, 12)
    starts = (0, *cuts)
    return [number[a:b] for a, b in zip(starts, (*cuts, length), strict=True)]


def _iban_check(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


@st.composite
def ibans(draw: st.DrawFn) -> list[str]:
    """A mod-97-valid German or Dutch IBAN as its groups of four."""
    if draw(st.booleans()):
        bban = draw(st.text("0123456789", min_size=18, max_size=18))
        iban = _iban_check("DE", bban)
    else:
        bank = draw(st.sampled_from(["ABNA", "INGB", "RABO"]))
        iban = _iban_check("NL", bank + draw(st.text("0123456789", min_size=10, max_size=10)))
    return [iban[i : i + 4] for i in range(0, len(iban), 4)]


_B62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_KEY_BODY = st.text(_B62, min_size=40, max_size=40).filter(
    lambda s: any(c.isdigit() for c in s) and any(c.isupper() for c in s)
    and any(c.islower() for c in s)
)  # fmt: skip


@st.composite
def api_keys(draw: st.DrawFn) -> list[str]:
    body = draw(_KEY_BODY)
    prefix = draw(st.sampled_from(["sk-" + "proj-", "ghp" + "_", "sk" + "_live_"]))
    return [prefix + body[:36]]


_PEM_BODY = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi8q1w2e3r4t5y6u7i8o9p0AbCdEfGh"


def _pem(label: str) -> list[str]:
    return [f"-----BEGIN {label}-----\n{_PEM_BODY}\n-----END {label}-----"]


VALUES = st.one_of(
    cards().map(lambda g: ("card", g)),
    ibans().map(lambda g: ("iban", g)),
    api_keys().map(lambda g: ("key", g)),
    st.sampled_from(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"]).map(
        lambda label: ("pem", _pem(label))
    ),
)

# ---------------------------------------------------------------- transforms

_SEPARATORS = [" ", "  ", "\t", "\n", "-", " - ", ".", "\u00a0", "\u2009", "\u202f", "\u3000"]
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff"]


def _digits(table_start: int) -> Callable[[str], str]:
    return lambda text: "".join(chr(table_start + int(c)) if c.isdigit() else c for c in text)


@st.composite
def written(draw: st.DrawFn) -> str:
    """The value as a person or a tool wrote it."""
    kind, groups = draw(VALUES)
    if kind in ("card", "iban"):
        text = draw(st.sampled_from(_SEPARATORS)).join(groups)
        how = draw(st.sampled_from(["plain", "invisible", "fullwidth", "arabic-indic", "case"]))
        if how == "invisible":
            at = draw(st.integers(1, len(text) - 1))
            text = text[:at] + draw(st.sampled_from(_INVISIBLE)) + text[at:]
        elif how == "fullwidth":
            text = _digits(0xFF10)(text)
        elif how == "arabic-indic":
            text = _digits(0x0660)(text)
        elif how == "case" and kind == "iban":
            text = text.lower()
        return text
    text = groups[0]
    how = draw(st.sampled_from(["plain", "invisible"]))
    if how == "invisible" and kind == "key":
        at = draw(st.integers(4, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(_INVISIBLE)) + text[at:]
    return text


# ---------------------------------------------------------------- places

Build = Callable[[str], tuple[list[dict[str, Any]], dict[str, Any]]]


def _user(content: Any, **extra: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content, **extra}]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _split(v: str) -> tuple[str, str]:
    return v[: len(v) // 2], v[len(v) // 2 :]


PLACES: dict[str, Build] = {
    "content": lambda v: (_user(f"Please process {v} today."), {}),
    "content-start": lambda v: (_user(f"{v} is on file"), {}),
    "after-numbers": lambda v: (_user(" ".join(f"{i}.00" for i in range(1, 400)) + f" {v}"), {}),
    "indented": lambda v: (_user(" " * 40 + v + " " * 30 + "|"), {}),
    "text-part": lambda v: (_user([{"type": "text", "text": f"ref: {v}"}]), {}),
    "split-parts": lambda v: (_user([{"type": "text", "text": "id " + _split(v)[0]},
                                     {"type": "text", "text": _split(v)[1] + " ok"}]), {}),
    "split-messages": lambda v: ([*_user("id " + _split(v)[0]),
                                  *_user(_split(v)[1] + " ok")], {}),
    "system": lambda v: ([{"role": "system", "content": f"Context: {v}"}, *_user("hi")], {}),
    "name": lambda v: (_user("hi", name=v), {}),
    "extra-field": lambda v: (_user("hi", note=v), {}),
    "tool-call-id": lambda v: ([*_user("go"),
                                {"role": "tool", "tool_call_id": v, "content": "ok"}], {}),
    "tool-arguments": lambda v: ([*_user("go"), {
        "role": "assistant", "content": None, "tool_calls": [{
            "id": "c1", "type": "function",
            "function": {"name": "f", "arguments": json.dumps({"value": v})}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}], {}),
    "image-url": lambda v: (_user([{"type": "text", "text": "see"}, {
        "type": "image_url", "image_url": {"url": "https://example.com/a.png?q=" + v}}]), {}),
    "file-text": lambda v: (_user([{"type": "text", "text": "read"}, {
        "type": "file", "file": {"filename": "a.txt",
                                 "file_data": "data:text/plain;base64," + _b64(v)}}]), {}),
    "metadata": lambda v: (_user("hi"), {"metadata": {"ref": v[:512]}}),
    "user": lambda v: (_user("hi"), {"user": v}),
    "stop": lambda v: (_user("hi"), {"stop": [v]}),
    "tool-description": lambda v: (_user("hi"), {"tools": [{"type": "function", "function": {
        "name": "f", "description": f"uses {v}", "parameters": {}}}]}),
}  # fmt: skip

# ---------------------------------------------------------------- the world


NOWHERE = "http://127.0.0.1:9/v1"  # loopback (so "local"); the mock never connects
LOCALS = ("local", "local-2")


@pytest.fixture(scope="module")
def backend() -> MockBackend:
    """Both local deployments answer "local", the API "paid" (as two servers would)."""
    mock = MockBackend(default=ok("local"))
    mock.set_default(ok("paid"), deployment="api")
    return mock


def _router(backend: MockBackend, mode: Mode, cache_dir: Path | None) -> Router:
    return Router(
        deployments=[
            {"name": "local", "model": "openai/q", "api_base": NOWHERE,
             "context_window": 64_000, "quality": 0.6, "capabilities": ["tools", "vision"]},
            {"name": "local-2", "model": "openai/r", "api_base": NOWHERE,
             "context_window": 64_000, "quality": 0.5, "capabilities": ["tools", "vision"]},
            {"name": "api", "model": "openai/big", "api_base": NOWHERE, "hosting": "api",
             "weights": "closed", "context_window": 64_000, "quality": 0.9,
             "api_key_env": KEY_ENV, "input_cost_per_mtok": 2.5, "output_cost_per_mtok": 10,
             "capabilities": ["tools", "vision"]},
        ],
        objective="best",
        quality_target=0.5,
        mode="cascade" if mode == "cascade" else "route",
        cascade={"threshold": 0.5},
        retry=RetryPolicy(attempts=1),
        cache=ResponseCache(cache_dir) if cache_dir is not None else None,
        backend=backend,
    )  # fmt: skip


PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


CASES = st.tuples(written(), st.sampled_from(sorted(PLACES)), st.booleans(), st.booleans())
"""(the value as written, where it is placed, whether the first local deployment fails
first, whether the cache is on)."""


@pytest.mark.parametrize("mode", MODES)
@PROPERTY
@given(case=CASES)
def test_no_api_receives_a_sensitive_value_however_written_and_wherever_placed(
    backend: MockBackend,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    mode: Mode,
    case: tuple[str, str, bool, bool],
) -> None:
    value, place, fallback, cached = case
    monkeypatch.setenv(KEY_ENV, "sk-test")
    backend.reset_requests()
    cache_dir = tmp_path_factory.mktemp("cache") if cached else None
    r = _router(backend, mode, cache_dir)
    messages, args = PLACES[place](value)
    if cached:
        args = {**args, "temperature": 0}
    if fallback:  # the first local call fails: fall back (the shared queue: whichever local
        backend.script(server_error(503))  # deployment is called first, as one server would)
    try:
        call(r, "complete" if mode == "cascade" else mode, messages, args)
    except AllDeploymentsFailed:
        pass  # every local deployment failed: failing is allowed, leaking is not
    finally:
        backend.clear()
    assert backend.requests_to("api") == [], f"{place}: the API received the request"
    local_requests = [body for name in LOCALS for body in backend.requests_to(name)]
    assert local_requests, f"{place}: nothing was served locally either"
