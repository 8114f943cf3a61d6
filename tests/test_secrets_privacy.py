"""Invariant 5: API keys and prompt text never appear in logs, decisions, ledgers, reports,
cache files, Redis or exception messages (prompt text only in the ledger, and only with
`store_prompts=True`).

Every test sets distinctive fake keys in environment variables (one shaped like OpenAI's,
`sk-...`, which litellm's own log redaction knows, and two shaped like nothing it knows)
and sends a prompt that carries a random marker (plus a fake card number in the
confidential one) through every entry point (complete, acomplete, stream, astream, cache
hits) and every failure the fault server can script. The fault servers answer 401s, 400s,
5xxs and content-filter errors with bodies that ECHO the key and the prompt back, as a
careless provider (or proxy) might. With the root logger at DEBUG, the test then greps:
every file the router wrote (ledger + -wal/-shm, cache directory, report and replay
output, the Redis directory), every Redis key and value, every log record, the process's
stdout and stderr (file descriptors), every decision's JSON, and every exception's str,
repr, traceback text and attributes along its whole __cause__ / __context__ chain.

Controls keep the greps honest: the marker is found on the wire (the server received it),
in a file planted on purpose, and in the ledger when the user opts in to storing prompts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import router
from router._records import Decision
from router.errors import (
    AllDeploymentsFailed,
    AuthenticationFailed,
    BadRequest,
    InvalidRequest,
    NoEligibleDeployment,
    RouterError,
    StreamInterrupted,
)
from router.money._feedback import MIN_REFERENCE, REFERENCE_SIZE
from router.quality.trained import default_model
from router.serving._executor import RetryPolicy
from router.state.cache import ResponseCache
from router.state.cooldowns import CooldownPolicy
from router.testing import (
    FaultServer,
    context_length_exceeded,
    hang,
    malformed_json,
    ok,
    rate_limited,
    reset,
    stream,
)
from router.testing.faultserver import Fault
from router.testing.redis_server import RedisServer
from router.tools._cli import main as cli_main

FAST = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02, jitter=0.0, max_retry_after=0.05)
NO_BREAKER = CooldownPolicy(threshold=10_000, seconds=0.1)
ENV_A, ENV_B, ENV_C = "ROUTER_PRIV_TEST_KEY_A", "ROUTER_PRIV_TEST_KEY_B", "ROUTER_PRIV_TEST_KEY_C"
CARD = "4111 1111 1111 1111"  # a well-known test card number (Luhn-valid): confidential
LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


@dataclasses.dataclass(frozen=True)
class Secrets:
    """The values that must not leak, and the prompts that carry the marker."""

    keys: dict[str, str]
    marker: str

    @property
    def key_needles(self) -> list[str]:
        """Each key whole, and each half of its random part (a truncated key is a leak)."""
        out: list[str] = []
        for value in self.keys.values():
            tail = value[-32:]
            out += [value, tail[:16], tail[16:]]
        return out

    @property
    def prompt_needles(self) -> list[str]:
        return [self.marker, CARD, CARD.replace(" ", "")]

    def public_prompt(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"Summarise the ticket {self.marker} in one line."}]

    def confidential_prompt(self) -> list[dict[str, str]]:
        text = f"Customer {self.marker} paid with card {CARD}; draft a receipt."
        return [{"role": "user", "content": text}]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> Secrets:
    values = {
        ENV_A: f"sk-SECRET-{secrets.token_hex(16)}",  # litellm's redaction knows this shape
        ENV_B: f"SECRETB{secrets.token_hex(16)}",  # ... and not these two
        ENV_C: f"tok.SECRETC.{secrets.token_hex(16)}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Secrets(values, f"PRIVMARK{secrets.token_hex(12)}")


@pytest.fixture
def fleet() -> Iterator[dict[str, FaultServer]]:
    """Four loopback servers: two paid APIs, a self-hosted one (all with keys), a local one."""
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(FaultServer(default=ok("fine answer")))
            for name in ("api-a", "api-b", "self-c", "local-d")
        }


def specs(fleet: dict[str, FaultServer]) -> dict[str, dict[str, Any]]:
    paid = {"hosting": "api", "weights": "closed", "context_window": 16_000, "quality": 0.9}
    return {
        "api-a": {
            **paid,
            "name": "api-a",
            "model": "openai/fault-a",
            "api_base": fleet["api-a"].base_url,
            "api_key_env": ENV_A,
            "input_cost_per_mtok": 1.0,
            "output_cost_per_mtok": 2.0,
        },
        "api-b": {
            **paid,
            "name": "api-b",
            "model": "openai/fault-b",
            "api_base": fleet["api-b"].base_url,
            "api_key_env": ENV_B,
            "input_cost_per_mtok": 2.0,
            "output_cost_per_mtok": 4.0,
        },
        "self-c": {
            "name": "self-c",
            "model": "openai/fault-c",
            "api_base": fleet["self-c"].base_url,
            "api_key_env": ENV_C,
            "hosting": "self-hosted",
            "weights": "open",
            "context_window": 16_000,
            "quality": 0.8,
            "input_cost_per_mtok": 0.1,
            "output_cost_per_mtok": 0.1,
        },
        "local-d": {
            "name": "local-d",
            "model": "openai/fault-d",
            "api_base": fleet["local-d"].base_url,
            "hosting": "local",
            "weights": "open",
            "context_window": 16_000,
            "quality": 0.7,
        },
    }


# -- what the servers answer: errors that echo the key and the prompt ------------------


def echo_error(status: int, message: str, code: str | None) -> Fault:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    body = json.dumps({"error": error}).encode()
    return Fault("bad_request" if status == 400 else "unauthorized", status=status, body=body)


def echo_unauthorized(s: Secrets, env: str) -> Fault:
    key = s.keys[env]
    return echo_error(401, f"Incorrect API key provided: {key}. Request was {s.marker}.", "invalid")


def echo_bad_request(s: Secrets, env: str) -> Fault:
    text = f"Invalid 'messages[0].content': {s.marker} {CARD} (key {s.keys[env]})"
    return echo_error(400, text, None)


def echo_content_filter(s: Secrets) -> Fault:
    text = f"The prompt '{s.marker}' triggered the content management policy."
    return echo_error(400, text, "content_filter")


def echo_server_error(s: Secrets, env: str) -> Fault:
    body = json.dumps(
        {"error": {"message": f"upstream failed for {s.keys[env]} on {s.marker}", "code": None}}
    ).encode()
    return Fault("server_error", status=500, body=body)


# -- capture ---------------------------------------------------------------------------


class Records(logging.Handler):
    """Every log record, formatted with its traceback, as text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def debug_logging(*, litellm_debug: bool = False) -> Iterator[Records]:
    """The root logger at DEBUG (what `logging.basicConfig(level=DEBUG)` does), a handler
    that keeps every record; with `litellm_debug` also `litellm._turn_on_debug()`."""
    from router.serving._backends import _litellm  # noqa: PLC0415  (imports and sets up litellm)

    litellm = _litellm()
    root = logging.getLogger()
    handler = Records()
    old_level = root.level
    named = {n: logging.getLogger(n).level for n in LITELLM_LOGGERS}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        if litellm_debug:
            litellm._turn_on_debug()
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for n, level in named.items():
            logging.getLogger(n).setLevel(level)


