"""A scriptable, fault-injecting OpenAI-compatible HTTP server on 127.0.0.1.

Queue faults with `FaultServer.script(...)`; each `POST /v1/chat/completions`
consumes the next one, and the server's `default` answers once the queue is empty:

    with FaultServer() as server:
        server.script(rate_limited(0.5), server_error(503))
        ...  # point a client at server.base_url: 429, then 503, then 200s

Standard library only, so users can run it in their own test suites.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "Fault",
    "FaultKind",
    "FaultServer",
    "bad_request",
    "content_filtered",
    "context_length_exceeded",
    "hang",
    "malformed_json",
    "ok",
    "ok_billed",
    "ok_with_logprobs",
    "rate_limited",
    "reset",
    "server_error",
    "stream",
    "unauthorized",
]

FaultKind = Literal[
    "ok",
    "rate_limited",
    "server_error",
    "hang",
    "reset",
    "malformed_json",
    "context_length_exceeded",
    "bad_request",
    "unauthorized",
    "content_filtered",
    "stream",
]


@dataclass(frozen=True)
class Fault:
    """One scripted response. Build it with the module's constructors (`ok()`, `hang(2)`...).

    A non-empty `body` is sent verbatim with `status` and `headers`; otherwise the
    server answers a completion of `text` (or streams `chunks`).
    """

    kind: FaultKind
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    text: str = ""
    prompt_tokens: int = 7
    completion_tokens: int = 3
    seconds: float = 0.0
    chunks: tuple[str, ...] = ()
    disconnect_after: int | None = None
    delay: float = 0.0
    logprobs: tuple[float, ...] | None = None
    usage_from: Callable[[dict[str, Any]], tuple[int, int]] | None = None


def _error_body(
    message: str, type_: str | None, code: str | None, param: str | None = None, **extra: Any
) -> bytes:
    error: dict[str, Any] = {"message": message, "type": type_, "param": param, "code": code}
    return json.dumps({"error": error | extra}).encode()


def ok(text: str = "hello", *, prompt_tokens: int = 7, completion_tokens: int = 3) -> Fault:
    """200 with a chat completion of `text`; streamed as two chunks when the request streams."""
    return Fault("ok", text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def ok_billed(
    usage_from: Callable[[dict[str, Any]], tuple[int, int]], text: str = "hello"
) -> Fault:
    """`ok(text)` whose usage is `usage_from(request_body) -> (prompt, completion tokens)`:
    a provider that bills from what the request carried (e.g. the whole `max_tokens` for
    each of `n` answers)."""
    return Fault("ok", text=text, usage_from=usage_from)


def ok_with_logprobs(
    text: str,
    logprobs: Sequence[float],
    *,
    prompt_tokens: int = 7,
    completion_tokens: int = 3,
) -> Fault:
    """`ok(text)`, and to a request that asks `"logprobs": true` also `choices[0].logprobs`
    in OpenAI's shape (as llama.cpp's and vLLM's servers send it): `text` cut into
    len(logprobs) tokens, each with its log-probability."""
    if isinstance(logprobs, str) or not logprobs:
        raise ValueError("logprobs must be a non-empty sequence of floats")
    if any(lp > 0 for lp in logprobs):
        raise ValueError("a log-probability is <= 0")
    return Fault(
        "ok",
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        logprobs=tuple(float(lp) for lp in logprobs),
    )


def rate_limited(retry_after: float | None = 1.0) -> Fault:
    """429 `rate_limit_exceeded`; `Retry-After` (seconds) and `retry-after-ms` unless None."""
    headers: tuple[tuple[str, str], ...] = ()
    if retry_after is not None:
        if retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        headers = (
            ("Retry-After", f"{retry_after:g}"),
            ("retry-after-ms", str(round(retry_after * 1000))),
        )
    body = _error_body(
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    )
    return Fault("rate_limited", status=429, body=body, headers=headers)


_SERVER_ERROR_MESSAGES = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}


def server_error(status: int = 500) -> Fault:
    """A 5xx (500, 502, 503...) with an OpenAI-style `server_error` body."""
    if not 500 <= status <= 599:
        raise ValueError(f"server_error status must be 5xx, got {status}")
    message = _SERVER_ERROR_MESSAGES.get(status, "The server had an error.")
    return Fault("server_error", status=status, body=_error_body(message, "server_error", None))


def hang(seconds: float) -> Fault:
    """Wait `seconds` (other connections keep being served), then answer like `ok()`.

    `FaultServer.stop()` cuts the wait short and drops the connection unanswered.
    """
    if seconds < 0:
        raise ValueError(f"hang seconds must be >= 0, got {seconds}")
    return Fault("hang", seconds=seconds, text="hello")


def reset() -> Fault:
    """Close the TCP connection abruptly (RST, via SO_LINGER 0) without any response."""
    return Fault("reset")


def malformed_json() -> Fault:
    """200 labelled `application/json` whose body is truncated, invalid JSON."""
    return Fault("malformed_json", body=b'{"id": "chatcmpl-broken", "choices": [{"index": 0, ')


CONTEXT_LENGTH_MESSAGE = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted "
    "in 9000 tokens. Please reduce the length of the messages."
)


def context_length_exceeded() -> Fault:
    """400 with OpenAI's real `context_length_exceeded` error body."""
    body = _error_body(
        CONTEXT_LENGTH_MESSAGE, "invalid_request_error", "context_length_exceeded", "messages"
    )
    return Fault("context_length_exceeded", status=400, body=body)


