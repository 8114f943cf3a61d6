"""A separate OS process for the ledger tests: a Router on a shared ledger file, served
in-process by a MockBackend (no HTTP, no litellm: the process starts in about a second),
prints one line per answered call.

    python tests/ledger_worker.py LEDGER REQUESTS THREADS BUDGET_USD

Both deployments answer `ok("hi")` with 50 prompt and 100 completion tokens. Each
answered call prints `done <served_by> <cost_micro>` (flushed) after `complete`
returned, i.e. after the router wrote its ledger record.
"""

from __future__ import annotations

import sys
import threading

import router
from router.serving._executor import RetryPolicy
from router.testing import MockBackend, ok

KEY_ENV = "ROUTER_TEST_LEDGER_KEY"
# Longer than the 50 prompt tokens the backend reports: byte-level tokenizers never
# count more tokens than bytes, which is what the budget's upper bound relies on.
HI = [{"role": "user", "content": "Say hello to the whole team and wish them a good week"}]
NOWHERE = "http://127.0.0.1:9/v1"  # loopback (so "local"); the mock never connects


def build(ledger: str, budget_usd: float) -> router.Router:
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
        ledger=ledger,
        budgets=[{"tenant": "acme", "period": "day", "usd": budget_usd}],
        backend=MockBackend(default=ok("hi", prompt_tokens=50, completion_tokens=100)),
    )  # fmt: skip


def main(argv: list[str]) -> int:
    ledger = argv[0]
    requests, threads, budget = int(argv[1]), int(argv[2]), float(argv[3])
    r = build(ledger, budget)
    lock = threading.Lock()
    per_thread = [requests // threads + (i < requests % threads) for i in range(threads)]

    def work(n: int) -> None:
        for _ in range(n):
            d = r.complete(HI, tenant="acme", max_tokens=100).decision
            cost = d.cost.micro_usd if d.cost else -1
            with lock:
                print(f"done {d.served_by} {cost}", flush=True)

    pool = [threading.Thread(target=work, args=(n,)) for n in per_thread]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
