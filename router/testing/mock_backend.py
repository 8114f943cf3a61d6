"""An in-process `Backend` for tests: FaultServer's faults without HTTP or litellm.

`MockBackend` answers each call with the next scripted `Fault` (the very values of
`router.testing.faultserver`: `ok()`, `rate_limited(0.5)`, `hang(5)`, `stream(...,
disconnect_after=1)`...), from a queue per deployment name, else its server's queue,
else the shared queue; then the deployment's default, its server's, the backend's:

    backend = MockBackend(default=ok("local answer"))
    backend.script(rate_limited(0), server_error(503), deployment="local")
    router = Router(deployments=[...], backend=backend)

A "server" stands in for a FaultServer: `backend.server(default=...)` has a `base_url`
(loopback, port 9, a path of its own; nothing listens there and nothing connects) and
FaultServer's names (`script`, `clear`, `default`, `requests`, `reset_requests`), and
serves every deployment whose `api_base` is that URL, so a test written against fault
servers moves onto the mock by swapping the servers and passing `backend=`:

    backend = MockBackend()
    local, api = backend.server(default=ok("free")), backend.server(default=ok("paid"))
    router = Router([{"name": "local", "api_base": local.base_url, ...}, ...], backend=backend)
    api.script(server_error(503))

Each fault turns into what `LiteLLMBackend` makes of the same fault served by a
`FaultServer`: the same `ProviderError` subclass with the same status, `retry_after` and
message, or the same response and chunk dicts (ids and timestamps aside; the chunks as
litellm's OpenAI provider makes them, other providers' chunks carry other null fields),
with `usage.cost` where litellm's price map knows the model; a `hang` waits
(`time.sleep` or `asyncio.sleep`) until the answer or the timeout the call was given.
tests/test_mock_backend.py proves it fault by fault, in all four call modes.

`calls` logs every call the backend received (deployment, parameters, mode) and
`requests` the body an OpenAI-compatible server would have received, as
`FaultServer.requests` does: `{"model": ..., **params}` without None values, plus
`stream` and `stream_options` for a stream. It is what the router handed to the backend,
so a superset of what litellm puts on the wire (litellm drops `user`, `metadata` and
null message fields). `endpoint(name)` is a FaultServer-like view of one deployment
(`script`, `clear`, `requests`, `default`), so a test written against one server per
deployment reads the same on this backend.

Not mirrored: litellm's reading of a provider's own key variable (a deployment with
`hosting="api"` and no `api_key_env` is served as if the key were set), its per-model
parameter rewrites (o-series, unsupported parameters), what a deployment's
`litellm_params`, `api_version` and headers add to the wire (not in `requests`), and any
connection-level cause other than `reset` (refused, DNS, TLS): those are tests of the
litellm seam and stay on it.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from router._models import Deployment
from router.errors import (
    AuthenticationFailed,
    BadRequest,
    ContentFiltered,
    ContextWindowExceeded,
    CredentialsRejected,
    MissingCredentials,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from router.serving import client_timeout, timeout_error
from router.testing.faultserver import Fault, _logprob_tokens, ok

__all__ = ["CallMode", "MockBackend", "MockCall", "MockEndpoint", "MockServer"]

CallMode = Literal["complete", "acomplete", "stream", "astream"]


@dataclass(frozen=True)
class MockCall:
    """One call `MockBackend` received."""

    deployment: str
    """The deployment's name."""
    mode: CallMode
    params: dict[str, Any]
    """The parameters as the backend got them (a deep copy)."""
    body: dict[str, Any]
    """What an OpenAI-compatible server would have received (see `MockBackend.requests`)."""
    timeout: float
    api_base: str | None = None
    """The deployment's `api_base` (a `MockServer`'s `base_url` when it serves it)."""


# -- what one fault does: a list of steps, run by the blocking or the async side --------


@dataclass(frozen=True, slots=True)
class _Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class _Raise:
    error: ProviderError


