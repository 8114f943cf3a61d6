"""A separate OS process for the crash-safety tests: a Router on a ledger (and Redis, when
given) sends bursts of concurrent requests until told to stop, or until it is killed.

    python tests/crash_worker.py CONFIG_JSON

CONFIG_JSON (see `Config`): the ledger path, the state (`local` or a Redis URL), the
worker's name, how many threads send paid (public) and how many send free (confidential)
requests, how many requests in all (null: until killed or stdin reaches EOF), the hard
budget in USD, the request timeout and the seconds a hold outlives it
(`router.money._books.HOLD_MARGIN`, 60 s in production: short here so that the holds of killed
requests lapse within the test).

Protocol on stdout, one JSON object a line, flushed:

- `{"ready": true}` once the Router is built;
- `{"tag": ..., "served_by": ..., "cost": ..., "error": ...}` per request, printed after
  `complete` returned or raised a RouterError: the record is in the ledger by then.
  `tag` is unique to the request and is its only tag, so the test finds its record;
- `{"call": DEPLOYMENT}` when the backend receives a call (as a fault server's request
  log would show it);
- `{"end": true}` when the requests are done.

The requests are served in this process by a MockBackend (no HTTP, no litellm: the
worker is ready in about a second; what is under test is the ledger and the budget
across a crash): both deployments answer `ok("hi")` with 50 + 100 tokens. On stdin, a
line `{"default": {DEPLOYMENT: [CONSTRUCTOR, ARGS]}}` sets a deployment's answer from now
on (e.g. `{"default": {"api": ["hang", [60.0]]}}`); EOF stops a worker sending until then
(`"requests": null`).
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypedDict

import router
import router.money._books
import router.testing
from router._models import Deployment
from router.errors import RouterError
from router.serving._executor import RetryPolicy
from router.testing import MockBackend, ok
from router.testing.mock_backend import CallMode

KEY_ENV = "ROUTER_TEST_CRASH_KEY"
NOWHERE = "http://127.0.0.1:9/v1"  # loopback (so "local"); the mock never connects
# Longer than the 50 prompt tokens the backend reports: byte-level tokenizers never
# count more tokens than bytes, which is what the budget's upper bound relies on.
HI = "Say hello to the whole team and wish them a good week"
LATENCY = 0.003  # seconds a call takes (a loopback FaultServer through litellm: ~3-15 ms)


class Config(TypedDict):
    ledger: str
    state: str
    name: str
    paid_threads: int
    free_threads: int
    requests: int | None
    budget_usd: float
    timeout: float
    hold_margin: float


class TellingMock(MockBackend):
    """A MockBackend that prints `{"call": DEPLOYMENT}` for each call it receives, and
    takes LATENCY seconds to answer, as a loopback server does: the threads then take
    turns as they do against a server (an instant answer lets one thread take most of
    the requests, and the paid ones may never reach the budget's limit)."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(default=ok("hi", prompt_tokens=50, completion_tokens=100))
        self.emit = emit

    def _steps(
        self, deployment: Deployment, params: dict[str, Any], timeout: float, mode: CallMode
    ) -> Any:
        steps = super()._steps(deployment, params, timeout, mode)
        self.emit({"call": deployment.name})
        time.sleep(LATENCY)
        return steps


def build(cfg: Config, backend: MockBackend) -> router.Router:
    return router.Router(
        deployments=[
            {"name": "api", "model": "openai/x", "api_base": NOWHERE, "hosting": "api",
             "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
             "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95},
            {"name": "local", "model": "openai/a", "api_base": NOWHERE,
             "context_window": 8192, "quality": 0.5},
        ],
        objective="best",
        retry=RetryPolicy(attempts=1),
        ledger=cfg["ledger"],
        budgets=[{"tenant": "acme", "period": "day", "usd": cfg["budget_usd"]}],
        state=cfg["state"],
        state_settings={"timeout_ms": 2000},
        backend=backend,
    )  # fmt: skip


def one(r: router.Router, tag: str, paid: bool, timeout: float) -> dict[str, Any]:
    """Send one request; what its caller saw, as a JSON-ready dict."""
    args: dict[str, Any] = {"tenant": "acme", "max_tokens": 100, "tags": [tag]}
    if not paid:
        args["sensitivity"] = "confidential"  # local only: free, never held
    line: dict[str, Any] = {"tag": tag, "paid": paid}
    try:
        d = r.complete([{"role": "user", "content": HI}], timeout=timeout, **args).decision
    except RouterError as exc:
        return line | {"served_by": None, "cost": 0, "error": type(exc).__name__}
    cost = d.cost.micro_usd if d.cost else -1
    return line | {"served_by": d.served_by, "cost": cost, "error": None}


def main(argv: list[str]) -> int:
    cfg: Config = json.loads(argv[0])
    router.money._books.HOLD_MARGIN = cfg["hold_margin"]
    lock = threading.Lock()

    def emit(obj: dict[str, Any]) -> None:
        with lock:
            print(json.dumps(obj), flush=True)

    backend = TellingMock(emit)
    r = build(cfg, backend)
    emit({"ready": True})
    stop = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:  # commands, then EOF
            for name, (fault, args) in json.loads(line)["default"].items():
                backend.set_default(getattr(router.testing, fault)(*args), deployment=name)
        if cfg["requests"] is None:
            stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    counter = itertools.count()

    def work(paid: bool) -> None:
        while not stop.is_set():
            with lock:
                i = next(counter)
            if cfg["requests"] is not None and i >= cfg["requests"]:
                return
            emit(one(r, f"{cfg['name']}-{i}", paid, cfg["timeout"]))

    pool = [threading.Thread(target=work, args=(True,)) for _ in range(cfg["paid_threads"])]
    pool += [threading.Thread(target=work, args=(False,)) for _ in range(cfg["free_threads"])]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    emit({"end": True})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
