"""A separate OS process for the crash-safety tests: a Router on a ledger (and Redis, when
given) sends bursts of concurrent requests to loopback fault servers until told to stop,
or until it is killed.

    python tests/crash_worker.py CONFIG_JSON

CONFIG_JSON (see `Config`): the ledger path, the state (`local` or a Redis URL), the two
fault servers' base URLs, the worker's name, how many threads send paid (public) and how
many send free (confidential) requests, how many requests in all (null: until killed or
stdin reaches EOF), the hard budget in USD, the request timeout and the seconds a hold
outlives it (`router.books.HOLD_MARGIN`, 60 s in production: short here so that the
holds of killed requests lapse within the test).

Protocol on stdout, one JSON object a line, flushed:

- `{"ready": true}` once the Router is built and litellm imported;
- `{"tag": ..., "served_by": ..., "cost": ..., "error": ...}` per request, printed after
  `complete` returned or raised a RouterError: the record is in the ledger by then.
  `tag` is unique to the request and is its only tag, so the test finds its record;
- `{"end": true}` when the requests are done.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from typing import Any, TypedDict

import router
import router.books
from router.backends import _litellm
from router.errors import RouterError
from router.executor import RetryPolicy

KEY_ENV = "ROUTER_TEST_CRASH_KEY"
# Longer than the 50 prompt tokens the fault server reports: byte-level tokenizers never
# count more tokens than bytes, which is what the budget's upper bound relies on.
HI = "Say hello to the whole team and wish them a good week"


class Config(TypedDict):
    ledger: str
    state: str
    api: str
    local: str
    name: str
    paid_threads: int
    free_threads: int
    requests: int | None
    budget_usd: float
    timeout: float
    hold_margin: float


def build(cfg: Config) -> router.Router:
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
        ledger=cfg["ledger"],
        budgets=[{"tenant": "acme", "period": "day", "usd": cfg["budget_usd"]}],
        state=cfg["state"],
        state_settings={"timeout_ms": 2000},
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
    router.books.HOLD_MARGIN = cfg["hold_margin"]
    r = build(cfg)
    _litellm()  # the slow import, before the first request
    lock = threading.Lock()

    def emit(obj: dict[str, Any]) -> None:
        with lock:
            print(json.dumps(obj), flush=True)

    emit({"ready": True})
    stop = threading.Event()
    if cfg["requests"] is None:

        def wait_for_eof() -> None:
            sys.stdin.read()
            stop.set()

        threading.Thread(target=wait_for_eof, daemon=True).start()
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
