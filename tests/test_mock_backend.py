"""MockBackend answers each Fault as LiteLLMBackend + FaultServer do, in all four call modes.

The parity test runs every fault kind (each constructor of router.testing, and hand-made
Faults for the statuses and bodies the constructors do not cover) through both and
compares what comes out: the error (class, disposition, status, retry_after, message,
no chained provider exception) or the response / chunk dicts, ids and timestamps aside,
and the request body the server received with what the mock logged. The retry-wait
switch is tested on `router._effects`, which the executor's ops run on.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from factories import deployment

from router import Router
from router._effects import WAITS, Op, Sleep, arun, run
from router._models import Deployment
from router.errors import (
    BadRequest,
    MissingCredentials,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from router.serving._backends import LiteLLMBackend
from router.testing import (
    Fault,
    FaultServer,
    MockBackend,
    MockCall,
    bad_request,
    content_filtered,
    context_length_exceeded,
    hang,
    malformed_json,
    no_retry_waits,
    ok,
    ok_billed,
    ok_with_logprobs,
    rate_limited,
    reset,
    server_error,
    set_testing,
    stream,
    unauthorized,
)
from router.testing.faultserver import _error_body
from router.testing.mock_backend import CallMode

MODES = ("complete", "acomplete", "stream", "astream")
TIMEOUT = 10.0
HANG_TIMEOUT = 0.25  # a hang longer than this times out


def _error(status: int, message: str = "Some message", code: str | None = None) -> Fault:
    return Fault("bad_request", status=status, body=_error_body(message, "x", code))


# Every fault kind, each constructor's variants, and what a hand-made Fault can say.
FAULTS: dict[str, Fault] = {
    "ok": ok(),
    "ok-custom": ok("custom", prompt_tokens=11, completion_tokens=5),
    "ok-empty": ok(""),
    "ok-one-char": ok("h"),
    "ok-unicode": ok("héllo wörld"),
    "ok-billed": ok_billed(lambda body: (body.get("max_tokens", 0), 2 * body.get("n", 1))),
    "ok-logprobs": ok_with_logprobs("abcd", [-0.1, -0.2]),
    "rate-limited": rate_limited(),
    "rate-limited-0.5": rate_limited(0.5),
    "rate-limited-no-header": rate_limited(None),
    "server-error-500": server_error(),
    "server-error-501": server_error(501),
    "server-error-502": server_error(502),
    "server-error-503": server_error(503),
    "server-error-504": server_error(504),
    "hang-answers": hang(0.05),
    "hang-times-out": hang(5),
    "reset": reset(),
    "malformed-json": malformed_json(),
    "context-length-exceeded": context_length_exceeded(),
    "bad-request": bad_request(),
    "bad-request-message": bad_request("Oops"),
    "unauthorized": unauthorized(),
    "content-filtered": content_filtered(),
    "stream": stream(("a", "b", "c")),
    "stream-one": stream(("x",)),
    "stream-none": stream(()),
    "stream-empty-parts": stream(("", "a", "")),
    "stream-delay": stream(("a", "b"), delay=0.01),
    "stream-drop-1": stream(("a", "b", "c"), disconnect_after=1),
    "stream-drop-2": stream(("a", "b", "c"), disconnect_after=2),
    "stream-drop-0": stream(("a", "b"), disconnect_after=0),
    "status-403": _error(403),
    "status-404": _error(404),
    "status-408": _error(408),
    "status-409": _error(409),
    "status-422": _error(422),
    "status-520": _error(520),
    "context-by-message": _error(400, "This model's maximum context length is 10 tokens"),
    "filter-by-message": _error(400, "it violates our content management policy"),
    "retry-after-on-503": Fault(
        "server_error", status=503, body=_error_body("x", "server_error", None),
        headers=(("Retry-After", "3"),),
    ),
    "retry-after-date": Fault(
        "rate_limited", status=429, body=_error_body("x", "requests", None),
        headers=(("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),),
    ),
    "retry-after-negative": Fault(
        "rate_limited", status=429, body=_error_body("x", "requests", None),
        headers=(("Retry-After", "-3"),),
    ),
    "json-200-not-a-completion": Fault("ok", body=b'{"hello": 1}'),
    "text-400": Fault("bad_request", status=400, body=b"not json"),
    "text-500": Fault("server_error", status=500, body=b"oops"),
}  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _deployment(server: FaultServer, model: str = "openai/m1", **extra: Any) -> Deployment:
    return deployment("dep", model=model).model_copy(update={"api_base": server.base_url, **extra})


def _masked(value: Any) -> Any:
    """`value` with the per-response `id` and `created` replaced (they differ each call)."""
    if isinstance(value, dict):
        return {k: f"<{k}>" if k in ("id", "created") else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _error_facts(e: ProviderError) -> dict[str, Any]:
    return {
        "class": type(e),
        "disposition": e.disposition,
        "status": e.status,
        "retry_after": e.retry_after,
        "deployment": e.deployment,
        "detail": e.detail,
        "message": str(e),
        "chained": (e.__cause__, e.__context__),
    }


def _outcome(
    backend: Any, d: Deployment, mode: str, params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """What one call gives: the response or chunks, then the error (if any) and the time."""
    out: dict[str, Any] = {"chunks": [], "response": None, "error": None}
    start = time.monotonic()
    try:
        if mode == "complete":
            out["response"] = backend.complete(d, params, timeout)
        elif mode == "acomplete":
            out["response"] = asyncio.run(backend.acomplete(d, params, timeout))
        elif mode == "stream":
            for chunk in backend.stream(d, params, timeout):
                out["chunks"].append(chunk)
        else:

            async def read() -> None:
                async for chunk in backend.astream(d, params, timeout):
                    out["chunks"].append(chunk)

            asyncio.run(read())
    except ProviderError as e:
        out["error"] = _error_facts(e)
    out["seconds"] = time.monotonic() - start
    out["chunks"] = _masked(out["chunks"])
    out["response"] = _masked(out["response"])
    return out


def _params(name: str) -> dict[str, Any]:
    params: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    if name == "ok-logprobs":
        params["logprobs"] = True
    if name == "ok-billed":
        params["n"] = 3
    return params


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FAULTS)
def test_each_fault_is_what_litellm_makes_of_it_on_a_fault_server(
    server: FaultServer, name: str, mode: str
) -> None:
    fault, params = FAULTS[name], _params(name)
    timeout = HANG_TIMEOUT if name.startswith("hang") else TIMEOUT
    d = _deployment(server)
    server.clear()
    server.reset_requests()
    server.script(fault)
    real = _outcome(LiteLLMBackend(), d, mode, params, timeout)
    mock = MockBackend(default=fault)
    mocked = _outcome(mock, d, mode, params, timeout)

    assert mocked["error"] == real["error"]
    assert mocked["response"] == real["response"]
    assert mocked["chunks"] == real["chunks"]
    assert mock.requests == server.requests  # the body the server got, as the mock logs it
    assert [c.mode for c in mock.calls] == [mode]
    if name == "hang-times-out":  # the hang waits until the timeout, then times out
        assert mocked["seconds"] >= HANG_TIMEOUT * 0.9
        assert isinstance(mocked["error"]["class"](d.name, ""), ProviderTimeout)
    if name == "hang-answers":
        assert mocked["seconds"] >= 0.045


# Request bodies: what FaultServer received from litellm is what MockBackend logs.
PARAMS: list[dict[str, Any]] = [
    {"max_tokens": 4, "temperature": 0.2, "n": 2, "seed": 3, "stop": ["x"], "top_p": 0.5,
     "logprobs": True, "top_logprobs": 2},
    {"presence_penalty": 0.1, "frequency_penalty": 0.2, "logit_bias": {"12": 1},
     "store": True, "service_tier": "auto"},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
     "tool_choice": "auto", "parallel_tool_calls": False,
     "response_format": {"type": "json_object"}},
    {"temperature": None, "max_tokens": None, "extra_field": 1},
]  # fmt: skip
MESSAGES = [
    {"role": "system", "content": "s"},
    {"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "data:,"}}]},
    {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "r"},
]  # fmt: skip


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("extra", range(len(PARAMS)))
def test_the_logged_request_body_is_what_the_server_received(
    server: FaultServer, extra: int, mode: str
) -> None:
    params = {"messages": MESSAGES, **PARAMS[extra]}
    d = _deployment(server)
    server.clear()
    server.reset_requests()
    _outcome(LiteLLMBackend(), d, mode, json.loads(json.dumps(params)), TIMEOUT)
    mock = MockBackend()
    _outcome(mock, d, mode, json.loads(json.dumps(params)), TIMEOUT)
    assert mock.requests == server.requests
    assert mock.calls[0].params == params  # the parameters as the backend got them


def _essentials(chunks: list[dict[str, Any]]) -> list[Any]:
    return [
        (c["model"], [(x["delta"].get("content"), x["finish_reason"]) for x in c["choices"]],
         c.get("usage"))
        for c in chunks
    ]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "model", ["gpt-4o", "openai/gpt-4o-mini", "deepseek/deepseek-chat", "openai/not-a-model"]
)
def test_usage_cost_is_litellms_for_models_in_its_price_map(
    server: FaultServer, model: str, mode: str
) -> None:
    d = _deployment(server, model=model)
    server.clear()
    server.reset_requests()
    real = _outcome(LiteLLMBackend(), d, mode, _params("ok"), TIMEOUT)
    mock = MockBackend()
    mocked = _outcome(mock, d, mode, _params("ok"), TIMEOUT)
    assert mocked["response"] == real["response"]
    assert mocked["error"] is real["error"] is None
    if model.startswith("deepseek/"):  # another provider: chunks carry other null fields
        assert _essentials(mocked["chunks"]) == _essentials(real["chunks"])
    else:
        assert mocked["chunks"] == real["chunks"]
    assert mock.requests == server.requests


@pytest.mark.parametrize("mode", MODES)
def test_a_missing_key_is_refused_before_anything_is_sent(
    server: FaultServer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROUTER_TEST_MOCK_NO_KEY", raising=False)
    d = _deployment(server, api_key_env="ROUTER_TEST_MOCK_NO_KEY", hosting="api")
    server.reset_requests()
    real = _outcome(LiteLLMBackend(), d, mode, _params("ok"), TIMEOUT)
    mock = MockBackend()
    mocked = _outcome(mock, d, mode, _params("ok"), TIMEOUT)
    assert real["error"]["class"] is MissingCredentials
    assert mocked["error"] == real["error"]
    assert server.requests == mock.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_a_missing_header_variable_is_refused_before_anything_is_sent(
    server: FaultServer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROUTER_TEST_MOCK_NO_HEADER", raising=False)
    d = _deployment(server, extra_headers_env={"X-Team-Token": "ROUTER_TEST_MOCK_NO_HEADER"})
    server.reset_requests()
    real = _outcome(LiteLLMBackend(), d, mode, _params("ok"), TIMEOUT)
    mock = MockBackend()
    mocked = _outcome(mock, d, mode, _params("ok"), TIMEOUT)
    assert real["error"]["class"] is MissingCredentials
    assert mocked["error"] == real["error"]
    assert server.requests == mock.requests == []


# -- MockBackend's own behaviour ------------------------------------------------------


def test_the_hang_timeout_is_the_clients() -> None:
    """acomplete is cut at the exact deadline; the other modes at the HTTP client's
    timeout (whole seconds, rounded up, from 2 s), as LiteLLMBackend's calls are."""
    from router.testing.mock_backend import _Raise, _Wait  # noqa: PLC0415

    mock = MockBackend(default=hang(100))
    d = deployment("slow").model_copy(update={"api_base": "http://10.0.0.1:8000/v1"})
    cases: list[tuple[CallMode, float]] = [
        ("complete", 3.0), ("stream", 3.0), ("astream", 3.0), ("acomplete", 2.5),
    ]  # fmt: skip
    for mode, wait in cases:
        steps = mock._steps(d, {}, 2.5, mode)  # what the call would do, without waiting
        assert steps[0] == _Wait(wait)
        assert isinstance(steps[1], _Raise)
        assert str(steps[1].error) == (
            f"slow: timed out: no answer from 10.0.0.1:8000 within {wait:g} s"
        )


