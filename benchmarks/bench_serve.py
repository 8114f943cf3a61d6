"""`python -m router serve` over HTTP (issue 17, "Measured"), side by side in one run.

    .venv/bin/python benchmarks/bench_serve.py            # ~15 min on 2 cores at load ~6
    .venv/bin/python benchmarks/bench_serve.py --quick    # ~4 min: fewer requests
    .venv/bin/python benchmarks/bench_serve.py --model-ms 0 --quick   # at once only: ~2 min
    .venv/bin/python benchmarks/bench_serve.py --no-litellm --no-router --no-forwarder  # direct

1. **Overhead.** A closed-loop load (1, 100 and 500 concurrent clients; each client sends
   its next request when its answer is in, on its own keep-alive connection) against:
   - *direct*: the loopback model server itself (`bench_serving.py --serve`: an asyncio
     HTTP/1.1 server in its own process that answers after the delay in the request's
     path, `/<side>/<ms>/v1/chat/completions`);
   - *forwarder* (the floor; `--no-forwarder` skips it): a bare forwarder, Starlette +
     aiohttp with no routing (`_forwarder.py`, its own process): uvicorn run as
     `router serve` runs it (router/server/_run.py: default loop and HTTP implementation,
     so uvloop and httptools when installed; uvicorn's access log off; no server header),
     one route, `POST /v1/chat/completions`, that reads the body, parses it as JSON,
     forwards the bytes with one shared `aiohttp.ClientSession` (no cookie jar, at most
     1,000 connections) to the model server (the same delay in the path), parses the
     answer and returns it as JSON, 200. What Starlette + uvicorn + aiohttp alone add,
     the floor under any router built on them: router minus forwarder is the router's
     own work (key check, decision, bookkeeping, its access line), and the forwarder's
     overhead says whether the 1 ms target is in reach of any proxy on this stack on
     this machine;
   - *router*: `python -m router serve` (one process, the config's one deployment on that
     model server, a client key in `[[server.keys]]`), model `router`;
   - *litellm*: LiteLLM's own proxy (`litellm --config config.yaml`, one process), the same
     deployment, its master key, no database.
   Every request is the same ~1k-token prompt (`_prompts.REPORT`), `max_tokens=256`,
   `temperature=0`. Per side and concurrency: latency p50 / p99 over every request of
   the timed repeats, answers per second (median of the repeats), the proxy's CPU per
   request; overhead = proxy p50 (p99) minus direct p50 (p99); router - forwarder = router
   p50 minus forwarder p50 (and CPU per request likewise). The sides alternate, in a
   rotating order, repeat by repeat, after one untimed warm-up batch each.

   **The model's latency** (`--model-ms`, default `0,1000`): the rounds above run once per
   delay, every side calling the model server with that delay (the proxies' `api_base`
   carries it in its path; they are started afresh for each delay), one table each.
   Why: against a server that answers at once, a closed loop saturates any one-process
   proxy, and each request waits behind the N - 1 others: at 100 clients the "overhead"
   is a queue of 100 x the proxy's CPU per request (~1 ms: ~100 ms), its capacity, not
   the latency it adds to a request. A real model takes hundreds of ms to seconds per
   answer, so 100 clients ask ~100 answers/s of a proxy, far below its capacity; the
   1,000 ms round (a short completion) measures the latency it adds then. With a delay
   the clients' first requests are spread over one delay (client i of N at i / N of it):
   started together, they would stay in lockstep and each request would wait behind a
   burst of N, a queue again. The delayed rounds send fewer requests (at least 6 per
   client per batch; a batch lasts >= 6 x the delay) and 2 timed repeats (1 with
   `--quick`); the output says how many. Throughput is bound by the model server there
   (N clients / delay) for a proxy that keeps up: capacity is the 0 ms round's.
2. **LiteLLM's proxy**, in the same rounds: our overhead / its overhead, our throughput /
   its throughput, at each concurrency.
3. **1,000 concurrent streams through 2 replicas**: two `router serve` processes on two
   ports, one config: `state = "redis://..."` (a real redis-server started here, see
   router/testing/redis_server.py) and one SQLite ledger. The model server here is this
   file's `--sse-server`: bench_serving's server with a listen backlog of 4,096, answering
   SSE at once under a side that starts with `sse`. 1,000 streams at once, half to each
   replica, each on a new connection; a stream counts when its status is 200 and it ends
   with `data: [DONE]`. The ledger's rows are counted before and after (the replicas are
   then stopped with SIGTERM, which drains them, and counted again).

Processes: the load client is a worker process of its own (raw asyncio streams, no HTTP
library: it should cost the least CPU it can) that the parent drives batch by batch
(`bench_serving.WorkerProcess`); the model server, the forwarder, the router and the
LiteLLM proxy are each a process of their own. Nothing is pinned: all share the machine's
cores, and the output says how many cores each party used (CPU seconds from /proc, over the
process and its children, per wall second). The router's and LiteLLM's access logs are on,
as by default (the router's is a line of its own per request; uvicorn's is off in `router
serve`, and in the forwarder); the forwarder logs nothing per request. The three proxies
run on uvicorn, whose event loop is uvloop when it is installed (LiteLLM's proxy asks for
it; the dev extra installs it), so every side gets the same loop; the output says which
(and the forwarder says which loop and HTTP protocol uvicorn picked).

Offline: every child Python process gets a `sitecustomize` that refuses (and logs) any
`socket.connect` or `getaddrinfo` outside loopback; the proxies (the forwarder too) run
under `strace -f --seccomp-bpf -e trace=connect` when strace is on the machine, which also
sees what uvloop (the proxies' event loop) and C code do, and every `connect()` outside
loopback (and every one to port 53: a name lookup) is printed. LiteLLM's proxy is started
with `LITELLM_OFFLINE_MODE=true`, `LITELLM_LOCAL_MODEL_COST_MAP=True` (and the other
`LITELLM_LOCAL_*` switches), no `DATABASE_URL`, telemetry off.

LiteLLM's proxy extra: `litellm[proxy]` cannot be installed from the package index here
(it pins `litellm-proxy==<version>`, a distribution the index does not have), so the dev
extra lists what its proxy needs to start (see pyproject.toml). When the proxy or
`router serve` cannot start, its side is reported as missing and the rest still runs.
Targets (issue 17) are printed as PASS/MISS per delay; they are a report, not an assertion.
Beside them, per delay, an informative line (not a target): "floor: forwarder overhead p50
at 100", whether any proxy on this stack could meet the 1 ms target on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("LITELLM_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prompts  # (after the sys.path insert: run by path or imported)
import bench_serving
from bench_decision import _loopback_only, _verdict

__all__ = ["main"]

TARGET_OVERHEAD_MS = 1.0  # router p50 overhead at 100 concurrent
TARGET_OVERHEAD_SHARE = 1 / 3  # router overhead / litellm proxy overhead
TARGET_THROUGHPUT_RATIO = 1.0  # router answers/s / litellm proxy answers/s
TARGET_STREAM_ERRORS = 0

LEVELS = (1, 100, 500)
REQUESTS = {1: 200, 100: 1_000, 500: 3_000}  # per timed batch (>= 6 per client)
QUICK_REQUESTS = {1: 100, 100: 600, 500: 1_500}
REPEATS = 3
MODEL_MS = (0, 1_000)  # the model server's delay per answer, one round of the sides each
MIN_PER_CLIENT = 6  # requests per client per timed batch, at least (at any delay)
DELAYED_REQUESTS = {1: 20, 100: 1_000, 500: 3_000}  # when the model takes its time
QUICK_DELAYED_REQUESTS = {1: 6, 100: 600, 500: 3_000}
DELAYED_REPEATS = 2
WARM_UP = (100, 400)  # clients, requests: one untimed batch per side and delay
STREAMS = 1_000
MAX_TOKENS = 256
MODEL = "bench-model"
PROMPT = _prompts.messages(_prompts.REPORT)
SIDES = ("direct", "forwarder", "router", "litellm")
LABELS = {
    "direct": "model server, direct",
    "forwarder": "bare forwarder",
    "router": "router serve",
    "litellm": "LiteLLM proxy",
}
FORWARDER = "bare forwarder (Starlette + aiohttp, no routing)"
"""The floor's full name (benchmarks/_forwarder.py); LABELS has the short one, for tables."""
START_TIMEOUT_S = 180.0
SELF_REPORTED = ("x-router-overhead-ms", "x-litellm-overhead-duration-ms")
"""Response headers in which each proxy reports the milliseconds it added to a request."""
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- the load client (a worker process) --------------------------------------------------


