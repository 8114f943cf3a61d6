"""`evaluate`: how well a `Predictor` routes a labelled sample, beside the random router and
the oracle. It returns an `EvalResult` (`router.quality.result`), whose `write` puts
`metrics.json`, `predictions.csv` and `curve.png` into a folder.

Two views, both from the same predictions (`predicted[i][j]`: prompt i, model j):

- **The strong/weak pair** (RouteLLM): the router sends a prompt to the strong model when
  its score, predicted[strong] - predicted[weak], clears a threshold; the cost is the
  share of calls to the strong model. APGR, CPT(50%) and CPT(80%) as the threshold sweeps
  (every distinct score by default, or RouteLLM's `num_thresholds` quantile edges).
  Defaults: strong = the best single model by mean quality (ties: the cheaper, then file
  order); weak = the cheapest model by mean cost among those with a cost column, else the
  worst by mean quality.
- **All models with costs** (RouterBench): per prompt, argmax over models of
  predicted - lambda * mean cost, swept over every lambda (`cost_quality_curve`); the
  cost is the mean USD per query actually charged. The cost to reach the best single
  model's quality and the quality at the cheapest model's cost are read off the
  non-decreasing convex hull (two knob settings mixed at random reach every point
  between them); AIQ is RouterBench's `calc_AIQ`, with the largest last hull cost of the
  three curves as the common maximum. Skipped, with a note, unless every model has a
  `<model>|total_cost` column.

`mode="cascade"` adds metrics.json's `cascade` block (`router.quality.cascade_report`):
the cascade replayed from the recorded answers (free tier first, verified by the answer
scorer, escalated to the strong model) and the route-then-verify scheme, beside the
route, random and oracle curves on the same cost axis.

Every figure is a triple {"router", "random", "oracle"}: the random router (pair: the
straight line from weak to strong, APGR 0.5; many models: the hull of the single models,
RouterBench's "Zero router") is the floor, the oracle (who knows the labels) the ceiling.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from router.quality.answers import AnswerScorer, default_answer_scorer
from router.quality.cascade_report import cascade_metrics, check_cascade_input
from router.quality.data import LabelledSample
from router.quality.frontier import (
    aiq,
    cost_at_quality,
    cost_quality_curve,
    non_decreasing_hull,
    oracle_cost_quality_curve,
    quality_at_cost,
    random_mixture_curve,
    single_model_points,
)
from router.quality.metrics import (
    Point,
    apgr,
    cpt,
    oracle_threshold_curve,
    random_threshold_curve,
    threshold_curve,
)
from router.quality.predictor import Predictor
from router.quality.result import Curves, EvalInputError, EvalResult

__all__ = ["Mode", "evaluate"]

Mode = Literal["route", "cascade"]
Progress = Callable[[int, int], None]
SCHEMA = "router-eval/1"
_CHUNK = 64  # prompts per predictor call (and per progress report)


def evaluate(
    sample: LabelledSample,
    predictor: Predictor,
    *,
    strong: str | None = None,
    weak: str | None = None,
    mode: Mode = "route",
    progress: Progress | None = None,
    num_thresholds: int | None = None,
    scorer: AnswerScorer | None = None,
    free: Sequence[str] | None = None,
    agree: int = 1,
    verify_progress: Progress | None = None,
) -> EvalResult:
    """Predict every prompt of `sample` for every model, then score the routing (see the module
    docstring). `progress(done, total)` is called after each batch of predictions.

    `mode="cascade"` also replays the cascade from the recorded answers (`router.quality.
    cascade`: `scorer` verifies, default the shipped one; `free` the tier, else chosen;
    `agree` more free answers for agreement; `verify_progress` as `progress`) and adds
    metrics.json's `cascade` block and its curves."""
    if mode == "cascade":
        check_cascade_input(sample)
    elif mode != "route":
        raise EvalInputError("mode", f"must be 'route' or 'cascade', not {mode!r}")
    models = sample.models
    if len(models) < 2:
        raise EvalInputError("data", f"routing needs at least two models; the file has {models}")
    strong_why, weak_why = "given", "given"
    strong = _model_named(sample, strong, "strong") if strong else None
    weak = _model_named(sample, weak, "weak") if weak else None
    if strong is not None and strong == weak:
        raise EvalInputError("weak", f"is the strong model too ({strong!r}); pick another")
    if strong is None:
        strong, strong_why = _best(sample, exclude=weak), "best single model by mean quality"
    if weak is None:
        weak, weak_why = _weakest(sample, exclude=strong)
    predictions = _predict_all(predictor, sample, progress)
    notes: list[str] = []
    pair: dict[str, Any] = {"strong": strong, "weak": weak}
    pair["chosen"] = {"strong": strong_why, "weak": weak_why}
    pair_curves = _pair_metrics(sample, predictions, pair, num_thresholds, notes)
    many, many_curves = None, None
    if lacking := [m for m in models if m not in sample.cost]:
        notes.append(
            f"no `<model>|total_cost` column for {lacking}: the cost metrics over all models "
            "(cost at the best single model's quality, AIQ, quality at the cheapest model's "
            "cost) are skipped; the pair's cost is RouteLLM's share of calls to the strong model"
        )
    else:
        many, many_curves = _many_metrics(sample, predictions, notes)
    cascade = None
    if mode == "cascade" and many_curves is not None:
        baselines = {
            "route": many_curves.router,
            "random": many_curves.random,
            "oracle": many_curves.oracle,
        }
        cascade, extra = cascade_metrics(
            sample,
            predictions,
            strong,
            baselines,
            scorer or default_answer_scorer(),
            free=free,
            agree=agree,
            progress=verify_progress,
        )
        many_curves = replace(many_curves, extra=extra)
    learned = set(predictor.models)
    metrics: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": mode,
        "data": {
            "files": list(sample.sources),
            "rows": len(sample),
            "skipped_lines": [list(item) for item in sample.dropped_lines],
            "models": list(models),
            "cost_columns": sorted(sample.cost),
        },
        "predictor": {
            "name": repr(predictor),
            "models_learned": [m for m in models if m in learned],
            "models_on_prior": [m for m in models if m not in learned],
        },
        "single_models": {m: _single(sample, m) for m in models},
        "pair": pair,
        "many_models": many,
        "notes": notes,
    }
    if mode == "cascade":
        metrics["cascade"] = cascade
    return EvalResult(metrics, models, predictions, pair_curves, many_curves)


