"""Set `quality_target` from a goal on a labelled sample.

`quality_target` is the share of the best eligible model's predicted quality a cheaper
model must reach to be chosen (the `free-first` objective). A number like 0.87 means
little to whoever owns the budget; a goal does:

- `max_paid_share=0.2`: "at most 20% of requests to paid models": the largest target
  whose routing sends at most that share of the sample's prompts to a paid model;
- `keep_quality=0.95`: "keep 95% of the strong model's quality": the smallest target
  whose routing reaches 95% of the strong model's mean quality on the sample, measured
  with the sample's own labels (RouteLLM's threshold calibration, generalised from one
  strong/weak pair to any set of models).

The routing is simulated as the planner's `free-first` objective does it when the quality
bar decides every request (`paid_share = 1.0`; under the default `paid_share` the bar
only orders the requests ranked worth paying for), with the predictor's per-prompt
qualities: among the models whose predicted quality is at least
target x the best, the cheapest (free models cost 0; paid ones their mean
`|total_cost` in the sample, else 1). Free models are those named in `free`, by default
those whose family (`families.toml`) has open weights.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from router.decision import family_of
from router.quality.data import LabelledSample
from router.quality.predictor import Predictor

__all__ = ["Tuned", "open_weights", "simulate", "tune_target"]

_EPS = 1e-12


@dataclass(frozen=True)
class Tuned:
    """The target chosen for a goal, and what it does on the sample."""

    quality_target: float
    goal: str
    paid_share: float
    quality: float
    strong: str
    strong_quality: float
    free: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "quality_target": round(self.quality_target, 4),
            "goal": self.goal,
            "paid_share_on_sample": round(self.paid_share, 4),
            "quality_on_sample": round(self.quality, 4),
            "strong": self.strong,
            "strong_quality_on_sample": round(self.strong_quality, 4),
            "free_models": list(self.free),
        }


def open_weights(models: Sequence[str]) -> tuple[str, ...]:
    """The models whose family in `families.toml` has open weights."""
    out = []
    for m in models:
        family = family_of(m)
        if family is not None and family.weights == "open":
            out.append(m)
    return tuple(out)


def simulate(
    predicted: Sequence[Sequence[float]],
    costs: Sequence[float],
    target: float,
) -> list[int]:
    """The model index the free-first objective picks for each prompt at `target`."""
    picks = []
    for row in predicted:
        bar = target * max(row) - _EPS
        picks.append(
            min(
                (j for j, q in enumerate(row) if q >= bar),
                key=lambda j: (costs[j], -row[j], j),
            )
        )
    return picks


def tune_target(
    predictor: Predictor,
    sample: LabelledSample,
    *,
    max_paid_share: float | None = None,
    keep_quality: float | None = None,
    strong: str | None = None,
    free: Collection[str] | None = None,
) -> Tuned:
    """The `quality_target` that meets one goal on `sample` (see the module docstring)."""
    if (max_paid_share is None) == (keep_quality is None):
        raise ValueError("give exactly one goal: max_paid_share or keep_quality")
    goal_value = max_paid_share if max_paid_share is not None else keep_quality
    assert goal_value is not None
    if not 0 <= goal_value <= 1:
        raise ValueError(f"a goal is a share in [0, 1], not {goal_value!r}")
    models = list(sample.models)
    free_set = tuple(free) if free is not None else open_weights(models)
    if unknown := [m for m in free_set if m not in models]:
        raise ValueError(f"free models {unknown} are not columns of the sample {models}")
    paid = [m not in free_set for m in models]
    costs = [
        (sample.mean_cost(m) if m in sample.cost else 1.0) if p else 0.0
        for m, p in zip(models, paid, strict=True)
    ]
    predicted = predictor.predict(sample.prompts, models)
    labels = sample.quality_rows(models)
    strong = strong or max(models, key=lambda m: (sample.mean_quality(m), m))
    if strong not in models:
        raise ValueError(f"strong model {strong!r} is not a column of the sample {models}")
    strong_q = sample.mean_quality(strong)
    n = len(sample)

    def outcome(t: float) -> tuple[float, float]:
        picks = simulate(predicted, costs, t)
        share = sum(paid[j] for j in picks) / n
        quality = math.fsum(labels[i][j] for i, j in enumerate(picks)) / n
        return share, quality

    # The routing only changes where target crosses some q / max(row): try those.
    ratios = sorted(
        {min(1.0, q / max(row)) for row in predicted for q in row if max(row) > 0 and q > 0}
    )
    if max_paid_share is not None:
        goal = f"at most {max_paid_share:.0%} of requests to paid models"
        lo, hi = 0, len(ratios) - 1  # paid share never falls as the target rises
        best = ratios[0]
        while lo <= hi:
            mid = (lo + hi) // 2
            if outcome(ratios[mid])[0] <= max_paid_share + _EPS:
                best, lo = ratios[mid], mid + 1
            else:
                hi = mid - 1
        chosen = best
    else:
        assert keep_quality is not None
        goal = f"keep {keep_quality:.0%} of {strong}'s quality"
        need = keep_quality * strong_q
        step = max(1, len(ratios) // 400)
        grid = [*ratios[::step], ratios[-1]]
        chosen = next((t for t in grid if outcome(t)[1] >= need - _EPS), ratios[-1])
    share, quality = outcome(chosen)
    return Tuned(max(chosen, 1e-4), goal, share, quality, strong, strong_q, free_set)