def exception_texts(exc: BaseException, *, hidden: bool = True) -> list[str]:
    """str, repr, args, attributes and traceback text of `exc` and of every exception on
    its __cause__ / __context__ chain; with `hidden`, also a context that `raise ... from
    None` hid (Python does not print it, but it is there for any code that looks)."""
    out: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        out += [str(e), repr(e), repr(e.args), "".join(traceback.format_exception(e))]
        with contextlib.suppress(TypeError):
            out.append(repr(vars(e)))
        decision = getattr(e, "decision", None)
        if isinstance(decision, Decision):
            out.append(decision.to_json())
        context = e.__context__ if hidden or not e.__suppress_context__ else None
        todo += [c for c in (e.__cause__, context) if c is not None]
        todo += [c for c in getattr(e, "exceptions", ()) if isinstance(c, BaseException)]
        cause = getattr(e, "cause", None)
        if isinstance(cause, BaseException):
            todo.append(cause)
    return out


def file_texts(roots: Iterable[Path]) -> dict[str, bytes]:
    """Every file under `roots` as bytes, plus the decoded diskcache entries and a SQL dump
    of every SQLite database (values stored compressed or paged are read back too)."""
    out: dict[str, bytes] = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            out[str(path)] = path.read_bytes()
    for name, data in list(out.items()):
        if data.startswith(b"SQLite format 3\x00") and not name.endswith(("-wal", "-shm")):
            out[name + " (sql dump)"] = sqlite_dump(Path(name))
        if name.endswith("cache.db"):
            out[name + " (diskcache entries)"] = diskcache_dump(Path(name).parent)
    return out