def _single(sample: LabelledSample, model: str) -> dict[str, float | None]:
    cost = sample.mean_cost(model) if model in sample.cost else None
    return {"quality": sample.mean_quality(model), "cost": cost}


def _predict_all(
    predictor: Predictor, sample: LabelledSample, progress: Progress | None
) -> list[list[float]]:
    n, models = len(sample), list(sample.models)
    out: list[list[float]] = []
    if progress is not None:
        progress(0, n)
    for start in range(0, n, _CHUNK):
        prompts = sample.prompts[start : start + _CHUNK]
        rows = predictor.predict(prompts, models)
        if len(rows) != len(prompts):
            raise ValueError(f"{predictor!r} returned {len(rows)} rows for {len(prompts)} prompts")
        for i, row in enumerate(rows, start):
            values = [float(v) for v in row]
            if len(values) != len(models) or not all(0 <= v <= 1 for v in values):  # NaN too
                expected = f"expected {len(models)} numbers in [0, 1]"
                raise ValueError(f"{predictor!r}: prompt {i}: {expected}, got {row!r}")
            out.append(values)
        if progress is not None:
            progress(len(out), n)
    return out


def _pair_metrics(
    sample: LabelledSample,
    predicted: list[list[float]],
    pair: dict[str, Any],
    num_thresholds: int | None,
    notes: list[str],
) -> Curves | None:
    """Fill `pair` (which names the strong and weak models) with the pair's metrics."""
    strong, weak = pair["strong"], pair["weak"]
    s, w = sample.models.index(strong), sample.models.index(weak)
    q_s, q_w = sample.mean_quality(strong), sample.mean_quality(weak)
    pair |= {
        "cost_axis": "share of calls to the strong model (RouteLLM)",
        "score": "predicted[strong] - predicted[weak]",
        "thresholds": "every distinct score" if num_thresholds is None else num_thresholds,
        "quality_strong": q_s,
        "quality_weak": q_w,
        "apgr": None,
        "cpt_50": None,
        "cpt_80": None,
    }
    if q_s == q_w:
        notes.append(f"{strong} and {weak} have the same mean quality: APGR and CPT undefined")
        return None
    if q_s < q_w:
        notes.append(f"the strong model {strong} scores below the weak one {weak}")
    scores = [row[s] - row[w] for row in predicted]
    s_q, w_q = sample.quality[strong], sample.quality[weak]
    curves = Curves(
        x_label=f"share of calls to {strong}",
        router=threshold_curve(scores, s_q, w_q, num_thresholds=num_thresholds),
        random=random_threshold_curve(q_w, q_s),
        oracle=oracle_threshold_curve(s_q, w_q),
        singles={weak: Point(0.0, q_w), strong: Point(1.0, q_s)},
        levels={m: sample.mean_quality(m) for m in sample.models if m not in (strong, weak)},
    )
    named = {"router": curves.router, "random": curves.random, "oracle": curves.oracle}
    pair["apgr"] = {k: apgr(c, q_w, q_s) for k, c in named.items()}
    for x in (50, 80):
        pair[f"cpt_{x}"] = {k: cpt(c, x / 100, q_w, q_s) for k, c in named.items()}
        if pair[f"cpt_{x}"]["router"] is None:
            notes.append(f"the router never recovers {x}% of the gap: CPT({x}%) is null")
    return curves


