"""The fault-injecting OpenAI-compatible test server answers as scripted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from router.testing import (
    Fault,
    FaultServer,
    bad_request,
    content_filtered,
    context_length_exceeded,
    hang,
    malformed_json,
    ok,
    rate_limited,
    reset,
    server_error,
    stream,
    unauthorized,
)

CHAT = "/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


def connect(server: FaultServer, timeout: float = 5.0) -> httpx.Client:
    # verify=False: plain http, and skipping the CA bundle saves ~0.1 s per client
    return httpx.Client(base_url=server.base_url, timeout=timeout, verify=False)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def client(server: FaultServer) -> Iterator[httpx.Client]:
    with connect(server) as c:
        yield c


def chat(client: httpx.Client, **extra: Any) -> httpx.Response:
    return client.post(CHAT, json={"model": "m1", "messages": MESSAGES, **extra})


def sse_events(client: httpx.Client, **extra: Any) -> list[str]:
    """The `data:` payloads of a streamed chat request, in order."""
    body = {"model": "m1", "messages": MESSAGES, "stream": True, **extra}
    with client.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def test_ok_is_an_openai_chat_completion(client: httpx.Client) -> None:
    response = chat(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "m1"
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
    ]
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_script_order_then_default(server: FaultServer, client: httpx.Client) -> None:
    server.script(rate_limited(), server_error(503), ok("custom", completion_tokens=5))
    server.script(unauthorized())
    statuses = [chat(client).status_code for _ in range(6)]
    assert statuses == [429, 503, 200, 401, 200, 200]


def test_clear_drops_unconsumed_faults(server: FaultServer, client: httpx.Client) -> None:
    server.script(server_error(503), server_error(503))
    assert chat(client).status_code == 503
    server.clear()
    assert chat(client).status_code == 200


def test_custom_default() -> None:
    with FaultServer(default=server_error(502)) as srv, connect(srv) as c:
        srv.script(ok("once"))
        first = c.post(CHAT, json={"model": "x", "messages": MESSAGES})
        second = c.post(CHAT, json={"model": "x", "messages": MESSAGES})
    assert first.json()["choices"][0]["message"]["content"] == "once"
    assert second.status_code == 502
    assert second.json()["error"]["type"] == "server_error"


def test_requests_records_bodies(server: FaultServer, client: httpx.Client) -> None:
    server.script(reset())
    with pytest.raises(httpx.TransportError):
        chat(client, temperature=0.5)
    chat(client, max_tokens=3)
    client.get("/models")
    assert server.requests == [
        {"model": "m1", "messages": MESSAGES, "temperature": 0.5},
        {"model": "m1", "messages": MESSAGES, "max_tokens": 3},
    ]
    server.requests[0]["model"] = "mutated"
    assert server.requests[0]["model"] == "m1"
    server.reset_requests()
    assert server.requests == []


def test_rate_limited_sends_retry_after(server: FaultServer, client: httpx.Client) -> None:
    server.script(rate_limited(0.5), rate_limited(None))
    response = chat(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0.5"
    assert response.headers["retry-after-ms"] == "500"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert "retry-after" not in chat(client).headers


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (server_error(), (500, "server_error", None)),
        (server_error(502), (502, "server_error", None)),
        (server_error(503), (503, "server_error", None)),
        (context_length_exceeded(), (400, "invalid_request_error", "context_length_exceeded")),
        (bad_request(), (400, "invalid_request_error", None)),
        (unauthorized(), (401, "invalid_request_error", "invalid_api_key")),
        (content_filtered(), (400, None, "content_filter")),
    ],
)
def test_error_faults(
    server: FaultServer,
    client: httpx.Client,
    fault: Fault,
    expected: tuple[int, str | None, str | None],
) -> None:
    server.script(fault)
    response = chat(client)
    error = response.json()["error"]
    assert (response.status_code, error["type"], error["code"]) == expected
    assert error["message"]
    assert chat(client).status_code == 200  # keep-alive connection still usable


def test_error_messages(server: FaultServer, client: httpx.Client) -> None:
    server.script(context_length_exceeded(), bad_request("nope"), content_filtered())
    assert chat(client).json() == {
        "error": {
            "message": "This model's maximum context length is 8192 tokens. However, your "
            "messages resulted in 9000 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    assert chat(client).json()["error"]["message"] == "nope"
    assert "content management policy" in chat(client).json()["error"]["message"]


def test_malformed_json(server: FaultServer, client: httpx.Client) -> None:
    server.script(malformed_json())
    response = chat(client)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_stream_chunks_usage_and_done(server: FaultServer, client: httpx.Client) -> None:
    server.script(stream(("a", "b", "c"), delay=0.001))
    events = sse_events(client, stream_options={"include_usage": True})
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m1" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    content = [c["choices"][0]["delta"].get("content") for c in chunks[:3]]
    assert content == ["a", "b", "c"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[4]["choices"] == []
    assert chunks[4]["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_ok_streams_as_two_chunks(client: httpx.Client) -> None:
    events = sse_events(client)
    chunks = [json.loads(e) for e in events[:-1]]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["he", "llo", None]
    assert all("usage" not in c for c in chunks)
    assert events[-1] == "[DONE]"


def test_stream_fault_without_stream_request(server: FaultServer, client: httpx.Client) -> None:
    server.script(stream(("x", "y")))
    assert chat(client).json()["choices"][0]["message"]["content"] == "xy"


def test_error_fault_with_stream_request_is_plain_json(
    server: FaultServer, client: httpx.Client
) -> None:
    server.script(rate_limited())
    response = chat(client, stream=True)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_disconnect_after_drops_mid_stream(server: FaultServer, client: httpx.Client) -> None:
    server.script(stream(("a", "b", "c"), disconnect_after=2))
    received: list[str] = []
    body = {"model": "m1", "messages": MESSAGES, "stream": True}
    with (
        pytest.raises(httpx.TransportError),
        client.stream("POST", CHAT, json=body) as response,
    ):
        received.extend(line for line in response.iter_lines() if line.startswith("data: "))
    assert len(received) == 2
    assert chat(client).status_code == 200  # the client recovers on a new connection


def test_hang_times_out_client_and_serves_others(server: FaultServer) -> None:
    server.script(hang(30))
    with connect(server, timeout=0.2) as c:
        with pytest.raises(httpx.ReadTimeout):
            chat(c)
        assert chat(c).status_code == 200  # the hang does not block other connections


def test_short_hang_then_ok(server: FaultServer, client: httpx.Client) -> None:
    server.script(hang(0.01))
    assert chat(client).json()["choices"][0]["message"]["content"] == "hello"


def test_stop_is_prompt_during_hang() -> None:
    srv = FaultServer().start()
    srv.script(hang(60))
    with connect(srv, timeout=0.2) as c, pytest.raises(httpx.ReadTimeout):
        chat(c)  # the server is still hanging on this request
    idle = connect(srv)
    assert idle.get("/models").status_code == 200  # an idle keep-alive connection stays open
    started = time.perf_counter()
    srv.stop()
    assert time.perf_counter() - started < 2.0
    idle.close()
    with pytest.raises(RuntimeError):
        _ = srv.base_url


def test_reset_gives_connection_error(server: FaultServer, client: httpx.Client) -> None:
    server.script(reset())
    with pytest.raises(httpx.TransportError):
        chat(client)
    assert chat(client).status_code == 200


def test_models_and_unknown_paths(client: httpx.Client) -> None:
    models = client.get("/models")
    assert models.status_code == 200
    assert [m["id"] for m in models.json()["data"]] == ["fault"]
    for response in (client.get("/nope"), client.post("/embeddings", json={})):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_url"


def test_invalid_request_body(server: FaultServer, client: httpx.Client) -> None:
    response = client.post(CHAT, content=b"not json")
    assert response.status_code == 400
    assert server.requests == []


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="5xx"):
        server_error(404)
    with pytest.raises(ValueError, match="hang"):
        hang(-1)
    with pytest.raises(TypeError):
        stream("abc")
    with pytest.raises(ValueError, match="disconnect_after"):
        stream(disconnect_after=-1)
    assert ok() == ok()
    assert hash(rate_limited()) == hash(rate_limited())


def test_import_router_does_not_import_testing() -> None:
    code = "import sys, router; print('router.testing' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "False"