def sqlite_dump(path: Path) -> bytes:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump()).encode()
    finally:
        conn.close()


def diskcache_dump(directory: Path) -> bytes:
    import diskcache  # noqa: PLC0415

    cache = diskcache.Cache(str(directory), disk=diskcache.JSONDisk)
    try:
        entries = [(str(k), cache.get(k)) for k in cache.iterkeys()]
    finally:
        cache.close()
    return json.dumps(entries, default=str).encode()


def redis_texts(server: RedisServer) -> dict[str, bytes]:
    """Every key and value in the server, read with redis-py, plus its files on disk."""
    import redis  # noqa: PLC0415

    client = redis.Redis.from_url(server.url, decode_responses=False)
    dump: list[Any] = []
    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            value: Any
            if kind == b"string":
                value = client.get(key)
            elif kind == b"hash":
                value = client.hgetall(key)
            elif kind == b"list":
                value = client.lrange(key, 0, -1)
            elif kind == b"set":
                value = client.smembers(key)
            elif kind == b"zset":
                value = client.zrange(key, 0, -1, withscores=True)
            else:
                value = kind
            dump.append((key, value))
    finally:
        client.close()
    out = {"redis (every key and value)": repr(dump).encode()}
    out.update(file_texts([server.directory]))
    return out


def summary(hits: Sequence[str]) -> str:
    """Hits grouped by where they were found (one example each), for a readable failure."""
    groups: dict[str, list[str]] = {}
    for h in hits:
        where = h.split(" in ", 1)[1].split(" #", 1)[0]
        groups.setdefault(where, []).append(h)
    return "\n".join(f"{len(v):4} x {k}\n       {v[0][:400]}" for k, v in groups.items())


class Corpus:
    """Named texts to grep; `hits` lists which needles occur where."""

    def __init__(self) -> None:
        self.texts: dict[str, bytes] = {}

    def add(self, name: str, text: str | bytes) -> None:
        data = text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text
        self.texts[f"{name} #{len(self.texts)}"] = data

    def add_all(self, name: str, texts: Iterable[str | bytes]) -> None:
        for t in texts:
            self.add(name, t)

    def hits(
        self, needles: Sequence[str], where: Callable[[str], bool] = lambda n: True
    ) -> list[str]:
        found = []
        for name, data in self.texts.items():
            if not where(name):
                continue
            for needle in needles:
                if needle.encode() in data:
                    at = data.find(needle.encode())
                    snippet = data[max(0, at - 80) : at + 80].decode("utf-8", "replace")
                    found.append(f"{needle!r} in {name}: ...{snippet}...")
        return found


# -- the traffic -----------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """What the traffic produced that a caller sees: errors and decisions."""

    errors: list[BaseException] = dataclasses.field(default_factory=list)
    invalid: list[BaseException] = dataclasses.field(default_factory=list)
    """The caller's malformed requests (InvalidRequest): see test_invalid_request_..."""
    decisions: list[Decision] = dataclasses.field(default_factory=list)
    answers: list[str] = dataclasses.field(default_factory=list)

    def expect(self, kind: type[BaseException], fn: Callable[[], Any]) -> None:
        with pytest.raises(kind) as info:
            fn()
        self.errors.append(info.value)

    async def aexpect(self, kind: type[BaseException], coro: Any) -> None:
        try:
            await coro
        except kind as exc:
            self.errors.append(exc)
        else:
            pytest.fail(f"expected {kind.__name__}")

    def keep(self, result: router.Result) -> None:
        self.decisions.append(result.decision)
        self.answers.append(result.content or "")