def test_queues_per_deployment_then_shared_then_defaults() -> None:
    mock = MockBackend(default=ok("default"))
    a, b = deployment("a"), deployment("b")
    mock.script(ok("shared 1"), ok("shared 2"))
    mock.script(ok("a 1"), deployment="a")
    mock.set_default(ok("b's default"), deployment="b")

    def text(d: Deployment) -> str:
        return str(mock.complete(d, {"messages": []}, 5)["choices"][0]["message"]["content"])

    assert [text(a), text(b), text(a), text(b), text(a)] == [
        "a 1", "shared 1", "shared 2", "b's default", "default",
    ]  # fmt: skip
    mock.script(ok("x"), deployment="a")
    mock.script(ok("y"))
    mock.clear("a")
    assert text(a) == "y"
    mock.script(ok("x"), deployment="a")
    mock.script(ok("y"))
    mock.clear()
    assert text(a) == "default"
    mock.set_default(None, deployment="b")
    assert text(b) == "default"
    with pytest.raises(TypeError, match="Fault"):
        mock.script("ok")  # type: ignore[arg-type]


def test_the_call_log_holds_deployment_mode_params_and_body() -> None:
    mock = MockBackend()
    d = deployment("local", model="openai/qwen")
    params: dict[str, Any] = {"messages": [{"role": "user", "content": "x"}], "user": None}
    mock.complete(d, params, 5)
    list(mock.stream(d, params, 5))
    params["messages"][0]["content"] = "changed later"  # the log holds copies
    assert mock.calls == [
        MockCall("local", "complete", {"messages": [{"role": "user", "content": "x"}],
                 "user": None}, {"model": "qwen", "messages": [{"role": "user",
                 "content": "x"}]}, 5),
        MockCall("local", "stream", {"messages": [{"role": "user", "content": "x"}],
                 "user": None}, {"model": "qwen", "messages": [{"role": "user",
                 "content": "x"}], "stream": True, "stream_options": {"include_usage": True}},
                 5),
    ]  # fmt: skip
    mock.calls[0].params["messages"] = []
    assert mock.calls[0].params["messages"]
    mock.reset_requests()
    assert mock.calls == []
    assert mock.requests == []


