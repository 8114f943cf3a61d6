"""What serving a request through the Router costs, next to a bare litellm call.

Both sides call the same OpenAI-compatible server on 127.0.0.1 with the same arguments
(`model`, `api_base`, `api_key`, `timeout`, retries and litellm's cache off, the messages,
`temperature=0`, `max_tokens`): exactly what `router.serving._backends.LiteLLMBackend` passes.

1. latency: `Router.complete` vs `litellm.completion` against a server that answers at
   once, interleaved call by call (the order rotates every round), after a warm-up. A
   third side, bare litellm with a new `timeout` value on every call (as the Router
   passes the seconds left before its deadline), shows what litellm's client cache costs
   when its key changes on every call.
2. cache: `Router.complete` answered from a `ResponseCache` on a temporary directory
   (temperature 0: the request is deterministic and cached), in the same rounds; and the
   same hit called back to back.
3. concurrency: 500 concurrent `Router.acomplete` vs 500 concurrent `litellm.acompletion`
   against a server that takes 100 ms per request; batches alternate between the sides.

The server is a small asyncio HTTP/1.1 server (standard library only), defined below and
run in a child process so that its work does not share this process's GIL, with a listen
backlog of 2,048 (`router.testing.FaultServer` is a ThreadingHTTPServer: one thread per
connection, in this process, and a backlog of 5). Each side calls it under its own path
prefix (`/<side>/<delay ms>/v1`) so that the server can count requests, requests in
flight and new TCP connections per side. Nothing leaves 127.0.0.1: a socket guard refuses
anything else and the count of refused attempts is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import importlib.metadata
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before anything can import litellm: use the bundled price map, never fetch one.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("LITELLM_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prompts  # (after the sys.path insert: run by path or imported)
from bench_decision import _interleaved, _litellm, _loopback_only, _percentile, _verdict

import router

__all__ = ["main"]

TARGET_OVERHEAD_MS = 0.5
TARGET_CACHE_HIT_MS = 0.5
TARGET_THROUGHPUT_RATIO = 0.90

WARMUP = 40  # rounds before timing (connections, litellm's client cache, caches)
ROUNDS = 300  # timed rounds per prompt; each round calls every side once
HITS_BACK_TO_BACK = 300
CONCURRENCY = 500
LATENCY_S = 0.100
BATCHES = 3  # timed batches of CONCURRENCY requests per side (after one warm-up batch each)
MAX_TOKENS = 256
TIMEOUT_S = 60.0  # Router's default `timeout`; the bare call passes the same
API_KEY = "sk-no-key-needed"  # what the Router's backend passes for a local deployment
MODEL = "openai/bench-model"

SHORT = [{"role": "user", "content": "Say hi"}]
LONG = _prompts.messages(_prompts.REPORT)


# --- the server (runs in a child process) ------------------------------------------------

_COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "bench-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
}


def _sse_response() -> bytes:
    """The streamed answer (`hello` in two chunks, then the usage chunk and `[DONE]`), as a
    whole HTTP response: what a side whose prefix starts with `sse` gets."""
    base: dict[str, Any] = {"id": "chatcmpl-bench", "object": "chat.completion.chunk"}
    base |= {"created": 0, "model": _COMPLETION["model"]}
    events: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "hel"},
                      "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2,
                                  "total_tokens": 9}},
    ]  # fmt: skip
    text = "".join(f"data: {json.dumps(base | e)}\n\n" for e in events) + "data: [DONE]\n\n"
    sse = text.encode()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        f"Content-Length: {len(sse)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + sse


@dataclass
class _Side:
    """Server-side counts for one path prefix (one side of the benchmark)."""

    requests: int = 0
    opened: int = 0  # TCP connections whose first request came under this prefix
    in_flight: int = 0
    peak_in_flight: int = 0


def _response(status: int, body: bytes) -> bytes:
    reason = "OK" if status == 200 else "Not Found"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bool]:
    """One HTTP/1.1 request: (method, path, whether the client asked to close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = value.strip().lower() == "close"
    if length:
        await reader.readexactly(length)  # the body: this server does not need it
    return method, path, close


async def _serve_forever(backlog: int = 2048) -> None:
    """OpenAI-compatible enough for litellm: `POST /<side>/<ms>/v1/chat/completions`
    answers `hello` after `ms` milliseconds, as JSON, or as Server-Sent Events when the
    side starts with `sse` (the body is not read, so the prefix says it; bench_serve.py's
    streams). `GET /stats` reports the counts per side (`POST /stats` resets them).
    HTTP/1.1 keep-alive, `Connection: close` honoured."""
    sides: defaultdict[str, _Side] = defaultdict(_Side)
    answer = _response(200, json.dumps(_COMPLETION).encode())
    streamed = _sse_response()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        owner: str | None = None
        try:
            while True:
                method, path, close = await _read_request(reader)
                parts = path.split("/")  # ['', side, ms, 'v1', 'chat', 'completions']
                if method == "POST" and len(parts) == 6 and path.endswith("/chat/completions"):
                    side = sides[parts[1]]
                    if owner is None:
                        owner = parts[1]
                        side.opened += 1
                    side.requests += 1
                    side.in_flight += 1
                    side.peak_in_flight = max(side.peak_in_flight, side.in_flight)
                    try:
                        if parts[2] != "0":
                            await asyncio.sleep(int(parts[2]) / 1000)
                    finally:
                        side.in_flight -= 1
                    writer.write(streamed if parts[1].startswith("sse") else answer)
                elif path == "/stats":
                    if method == "POST":
                        for s in sides.values():
                            s.requests = s.opened = 0
                            s.peak_in_flight = s.in_flight
                    body = {name: vars(s) for name, s in sides.items()}
                    writer.write(_response(200, json.dumps(body).encode()))
                else:
                    writer.write(_response(404, b'{"error": {"message": "not found"}}'))
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # the client hung up
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=backlog)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