def drain(s: router.Stream) -> str:
    return "".join((c.get("choices") or [{}])[0].get("delta", {}).get("content") or "" for c in s)


def traffic(
    s: Secrets,
    fleet: dict[str, FaultServer],
    make: Callable[[Sequence[str], bool], router.Router],
) -> Run:
    """Every entry point and every scripted failure. `make(names, budget_tight)` builds a
    Router over those deployments (sharing the ledger, cache and state of the test)."""
    run = Run()
    pub = s.public_prompt()
    paid = make(["api-a", "api-b"], False)  # cheapest: api-a, then api-b

    # answers: sync, async, cached (deterministic) and cache hits, streams
    run.keep(paid.complete(pub, temperature=0))
    hit = paid.complete(pub, temperature=0)
    assert hit.decision.cache_hit, "the second deterministic request is a cache hit"
    run.keep(hit)
    run.keep(asyncio.run(paid.acomplete(pub, temperature=0)))
    st = paid.stream(pub)
    run.answers.append(drain(st))
    run.decisions.append(st.decision)

    async def astream_all(r: router.Router) -> None:
        st = await r.astream(pub)
        run.answers.append("".join([str(c) async for c in st]))
        run.decisions.append(st.decision)

    asyncio.run(astream_all(paid))

    failures(run, s, fleet, paid)
    streams(run, s, fleet, paid)
    confidential(run, s, fleet, make, paid)
    reference_traffic(run, s, make)
    scored(run, s, make, paid)
    return run


def reference_traffic(
    run: Run, s: Secrets, make: Callable[[Sequence[str], bool], router.Router]
) -> None:
    """Enough recorded requests (each with the marker) for `calibrate --ledger` to write
    the reference traffic: their encodings, two numbers each computed from the text."""
    local = make(["local-d"], False)
    for _ in range(MIN_REFERENCE):
        run.keep(local.complete(s.public_prompt()))


def scored(
    run: Run,
    s: Secrets,
    make: Callable[[Sequence[str], bool], router.Router],
    paid: router.Router,
) -> None:
    """Feedback on every answer, and a cascade's verdict on a free answer (the ledger's
    feedback table and the profile columns, that `calibrate --ledger` reads)."""
    run.keep(make(["local-d", "api-a"], False).complete(s.public_prompt(), mode="cascade"))
    assert run.decisions[-1].verification is not None
    for d in run.decisions:
        if d.request_id is not None and d.served_by is not None:
            paid.feedback(d.request_id, d.served_by != "api-b")


def failures(run: Run, s: Secrets, fleet: dict[str, FaultServer], paid: router.Router) -> None:
    """Every failure the fault server scripts, most with bodies echoing key and prompt."""
    pub, a, b = s.public_prompt(), fleet["api-a"], fleet["api-b"]
    a.script(echo_unauthorized(s, ENV_A))  # 401 -> fallback to api-b
    run.keep(paid.complete(pub))
    a.script(echo_unauthorized(s, ENV_A))
    b.script(echo_unauthorized(s, ENV_B))
    run.expect(AllDeploymentsFailed, lambda: paid.complete(pub))
    a.script(echo_unauthorized(s, ENV_A))
    b.script(echo_unauthorized(s, ENV_B))
    run.expect(AllDeploymentsFailed, lambda: asyncio.run(paid.acomplete(pub)))
    a.script(echo_bad_request(s, ENV_A))  # the caller's error: raised at once
    run.expect(BadRequest, lambda: paid.complete(pub))
    a.script(echo_bad_request(s, ENV_A))
    run.expect(BadRequest, lambda: asyncio.run(paid.acomplete(pub)))
    a.script(echo_content_filter(s))  # filtered -> fallback
    run.keep(paid.complete(pub))
    a.script(context_length_exceeded())
    run.keep(paid.complete(pub))
    a.script(echo_server_error(s, ENV_A), echo_server_error(s, ENV_A))  # retried, then b
    run.keep(paid.complete(pub))
    a.script(rate_limited(0.01), malformed_json(), reset())
    run.keep(paid.complete(pub))
    run.keep(paid.complete(pub))  # reset() on api-a: retried there
    a.script(echo_server_error(s, ENV_A), echo_server_error(s, ENV_A))
    b.script(echo_server_error(s, ENV_B), echo_server_error(s, ENV_B))
    run.expect(AllDeploymentsFailed, lambda: paid.complete(pub))
    a.script(hang(1.0))
    run.expect(AllDeploymentsFailed, lambda: paid.complete(pub, timeout=0.5))
    for server in fleet.values():
        server.clear()


