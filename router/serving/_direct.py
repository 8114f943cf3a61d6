"""The direct client: the OpenAI chat-completions HTTP API spoken to a deployment's
`api_base` without litellm (a deployment with `client = "direct"`).

litellm translates between providers; an OpenAI-compatible server (llama.cpp, vLLM,
Ollama, TGI, LM Studio, OpenAI itself) needs no translation, and litellm's per-call work
(its logging object, price lookups, pydantic response models) costs ~3.5 ms of CPU per
call here against ~0.3 ms for the HTTP exchange itself (benchmarks/bench_async.py). This
client sends the request body as the router built it, returns the server's JSON as it
came, and maps failures onto the same router errors as the litellm path: the status
decides (429 rate limited, 401/403 credentials, 5xx unavailable...), a connection-level
cause is named with its host:port, and no provider message is kept (it can echo
prompts or keys). tests/test_direct_backend.py runs every FaultServer fault through both
clients and compares the errors.

aiohttp on the event loop (one session per loop, closed when the loop shuts down) and
httpx for blocking calls: both are litellm's own dependencies, loaded on first use.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from router._loops import PerLoop
from router._models import Deployment
from router.errors import (
    AuthenticationFailed,
    BadRequest,
    ContentFiltered,
    ContextWindowExceeded,
    CredentialsRejected,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from router.serving._backends import (
    _NO_KEY,
    _chain,
    _transport_error,
    credentials,
    timeout_error,
)

__all__ = ["DirectClient", "status_error"]

_CONNECTIONS = 1000  # per loop (aiohttp) or per client (httpx); litellm's aiohttp default
_PER_HOST = 500

_STATUS: dict[int, tuple[type[ProviderError], str]] = {
    400: (BadRequest, "rejected the request as invalid"),
    401: (CredentialsRejected, "credentials rejected"),
    403: (CredentialsRejected, "credentials rejected"),
    404: (AuthenticationFailed, "model or endpoint not found"),
    408: (ProviderTimeout, "timed out"),
    422: (BadRequest, "rejected the request as invalid"),
    429: (RateLimited, "rate limited"),
    500: (ProviderUnavailable, "server error"),
    502: (ProviderUnavailable, "bad gateway"),
    503: (ProviderUnavailable, "unavailable"),
    504: (ProviderTimeout, "timed out"),
}


def _error_fields(body: bytes) -> tuple[str, str]:
    """(code, message) of an OpenAI-shaped error body, lower-cased; empty when not one.
    Read only to classify the failure: neither is kept in the error."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or "").lower(), str(error.get("message") or "").lower()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the exponential backoff


_NOT_AN_ANSWER = 300
"""From this status on, an HTTP answer is not a completion. A redirect (3xx) is never
followed, by either client: it would send the request, prompt and all, to a place the
policy did not choose (a local deployment redirecting off the machine)."""


def status_error(
    deployment: str, status: int, body: bytes, retry_after: str | None
) -> ProviderError:
    """The router error for an HTTP answer with a status of 300 or more."""
    if status < 400:
        return ProviderUnavailable(
            deployment, f"answered with a redirect (HTTP {status}), which is not followed: "
            "set api_base to where the server really is", status=status,
        )  # fmt: skip
    code, message = _error_fields(body)
    if status == 400 and (
        code == "context_length_exceeded"
        or "maximum context length" in message
        or "context window" in message
    ):
        return ContextWindowExceeded(deployment, "context window exceeded", status=status)
    if status == 400 and (code == "content_filter" or "content management policy" in message):
        return ContentFiltered(deployment, "refused by the content filter", status=status)
    kind, detail = _STATUS.get(status, (ProviderUnavailable, "provider error"))
    return kind(deployment, detail, status=status, retry_after=_retry_after(retry_after))


def _read_timeout(seconds: float) -> Any:
    import aiohttp  # noqa: PLC0415  (loaded already: a session exists)

    return aiohttp.ClientTimeout(total=None, sock_read=seconds)


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that keeps no cookie (httpx has no dummy jar): an empty allow-list of domains."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def _new_session() -> Any:
    """An aiohttp session for the running loop (`PerLoop`: one per loop)."""
    import aiohttp  # noqa: PLC0415  (loaded on first use)

    connector = aiohttp.TCPConnector(limit=_CONNECTIONS, limit_per_host=_PER_HOST)
    # No cookie jar: a cookie one tenant's answer set must never ride on another
    # tenant's request (and the jar's bookkeeping was a fifth of aiohttp's work).
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
    )


async def _close_session(session: Any) -> None:
    await session.close()


def _broken(deployment: str) -> ProviderUnavailable:
    return ProviderUnavailable(deployment, "unreachable or broken response")