def test_an_endpoint_reads_like_a_fault_server() -> None:
    mock = MockBackend(default=ok("fine"))
    local, api = mock.endpoint("local"), mock.endpoint("api")
    local.script(server_error(503))
    api.default = bad_request()
    assert local.default == ok("fine")
    assert api.default == bad_request()
    with pytest.raises(ProviderUnavailable):
        mock.complete(deployment("local"), {"messages": []}, 5)
    assert mock.complete(deployment("local"), {"messages": []}, 5)["choices"]
    with pytest.raises(BadRequest):
        mock.complete(deployment("api"), {"messages": [], "n": 2}, 5)
    assert len(local.requests) == 2
    assert api.requests == [{"model": "api", "messages": [], "n": 2}]
    assert [c.mode for c in api.calls] == ["complete"]
    local.script(rate_limited(0))
    local.clear()
    local.reset_requests()
    assert local.requests == []
    assert len(api.requests) == 1
    assert mock.complete(deployment("local"), {"messages": []}, 5)["choices"]


def test_a_server_serves_every_deployment_on_its_base_url_like_a_fault_server() -> None:
    mock = MockBackend(default=ok("backend default"))
    one, two = mock.server(default=ok("one's default")), mock.server()
    assert one.base_url != two.base_url
    assert one.base_url.startswith("http://127.0.0.1:9/")
    a, b = (deployment(n).model_copy(update={"api_base": one.base_url}) for n in ("a", "b"))
    c = deployment("c").model_copy(update={"api_base": two.base_url})

    def text(d: Deployment) -> str:
        return str(mock.complete(d, {"messages": []}, 5)["choices"][0]["message"]["content"])

    one.script(ok("one 1"), ok("one 2"))
    mock.script(ok("a's own"), deployment="a")
    mock.script(ok("shared"))
    # the deployment's queue, then its server's (shared by a and b), then the shared one
    assert [text(a), text(b), text(a), text(c), text(b)] == [
        "a's own", "one 1", "one 2", "shared", "one's default",
    ]  # fmt: skip
    assert text(c) == "backend default"
    two.default = ok("two's default")
    assert two.default == ok("two's default")
    mock.set_default(ok("b's own default"), deployment="b")
    assert (text(b), text(c), text(a)) == ("b's own default", "two's default", "one's default")
    assert [r["model"] for r in one.requests] == ["a", "b", "a", "b", "b", "a"]
    assert [call.deployment for call in two.calls] == ["c", "c", "c"]
    one.script(server_error(503))
    one.clear()
    assert text(a) == "one's default"
    one.reset_requests()
    assert one.requests == []
    assert len(two.requests) == 3
    with pytest.raises(TypeError, match="Fault"):
        one.script(None)  # type: ignore[arg-type]


