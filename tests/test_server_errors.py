"""The server's answers to what goes wrong: the error table, 413, 408, 429 with
Retry-After, 502/503/504 from upstream failures, /ready's 503, and bodies drawn at
random (hypothesis) that never get a 500."""

from __future__ import annotations

import calendar
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import server_kit as kit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import router.errors
from router.server import STATUS
from router.testing import FaultServer, hang, server_error


def config(folder: Path, text: str) -> Path:
    path = folder / "router.toml"
    path.write_text(text, encoding="utf-8")
    return path


def local_only(local: FaultServer, *, router: str = "", server: str = "") -> str:
    return f"""
[router]
ledger = "ledger.sqlite"
{router}
[retry]
attempts = 1
[[deployments]]
name = "local"
model = "openai/q"
api_base = "{local.base_url}"
context_window = 8192
[server]
auth = "none"
{server}
"""


def paid_only(api: FaultServer, *, usd: float, router: str = "") -> str:
    """A config whose only deployment is a paid API, under a hard budget of `usd` a day
    for the default tenant; `router` lines go under [router] (a table may follow)."""
    return f"""
[router]
ledger = "ledger.sqlite"
{router}
[[deployments]]
name = "api"
model = "openai/big"
api_base = "{api.base_url}"
hosting = "api"
weights = "closed"
context_window = 8192
api_key_env = "{kit.API_KEY_ENV}"
input_cost_per_mtok = 2.5
output_cost_per_mtok = 10
[[budgets]]
tenant = "default"
period = "day"
usd = {usd}
[server]
auth = "none"
"""


def post(base: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30, **kw)


# -- the table -----------------------------------------------------------------------------


def test_every_router_error_has_its_own_row() -> None:
    errors = {getattr(router.errors, n) for n in router.errors.__all__ if n != "Disposition"}
    assert set(STATUS) == errors
    for cls, mapped in STATUS.items():
        assert 400 <= mapped.status < 600, cls
        assert mapped.code, cls


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (router.errors.InvalidRequest("temperature", "give a number"), 400, "invalid_request"),
        (
            router.errors.BadRequest("api", "bad request", status=400),
            400,
            "upstream_rejected_request",
        ),
        (
            router.errors.ConnectionRefused("local", "connection refused"),
            503,
            "upstream_unreachable",
        ),
        (router.errors.ProviderTimeout("api", "timed out"), 504, "upstream_timeout"),
        (router.errors.MissingCredentials("api", "missing"), 502, "upstream_credentials"),
        (router.errors.LedgerError("/x/ledger.sqlite", "corrupt"), 500, "ledger_unavailable"),
    ],
    ids=["invalid", "bad-request", "refused", "timeout", "credentials", "ledger"],
)
def test_an_error_gets_its_rows_status(
    error: router.errors.RouterError, status: int, code: str
) -> None:
    answer = answer_of(error)
    assert answer.status == status
    assert answer.body["error"]["code"] == code
    assert set(answer.body["error"]) == {"message", "type", "param", "code"}


def answer_of(error: router.errors.RouterError) -> Any:
    from router.server._errors import answer_for  # noqa: PLC0415

    return answer_for(error, retry_after=2.2)


def test_the_operators_errors_tell_the_client_only_where_to_look() -> None:
    answer = answer_of(router.errors.ConfigError("/etc/router/secret-path.toml", "k", "bad"))
    assert "secret-path" not in json.dumps(answer.body)
    assert answer.status == 500


def test_invalid_request_names_its_param() -> None:
    answer = answer_of(router.errors.InvalidRequest("messages[0].role", "is required"))
    assert answer.body["error"]["param"] == "messages[0].role"
    assert "Retry-After" not in answer.headers  # only on 429 and 503


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture
def local() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def test_a_spent_hard_budget_is_429_with_retry_after_at_its_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(kit.API_KEY_ENV, "sk-" + "test")
    with FaultServer() as api:
        path = config(tmp_path, paid_only(api, usd=0))
        with kit.serving(path) as (running, _):
            response = post(running.root, kit.CHAT)
        assert api.requests == []
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "budget_exhausted"
    assert response.json()["error"]["type"] == "insufficient_quota"
    t = time.gmtime()
    midnight = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)) + 86_400
    assert abs(int(response.headers["retry-after"]) - (midnight - time.time())) < 5
    assert len(response.headers["x-request-id"]) == 24


