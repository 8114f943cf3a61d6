"""Offline cascade evaluation on a labelled sample with recorded answers (`--mode cascade`).

The cascade (issue 5, "try free first, verify, escalate"), replayed row by row from the
`<model>|model_response` and `<model>|total_cost` columns:

1. ask the free tier: the best free model and `agree` more free models (their answers are
   the agreement the scorer checks); every tier model's cost is paid on every row;
2. score each tier answer with the `AnswerScorer` (the others as agreement) and keep the
   best-scored one (ties: the earlier in the tier);
3. if that score is below the threshold, escalate to the strong model and pay its cost
   too; the row's quality is then the strong model's, else the kept answer's model's.

`cascade_curve` sweeps the threshold over every distinct score (exact: each is one point),
from "escalate every row" to "accept every row". `combined_curve` adds the quality
predictor (route, then verify): a plan sends some rows directly to a model (the strong
one where the predictor expects the free model to fail; the routed one where the route
picks a model outside the tier) and cascades the rest; the curve is the non-decreasing
hull over the plans and thresholds, the plain route included.

`router.quality.cascade_report` chooses the free tier and writes metrics.json's
`cascade` block.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from router.quality._checks import _row_chain
from router.quality.answers import AnswerScorer, recorded_text
from router.quality.data import RESPONSE_SUFFIX, LabelledSample
from router.quality.frontier import non_decreasing_hull
from router.quality.metrics import Point
from router.quality.result import EvalInputError

__all__ = [
    "CascadeRun",
    "Step",
    "cascade_curve",
    "combined_curve",
    "plan_curve",
    "run_cascade",
]

Progress = Callable[[int, int], None]
_MAX_KNOB_SETTINGS = 64  # per knob of the combined scheme (quantiles beyond)
_Table = tuple[list[list[float]], list[list[float]]]  # (quality rows, cost rows)


@dataclass(frozen=True)
class CascadeRun:
    """Per row: the kept free answer's score, its model's quality, the tier's cost, and the
    strong model's quality and cost (all tables row-aligned with the sample)."""

    tier: tuple[str, ...]
    strong: str
    scores: list[float]
    kept: list[str]
    free_quality: list[float]
    tier_cost: list[float]
    strong_quality: list[float]
    strong_cost: list[float]

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class Step:
    """One threshold of the cascade: rows scoring >= `threshold` keep the free answer."""

    threshold: float
    point: Point
    escalation_rate: float


def run_cascade(
    sample: LabelledSample,
    tier: Sequence[str],
    strong: str,
    scorer: AnswerScorer,
    progress: Progress | None = None,
) -> CascadeRun:
    """Score every row's tier answers (see the module docstring)."""
    lacking = [m for m in tier if m not in sample.responses]
    if lacking:
        files = ", ".join(sample.sources) or "the data"
        columns = ", ".join(f"`{m}|{RESPONSE_SUFFIX}`" for m in lacking)
        raise EvalInputError("data", f"{files}: the cascade needs the answers {columns}")
    costless = [m for m in (*tier, strong) if m not in sample.cost]
    if costless:
        raise EvalInputError("data", f"the cascade needs `<model>|total_cost` for {costless}")
    n = len(sample)
    scores: list[float] = []
    kept: list[str] = []
    for i, prompt in enumerate(sample.prompts):
        answers = [recorded_text(sample.responses[m][i]) for m in tier]
        best, best_model = -1.0, tier[0]
        for k, model in enumerate(tier):
            score = scorer.score(prompt, answers[k], answers[:k] + answers[k + 1 :])
            if score > best:
                best, best_model = score, model
        scores.append(best)
        kept.append(best_model)
        if progress is not None and ((i + 1) % 64 == 0 or i + 1 == n):
            progress(i + 1, n)
    return CascadeRun(
        tier=tuple(tier),
        strong=strong,
        scores=scores,
        kept=kept,
        free_quality=[sample.quality[m][i] for i, m in enumerate(kept)],
        tier_cost=[math.fsum(sample.cost[m][i] for m in tier) for i in range(n)],
        strong_quality=list(sample.quality[strong]),
        strong_cost=list(sample.cost[strong]),
    )


