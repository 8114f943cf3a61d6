"""`make bench`: every benchmark in one process, each under a heading.

Run by path: `.venv/bin/python benchmarks/run.py`.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Before anything can import litellm: use its bundled price map, never fetch one.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

INTRO = """\
router benchmarks: what routing costs a request, measured side by side.
  1. import   `import router`, `from router import Router` and a Router in fresh
              interpreters (litellm must stay unimported), next to `python -c pass`
              and `import litellm`; the first `complete` of a process with and
              without `Router.warmup()`.
  2. decision `Router.plan(...)` (features + policy + scoring + plan) over 30
              deployments, next to litellm.Router's per-call routing overhead,
              measured interleaved in the same loop.
  3. detectors the sensitive-data detectors on the request path (if present).
  4. serving  `Router.complete` / `Router.acomplete` over HTTP to a loopback server,
              next to a bare `litellm.completion` / `acompletion` with the same
              arguments: latency, cache hits, 500 concurrent requests.
  5. ledger   what the ledger record and a budget hold add to `Router.complete`.
  6. report   `python -m router report` over 1,000,000 ledger records.
  7. quality  the per-prompt quality predictor: scoring a 1,000-token prompt for
              10 models; Router.plan with it next to the prior scorer.
  8. state    budget hold + settlement on Redis (a real redis-server on loopback)
              next to the local ledger; 8 worker processes, local vs Redis.
  9. async    300 and 1,000 concurrent `Router.acomplete` with a ledger, a hard
              budget, the cache and Redis state, next to bare `litellm.acompletion`;
              event-loop lag with Redis 5 ms away.
 10. serve    `python -m router serve` over HTTP at 1, 100 and 500 concurrent
              clients, next to the model server called directly and LiteLLM's
              own proxy; 1,000 concurrent streams through 2 replicas on Redis.
Machines are noisy: absolute times vary from run to run and machine to machine;
compare the ratios, which are measured side by side in the same run. Targets are
reported PASS/MISS, not asserted. Nothing leaves 127.0.0.1 (mock responses, and a
local server on 127.0.0.1 for serving)."""

BENCHMARKS = (
    ("bench_import", "1. import cost and the first call (warmup)"),
    ("bench_decision", "2. decision cost vs litellm.Router"),
    ("bench_detectors", "3. detectors"),
    ("bench_serving", "4. serving cost vs bare litellm over loopback HTTP"),
    ("bench_ledger", "5. ledger write + budget hold added to a request"),
    ("bench_report", "6. report over 1,000,000 ledger records"),
    ("bench_quality", "7. per-prompt quality prediction"),
    ("bench_state", "8. shared state on Redis vs local"),
    ("bench_async", "9. the async path under load vs bare litellm.acompletion"),
    ("bench_serve", "10. router serve vs the model server, a bare forwarder, LiteLLM's proxy"),
)


def _load(module: str) -> Callable[[], None] | None:
    """`main` of benchmarks/<module>.py, or None when the file or its main is missing."""
    if not (HERE / f"{module}.py").is_file():
        return None
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    mod = importlib.import_module(module)
    fn = getattr(mod, "main", None)
    return fn if callable(fn) else None


def main() -> int:
    print(INTRO)
    print()
    print(
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; python {platform.python_version()}; "
        f"{platform.system()} {platform.machine()}; {os.cpu_count()} CPU(s); load average "
        + "/".join(f"{x:.2f}" for x in os.getloadavg())
    )
    failed: list[str] = []
    for module, title in BENCHMARKS:
        print()
        print("=" * 78)
        print(f"{title}  (benchmarks/{module}.py)")
        print("=" * 78)
        t0 = time.perf_counter()
        try:
            fn = _load(module)
            if fn is None:
                print(f"skipped: benchmarks/{module}.py or its main() is not there")
                continue
            fn()
        except Exception:
            traceback.print_exc(file=sys.stdout)
            failed.append(module)
        print(f"[{module}: {time.perf_counter() - t0:.1f} s]")
        sys.stdout.flush()
    print()
    if failed:
        print(f"benchmarks that raised: {', '.join(failed)}")
        return 1
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