@contextlib.contextmanager
def _server() -> Iterator[int]:
    """Start the server in a child process; yield its port; stop it (by its pid)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, stderr=err, text=True
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.isdigit():
                proc.wait(timeout=5)
                err.seek(0)
                raise RuntimeError(f"benchmark server did not start: {err.read().decode()}")
            yield int(line)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _stats(port: int, *, reset: bool = False) -> dict[str, dict[str, int]]:
    """The server's counts per side (plain http.client: no proxy settings apply)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST" if reset else "GET", "/stats")
        out: dict[str, dict[str, int]] = json.loads(conn.getresponse().read())
        return out
    finally:
        conn.close()


def _count(stats: dict[str, dict[str, int]], side: str, field: str) -> int:
    return stats.get(side, {}).get(field, 0)


# --- the two sides -------------------------------------------------------------------------


def _base(port: int, side: str, delay_ms: int = 0) -> str:
    return f"http://127.0.0.1:{port}/{side}/{delay_ms}/v1"


def _router(
    api_base: str,
    *,
    cache: router.ResponseCache | None = None,
    backend: _InProcessBackend | None = None,
) -> router.Router:
    deployment = {
        "name": "local-bench",
        "model": MODEL,
        "api_base": api_base,
        "context_window": 32768,
        "quality": 0.8,
    }
    return router.Router(deployments=[deployment], cache=cache, backend=backend)


def _bare_kwargs(api_base: str, messages: Sequence[dict[str, str]]) -> dict[str, Any]:
    """What LiteLLMBackend passes to litellm for this deployment and request."""
    return {
        "model": MODEL,
        "api_base": api_base,
        "api_key": API_KEY,
        "timeout": TIMEOUT_S,
        "num_retries": 0,
        "max_retries": 0,
        "caching": False,
        "messages": list(messages),
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
    }


def _ms(ns: float) -> float:
    return ns / 1_000_000


# --- 1 + 2: latency and cache hits ---------------------------------------------------------


