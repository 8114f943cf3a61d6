"""Errors keep their cause (issue 15): connection refused, DNS failure, TLS failure and
timeout are named as such, with the host:port; a missing or rejected credential is said
on every request that needed it and never opens a breaker.

Real parts only: litellm's HTTP stack (httpx for sync calls, aiohttp for async ones), a
port on 127.0.0.1 where nothing listens, the loopback FaultServer, a plain-HTTP server
spoken to as https. The one stand-in is the DNS answer for names under `.invalid`
(see `no_dns_for_invalid`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from factories import CallMode

import router
from router._records import Decision
from router.errors import AllDeploymentsFailed
from router.serving._executor import RetryPolicy
from router.state.cooldowns import CooldownPolicy
from router.testing import Fault, FaultServer, hang, ok, unauthorized
from router.testing.faultserver import _error_body

FAST = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, jitter=0.0, max_retry_after=0.2)
HI = [{"role": "user", "content": "the prompt text 7f3a"}]
MODES: tuple[CallMode, ...] = ("complete", "acomplete", "stream", "astream")


def serve(r: router.Router, mode: CallMode, **args: Any) -> Decision:
    """One request through one entry point; its final decision (streams read to the end)."""
    if mode == "complete":
        return r.complete(HI, **args).decision
    if mode == "stream":
        s = r.stream(HI, **args)
        for _ in s:
            pass
        return s.decision

    async def once() -> Decision:
        if mode == "acomplete":
            return (await r.acomplete(HI, **args)).decision
        s = await r.astream(HI, **args)
        async for _ in s:
            pass
        return s.decision

    return asyncio.run(once())


def fail(r: router.Router, mode: CallMode, **args: Any) -> AllDeploymentsFailed:
    with pytest.raises(AllDeploymentsFailed) as caught:
        serve(r, mode, **args)
    return caught.value


def local(name: str, api_base: str, quality: float = 0.8) -> dict[str, Any]:
    return {"name": name, "model": "openai/m", "api_base": api_base, "hosting": "local",
            "context_window": 8192, "quality": quality}  # fmt: skip


def paid(name: str, api_base: str, key_env: str | None) -> dict[str, Any]:
    return {"name": name, "model": "openai/x", "api_base": api_base, "hosting": "api",
            "weights": "closed", "context_window": 8192, "api_key_env": key_env,
            "input_cost_per_mtok": 1, "output_cost_per_mtok": 1, "quality": 0.9}  # fmt: skip


def make(*deployments: dict[str, Any], threshold: int = 5) -> router.Router:
    return router.Router(
        deployments=list(deployments),
        objective="best",
        retry=FAST,
        cooldown=CooldownPolicy(threshold=threshold, seconds=60.0),
    )


@pytest.fixture
def dead_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def backup() -> Iterator[FaultServer]:
    with FaultServer(default=ok("from backup")) as server:
        yield server


# -- connection refused ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused_is_named_with_host_and_port_and_falls_back_at_once(
    mode: CallMode, dead_port: int, backup: FaultServer
) -> None:
    r = make(local("down", f"http://127.0.0.1:{dead_port}/v1"), local("up", backup.base_url, 0.7))
    decision = serve(r, mode)
    assert decision.served_by == "up"
    first = decision.attempts[0]
    assert first.deployment == "down"
    assert first.error == (
        f"down: connection refused by 127.0.0.1:{dead_port} (is the server running?)"
    )
    assert "HTTP" not in first.error
    assert [(a.deployment, a.outcome) for a in decision.attempts] == [
        ("down", "fallback"),
        ("up", "ok"),
    ]  # refused once is refused: not three times "server error (HTTP 500)"


def test_an_ollama_deployment_that_is_not_running_says_connection_refused(dead_port: int) -> None:
    """The issue's case: litellm's ollama provider reports it as APIConnectionError 500."""
    r = make({"name": "ollama", "model": "ollama/llama3", "context_window": 8192,
              "api_base": f"http://127.0.0.1:{dead_port}"})  # fmt: skip
    exc = fail(r, "complete")
    assert [a.error for a in exc.attempts] == [
        f"ollama: connection refused by 127.0.0.1:{dead_port} (is the server running?)"
    ]
    assert "HTTP 500" not in str(exc)
    assert "connection refused by 127.0.0.1" in str(exc)


def test_a_breaker_opened_by_refusals_says_what_the_last_failure_was(dead_port: int) -> None:
    r = make(local("down", f"http://127.0.0.1:{dead_port}/v1"), threshold=1)
    fail(r, "complete")
    assert r.health()["down"].state == "open"  # an unreachable deployment is benched
    again = fail(r, "complete")
    assert [a.outcome for a in again.attempts] == ["skipped"]
    assert again.attempts[0].error == (
        "cooling down after failures (last: connection refused by "
        f"127.0.0.1:{dead_port} (is the server running?))"
    )


# -- DNS failure ---------------------------------------------------------------------------


@pytest.fixture
def no_dns_for_invalid(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names under `.invalid` fail at once with EAI_NONAME, as RFC 6761 (6.4) asks of
    resolver libraries. glibc does not: it sends the query to the configured name server
    (seen with strace here: a UDP packet to the nameserver of /etc/resolv.conf), so without
    this the test would reach the network. Every other name goes to the real resolver;
    the list returned holds the `.invalid` names asked for (none reached it)."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").lower().endswith(".invalid"):
            asked.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize("mode", MODES)
def test_a_host_that_does_not_resolve_is_a_dns_failure(
    mode: CallMode, no_dns_for_invalid: list[str], backup: FaultServer
) -> None:
    r = make(local("nowhere", "http://llm.example.invalid:8080/v1"),
             local("up", backup.base_url, 0.7))  # fmt: skip
    decision = serve(r, mode)
    assert decision.served_by == "up"
    assert decision.attempts[0].error == (
        "nowhere: DNS failure: llm.example.invalid:8080 does not resolve"
    )
    assert decision.attempts[0].outcome == "fallback"
    assert no_dns_for_invalid  # the name really was looked up, through socket.getaddrinfo


# -- TLS failure ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_https_to_a_plain_http_server_is_a_tls_failure(mode: CallMode, backup: FaultServer) -> None:
    with FaultServer() as plain:
        port = plain.base_url.split(":")[2].split("/")[0]
        https = plain.base_url.replace("http://", "https://")
        r = make(local("tls", https), local("up", backup.base_url, 0.7))
        decision = serve(r, mode)
        assert plain.requests == []  # nothing got as far as HTTP
    assert decision.served_by == "up"
    assert decision.attempts[0].error == (
        f"tls: TLS failure with 127.0.0.1:{port} "
        "(WRONG_VERSION_NUMBER: the server may speak plain HTTP, not HTTPS)"
    )
    assert decision.attempts[0].outcome == "fallback"


# -- timeout -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_server_that_does_not_answer_in_time_is_a_timeout_naming_it(mode: CallMode) -> None:
    with FaultServer(default=hang(5)) as slow:
        port = slow.base_url.split(":")[2].split("/")[0]
        exc = fail(make(local("slow", slow.base_url)), mode, timeout=0.5)
    assert "deadline of 0.5 s passed" in str(exc)
    first = exc.attempts[0].error or ""
    assert first.startswith(f"slow: timed out: no answer from 127.0.0.1:{port} within 0.")
    assert first.endswith(" s")
    assert "HTTP" not in first  # litellm's made-up 408 is not a status the server sent


def test_a_socket_that_accepts_but_never_answers_is_a_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the handshake; nobody ever reads
        port = listener.getsockname()[1]
        exc = fail(make(local("mute", f"http://127.0.0.1:{port}/v1")), "complete", timeout=0.5)
    assert (exc.attempts[0].error or "").startswith(
        f"mute: timed out: no answer from 127.0.0.1:{port} within 0."
    )


# -- credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_missing_key_is_said_on_every_request_and_never_opens_the_breaker(
    mode: CallMode, monkeypatch: pytest.MonkeyPatch, backup: FaultServer
) -> None:
    monkeypatch.delenv("ROUTER_I15_KEY", raising=False)
    r = make(paid("keyless", backup.base_url, "ROUTER_I15_KEY"), threshold=1)
    for _ in range(3):
        exc = fail(r, mode)
        assert [(a.outcome, a.error) for a in exc.attempts] == [
            ("fallback", "keyless: missing credentials: $ROUTER_I15_KEY is not set")
        ]
        assert "cooling down" not in str(exc)
        assert r.health()["keyless"].state == "closed"
    assert backup.requests == []  # nothing was sent without the key
    monkeypatch.setenv("ROUTER_I15_KEY", "sk-set-now")
    assert serve(r, mode).served_by == "keyless"  # setting it fixes the next request at once


def test_a_missing_key_shows_on_every_row_even_when_another_deployment_serves(
    monkeypatch: pytest.MonkeyPatch, backup: FaultServer
) -> None:
    """The `demo --live` case: the paid deployment is planned first on every row."""
    monkeypatch.delenv("ROUTER_I15_KEY", raising=False)
    r = make(paid("keyless", backup.base_url, "ROUTER_I15_KEY"),
             local("up", backup.base_url, 0.7), threshold=1)  # fmt: skip
    for _ in range(3):
        decision = serve(r, "complete")
        assert decision.served_by == "up"
        assert decision.attempts[0].error == (
            "keyless: missing credentials: $ROUTER_I15_KEY is not set"
        )


@pytest.mark.parametrize("mode", MODES)
def test_a_rejected_key_is_said_on_every_request_and_never_opens_the_breaker(
    mode: CallMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_I15_KEY", "sk-wrong")
    with FaultServer(default=unauthorized()) as provider:
        r = make(paid("wrong-key", provider.base_url, "ROUTER_I15_KEY"), threshold=1)
        for _ in range(3):
            exc = fail(r, mode)
            assert [(a.outcome, a.error) for a in exc.attempts] == [
                ("fallback", "wrong-key: credentials rejected (HTTP 401)")
            ]
            assert r.health()["wrong-key"].state == "closed"
        assert len(provider.requests) == 3  # asked each time: not retried, not benched
    assert "sk-wrong" not in str(exc)


def test_a_403_is_rejected_credentials_not_a_server_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An OpenAI-compatible server's 403 (litellm raises no PermissionDeniedError for
    it): credentials rejected, fallen back at once, never retried or benched (it was
    "provider error": retried three times and counted against the breaker)."""
    monkeypatch.setenv("ROUTER_I16_KEY", "sk-not-allowed")
    forbidden = Fault("bad_request", status=403, body=_error_body("Forbidden", "x", None))
    with FaultServer(default=forbidden) as provider:
        r = make(paid("forbidden", provider.base_url, "ROUTER_I16_KEY"), threshold=1)
        for _ in range(2):
            exc = fail(r, "complete")
            assert [(a.outcome, a.error) for a in exc.attempts] == [
                ("fallback", "forbidden: credentials rejected (HTTP 403)")
            ]
            assert r.health()["forbidden"].state == "closed"
        assert len(provider.requests) == 2


def test_the_providers_own_key_variable_unset_is_missing_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No api_key_env: litellm reads $OPENAI_API_KEY itself and, unset, raises a 500
    ("Missing credentials") before sending anything."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = router.Router(
        deployments=[{"name": "openai-mini", "model": "gpt-4o-mini", "api_key_env": None}],
        retry=FAST,
        cooldown=CooldownPolicy(threshold=1),
    )
    for _ in range(2):
        exc = fail(r, "complete")
        assert [a.error for a in exc.attempts] == [
            "openai-mini: missing credentials: $OPENAI_API_KEY is not set"
        ]
    assert r.health()["openai-mini"].state == "closed"
