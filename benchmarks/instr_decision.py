"""Instructions per `Router.plan`, for callgrind (repeatable where the clock is noisy).

    .venv/bin/python benchmarks/instr_decision.py count          # prints the figures

runs, for each of the plain and the PII prompt,

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/instr_decision.py N trained [pii]

with N = 20 and 220, subtracts the two totals ("refs") and divides by 200: the
instructions of one plan of the ~1k-token prompt over `bench_decision`'s 30 deployments.
`prior` instead of `trained` plans with `prior_scorer`; `pii` plans the same prompt with
an e-mail address and a card number in it (the detectors' validating path).
PYTHONHASHSEED=0 makes the count repeatable to a few hundred instructions (set and dict
order vary with the hash seed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prompts
import bench_decision

from router.decision._scoring import prior_scorer


def _refs(*args: str) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, __file__, *args],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output: {out.stderr[-300:]}")
    return int(found.group(1).replace(",", ""))


def count() -> int:
    """Instructions per plan, plain prompt and with PII, for both scorers."""
    print(f"{'scorer':<8} {'prompt':<8} instructions per Router.plan", flush=True)
    for scorer in ("trained", "prior"):
        for extra in ((), ("pii",)):
            per_plan = (_refs("220", scorer, *extra) - _refs("20", scorer, *extra)) / 200
            prompt = "+ PII" if extra else "plain"
            print(f"{scorer:<8} {prompt:<8} {per_plan / 1e6:.3f} M", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv == ["count"]:
        return count()
    if (
        len(argv) not in (2, 3)
        or not argv[0].isdigit()
        or argv[1] not in ("trained", "prior")
        or argv[2:] not in ([], ["pii"])
    ):
        print("usage: instr_decision.py count | N trained|prior [pii]", file=sys.stderr)
        return 2
    r = bench_decision.make_router()
    if argv[1] == "prior":
        r.scorer = prior_scorer
    pii = _prompts.PII_NOTE if argv[2:] == ["pii"] else ""
    messages = _prompts.messages(_prompts.REPORT + pii)
    for _ in range(int(argv[0])):
        r.plan(messages, max_tokens=bench_decision.MAX_TOKENS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
