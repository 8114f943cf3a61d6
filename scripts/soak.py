"""Soak: many async requests through one Router against loopback fault servers, then the
books are checked against what the callers saw.

    .venv/bin/python scripts/soak.py [--requests 20000] [--state local|redis]
                                     [--concurrency 50] [--seed 7]

The fault servers run in a child process (this script with `--serve`), so the memory
measured is the router's. Each request picks, from a seeded generator: `acomplete` or
`astream`; a tenant (4); a declared sensitivity, a card number in the prompt, a `tools`
request (only the paid deployments have tools, so it fails when the budget is spent),
a `batch` tag (a second, smaller budget). Each server call draws a fault: 429, 5xx,
reset, malformed JSON, hangs past the deadline, slow answers, slow streams, streams
dropped before and after the first chunk. Callers also misbehave: some close a stream
after its first chunk (`aclose`), some leave the loop and drop it, some cancel an
`acomplete` (`asyncio.wait_for` with a short timeout: a client that disconnected).

The checks (exit 0 only when all pass):

- every request ended in an answer or a typed `RouterError` (counted by type), or in
  the caller's own cancellation; nothing else;
- ledger records == requests;
- ledger spend == the sum of the costs the callers saw;
- each budget counter (ledger `spend` table or Redis `spent` key) == the sum of the
  costs of the records that count against it, and <= its limit (the documented bound
  is 0 over: every fault answers within `max_tokens` and the prompt's byte bound);
  no hold left;
- no confidential-or-above request called (let alone was served by) a non-local
  deployment (from the ledger's records);
- memory: VmRSS / VmHWM at a quarter of the run (5,000 of 20,000) and at the end; the
  current RSS must not grow by more than `--max-rss-growth` (default x1.25) after that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEY_ENV = "ROUTER_SOAK_API_KEY"
TENANTS = ("acme", "globex", "initech", "umbrella")
API = ("api-a", "api-b")
LOCAL = ("local-a", "local-b")
SERVERS = (*API, *LOCAL)
TIMEOUT = 4.0  # each request's deadline; a `hang` fault outlasts it
MAX_TOKENS = 50
PAID_CALL_MICRO = 600  # ok(): 20 prompt + 40 completion tokens at $10/M (api-a)
CONFIDENTIAL = ("confidential", "restricted")

# ---------------------------------------------------------------------------------------
# The fault servers (child process)


def _fault_table() -> list[tuple[float, Any]]:
    """(weight, fault) for every server call; weights sum to ~1."""
    from router.testing import (  # noqa: PLC0415
        context_length_exceeded,
        hang,
        malformed_json,
        ok,
        rate_limited,
        reset,
        server_error,
        stream,
    )

    words = ("The ", "numbers ", "look ", "fine ", "today.")
    return [
        (0.50, ok("The numbers look fine.", prompt_tokens=20, completion_tokens=40)),
        (0.08, stream(words)),
        (0.05, stream(words, delay=0.04)),  # a slow stream: 0.2 s
        (0.03, stream(words, disconnect_after=0)),  # dropped before the first chunk
        (0.05, stream(words, disconnect_after=2)),  # dropped after the first chunk
        (0.05, rate_limited(0.02)),
        (0.05, server_error(503)),
        (0.02, server_error(500)),
        (0.03, reset()),
        (0.02, malformed_json()),
        (0.03, hang(0.3)),  # a slow answer
        (0.004, hang(TIMEOUT + 2)),  # past the request's deadline
        (0.01, context_length_exceeded()),
    ]


def serve(seed: int) -> int:
    """Run one random-fault server per deployment; print their URLs; stop at stdin EOF."""
    from router.testing import Fault, FaultServer  # noqa: PLC0415

    table = _fault_table()
    weights = [w for w, _ in table]
    faults = [f for _, f in table]

    class RandomFaultServer(FaultServer):
        """Draws each answer at random; keeps no request bodies (a soak runs long)."""

        def __init__(self, rng: random.Random) -> None:
            super().__init__()
            self.rng = rng
            self.calls = 0

        def _accept(self, body: dict[str, Any], headers: dict[str, str]) -> Fault:
            with self._lock:
                self.calls += 1
                fault: Fault = self.rng.choices(faults, weights)[0]
                return fault

    servers = {n: RandomFaultServer(random.Random(f"{seed}:{n}")) for n in SERVERS}
    for s in servers.values():
        s.start()
    print(json.dumps({n: s.base_url for n, s in servers.items()}), flush=True)
    sys.stdin.read()
    print(json.dumps({n: s.calls for n, s in servers.items()}), flush=True)
    for s in servers.values():
        s.stop()
    return 0


@contextlib.contextmanager
def fault_servers(seed: int) -> Iterator[dict[str, str]]:
    """The child process serving the faults: its servers' base URLs by deployment name."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--seed", str(seed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the fault server process did not start")
        urls: dict[str, str] = json.loads(line)
        yield urls
        proc.stdin.close()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