class _Conn:
    """One HTTP/1.1 keep-alive connection to 127.0.0.1 (raw asyncio streams)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, data: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        reader = self.reader
        self.writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass  # trailers
                    break
                parts.append((await reader.readexactly(size + 2))[:-2])
            body = b"".join(parts)
        else:
            body = await reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _request_bytes(job: dict[str, Any]) -> bytes:
    payload: dict[str, Any] = {
        "model": job["model"],
        "messages": PROMPT,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    if job["stream"]:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    body = json.dumps(payload).encode()
    head = (
        f"POST {job['path']} HTTP/1.1\r\nHost: 127.0.0.1:{job['port']}\r\n"
        f"Authorization: Bearer {job['key']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("Connection: close\r\n" if job["new_connection"] else "")
        + "\r\n"
    )
    return head.encode() + body


def _answered(status: int, body: bytes, stream: bool) -> str | None:
    """None for a right answer, else what was wrong (bounded, no body text)."""
    if status != 200:
        return f"HTTP {status}"
    if stream:
        if not body.rstrip().endswith(b"data: [DONE]"):
            return "stream without data: [DONE]"
        return None if b'"hel' in body else "stream without the answer"
    return None if b'"hello"' in body else "answer without 'hello'"


async def _closed_loop(
    jobs: list[dict[str, Any]], concurrency: int, total: int, spread: float = 0.0
) -> dict[str, Any]:
    """`concurrency` clients, each sending its next request when its answer is in, until
    `total` requests are done; the jobs are spread over the clients round-robin (several
    ports: several replicas). Client i sends its first request `i / concurrency * spread`
    seconds after the start (0: all at once)."""
    requests = [_request_bytes(job) for job in jobs]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    served_by: Counter[str] = Counter()
    reported: list[float] = []  # the proxy's own figure of the time it added, when it sends one
    left = [total]

    async def client(i: int) -> None:
        job, data = jobs[i % len(jobs)], requests[i % len(jobs)]
        conn = _Conn(job["port"])
        if spread:
            await asyncio.sleep(i / concurrency * spread)
        try:
            while left[0] > 0:
                left[0] -= 1
                t0 = time.perf_counter()
                try:
                    status, headers, body = await conn.request(data)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    errors[type(exc).__name__] += 1
                    conn.close()
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                wrong = _answered(status, body, job["stream"])
                if wrong is not None:
                    errors[wrong] += 1
                if "x-router-served-by" in headers:
                    served_by[headers["x-router-served-by"]] += 1
                for name in SELF_REPORTED:
                    if name in headers:
                        with contextlib.suppress(ValueError):
                            reported.append(float(headers[name]))
        finally:
            conn.close()

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": time.process_time() - cpu0,
        "latencies": latencies,
        "errors": sum(errors.values()),
        "kinds": dict(errors.most_common(3)),
        "served_by": dict(served_by),
        "reported": reported,
    }


async def _client_async(refused: list[str]) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    loop = asyncio.get_running_loop()
    print(bench_serving._WORKER_READY, flush=True)
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        command = json.loads(line)
        report = await _closed_loop(
            command["jobs"], command["concurrency"], command["total"], command["spread"]
        )
        report["refused"] = len(refused)
        print(bench_serving._WORKER_RESULT + json.dumps(report), flush=True)


def _client() -> None:
    with _loopback_only() as refused:
        asyncio.run(_client_async(refused))


class _Client(bench_serving.WorkerProcess):
    """The load client's worker process: one closed-loop batch per `run`."""

    def __init__(self) -> None:
        super().__init__(__file__, "client", [])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def run(
        self, jobs: list[dict[str, Any]], concurrency: int, total: int, spread: float = 0.0
    ) -> dict[str, Any]:
        assert self.proc.stdin is not None
        command = {"jobs": jobs, "concurrency": concurrency, "total": total, "spread": spread}
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        out: dict[str, Any] = json.loads(self._line(bench_serving._WORKER_RESULT))
        return out


