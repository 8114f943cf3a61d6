"""The litellm seam: a Deployment and OpenAI-style parameters in, an OpenAI-shaped dict out.

The only module that imports litellm, lazily, on the first call (the import costs
seconds and must not happen in `import router`). litellm's own retries, fallbacks
and caching stay off: retries live in the executor, one layer. Every litellm or
provider error leaves this module as a `router.errors.ProviderError` whose
disposition tells the executor to retry, fall back or raise.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from router._models import Deployment
from router.errors import (
    AuthenticationFailed,
    BadRequest,
    ConnectionRefused,
    ContentFiltered,
    ContextWindowExceeded,
    CredentialsRejected,
    HostNotFound,
    MissingCredentials,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    TLSFailed,
)

if TYPE_CHECKING:
    from router.serving._direct import DirectClient

__all__ = ["Backend", "LiteLLMBackend", "map_error", "timeout_error"]

_NO_KEY = "sk-no-key-needed"  # OpenAI-compatible local servers ignore the key but litellm wants one

_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
_HTTP_LOGGERS = (*_LITELLM_LOGGERS, "openai", "openai._base_client", "httpx", "httpcore")
_REDACTED = "[REDACTED]"
_log = logging.getLogger("router.backends")


class _RedactKeys(logging.Filter):
    """Takes the API keys the router handed to litellm out of the HTTP stack's log records
    (a provider's error body may echo the key back; litellm's own redaction only knows
    some key shapes). Costs nothing while those loggers are below DEBUG: no record is made."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        if key not in self.keys:
            with self._lock:
                self.keys = self.keys | {key}  # copy on write: filter() reads without a lock

    def filter(self, record: logging.LogRecord) -> bool:
        keys = self.keys
        if not keys:
            return True
        message = record.getMessage()
        if any(k in message for k in keys):
            for k in keys:
                message = message.replace(k, _REDACTED)
            record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text and any(k in record.exc_text for k in keys):
            for k in keys:
                record.exc_text = record.exc_text.replace(k, _REDACTED)
        return True


_REDACT_KEYS = _RedactKeys()


class Backend(Protocol):
    """Calls one deployment once. Raises ProviderError; never retries."""

    def complete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]: ...

    async def acomplete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]: ...

    def stream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]: ...

    def astream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]: ...


@functools.cache
def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm  # noqa: PLC0415  (lazy: ~2-7 s, and never in `import router`)

    litellm.suppress_debug_info = True
    litellm.disable_hf_tokenizer_download = True
    litellm.telemetry = False
    _quiet_http_logs()
    return litellm


def _quiet_http_logs() -> None:
    """An application's `logging.basicConfig(level=DEBUG)` must not turn on litellm's request
    dumps (prompt text, provider error bodies): its loggers stay at WARNING unless someone
    chose their level (LITELLM_LOG, `litellm._turn_on_debug()`, `setLevel`). Keys the router
    passes are redacted from the records of litellm, openai and httpx at every level."""
    for name in _LITELLM_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET and os.environ.get("LITELLM_LOG") is None:
            logger.setLevel(logging.WARNING)
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT_KEYS not in logger.filters:
            logger.addFilter(_REDACT_KEYS)


def _retry_after(exc: BaseException) -> float | None:
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date: fall back to the exponential backoff


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it (`__cause__`, else `__context__`), outermost first: litellm
    wraps the transport's error (httpx, aiohttp) in its own, often with a made-up 500."""
    out: list[BaseException] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and len(out) < 32:
        seen.add(id(e))
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _endpoint(chain: list[BaseException], api_base: str | None) -> str:
    """host:port the failed connection was for: from the transport's request (httpx) or
    connection key (aiohttp), else the deployment's api_base. Never a path or credential."""
    for e in reversed(chain):  # the transport's own error (litellm's may carry a made-up URL)
        url = getattr(getattr(e, "_request", None) or _httpx_request(e), "url", None)
        host, port = getattr(url, "host", None), getattr(url, "port", None)
        if isinstance(host, str) and host:
            scheme = getattr(url, "scheme", "")
            return _host_port(host, port if isinstance(port, int) else None, scheme)
        host, port = getattr(e, "host", None), getattr(e, "port", None)  # aiohttp
        if isinstance(host, str) and host and isinstance(port, int):
            return _host_port(host, port, "")
    if api_base:
        try:
            parts = urlsplit(api_base)
            if parts.hostname:
                return _host_port(parts.hostname, parts.port, parts.scheme)
        except ValueError:
            pass
    return "the provider"


def _httpx_request(e: BaseException) -> Any:
    try:  # httpx.RequestError.request raises when the error carries none
        return getattr(e, "request", None)
    except RuntimeError:
        return None