# ---------------------------------------------------------------------------------------
# The router and the traffic


def budgets(requests: int) -> list[dict[str, Any]]:
    """Hard per-tenant budgets sized to run out around the middle of the run, and a
    smaller one on the `batch` tag."""
    per_tenant = max(requests * PAID_CALL_MICRO * 0.45 / len(TENANTS) / 2, 20_000) / 1e6
    return [
        {"tenant": "*", "period": "day", "usd": round(per_tenant, 6), "mode": "hard"},
        {"tenant": "*", "tag": "batch", "period": "day", "usd": round(per_tenant / 8, 6)},
    ]


def build_router(urls: dict[str, str], ledger: Path, state: str, requests: int) -> Any:
    import router  # noqa: PLC0415
    from router.serving._executor import RetryPolicy  # noqa: PLC0415
    from router.state.cooldowns import CooldownPolicy  # noqa: PLC0415

    api = {"hosting": "api", "weights": "closed", "api_key_env": KEY_ENV,
           "context_window": 8192, "capabilities": ["tools"]}  # fmt: skip
    return router.Router(
        deployments=[
            {"name": "api-a", "model": "openai/a", "api_base": urls["api-a"], **api,
             "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95},
            {"name": "api-b", "model": "openai/b", "api_base": urls["api-b"], **api,
             "input_cost_per_mtok": 5, "output_cost_per_mtok": 5, "quality": 0.9},
            {"name": "local-a", "model": "openai/la", "api_base": urls["local-a"],
             "context_window": 8192, "quality": 0.6},
            {"name": "local-b", "model": "openai/lb", "api_base": urls["local-b"],
             "context_window": 8192, "quality": 0.55},
        ],
        objective="best",
        retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.05, max_retry_after=0.1),
        # Random faults must not bench a deployment for long: the breaker is exercised,
        # and the soak keeps calling.
        cooldown=CooldownPolicy(threshold=4, seconds=0.2),
        ledger=str(ledger),
        budgets=budgets(requests),
        state=state,
        state_settings={"timeout_ms": 2000},
    )  # fmt: skip


TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


@dataclass
class Spec:
    """What request `i` does, drawn from its own seeded generator."""

    i: int
    tenant: str
    kind: str  # complete | cancel | stream | stream-close | stream-leave
    messages: list[dict[str, Any]]
    args: dict[str, Any]
    cancel_after: float = 0.0


def spec(i: int, seed: int) -> Spec:
    rng = random.Random(f"{seed}/{i}")
    tenant = rng.choice(TENANTS)
    text = f"Request {i}: summarise the quarterly numbers for team {tenant} in two lines."
    args: dict[str, Any] = {"tenant": tenant, "max_tokens": MAX_TOKENS}
    roll = rng.random()
    if roll < 0.10:
        args["sensitivity"] = "confidential"
    elif roll < 0.13:
        args["sensitivity"] = "restricted"
    elif roll < 0.18:
        text += " Refund card 4111 1111 1111 1111 please."  # detected: confidential
    elif roll < 0.28:
        args["tools"] = TOOLS  # only the paid deployments can serve it
    if rng.random() < 0.2:
        args["tags"] = ["batch"]
    k = rng.random()
    kind = (
        "complete"
        if k < 0.42
        else "cancel"
        if k < 0.45
        else "stream"
        if k < 0.80
        else "stream-close"
        if k < 0.90
        else "stream-leave"
    )
    if kind == "cancel":  # names its record: its caller may never see what it cost
        args["tags"] = [*args.get("tags", ()), f"cancel-{i}"]
    messages = [{"role": "user", "content": text}]
    return Spec(i, tenant, kind, messages, args, cancel_after=rng.uniform(0.005, 0.3))


