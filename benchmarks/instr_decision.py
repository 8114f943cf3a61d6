"""Instructions per `Router.plan`, for callgrind (repeatable where the clock is noisy).

    for n in 20 220; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/instr_decision.py $n trained; done

Subtract the two totals ("refs") and divide by 200: the instructions of one plan of the
~1k-token prompt over `bench_decision`'s 30 deployments. `prior` instead of `trained`
plans with `prior_scorer`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prompts
import bench_decision

from router.scoring import prior_scorer


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit() or argv[1] not in ("trained", "prior"):
        print("usage: instr_decision.py N trained|prior", file=sys.stderr)
        return 2
    r = bench_decision.make_router()
    if argv[1] == "prior":
        r.scorer = prior_scorer
    messages = _prompts.messages(_prompts.REPORT)
    for _ in range(int(argv[0])):
        r.plan(messages, max_tokens=bench_decision.MAX_TOKENS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