def _host_port(host: str, port: int | None, scheme: str) -> str:
    port = port or {"https": 443, "http": 80}.get(scheme)
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _tls_reason(e: ssl.SSLError) -> str:
    reason = getattr(e, "reason", None) or type(e).__name__  # aiohttp's subclasses lack it
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"certificate rejected: {getattr(e, 'verify_message', None) or reason}"
    if reason == "WRONG_VERSION_NUMBER":
        return "WRONG_VERSION_NUMBER: the server may speak plain HTTP, not HTTPS"
    return str(reason)


_DNS_GONE = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME), socket.EAI_FAIL}
_KEY_VAR = re.compile(r"\b[A-Z][A-Z0-9_]*_(?:API_KEY|KEY|TOKEN)\b")
_MISSING_KEY = re.compile(
    r"missing (?:\w+ )?(?:api[ _]key|credentials)|api_key client option must be set", re.I
)


def _transport_error(
    chain: list[BaseException], deployment: str, api_base: str | None, timeout: float | None
) -> ProviderError | None:
    """The connection-level cause, named, when no HTTP answer came back: refused, DNS,
    TLS, timeout, reset. None when the provider answered (its status decides then)."""
    connecting = any(
        type(e).__name__ in ("ConnectError", "ConnectTimeout")
        or type(e).__name__.startswith("ClientConnector")
        for e in chain
    )
    for e in reversed(chain):  # the root cause first
        if isinstance(e, ConnectionRefusedError):
            where = _endpoint(chain, api_base)
            return ConnectionRefused(
                deployment, f"connection refused by {where} (is the server running?)"
            )
        if isinstance(e, socket.gaierror):
            where = _endpoint(chain, api_base)
            if e.errno in _DNS_GONE:
                return HostNotFound(deployment, f"DNS failure: {where} does not resolve")
            return ProviderUnavailable(
                deployment, f"DNS failure: could not resolve {where} now ({e.strerror})"
            )
        if isinstance(e, ssl.SSLError):
            where = _endpoint(chain, api_base)
            if connecting or isinstance(e, ssl.SSLCertVerificationError):
                return TLSFailed(deployment, f"TLS failure with {where} ({_tls_reason(e)})")
            return ProviderUnavailable(deployment, f"TLS error from {where} ({_tls_reason(e)})")
        if isinstance(e, TimeoutError) or type(e).__name__ in (
            "ConnectTimeout",
            "ReadTimeout",
            "WriteTimeout",
            "PoolTimeout",
            "ServerTimeoutError",
            "ConnectionTimeoutError",
            "SocketTimeoutError",
        ):
            if connecting or "Connect" in type(e).__name__:
                return ProviderTimeout(
                    deployment, f"timed out connecting to {_endpoint(chain, api_base)}"
                )
            return _timed_out(deployment, timeout, _endpoint(chain, api_base))
        if isinstance(e, ConnectionResetError):
            where = _endpoint(chain, api_base)
            return ProviderUnavailable(deployment, f"connection reset by {where}")
    return None


def _answered(chain: list[BaseException]) -> bool:
    """Did a provider answer over HTTP (its body, not ours, is then in the messages)?"""
    return any(
        type(e).__name__ in ("HTTPStatusError", "ClientResponseError")
        or (type(e).__module__.startswith("openai") and hasattr(e, "status_code"))
        for e in chain
    )


def _missing_key(chain: list[BaseException], deployment: str) -> MissingCredentials | None:
    """litellm's own "no key for this provider" errors, raised before anything is sent (as
    a 401, a 500 or a connection error depending on the provider). Only a variable name
    is kept from the message; a provider's answer is never read for it."""
    if _answered(chain):
        return None
    for e in chain:
        message = str(e)
        if _MISSING_KEY.search(message):
            names = _KEY_VAR.findall(message)
            what = f"${names[0]} is not set" if names else "no API key is set for this provider"
            return MissingCredentials(deployment, f"missing credentials: {what}")
    return None


def _timed_out(deployment: str, seconds: float | None, where: str) -> ProviderTimeout:
    within = f" within {seconds:.3g} s" if seconds is not None else ""
    return ProviderTimeout(deployment, f"timed out: no answer from {where}{within}")


def timeout_error(deployment: Deployment, seconds: float) -> ProviderTimeout:
    """The error for a call to `deployment` cut at the deadline after `seconds`: names its
    host:port (from api_base) and the time it had."""
    return _timed_out(deployment.name, seconds, _endpoint([], deployment.api_base))