@dataclass
class Tally:
    """What the callers saw."""

    outcomes: Counter[str] = field(default_factory=Counter)
    seen_micro: int = 0
    unexpected: list[str] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    done: int = 0
    cancelled: set[str] = field(default_factory=set)
    """The tags of requests whose callers cancelled them (`wait_for` timed out)."""


async def one(r: Any, s: Spec, tally: Tally) -> None:
    """Send one request as its caller would; add what the caller saw to `tally`."""
    from router.errors import RouterError, StreamInterrupted  # noqa: PLC0415

    stream = None
    try:
        if s.kind == "complete":
            result = await r.acomplete(s.messages, timeout=TIMEOUT, **s.args)
            _saw(tally, "answer", result.decision)
        elif s.kind == "cancel":  # the client disconnects: its handler task is cancelled
            try:
                result = await asyncio.wait_for(
                    r.acomplete(s.messages, timeout=TIMEOUT, **s.args), s.cancel_after
                )
            except TimeoutError:
                tally.outcomes["cancelled by the caller"] += 1
                tally.cancelled.add(f"cancel-{s.i}")
            else:
                _saw(tally, "answer", result.decision)
        else:
            stream = await r.astream(s.messages, timeout=TIMEOUT, **s.args)
            async for _chunk in stream:
                if s.kind != "stream":
                    break
            if s.kind == "stream-close":
                await stream.aclose()
            elif s.kind == "stream-leave":  # the loop was left: settles as it is dropped
                for _ in range(400):
                    if stream.settled:
                        break
                    await asyncio.sleep(0.005)
                if not stream.settled:
                    tally.unexpected.append(f"request {s.i}: a left stream never settled")
            _saw(tally, "answer" if s.kind == "stream" else "answer (closed early)", stream)
    except StreamInterrupted:
        assert stream is not None
        _saw(tally, "StreamInterrupted", stream)
    except RouterError as exc:
        tally.outcomes[type(exc).__name__] += 1
    except Exception as exc:  # anything else is a failure of the soak
        tally.outcomes[f"UNEXPECTED {type(exc).__name__}"] += 1
        tally.unexpected.append(f"request {s.i} ({s.kind}): {type(exc).__name__}: {exc}")


def _saw(tally: Tally, label: str, holder: Any) -> None:
    decision = holder if not hasattr(holder, "settled") else holder.decision
    tally.outcomes[label] += 1
    if decision.cost is not None:
        tally.seen_micro += decision.cost.micro_usd