def test_budgets_failed_closed_with_redis_down_is_503_not_a_spent_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget has room, but its counters are in a Redis that does not answer: the
    budgets fail closed, and the client is told the state is unavailable (503 and when to
    retry), not that its budget is spent (429)."""
    monkeypatch.setenv(kit.API_KEY_ENV, "sk-" + "test")
    with FaultServer() as api:
        dead = 'state = "redis://127.0.0.1:9/0"\n[state]\ntimeout_ms = 100\nretry_seconds = 7'
        path = config(tmp_path, paid_only(api, usd=1000, router=dead))
        with kit.serving(path) as (running, _):
            response = post(running.root, kit.CHAT)
        assert api.requests == []
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "shared_state_unavailable"
    assert "budgets failed closed" in error["message"]
    assert response.headers["retry-after"] == "7"
    assert len(response.headers["x-request-id"]) == 24


def test_a_passed_deadline_is_504(tmp_path: Path, local: FaultServer) -> None:
    local.script(hang(5))
    path = config(tmp_path, local_only(local, router="timeout = 0.5"))
    with kit.serving(path) as (running, _):
        response = post(running.root, kit.CHAT)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"


def test_benched_deployments_are_503_with_retry_after(tmp_path: Path, local: FaultServer) -> None:
    local.script(server_error(500))
    path = config(tmp_path, local_only(local) + "[cooldown]\nthreshold = 1\nseconds = 30\n")
    with kit.serving(path) as (running, _):
        first = post(running.root, kit.CHAT)
        second = post(running.root, kit.CHAT)
        ready = httpx.get(f"{running.root}/ready")
    assert first.status_code == 502
    assert second.status_code == 503
    assert second.json()["error"]["code"] == "deployments_cooling_down"
    assert 1 <= int(second.headers["retry-after"]) <= 30
    assert ready.status_code == 503  # its only deployment is benched
    assert ready.json()["deployments"]["local"]["breaker"] == "open"


@pytest.fixture
def small(tmp_path: Path, local: FaultServer) -> Iterator[kit.Running]:
    path = config(tmp_path, local_only(local, server="max_body_bytes = 2048\nread_timeout = 0.3"))
    with kit.serving(path) as (running, _):
        yield running


def test_a_body_over_the_limit_is_413(small: kit.Running, local: FaultServer) -> None:
    big = {**kit.CHAT, "messages": [{"role": "user", "content": "x" * 4096}]}
    declared = post(small.root, big)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "body_too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield json.dumps(big).encode()

    streamed = httpx.post(f"{small.root}/v1/chat/completions", content=chunked())
    assert streamed.status_code == 413
    assert local.requests == []


def test_a_body_sent_too_slowly_is_408(small: kit.Running) -> None:
    port = int(small.root.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"model": '
        )
        answer = b""
        while b"\r\n\r\n" not in answer:  # the server answers once read_timeout passed
            part = conn.recv(4096)
            if not part:
                break
            answer += part
    assert answer.startswith(b"HTTP/1.1 408")


# -- bodies drawn at random ----------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.sampled_from(
    ["model", "messages", "stream", "stream_options", "temperature", "n", "tools", "user",
     "metadata", "max_tokens", "response_format", "tenant", "seed", "stop", "x"]
)  # fmt: skip
_bodies = st.dictionaries(_fields, _json, max_size=6).map(lambda d: {"model": "router", **d})


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kit.Running]:
    with FaultServer() as local:
        path = config(tmp_path_factory.mktemp("random"), local_only(local))
        with kit.serving(path) as (running, _):
            yield running


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_bodies)
def test_random_json_bodies_never_get_a_500(open_server: kit.Running, body: dict[str, Any]) -> None:
    # json.dumps, not httpx's encoder: it writes inf as Infinity, as careless clients do
    # (httpx refuses to encode it, so the server would never see one)
    response = httpx.post(
        f"{open_server.root}/v1/chat/completions",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=64))
def test_malformed_bodies_get_400(open_server: kit.Running, raw: bytes) -> None:
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    response = httpx.post(f"{open_server.root}/v1/chat/completions", content=raw, timeout=30)
    if not isinstance(parsed, dict):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_json"
    else:
        assert response.status_code in (200, 400, 404)


# -- the body, before the router sees it -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "model"),
        ({"model": "router"}, "messages"),
        ({**kit.CHAT, "stream": "yes"}, "stream"),
        ({**kit.CHAT, "stream_options": {"include_usage": True}}, "stream_options"),
        ({**kit.CHAT, "stream": True, "stream_options": {"include_usage": 1}}, "stream_options"),
        ({**kit.CHAT, "quality_target": 0.99}, "quality_target"),
    ],
    ids=["no-model", "no-messages", "stream-type", "options-without-stream", "options-type",
         "router-argument"],
)  # fmt: skip
def test_what_the_server_reads_itself_is_checked(body: dict[str, Any], param: str) -> None:
    from router.server._openai import BodyError, parse_body  # noqa: PLC0415

    with pytest.raises(BodyError) as caught:
        parse_body(json.dumps(body).encode())
    assert caught.value.answer.status == 400
    assert caught.value.answer.body["error"]["param"] == param


def test_litellms_own_fields_are_not_sent() -> None:
    from router.server._openai import chunk, completion  # noqa: PLC0415

    response = {
        "id": "c1", "created": 5, "model": "q", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop", "provider_specific_fields": {},
                     "message": {"role": "assistant", "content": "hi", "tool_calls": None}}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3,
                  "prompt_tokens_details": None},
    }  # fmt: skip
    out = completion(response, "router", (0, 0))
    assert out["choices"][0] == {
        "index": 0, "message": {"role": "assistant", "content": "hi"}, "logprobs": None,
        "finish_reason": "stop",
    }  # fmt: skip
    assert out["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    piece = {"id": "c1", "created": 5, "model": "q", "citations": None,
             "choices": [{"index": 0, "delta": {"content": "h", "role": None}}]}  # fmt: skip
    assert chunk(piece, "router", False) == {
        "id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "q",
        "choices": [{"index": 0, "delta": {"content": "h"}, "logprobs": None,
                     "finish_reason": None}],
    }  # fmt: skip
    assert chunk({**piece, "choices": []}, "router", True) is None