def test_a_router_on_mock_servers_serves_them_as_local_deployments() -> None:
    mock = MockBackend()
    local, api = mock.server(default=ok("free")), mock.server(default=ok("paid"))
    r = Router(
        deployments=[
            {"name": "local", "model": "openai/q", "api_base": local.base_url,
             "context_window": 8192, "quality": 0.5},
            {"name": "api", "model": "openai/big", "api_base": api.base_url, "hosting": "api",
             "weights": "closed", "context_window": 8192, "quality": 0.9,
             "input_cost_per_mtok": 1, "output_cost_per_mtok": 1},
        ],
        objective="best",
        backend=mock,
    )  # fmt: skip
    assert r.complete([{"role": "user", "content": "hi"}]).content == "paid"
    answer = r.complete([{"role": "user", "content": "card 4111 1111 1111 1111"}])
    assert answer.content == "free"  # confidential: kept on the loopback deployment
    assert len(api.requests) == 1
    assert len(local.requests) == 1
    assert "litellm" not in {type(b).__module__ for b in (r.backend,)}


def test_concurrent_calls_each_take_one_fault() -> None:
    mock = MockBackend(default=ok("default"))
    mock.script(*(ok(str(i)) for i in range(200)))
    d = deployment("a")
    seen: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            text = mock.complete(d, {"messages": []}, 5)["choices"][0]["message"]["content"]
            with lock:
                seen.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen, key=int) == [str(i) for i in range(200)]
    assert len(mock.calls) == 200