def _json(data: bytes) -> Any:
    """The parsed JSON, or None when it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def _completion(deployment: str, body: bytes) -> dict[str, Any]:
    out = _json(body)
    if not isinstance(out, dict) or not isinstance(out.get("choices"), list):
        raise _broken(deployment)  # (not inside `except`: nothing chained)
    return out


class _Sse:
    """Server-Sent Events lines in, chunk dicts out (`data: {...}`; `data: [DONE]` ends)."""

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment
        self.done = False

    def chunk(self, line: bytes) -> dict[str, Any] | None:
        line = line.strip()
        if not line.startswith(b"data:"):
            return None  # blank lines, comments (": ping"), event names
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return None
        chunk = _json(data)
        if not isinstance(chunk, dict):
            raise _broken(self.deployment)
        if "error" in chunk and "choices" not in chunk:  # an error sent inside the stream
            raise ProviderUnavailable(self.deployment, "provider error in the stream")
        return chunk


class DirectClient:
    """A Backend for `client = "direct"` deployments (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: PerLoop[Any] = PerLoop(_new_session, _close_session)
        """Each loop's aiohttp session, closed when its loop shuts down."""
        self._sync: Any = None

    # -- the request -----------------------------------------------------------------

    @staticmethod
    def _request(
        deployment: Deployment, params: dict[str, Any], *, stream: bool
    ) -> tuple[str, dict[str, str], bytes]:
        """(url, headers, body). Raises MissingCredentials before anything is sent."""
        key, extra = credentials(deployment)
        headers = {"Content-Type": "application/json", **extra}
        headers["Authorization"] = f"Bearer {key or _NO_KEY}"
        model = deployment.model.split("/", 1)[1] if "/" in deployment.model else deployment.model
        # top-level nulls are left out, as litellm leaves them out (OpenAI's defaults apply)
        payload: dict[str, Any] = {"model": model}
        payload.update((k, v) for k, v in params.items() if v is not None)
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        try:
            body = json.dumps(payload).encode()
        except (TypeError, ValueError) as exc:
            raise BadRequest(
                deployment.name, f"could not build the request ({type(exc).__name__})"
            ) from None
        base = (deployment.api_base or "").rstrip("/")
        return f"{base}/chat/completions", headers, body

    def _failed(self, exc: BaseException, deployment: Deployment, timeout: float) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        found = _transport_error(_chain(exc), deployment.name, deployment.api_base, timeout)
        return found or _broken(deployment.name)

    # -- blocking: httpx ---------------------------------------------------------------

    def _client(self) -> Any:
        if self._sync is None:
            import httpx  # noqa: PLC0415  (loaded on first use)

            with self._lock:
                if self._sync is None:
                    limits = httpx.Limits(max_connections=_CONNECTIONS)
                    self._sync = httpx.Client(limits=limits, trust_env=False, cookies=_no_cookies())
        return self._sync

    def complete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        url, headers, body = self._request(deployment, params, stream=False)
        error: ProviderError
        try:
            response = self._client().post(url, content=body, headers=headers, timeout=timeout)
            content = response.content
        except Exception as exc:
            error = self._failed(exc, deployment, timeout)
        else:
            if response.status_code >= _NOT_AN_ANSWER:
                error = status_error(
                    deployment.name, response.status_code, content,
                    response.headers.get("retry-after"),
                )  # fmt: skip
            else:
                return _completion(deployment.name, content)
        raise error  # outside `except`: no __context__ holding the transport's error

    def stream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]:
        url, headers, body = self._request(deployment, params, stream=True)
        sse, error = _Sse(deployment.name), None
        try:
            with self._client().stream(
                "POST", url, content=body, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= _NOT_AN_ANSWER:
                    content = response.read()
                    error = status_error(
                        deployment.name, response.status_code, content,
                        response.headers.get("retry-after"),
                    )  # fmt: skip
                else:
                    for line in response.iter_lines():
                        chunk = sse.chunk(line.encode())
                        if chunk is not None:
                            yield chunk
                        elif sse.done:
                            break
        except GeneratorExit:
            raise
        except Exception as exc:
            error = self._failed(exc, deployment, timeout)
        if error is not None:
            raise error

    # -- on the event loop: aiohttp ----------------------------------------------------

    async def _session(self) -> Any:
        return self._sessions.current() or await self._sessions.get()

    async def acomplete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        url, headers, body = self._request(deployment, params, stream=False)
        session = await self._session()
        error: ProviderError
        try:
            async with asyncio.timeout(timeout):
                async with session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    content = await response.read()
                    status, retry = response.status, response.headers.get("retry-after")
        except TimeoutError:
            error = timeout_error(deployment, timeout)
        except Exception as exc:
            error = self._failed(exc, deployment, timeout)
        else:
            if status >= _NOT_AN_ANSWER:
                error = status_error(deployment.name, status, content, retry)
            else:
                return _completion(deployment.name, content)
        raise error

    async def astream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        url, headers, body = self._request(deployment, params, stream=True)
        session = await self._session()
        sse, error = _Sse(deployment.name), None
        try:
            async with asyncio.timeout(timeout):  # to the answer's head; then per read
                response = await session.post(
                    url, data=body, headers=headers, timeout=_read_timeout(timeout),
                    allow_redirects=False,
                )  # fmt: skip
            async with response:
                if response.status >= _NOT_AN_ANSWER:
                    content = await response.read()
                    error = status_error(
                        deployment.name, response.status, content,
                        response.headers.get("retry-after"),
                    )  # fmt: skip
                else:
                    async for line in response.content:
                        chunk = sse.chunk(line)
                        if chunk is not None:
                            yield chunk
                        elif sse.done:
                            break
        except TimeoutError:
            error = timeout_error(deployment, timeout)
        except GeneratorExit:
            raise
        except Exception as exc:
            error = self._failed(exc, deployment, timeout)
        if error is not None:
            raise error