def streams(run: Run, s: Secrets, fleet: dict[str, FaultServer], paid: router.Router) -> None:
    """Fallback before the first chunk, interrupted after it, every deployment failing."""
    pub, a, b = s.public_prompt(), fleet["api-a"], fleet["api-b"]

    async def astream_all(r: router.Router) -> None:
        st = await r.astream(pub)
        run.answers.append("".join([str(c) async for c in st]))
        run.decisions.append(st.decision)

    a.script(echo_unauthorized(s, ENV_A))
    st = paid.stream(pub)
    run.answers.append(drain(st))
    run.decisions.append(st.decision)
    a.script(echo_unauthorized(s, ENV_A))
    asyncio.run(astream_all(paid))
    a.script(stream(("part", "ial", "never"), disconnect_after=2))
    st = paid.stream(pub)
    run.expect(StreamInterrupted, lambda: drain(st))
    run.decisions.append(st.decision)
    a.script(echo_unauthorized(s, ENV_A))
    b.script(echo_unauthorized(s, ENV_B))
    run.expect(AllDeploymentsFailed, lambda: paid.stream(pub))


def confidential(
    run: Run,
    s: Secrets,
    fleet: dict[str, FaultServer],
    make: Callable[[Sequence[str], bool], router.Router],
    paid: router.Router,
) -> None:
    """The confidential prompt (never to an API: self-hosted with its key, or local), a
    budget that leaves the paid deployments out, an unset key, malformed requests."""
    pub, conf, c = s.public_prompt(), s.confidential_prompt(), fleet["self-c"]
    # the confidential prompt: never to an API; served self-hosted (with its key) or local
    run.expect(NoEligibleDeployment, lambda: paid.complete(conf))
    mine = make(["self-c"], False)
    c.script(echo_unauthorized(s, ENV_C))
    run.expect(AllDeploymentsFailed, lambda: mine.complete(conf))
    c.script(echo_bad_request(s, ENV_C))
    run.expect(BadRequest, lambda: mine.complete(conf))
    c.script(echo_server_error(s, ENV_C), echo_server_error(s, ENV_C))
    run.expect(AllDeploymentsFailed, lambda: asyncio.run(mine.acomplete(conf)))
    run.keep(mine.complete(conf, temperature=0))
    run.keep(mine.complete(conf, temperature=0))  # a cache hit
    run.keep(make(["local-d"], False).complete(conf))

    # budgets: a tight one leaves the paid deployments out
    tight = make(["api-a", "api-b"], True)
    run.expect(NoEligibleDeployment, lambda: tight.complete(pub))

    # a key that is not set, and the caller's malformed request
    unset = make(["api-a"], False)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV_A)
        run.expect(AllDeploymentsFailed, lambda: unset.complete(pub))
    bad = [{"role": "wizard", "content": f"{s.marker} {CARD}"}]
    for call in (
        lambda: paid.complete(bad),
        lambda: paid.stream(bad),
        lambda: paid.complete(pub, temprature=s.marker),  # type: ignore[call-arg]
        lambda: paid.complete(pub, max_tokens=s.marker),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidRequest) as info:
            call()
        run.invalid.append(info.value)


# -- the tests -------------------------------------------------------------------------


