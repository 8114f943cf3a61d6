"""Several `python -m router serve` replicas, one truth (issue 17, point 3): real serve
processes (`--workers 2` and separate ports) on a real redis-server, real HTTP clients,
loopback FaultServers as the deployments, and the SQLite ledger read directly.

- a hard budget hammered through every replica at once is never exceeded, and exactly
  the requests it has room for are served (the provider bills the most each may cost);
- a breaker opened through one replica benches the deployment in another;
- SIGTERM drains the requests in flight (JSON and streams): complete answers, exit 0,
  and a ledger record for each;
- SIGKILL mid-burst loses no record of an answer a client received (SECURITY.md,
  invariant 6).

Each serve process imports litellm when it starts (seconds on a busy machine): every
test starts its processes together and waits on /health, never on a sleep.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis
import server_kit as kit

from router.server import hash_key
from router.testing import FaultServer, hang, ok, server_error

HI = [{"role": "user", "content": "Say hi"}]
# What the paid API costs: 2.5 USD per 1M input tokens, 10 per 1M output tokens.
PRICES = "input_cost_per_mtok = 2.5\noutput_cost_per_mtok = 10"
# "Say hi" with max_tokens=100: its byte bound is 18 prompt tokens, so the most it may
# cost (what the budget holds) is 18 * 2.5 + 100 * 10 = 1045 micro-dollars; the
# FaultServer bills exactly that, the worst a provider may do.
MAX_TOKENS = 100
CALL_MICRO = 1045
LIMIT_MICRO = 12_500  # room for 11 calls (11,495); the 12th would make 12,540
ERROR_KEYS = {"message", "type", "param", "code"}


def api_deployment(name: str, server: FaultServer, *, quality: float = 0.95) -> str:
    # client = "direct": the replicas are under test, not litellm, whose import would cost
    # each serve process 4-5 s of CPU (tests/test_server.py serves an API through litellm)
    return f"""
[[deployments]]
name = "{name}"
model = "openai/{name}"
api_base = "{server.base_url}"
client = "direct"
hosting = "api"
weights = "closed"
context_window = 8192
quality = {quality}
api_key_env = "{kit.API_KEY_ENV}"
{PRICES}
"""


def write_config(folder: Path, state: str, body: str, *, router: str = "") -> Path:
    """A config on `state` with the ledger beside it, acme's client key, one attempt per
    deployment, and `body` (deployments, budgets, [cooldown]...)."""
    path = folder / "router.toml"
    path.write_text(
        f"""
[router]
ledger = "ledger.sqlite"
state = "{state}"
{router}

[state]
timeout_ms = 3000

[retry]
attempts = 1

[server]
[[server.keys]]
tenant = "acme"
key_hash = "{hash_key(kit.ACME)}"
{body}
""",
        encoding="utf-8",
    )
    return path


def records(folder: Path) -> list[dict[str, Any]]:
    """Every ledger record, read with sqlite3 (the processes may still be writing)."""
    db = sqlite3.connect(folder / "ledger.sqlite", timeout=30)
    try:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM records ORDER BY id")]
    finally:
        db.close()


def integrity(folder: Path) -> str:
    db = sqlite3.connect(folder / "ledger.sqlite", timeout=30)
    try:
        (result,) = db.execute("PRAGMA integrity_check").fetchone()
        return str(result)
    finally:
        db.close()


def redis_budgets(url: str) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """Every budget counter's settled `spent` and every non-empty `holds` hash."""
    client: Any = redis.Redis.from_url(url, decode_responses=True)
    try:
        spent = {k: int(client.get(k)) for k in client.scan_iter(match="router:*:b:*:spent")}
        holds = {k: client.hgetall(k) for k in client.scan_iter(match="router:*:b:*:holds")}
    finally:
        client.close()
    return spent, {k: v for k, v in holds.items() if v}


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "router", "messages": HI, **extra}


# -- 1. a hard budget hammered through every replica -------------------------------------