def memory() -> dict[str, Any]:
    """This process's current and peak resident memory, in MiB."""
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kib = {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM") if k in fields}
    return {
        "rss_mib": kib.get("VmRSS", 0) / 1024,
        "hwm_mib": kib.get("VmHWM", 0) / 1024,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def drive(
    r: Any, requests: int, concurrency: int, seed: int, *, progress: bool, start: float
) -> Tally:
    tally = Tally()
    checkpoint = max(requests // 4, 1)
    every = max(requests // 10, 1)
    next_i = iter(range(requests))

    async def worker() -> None:
        for i in next_i:
            await one(r, spec(i, seed), tally)
            tally.done += 1
            done = tally.done
            if done in (checkpoint, requests):
                tally.memory.append({"requests": done, **memory()})
            if progress and done % every == 0:
                took = time.monotonic() - start
                mem = memory()
                print(
                    f"  {done:>6}/{requests} requests  {took:6.1f} s  {done / took:6.1f}/s  "
                    f"RSS {mem['rss_mib']:.0f} MiB  peak {mem['hwm_mib']:.0f} MiB",
                    flush=True,
                )

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await asyncio.sleep(0.05)  # let the finalizers of dropped streams run
    return tally


# ---------------------------------------------------------------------------------------
# The checks


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def counters_of(tenant: str, tags: list[str], ts: float, requests: int) -> list[tuple[str, str]]:
    """The (counter, window) pairs a record counts against."""
    from router.decision._budgets import applicable, parse_budgets  # noqa: PLC0415

    parsed = parse_budgets(budgets(requests), "soak")
    return [(b.key(tenant), b.window(ts)) for b in applicable(parsed, tenant, tags)]


def limits(requests: int) -> dict[str, int]:
    from router.decision._budgets import parse_budgets  # noqa: PLC0415

    parsed = parse_budgets(budgets(requests), "soak")
    return {b.key(t): b.limit_micro for b in parsed for t in TENANTS}


def ledger_counters(ledger: Path) -> tuple[dict[tuple[str, str], int], int]:
    """The ledger's `spend` table, and how many reservations it still holds."""
    conn = sqlite3.connect(ledger)
    try:
        spent = {
            (b, w): s for b, w, s in conn.execute("SELECT budget, window, spent_micro FROM spend")
        }
        (left,) = conn.execute("SELECT COUNT(*) FROM reservations").fetchone()
    finally:
        conn.close()
    return spent, int(left)


def redis_counters(url: str, prefix: str = "router") -> tuple[dict[tuple[str, str], int], int]:
    """Every budget counter's `spent` in Redis, and how many holds are left."""
    import redis  # noqa: PLC0415

    client: Any = redis.Redis.from_url(url, decode_responses=True)
    try:
        spent: dict[tuple[str, str], int] = {}
        for key in client.scan_iter(match=f"{prefix}:*:b:*:spent"):
            body = key.split(":b:", 1)[1].rsplit(":", 1)[0]  # COUNTER:WINDOW
            counter, window = body.rsplit(":", 1)
            spent[(counter, window)] = int(client.get(key))
        holds = sum(int(client.hlen(k)) for k in client.scan_iter(match=f"{prefix}:*:b:*:holds"))
    finally:
        client.close()
    return spent, holds


def check(
    tally: Tally,
    requests: int,
    ledger: Path,
    redis_url: str | None,
    max_rss_growth: float,
) -> list[Check]:
    out: list[Check] = []
    typed = sum(n for k, n in tally.outcomes.items() if not k.startswith("UNEXPECTED"))
    out.append(
        Check(
            "every request ended in an answer or a typed RouterError (or its caller's cancel)",
            not tally.unexpected and typed == requests,
            f"{typed} of {requests}; " + "; ".join(tally.unexpected[:5]),
        )
    )
    conn = sqlite3.connect(ledger)
    try:
        rows = conn.execute(
            "SELECT tenant, tags, ts, cost_micro, sensitivity, hosting, decision FROM records"
        ).fetchall()
        (budget_hit,) = conn.execute(
            "SELECT COUNT(*) FROM records WHERE budget_changed = 1"
        ).fetchone()
    finally:
        conn.close()
    out.append(Check("ledger records == requests", len(rows) == requests, f"{len(rows)}"))
    recorded = sum(r[3] for r in rows)
    # A caller that cancels after its answer was paid for (the record was being written)
    # never sees the cost; its record holds it, under the request's own tag.
    late = sum(r[3] for r in rows if tally.cancelled & set(json.loads(r[1])))
    out.append(
        Check(
            "ledger spend == sum of the costs the callers saw",
            recorded == tally.seen_micro + late,
            f"ledger {recorded} µ$, callers {tally.seen_micro} µ$ + cancelled late {late} µ$",
        )
    )
    expected: Counter[tuple[str, str]] = Counter()
    for tenant, tags, ts, cost, *_ in rows:
        if cost > 0:
            for pair in counters_of(tenant, json.loads(tags), ts, requests):
                expected[pair] += cost
    if redis_url is None:
        spent, left = ledger_counters(ledger)
    else:
        spent, left = redis_counters(redis_url)
    spent = {k: v for k, v in spent.items() if v}
    lims = limits(requests)
    over = {k: v for k, v in spent.items() if v > lims.get(k[0], -1)}
    out.append(
        Check(
            "each budget counter == the sum of its records' costs",
            spent == dict(expected),
            f"{len(spent)} counters, {sum(spent.values())} µ$"
            + ("" if spent == dict(expected) else f"; counters {spent} != records {expected}"),
        )
    )
    full = sum(v >= lims[k[0]] - 2 * PAID_CALL_MICRO for k, v in spent.items())
    out.append(
        Check(
            "each budget counter <= its limit (bound: 0 over)",
            not over,
            f"{full} of {len(spent)} counters within two calls of their limit"
            + (f"; over: {over}" if over else ""),
        )
    )
    out.append(Check("no budget hold left", left == 0, f"{left} left"))
    out.append(
        Check(
            "the budgets were tight: some plans lost a paid deployment to them",
            budget_hit > 0,
            f"{budget_hit} requests",
        )
    )
    leaks = []
    for _, _, _, _, sensitivity, hosting, decision in rows:
        if sensitivity not in CONFIDENTIAL:
            continue
        called = {a["deployment"] for a in json.loads(decision)["attempts"]}
        if hosting not in (None, "local", "self-hosted") or called & set(API):
            leaks.append((sensitivity, hosting, sorted(called)))
    n_conf = sum(r[4] in CONFIDENTIAL for r in rows)
    out.append(
        Check(
            "no confidential-or-above request reached a non-local deployment",
            not leaks and n_conf > 0,
            f"{n_conf} such requests, {len(leaks)} reached an API {leaks[:3]}",
        )
    )
    if len(tally.memory) >= 2:
        first, last = tally.memory[0], tally.memory[-1]
        ratio = last["rss_mib"] / first["rss_mib"]
        out.append(
            Check(
                f"memory does not grow without bound (RSS x{max_rss_growth:g} at most)",
                ratio <= max_rss_growth,
                f"at {first['requests']}: RSS {first['rss_mib']:.1f} MiB, peak "
                f"{first['hwm_mib']:.1f} MiB; at {last['requests']}: RSS "
                f"{last['rss_mib']:.1f} MiB, peak {last['hwm_mib']:.1f} MiB; RSS ratio "
                f"{ratio:.3f}, peak ratio {last['hwm_mib'] / first['hwm_mib']:.3f}",
            )
        )
    return out


# ---------------------------------------------------------------------------------------


@dataclass
class Report:
    tally: Tally
    checks: list[Check]
    seconds: float
    server_calls: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def soak(
    requests: int,
    *,
    state: str = "local",
    concurrency: int = 50,
    seed: int = 7,
    workdir: Path | None = None,
    progress: bool = False,
    max_rss_growth: float = 1.25,
) -> Report:
    """Run the soak and its checks (the command's work, callable from tests)."""
    os.environ.setdefault(KEY_ENV, "sk-soak-not-a-real-key")
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        ledger = workdir / "ledger.sqlite"
        redis_url = None
        if state == "redis":
            from router.testing.redis_server import RedisServer  # noqa: PLC0415

            redis_url = stack.enter_context(RedisServer(appendonly=False)).url
        urls = stack.enter_context(fault_servers(seed))
        r = build_router(urls, ledger, redis_url or "local", requests)
        from router.serving._backends import _litellm  # noqa: PLC0415

        _litellm()  # the slow import, before the clock starts
        start = time.monotonic()
        tally = asyncio.run(drive(r, requests, concurrency, seed, progress=progress, start=start))
        seconds = time.monotonic() - start
        checks = check(tally, requests, ledger, redis_url, max_rss_growth)
    return Report(tally, checks, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--state", choices=("local", "redis"), default="local")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-rss-growth", type=float, default=1.25)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.seed)
    print(
        f"soak: {args.requests} requests, state {args.state}, {args.concurrency} in flight, "
        f"seed {args.seed}",
        flush=True,
    )
    report = soak(
        args.requests,
        state=args.state,
        concurrency=args.concurrency,
        seed=args.seed,
        progress=True,
        max_rss_growth=args.max_rss_growth,
    )
    print(f"wall time {report.seconds:.1f} s ({args.requests / report.seconds:.1f} requests/s)")
    print("outcomes:")
    for name, n in sorted(report.tally.outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>6}  {name}")
    for m in report.tally.memory:
        print(
            f"memory at {m['requests']}: VmRSS {m['rss_mib']:.1f} MiB, VmHWM "
            f"{m['hwm_mib']:.1f} MiB, ru_maxrss {m['ru_maxrss_mib']:.1f} MiB"
        )
    print("checks:")
    for c in report.checks:
        print(f"  {'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
    print("soak: OK" if report.ok else "soak: FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
