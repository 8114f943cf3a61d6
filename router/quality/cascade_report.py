"""metrics.json's `cascade` block (`router eval --mode cascade`): which free models the
cascade asks, and the cascade's and the route-then-verify scheme's figures beside the
plain route, the random router and the oracle (the simulation is `router.quality.cascade`).

The free tier, unless given: models whose family has open weights (`router.decision._catalog`),
else those whose mean cost is at most a tenth of the strong model's, else the cheapest;
ordered by the predictor's mean predicted quality over the sample (ties: cheaper first);
the first `agree + 1` of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from router.decision import family_of
from router.quality.answers import AnswerScorer
from router.quality.cascade import cascade_curve, combined_curve, run_cascade
from router.quality.data import LabelledSample
from router.quality.frontier import aiq, cost_at_quality, non_decreasing_hull, quality_at_cost
from router.quality.metrics import Point
from router.quality.result import EvalInputError

__all__ = ["cascade_metrics", "check_cascade_input", "free_tier"]

Progress = Callable[[int, int], None]


def check_cascade_input(sample: LabelledSample) -> None:
    """The cascade replays recorded answers and charges real costs: both columns needed."""
    files = ", ".join(sample.sources) or "the data"
    if not sample.responses:
        raise EvalInputError(
            "data",
            f"{files}: --mode cascade needs the recorded answers, a `<model>|model_response` "
            "column per free model (and for the others, to choose them); the file has none",
        )
    if lacking := [m for m in sample.models if m not in sample.cost]:
        raise EvalInputError(
            "data", f"{files}: --mode cascade needs a `<model>|total_cost` column for {lacking}"
        )


def free_tier(
    sample: LabelledSample,
    predicted: Sequence[Sequence[float]],
    strong: str,
    *,
    free: Sequence[str] | None = None,
    agree: int = 1,
) -> tuple[tuple[str, ...], str]:
    """(the tier, asked in this order, and why these models): see the module docstring."""
    if agree < 0:
        raise EvalInputError("agree", f"must be >= 0, not {agree}")
    if free:
        unknown = [m for m in free if m not in sample.models]
        if unknown:
            raise EvalInputError("free", f"no model {unknown} in the file")
        if strong in free:
            raise EvalInputError("free", f"{strong!r} is the strong model: it cannot be free")
        return tuple(dict.fromkeys(free)), "given"
    others = [m for m in sample.models if m != strong]
    candidates = [m for m in others if (f := family_of(m)) is not None and f.weights == "open"]
    why = "open-weights families"
    if not candidates:
        ceiling = sample.mean_cost(strong) / 10
        candidates = [m for m in others if sample.mean_cost(m) <= ceiling]
        why = "mean cost at most a tenth of the strong model's"
    if not candidates:
        candidates, why = [min(others, key=sample.mean_cost)], "the cheapest model"
    n = len(sample)

    def mean_predicted(m: str) -> float:
        j = sample.models.index(m)
        return math.fsum(row[j] for row in predicted) / n

    ordered = sorted(candidates, key=lambda m: (-mean_predicted(m), sample.mean_cost(m)))
    tier = tuple(ordered[: agree + 1])
    return tier, f"{why}, by mean predicted quality ({len(tier)} of {len(candidates)})"


def cascade_metrics(
    sample: LabelledSample,
    predicted: Sequence[Sequence[float]],
    strong: str,
    baselines: dict[str, list[Point]],
    scorer: AnswerScorer,
    *,
    free: Sequence[str] | None = None,
    agree: int = 1,
    progress: Progress | None = None,
) -> tuple[dict[str, object], dict[str, list[Point]]]:
    """metrics.json's `cascade` block and the curves to draw ("cascade", "route+verify").

    `baselines` are the many-model curves {"route", "random", "oracle"} on the same rows:
    every figure is given for the cascade, the combined scheme and each of them.
    """
    tier, why = free_tier(sample, predicted, strong, free=free, agree=agree)
    run = run_cascade(sample, tier, strong, scorer, progress)
    steps = cascade_curve(run)
    combined = combined_curve(run, sample, predicted, baselines.get("route", ()))
    curves = {"cascade": [step.point for step in steps], "route+verify": combined}
    named = {**curves, **baselines}
    target, strong_cost = sample.mean_quality(strong), sample.mean_cost(strong)
    best = max(sample.models, key=lambda m: (sample.mean_quality(m), -sample.mean_cost(m)))
    goal = sample.mean_quality(best)
    at_goal = {k: cost_at_quality(c, goal) for k, c in named.items()}
    max_cost = max(non_decreasing_hull(c)[-1].cost for c in named.values())
    # The ceiling of verification: the same tier and kept answers, scored by a verifier
    # that knows which kept answers are right (the wrong ones escalate first).
    knowing = dataclasses.replace(run, scores=list(run.free_quality))
    ceiling = cost_at_quality([st.point for st in cascade_curve(knowing)], goal)
    reaching = [st for st in steps if st.point.quality >= goal - 1e-12]
    pick = (
        min(reaching, key=lambda st: st.point.cost)
        if reaching
        else max(steps, key=lambda st: (st.point.quality, -st.point.cost))
    )
    return {
        "tier": list(tier),
        "tier_chosen": why,
        "strong": strong,
        "scorer": repr(scorer),
        "policy": (
            "ask every tier model (pay each); keep the tier answer the scorer rates highest "
            "(the other tier answers as agreement); escalate to the strong model (pay it "
            "too) when that score is below the threshold"
        ),
        "combined": (
            "route+verify: rows with predicted[strong] - predicted[tier[0]] above a second "
            "threshold go to the strong model directly; both thresholds swept, hull"
        ),
        "cost_unit": "mean USD per query",
        "best_single": {"model": best, "quality": goal, "cost": sample.mean_cost(best)},
        "strong_single": {"model": strong, "quality": target, "cost": strong_cost},
        "cost_at_best_single_quality": at_goal,
        "cost_at_best_single_quality_share": {
            k: None if v is None else v / sample.mean_cost(best) for k, v in at_goal.items()
        },
        "perfect_verifier": {
            "meaning": (
                "the same tier and kept answers, escalated by a verifier that knows which "
                "kept answers are right: the ceiling of better verification"
            ),
            "cost_at_best_single_quality": ceiling,
            "cost_at_best_single_quality_share": (
                None if ceiling is None else ceiling / sample.mean_cost(best)
            ),
        },
        "operating_point": {
            "threshold": pick.threshold if math.isfinite(pick.threshold) else None,
            "cost": pick.point.cost,
            "quality": pick.point.quality,
            "escalation_rate": pick.escalation_rate,
            "reaches_best_single": bool(reaching),
        },
        "quality_at_share_of_strong_cost": {
            f"{share:.0%}": {k: quality_at_cost(c, share * strong_cost) for k, c in named.items()}
            for share in (0.25, 0.5)
        },
        "aiq": {k: _aiq(c, max_cost) for k, c in named.items()},
        "aiq_max_cost": max_cost,
        "quality_max": {k: max(p.quality for p in c) for k, c in named.items()},
        "curve": [
            [None if math.isinf(st.threshold) else st.threshold, *st.point, st.escalation_rate]
            for st in steps
        ],
    }, curves


def _aiq(curve: list[Point], max_cost: float) -> float | None:
    try:
        return aiq(curve, max_cost=max_cost)
    except ValueError:  # every operating point at one cost
        return None
