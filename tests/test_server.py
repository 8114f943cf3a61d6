"""`router serve` end to end: the official OpenAI SDK (sync, async, streaming) and raw
HTTP against the real server (uvicorn, in a thread) in front of loopback FaultServers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import server_kit as kit

import router
from router.testing import FaultServer, ok, server_error, stream

CARD = "Refund card 4111 1111 1111 1111 please."


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[FaultServer, FaultServer]]:
    with FaultServer() as local, FaultServer() as api:
        yield local, api


@pytest.fixture(scope="module")
def served(
    fleet: tuple[FaultServer, FaultServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[kit.Running, router.Router, Path]]:
    folder = tmp_path_factory.mktemp("served")
    path = kit.write_config(folder, *fleet)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in kit.env().items():
            mp.setenv(name, value)
        with kit.serving(path) as (running, r):
            yield running, r, folder


@pytest.fixture
def server(
    served: tuple[kit.Running, router.Router, Path], fleet: tuple[FaultServer, FaultServer]
) -> kit.Running:
    for s in fleet:
        s.clear()
        s.reset_requests()
    return served[0]


def records(folder: Path) -> list[dict[str, Any]]:
    path = folder / "ledger.sqlite"
    if not path.exists():  # the server's first record creates it (connect() here would too)
        return []
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in db.execute("SELECT * FROM records ORDER BY id")]
        except sqlite3.OperationalError:  # created this instant, its schema not yet written
            return []


def record_of(folder: Path, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10  # a stream's record lands when it settles
    while True:
        found = [r for r in records(folder) if r["request_id"] == request_id]
        if found or time.monotonic() > deadline:
            assert found, f"no record of {request_id}"
            return found[0]
        time.sleep(0.02)


# -- the SDK -------------------------------------------------------------------------------


def test_the_sync_sdk_gets_a_completion_and_the_decision_headers(
    server: kit.Running, served: tuple[kit.Running, router.Router, Path]
) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key=kit.ACME)
    raw = client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": "Say hi"}]
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "hello"
    assert answer.object == "chat.completion"
    assert answer.usage is not None
    assert answer.usage.total_tokens == 10
    h = raw.headers
    assert h["x-router-served-by"] == "local"
    assert h["x-router-sensitivity"] == "public"
    assert float(h["x-router-cost-usd"]) == 0.0
    assert float(h["x-router-saved-usd"]) > 0  # the baseline ("api") would have cost money
    assert float(h["x-router-overhead-ms"]) >= 0
    r, folder = served[1], served[2]
    row = record_of(folder, h["x-request-id"])
    assert (row["tenant"], row["served_by"]) == ("acme", "local")
    r.feedback(h["x-request-id"], True)  # the id Router.feedback takes


def test_the_async_sdk_and_a_named_route(server: kit.Running) -> None:
    async def ask() -> Any:
        client = openai.AsyncOpenAI(base_url=server.v1, api_key=kit.GLOBEX)
        return await client.chat.completions.with_raw_response.create(
            model="router/best", messages=[{"role": "user", "content": "Say hi"}]
        )

    raw = asyncio.run(ask())
    assert raw.parse().choices[0].message.content == "hello"
    assert raw.headers["x-router-served-by"] == "api"  # objective best: the better model
    assert float(raw.headers["x-router-cost-usd"]) > 0


def test_the_sdk_streams_with_the_usage_chunk(
    server: kit.Running, fleet: tuple[FaultServer, FaultServer]
) -> None:
    fleet[0].script(stream(("a", "b", "c")))
    client = openai.OpenAI(base_url=server.v1, api_key=kit.ACME)
    chunks = list(
        client.chat.completions.create(
            model="router",
            messages=[{"role": "user", "content": "Say abc"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "abc"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    assert all(c.usage is None for c in chunks[:-1])


def test_the_async_sdk_streams(server: kit.Running, fleet: tuple[FaultServer, FaultServer]) -> None:
    fleet[0].script(stream(("x", "y")))

    async def read() -> str:
        client = openai.AsyncOpenAI(base_url=server.v1, api_key=kit.ACME)
        got = await client.chat.completions.create(
            model="router", messages=[{"role": "user", "content": "Say xy"}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in got if c.choices])

    assert asyncio.run(read()) == "xy"


# -- the wire ------------------------------------------------------------------------------


def sse(body: bytes) -> list[bytes]:
    assert body.endswith(b"\n\n")
    assert b"\r" not in body
    events = body[:-2].split(b"\n\n")
    assert all(e.startswith(b"data: ") and b"\n" not in e for e in events)  # nothing else
    return [e.removeprefix(b"data: ") for e in events]


@pytest.mark.parametrize("include_usage", [True, False], ids=["usage", "no-usage"])
def test_the_stream_is_openais_bytes(
    server: kit.Running,
    fleet: tuple[FaultServer, FaultServer],
    served: tuple[kit.Running, router.Router, Path],
    include_usage: bool,
) -> None:
    fleet[0].script(stream(("he", "llo")))
    body: dict[str, Any] = {**kit.CHAT, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    with httpx.stream(
        "POST", f"{server.v1}/chat/completions", headers=kit.headers(), json=body
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-router-served-by"] == "local"
        assert len(response.headers["x-request-id"]) == 24
        assert "x-router-cost-usd" not in response.headers  # not known before the body
        raw = response.read()
    row = record_of(served[2], response.headers["x-request-id"])
    events = sse(raw)
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(b": " not in e and b", " not in e for e in events[:-1])  # compact JSON
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["total_tokens"] == chunks[-1]["usage"]["prompt_tokens"] + 2
        assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
        # the cost its headers could not hold, settled at the end: the ledger row's
        cost = chunks[-1]["x_router"]
        assert cost["cost_usd"] == row["cost_micro"] / 1e6 == 0.0  # a free local model
        assert cost["saved_usd"] > 0  # the baseline ("api") would have cost money
        assert all("x_router" not in c for c in chunks[:-1])
    else:
        assert all(c["choices"] and "usage" not in c and "x_router" not in c for c in chunks)


def test_a_stream_broken_after_its_first_chunk_ends_with_an_error_event(
    server: kit.Running, fleet: tuple[FaultServer, FaultServer]
) -> None:
    fleet[0].script(stream(("a", "b", "c"), disconnect_after=1))
    client = openai.OpenAI(base_url=server.v1, api_key=kit.ACME)
    seen: list[str | None] = []
    chunks = client.chat.completions.create(
        model="router", messages=[{"role": "user", "content": "Say abc"}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        seen.extend(c.choices[0].delta.content for c in chunks)
    assert seen == ["a"]
    assert "interrupted" in str(caught.value)


def test_a_client_that_leaves_a_stream_cancels_it_and_it_is_recorded(
    server: kit.Running,
    fleet: tuple[FaultServer, FaultServer],
    served: tuple[kit.Running, router.Router, Path],
) -> None:
    local = fleet[0]
    local.script(stream(tuple("abcdefghij"), delay=0.3))
    body = {**kit.CHAT, "stream": True}
    with httpx.stream(
        "POST", f"{server.v1}/chat/completions", headers=kit.headers(), json=body
    ) as response:
        request_id = response.headers["x-request-id"]
        next(response.iter_bytes())  # the first chunk, then the client goes away
    row = record_of(served[2], request_id)
    assert row["completion_tokens"] < 10  # what was delivered, not the whole answer
    # cut by the client, not answered in full (nor broken by the provider)
    assert (row["outcome"], row["error"]) == ("interrupted", "ClosedByCaller")
    deadline = time.monotonic() + 10
    while local.open_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert local.open_connections == 0  # the upstream stream was closed too


def test_a_paid_stream_its_client_leaves_is_charged_to_the_budget_for_what_was_delivered(
    fleet: tuple[FaultServer, FaultServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real HTTP client reads one chunk of a slow paid stream and disconnects: the row
    says the caller cut it, and its cost (estimated from the delivered text: the usage
    chunk never came) is in the ledger row and in the budget's counter, its hold released."""
    local, api = fleet
    for s in fleet:
        s.clear()
        s.reset_requests()
    api.script(stream(tuple(f"word{i} " for i in range(20)), delay=0.3))
    budget = '[[budgets]]\ntenant = "*"\nperiod = "day"\nusd = 5.0\n'
    path = kit.write_config(tmp_path, local, api, extra=budget)
    for name, value in kit.env().items():
        monkeypatch.setenv(name, value)
    body = {**kit.CHAT, "model": "router/best", "stream": True}
    with kit.serving(path) as (running, _):
        with httpx.stream(  # a fresh server: its first call may import litellm (seconds)
            "POST", f"{running.v1}/chat/completions", headers=kit.headers(), json=body, timeout=60
        ) as response:
            assert response.headers["x-router-served-by"] == "api"
            request_id = response.headers["x-request-id"]
            next(response.iter_bytes())  # the first chunk, then the client goes away
        row = record_of(tmp_path, request_id)
    assert (row["outcome"], row["error"]) == ("interrupted", "ClosedByCaller")
    assert row["served_by"] == "api"
    assert 0 < row["completion_tokens"] < 20
    assert row["cost_micro"] > 0
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        (spent,) = db.execute("SELECT COALESCE(SUM(spent_micro), 0) FROM spend").fetchone()
        (holds,) = db.execute("SELECT COUNT(*) FROM reservations").fetchone()
    assert spent == row["cost_micro"]
    assert holds == 0