def test_a_hard_budget_hammered_through_all_replicas_is_never_exceeded(
    tmp_path: Path, redis_url: str
) -> None:
    billed = ok("hi", prompt_tokens=18, completion_tokens=MAX_TOKENS)
    with FaultServer(default=billed) as api:
        body = api_deployment("api", api) + (
            f'\n[[budgets]]\ntenant = "acme"\nperiod = "day"\nusd = {LIMIT_MICRO / 1e6}\n'
        )
        path = write_config(tmp_path, redis_url, body)
        # Two replicas, each its own process and port, each its own Router.
        with kit.serve_processes(path, (), ()) as replicas:
            roots = [r.running.root for r in replicas]

            async def hammer() -> list[httpx.Response]:
                limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
                async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                    return await asyncio.gather(
                        *(
                            client.post(
                                f"{roots[i % 2]}/v1/chat/completions",
                                json=chat(max_tokens=MAX_TOKENS),
                                headers=kit.headers(),
                            )
                            for i in range(46)
                        )
                    )

            # One request through each first (both replicas serve: 2 of the 11), then
            # the other 46 at once, split between them.
            answers = [
                httpx.post(f"{root}/v1/chat/completions", json=chat(max_tokens=MAX_TOKENS),
                           headers=kit.headers(), timeout=60)
                for root in roots
            ]  # fmt: skip
            assert [a.status_code for a in answers] == [200, 200]
            answers += asyncio.run(hammer())
        rows = records(tmp_path)
        spent, holds = redis_budgets(redis_url)

    statuses = Counter(a.status_code for a in answers)
    served = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert set(statuses) <= {200, 429}, statuses
    # Exactly the requests the limit has room for were served, each at its known cost.
    assert len(served) == LIMIT_MICRO // CALL_MICRO == 11, statuses
    assert all(a.headers["x-router-served-by"] == "api" for a in served)
    assert all(round(float(a.headers["x-router-cost-usd"]) * 1e6) == CALL_MICRO for a in served)
    # The surplus got 429 in OpenAI's error shape, with when to retry (the day's reset).
    assert len(refused) == 48 - 11
    for a in refused:
        error = a.json()["error"]
        assert set(error) == ERROR_KEYS
        assert (error["type"], error["code"]) == ("insufficient_quota", "budget_exhausted")
        assert 1 <= int(a.headers["Retry-After"]) <= 86_400
    # Redis: one counter, the calls' exact sum, within the limit, and no hold left over.
    assert list(spent.values()) == [11 * CALL_MICRO]
    assert sum(spent.values()) <= LIMIT_MICRO
    assert holds == {}
    # The ledger: one paid row per answer the API served, with the same total.
    paid = [r for r in rows if r["cost_micro"] > 0]
    assert len(api.requests) == len(paid) == len(served)
    assert sum(r["cost_micro"] for r in paid) == sum(spent.values())
    assert {r["request_id"] for r in paid} == {a.headers["x-request-id"] for a in served}
    assert all((r["tenant"], r["served_by"]) == ("acme", "api") for r in paid)
    assert all(r["served_by"] is None for r in rows if r["cost_micro"] == 0)
    # Both replicas served, and both refused (each got 23 of the 46, 9 had room).
    for replica in replicas:
        log = replica.log_text()
        assert "POST /v1/chat/completions 200 tenant=acme" in log
        assert "POST /v1/chat/completions 429 tenant=acme" in log


# -- 2. a breaker opened through one replica -----------------------------------------------