def router_for(
    fleet: dict[str, FaultServer],
    *,
    ledger: Path,
    store_prompts: bool,
    cache: Any,
    state: str = "local",
) -> Callable[[Sequence[str], bool], router.Router]:
    all_specs = specs(fleet)

    def make(names: Sequence[str], tight: bool) -> router.Router:
        usd = 0.000001 if tight else 50.0
        return router.Router(
            [all_specs[n] for n in names],
            objective="cheapest",
            quality_target=0.1,
            retry=FAST,
            cooldown=NO_BREAKER,
            cache=cache,
            ledger=ledger,
            budgets=[{"tenant": "*", "period": "day", "usd": usd}],
            store_prompts=store_prompts,
            state=state,
        )

    return make


REPLAY_CONFIG = """
[router]
objective = "cheapest"
quality_target = 0.1

[[deployments]]
name = "api-b"
model = "openai/fault-b"
api_base = "{api}"
hosting = "api"
weights = "closed"
api_key_env = "{env}"
context_window = 16000
input_cost_per_mtok = 2
output_cost_per_mtok = 4
quality = 0.9
"""


CALIBRATION = {
    "schema": "router-calibration/1",
    "models": {
        "openai/fault-b": {"base": "shared", "ability": 3.0, "kinds": [], "rows": 40,
                           "accuracy": 0.9, "log_loss_before": 0.7, "log_loss_after": 0.3},
    },
}  # fmt: skip


def reports(ledger: Path, out: Path, fleet: dict[str, FaultServer], corpus: Corpus) -> None:
    """`python -m router report` (text, JSON, HTML) and `replay`, in a child process with the
    keys in its environment and in this one; their output and files go in the corpus."""
    out.mkdir()
    config = out / "replay.toml"
    config.write_text(REPLAY_CONFIG.format(api=fleet["api-b"].base_url, env=ENV_B))
    html = out / "report.html"
    assert cli_main(["report", "--ledger", str(ledger), "--json", "--html", str(html)]) == 0
    assert cli_main(["replay", "--ledger", str(ledger), "--config", str(config), "--json"]) == 0
    assert cli_main(["replay", "--ledger", str(ledger), "--config", str(config)]) == 0
    learned = out / "learned-cal.json"  # the reference traffic and a head, from the ledger
    assert cli_main(["calibrate", "--ledger", str(ledger), "--out", str(learned)]) == 0
    doc = json.loads(learned.read_text())
    assert doc["reference_requests"] >= MIN_REFERENCE
    assert len(doc["reference"]) == min(doc["reference_requests"], REFERENCE_SIZE)
    assert all(
        len(e) == 2 and all(isinstance(v, float | int) for v in e) for e in doc["reference"]
    )  # [difficulty, gap] pairs: numbers only
    assert "openai/fault-d" in doc["models"]  # local-d's answers, each scored
    assert set(doc["models"]) <= {spec["model"] for spec in specs(fleet).values()}
    cal = out / "cal.json"
    cal.write_text(json.dumps(CALIBRATION | {"quality_model": default_model().digest}))
    replay = ["replay", "--ledger", str(ledger), "--config", str(config), "--calibration", str(cal)]
    assert cli_main(replay) == 0
    assert cli_main([*replay, "--json"]) == 0
    child = subprocess.run(
        [sys.executable, "-m", "router", "report", "--ledger", str(ledger)],
        capture_output=True,
        timeout=120,
        check=True,
        env=os.environ.copy(),
    )
    corpus.add("report (child stdout)", child.stdout)
    corpus.add("report (child stderr)", child.stderr)
    assert b"<html" in html.read_bytes().lower()


HEX_ID = re.compile(r"[0-9a-f]{24}")


def assert_refit_fields_hold_no_text(ledger: Path, fleet: dict[str, FaultServer]) -> None:
    """What the ledger keeps for a refit holds ids, names and numbers only: a prompt (or
    any text) stored in these fields fails here even without the marker. Also the control
    that the greps above covered them: they are filled."""
    models = {spec["model"] for spec in specs(fleet).values()}
    conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        records = conn.execute(
            "SELECT request_id, model, profile, quality_model FROM records"
        ).fetchall()
        feedback = conn.execute(
            "SELECT request_id, source, deployment, model, score, scorer FROM feedback"
        ).fetchall()
    finally:
        conn.close()
    assert any(profile for _, _, profile, _ in records), "profiles were recorded"
    for request_id, model, profile, quality_model in records:
        assert HEX_ID.fullmatch(request_id)
        assert model is None or model in models
        if profile is not None:
            assert all(isinstance(v, float | int) for v in json.loads(profile))
            assert quality_model == default_model().digest
    assert {source for _, source, *_ in feedback} == {"user", "cascade"}
    for request_id, _source, deployment, model, score, scorer in feedback:
        assert HEX_ID.fullmatch(request_id)
        assert deployment in fleet
        assert model in models
        assert isinstance(score, float)
        assert scorer is None or isinstance(scorer, float)


