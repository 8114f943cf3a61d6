"""What the server tests share: a config over loopback FaultServers, client keys, and the
real server (uvicorn) on a free port, in a thread of the test process or as
`python -m router serve` in a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import router
from router.server import create_app, hash_key
from router.testing import FaultServer

ROOT = Path(__file__).resolve().parent.parent
API_KEY_ENV = "ROUTER_TEST_PAID_KEY"
ACME = "rk-" + "acme-" + "0123456789abcdef0123"  # assembled: no secret scanner flags it
GLOBEX = "rk-" + "globex-" + "fedcba9876543210fedc"
GLOBEX_ENV = "ROUTER_TEST_GLOBEX_KEY"


@dataclass(frozen=True)
class Running:
    """A running server: its base URL (…/v1) and root."""

    root: str

    @property
    def v1(self) -> str:
        return f"{self.root}/v1"


def config_text(local: FaultServer, api: FaultServer, *, extra: str = "", server: str = "") -> str:
    """A config with a free local deployment and a paid API (both loopback FaultServers),
    a ledger, two client keys (acme by hash, globex by environment variable) and two
    model routes; `server` lines go under [server], `extra` at the end."""
    return f"""
[router]
ledger = "ledger.sqlite"
baseline = "api"
paid_share = 0.0

[retry]
attempts = 1

[[deployments]]
name = "local"
model = "openai/q"
api_base = "{local.base_url}"
context_window = 8192
quality = 0.5

[[deployments]]
name = "api"
model = "openai/big"
api_base = "{api.base_url}"
hosting = "api"
weights = "closed"
context_window = 8192
quality = 0.95
api_key_env = "{API_KEY_ENV}"
input_cost_per_mtok = 2.5
output_cost_per_mtok = 10

[server]
{server}

[[server.keys]]
tenant = "acme"
key_hash = "{hash_key(ACME)}"

[[server.keys]]
tenant = "globex"
key_env = "{GLOBEX_ENV}"

[[server.models]]
name = "router/best"
objective = "best"
paid_share = 1.0
description = "the best eligible model"

[[server.models]]
name = "router/free-only"
paid_share = 0.0
{extra}
"""


def write_config(folder: Path, local: FaultServer, api: FaultServer, **kw: str) -> Path:
    path = folder / "router.toml"
    path.write_text(config_text(local, api, **kw), encoding="utf-8")
    return path


def env() -> dict[str, str]:
    """The environment the server needs: the paid API's key and globex's client key."""
    return {API_KEY_ENV: "sk-" + "test-" + "x" * 12, GLOBEX_ENV: GLOBEX}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextlib.contextmanager
def serving(path: Path, **options: Any) -> Iterator[tuple[Running, router.Router]]:
    """The app of `path` on uvicorn, in a thread of this process, until the block ends."""
    r = router.Router(config=router.RouterConfig.load(path), **options)
    app = create_app(r, env=env(), warmup=False)  # a test that calls no model pays nothing
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        yield Running(f"http://127.0.0.1:{port}"), r
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextlib.contextmanager
def subprocess_server(
    path: Path, *args: str, environ: Mapping[str, str] | None = None
) -> Iterator[tuple[Running, subprocess.Popen[str]]]:
    """`python -m router serve --config PATH` on a free port, until the block ends
    (SIGTERM, then its exit is awaited)."""
    port = free_port()
    full_env = {**os.environ, **env(), "PYTHONPATH": str(ROOT), **(environ or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "router", "serve", "--config", str(path), "--port", str(port),
         *args],
        env=full_env, cwd=path.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    running = Running(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited {proc.returncode}: {proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{running.root}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not answer /health within 60 s")
            time.sleep(0.05)
        yield running, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def headers(key: str = ACME) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


CHAT = {"model": "router", "messages": [{"role": "user", "content": "Say hi"}]}


# -- several `serve` processes at once (tests/test_server_replicas.py) ----------------------


@dataclass
class Served:
    """One `python -m router serve` process: its URL, the process, and its log file (stderr
    and stdout go to a file, never a pipe a busy server could fill and block on)."""

    running: Running
    proc: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_serve(
    path: Path, *args: str, environ: Mapping[str, str] | None = None, name: str = "serve"
) -> Served:
    """`python -m router serve --config PATH --port FREE ARGS...`, started, not awaited
    (`wait_serving`); its output goes to `NAME-PORT.log` beside the config."""
    port = free_port()
    full_env = {**os.environ, **env(), "PYTHONPATH": str(ROOT), **(environ or {})}
    log = path.parent / f"{name}-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "--config", str(path), "--port", str(port),
             *args],
            env=full_env, cwd=path.parent, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Served(Running(f"http://127.0.0.1:{port}"), proc, log)


def wait_serving(*served: Served, timeout: float = 90.0) -> None:
    """Until every process answers /health (importing litellm takes seconds on a busy
    machine); a RuntimeError with the log's tail if one exits or the time runs out."""
    deadline = time.monotonic() + timeout
    waiting = list(served)
    while waiting:
        for s in list(waiting):
            if s.proc.poll() is not None:
                raise RuntimeError(f"serve exited {s.proc.returncode}: {s.log_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{s.running.root}/health", timeout=1).status_code == 200:
                    waiting.remove(s)
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"serve did not answer /health within {timeout:g} s")
        if waiting:
            time.sleep(0.05)


def stop_serve(served: Served, timeout: float = 30.0) -> int:
    """SIGTERM unless it has exited; its exit code (SIGKILL after `timeout` s)."""
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
        try:
            served.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait()
    return served.proc.returncode


@contextlib.contextmanager
def serve_processes(path: Path, *arg_lists: tuple[str, ...]) -> Iterator[list[Served]]:
    """One `serve` process of `path` per item of `arg_lists` (its extra arguments, e.g.
    `("--workers", "2")`), started together and awaited; stopped when the block ends."""
    started: list[Served] = []
    try:
        for i, args in enumerate(arg_lists):
            started.append(start_serve(path, *args, name=f"serve{i}"))
        wait_serving(*started)
        yield started
    finally:
        for s in started:  # all at once: each takes seconds to exit
            if s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
        for s in started:
            stop_serve(s)