def test_a_breaker_opened_by_one_replica_benches_the_deployment_in_the_others(
    tmp_path: Path, redis_url: str
) -> None:
    with FaultServer() as flaky, FaultServer(default=ok("steady")) as steady:
        # "flaky" is the better deployment (objective best: planned first); "steady" is
        # the fallback. Two consecutive failures open a breaker, for a minute.
        body = (
            api_deployment("flaky", flaky, quality=0.95)
            + api_deployment("steady", steady, quality=0.6)
            + "\n[cooldown]\nthreshold = 2\nseconds = 60\n"
        )
        path = write_config(tmp_path, redis_url, body, router='objective = "best"')
        with kit.serve_processes(path, (), ()) as (a, b):

            def ask(replica: kit.Served) -> httpx.Response:
                return httpx.post(
                    f"{replica.running.v1}/chat/completions",
                    json=chat(),
                    headers=kit.headers(),
                    timeout=60,
                )

            def breakers(replica: kit.Served) -> dict[str, str]:
                report = httpx.get(
                    f"{replica.running.root}/ready", headers=kit.headers(), timeout=30
                ).json()
                return {name: d["breaker"] for name, d in report["deployments"].items()}

            # Before: B plans "flaky" first, and it answers.
            assert breakers(b) == {"flaky": "closed", "steady": "closed"}
            first = ask(b)
            assert first.headers["x-router-served-by"] == "flaky"
            # Through A, two failures in a row: each request falls back to "steady".
            flaky.script(server_error(500), server_error(500))
            through_a = [ask(a) for _ in range(2)]
            assert len(flaky.requests) == 3
            # B reads the breaker A opened from Redis...
            assert breakers(b) == {"flaky": "open", "steady": "closed"}
            # ...and never calls "flaky" (which would answer now): it falls back.
            through_b = [ask(b) for _ in range(3)]
            assert (len(flaky.requests), len(steady.requests)) == (3, 2 + 3)
            # Then "steady" fails twice through A too: with both benched, B answers 503
            # (and when to retry) without calling either.
            steady.script(server_error(503), server_error(503))
            failed = [ask(a) for _ in range(2)]
            assert (len(flaky.requests), len(steady.requests)) == (3, 5 + 2)
            assert breakers(b) == {"flaky": "open", "steady": "open"}
            benched = [ask(b) for _ in range(3)]
            assert (len(flaky.requests), len(steady.requests)) == (3, 7)

    assert first.json()["choices"][0]["message"]["content"] == "hello"
    for answer in [*through_a, *through_b]:
        assert answer.status_code == 200
        assert answer.headers["x-router-served-by"] == "steady"
        assert answer.json()["choices"][0]["message"]["content"] == "steady"
    rows = {r["request_id"]: r for r in records(tmp_path)}
    assert all(rows[x.headers["x-request-id"]]["fallbacks"] == 1 for x in through_a)
    assert all(rows[x.headers["x-request-id"]]["served_by"] == "steady" for x in through_b)
    assert [f.status_code for f in failed] == [502, 502]
    for answer in benched:
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert set(error) == ERROR_KEYS
        assert error["code"] == "deployments_cooling_down"
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
        assert "Say hi" not in answer.text


# -- 3. SIGTERM drains -----------------------------------------------------------------------


async def in_flight_then(
    served: kit.Served, upstream: FaultServer, stop: Callable[[], None], *, json_n: int, sse_n: int
) -> tuple[list[httpx.Response], list[tuple[httpx.Response, str]]]:
    """`json_n` JSON and `sse_n` streaming requests; once every one has reached the
    upstream (in flight), `stop()`; then each client's whole answer."""
    url = f"{served.running.v1}/chat/completions"
    async with httpx.AsyncClient(timeout=60) as client:

        async def one_stream() -> tuple[httpx.Response, str]:
            request = client.build_request(
                "POST", url, json=chat(stream=True), headers=kit.headers()
            )
            response = await client.send(request, stream=True)
            try:
                return response, (await response.aread()).decode()
            finally:
                await response.aclose()

        plain = [
            asyncio.create_task(client.post(url, json=chat(), headers=kit.headers()))
            for _ in range(json_n)
        ]
        streams = [asyncio.create_task(one_stream()) for _ in range(sse_n)]
        deadline = time.monotonic() + 30
        while len(upstream.requests) < json_n + sse_n:
            assert time.monotonic() < deadline, "the requests did not reach the upstream"
            await asyncio.sleep(0.01)
        assert not any(t.done() for t in [*plain, *streams])  # all in flight at the stop
        stop()
        return list(await asyncio.gather(*plain)), list(await asyncio.gather(*streams))