def test_async_calls_run_concurrently_on_one_loop() -> None:
    """Two hangs of 0.2 s on one loop take ~0.2 s, not 0.4: the mock does not block it."""
    mock = MockBackend(default=hang(0.2))
    d = deployment("a")

    async def both() -> float:
        start = time.monotonic()
        await asyncio.gather(mock.acomplete(d, {}, 5), mock.acomplete(d, {}, 5))
        return time.monotonic() - start

    assert asyncio.run(both()) < 0.35


def test_a_rate_limit_error_is_the_class_the_executor_retries() -> None:
    mock = MockBackend(default=rate_limited(0.5))
    with pytest.raises(RateLimited) as caught:
        mock.complete(deployment("a"), {}, 5)
    assert caught.value.retry_after == 0.5


# -- the retry-wait switch -------------------------------------------------------------


def _sleeps(seconds: float) -> Callable[[], Op[str]]:
    def op() -> Op[str]:
        yield Sleep(seconds)
        return "done"

    return op


def test_no_retry_waits_skips_sleep_effects_and_restores_after() -> None:
    assert WAITS.enabled
    start = time.monotonic()
    with no_retry_waits():
        assert run(_sleeps(5.0)()) == "done"
        assert asyncio.run(arun(_sleeps(5.0)())) == "done"
    assert time.monotonic() - start < 1.0
    assert WAITS.enabled
    start = time.monotonic()
    assert run(_sleeps(0.05)()) == "done"  # outside the block the wait is real
    assert time.monotonic() - start >= 0.045


def test_no_retry_waits_restores_on_error() -> None:
    def fail() -> None:
        with no_retry_waits():
            assert not WAITS.enabled
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert WAITS.enabled


def test_set_testing_turns_waits_off_until_turned_back_on() -> None:
    try:
        set_testing(True)
        assert not WAITS.enabled
        start = time.monotonic()
        assert run(_sleeps(5.0)()) == "done"
        assert time.monotonic() - start < 1.0
    finally:
        set_testing(False)
    assert WAITS.enabled


def test_a_router_under_no_retry_waits_does_not_wait_out_a_retry_after() -> None:
    """Three 429s asking for 5 s each, then the backup: at once under the switch."""
    backend = MockBackend()
    local, backup = backend.server(), backend.server(default=ok("hello from backup"))
    r = Router(
        deployments=[
            {"name": "local", "model": "openai/q", "api_base": local.base_url,
             "context_window": 8192, "quality": 0.8},
            {"name": "backup", "model": "openai/q", "api_base": backup.base_url,
             "context_window": 8192, "quality": 0.7},
        ],
        objective="best",
        backend=backend,
    )  # fmt: skip
    local.script(rate_limited(5.0), rate_limited(5.0), rate_limited(5.0))
    start = time.monotonic()
    with no_retry_waits():
        result = r.complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - start < 2.0
    assert result.content == "hello from backup"
    assert [(a.deployment, a.outcome) for a in result.decision.attempts] == [
        ("local", "retry"), ("local", "retry"), ("local", "gave up"), ("backup", "ok"),
    ]  # fmt: skip
    assert len(local.requests) == 3