def bad_request(message: str = "Invalid value for 'temperature'") -> Fault:
    """400 `invalid_request_error` with `code: null`."""
    body = _error_body(message, "invalid_request_error", None)
    return Fault("bad_request", status=400, body=body)


def unauthorized() -> Fault:
    """401 `invalid_api_key`."""
    body = _error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key")
    return Fault("unauthorized", status=401, body=body)


CONTENT_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content "
    "management policy. Please modify your prompt and retry. To learn more about our "
    "content filtering policies please read our documentation: "
    "https://go.microsoft.com/fwlink/?linkid=2198766"
)


def content_filtered() -> Fault:
    """400 `content_filter`, as Azure OpenAI sends it for a filtered prompt."""
    body = _error_body(
        CONTENT_FILTER_MESSAGE,
        None,
        "content_filter",
        "prompt",
        status=400,
        innererror={
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": True, "severity": "high"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
        },
    )
    return Fault("content_filtered", status=400, body=body)


def stream(
    chunks: Sequence[str] = ("hel", "lo"),
    *,
    disconnect_after: int | None = None,
    delay: float = 0.0,
) -> Fault:
    """SSE `chat.completion.chunk`s, one per item of `chunks`, then `data: [DONE]`.

    With `disconnect_after=N` the connection is dropped after N content chunks,
    before the finish chunk and `[DONE]`; `delay` is the pause (seconds) before
    each chunk. A request without `"stream": true` gets one joined completion.
    """
    if isinstance(chunks, str):
        raise TypeError("chunks must be a sequence of strings, not one string")
    if disconnect_after is not None and disconnect_after < 0:
        raise ValueError(f"disconnect_after must be >= 0, got {disconnect_after}")
    if delay < 0:
        raise ValueError(f"delay must be >= 0, got {delay}")
    items = tuple(chunks)
    return Fault(
        "stream",
        text="".join(items),
        chunks=items,
        completion_tokens=len(items),
        disconnect_after=disconnect_after,
        delay=delay,
    )


