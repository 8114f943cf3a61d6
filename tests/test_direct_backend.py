"""`client = "direct"` (router.serving._direct) answers each FaultServer fault as the
litellm path does: the same router error (class, disposition, status, retry_after,
message, nothing chained), the same answer text, finish reason and usage, in all four
call modes; and the server receives the same request body. Then the Router serves
direct deployments end to end, and the config refuses what a direct client cannot send.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from test_mock_backend import (  # the parity test's faults, fixture and helpers
    FAULTS,
    HANG_TIMEOUT,
    MESSAGES,
    MODES,
    PARAMS,
    TIMEOUT,
    _deployment,
    _outcome,
    _params,
    server,
)

from router import Router
from router.errors import ConfigError, MissingCredentials, ProviderUnavailable
from router.serving._backends import LiteLLMBackend
from router.testing import Fault, FaultServer, ok, rate_limited, server_error, stream

__all__ = ["server"]  # the fixture, imported


def _text(out: dict[str, Any]) -> Any:
    """What a caller reads: the answer's text, finish reason and usage (or the chunks')."""
    if out["response"] is not None:
        r = out["response"]
        return (
            [(c["message"].get("content"), c.get("finish_reason")) for c in r["choices"]],
            {k: r.get("usage", {}).get(k) for k in ("prompt_tokens", "completion_tokens")},
        )
    chunks = out["chunks"]
    finish = [
        x.get("finish_reason") for c in chunks for x in c["choices"] if x.get("finish_reason")
    ]
    usage = [c["usage"] for c in chunks if c.get("usage")]
    return (
        "".join(x["delta"].get("content") or "" for c in chunks for x in c["choices"]),
        finish[-1:],
        {k: usage[-1].get(k) for k in ("prompt_tokens", "completion_tokens")} if usage else None,
    )


def _made_up_500(sent: int, real: dict[str, Any], direct: dict[str, Any]) -> bool:
    """A failure with no HTTP error status (a broken body, a dropped stream) that litellm
    reports with a status 500 it made up, where the direct client's error has no status
    and names what happened (a broken response, a reset connection)."""
    mine, theirs = direct["error"], real["error"]
    return (
        sent < 400
        and mine is not None
        and theirs is not None
        and theirs["status"] == 500
        and mine["status"] is None
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FAULTS)
def test_each_fault_is_what_the_litellm_path_makes_of_it(
    server: FaultServer, name: str, mode: str
) -> None:
    fault, params = FAULTS[name], _params(name)
    timeout = HANG_TIMEOUT if name.startswith("hang") else TIMEOUT
    d = _deployment(server)
    server.clear()
    server.reset_requests()
    server.script(fault)
    real = _outcome(LiteLLMBackend(), d, mode, params, timeout)
    sent = server.requests
    server.reset_requests()
    server.script(fault)
    direct = _outcome(
        LiteLLMBackend(), d.model_copy(update={"client": "direct"}), mode, params, timeout
    )

    if _made_up_500(fault.status, real, direct):
        keep = ("class", "disposition", "retry_after", "deployment", "chained")
        assert {k: direct["error"][k] for k in keep} == {k: real["error"][k] for k in keep}
    else:
        assert direct["error"] == real["error"]
    if fault.status < 400 and fault.body:  # a 200 that is not a completion, streamed
        assert _text(direct)[::2] == _text(real)[::2]  # litellm adds a finish_reason "stop"
    else:
        assert _text(direct) == _text(real)
    assert server.requests == sent


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("extra", range(len(PARAMS)))
def test_the_server_receives_the_body_litellm_sends(
    server: FaultServer, extra: int, mode: str
) -> None:
    params = {"messages": MESSAGES, **PARAMS[extra]}
    d = _deployment(server)
    server.clear()
    server.reset_requests()
    _outcome(LiteLLMBackend(), d, mode, json.loads(json.dumps(params)), TIMEOUT)
    sent = server.requests
    server.reset_requests()
    _outcome(LiteLLMBackend(), d.model_copy(update={"client": "direct"}), mode, params, TIMEOUT)
    assert server.requests == sent
    assert len(sent) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_missing_key_is_refused_before_anything_is_sent(
    server: FaultServer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROUTER_TEST_DIRECT_NO_KEY", raising=False)
    d = _deployment(server, api_key_env="ROUTER_TEST_DIRECT_NO_KEY", client="direct")
    server.reset_requests()
    out = _outcome(LiteLLMBackend(), d, mode, _params("ok"), TIMEOUT)
    assert out["error"]["class"] is MissingCredentials
    assert "$ROUTER_TEST_DIRECT_NO_KEY is not set" in out["error"]["message"]
    assert server.requests == []


def test_the_key_is_sent_as_a_bearer_token_and_never_in_an_error(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_TEST_DIRECT_KEY", "sk-direct-secret-123")
    d = _deployment(server, api_key_env="ROUTER_TEST_DIRECT_KEY", client="direct")
    server.clear()
    server.script(server_error())
    out = _outcome(LiteLLMBackend(), d, "complete", _params("ok"), TIMEOUT)
    assert server.request_headers[-1]["authorization"] == "Bearer sk-direct-secret-123"
    assert "sk-direct-secret" not in out["error"]["message"]


def _cookie_setting_answer() -> Fault:
    body = {"id": "c1", "object": "chat.completion", "created": 0, "model": "m1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                         "finish_reason": "stop"}]}  # fmt: skip
    cookie = ("Set-Cookie", "tenant_session=acme-secret; Path=/; Max-Age=3600")
    return Fault("ok", status=200, body=json.dumps(body).encode(), headers=(cookie,))


@pytest.mark.parametrize("blocking", [True, False])
def test_a_cookie_one_answer_sets_is_never_sent_with_the_next_request(
    server: FaultServer, blocking: bool
) -> None:
    """Both clients are shared by every tenant of the process: a jar would carry a
    cookie from one tenant's answer into another tenant's request."""
    d = _deployment(server, client="direct")
    backend = LiteLLMBackend()
    server.clear()
    server.reset_requests()
    server.script(_cookie_setting_answer(), _cookie_setting_answer())
    if blocking:
        for _ in range(2):
            backend.complete(d, _params("ok"), TIMEOUT)
    else:

        async def twice() -> None:  # one loop: one aiohttp session for both calls
            for _ in range(2):
                await backend.acomplete(d, _params("ok"), TIMEOUT)

        asyncio.run(twice())
    assert len(server.request_headers) == 2
    assert all("cookie" not in headers for headers in server.request_headers)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("mode", MODES)
def test_a_redirect_is_never_followed(server: FaultServer, mode: str, status: int) -> None:
    """A local deployment answering a redirect must not carry the prompt elsewhere:
    nothing reaches the Location, and the error says what to fix."""
    with FaultServer() as elsewhere:
        location = elsewhere.base_url.rstrip("/") + "/chat/completions"
        moved = Fault("ok", status=status, body=b"moved", headers=(("Location", location),))
        d = _deployment(server, client="direct")
        server.clear()
        server.script(moved)
        out = _outcome(LiteLLMBackend(), d, mode, _params("ok"), TIMEOUT)
        assert elsewhere.requests == []
    assert out["error"]["class"] is ProviderUnavailable
    assert out["error"]["status"] == status
    assert f"redirect (HTTP {status}), which is not followed" in out["error"]["message"]


def _router(*servers: FaultServer) -> Router:
    names = ("first", "second")
    return Router(
        [
            {"name": n, "model": f"openai/{n}", "api_base": s.base_url, "client": "direct",
             "hosting": "self-hosted", "weights": "open", "context_window": 8192,
             "quality": 0.9 - i / 10}
            for i, (n, s) in enumerate(zip(names, servers, strict=False))
        ],
        retry={"attempts": 1},
    )  # fmt: skip


def test_a_router_serves_direct_deployments_in_every_mode_and_falls_back() -> None:
    with FaultServer() as one, FaultServer() as two:
        r = _router(one, two)
        one.script(ok("sync"))
        assert r.complete([{"role": "user", "content": "hi"}]).content == "sync"

        async def both() -> tuple[str, str]:
            a = await r.acomplete([{"role": "user", "content": "hi"}])
            text = ""
            async for chunk in await r.astream([{"role": "user", "content": "hi"}]):
                text += (
                    (chunk["choices"][0]["delta"].get("content") or "") if chunk["choices"] else ""
                )
            return str(a.content), text

        one.script(ok("async"), stream(("a", "b")))
        assert asyncio.run(both()) == ("async", "ab")
        one.script(stream(("c", "d")))
        assert (
            "".join(
                c["choices"][0]["delta"].get("content") or ""
                for c in r.stream([{"role": "user", "content": "hi"}])
                if c["choices"]
            )
            == "cd"
        )
        # the first deployment fails: the second answers; the decision records both
        one.script(server_error(503))
        two.script(ok("from two"))
        result = r.complete([{"role": "user", "content": "hi"}])
        assert result.content == "from two"
        assert result.decision.served_by == "second"
        assert [a.deployment for a in result.decision.attempts] == ["first", "second"]
        one.script(rate_limited(0))
        two.script(ok("again"))
        assert asyncio.run(r.acomplete([{"role": "user", "content": "hi"}])).content == "again"


def test_one_router_serves_across_two_event_loops() -> None:
    """Each loop gets its own HTTP session, closed when that loop shuts down."""
    with FaultServer() as one:
        r = _router(one)
        for text in ("first loop", "second loop"):
            one.script(ok(text))
            assert asyncio.run(r.acomplete([{"role": "user", "content": "x"}])).content == text
        direct = r.backend.direct  # type: ignore[attr-defined]
        assert len(direct._sessions) == 0  # both sessions closed with their loops


CONFIG_ERRORS = [
    ({"client": "direct"}, 'client = "direct" needs api_base'),
    ({"client": "direct", "api_base": "http://127.0.0.1:1/v1", "api_version": "2024-10-21"},
     "sends no api_version or litellm_params"),
    ({"client": "direct", "api_base": "http://127.0.0.1:1/v1",
      "litellm_params": {"vertex_project": "p"}}, "sends no api_version or litellm_params"),
    ({"client": "http"}, "'auto', 'litellm' or 'direct'"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "words"), CONFIG_ERRORS)
def test_the_config_refuses_what_a_direct_client_cannot_send(
    extra: dict[str, Any], words: str
) -> None:
    spec = {"name": "d", "model": "openai/m", "hosting": "self-hosted", "weights": "open",
            "context_window": 8192, **extra}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        Router([spec])
    assert words in str(caught.value)
    assert caught.value.key.startswith("deployments[0]")
