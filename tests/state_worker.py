"""A separate OS process for the shared-state tests: a Router on a shared Redis sends
requests and prints one JSON line per request.

    python tests/state_worker.py CONFIG_JSON

CONFIG_JSON (see `Config`): the Redis URL; the backend: `"litellm"` (the two loopback
fault servers' base URLs in `api` and `local`) or `"mock"` (a MockBackend in this
process, both deployments answering `ok("hi")` with 50 + 100 tokens after the faults
`script` lists per deployment, e.g. `{"api": [["server_error", [503]]]}`: a
router.testing constructor and its arguments); how many requests on how many threads,
the tenants to cycle through, and the Router's budget, cooldown, cache, ledger and state
settings.

Protocol on stdout, one JSON object a line (flushed):

- `{"ready": true}` once the Router is built and its backend ready (litellm imported);
  with `"go": true` the worker then waits for one line on stdin before sending anything
  (so that several processes start hammering at once, after their slow imports);
- one `{"i": ..., "served_by": ..., "cost": ..., "error": ..., ...}` per request, printed
  after `complete` returned or raised a RouterError (i.e. after the record was written);
- `{"end": true, "health": {...}, "pending": N, "calls": {...}}` last; `calls` counts the
  calls the MockBackend received per deployment (the FaultServers' request logs, in
  the parent, count them for litellm).

`"requests": null` sends requests until stdin reaches EOF (the parent closes it).
Anything other than a RouterError escapes and the process exits non-zero.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from typing import Any, TypedDict

import router
import router.testing
from router.errors import RouterError
from router.serving._backends import _litellm
from router.serving._executor import RetryPolicy
from router.state.cooldowns import CooldownPolicy
from router.testing import MockBackend, ok

KEY_ENV = "ROUTER_TEST_STATE_KEY"
# Longer than the 50 prompt tokens the fault server reports: byte-level tokenizers never
# count more tokens than bytes, which is what the budget's upper bound relies on.
HI = [{"role": "user", "content": "Say hello to the whole team and wish them a good week"}]


class Config(TypedDict):
    redis: str
    backend: str
    api: str
    local: str
    script: dict[str, list[tuple[str, list[Any]]]]
    requests: int | None
    threads: int
    tenants: list[str]
    budget_usd: float | None
    threshold: int
    cooldown_seconds: float
    cache: bool
    temperature: float | None
    ledger: str | None
    state_settings: dict[str, Any]
    go: bool


def mock_backend(cfg: Config) -> MockBackend:
    backend = MockBackend(default=ok("hi", prompt_tokens=50, completion_tokens=100))
    for name, faults in cfg["script"].items():
        backend.script(*(getattr(router.testing, f)(*args) for f, args in faults), deployment=name)
    return backend


def build(cfg: Config, backend: MockBackend | None) -> router.Router:
    budgets = (
        []
        if cfg["budget_usd"] is None
        else [{"tenant": "*", "period": "day", "usd": cfg["budget_usd"]}]
    )
    return router.Router(
        deployments=[
            {"name": "api", "model": "openai/x", "api_base": cfg["api"], "hosting": "api",
             "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
             "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95},
            {"name": "local", "model": "openai/a", "api_base": cfg["local"],
             "context_window": 8192, "quality": 0.5},
        ],
        objective="best",
        retry=RetryPolicy(attempts=1),
        cooldown=CooldownPolicy(threshold=cfg["threshold"], seconds=cfg["cooldown_seconds"]),
        budgets=budgets,
        ledger=cfg["ledger"],
        cache=cfg["cache"] or None,
        state=cfg["redis"],
        state_settings=cfg["state_settings"],
        backend=backend,
    )  # fmt: skip


def one(r: router.Router, i: int, tenant: str, temperature: float | None) -> dict[str, Any]:
    """Send request `i`; what the caller saw of it, as a JSON-ready dict."""
    args: dict[str, Any] = {"tenant": tenant, "max_tokens": 100}
    if temperature is not None:
        args["temperature"] = temperature
    line: dict[str, Any] = {"i": i, "tenant": tenant, "started": time.time()}
    try:
        d = r.complete(HI, timeout=20.0, **args).decision
    except RouterError as exc:
        decision = getattr(exc, "decision", None)
        notes = list(decision.shared_state) if decision is not None else []
        line |= {"error": type(exc).__name__, "served_by": None, "cost": 0, "notes": notes}
        line |= {"cache_hit": False, "attempts": []}
    else:
        line |= {
            "error": None,
            "served_by": d.served_by,
            "cost": d.cost.micro_usd if d.cost else -1,
            "cache_hit": d.cache_hit,
            "notes": list(d.shared_state),
            "attempts": [[a.deployment, a.outcome] for a in d.attempts],
        }
    line["ended"] = time.time()
    return line


def main(argv: list[str]) -> int:
    cfg: Config = json.loads(argv[0])
    backend = mock_backend(cfg) if cfg["backend"] == "mock" else None
    r = build(cfg, backend)
    if backend is None:
        _litellm()  # the slow import (as the router makes it), before the start signal

    lock = threading.Lock()

    def emit(obj: dict[str, Any]) -> None:
        with lock:
            print(json.dumps(obj), flush=True)

    emit({"ready": True})
    if cfg["go"]:
        sys.stdin.readline()
    stop = threading.Event()
    if cfg["requests"] is None:

        def wait_for_eof() -> None:
            sys.stdin.read()
            stop.set()

        threading.Thread(target=wait_for_eof, daemon=True).start()
    counter = itertools.count()
    tenants = cfg["tenants"]

    def work() -> None:
        while not stop.is_set():
            with lock:
                i = next(counter)
            if cfg["requests"] is not None and i >= cfg["requests"]:
                return
            emit(one(r, i, tenants[i % len(tenants)], cfg["temperature"]))

    pool = [threading.Thread(target=work) for _ in range(cfg["threads"])]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    health = {name: [s.state, s.consecutive_failures] for name, s in r.health().items()}
    pending = r.shared.budgets.pending if r.shared is not None else 0
    calls: dict[str, int] = {"api": 0, "local": 0}
    for call in backend.calls if backend is not None else ():
        calls[call.deployment] += 1
    emit({"end": True, "health": health, "pending": pending, "calls": calls})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