# -- keys, tenants, policy -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "words"),
    [
        (None, "didn't provide an API key"),
        ("Bearer " + "rk-" + "wrong-" + "0" * 20, "Incorrect API key"),
        ("Basic abc", "malformed Authorization"),
    ],
    ids=["missing", "unknown", "not-bearer"],
)
def test_a_request_without_a_known_key_is_401(
    server: kit.Running, fleet: tuple[FaultServer, FaultServer], auth: str | None, words: str
) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    response = httpx.post(f"{server.v1}/chat/completions", headers=headers, json=kit.CHAT)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert words in error["message"]
    assert error["code"] == "invalid_api_key"
    assert "0" * 20 not in response.text
    assert fleet[0].requests == []


def test_the_sdk_raises_authentication_error(server: kit.Running) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key="rk-" + "nope-" + "1" * 20)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="router", messages=[{"role": "user", "content": "x"}])


def test_the_request_cannot_choose_its_tenant(
    server: kit.Running, served: tuple[kit.Running, router.Router, Path]
) -> None:
    body = {**kit.CHAT, "user": "globex", "metadata": {"tenant": "globex"}}
    response = httpx.post(f"{server.v1}/chat/completions", headers=kit.headers(), json=body)
    assert response.status_code == 200
    assert record_of(served[2], response.headers["x-request-id"])["tenant"] == "acme"
    chosen = {**kit.CHAT, "tenant": "globex"}
    refused = httpx.post(f"{server.v1}/chat/completions", headers=kit.headers(), json=chosen)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "tenant"


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_confidential_prompt_never_reaches_the_api(
    server: kit.Running, fleet: tuple[FaultServer, FaultServer], streamed: bool
) -> None:
    local, api = fleet
    client = openai.OpenAI(base_url=server.v1, api_key=kit.ACME, max_retries=0)
    messages: Any = [{"role": "user", "content": CARD}]
    # router/best would pick the API for a public prompt; the card keeps it local
    if streamed:
        chunks = client.chat.completions.with_raw_response.create(
            model="router/best", messages=messages, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks.parse() if c.choices)
        headers = chunks.headers
    else:
        whole = client.chat.completions.with_raw_response.create(
            model="router/best", messages=messages
        )
        headers = whole.headers
    assert headers["x-router-served-by"] == "local"
    assert headers["x-router-sensitivity"] == "confidential"
    local.script(server_error(500))  # local down: the request fails, it does not go paid
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="router/best", messages=messages)
    assert caught.value.status_code in (502, 503)
    assert "4111" not in caught.value.response.text
    assert api.requests == []
    assert all("4111" not in json.dumps(r) for r in api.requests)