def collect(run: Run, records: Records, corpus: Corpus, dirs: Sequence[Path]) -> None:
    corpus.add_all("log record", records.lines)
    for exc in run.errors:
        corpus.add_all(f"exception {type(exc).__name__}", exception_texts(exc))
    for exc in run.invalid:  # the hidden context: test_invalid_request_hides_no_prompt
        corpus.add_all("exception InvalidRequest", exception_texts(exc, hidden=False))
    for d in run.decisions:
        corpus.add_all("decision", [d.to_json(), repr(d), json.dumps(d.summary())])
    for name, data in file_texts(dirs).items():
        corpus.add(f"file {name}", data)


def assert_wire_control(s: Secrets, fleet: dict[str, FaultServer]) -> None:
    """The marker and the card did reach the deployments (so not finding them elsewhere
    means something), and the confidential one only reached self-c and local-d."""
    wire = Corpus()
    for name, server in fleet.items():
        wire.add(name, json.dumps(server.requests))
    assert wire.hits([s.marker], lambda n: n.startswith("api-a"))
    assert wire.hits([CARD], lambda n: n.startswith("self-c"))
    assert not wire.hits([CARD], lambda n: n.startswith("api-"))


@pytest.mark.parametrize("store_prompts", [False, True], ids=["default", "store_prompts"])
def test_keys_and_prompts_appear_nowhere_the_router_writes(
    keys: Secrets,
    fleet: dict[str, FaultServer],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    store_prompts: bool,
) -> None:
    ledger = tmp_path / "ledger" / "ledger.sqlite"
    cache = ResponseCache(tmp_path / "cache")
    corpus = Corpus()
    with debug_logging() as records:
        run = traffic(
            keys, fleet, router_for(fleet, ledger=ledger, store_prompts=store_prompts, cache=cache)
        )
        cache.close()
        reports(ledger, tmp_path / "out", fleet, corpus)
    captured = capfd.readouterr()
    corpus.add("stdout", captured.out)
    corpus.add("stderr", captured.err)
    collect(run, records, corpus, [tmp_path])
    assert_wire_control(keys, fleet)
    assert_refit_fields_hold_no_text(ledger, fleet)
    assert len(run.errors) >= 12
    assert len(run.decisions) >= 12
    assert records.lines, "the root logger at DEBUG saw records"

    leaks = corpus.hits(keys.key_needles)
    assert not leaks, summary(leaks)
    in_ledger = [n for n in corpus.texts if "ledger.sqlite" in n]
    assert in_ledger, "the ledger and its WAL files were grepped"
    learned = [d for n, d in corpus.texts.items() if n.startswith("file ") and "learned-cal" in n]
    assert learned, "calibrate --ledger's file was grepped"
    assert b'"reference"' in learned[0]
    outside = corpus.hits(keys.prompt_needles, lambda n: "ledger.sqlite" not in n)
    assert not outside, summary(outside)
    stored = corpus.hits(keys.prompt_needles, lambda n: "ledger.sqlite" in n)
    if store_prompts:  # the control: the same grep finds the marker where it must be
        assert any(repr(keys.marker) in h for h in stored)
        assert any(repr(CARD) in h for h in stored)
    else:
        assert stored == []