# --- processes ------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0.0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _descendants(pid: int) -> list[int]:
    """The process's children, grandchildren... (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _tree_cpu(pid: int, *, skip_root: bool = False) -> float:
    """CPU seconds of a process and its living descendants (`skip_root`: of the
    descendants only, e.g. under strace)."""
    pids = _descendants(pid) + ([] if skip_root else [pid])
    return sum(_cpu_seconds(p) for p in pids)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_SITECUSTOMIZE = '''\
"""bench_serve.py's network guard for its child processes: refuse and log any connection
or name lookup outside loopback (Python-level sockets; strace sees the rest)."""
import os as _os
import socket as _socket

_LOG = _os.environ.get("BENCH_SERVE_NET_LOG")
_OK = ("127.", "::1", "::ffff:127.", "localhost")


def _allowed(host):
    return host is None or str(host).startswith(_OK) or str(host) in ("", "0.0.0.0", "::")


def _refuse(what):
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{_os.getpid()} {what}\\n")
    raise OSError(f"bench_serve: network outside 127.0.0.1 refused ({what})")


_connect = _socket.socket.connect
_connect_ex = _socket.socket.connect_ex
_getaddrinfo = _socket.getaddrinfo


def connect(self, address):
    if self.family != _socket.AF_UNIX and isinstance(address, tuple):
        if not _allowed(address[0]):
            _refuse(f"connect {address[0]}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family != _socket.AF_UNIX and isinstance(address, tuple):
        if not _allowed(address[0]):
            _refuse(f"connect {address[0]}")
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if not _allowed(host):
        _refuse(f"resolve {host}")
    return _getaddrinfo(host, *args, **kwargs)


_socket.socket.connect = connect
_socket.socket.connect_ex = connect_ex
_socket.getaddrinfo = getaddrinfo
'''

_CONNECT = re.compile(
    r"connect\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\), "
    r"(?:sin_addr=inet_addr\(\"([^\"]+)\"\)|[^}]*inet_pton\(AF_INET6, \"([^\"]+)\")"
)


@dataclass
class _Proxy:
    """An HTTP server under test (router serve or LiteLLM's proxy) in a child process,
    under strace when it is on the machine; stopped by SIGTERM to the real server (never
    to strace, which would detach and leave it running)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    health: str
    folder: Path
    traced: bool = False
    proc: subprocess.Popen[bytes] | None = None
    started_in: float = math.nan
    log: Path = field(init=False)
    trace: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / f"{self.name}.log"
        self.trace = self.folder / f"{self.name}.strace"

    def start(self) -> None:
        argv = self.argv
        if self.traced:
            argv = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect",
                    "-e", "signal=none", "-o", str(self.trace), *argv]  # fmt: skip
        t0 = time.perf_counter()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log)
        deadline = t0 + START_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.tail()}")
            with contextlib.suppress(OSError):
                conn = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                try:
                    conn.sendall(
                        f"GET {self.health} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Connection: close\r\n\r\n".encode()
                    )
                    if conn.recv(64).startswith(b"HTTP/1.1 200"):
                        self.started_in = time.perf_counter() - t0
                        return
                finally:
                    conn.close()
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {START_TIMEOUT_S:.0f} s:\n{self.tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return _tree_cpu(self.pid, skip_root=self.traced)

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        targets = [
            p for p in _descendants(self.pid) if self.traced and _ppid(p) == self.proc.pid
        ] or [self.pid]
        for p in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in [*_descendants(self.pid), self.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            self.proc.wait()

    def outside(self) -> tuple[int, list[str]]:
        """connect() calls seen by strace: (count, those outside loopback or to port 53)."""
        if not self.traced or not self.trace.exists():
            return 0, []
        total, bad = 0, []
        for line in self.trace.read_text(errors="replace").splitlines():
            match = _CONNECT.search(line)
            if not match:
                continue
            total += 1
            port, v4, v6 = match.group(1), match.group(2), match.group(3)
            host = v4 or v6 or "?"
            loopback = host.startswith(("127.", "::ffff:127.")) or host == "::1"
            if not loopback or port == "53":
                bad.append(f"{host}:{port}")
        return total, bad


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _child_env(folder: Path, **extra: str) -> dict[str, str]:
    guard = folder / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(guard), str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env["BENCH_SERVE_NET_LOG"] = str(folder / "refused.log")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(name, None)
    env["NO_PROXY"] = "*"
    env.update(extra)
    return env


def _router_config(path: Path, api_base: str, key_env: str, extra: str = "") -> None:
    path.write_text(
        f"""# bench_serve.py: one local deployment on the loopback model server
[router]
{extra}
[server]
[[server.keys]]
tenant = "bench"
key_env = "{key_env}"

[[deployments]]
name = "local-bench"
model = "openai/{MODEL}"
api_base = "{api_base}"
context_window = 32768
quality = 0.8
"""
    )


def _router_proxy(folder: Path, name: str, config: Path, key: str, traced: bool) -> _Proxy:
    port = _free_port()
    argv = [sys.executable, "-m", "router", "serve", "--config", str(config),
            "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = _child_env(folder, BENCH_ROUTER_KEY=key)
    return _Proxy(name, argv, env, port, "/health", folder, traced)


def _forwarder_proxy(folder: Path, name: str, upstream: str, traced: bool) -> _Proxy:
    """The floor (benchmarks/_forwarder.py): Starlette + uvicorn + aiohttp, no routing,
    forwarding every chat completion to `upstream` (the model server's URL, with its delay)."""
    port = _free_port()
    script = Path(__file__).resolve().parent / "_forwarder.py"
    argv = [sys.executable, str(script), str(port), upstream]
    return _Proxy(name, argv, _child_env(folder), port, "/health", folder, traced)


_LITELLM_OFFLINE = {
    "LITELLM_OFFLINE_MODE": "true",  # every catalog or check it fetches itself: bundled copy
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_ADMIN_UI": "True",
}


def _litellm_proxy(
    folder: Path, api_base: str, key: str, traced: bool, name: str = "litellm"
) -> _Proxy:
    config = folder / f"{name}-config.yaml"
    config.write_text(
        f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {api_base}
      api_key: sk-no-key-needed
litellm_settings:
  telemetry: false
  num_retries: 0
general_settings: {{}}
"""
    )
    port = _free_port()
    script = Path(sys.executable).parent / "litellm"
    argv = [sys.executable, str(script), "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    env = _child_env(folder, LITELLM_MASTER_KEY=key, **_LITELLM_OFFLINE)
    for var in ("DATABASE_URL", "STORE_MODEL_IN_DB", "REDIS_HOST", "REDIS_URL"):
        env.pop(var, None)
    return _Proxy(name, argv, env, port, "/health/liveliness", folder, traced)


@contextlib.contextmanager
def _running(proxy: _Proxy | None) -> Iterator[_Proxy | None]:
    try:
        yield proxy
    finally:
        if proxy is not None:
            proxy.stop()


# --- the parent -----------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1] if ordered else math.nan


def _job(port: int, path: str, key: str, model: str, *, stream: bool = False,
         new_connection: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"port": port, "path": path, "key": key, "model": model, "stream": stream,
            "new_connection": new_connection}  # fmt: skip


@dataclass
class _Batch:
    seconds: float
    latencies: list[float]
    errors: int
    kinds: dict[str, int]
    client_cpu: float
    proxy_cpu: float
    server_cpu: float
    upstream: int  # requests the model server received from this side
    served_by: dict[str, int]
    reported: list[float]


def _overhead(
    *,
    client: _Client,
    server: Any,
    proxies: dict[str, _Proxy],
    keys: dict[str, str],
    levels: tuple[int, ...],
    requests: dict[int, int],
    repeats: int,
    delay_ms: int = 0,
) -> dict[tuple[str, int], list[_Batch]]:
    """The closed-loop rounds against a model server that holds every answer `delay_ms`
    (the proxies' `api_base` carries the same delay in its path). With a delay, the timed
    batches spread the clients' first requests over one delay: started together, N clients
    stay in lockstep (their answers come back together) and every request waits behind a
    burst of N, a queue as at saturation, though the proxy idles between bursts."""
    direct = f"/direct/{delay_ms}/v1/chat/completions"  # the path of bench_serving._base
    jobs = {
        "direct": _job(server.port, direct, "none", MODEL),
        **{
            side: _job(p.port, "/v1/chat/completions", keys.get(side, "none"),
                       "router" if side == "router" else MODEL)
            for side, p in proxies.items()
        },
    }  # fmt: skip
    sides = [s for s in SIDES if s in jobs]
    out: dict[tuple[str, int], list[_Batch]] = {}
    for side in sides:  # warm-up: connections, first calls, imports done lazily
        report = client.run([jobs[side]], *WARM_UP)
        if report["errors"]:
            print(f"  warm-up of {LABELS[side]}: {report['errors']} errors {report['kinds']}")
    for n in levels:
        for i in range(repeats):
            order = sides[i % len(sides) :] + sides[: i % len(sides)]
            for side in order:
                proxy = proxies.get(side)
                bench_serving._stats(server.port, reset=True)
                c0, s0 = _cpu_seconds(client.pid), _cpu_seconds(server.pid)
                p0 = proxy.cpu() if proxy else 0.0
                report = client.run([jobs[side]], n, requests[n], delay_ms / 1000)
                upstream = bench_serving._count(bench_serving._stats(server.port),
                                                side, "requests")  # fmt: skip
                out.setdefault((side, n), []).append(
                    _Batch(
                        seconds=report["seconds"],
                        latencies=report["latencies"],
                        errors=report["errors"],
                        kinds=report["kinds"],
                        client_cpu=_cpu_seconds(client.pid) - c0,
                        proxy_cpu=(proxy.cpu() - p0) if proxy else 0.0,
                        server_cpu=_cpu_seconds(server.pid) - s0,
                        upstream=upstream,
                        served_by=report["served_by"],
                        reported=report["reported"],
                    )
                )
    return out


def _print_overhead(
    batches: dict[tuple[str, int], list[_Batch]],
    levels: tuple[int, ...],
    delay_ms: int = 0,
    *,
    explain: bool = True,
) -> dict[str, Any]:
    print(
        f"  {'clients':>7} {'side':<21} {'p50 ms':>8} {'p99 ms':>8} {'answers/s':>9} "
        f"{'errors':>6} {'upstream':>8} {'proxy CPU':>9} {'own p50':>7} {'cores: client':>13} "
        f"{'proxy':>5} {'model':>5}"
    )
    out: dict[str, Any] = {"p50": {}, "p99": {}, "rate": {}, "errors": {}, "kinds": Counter()}
    for n in levels:
        for side in SIDES:
            runs = batches.get((side, n))
            if not runs:
                continue
            lat = [x for b in runs for x in b.latencies]
            total = sum(len(b.latencies) for b in runs)
            rate = statistics.median((len(b.latencies) - b.errors) / b.seconds for b in runs)
            wall = sum(b.seconds for b in runs)
            p50, p99 = _percentile(lat, 0.5), _percentile(lat, 0.99)
            errors = sum(b.errors for b in runs)
            upstream = sum(b.upstream for b in runs)
            proxy_ms = sum(b.proxy_cpu for b in runs) / max(total, 1) * 1000
            out["p50"][side, n], out["p99"][side, n] = p50, p99
            out.setdefault("cpu", {})[side, n] = proxy_ms
            out["rate"][side, n], out["errors"][side, n] = rate, errors
            for b in runs:
                out["kinds"].update(
                    {f"{LABELS[side]}, {_model(delay_ms)}: {k}": v for k, v in b.kinds.items()}
                )
            proxy = "" if side == "direct" else f"{proxy_ms:.2f} ms"
            own = [x for b in runs for x in b.reported]
            own_p50 = f"{_percentile(own, 0.5):.2f}" if own else ""
            out.setdefault("own", {})[side, n] = _percentile(own, 0.5) if own else math.nan
            pcores = "" if side == "direct" else f"{sum(b.proxy_cpu for b in runs) / wall:.2f}"
            print(
                f"  {n:>7} {LABELS[side]:<21} {p50:>8.2f} {p99:>8.2f} {rate:>9,.0f} "
                f"{errors:>6} {upstream:>8} {proxy:>9} {own_p50:>7} "
                f"{sum(b.client_cpu for b in runs) / wall:>13.2f} {pcores:>5} "
                f"{sum(b.server_cpu for b in runs) / wall:>5.2f}"
            )
        for side in ("forwarder", "router", "litellm"):
            if (side, n) in out["p50"] and ("direct", n) in out["p50"]:
                d50 = out["p50"][side, n] - out["p50"]["direct", n]
                d99 = out["p99"][side, n] - out["p99"]["direct", n]
                out.setdefault("over50", {})[side, n] = d50
                out.setdefault("over99", {})[side, n] = d99
                print(f"  {n:>7}   overhead, {LABELS[side]:<14} p50 {d50:>8.2f} ms, "
                      f"p99 {d99:>8.2f} ms")  # fmt: skip
        if ("router", n) in out["p50"] and ("forwarder", n) in out["p50"]:
            own50 = out["p50"]["router", n] - out["p50"]["forwarder", n]
            cpu = out["cpu"]["router", n] - out["cpu"]["forwarder", n]
            out.setdefault("own_cost", {})[n] = own50
            print(f"  {n:>7}   router - forwarder (the router's own cost over the floor): p50 "
                  f"{own50:>8.2f} ms, proxy CPU {cpu:.2f} ms per request")  # fmt: skip
        if ("router", n) in out["p50"] and ("litellm", n) in out["p50"]:
            share = out["over50"]["router", n] / out["over50"]["litellm", n]
            tp = out["rate"]["router", n] / out["rate"]["litellm", n]
            print(f"  {n:>7}   router / LiteLLM proxy: overhead p50 {_x(share)}, "
                  f"throughput {_x(tp)}")  # fmt: skip
    if explain:
        _explain_table()
    if delay_ms:
        print(
            f"  (the model server holds every answer {delay_ms:,} ms: N clients ask at most "
            f"N / {delay_ms / 1000:g} s\n   answers/s of a proxy ({100_000 / delay_ms:,.0f}/s at "
            "100 clients); while a proxy keeps up (its answers/s\n   about the direct side's) "
            "the overhead is what it adds to each request, not a queue; the\n   clients' first "
            f"requests are spread over {delay_ms:,} ms, client i of N at i / N of it, so they do"
            "\n   not arrive in lockstep bursts of N)"
        )
    if ("direct", 100) in out["p50"]:
        need = 100 * 1000 / (out["p50"]["direct", 100] + TARGET_OVERHEAD_MS)
        print(
            "  (a closed loop of N clients waits ~ N / throughput (Little's law): at 100 clients\n"
            f"   an overhead p50 <= {TARGET_OVERHEAD_MS:g} ms needs >= {need:,.0f} answers/s "
            "from the proxy, one answer\n   per 100 / that seconds; past its capacity the "
            "overhead measured is mostly its queue)"
        )
    return out


def _explain_table() -> None:
    print(
        "  (closed loop: each client sends its next request when its answer is in, on one\n"
        "   keep-alive connection; p50/p99 over every request of the timed repeats; answers/s:\n"
        "   median of the repeats; upstream: requests the model server got from that side;\n"
        "   proxy CPU: the proxy's CPU time per request; own p50: the median of what the proxy\n"
        "   itself reports it added, in ms (router: x-router-overhead-ms, LiteLLM:\n"
        "   x-litellm-overhead-duration-ms; each its own way: neither counts the HTTP layer in\n"
        "   front of it, and under load both count waits for their busy event loop); cores: CPU\n"
        "   seconds per wall second of the load client, the proxy (with its children) and the\n"
        "   model server, from /proc; nothing pinned: all share the machine's CPUs;\n"
        "   bare forwarder: Starlette on uvicorn, run as router serve runs it, one aiohttp\n"
        "   session forwarding the bytes, JSON parsed both ways, no routing: what that stack\n"
        "   alone adds, the floor under any router built on it; router - forwarder: router\n"
        "   p50 minus forwarder p50, and CPU per request likewise: the router's own work)"
    )


def _ledger_rows(path: Path) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        (n,) = conn.execute("SELECT COUNT(*) FROM records").fetchone()
        return int(n)
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _streams(client: _Client, folder: Path, traced: bool, n: int) -> dict[str, Any]:
    from router.testing.redis_server import RedisServer, describe_server  # noqa: PLC0415

    out: dict[str, Any] = {"ran": False}
    key = "sk-bench-" + secrets.token_hex(16)
    ledger = folder / "replicas-ledger.sqlite"
    with (
        contextlib.ExitStack() as stack,
    ):
        sse = stack.enter_context(_sse_child())
        redis = stack.enter_context(RedisServer(appendonly=False))
        print(f"  Redis: {describe_server(redis.binary)} on 127.0.0.1:{redis.port}")
        config = folder / "replicas.toml"
        _router_config(
            config,
            f"http://127.0.0.1:{sse.port}/sse/0/v1",
            "BENCH_ROUTER_KEY",
            extra=f'state = "{redis.url}"\nledger = "{ledger}"',
        )
        replicas = [_router_proxy(folder, f"replica{i}", config, key, traced) for i in (1, 2)]
        for r in replicas:
            stack.enter_context(_running(r))
        try:
            for r in replicas:
                r.start()
        except RuntimeError as exc:
            print(f"  router serve did not start: {str(exc)[-1500:]}")
            return out
        jobs = [_job(r.port, "/v1/chat/completions", key, "router", stream=True,
                     new_connection=True) for r in replicas]  # fmt: skip
        warm = client.run(jobs, 20, 40)
        before = _ledger_rows(ledger)
        cpu0 = [r.cpu() for r in replicas]
        redis0 = _cpu_seconds(redis.pid)
        bench_serving._stats(sse.port, reset=True)
        report = client.run(jobs, n, n)
        cpu = [r.cpu() - c for r, c in zip(replicas, cpu0, strict=True)]
        redis_cpu = _cpu_seconds(redis.pid) - redis0
        upstream = bench_serving._count(bench_serving._stats(sse.port), "sse", "requests")
        right_after = _ledger_rows(ledger) - before
        deadline = time.perf_counter() + 10
        while _ledger_rows(ledger) - before < n and time.perf_counter() < deadline:
            time.sleep(0.1)
        settled = _ledger_rows(ledger) - before
        waited = time.perf_counter() - (deadline - 10)
        for r in replicas:
            r.stop()
        after_stop = _ledger_rows(ledger) - before
        out.update(ran=True, errors=report["errors"], kinds=report["kinds"],
                   rows=after_stop, requests=n)  # fmt: skip
        lat = report["latencies"]
        print(
            f"  warm-up: {len(warm['latencies'])} streams, {warm['errors']} errors; then {n:,} "
            f"streams at once, {n // len(replicas)} to each replica, a new connection each"
        )
        print(
            f"  all done in {report['seconds']:.2f} s: {len(lat) - report['errors']:,} right, "
            f"{report['errors']} errors {report['kinds'] or ''}; time to the end of each "
            f"stream p50 {_percentile(lat, 0.5):.0f} ms, p99 {_percentile(lat, 0.99):.0f} ms"
        )
        print(f"  answers by deployment (x-router-served-by): {report['served_by']}")
        print(
            f"  model server got {upstream:,} streaming requests; CPU seconds: replicas "
            f"{' + '.join(f'{c:.1f}' for c in cpu)}, Redis {redis_cpu:.1f}, client "
            f"{report['cpu']:.1f}"
        )
        print(
            f"  ledger rows for the batch: {right_after:,} when the last stream ended, "
            f"{settled:,} after {waited:.1f} s, {after_stop:,} after SIGTERM to both replicas"
        )
        offline = [r.outside() for r in replicas]
        out["outside"] = sum(len(bad) for _, bad in offline)
    return out


@contextlib.contextmanager
def _sse_child() -> Iterator[Any]:
    from bench_async import _child  # noqa: PLC0415

    with _child([__file__, "--sse-server"], "the streaming model server") as child:
        yield child


def _git_state() -> str:
    from bench_async import _git_state as state  # noqa: PLC0415

    return state()


def _serve_available() -> str | None:
    """None when `python -m router serve --help` works, else why not."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "router", "serve", "--help"],
            capture_output=True, text=True, timeout=60, check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[-300:]


def _x(ratio: float) -> str:
    """A ratio, with a third decimal when it is under 0.1 (0.004x is not 0.00x)."""
    return f"{ratio:.2f}x" if abs(ratio) >= 0.1 else f"{ratio:.3f}x"


def _model(delay_ms: int) -> str:
    return f"model {delay_ms:,} ms"


def _title(delay_ms: int) -> str:
    if delay_ms == 0:
        return (
            "model server answers at once (capacity: a closed loop saturates the proxy; "
            "overhead here is queueing)"
        )
    what = "a short completion" if delay_ms >= 500 else "a fast model"
    return (
        f"model server answers in {delay_ms:,} ms ({what}; the proxy is not saturated "
        f"unless N clients / {delay_ms / 1000:g} s outrun it)"
    )


def _plan(delay_ms: int, quick: bool, repeats: int | None) -> tuple[dict[int, int], int]:
    """(requests per timed batch by level, timed repeats) for one delay: fewer for a delayed
    model (a batch lasts >= MIN_PER_CLIENT x the delay), and then never fewer than
    MIN_PER_CLIENT requests per client (at 0 ms, --quick keeps its 3 per client at 500)."""
    if delay_ms == 0:
        return (QUICK_REQUESTS if quick else REQUESTS), repeats or (1 if quick else REPEATS)
    table = QUICK_DELAYED_REQUESTS if quick else DELAYED_REQUESTS
    requests = {n: max(table.get(n, 0), MIN_PER_CLIENT * n) for n in LEVELS}
    return requests, repeats or (1 if quick else DELAYED_REPEATS)


# Rough answers/s of each side on 2 shared cores (the README's figures), and seconds to start:
# only for the run time printed at the start.
_RATE = {"direct": 5_000.0, "forwarder": 2_000.0, "router": 450.0, "litellm": 60.0}
_START_S = {"direct": 0.0, "forwarder": 2.0, "router": 5.0, "litellm": 25.0}


def _expected_seconds(
    plans: dict[int, tuple[dict[int, int], int]], sides: list[str], streams: bool
) -> float:
    """A rough estimate of the run time: each batch lasts its requests over the side's
    answers/s, or over N clients / delay when the model server is the slower."""

    def batch(side: str, n: int, total: int, delay_ms: int) -> float:
        offered = n * 1000 / delay_ms if delay_ms else math.inf
        return total / min(offered, _RATE[side])

    seconds = 15.0 + (30.0 if streams else 0.0)
    for delay_ms, (requests, repeats) in plans.items():
        for side in sides:
            seconds += _START_S[side] + batch(side, *WARM_UP, delay_ms)
            seconds += repeats * sum(batch(side, n, requests[n], delay_ms) for n in LEVELS)
    return seconds


def _targets(
    ovs: dict[int, dict[str, Any]], streams: dict[str, Any], levels: tuple[int, ...]
) -> None:
    print()
    print("targets (issue 17; a report, not an assertion):")
    rows: list[tuple[str, str, bool | str | None]] = []  # str: a figure, not a target
    kinds: Counter[str] = Counter()
    for delay_ms, ov in ovs.items():
        at = _model(delay_ms)
        kinds.update(ov.get("kinds", Counter()))
        o50 = ov.get("over50", {})
        target = f"overhead p50 <= {TARGET_OVERHEAD_MS:g} ms at 100, {at}"
        if ("router", 100) in o50:
            v = o50["router", 100]
            rows.append((target, f"{v:.2f} ms", v <= TARGET_OVERHEAD_MS))
        else:
            rows.append((target, "not run", None))
        if ("forwarder", 100) in o50:  # whether any proxy on this stack can meet that target
            v = o50["forwarder", 100]
            floor = f"info: {'within' if v <= TARGET_OVERHEAD_MS else 'above'} the target"
            rows.append((f"floor: forwarder overhead p50 at 100, {at}", f"{v:.2f} ms", floor))
        against = False
        for n in levels:
            if ("router", n) in o50 and ("litellm", n) in o50:
                against = True
                share = o50["router", n] / o50["litellm", n]
                rows.append((f"overhead router / LiteLLM <= 1/3 at {n}, {at}", _x(share),
                             share <= TARGET_OVERHEAD_SHARE))  # fmt: skip
                tp = ov["rate"]["router", n] / ov["rate"]["litellm", n]
                rows.append((f"throughput router / LiteLLM >= 1 at {n}, {at}"
                             + ("*" if delay_ms else ""), _x(tp),
                             tp >= TARGET_THROUGHPUT_RATIO))  # fmt: skip
        if not against:
            rows.append((f"router vs LiteLLM proxy, {at}", "not run", None))
    if streams.get("ran"):
        e, rows_, n = streams["errors"], streams["rows"], streams["requests"]
        rows.append((f"{n:,} streams, 2 replicas: errors = 0", str(e), e == 0))
        rows.append((f"{n:,} streams: ledger rows = requests", f"{rows_:,}", rows_ == n))
    else:
        rows.append(("1,000 streams through 2 replicas", "not run", None))
    width = max(44, *(len(r[0]) for r in rows))
    for target, measured, ok in rows:
        verdict = ok if isinstance(ok, str) else "—" if ok is None else _verdict(ok)
        print(f"  {target:<{width}} measured {measured:>9}   {verdict}")
    if any(r[0].endswith("*") for r in rows):
        print(
            "  (*: with a delay, a proxy that keeps up answers as fast as the model server lets\n"
            "   it, N clients / delay, so the throughput that tells capacity is the model 0 ms "
            "one)"
        )
    for kind, count in kinds.most_common(6):
        print(f"  failed x{count}: {kind}")


def _model_ms(text: str) -> tuple[int, ...]:
    """`--model-ms`: comma-separated whole milliseconds >= 0, in the order given."""
    try:
        out = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ms: {text!r}") from None
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"want distinct delays >= 0, e.g. 0,1000: {text!r}")
    return out


def _start_proxies(
    folder: Path,
    server_port: int,
    delay_ms: int,
    keys: dict[str, str],
    *,
    forwarder: bool,
    router: bool,
    litellm: bool,
    traced: bool,
    stack: contextlib.ExitStack,
) -> dict[str, _Proxy]:
    """The proxies of one delay, their `api_base` on the model server with that delay in
    its path; a side that does not start is left out (and said so)."""
    proxies: dict[str, _Proxy] = {}
    if forwarder:
        upstream = bench_serving._base(server_port, "forwarder", delay_ms) + "/chat/completions"
        proxies["forwarder"] = _forwarder_proxy(folder, f"forwarder-{delay_ms}ms", upstream,
                                                traced)  # fmt: skip
    if router:
        config = folder / f"router-{delay_ms}ms.toml"
        api_base = bench_serving._base(server_port, "router", delay_ms)
        _router_config(config, api_base, "BENCH_ROUTER_KEY")
        proxies["router"] = _router_proxy(
            folder, f"router-{delay_ms}ms", config, keys["router"], traced
        )
    if litellm:
        api_base = bench_serving._base(server_port, "litellm", delay_ms)
        proxies["litellm"] = _litellm_proxy(
            folder, api_base, keys["litellm"], traced, name=f"litellm-{delay_ms}ms"
        )
    for side, proxy in list(proxies.items()):
        stack.enter_context(_running(proxy))
        try:
            proxy.start()
        except RuntimeError as exc:
            print(f"  {LABELS[side]} did not start, its side is not run:\n{exc}")
            del proxies[side]
    for side, proxy in proxies.items():
        print(f"  {LABELS[side]}: ready in {proxy.started_in:.1f} s, pid {proxy.pid}, api_base "
              f".../{side}/{delay_ms}/v1" + (" (under strace)" if traced else ""))  # fmt: skip
        if side == "forwarder":  # what uvicorn picked, as the forwarder logged it
            said = [line.removeprefix("forwarder: ") for line in proxy.tail().splitlines()
                    if line.startswith("forwarder: ")]  # fmt: skip
            print(f"    = {FORWARDER}: {', '.join(said) or 'said nothing at start'}")
    return proxies


def main(argv: list[str] | None = None) -> None:  # noqa: PLR0915  (one run, in order)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer requests, one repeat")
    parser.add_argument("--repeats", type=int,
                        help=f"timed batches per side ({REPEATS}; {DELAYED_REPEATS} with a "
                        "model delay)")  # fmt: skip
    parser.add_argument("--model-ms", type=_model_ms, default=MODEL_MS, metavar="LIST",
                        help="the model server's delay per answer, comma-separated ms; one "
                        f"round of the sides each ({','.join(map(str, MODEL_MS))})")  # fmt: skip
    parser.add_argument("--no-forwarder", action="store_true",
                        help="skip the bare forwarder (the floor: Starlette + uvicorn + aiohttp, "
                        "no routing)")  # fmt: skip
    parser.add_argument("--no-router", action="store_true", help="skip router serve")
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM's proxy")
    parser.add_argument("--no-streams", action="store_true", help="skip the 2-replica streams")
    parser.add_argument("--streams", type=int, default=STREAMS, help=f"({STREAMS:,})")
    args = parser.parse_args(argv)
    delays: tuple[int, ...] = args.model_ms
    plans = {ms: _plan(ms, args.quick, args.repeats) for ms in delays}
    started = time.perf_counter()
    load0 = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    from importlib import metadata  # noqa: PLC0415

    print(
        f"router {_git_state()}; litellm {metadata.version('litellm')}; Python "
        f"{sys.version.split()[0]}; {os.cpu_count()} CPUs; load average {load0}"
    )
    traced = _strace_works()
    uvloop = "uvloop" if _importable("uvloop") else "asyncio"
    why_not_router = None if args.no_router else _serve_available()
    if why_not_router is not None:
        print(f"router serve is not available, its side is not run: {why_not_router}")
    use_router = not args.no_router and why_not_router is None
    run_streams = not args.no_streams and use_router
    planned = ["direct"] + ([] if args.no_forwarder else ["forwarder"]) + (
        ["router"] if use_router else []) + ([] if args.no_litellm else ["litellm"])  # fmt: skip
    expected = _expected_seconds(plans, planned, run_streams)
    print(
        f"expected run time: ~{expected / 60:.0f} min (rough: from earlier answers/s on 2 "
        f"shared cores; {len(delays)} round(s) of {', '.join(planned)} at model delays "
        f"{', '.join(f'{ms:,}' for ms in delays)} ms"
        + (", then the streams)" if run_streams else ")")
    )
    with (
        _loopback_only() as refused,
        tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        folder = Path(tmp)
        from bench_async import _child  # noqa: PLC0415

        server = stack.enter_context(_child([bench_serving.__file__, "--serve"], "model server"))
        client = _Client()
        stack.callback(client.stop)
        client.ready()
        keys = {"router": "sk-bench-" + secrets.token_hex(16),
                "litellm": "sk-bench-" + secrets.token_hex(16)}  # fmt: skip
        print(
            "model server: bench_serving's asyncio HTTP/1.1 server, own process, answers after "
            "the delay in the request's path (/<side>/<ms>/v1/...); load client: raw asyncio "
            f"streams, own process; event loop available to uvicorn: {uvloop}"
        )
        print(
            f"each request: ~1k-token prompt, max_tokens={MAX_TOKENS}, temperature=0; every "
            "side calls the model server with the same delay; proxies started afresh for each "
            "delay, one untimed warm-up batch per side"
        )
        for ms, (requests, repeats) in plans.items():
            fewer = "requests" + ("" if repeats == plans.get(0, plans[ms])[1] else " and repeats")
            print(
                f"  {_model(ms)}: {repeats} timed repeat(s) per side and level, requests per "
                "batch: " + ", ".join(f"{requests[n]:,} at {n}" for n in LEVELS)
                + ("" if ms == 0 else f" (fewer {fewer} than at 0 ms: each batch lasts >= "
                   f"{MIN_PER_CLIENT} x the delay; >= {MIN_PER_CLIENT} requests per client)")
            )  # fmt: skip
        ovs: dict[int, dict[str, Any]] = {}
        offline: dict[str, tuple[int, list[str]]] = {}
        for i, ms in enumerate(delays):
            requests, repeats = plans[ms]
            print()
            print(f"1-2.{chr(ord('a') + i)} {_title(ms)}")
            start = f"first requests spread over {ms:,} ms" if ms else "all at once"
            print(f"  closed loop at {', '.join(map(str, LEVELS))} concurrent clients, {start}")
            with contextlib.ExitStack() as round_stack:
                proxies = _start_proxies(
                    folder, server.port, ms, keys, forwarder=not args.no_forwarder,
                    router=use_router, litellm=not args.no_litellm, traced=traced,
                    stack=round_stack,
                )  # fmt: skip
                batches = _overhead(
                    client=client,
                    server=server,
                    proxies=proxies,
                    keys=keys,
                    levels=LEVELS,
                    requests=requests,
                    repeats=repeats,
                    delay_ms=ms,
                )
                for side, proxy in proxies.items():
                    proxy.stop()
                    total, bad = proxy.outside()
                    total0, bad0 = offline.get(side, (0, []))
                    offline[side] = (total0 + total, bad0 + bad)
            ovs[ms] = _print_overhead(batches, LEVELS, ms, explain=i == 0)
        streams: dict[str, Any] = {"ran": False}
        if run_streams:
            print()
            print(f"3. {args.streams:,} concurrent streams through 2 router serve replicas on "
                  "Redis, one ledger (the SSE model server answers at once)")  # fmt: skip
            streams = _streams(client, folder, traced, args.streams)
        refused_children = (folder / "refused.log").read_text().splitlines() if (
            folder / "refused.log").exists() else []  # fmt: skip
        workers_refused = client.run([], 0, 0)["refused"]
    _targets(ovs, streams, LEVELS)
    print()
    print("offline:")
    for side, (total, bad) in offline.items():
        seen = f"{total} connect() calls, {len(bad)} outside loopback or to port 53"
        print(f"  {LABELS[side]}: {seen if traced else 'not traced (strace missing or refused)'}"
              + (f": {bad[:5]}" if bad else ""))  # fmt: skip
    if streams.get("ran"):
        print(f"  replicas: {streams.get('outside', 0)} connect() outside loopback or to port 53")
    print(
        f"  refused by the socket guard: this process {len(refused)}, the load client "
        f"{workers_refused}, the proxies and servers {len(refused_children)}"
        + (f": {refused_children[:5]}" if refused_children else "")
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"load average at the end: {load}; {time.perf_counter() - started:.0f} s "
        f"(expected ~{expected:.0f} s)"
    )


def _strace_works() -> bool:
    """Whether strace is here and may trace (a container may forbid ptrace)."""
    if shutil.which("strace") is None:
        return False
    argv = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect", "-o", os.devnull,
            sys.executable, "-c", "pass"]  # fmt: skip
    try:
        return subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _importable(name: str) -> bool:
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _client()
    elif sys.argv[1:] == ["--sse-server"]:
        asyncio.run(bench_serving._serve_forever(backlog=4096))  # 1,000 streams connect at once
    else:
        main()