def test_a_declared_sensitivity_header_only_raises(
    server: kit.Running, fleet: tuple[FaultServer, FaultServer]
) -> None:
    body = {**kit.CHAT, "model": "router/best"}
    up = httpx.post(
        f"{server.v1}/chat/completions",
        headers={**kit.headers(), "x-router-sensitivity": "confidential"},
        json=body,
    )
    assert up.headers["x-router-served-by"] == "local"
    assert fleet[1].requests == []
    bad = httpx.post(
        f"{server.v1}/chat/completions",
        headers={**kit.headers(), "x-router-sensitivity": "secret-ish"},
        json=body,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "sensitivity"


# -- the other endpoints ---------------------------------------------------------------------


def test_models_lists_router_and_the_routes(server: kit.Running) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key=kit.ACME)
    assert [m.id for m in client.models.list()] == ["router", "router/best", "router/free-only"]
    assert client.models.retrieve("router/best").id == "router/best"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_an_unknown_model_is_404_in_openais_shape(server: kit.Running) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key=kit.ACME)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "x"}])
    error = caught.value.response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (
        "model_not_found", "model", "invalid_request_error"
    )  # fmt: skip


def test_health_ready_metrics_and_unknown_urls(server: kit.Running) -> None:
    assert httpx.get(f"{server.root}/health").json() == {"status": "ok"}
    anonymous = httpx.get(f"{server.root}/ready")
    assert anonymous.json() == {"ready": True}  # no deployment names without a key
    ready = httpx.get(f"{server.root}/ready", headers=kit.headers()).json()
    assert ready["ready"] is True
    assert ready["state"] == {"backend": "local", "reachable": True, "error": None}
    assert ready["deployments"]["local"]["reachable"] is True
    assert ready["deployments"]["api"]["reachable"] is None
    metrics = httpx.get(f"{server.root}/metrics")
    assert metrics.status_code in (200, 501)
    missing = httpx.get(f"{server.v1}/embeddings", headers=kit.headers())
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_url"
    wrong = httpx.get(f"{server.v1}/chat/completions", headers=kit.headers())
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_ready_reports_a_local_model_that_is_down(tmp_path: Path) -> None:
    with FaultServer() as local, FaultServer() as api:
        path = kit.write_config(tmp_path, local, api)
        with kit.serving(path) as (running, _):
            local.stop()
            response = httpx.get(f"{running.root}/ready", headers=kit.headers())
            report = response.json()
    assert report["deployments"]["local"]["reachable"] is False
    assert report["ready"] is True  # the API can still serve public requests
    assert response.status_code == 200


def test_the_upstream_failure_is_502_naming_it_without_the_prompt(
    server: kit.Running,
    fleet: tuple[FaultServer, FaultServer],
    served: tuple[kit.Running, router.Router, Path],
) -> None:
    local, api = fleet
    local.script(server_error(500))
    api.script(server_error(500))
    secret = "the launch code is zebra-42"
    response = httpx.post(
        f"{server.v1}/chat/completions",
        headers=kit.headers(),
        json={**kit.CHAT, "messages": [{"role": "user", "content": secret}]},
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "all_deployments_failed"
    assert "local" in error["message"]
    assert "api" in error["message"]
    assert "zebra" not in response.text
    # the failure was recorded: its id is the ledger row's (what Router.feedback takes)
    failed = record_of(served[2], response.headers["x-request-id"])
    assert failed["outcome"] == "error"
    assert failed["error"] == "AllDeploymentsFailed"
    local.script(ok("fine again"))