def _many_metrics(
    sample: LabelledSample, predicted: list[list[float]], notes: list[str]
) -> tuple[dict[str, Any], Curves]:
    quality, cost = sample.quality_rows(), sample.cost_rows()
    points = single_model_points(quality, cost)
    singles = dict(zip(sample.models, points, strict=True))
    curves = Curves(
        x_label="mean cost per query (USD)",
        router=cost_quality_curve(predicted, quality, cost),
        random=random_mixture_curve(quality, cost),
        oracle=oracle_cost_quality_curve(quality, cost),
        singles=singles,
    )
    named = {"router": curves.router, "random": curves.random, "oracle": curves.oracle}
    best = _best(sample)
    cheapest = min(sample.models, key=lambda m: (singles[m].cost, -singles[m].quality))
    target, budget = singles[best].quality, singles[cheapest].cost
    max_cost = max(non_decreasing_hull(c)[-1].cost for c in named.values())
    at_best = {k: cost_at_quality(c, target) for k, c in named.items()}
    best_cost = singles[best].cost
    share = {
        k: v / best_cost if v is not None and best_cost > 0 else None for k, v in at_best.items()
    }
    aiqs: dict[str, float | None] = {}
    for k, c in named.items():
        try:
            aiqs[k] = aiq(c, max_cost=max_cost)
        except ValueError as error:  # every operating point at one cost
            aiqs[k] = None
            notes.append(f"AIQ of the {k} curve is undefined: {error}")
    if at_best["router"] is None:
        notes.append(f"the router never reaches {best}'s quality: its cost there is null")
    many = {
        "cost_unit": "mean USD per query",
        "knob": "argmax over models of predicted - lambda * mean cost, every lambda",
        "best_single": {"model": best, **singles[best]._asdict()},
        "cheapest_single": {"model": cheapest, **singles[cheapest]._asdict()},
        "cost_at_best_single_quality": at_best,
        "cost_at_best_single_quality_share": share,
        "aiq": aiqs,
        "aiq_max_cost": max_cost,
        "quality_at_cheapest_cost": {k: _quality_at(c, budget) for k, c in named.items()},
        "quality_max": {k: max(p.quality for p in c) for k, c in named.items()},
    }
    return many, curves


def _quality_at(curve: list[Point], budget: float) -> float | None:
    start = non_decreasing_hull(curve)[0].cost
    if budget < start <= budget * (1 + 1e-9):
        # Float noise: the router's cheapest point sums the cheapest model's costs in
        # another order than its mean does.
        budget = start
    return quality_at_cost(curve, budget)


def _best(sample: LabelledSample, exclude: str | None = None) -> str:
    def key(m: str) -> tuple[float, float]:
        return (-sample.mean_quality(m), sample.mean_cost(m) if m in sample.cost else 0.0)

    return min((m for m in sample.models if m != exclude), key=key)


def _weakest(sample: LabelledSample, exclude: str) -> tuple[str, str]:
    costed = [m for m in sample.models if m in sample.cost and m != exclude]
    if costed:
        return min(costed, key=sample.mean_cost), "cheapest model by mean cost"
    others = [m for m in sample.models if m != exclude]
    return min(
        others, key=sample.mean_quality
    ), "worst single model by mean quality: no cost columns"


def _model_named(sample: LabelledSample, name: str, argument: str) -> str:
    if name in sample.models:
        return name

    def bare(text: str) -> str:  # "GPT-4" and "gpt4" both find "gpt-4-1106-preview"
        return "".join(c for c in text.lower() if c.isalnum())

    guesses = [m for m in sample.models if bare(name) and bare(name) in bare(m)]
    guesses += difflib.get_close_matches(name, sample.models, n=1, cutoff=0.5)
    hint = f"; did you mean {guesses[0]!r}?" if guesses else ""
    raise EvalInputError(
        argument, f"no model {name!r} in the file{hint} (models: {', '.join(sample.models)})"
    )