def map_error(
    exc: BaseException,
    deployment: str,
    *,
    api_base: str | None = None,
    timeout: float | None = None,
) -> ProviderError:
    """A litellm/openai exception as a router error with a disposition. Keeps only the
    status code and the kind of failure: provider messages can echo prompts or keys.
    A connection-level cause (refused, DNS, TLS, timeout, reset) is named with the
    host:port, and carries no HTTP status (litellm reports those as 500 or 408)."""
    lm = _litellm()
    chain = _chain(exc)
    missing = _missing_key(chain, deployment)
    if missing is not None:
        return missing
    transport = _transport_error(chain, deployment, api_base, timeout)
    if transport is not None:
        return transport
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    if status == 403:  # litellm's openai provider has no PermissionDeniedError for it
        return CredentialsRejected(deployment, "credentials rejected", status=status)
    table: list[tuple[Any, type[ProviderError], str]] = [
        (lm.ContextWindowExceededError, ContextWindowExceeded, "context window exceeded"),
        (lm.ContentPolicyViolationError, ContentFiltered, "refused by the content filter"),
        (lm.AuthenticationError, CredentialsRejected, "credentials rejected"),
        (lm.PermissionDeniedError, CredentialsRejected, "credentials rejected"),
        (lm.RateLimitError, RateLimited, "rate limited"),
        (lm.Timeout, ProviderTimeout, "timed out"),
        (lm.NotFoundError, AuthenticationFailed, "model or endpoint not found"),
        (lm.BadRequestError, BadRequest, "rejected the request as invalid"),
        (lm.UnprocessableEntityError, BadRequest, "rejected the request as invalid"),
        (lm.APIConnectionError, ProviderUnavailable, "unreachable or broken response"),
        (lm.ServiceUnavailableError, ProviderUnavailable, "unavailable"),
        (lm.InternalServerError, ProviderUnavailable, "server error"),
        (lm.BadGatewayError, ProviderUnavailable, "bad gateway"),
        (lm.APIError, ProviderUnavailable, "provider error"),
    ]
    if isinstance(exc, lm.BadRequestError) and (
        getattr(exc, "code", None) == "content_filter"
        or "content management policy" in str(getattr(exc, "message", ""))
    ):  # Azure-style filter answers arrive as plain 400s through the openai provider
        return ContentFiltered(deployment, "refused by the content filter", status=status)
    for litellm_type, router_type, detail in table:
        if isinstance(exc, litellm_type):
            return router_type(deployment, detail, status=status, retry_after=_retry_after(exc))
    if status is not None and status >= 500:
        return ProviderUnavailable(deployment, "server error", status=status)
    if isinstance(exc, TypeError | OverflowError):
        # raised while building the call, before anything was sent: the request's shape,
        # not the deployment's health (a breaker must not open on a caller's value)
        return BadRequest(deployment, f"could not build the request ({type(exc).__name__})")
    return ProviderUnavailable(deployment, f"unexpected {type(exc).__name__}", status=status)


def _mapped(exc: BaseException, deployment: Deployment, kwargs: dict[str, Any]) -> ProviderError:
    return map_error(
        exc, deployment.name, api_base=deployment.api_base, timeout=kwargs.get("timeout")
    )


def _dump(response: Any) -> dict[str, Any]:
    """The response as a dict. litellm's own cost for the call, when it computed one, goes
    into `usage.cost` (the field OpenRouter and others use) unless the provider set it."""
    out: dict[str, Any] = response.model_dump()
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    usage = out.get("usage")
    if isinstance(cost, int | float) and isinstance(usage, dict) and "cost" not in usage:
        usage["cost"] = float(cost)
    return out


def _close(stream: Any) -> None:
    """Close a litellm stream (its HTTP response with it); a failure to close is not the
    call's outcome, so it is only logged."""
    close = getattr(stream, "close", None)
    if callable(close):
        try:
            close()
        except Exception as exc:  # closing must not replace the outcome
            _log.debug("closing a stream failed: %s", type(exc).__name__)


async def _aclose(stream: Any) -> None:
    """`_close` for litellm's async stream (`aclose`)."""
    aclose = getattr(stream, "aclose", None)
    if callable(aclose):
        try:
            await aclose()
        except Exception as exc:  # closing must not replace the outcome
            _log.debug("closing a stream failed: %s", type(exc).__name__)


class _Failure:
    """Catches what a blocking litellm call raises and keeps it as a router error, so the
    caller raises that after the `with` block, where no exception is being handled."""

    def __init__(self, deployment: Deployment, kwargs: dict[str, Any]) -> None:
        self.deployment, self.kwargs = deployment, kwargs
        self._error: ProviderError | None = None

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> bool:
        if not isinstance(exc, Exception):  # none, or the caller leaving (GeneratorExit)
            return False
        self._error = _mapped(exc, self.deployment, self.kwargs)
        return True

    def error(self) -> ProviderError:
        assert self._error is not None
        return self._error


