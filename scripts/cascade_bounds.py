"""How cheaply can anything reach GPT-4's accuracy on the RouterBench rows? (issue 5)

Issue 5 asks for GPT-4's accuracy at <= 25% of GPT-4's cost on held-out RouterBench rows.
This script measures what the signals a router or cascade can have would allow, on the
same split as `make train-quality` (`scripts/quality_data.py`), held-out and training
rows reported apart. Every figure is "cost to reach GPT-4's accuracy on those rows, as a
share of GPT-4's cost" (None: not reached at any cost); each is an upper bound on what a
real policy of that family achieves, because the choices are made *with hindsight* on the
very rows being scored:

1. `perfect verifier`: ask one free-tier model, pay it, and escalate to GPT-4 exactly the
   rows where its answer is wrong and GPT-4's is right (the verifier knows the labels).
2. `task known, route`: every row of a file (arc-challenge, mbpp, winogrande) goes to the
   model that is best for that file on these rows (a Lagrangian sweep over cost).
3. `task + agreement, cascade`: ask a tier of 1-3 cheap models (all paid), group rows by
   file and by which tier answers agree with the first one's (the choice letter, or the
   code), and send each group to the model best for that group on these rows.

4. `verifier of AUC a`: family 1 with an imperfect verifier: its score of the first
   model's answer is (1 if right else 0) + Gaussian noise, the noise set so that the
   score separates right from wrong answers with AUC a (a = Phi(1 / (sigma sqrt 2)));
   the lowest-scored rows escalate first. Mean over 20 seeded draws.

Family 3 is the most a cascade could draw from recorded answers and cross-model agreement
when its thresholds are tuned on the scored rows themselves. Usage:

    .venv/bin/python scripts/cascade_bounds.py [--data ../shared/routing-data] [--max-tier 2]
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import quality_data

from router.quality.answers import answer_key, recorded_text

STRONG = "gpt-4-1106-preview"
PAID_STRONG = ("gpt-4-1106-preview", "claude-v1", "claude-v2")


@dataclass(frozen=True)
class Row:
    task: str
    quality: dict[str, float]
    cost: dict[str, float]
    key: dict[str, object]


def rows(parts: Sequence[quality_data.Part], held_out: bool) -> list[Row]:
    out = []
    for part in parts:
        s = quality_data.split(part, held_out)
        task = part.group.split("/", 1)[1].split("_", 1)[0]
        for i, prompt in enumerate(s.prompts):
            keys = {
                m: answer_key(prompt, recorded_text(s.responses[m][i]).strip()) for m in s.models
            }
            out.append(
                Row(
                    task,
                    {m: s.quality[m][i] for m in s.models},
                    {m: s.cost[m][i] for m in s.models},
                    keys,
                )
            )
    return out


def best_grouped(
    data: Sequence[Row], groups: dict[tuple[object, ...], list[Row]], paid: Sequence[str]
) -> float | None:
    """Min cost (share of GPT-4's) at GPT-4's accuracy when each group picks one model
    (models in `paid` are already paid for on every row), with hindsight: the
    non-decreasing hull of the Lagrangian sweep, interpolated at GPT-4's accuracy."""
    n = len(data)
    models = list(data[0].quality)
    goal = math.fsum(r.quality[STRONG] for r in data) / n
    strong_cost = math.fsum(r.cost[STRONG] for r in data) / n
    base = math.fsum(r.cost[m] for r in data for m in paid) / n
    table = [
        [
            (
                math.fsum(r.quality[m] for r in g) / n,
                0.0 if m in paid else math.fsum(r.cost[m] for r in g) / n,
            )
            for m in models
        ]
        for g in groups.values()
    ]
    slopes = sorted(
        {
            (qa - qb) / (ca - cb)
            for options in table
            for (qa, ca), (qb, cb) in itertools.combinations(options, 2)
            if ca != cb and (qa - qb) / (ca - cb) > 0
        }
    )
    knobs = [math.inf, *reversed(slopes), 0.0]  # from "cheapest" to "best quality"
    points = []
    for lam in knobs:
        q = c = 0.0
        for options in table:
            if math.isinf(lam):
                qa, ca = min(options, key=lambda o: (o[1], -o[0]))
            else:
                qa, ca = max(options, key=lambda o: (o[0] - lam * o[1], -o[1]))
            q, c = q + qa, c + ca
        points.append((base + c, q))
    points.sort()
    for (c0, q0), (c1, q1) in itertools.pairwise(points):
        if q0 >= goal - 1e-12:
            return c0 / strong_cost
        if q1 >= goal - 1e-12:
            return (c0 + (c1 - c0) * (goal - q0) / (q1 - q0)) / strong_cost
    return points[-1][0] / strong_cost if points and points[-1][1] >= goal - 1e-12 else None


def escalate(data: Sequence[Row], first: str, order: Sequence[Row]) -> float | None:
    """Ask `first` on every row, then escalate rows to GPT-4 in `order` until GPT-4's
    accuracy is reached: the cost as a share of GPT-4's, None if it never is."""
    n = len(data)
    goal = math.fsum(r.quality[STRONG] for r in data)
    strong_cost = math.fsum(r.cost[STRONG] for r in data) / n
    q = math.fsum(r.quality[first] for r in data)
    c = math.fsum(r.cost[first] for r in data)
    for r in order:
        if q >= goal - 1e-12:
            break
        q += r.quality[STRONG] - r.quality[first]
        c += r.cost[STRONG]
    return c / n / strong_cost if q >= goal - 1e-12 else None


def perfect_verifier(data: Sequence[Row], first: str) -> float | None:
    """Ask `first`, escalate its wrong answers where GPT-4 is right, cheapest-GPT-4 first."""
    gains = sorted(
        (r for r in data if r.quality[STRONG] > r.quality[first]), key=lambda r: r.cost[STRONG]
    )
    return escalate(data, first, gains)


def noisy_verifier(data: Sequence[Row], first: str, auc: float, draws: int = 20) -> float | None:
    """Mean over `draws` seeded draws of the cost share at GPT-4's accuracy when rows
    escalate by a noisy score of `first`'s answer (see family 4); None if a draw never
    reaches it (it always does: escalating every row reaches GPT-4's accuracy or more)."""
    sigma = 1.0 / (math.sqrt(2.0) * NormalDist().inv_cdf(auc))
    shares = []
    for seed in range(draws):
        rng = random.Random(seed)
        share = escalate(
            data, first, sorted(data, key=lambda r: r.quality[first] + rng.gauss(0.0, sigma))
        )
        if share is None:
            return None
        shares.append(share)
    return math.fsum(shares) / len(shares)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=quality_data.DEFAULT_ROOT)
    ap.add_argument("--max-tier", type=int, default=2, help="largest tier tried (1-3)")
    args = ap.parse_args(argv)
    parts = [p for p in quality_data.load(args.data) if p.group.startswith("routerbench/")]
    splits = {"held-out": rows(parts, True), "training": rows(parts, False)}
    models = list(splits["held-out"][0].quality)
    cheap = [m for m in models if m not in PAID_STRONG]
    first = max(cheap, key=lambda m: sum(r.quality[m] for r in splits["training"]))

    def fmt(v: float | None) -> str:
        return "never" if v is None else f"{v:.1%}"

    for name, data in splits.items():
        n = len(data)
        print(f"== {name} rows: {n}; GPT-4 accuracy {sum(r.quality[STRONG] for r in data) / n:.3f}")
        print(f"  perfect verifier on {first}: {fmt(perfect_verifier(data, first))}")
        noisy = ", ".join(
            f"AUC {a:g}: {fmt(noisy_verifier(data, first, a))}" for a in (0.7, 0.8, 0.9, 0.95, 0.99)
        )
        print(f"  verifier of {first} with ({noisy})")
        by_task: dict[tuple[object, ...], list[Row]] = {}
        for r in data:
            by_task.setdefault((r.task,), []).append(r)
        print(f"  task known, route: {fmt(best_grouped(data, by_task, ()))}")
        results = []
        others = [m for m in cheap if m != first]
        for size in range(1, args.max_tier + 1):
            for rest in itertools.combinations(others, size - 1):
                tier = (first, *rest)
                groups: dict[tuple[object, ...], list[Row]] = {}
                for r in data:
                    pattern = tuple(r.key[m] == r.key[first] for m in rest)
                    groups.setdefault((r.task, *pattern), []).append(r)
                results.append((best_grouped(data, groups, tier), tier))
        reached = [(v, t) for v, t in results if v is not None]
        if reached:
            v, tier = min(reached)
            print(
                f"  task + agreement, cascade (best of {len(results)} tiers): {fmt(v)} "
                f"with {' + '.join(tier)}"
            )
        else:
            print(f"  task + agreement, cascade ({len(results)} tiers): never")
    print("(issue 5's target: <= 25.0%; every figure above is chosen with hindsight)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
