"""What the shared data says about code prompts: are they hard?

    .venv/bin/python scripts/code_difficulty.py [--data ../shared/routing-data]

Issue 14 asks `free-first` to pay for non-trivial code. The shipped predictor learns
difficulty from the labels of MMLU, RouterBench and AlpacaEval 2, so it can only rank
code as hard where those labels do. Per source, this prints, for the prompts with a
code word (implement, function, code, python, program, algorithm, class, script, sql,
javascript, c++, rust, java) against the others: the mean of the two training targets
of `scripts/quality_fit.py` (standardised within the source: 0 is the source's mean)
and the pair's mean quality (GPT-4 and Mixtral; on AlpacaEval, Mixtral's probability of
beating GPT-4-turbo). Needs numpy (the dev extra). A few seconds.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import quality_data as qd
import quality_fit as qf

CODE = re.compile(
    r"\b(implement|function|code|python|program|algorithm|class|script|sql|javascript"
    r"|c\+\+|rust|java)\b",
    re.IGNORECASE,
)


def _pair(b: qf.Block, rows: np.ndarray) -> str:
    labels = b.labels()
    weak = labels[:, b.models.index(qd.WEAK)]
    if b.source not in qf.CORRECTNESS:
        return f"Mixtral wins {np.nanmean(weak[rows]):.3f}"
    strong = labels[:, b.models.index(qd.STRONG)]
    return f"GPT-4 {np.nanmean(strong[rows]):.3f}, Mixtral {np.nanmean(weak[rows]):.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=qd.DEFAULT_ROOT)
    args = ap.parse_args(argv)
    print("| source | code-word prompts | difficulty: code / others | gap: code / others "
          "| pair quality: code / others |")  # fmt: skip
    print("|---|---:|---:|---:|---|")
    for b in qf.blocks(qd.load_all(args.data), held_out=None):
        targets = qf.targets(b)
        code = np.array([bool(CODE.search(p)) for p in b.prompts])

        print(
            f"| {b.source} | {code.sum():,} of {len(code):,} "
            f"| {targets[code, 0].mean():+.2f} / {targets[~code, 0].mean():+.2f} "
            f"| {targets[code, 1].mean():+.2f} / {targets[~code, 1].mean():+.2f} "
            f"| {_pair(b, code)} / {_pair(b, ~code)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