def credentials(deployment: Deployment) -> tuple[str | None, dict[str, str]]:
    """The deployment's API key (None when it names no variable) and its extra headers,
    read from the environment now; MissingCredentials before anything is sent when a
    variable is unset. The values read are redacted from the HTTP stack's logs."""
    key = None
    if deployment.api_key_env is not None:
        key = os.environ.get(deployment.api_key_env)
        if not key:
            raise MissingCredentials(
                deployment.name, f"missing credentials: ${deployment.api_key_env} is not set"
            )
        _REDACT_KEYS.add(key)
    headers = dict(deployment.extra_headers)
    for header, env in deployment.extra_headers_env.items():
        value = os.environ.get(env)
        if not value:
            raise MissingCredentials(
                deployment.name, f"missing credentials: ${env} (header {header}) is not set"
            )
        _REDACT_KEYS.add(value)
        headers[header] = value
    return key, headers


def client_timeout(seconds_left: float) -> float:
    """The timeout litellm gets. litellm caches its HTTP client keyed by the timeout value,
    so a new float per call (the chain's deadline minus now) costs a new client and TCP
    connection per call (~1-2 ms). Whole seconds, rounded up, keep one client; in the
    last two seconds before the deadline the exact value is used. A sync call may thus
    outlive the chain's deadline by under a second; async calls are cut at the deadline."""
    return float(math.ceil(seconds_left)) if seconds_left >= 2 else seconds_left


class LiteLLMBackend:
    """Calls deployments through `litellm.completion`, with its retries and cache off; a
    deployment with `client = "direct"` through `router.serving._direct.DirectClient`."""

    @functools.cached_property
    def direct(self) -> DirectClient:
        from router.serving._direct import DirectClient  # noqa: PLC0415  (imports this module)

        return DirectClient()

    def complete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        if deployment.client == "direct":
            return self.direct.complete(deployment, params, timeout)
        kwargs = self._kwargs(deployment, params, timeout)
        failed = _Failure(deployment, kwargs)
        with failed:
            return _dump(_litellm().completion(**kwargs))
        raise failed.error()  # outside `except`: no __context__ holding the provider's raw error

    async def acomplete(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        if deployment.client == "direct":
            return await self.direct.acomplete(deployment, params, timeout)
        lm, kwargs = _litellm(), self._kwargs(deployment, params, timeout)
        import asyncio  # noqa: PLC0415  (loaded already when a coroutine runs; not at import)

        try:
            async with asyncio.timeout(timeout):  # the exact deadline (see client_timeout)
                response = await lm.acompletion(**kwargs)
        except TimeoutError:
            error: ProviderError = timeout_error(deployment, timeout)
        except Exception as exc:  # every failure leaves as a typed router error
            error = _mapped(exc, deployment, kwargs)
        else:
            return _dump(response)
        raise error  # outside `except`: no __context__ holding the provider's raw error

    def stream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]:
        """Chunks as dicts; any failure, before or after the first chunk, as ProviderError."""
        if deployment.client == "direct":
            yield from self.direct.stream(deployment, params, timeout)
            return
        kwargs = self._stream_kwargs(deployment, params, timeout)
        failed, response = _Failure(deployment, kwargs), None
        try:
            with failed:
                response = _litellm().completion(**kwargs)
                yield from (chunk.model_dump() for chunk in response)
                return
        finally:  # also when the caller stops early: let go of the HTTP connection now
            _close(response)
        raise failed.error()

    async def astream(
        self, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """`stream` on litellm's async client."""
        if deployment.client == "direct":
            async for chunk in self.direct.astream(deployment, params, timeout):
                yield chunk
            return
        lm, kwargs = _litellm(), self._stream_kwargs(deployment, params, timeout)
        response: Any = None
        try:
            response = await lm.acompletion(**kwargs)
            async for chunk in response:
                yield chunk.model_dump()
        except Exception as exc:  # every failure leaves as a typed router error
            error = _mapped(exc, deployment, kwargs)
        else:
            return
        finally:  # also when the caller stops early: let go of the HTTP connection now
            await _aclose(response)
        raise error  # outside `except`: no __context__ holding the provider's raw error

    @classmethod
    def _stream_kwargs(
        cls, deployment: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        kwargs = cls._kwargs(deployment, params, timeout)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    @staticmethod
    def _kwargs(deployment: Deployment, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        key, headers = credentials(deployment)
        if key is None and deployment.hosting != "api":  # an API: litellm reads the
            key = _NO_KEY  # provider's usual variable; a local server wants any key
        # the deployment's litellm_params first (an allow-list: router.decision._catalog), then what
        # the router sets itself, then the request's own parameters
        kwargs: dict[str, Any] = {
            **deployment.litellm_params,
            "model": deployment.model,
            "api_base": deployment.api_base,
            "api_key": key,
            "timeout": client_timeout(timeout),
            "num_retries": 0,
            "max_retries": 0,
            "caching": False,
        }
        if deployment.api_version is not None:
            kwargs["api_version"] = deployment.api_version
        if headers:
            kwargs["extra_headers"] = headers
        return {**kwargs, **params}