class _InProcessBackend:
    """A Backend that answers at once without HTTP or litellm: `Router.complete` through it
    is the Router's own work (validation, plan, executor, accounting, result)."""

    answer = json.dumps(_COMPLETION)

    def complete(
        self, deployment: router.Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.answer)  # a fresh dict, like model_dump()
        return out

    async def acomplete(
        self, deployment: router.Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        return self.complete(deployment, params, timeout)

    def stream(
        self, deployment: router.Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def astream(
        self, deployment: router.Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError


def _bench_latency(litellm: Any, port: int, cache_dir: str) -> dict[str, float]:
    plain = _router(_base(port, "router"))
    in_process = _router(_base(port, "unused"), backend=_InProcessBackend())
    cached = _router(_base(port, "cached"), cache=router.ResponseCache(cache_dir))
    print(
        f"one local deployment ({MODEL}) on the loopback server, which answers at once; "
        f"policy {plain.policy.name!r};\n      temperature=0, max_tokens={MAX_TOKENS}; warm-up "
        f"{WARMUP} rounds, then {ROUNDS} timed rounds per prompt, each\n      calling every "
        "side once in a rotating order (ms, time.perf_counter_ns)"
    )
    print()
    print(f"  {'prompt':<11} {'side':<50} {'p50':>7} {'p99':>7} {'conns/call':>10}")
    out: dict[str, float] = {}
    ticks = itertools.count(1)
    for label, messages in (("one line", SHORT), ("~1k tokens", LONG)):
        first = cached.complete(messages, temperature=0, max_tokens=MAX_TOKENS)
        hit = cached.complete(messages, temperature=0, max_tokens=MAX_TOKENS)
        if first.decision.cache_hit or not hit.decision.cache_hit:
            raise RuntimeError("the second deterministic call was not a cache hit")
        bare_kwargs = _bare_kwargs(_base(port, "bare"), messages)
        moving_kwargs = _bare_kwargs(_base(port, "moving"), messages)

        def ours(r: router.Router = plain, messages: Sequence[dict[str, str]] = messages) -> object:
            return r.complete(messages, temperature=0, max_tokens=MAX_TOKENS)

        def bare(kwargs: dict[str, Any] = bare_kwargs) -> object:
            return litellm.completion(**kwargs)

        def moving(kwargs: dict[str, Any] = moving_kwargs) -> object:
            # Like the Router's executor, which passes the seconds left before its deadline.
            return litellm.completion(**kwargs | {"timeout": TIMEOUT_S - next(ticks) * 1e-6})

        own = functools.partial(ours, in_process)
        from_cache = functools.partial(ours, cached)
        _stats(port, reset=True)
        sides: list[Callable[[], object]] = [ours, bare, moving, own, from_cache]
        samples = _interleaved(sides, WARMUP, ROUNDS)
        stats = _stats(port)
        calls = WARMUP + ROUNDS
        back_to_back = _interleaved([from_cache], 0, HITS_BACK_TO_BACK)[0]
        rows = [
            ("Router.complete", samples[0], "router"),
            ("litellm.completion (same arguments)", samples[1], "bare"),
            ("litellm.completion, a new timeout value each call", samples[2], "moving"),
            ("Router.complete, in-process backend (no HTTP)", samples[3], None),
            ("Router.complete, ResponseCache hit", samples[4], "cached"),
            (f"  the same hit, {HITS_BACK_TO_BACK} calls back to back", back_to_back, None),
        ]
        for i, (side, ns, name) in enumerate(rows):
            p50, p99 = _percentile(ns, 0.5) / 1000, _percentile(ns, 0.99) / 1000
            conns = "" if name is None else f"{_count(stats, name, 'opened') / calls:.2f}"
            print(f"  {label if i == 0 else '':<11} {side:<50} {p50:>7.3f} {p99:>7.3f} {conns:>10}")
        o50, b50, m50, w50, h50 = (statistics.median(s) for s in samples)
        paired = statistics.median(a - b for a, b in zip(samples[0], samples[1], strict=True))
        print(
            f"  {'':<11} Router overhead p50 = {_ms(o50 - b50):.3f} ms ({o50 / b50:.2f}x bare; "
            f"median of per-round\n  {'':<11}   differences {_ms(paired):.3f} ms). For "
            f"comparison: litellm building a new client\n  {'':<11}   per call adds "
            f"{_ms(m50 - b50):.3f} ms; the Router's own work is {_ms(w50):.3f} ms"
        )
        print(
            f"  {'':<11} cache hit p50 / uncached Router p50 = {h50 / o50:.2f}; requests that "
            f"reached the\n  {'':<11}   server from the hits: "
            f"{_count(stats, 'cached', 'requests')}"
        )
        out[f"{label} overhead"] = _ms(o50 - b50)
        out[f"{label} hit"] = _ms(h50)
        out[f"{label} hit back to back"] = _percentile(back_to_back, 0.5) / 1000
        out[f"{label} conns/call"] = _count(stats, "router", "opened") / calls
    print("  (conns/call: new TCP connections the server accepted per call of that side, warm-up")
    print("   included; bare litellm keeps one connection open and reuses it)")
    if cached.cache is not None:
        cached.cache.close()
    return out


# --- 3: concurrency --------------------------------------------------------------------------
#
# Each side runs in its own worker process (this file with `--worker SIDE PORT`), one batch
# at a time on the parent's word, the sides alternating. In one process the Router's calls
# would change the baseline: litellm keeps at most 200 clients, evicting the oldest first,
# and a Router that makes litellm build a client per call evicts bare litellm's client (and
# its open connections) in every batch.


async def _raw_batch(port: int, path: str, n: int) -> tuple[float, int]:
    """n concurrent requests from a minimal stdlib client, one new connection each:
    (seconds, failures). What the server sustains when the client costs next to nothing."""
    body = json.dumps({"model": "bench-model", "messages": SHORT}).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body

    async def one() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            await writer.drain()
            data = await reader.read()
            return data.startswith(b"HTTP/1.1 200") and b'"hello"' in data
        finally:
            writer.close()

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    return time.perf_counter() - t0, sum(r is not True for r in results)


async def _worker_async(side: str, port: int, refused: list[str]) -> None:
    """Answer each `batch` line on stdin with one line of JSON: seconds, CPU seconds,
    errors (exceptions or wrong answers), network attempts refused so far."""
    litellm = _litellm()
    base = _base(port, side, round(LATENCY_S * 1000))
    r = _router(base)
    kwargs = _bare_kwargs(base, LONG)

    async def ours() -> str:
        result = await r.acomplete(LONG, temperature=0, max_tokens=MAX_TOKENS)
        return str(result.content)

    async def bare() -> str:
        response = await litellm.acompletion(**kwargs)
        return str(response.choices[0].message.content)

    call = ours if side == "router" else bare
    loop = asyncio.get_running_loop()
    print(_WORKER_READY, flush=True)
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "batch":
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(
            *(call() for _ in range(CONCURRENCY)), return_exceptions=True
        )
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        kinds = Counter(
            f"{type(r).__name__}: {str(r)[:100]}" if isinstance(r, BaseException) else repr(r)
            for r in results
            if r != "hello"
        )
        report = {
            "seconds": seconds,
            "cpu": cpu,
            "errors": sum(kinds.values()),
            "kinds": dict(kinds.most_common(3)),
            "refused": len(refused),
        }
        print(_WORKER_RESULT + json.dumps(report), flush=True)


def _worker(side: str, port: int) -> None:
    with _loopback_only() as refused:
        asyncio.run(_worker_async(side, port, refused))


_WORKER_READY = "worker ready"
_WORKER_RESULT = "batch: "


class WorkerProcess:
    """One side's worker process: `script --worker SIDE ARGS...`, talked to over its stdin
    and stdout (lines that start with a prefix), stopped by closing its stdin.
    bench_async.py's workers are these too."""

    READY = _WORKER_READY

    def __init__(self, script: str, side: str, args: list[str]) -> None:
        self.side = side
        self.err = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, script, "--worker", side, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
        )

    def _line(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix) :]
        self.proc.wait(timeout=5)
        self.err.seek(0)
        raise RuntimeError(f"{self.side} worker died: {self.err.read().decode()[-3000:]}")

    def ready(self) -> None:
        self._line(self.READY)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # the worker's loop ends at end of input
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


class _Worker(WorkerProcess):
    """This benchmark's side: one batch per `start`, its report from `finish`."""

    def __init__(self, side: str, port: int) -> None:
        super().__init__(__file__, side, [str(port)])
        self.port = port

    def start(self) -> None:
        """Reset the server's counts and start one batch."""
        assert self.proc.stdin is not None
        _stats(self.port, reset=True)
        self.proc.stdin.write("batch\n")
        self.proc.stdin.flush()

    def finish(self) -> dict[str, Any]:
        """The batch's report, with the server's counts for this side."""
        out: dict[str, Any] = json.loads(self._line(_WORKER_RESULT))
        stats = _stats(self.port)
        out["peak_in_flight"] = _count(stats, self.side, "peak_in_flight")
        out["opened"] = _count(stats, self.side, "opened")
        return out


def _bench_concurrency(port: int) -> dict[str, float]:
    from litellm import constants  # noqa: PLC0415  (imported by now)

    limit, per_host = constants.AIOHTTP_CONNECTOR_LIMIT, constants.AIOHTTP_CONNECTOR_LIMIT_PER_HOST
    delay_ms = round(LATENCY_S * 1000)
    print(
        f"{CONCURRENCY} concurrent requests, {delay_ms} ms server latency each, ~1k-token "
        "prompt; each side in its own\n      worker process; one warm-up batch per side (both at "
        f"once), then {BATCHES} timed batches\n      per side, alternating which side goes first"
    )
    print(
        f"  litellm's async HTTP client: aiohttp transport, TCPConnector(limit={limit}, "
        f"limit_per_host={per_host})"
    )
    if 0 < per_host < CONCURRENCY or 0 < limit < CONCURRENCY:
        print(f"      NOTE: litellm caps concurrent connections below {CONCURRENCY} (both sides)")
    else:
        print(
            f"      {CONCURRENCY} concurrent connections to one host fit (the same for both sides)"
        )
    path = f"/raw/{delay_ms}/v1/chat/completions"
    raw_s, raw_failed = asyncio.run(_raw_batch(port, path, CONCURRENCY))
    print(
        f"  server check: {CONCURRENCY} concurrent requests from a bare asyncio client, one new "
        f"connection each:\n      {raw_s * 1000:.0f} ms for all, {raw_failed} failed = "
        f"{CONCURRENCY / raw_s:,.0f} requests/s (ceiling {CONCURRENCY / LATENCY_S:,.0f}/s)"
    )
    workers = {side: _Worker(side, port) for side in ("router", "bare")}
    batches: dict[str, list[dict[str, Any]]] = {side: [] for side in workers}
    try:
        for w in workers.values():
            w.ready()
        for w in workers.values():
            w.start()  # warm-up, both sides at once (untimed): connections, client cache
        for w in workers.values():
            w.finish()
        for i in range(BATCHES):
            for side in ("router", "bare") if i % 2 == 0 else ("bare", "router"):
                workers[side].start()
                batches[side].append(workers[side].finish())
    finally:
        for w in workers.values():
            w.stop()
    print()
    print(
        f"  {'side':<37} {'req/s p50':>9} {'min':>6} {'max':>6} {'CPU ms/req':>10} "
        f"{'cores':>5} {'errors':>6} {'in flight':>9} {'conns':>5}"
    )
    out: dict[str, float] = {"refused": 0}
    failures: defaultdict[str, Counter[str]] = defaultdict(Counter)
    labels = {"router": "Router.acomplete", "bare": "litellm.acompletion (same arguments)"}
    for side, runs in batches.items():
        rates = [(CONCURRENCY - b["errors"]) / b["seconds"] for b in runs]  # answers/s
        cpu_ms = statistics.median(b["cpu"] / CONCURRENCY * 1000 for b in runs)
        cores = statistics.median(b["cpu"] / b["seconds"] for b in runs)
        errors = sum(b["errors"] for b in runs)
        print(
            f"  {labels[side]:<37} {statistics.median(rates):>9,.0f} {min(rates):>6,.0f} "
            f"{max(rates):>6,.0f} {cpu_ms:>10.2f} {cores:>5.2f} {errors:>6} "
            f"{min(b['peak_in_flight'] for b in runs):>9} {max(b['opened'] for b in runs):>5}"
        )
        out[f"{side} rate"] = statistics.median(rates)
        out[f"{side} cpu"] = cpu_ms
        out[f"{side} errors"] = errors
        out["refused"] += max(b["refused"] for b in runs)
        for b in runs:
            failures[labels[side]].update(b["kinds"])
    print(f"  ({BATCHES} timed batches per side: median, min and max requests/s; CPU: the worker's")
    print("   CPU time per request, and its CPU seconds per wall second; in flight: the fewest")
    print("   requests the server held at once in a batch; conns: the most new TCP connections")
    print("   the server accepted from that side in one batch; req/s counts answers only)")
    print(
        f"  CPU per request, bare / Router = {out['bare cpu'] / out['router cpu']:.1%} (the "
        "throughput ratio a CPU-bound\n  client would see; steadier than req/s on a busy machine)"
    )
    for label, kinds in failures.items():
        for kind, n in kinds.most_common(3):
            print(f"  {label} failed x{n}: {kind}")
    return out


def main() -> None:
    with _loopback_only() as refused, _server() as port:
        t0 = time.perf_counter()
        litellm = _litellm()
        print(
            f"litellm {importlib.metadata.version('litellm')} (imported in "
            f"{time.perf_counter() - t0:.1f} s); server: asyncio HTTP/1.1 in a child process, "
            "127.0.0.1"
        )
        print()
        with tempfile.TemporaryDirectory(prefix="bench-serving-") as cache_dir:
            latency = _bench_latency(litellm, port, cache_dir)
        print()
        concurrency = _bench_concurrency(port)
    overhead, hit = latency["~1k tokens overhead"], latency["~1k tokens hit"]
    warm_hit = latency["~1k tokens hit back to back"]
    ratio = concurrency["router rate"] / concurrency["bare rate"]
    errors = int(concurrency["router errors"] + concurrency["bare errors"])
    print()
    print("targets (a report, not an assertion; ~1k-token prompt):")
    rows = [
        (f"Router overhead p50 <= {TARGET_OVERHEAD_MS} ms", f"{overhead:.3f} ms",
         overhead <= TARGET_OVERHEAD_MS),
        (f"cache hit p50 <= {TARGET_CACHE_HIT_MS} ms (rounds)", f"{hit:.3f} ms",
         hit <= TARGET_CACHE_HIT_MS),
        (f"cache hit p50 <= {TARGET_CACHE_HIT_MS} ms (back to back)", f"{warm_hit:.3f} ms",
         warm_hit <= TARGET_CACHE_HIT_MS),
        (f"throughput Router / litellm >= {TARGET_THROUGHPUT_RATIO:.0%}", f"{ratio:.1%}",
         ratio >= TARGET_THROUGHPUT_RATIO),
        ("errors under concurrency = 0", str(errors), errors == 0),
    ]  # fmt: skip
    for target, measured, ok in rows:
        print(f"  {target:<42} measured {measured:>10}   {_verdict(ok)}")
    if latency["~1k tokens conns/call"] > 0.5:
        print(
            "  (Router.complete opened a new TCP connection per call: litellm keys its client\n"
            "   cache on `timeout`, and the Router passes the seconds left before its deadline,\n"
            "   a new value each call; see the 'new timeout value each call' row)"
        )
    if hit > TARGET_CACHE_HIT_MS >= warm_hit:
        print(
            "  (a hit right after real calls runs on cold CPU caches: the same hit back to back\n"
            "   is the warm figure)"
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1/5/15 min): {load} on {os.cpu_count()} CPUs")
    extra = f" {refused[:5]}" if refused else ""
    workers = int(concurrency["refused"])
    print(f"network attempts outside 127.0.0.1: {len(refused)}{extra}; in the workers: {workers}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        asyncio.run(_serve_forever())
    elif sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2], int(sys.argv[3]))
    else:
        main()