class FaultServer:
    """OpenAI-compatible server on 127.0.0.1 with a free port, in a background thread.

    Serves `POST /v1/chat/completions` (scripted faults) and `GET /v1/models`
    (one model, "fault"); other paths get a 404 JSON error.
    """

    def __init__(self, *, default: Fault | None = None) -> None:
        self.default = default if default is not None else ok()
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}

    def start(self) -> FaultServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("FaultServer already started")
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FaultServer:{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any `hang`, drop open connections and join their threads."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        with self._lock:
            self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
        with self._lock:
            open_connections = list(self._connections.items())
        for conn, _ in open_connections:
            _shutdown_quietly(conn)
        for _, handler_thread in open_connections:
            handler_thread.join(timeout=2.0)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, for an OpenAI client's `base_url` / `api_base`."""
        if self._httpd is None:
            raise RuntimeError("FaultServer is not running; call start() first")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *faults: Fault) -> None:
        """Append faults to the queue; each chat completion request consumes the next."""
        with self._lock:
            self._queue.extend(faults)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat completion requests received, in order (a copy)."""
        with self._lock:
            return copy.deepcopy(self._requests)

    @property
    def open_connections(self) -> int:
        """Client connections the server holds open now (a closed stream lets go of its)."""
        with self._lock:
            return len(self._connections)

    def clear(self) -> None:
        """Drop the faults scripted but not consumed yet (the default stays)."""
        with self._lock:
            self._queue.clear()

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """The HTTP headers of those requests (names lower-cased), in the same order."""
        with self._lock:
            return [dict(h) for h in self._headers]

    def reset_requests(self) -> None:
        """Forget the recorded request bodies and headers."""
        with self._lock:
            self._requests.clear()
            self._headers.clear()

    # -- used by the handler ---------------------------------------------------

    def _accept(self, body: dict[str, Any], headers: dict[str, str]) -> Fault:
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            return self._queue.popleft() if self._queue else self.default

    def _register(self, conn: socket.socket) -> bool:
        with self._lock:
            if self._stopping.is_set():
                return False
            self._connections[conn] = threading.current_thread()
            return True

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.pop(conn, None)


def _shutdown_quietly(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: 200 clients connecting at once (the
    # direct client opens a connection per concurrent call) had SYNs dropped and waited
    # out TCP's retransmission (1, 3, 7... s), once past a 60 s deadline
    request_queue_size = 1024
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up mid-response are expected here.
        pass


class _Abort(Exception):
    """Drop the connection without (finishing) a response."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FaultServer"
    sys_version = ""

    @property
    def owner(self) -> FaultServer:
        server = self.server
        assert isinstance(server, _HTTPServer)
        return server.owner

    def setup(self) -> None:
        super().setup()
        if not self.owner._register(self.connection):
            _shutdown_quietly(self.connection)
            self.close_connection = True

    def finish(self) -> None:
        self.owner._unregister(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- routing ---------------------------------------------------------------

    def _path(self) -> str:
        return urlsplit(self.path).path.rstrip("/")

    def do_GET(self) -> None:
        if self._path() == "/v1/models":
            model = {"id": "fault", "object": "model", "created": 0, "owned_by": "router"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._not_found()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if self._path() != "/v1/chat/completions":
            self._not_found()
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_bytes(
                400,
                _error_body("Request body is not a JSON object.", "invalid_request_error", None),
            )
            return
        try:
            self._answer(
                self.owner._accept(body, {k.lower(): v for k, v in self.headers.items()}), body
            )
        except (_Abort, OSError):
            self._abort()

    def _answer(self, fault: Fault, request: dict[str, Any]) -> None:
        if fault.kind == "reset":
            raise _Abort
        if fault.kind == "hang" and self.owner._stopping.wait(fault.seconds):
            raise _Abort
        if fault.body:
            self._send_bytes(fault.status, fault.body, fault.headers)
            return
        model = str(request.get("model") or "fault")
        prompt, completion = (
            fault.usage_from(request)
            if fault.usage_from is not None
            else (fault.prompt_tokens, fault.completion_tokens)
        )
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if request.get("stream") is True:
            chunks = fault.chunks
            if fault.kind != "stream":
                half = len(fault.text) // 2
                chunks = (fault.text[:half], fault.text[half:])
            options = request.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            self._stream(fault, chunks, model, usage if include_usage else None)
            return
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": fault.text},
            "finish_reason": "stop",
        }
        if fault.logprobs is not None and request.get("logprobs") is True:
            choice["logprobs"] = {"content": _logprob_tokens(fault.text, fault.logprobs)}
        body: dict[str, Any] = {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
        self._send_json(200, body)

    # -- writing ---------------------------------------------------------------

    def _stream(
        self,
        fault: Fault,
        chunks: tuple[str, ...],
        model: str,
        usage: dict[str, int] | None,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {
            "id": _completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def event(choices: list[dict[str, Any]], **extra: Any) -> None:
            self._write_chunk(f"data: {json.dumps(base | {'choices': choices} | extra)}\n\n")

        for i, text in enumerate(chunks):
            if fault.disconnect_after is not None and i >= fault.disconnect_after:
                raise _Abort
            if fault.delay and self.owner._stopping.wait(fault.delay):
                raise _Abort
            delta = {"role": "assistant", "content": text} if i == 0 else {"content": text}
            event([{"index": 0, "delta": delta, "finish_reason": None}])
        if fault.disconnect_after is not None:
            raise _Abort
        extra: dict[str, Any] = {} if usage is None else {"usage": None}
        event([{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra)
        if usage is not None:
            event([], usage=usage)
        self._write_chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send_bytes(status, json.dumps(payload).encode())

    def _send_bytes(
        self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self) -> None:
        message = f"Unknown request URL: {self.command} {self._path() or '/'}."
        self._send_bytes(404, _error_body(message, "invalid_request_error", "unknown_url"))

    def _abort(self) -> None:
        """Reset the connection: SO_LINGER 0 makes close() send RST instead of FIN."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


def _logprob_tokens(text: str, logprobs: tuple[float, ...]) -> list[dict[str, Any]]:
    """`text` cut into len(logprobs) tokens (they join back to `text`), each with its
    log-probability, in OpenAI's `logprobs.content` shape."""
    n = len(logprobs)
    cuts = [round(i * len(text) / n) for i in range(n + 1)]
    tokens = [text[a:b] for a, b in itertools.pairwise(cuts)]
    return [
        {"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []}
        for t, lp in zip(tokens, logprobs, strict=True)
    ]


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
