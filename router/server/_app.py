"""The ASGI app: OpenAI's chat completions and models endpoints in front of `Router`.

Starlette, not FastAPI: the app is five routes whose bodies the router validates itself
(`InvalidRequest` names the field), so FastAPI's pydantic request models, dependency
injection and OpenAPI schema would be a second validation layer and a few hundred
microseconds per request for nothing the clients use; Starlette (which FastAPI is built
on) gives routing, requests and responses and nothing else. The chat route is a plain
ASGI endpoint so that it owns its body reading (size limit, read timeout), its
disconnect handling and its Server-Sent Events (`router.server._sse`).

Every answer to a chat request carries what the decision did: `x-request-id` (the id
`Router.feedback` takes), `x-router-served-by`, `x-router-sensitivity`,
`x-router-overhead-ms` (the router's own time: from the body received to the answer,
minus the calls to deployments as its attempts record them, the client library's work
inside a call included), `x-router-cost-usd` and `x-router-saved-usd`
(the latter with a `[router] baseline` only). A stream's headers leave before its body,
so they hold what is known when the first chunk is ready: the request id, served-by,
sensitivity and overhead; its cost is settled when it ends: in the ledger, and, with
`stream_options.include_usage`, in the usage chunk's `x_router` object
(`{"cost_usd": ..., "saved_usd": ...}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router import Decision, Router
from router.decision import DEFAULT_MODEL, RouterConfig, applicable
from router.errors import (
    AllDeploymentsFailed,
    ConfigError,
    NoEligibleDeployment,
    RouterError,
)
from router.server._errors import Answer, answer_for, error_body, plain
from router.server._keys import KeyRing
from router.server._openai import BodyError, completion, parse_body
from router.server._sse import (
    ClientGone,
    EventStream,
    Receive,
    Send,
    cost_fields,
    or_disconnect,
)

__all__ = ["CONFIG_ENV", "Server", "app_from_env", "create_app"]

CONFIG_ENV = "ROUTER_SERVE_CONFIG"
"""The config file a worker process builds its app from (`--workers N`)."""
_log = logging.getLogger("router.server")
_access = logging.getLogger("router.server.access")


class _TooLarge(Exception):
    pass


class Server:
    """What the app serves: a Router per model name, the client keys, the `[server]` table."""

    def __init__(self, router: Router, keys: KeyRing) -> None:
        tree = router.config
        self.router = router
        self.settings = tree.server
        self.keys = keys
        if self.settings.auth == "keys" and not keys.entries:
            raise ConfigError(
                tree.source,
                "server.keys",
                "no client keys: add a [[server.keys]] table (python -m router serve "
                '--new-key TENANT prints one), or write auth = "none" under [server] to '
                "serve this machine only, without keys",
            )
        self.routes: dict[str, Router] = {DEFAULT_MODEL: router}
        self.descriptions = {DEFAULT_MODEL: "the config's own objective, policy and mode"}
        for i, route in enumerate(self.settings.models):
            try:
                self.routes[route.name] = router.variant(**route.overrides())
            except ConfigError as exc:
                key = exc.key.removeprefix("router.")
                raise ConfigError(tree.source, f"server.models[{i}].{key}", exc.message) from None
            self.descriptions[route.name] = route.description

    # -- who is asking ------------------------------------------------------------------

    def tenant(self, request: Request) -> str | Answer:
        """The tenant of the request's key, or the 401 answer. Never logs the header."""
        if self.settings.auth == "none":
            return "default"
        header = request.headers.get("authorization")
        if not header:
            return _unauthorized(
                "You didn't provide an API key; send it as Authorization: Bearer KEY"
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("malformed Authorization header; write Authorization: Bearer KEY")
        tenant = self.keys.tenant_of(token.strip())
        if tenant is None:
            return _unauthorized("Incorrect API key provided")
        return tenant

    async def body(self, request: Request) -> bytes:
        """The request body, within `max_body_bytes` and `read_timeout` (_TooLarge,
        TimeoutError, ClientDisconnect)."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        parts, size = [], 0
        async with asyncio.timeout(self.settings.read_timeout):
            async for part in request.stream():
                size += len(part)
                if size > limit:
                    raise _TooLarge
                parts.append(part)
        return b"".join(parts)

    # -- endpoints ----------------------------------------------------------------------

    async def chat(self, scope: Any, receive: Receive, send: Send) -> None:
        """`POST /v1/chat/completions` (a plain ASGI endpoint: module docstring)."""
        request = Request(scope, receive)
        tenant, status, request_id = "-", 500, "-"
        try:
            answer = await self._chat(request, receive)
            tenant, response = answer
            status = response.status_code if isinstance(response, Response) else 200
            request_id = _header(response, "x-request-id")
            await response(scope, receive, send)
        finally:
            self._log_access(request, "/v1/chat/completions", status, tenant, request_id)

    async def _chat(self, request: Request, receive: Receive) -> tuple[str, Any]:
        who = self.tenant(request)
        if isinstance(who, Answer):
            return "-", _json(who)
        try:
            raw = await self.body(request)
        except _TooLarge:
            limit = self.settings.max_body_bytes
            too_large = plain(413, f"request body larger than {limit} bytes", "body_too_large")
            return who, _json(too_large, close=True)
        except TimeoutError:
            late = plain(408, f"request body not received within {self.settings.read_timeout:g} s",
                         "read_timeout")  # fmt: skip
            return who, _json(late, close=True)
        except ClientDisconnect:
            return who, Response(status_code=499)
        started = time.perf_counter()
        try:
            parsed = parse_body(raw)
        except BodyError as exc:
            return who, _json(exc.answer)
        router = self.routes.get(parsed.model)
        if router is None:
            return who, _json(_unknown_model(parsed.model))
        args: dict[str, Any] = {**parsed.args, "tenant": who}
        declared = request.headers.get("x-router-sensitivity")
        if declared is not None:
            args["sensitivity"] = declared  # the router validates it; detection only raises
        try:
            if parsed.stream:
                stream = await or_disconnect(router.astream(parsed.messages, **args), receive)
                return who, EventStream(
                    stream,
                    headers=_decision_headers(stream.decision, started, final=False),
                    model=parsed.model,
                    include_usage=parsed.include_usage,
                )
            result = await or_disconnect(router.acomplete(parsed.messages, **args), receive)
        except ClientGone:
            return who, Response(status_code=499)
        except RouterError as exc:
            return who, await self._error(router, exc, started)
        except Exception as exc:  # never its message: it may carry what the model was sent
            _log.error("request failed: %s", type(exc).__name__)
            return who, _json(plain(500, "internal error", "internal_error"))
        decision = result.decision
        usage = decision.usage
        counts = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        body = completion(result.response, parsed.model, counts)
        return who, JSONResponse(body, headers=_decision_headers(decision, started, final=True))

    async def _error(self, router: Router, exc: RouterError, started: float) -> Response:
        retry_after: float | None = None
        headers: dict[str, str] = {}
        if isinstance(exc, NoEligibleDeployment):
            headers = _decision_headers(exc.decision, started, final=False)
            if any(
                note.startswith("shared state unavailable") for note in exc.decision.shared_state
            ):
                retry_after = router.state_settings.retry_seconds
            else:
                retry_after = _budget_reset(router.config, exc.decision, time.time())
        elif isinstance(exc, AllDeploymentsFailed):
            health = await asyncio.to_thread(router.health)
            waits = [b.retry_in_seconds for b in health.values() if b.state == "open"]
            retry_after = min(waits) if waits else None
        if exc.request_id is not None:  # planned and recorded: the ledger row's id
            headers["x-request-id"] = exc.request_id
        answer = answer_for(exc, retry_after=retry_after)
        if answer.status >= 500:  # a router's message holds no prompt text and no secret
            _log.warning("request failed (%d): %s", answer.status, exc)
        return _json(answer._replace(headers={**headers, **answer.headers}))

    async def models(self, request: Request) -> Response:
        who = self.tenant(request)
        if isinstance(who, Answer):
            return _json(who)
        name = request.path_params.get("name")
        if name is not None:
            if name not in self.routes:
                return _json(_unknown_model(name))
            return JSONResponse(self._model(name))
        return JSONResponse({"object": "list", "data": [self._model(n) for n in self.routes]})

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 0, "owned_by": "router",
                "description": self.descriptions[name]}  # fmt: skip

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        """Ready or not (503) for anyone; the details (deployment names, breakers) only for
        a valid key, or when the server runs without keys."""
        report = await asyncio.to_thread(self.router.readiness)
        status = 200 if report["ready"] else 503
        if isinstance(self.tenant(request), Answer):
            return JSONResponse({"ready": report["ready"]}, status_code=status)
        return JSONResponse(report, status_code=status)

    async def metrics(self, request: Request) -> Response:
        """Prometheus metrics from `router.observe`, when it and prometheus_client are
        installed (`[router] metrics = true`); 501 otherwise."""
        try:
            observe = importlib.import_module("router.observe")
            body, content_type = await asyncio.to_thread(observe.render_metrics)
        except ImportError:
            return Response(
                "metrics need prometheus_client: pip install 'freefirst-router[metrics]', "
                "and [router] metrics = true\n",
                status_code=501,
                media_type="text/plain",
            )
        return Response(body, media_type=content_type)

    def _log_access(
        self, request: Request, route: str, status: int, tenant: str, request_id: str
    ) -> None:
        if self.settings.access_log:
            # the route, never the raw path or query string; never a header or the body
            _access.info("%s %s %d tenant=%s request_id=%s", request.method, route, status,
                         tenant, request_id)  # fmt: skip


def create_app(
    router: Router, *, env: Mapping[str, str] | None = None, warmup: bool = True
) -> Starlette:
    """The server's ASGI app for `router` (its config's `[server]` table: keys, models).

    Client keys given by `key_env` are read from `env` (default: `os.environ`) now; a
    missing one, or no key at all without `auth = "none"`, is a ConfigError. `warmup`:
    pay the router's first-call cost (`Router.warmup`) before the first request is
    accepted (False: the first request pays it)."""
    tree = router.config
    keys = KeyRing.of(tree.server, tree.source, os.environ if env is None else env)
    server = Server(router, keys)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:  # requests are accepted once this returns: none pays the first-call cost
            if warmup:
                await asyncio.to_thread(router.warmup)
        except Exception as exc:
            _log.warning("warmup failed (%s); the first request pays its cost", type(exc).__name__)
        yield
        if router.shared is not None:
            router.shared.close()

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return _json(
                plain(405, f"method {request.method} not allowed here", "method_not_allowed")
            )
        return _json(
            plain(
                404,
                "unknown URL; this server answers POST /v1/chat/completions, GET "
                "/v1/models, /health, /ready and /metrics",
                "unknown_url",
            )
        )

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", _Asgi(server.chat), methods=["POST"]),
            Route("/v1/models", server.models, methods=["GET"]),
            Route("/v1/models/{name:path}", server.models, methods=["GET"]),
            Route("/health", server.health, methods=["GET"]),
            Route("/ready", server.ready, methods=["GET"]),
            Route("/metrics", server.metrics, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.server = server
    return app


def app_from_env() -> Starlette:
    """The app of one worker process (`--workers N`): its own Router from the config file
    named by `ROUTER_SERVE_CONFIG`."""
    path = os.environ[CONFIG_ENV]
    return create_app(Router(config=RouterConfig.load(path)))


# -- helpers ------------------------------------------------------------------------------


class _Asgi:
    """A bound method as a plain ASGI endpoint (Starlette would wrap a method as
    request -> response)."""

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        await self.endpoint(scope, receive, send)


def _json(answer: Answer, *, close: bool = False) -> Response:
    headers = dict(answer.headers)
    if close:  # the rest of the body is not read: do not reuse the connection
        headers["connection"] = "close"
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def _unauthorized(message: str) -> Answer:
    answer = plain(401, message, "invalid_api_key")
    return answer._replace(headers={"WWW-Authenticate": "Bearer"})


def _unknown_model(name: str) -> Answer:
    shown = name if len(name) <= 100 and name.isprintable() else "(not shown)"
    message = (
        f"The model {shown!r} does not exist; GET /v1/models lists the names this server serves"
    )
    return Answer(404, error_body(message, "invalid_request_error", "model_not_found", "model"), {})


def _header(response: Any, name: str) -> str:
    if isinstance(response, Response):
        return response.headers.get(name, "-")
    headers = getattr(response, "headers", ())
    return next((v.decode() for k, v in headers if k == name.encode()), "-")


def _decision_headers(decision: Decision, started: float, *, final: bool) -> dict[str, str]:
    """What the decision did, as response headers (module docstring)."""
    called = sum(a.latency_ms for a in decision.attempts)
    overhead = max(0.0, (time.perf_counter() - started) * 1000 - called)
    headers = {
        "x-request-id": decision.request_id or "-",
        "x-router-served-by": decision.served_by or "-",
        "x-router-sensitivity": decision.features.sensitivity,
        "x-router-overhead-ms": f"{overhead:.3f}",
    }
    if final:
        headers.update(cost_fields(decision))
    return headers


def _budget_reset(tree: RouterConfig, decision: Decision, now: float) -> float | None:
    """Seconds until the budgets that emptied the plan reset (the latest of them)."""
    if not any(r.stage == "budget" for r in decision.rejected):
        return None
    f = decision.features
    reasons = " ".join(" ".join(r.reasons) for r in decision.rejected if r.stage == "budget")
    budgets = applicable(tree.budgets, f.tenant, f.tags)
    named = [b for b in budgets if b.label(f.tenant) in reasons] or budgets
    return max((b.resets_at(now) for b in named), default=now) - now or None