def drain_and_check(tmp_path: Path, redis_url: str, *args: str) -> None:
    with FaultServer(default=hang(3.0)) as slow:
        path = write_config(tmp_path, redis_url, api_deployment("slow", slow))
        with kit.serve_processes(path, args) as (served,):
            sent = time.monotonic()
            answers, streams = asyncio.run(
                in_flight_then(
                    served,
                    slow,
                    lambda: served.proc.send_signal(signal.SIGTERM),
                    json_n=4,
                    sse_n=2,
                )
            )
            code = served.proc.wait(timeout=60)
            took = time.monotonic() - sent
        log = served.log_text()
    assert code == 0, log[-3000:]
    assert took >= 3.0  # the upstream answered after its 3 s, and they waited for it
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "hello"
    for response, text in streams:
        assert response.status_code == 200
        events = [line.removeprefix("data: ") for line in text.split("\n\n") if line]
        assert events[-1] == "[DONE]", text
        content = [json.loads(e)["choices"] for e in events[:-1]]
        assert "".join(c[0]["delta"].get("content") or "" for c in content if c) == "hello"
    ids = [a.headers["x-request-id"] for a in answers] + [
        r.headers["x-request-id"] for r, _ in streams
    ]
    assert len(set(ids)) == 6
    rows = {r["request_id"]: r for r in records(tmp_path)}
    assert set(ids) <= set(rows)
    assert all((rows[i]["outcome"], rows[i]["served_by"]) == ("ok", "slow") for i in ids)
    assert all(rows[i]["cost_micro"] > 0 for i in ids)
    assert integrity(tmp_path) == "ok"


def test_sigterm_drains_in_flight_requests_and_records_them(tmp_path: Path, redis_url: str) -> None:
    drain_and_check(tmp_path, redis_url)


def test_sigterm_to_two_workers_drains_both_and_records_everything(
    tmp_path: Path, redis_url: str
) -> None:
    drain_and_check(tmp_path, redis_url, "--workers", "2")


# -- 4. SIGKILL mid-burst --------------------------------------------------------------------


def test_sigkill_mid_burst_loses_no_record_of_an_answer_a_client_received(
    tmp_path: Path, redis_url: str
) -> None:
    with FaultServer(default=ok(prompt_tokens=10, completion_tokens=20)) as api:
        path = write_config(tmp_path, redis_url, api_deployment("api", api))
        with kit.serve_processes(path, ()) as (served,):
            url = f"{served.running.v1}/chat/completions"
            received: list[httpx.Response] = []
            failures: list[BaseException] = []

            async def burst() -> None:
                async with httpx.AsyncClient(timeout=30) as client:

                    async def client_loop() -> None:
                        while True:
                            try:
                                r = await client.post(url, json=chat(), headers=kit.headers())
                            except httpx.TransportError as exc:
                                failures.append(exc)
                                return
                            received.append(r)
                            if len(received) == 60:  # mid-burst: 16 clients still asking
                                served.proc.send_signal(signal.SIGKILL)

                    await asyncio.gather(*(client_loop() for _ in range(16)))

            asyncio.run(burst())
            code = served.proc.wait(timeout=30)
    assert code == -signal.SIGKILL
    assert len(failures) == 16  # every client was cut off by the kill, mid-burst
    assert all(r.status_code == 200 for r in received)
    rows = {r["request_id"]: r for r in records(tmp_path)}
    assert integrity(tmp_path) == "ok"
    missing = [r.headers["x-request-id"] for r in received if r.headers["x-request-id"] not in rows]
    assert missing == []
    for r in received:
        row = rows[r.headers["x-request-id"]]
        assert (row["outcome"], row["served_by"], row["tenant"]) == ("ok", "api", "acme")
        assert round(float(r.headers["x-router-cost-usd"]) * 1e6) == row["cost_micro"] == 225
    # Nothing but requests in flight at the kill has a record its client did not see.
    assert len(rows) - len(received) <= 16
