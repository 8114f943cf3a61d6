"""A separate OS process for the ledger tests: a Router on a shared ledger file sends
requests to loopback fault servers and prints one line per answered call.

    python tests/ledger_worker.py LEDGER API_URL LOCAL_URL REQUESTS THREADS BUDGET_USD

Each answered call prints `done <served_by> <cost_micro>` (flushed) after `complete`
returned, i.e. after the router wrote its ledger record.
"""

from __future__ import annotations

import sys
import threading

import router
from router.executor import RetryPolicy

KEY_ENV = "ROUTER_TEST_LEDGER_KEY"
# Longer than the 50 prompt tokens the fault server reports: byte-level tokenizers never
# count more tokens than bytes, which is what the budget's upper bound relies on.
HI = [{"role": "user", "content": "Say hello to the whole team and wish them a good week"}]


def build(ledger: str, api_url: str, local_url: str, budget_usd: float) -> router.Router:
    return router.Router(
        deployments=[
            {"name": "api", "model": "openai/x", "api_base": api_url, "hosting": "api",
             "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
             "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95},
            {"name": "local", "model": "openai/a", "api_base": local_url,
             "context_window": 8192, "quality": 0.5},
        ],
        objective="best",
        retry=RetryPolicy(attempts=1),
        ledger=ledger,
        budgets=[{"tenant": "acme", "period": "day", "usd": budget_usd}],
    )  # fmt: skip


def main(argv: list[str]) -> int:
    ledger, api_url, local_url = argv[0], argv[1], argv[2]
    requests, threads, budget = int(argv[3]), int(argv[4]), float(argv[5])
    r = build(ledger, api_url, local_url, budget)
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
