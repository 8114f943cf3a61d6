"""bench_serve.py's floor: the least a Python HTTP proxy on router serve's stack can add.

    python benchmarks/_forwarder.py PORT UPSTREAM_URL

A Starlette app on uvicorn, run the way `python -m router serve` runs it
(router/server/_run.py: uvicorn's default loop and HTTP implementation, "auto", so uvloop
and httptools when they are installed; its access log off; no server header; lifespan on;
a socket bound here with SO_REUSEADDR and handed to uvicorn), with no routing at all. Its
one route, `POST /v1/chat/completions`, reads the body, parses it as JSON (as any proxy
must), forwards the bytes with one shared `aiohttp.ClientSession` (made at startup, no
cookie jar, a connector of at most 1,000 connections) to UPSTREAM_URL, reads the answer,
parses it and returns it as JSON with status 200. No key check, no streaming, no per-request
log line. `GET /health` answers 200 (bench_serve waits on it; it is not timed).

What is left is what Starlette + uvicorn + aiohttp alone add to a request: the floor under
any router built on them. It imports nothing from the router (nor from bench_serve, which
does), so none of the router's modules are loaded in its process.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["make_app", "serve"]

CONNECTIONS = 1000  # the connector's limit (litellm's aiohttp default, and the router's)


def make_app(upstream: str) -> Starlette:
    """The forwarder's ASGI app: every chat completion goes to `upstream` as it came."""
    sessions: list[aiohttp.ClientSession] = []
    headers = {"Content-Type": "application/json"}

    async def chat(request: Request) -> Response:
        body = await request.body()
        json.loads(body)  # a proxy must read the request to do anything with it
        async with sessions[0].post(upstream, data=body, headers=headers) as answer:
            raw = await answer.read()
        return JSONResponse(json.loads(raw), status_code=200)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        sessions.append(session)
        loop = type(asyncio.get_running_loop())
        print(f"forwarder: event loop {loop.__module__}.{loop.__name__}", file=sys.stderr,
              flush=True)  # fmt: skip
        try:
            yield
        finally:
            await session.close()

    routes = [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(port: int, upstream: str, host: str = "127.0.0.1") -> None:
    """Serve on host:port until SIGINT or SIGTERM (in-flight requests finish first)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        make_app(upstream),
        host=host,
        port=port,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=65,  # router serve: its timeout (60 s by default) + 5
    )
    config.load()
    http = config.http_protocol_class
    print(f"forwarder: http {getattr(http, '__name__', http)}", file=sys.stderr, flush=True)
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _exit_cleanly)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].isdigit():
        sys.exit("usage: _forwarder.py PORT UPSTREAM_URL")
    serve(int(sys.argv[1]), sys.argv[2])