@dataclass(frozen=True, slots=True)
class _Chunk:
    chunk: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Return:
    response: dict[str, Any]


_Step = _Wait | _Raise | _Chunk | _Return


class MockBackend:
    """A `router.serving._backends.Backend` that answers in-process with scripted `Fault`s.

    Thread- and task-safe: one lock guards the queues and the log. A `hang` or a stream's
    `delay` really waits (blocking: `time.sleep`; async: `asyncio.sleep`, so other tasks
    run), cut at the call's timeout exactly as LiteLLMBackend's client cuts it.
    """

    def __init__(self, *, default: Fault | None = None) -> None:
        self.default: Fault = default if default is not None else ok()
        """What a call gets when no queue holds a fault (and its deployment has no default)."""
        self._lock = threading.Lock()
        self._shared: deque[Fault] = deque()
        self._queues: dict[str, deque[Fault]] = {}
        self._defaults: dict[str, Fault] = {}
        self._server_queues: dict[str, deque[Fault]] = {}
        self._server_defaults: dict[str, Fault] = {}
        self._calls: list[MockCall] = []

    # -- scripting -------------------------------------------------------------------

    def script(self, *faults: Fault, deployment: str | None = None) -> None:
        """Append faults to `deployment`'s queue (None: the shared queue, which calls to
        any deployment consume once their own queue is empty)."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"script() takes Fault values, got {type(fault).__name__}")
        with self._lock:
            if deployment is None:
                self._shared.extend(faults)
            else:
                self._queues.setdefault(deployment, deque()).extend(faults)

    def set_default(self, fault: Fault | None, *, deployment: str) -> None:
        """The answer of `deployment` once the queues are empty (None: the backend's)."""
        with self._lock:
            if fault is None:
                self._defaults.pop(deployment, None)
            else:
                self._defaults[deployment] = fault

    def clear(self, deployment: str | None = None) -> None:
        """Drop the faults scripted but not consumed yet: `deployment`'s queue, or (None)
        every queue, the servers' too. Defaults stay."""
        with self._lock:
            if deployment is None:
                self._shared.clear()
                self._queues.clear()
                self._server_queues.clear()
            else:
                self._queues.pop(deployment, None)

    def endpoint(self, deployment: str) -> MockEndpoint:
        """A FaultServer-like view of one deployment: its queue, default and requests."""
        return MockEndpoint(self, deployment)

    def server(self, *, default: Fault | None = None) -> MockServer:
        """A stand-in for a FaultServer: the deployments whose `api_base` is its `base_url`
        share its queue, its default and its request log."""
        with self._lock:
            base_url = f"http://127.0.0.1:9/mock-{next(_SERVER_NUMBERS)}/v1"
            if default is not None:
                self._server_defaults[base_url] = default
        return MockServer(self, base_url)

    # -- the log ---------------------------------------------------------------------

    @property
    def calls(self) -> list[MockCall]:
        """The calls received, in order (a copy; calls refused before anything was sent,
        for a missing key, are not in it, as they never reach a server)."""
        with self._lock:
            return copy.deepcopy(self._calls)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request bodies of the calls received, in order (a copy), as
        `FaultServer.requests` holds them."""
        with self._lock:
            return copy.deepcopy([c.body for c in self._calls])

    def requests_to(self, deployment: str) -> list[dict[str, Any]]:
        """The request bodies of the calls to `deployment`, in order (a copy)."""
        with self._lock:
            return copy.deepcopy([c.body for c in self._calls if c.deployment == deployment])

    def reset_requests(self, deployment: str | None = None) -> None:
        """Forget the calls received (to `deployment`, or all)."""
        with self._lock:
            if deployment is None:
                self._calls.clear()
            else:
                self._calls = [c for c in self._calls if c.deployment != deployment]

    # -- the Backend protocol --------------------------------------------------------

    def complete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        steps = self._steps(deployment, params, timeout, "complete")
        for seconds in _waits(steps):
            time.sleep(seconds)
        return _outcome(steps)

    async def acomplete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        steps = self._steps(deployment, params, timeout, "acomplete")
        await asyncio.sleep(0)  # a real call yields to the loop at least once
        for seconds in _waits(steps):
            await asyncio.sleep(seconds)
        return _outcome(steps)

    def stream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]:
        for step in self._steps(deployment, params, timeout, "stream"):
            if isinstance(step, _Wait):
                time.sleep(step.seconds)
            else:
                yield _chunk(step)

    async def astream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        await asyncio.sleep(0)
        for step in self._steps(deployment, params, timeout, "astream"):
            if not isinstance(step, _Wait):
                yield _chunk(step)
                continue
            await asyncio.sleep(step.seconds)

    # -- one call ----------------------------------------------------------------------

    def _steps(
        self, deployment: Deployment, params: dict[str, Any], timeout: float, mode: CallMode
    ) -> list[_Step]:
        """Log the call, take its fault and say what it does (nothing waits here)."""
        missing = _missing_key(deployment)
        if missing is not None:  # LiteLLMBackend refuses before anything is sent
            return [_Raise(missing)]
        streaming = mode in ("stream", "astream")
        body = _body(deployment, params, streaming)
        call = MockCall(
            deployment.name, mode, copy.deepcopy(params), body, timeout, deployment.api_base
        )
        with self._lock:
            self._calls.append(call)
            fault = self._next(deployment.name, deployment.api_base)
        # acomplete runs under asyncio.timeout(timeout); the others under the HTTP client's
        # timeout, whole seconds rounded up from 2 s (router.serving._backends.client_timeout)
        wait = timeout if mode == "acomplete" else client_timeout(timeout)
        return _plan(fault, deployment, copy.deepcopy(body), wait, mode)

    def _next(self, name: str, api_base: str | None) -> Fault:
        for queue in (self._queues.get(name), self._server_queues.get(api_base or "")):
            if queue:
                return queue.popleft()
        if self._shared:
            return self._shared.popleft()
        if name in self._defaults:
            return self._defaults[name]
        return self._server_defaults.get(api_base or "", self.default)


_SERVER_NUMBERS = itertools.count(1)


class MockEndpoint:
    """One deployment of a `MockBackend`, with FaultServer's scripting names: a test
    written against one FaultServer per deployment reads the same on the mock."""

    def __init__(self, backend: MockBackend, deployment: str) -> None:
        self.backend = backend
        self.deployment = deployment

    def script(self, *faults: Fault) -> None:
        """Append faults to this deployment's queue."""
        self.backend.script(*faults, deployment=self.deployment)

    def clear(self) -> None:
        """Drop the faults scripted for this deployment and not consumed yet."""
        self.backend.clear(self.deployment)

    @property
    def default(self) -> Fault:
        """This deployment's answer once the queues are empty."""
        with self.backend._lock:
            return self.backend._defaults.get(self.deployment, self.backend.default)

    @default.setter
    def default(self, fault: Fault) -> None:
        self.backend.set_default(fault, deployment=self.deployment)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request bodies of the calls to this deployment, in order (a copy)."""
        return self.backend.requests_to(self.deployment)

    @property
    def calls(self) -> list[MockCall]:
        """The calls to this deployment, in order (a copy)."""
        return [c for c in self.backend.calls if c.deployment == self.deployment]

    def reset_requests(self) -> None:
        """Forget the calls to this deployment."""
        self.backend.reset_requests(self.deployment)


class MockServer:
    """A FaultServer stand-in on a `MockBackend` (see `MockBackend.server`): it serves the
    deployments whose `api_base` is its `base_url`, with FaultServer's names."""

    def __init__(self, backend: MockBackend, base_url: str) -> None:
        self.backend = backend
        self.base_url = base_url
        """Give it as the deployments' `api_base` (loopback: they count as local unless
        told otherwise); nothing listens there, the backend answers in-process."""

    def script(self, *faults: Fault) -> None:
        """Append faults to the queue; each call to a deployment here consumes the next
        (after that deployment's own queue)."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"script() takes Fault values, got {type(fault).__name__}")
        b = self.backend
        with b._lock:
            b._server_queues.setdefault(self.base_url, deque()).extend(faults)

    def clear(self) -> None:
        """Drop the faults scripted but not consumed yet (the default stays)."""
        b = self.backend
        with b._lock:
            b._server_queues.pop(self.base_url, None)

    @property
    def default(self) -> Fault:
        """The answer once the queues are empty (the backend's unless set)."""
        b = self.backend
        with b._lock:
            return b._server_defaults.get(self.base_url, b.default)

    @default.setter
    def default(self, fault: Fault) -> None:
        b = self.backend
        with b._lock:
            b._server_defaults[self.base_url] = fault

    @property
    def calls(self) -> list[MockCall]:
        """The calls to the deployments here, in order (a copy)."""
        return [c for c in self.backend.calls if c.api_base == self.base_url]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request bodies received here, in order (a copy), as FaultServer.requests."""
        return [c.body for c in self.calls]

    def reset_requests(self) -> None:
        """Forget the calls received here."""
        b = self.backend
        with b._lock:
            b._calls = [c for c in b._calls if c.api_base != self.base_url]


# -- the plan of one fault --------------------------------------------------------------


def _plan(
    fault: Fault, deployment: Deployment, body: dict[str, Any], wait: float, mode: CallMode
) -> list[_Step]:
    """What LiteLLMBackend does with `fault` served by a FaultServer, step by step."""
    name, where = deployment.name, _where(deployment.api_base)
    streaming = mode in ("stream", "astream")
    steps: list[_Step] = []
    if fault.kind == "reset":
        return [_Raise(ProviderUnavailable(name, f"connection reset by {where}"))]
    if fault.kind == "hang":
        if fault.seconds >= wait:  # the client gives up first
            return [_Wait(wait), _Raise(timeout_error(deployment, wait))]
        steps.append(_Wait(fault.seconds))
    if fault.body:
        if 200 <= fault.status < 300:  # an answer litellm cannot parse
            if streaming:
                return steps + [_Chunk(c) for c in _unparsed_chunks(body)]
            return [*steps, _Raise(ProviderUnavailable(name, "server error", status=500))]
        return [*steps, _Raise(_http_error(name, fault))]
    prompt, completion = (
        fault.usage_from(body)
        if fault.usage_from is not None
        else (fault.prompt_tokens, fault.completion_tokens)
    )
    cost = _cost(deployment.model, prompt, completion)
    if not streaming:
        return [*steps, _Return(_completion(fault, body, prompt, completion, cost))]
    chunks = fault.chunks
    if fault.kind != "stream":
        half = len(fault.text) // 2
        chunks = (fault.text[:half], fault.text[half:])
    # a dropped connection: the sync client sees the reset; litellm's async stream reports
    # the broken read as a made-up 500
    dropped: ProviderError = (
        ProviderUnavailable(name, f"connection reset by {where}")
        if mode == "stream"
        else ProviderUnavailable(name, "unavailable", status=500)
    )
    head = _chunk_head(_completion_id(), str(body.get("model")))
    for i, text in enumerate(chunks):
        if fault.disconnect_after is not None and i >= fault.disconnect_after:
            return [*steps, _Raise(dropped)]
        if fault.delay:
            if fault.delay >= wait:
                return [*steps, _Wait(wait), _Raise(timeout_error(deployment, wait))]
            steps.append(_Wait(fault.delay))
        if i == 0 or text:  # litellm skips an empty delta after the first
            steps.append(_Chunk(_content_chunk(head, text, first=i == 0)))
    if fault.disconnect_after is not None:
        return [*steps, _Raise(dropped)]
    steps.append(_Chunk(_finish_chunk(head)))
    steps.append(_Chunk(_usage_chunk(head, prompt, completion, cost)))
    return steps


def _missing_key(deployment: Deployment) -> MissingCredentials | None:
    """LiteLLMBackend's refusal before sending: the key's or a header's variable unset."""
    env = deployment.api_key_env
    if env is not None and not os.environ.get(env):
        return MissingCredentials(deployment.name, f"missing credentials: ${env} is not set")
    for header, env in deployment.extra_headers_env.items():
        if not os.environ.get(env):
            return MissingCredentials(
                deployment.name, f"missing credentials: ${env} (header {header}) is not set"
            )
    return None


def _wire_model(model: str) -> str:
    """The model name litellm sends: without its provider prefix (`openai/m1` -> `m1`)."""
    return model.split("/", 1)[1] if "/" in model else model


def _body(deployment: Deployment, params: dict[str, Any], streaming: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": _wire_model(deployment.model)}
    body.update((k, copy.deepcopy(v)) for k, v in params.items() if v is not None)
    if streaming:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _where(api_base: str | None) -> str:
    """host:port of `api_base`, as LiteLLMBackend names an endpoint in its errors."""
    if api_base:
        try:
            parts = urlsplit(api_base)
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if host:
            port = port or {"https": 443, "http": 80}.get(parts.scheme)
            host = f"[{host}]" if ":" in host else host
            return f"{host}:{port}" if port else host
    return "the provider"


def _retry_after(fault: Fault) -> float | None:
    for name, value in fault.headers:
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None  # an HTTP date
    return None


def _error_fields(body: bytes) -> tuple[str, str]:
    """(message, code) of an OpenAI error body; empty strings when it is not one."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    message, code = error.get("message"), error.get("code")
    return (message if isinstance(message, str) else ""), (code if isinstance(code, str) else "")


def _http_error(name: str, fault: Fault) -> ProviderError:
    """The router error LiteLLMBackend raises for an HTTP error answer."""
    status, retry_after = fault.status, _retry_after(fault)
    kind: type[ProviderError] = ProviderUnavailable
    detail = "provider error"
    if status == 400:
        message, code = _error_fields(fault.body)
        if code == "context_length_exceeded" or "maximum context length" in message:
            kind, detail = ContextWindowExceeded, "context window exceeded"
        elif code == "content_filter" or "content management policy" in message:
            return ContentFiltered(name, "refused by the content filter", status=status)
        else:
            kind, detail = BadRequest, "rejected the request as invalid"
    elif status in (401, 403):
        kind, detail = CredentialsRejected, "credentials rejected"
    elif status == 404:
        kind, detail = AuthenticationFailed, "model or endpoint not found"
    elif status in (408, 504):
        kind, detail = ProviderTimeout, "timed out"
    elif status == 422:
        kind, detail = BadRequest, "rejected the request as invalid"
    elif status == 429:
        kind, detail = RateLimited, "rate limited"
    elif status in _SERVER_DETAIL:
        detail = _SERVER_DETAIL[status]
    return kind(name, detail, status=status, retry_after=retry_after)


_SERVER_DETAIL = {500: "server error", 502: "bad gateway", 503: "unavailable"}


def _cost(model: str, prompt: int, completion: int) -> float | None:
    """litellm's own cost of the call (`usage.cost`), for a model in its bundled price map."""
    from router.decision import lookup  # noqa: PLC0415  (the price map, read once, lazily)

    facts = lookup(model)
    if facts is None or facts.input_usd_per_token is None or facts.output_usd_per_token is None:
        return None
    return prompt * facts.input_usd_per_token + completion * facts.output_usd_per_token


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _completion(
    fault: Fault, body: dict[str, Any], prompt: int, completion: int, cost: float | None
) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "finish_reason": "stop",
        "index": 0,
        "message": {
            "content": fault.text,
            "role": "assistant",
            "tool_calls": None,
            "function_call": None,
        },
    }
    if fault.logprobs is not None and body.get("logprobs") is True:
        choice["logprobs"] = {"content": _logprob_tokens(fault.text, fault.logprobs)}
    choice["provider_specific_fields"] = {}
    usage: dict[str, Any] = {
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    }
    if cost is not None:
        usage["cost"] = cost
    return {
        "id": _completion_id(),
        "created": int(time.time()),
        "model": str(body.get("model")),
        "object": "chat.completion",
        "choices": [choice],
        "usage": usage,
    }


_CHUNK_TAIL = {"moderation": None, "obfuscation": None, "service_tier": None}


def _chunk_head(cid: str, model: str) -> dict[str, Any]:
    """The fields every chunk of one stream shares."""
    return {
        "id": cid,
        "created": int(time.time()),
        "model": model,
        "object": "chat.completion.chunk",
    }


def _content_chunk(head: dict[str, Any], text: str, *, first: bool) -> dict[str, Any]:
    delta: dict[str, Any] = {} if first else {"provider_specific_fields": None}
    delta |= {
        "refusal": None,
        "content": text,
        "role": "assistant" if first else None,
        "function_call": None,
        "tool_calls": None,
        "audio": None,
    }
    return {
        **head,
        "system_fingerprint": None,
        "choices": [{"finish_reason": None, "index": 0, "delta": delta, "logprobs": None}],
        "provider_specific_fields": None,
        "citations": None,
        **_CHUNK_TAIL,
    }


def _finish_delta() -> dict[str, Any]:
    return {"content": None, "role": None, "function_call": None, "tool_calls": None, "audio": None}


def _finish_chunk(head: dict[str, Any]) -> dict[str, Any]:
    choice = {"finish_reason": "stop", "index": 0, "delta": _finish_delta(), "logprobs": None}
    return {
        **head,
        "system_fingerprint": None,
        "choices": [choice],
        "provider_specific_fields": None,
        **_CHUNK_TAIL,
    }


def _usage_chunk(
    head: dict[str, Any], prompt: int, completion: int, cost: float | None
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {
            "accepted_prediction_tokens": None,
            "audio_tokens": None,
            "reasoning_tokens": 0,
            "rejected_prediction_tokens": None,
            "text_tokens": completion,
            "image_tokens": None,
            "video_tokens": None,
        },
        "prompt_tokens_details": None,
    }
    if cost is not None:
        usage["cost"] = cost
    return {**head, "choices": [], "provider_specific_fields": None, "usage": usage}


def _unparsed_chunks(body: dict[str, Any]) -> Sequence[dict[str, Any]]:
    """What litellm's stream makes of a 200 whose body is not an SSE stream: a finish chunk
    and an empty one, no text, no usage."""
    base = _chunk_head(f"chatcmpl-{uuid.uuid4()}", str(body.get("model")))
    choice = {"finish_reason": "stop", "index": 0, "delta": _finish_delta(), "logprobs": None}
    return [
        {**base, "choices": [choice], "provider_specific_fields": None},
        {**base, "choices": [], "provider_specific_fields": None},
    ]


def _waits(steps: Sequence[_Step]) -> list[float]:
    """A completion's waits, before its outcome."""
    return [step.seconds for step in steps if isinstance(step, _Wait)]


def _outcome(steps: Sequence[_Step]) -> dict[str, Any]:
    """A completion's answer, or its error raised."""
    last = steps[-1] if steps else None
    if isinstance(last, _Raise):
        raise last.error
    if isinstance(last, _Return):
        return last.response
    raise AssertionError("a completion plan ends in a response or an error")


def _chunk(step: _Step) -> dict[str, Any]:
    """A stream's next chunk, or its error raised."""
    if isinstance(step, _Raise):
        raise step.error
    if isinstance(step, _Chunk):
        return step.chunk
    raise AssertionError(f"a stream plan holds waits, chunks and errors, not {step!r}")
