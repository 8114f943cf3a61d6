"""`python -m router serve`: check everything, bind the port, run uvicorn.

Everything that can be refused is refused before a request is accepted, each in one line
naming what to change: the config (every check a Router makes, and the `[server]` table),
the client keys (an unset `key_env` variable), serving without keys on an address other
machines can reach, a port that is taken. The socket is bound here, once, and handed to
uvicorn (and to each worker process with `--workers N`, which builds its own Router
from the same file), so "address in use" is said by us, not as a traceback.

Logs: uvicorn's access log is off (its request line holds the query string, where a
client may put a key); the app logs one line per request itself (`[server] access_log`)
with the route, status, tenant and request id, never a header, query string or body.
"""

from __future__ import annotations

import copy
import errno
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from router import Router
from router.decision import RouterConfig, compile_config, is_loopback
from router.errors import ConfigError
from router.server._app import CONFIG_ENV, create_app
from router.server._keys import KeyRing

__all__ = ["bind", "check_exposure", "log_config", "serve"]

_CLI = "python -m router serve"


def check_exposure(tree: RouterConfig, host: str) -> None:
    """Fail closed: no keys means loopback only, and only when `auth = "none"` says so."""
    settings, source = tree.server, tree.source
    if settings.auth == "none" and not is_loopback(host):
        raise ConfigError(
            source,
            "server.auth",
            f'auth = "none" serves anyone who can reach {host}; bind 127.0.0.1 (--host) '
            "or add [[server.keys]]",
        )
    if settings.auth == "keys" and not settings.keys:
        raise ConfigError(
            source,
            "server.keys",
            "no client keys: add a [[server.keys]] table (python -m router serve --new-key "
            'TENANT prints one), or write auth = "none" under [server] to serve this '
            "machine only, without keys",
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a ConfigError saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            why = (
                f"port {port} on {host} is already in use; stop what listens there or pick "
                "another with --port"
            )
        elif exc.errno == errno.EACCES:
            why = (
                f"not allowed to listen on port {port} (ports below 1024 need privileges); "
                "pick another with --port"
            )
        else:
            why = f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host"
        raise ConfigError(
            _CLI, "--port" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "--host", why
        ) from None
    sock.set_inheritable(True)  # worker processes get it
    return sock


def log_config() -> dict[str, Any]:
    """uvicorn's logging config, plus the router's loggers on the same stderr handler."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["router"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(
    config: Path, *, host: str | None = None, port: int | None = None, workers: int | None = None
) -> int:
    """Serve `config` until SIGINT or SIGTERM (in-flight requests finish first, up to the
    router's timeout). Raises ConfigError for anything it refuses."""
    tree = RouterConfig.load(config)
    settings = tree.server
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    check_exposure(tree, host)
    KeyRing.of(settings, tree.source, os.environ)  # an unset key variable, said now
    compile_config(tree)  # every check a Router makes, before the port is taken
    sock = bind(host, port)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": log_config(),
        "access_log": False,
        "server_header": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": int(tree.router.timeout) + 5,
        # a worker warms up (imports litellm) before it answers the supervisor's ping as
        # ready; on a busy machine that is longer than uvicorn's 5 s
        "timeout_worker_healthcheck": 60,
    }
    shown = f"[{host}]" if ":" in host else host
    print(f"router: serving http://{shown}:{port}/v1 ({workers} worker{'s' * (workers > 1)})",
          file=sys.stderr, flush=True)  # fmt: skip
    if workers == 1:
        app = create_app(Router(config=tree))
        # uvicorn drains, restores these handlers and raises the signal again: a clean
        # stop then exits 0 rather than dying of SIGTERM
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, _exit_cleanly)
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
        return 0
    os.environ[CONFIG_ENV] = str(config.resolve())
    uv = uvicorn.Config("router.server._app:app_from_env", factory=True, workers=workers, **options)
    Multiprocess(uv, sockets=[sock]).run()
    return 0