def cascade_curve(run: CascadeRun, rows: Sequence[int] | None = None) -> list[Step]:
    """Every threshold's (cost, quality), from escalating all rows (threshold +inf) to
    accepting all (the lowest score); rows with equal scores switch together.

    `rows` restricts the cascade to those rows; the others are not counted (the combined
    scheme adds them). Means are over the rows counted.
    """
    chosen = range(len(run)) if rows is None else rows
    order = sorted(chosen, key=lambda i: -run.scores[i])
    n = len(order)
    if n == 0:
        return []
    cost = math.fsum(run.tier_cost[i] + run.strong_cost[i] for i in order)
    quality = math.fsum(run.strong_quality[i] for i in order)
    steps = [Step(math.inf, Point(cost / n, quality / n), 1.0)]
    accepted = 0
    k = 0
    while k < n:
        threshold = run.scores[order[k]]
        while k < n and run.scores[order[k]] == threshold:
            i = order[k]
            cost -= run.strong_cost[i]
            quality += run.free_quality[i] - run.strong_quality[i]
            accepted += 1
            k += 1
        steps.append(Step(threshold, Point(cost / n, quality / n), 1 - accepted / n))
    return steps


def plan_curve(run: CascadeRun, plan: Sequence[int | None], table: _Table) -> list[Point]:
    """One routing plan's points: row i goes to column `plan[i]` of `table` (quality, cost)
    directly, or, where `plan[i]` is None, through the cascade, its threshold swept."""
    n = len(run)
    direct = [i for i in range(n) if plan[i] is not None]
    rest = [i for i in range(n) if plan[i] is None]
    quality, cost = table
    d_cost = math.fsum(cost[i][j] for i in direct if (j := plan[i]) is not None)
    d_quality = math.fsum(quality[i][j] for i in direct if (j := plan[i]) is not None)
    if not rest:
        return [Point(d_cost / n, d_quality / n)]
    share = len(rest) / n
    return [
        Point(d_cost / n + share * st.point.cost, d_quality / n + share * st.point.quality)
        for st in cascade_curve(run, rest)
    ]


def combined_curve(
    run: CascadeRun,
    sample: LabelledSample,
    predicted: Sequence[Sequence[float]],
    route: Sequence[Point] = (),
) -> list[Point]:
    """Route, then verify: the hull of two families of plans, each with the cascade's
    threshold swept on the rows it cascades.

    - by the strong model's predicted edge: rows with predicted[strong] - predicted[first]
      above t go to the strong model directly, the rest cascade (t: every distinct edge,
      at most 64 quantiles, and -inf);
    - by the route: at each of up to 64 settings of the predictor's cost knob lambda (the
      quantiles of its breakpoints, and both ends), a row routed to a tier model cascades,
      any other goes to its routed model unverified; the plain route's point too, and
      every point of `route` (the plain route's exact curve, when the caller has it).
    """
    models = sample.models
    table = (sample.quality_rows(), sample.cost_rows())
    s, f = models.index(run.strong), models.index(run.tier[0])
    tier = {models.index(m) for m in run.tier}
    edge = [row[s] - row[f] for row in predicted]
    plans: list[list[int | None]] = [
        [s if e > t else None for e in edge] for t in [-math.inf, *_quantiles(set(edge))]
    ]
    believed = [sample.mean_cost(m) for m in models]
    slopes: set[float] = set()
    for row in predicted:
        chain = _row_chain(row, believed)
        for a, b in itertools.pairwise(chain):
            slopes.add((row[b] - row[a]) / (believed[b] - believed[a]))
    # Knob settings strictly between breakpoints (at a breakpoint, ties pick one side).
    ordered = sorted(slopes)
    between = [(a + b) / 2 for a, b in itertools.pairwise(ordered)]
    ends = [ordered[0] / 2, ordered[-1] * 2] if ordered else []
    points: list[Point] = list(route)
    for lam in [0.0, *_quantiles({*between, *ends}), math.inf]:
        routed = [_argmax(row, believed, lam) for row in predicted]
        plans.append([None if j in tier else j for j in routed])
        points.append(plan_curve(run, routed, table)[0])  # the plain route, unverified
    for plan in plans:
        points += plan_curve(run, plan, table)
    return non_decreasing_hull(points)


def _quantiles(values: set[float]) -> list[float]:
    ordered = sorted(values)
    if len(ordered) <= _MAX_KNOB_SETTINGS:
        return ordered
    last = len(ordered) - 1
    picks = {round(k * last / (_MAX_KNOB_SETTINGS - 1)) for k in range(_MAX_KNOB_SETTINGS)}
    return [ordered[k] for k in sorted(picks)]


def _argmax(row: Sequence[float], believed: Sequence[float], lam: float) -> int:
    """The route's choice at knob lam (ties: the first column; lam inf: the cheapest)."""
    if math.isinf(lam):
        return min(range(len(row)), key=lambda j: (believed[j], -row[j]))
    return max(range(len(row)), key=lambda j: (row[j] - lam * believed[j] if lam else row[j], -j))