def test_redis_state_holds_no_key_and_no_prompt(
    keys: Secrets,
    fleet: dict[str, FaultServer],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    redis_server: RedisServer,
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    corpus = Corpus()
    with debug_logging() as records:
        make = router_for(
            fleet, ledger=ledger, store_prompts=False, cache=True, state=redis_server.url
        )
        run = traffic(keys, fleet, make)
        reports(ledger, tmp_path / "out", fleet, corpus)
    captured = capfd.readouterr()
    corpus.add("stdout", captured.out)
    corpus.add("stderr", captured.err)
    collect(run, records, corpus, [tmp_path])
    for name, data in redis_texts(redis_server).items():
        corpus.add(f"redis {name}", data)
    assert_wire_control(keys, fleet)
    redis_dump = [d for n, d in corpus.texts.items() if "every key and value" in n]
    assert b":c:" in redis_dump[0], "the response cache is in Redis"
    assert b":spent" in redis_dump[0], "the budget counters are in Redis"
    leaks = corpus.hits(keys.key_needles)
    assert not leaks, summary(leaks)
    leaks = corpus.hits(keys.prompt_needles)
    assert not leaks, summary(leaks)


def test_litellm_debug_mode_never_shows_a_key(
    keys: Secrets,
    fleet: dict[str, FaultServer],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """`litellm._turn_on_debug()` dumps each request (prompt included: a documented
    opt-in, see SECURITY.md) and each provider error; the keys the router passed, also
    when a provider echoes one back, are redacted from every record."""
    corpus = Corpus()
    paid = router_for(fleet, ledger=tmp_path / "l.sqlite", store_prompts=False, cache=None)
    with debug_logging(litellm_debug=True) as records:
        r = paid(["api-a", "api-b"], False)
        fleet["api-a"].script(echo_unauthorized(keys, ENV_A), echo_server_error(keys, ENV_A))
        fleet["api-b"].script(echo_unauthorized(keys, ENV_B))
        with pytest.raises(AllDeploymentsFailed) as info:
            r.complete(keys.public_prompt())
        fleet["api-a"].script(echo_bad_request(keys, ENV_A))
        with pytest.raises(BadRequest):
            asyncio.run(r.acomplete(keys.public_prompt()))
        fleet["api-a"].script(echo_unauthorized(keys, ENV_A))
        drain(r.stream(keys.public_prompt()))
    captured = capfd.readouterr()
    corpus.add("stdout", captured.out)
    corpus.add("stderr", captured.err)
    corpus.add_all("log record", records.lines)
    corpus.add_all("exception", exception_texts(info.value))
    # the control: litellm's debug output is there, and it shows the provider's error body
    assert corpus.hits([keys.marker], lambda n: n.startswith("log record"))
    assert any("Incorrect API key provided" in line for line in records.lines)
    leaks = corpus.hits(keys.key_needles)
    assert not leaks, summary(leaks)


def test_the_greps_can_fail(keys: Secrets, tmp_path: Path) -> None:
    """A key or marker planted in a file, a log line or an exception's hidden context is
    found: the checks above are not vacuous."""
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "x.bin").write_bytes(b"\x00" + keys.keys[ENV_B].encode())
    corpus = Corpus()
    for name, data in file_texts([tmp_path]).items():
        corpus.add(name, data)
    assert corpus.hits(keys.key_needles)
    try:
        try:
            raise ValueError(f"provider said {keys.marker}")
        except ValueError:
            raise AuthenticationFailed("api-a", "authentication failed") from None
    except RouterError as exc:
        hidden = exc
    assert keys.marker not in str(hidden)
    texts = Corpus()
    texts.add_all("exception", exception_texts(hidden))
    assert texts.hits([keys.marker])


def test_invalid_request_hides_no_prompt_in_its_context(keys: Secrets) -> None:
    r = router.Router([{"name": "local", "model": "openai/x", "api_base": "http://127.0.0.1:9/v1",
                        "hosting": "local", "context_window": 8000}])  # fmt: skip
    with pytest.raises(InvalidRequest) as info:
        r.complete([{"role": "wizard", "content": f"{keys.marker} {CARD}"}])
    visible = Corpus()
    visible.add_all("exception", exception_texts(info.value, hidden=False))
    assert not visible.hits(keys.prompt_needles)  # what Python, logging and Sentry show
    hidden = Corpus()
    hidden.add_all("exception", exception_texts(info.value))
    assert not hidden.hits(keys.prompt_needles)
