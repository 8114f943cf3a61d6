"""Cost-quality metrics for many models with costs, as RouterBench defines them (stdlib only).

A curve is a list of `Point(cost, quality)`: `cost` is the mean cost per query in USD,
`quality` the mean quality per prompt (the accuracy for 0/1 labels). The strong/weak
pair's metrics (RouteLLM) are in `router.quality.metrics`.

Many models with costs: RouterBench (Hu et al., "RouterBench: A Benchmark for Multi-LLM
Routing System", 2024, arXiv:2403.12031), code read in withmartian/routerbench:

- `evaluation/AIQ.py`: `get_non_descreasing_convex_hull_of` (the hull) and `calc_AIQ`
  (AIQ);
- `routers/knn_router.py`, `KNNRouter.batch_route_prompts` (the willingness-to-pay knob:
  per prompt, `idxmax` over models of `predicted_quality * willingness_to_pay - cost`).

Every function validates its input and raises `ValueError` with a plain message on
empty, ragged or non-finite input.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

from router.quality._checks import (
    _TOLERANCE,
    Point,
    _all_finite,
    _cross,
    _finite,
    _frontier,
    _table_shape,
    _trapezoid,
)

__all__ = [
    "AiqNormalization",
    "Point",
    "aiq",
    "cost_at_quality",
    "cost_quality_curve",
    "non_decreasing_hull",
    "oracle_choices",
    "oracle_cost_quality_curve",
    "quality_at_cost",
    "random_mixture_curve",
    "single_model_points",
]

AiqNormalization = Literal["max_cost", "cost_range"]


def cost_quality_curve(
    predicted: Sequence[Sequence[float]],
    quality: Sequence[Sequence[float]],
    cost: Sequence[Sequence[float]],
    *,
    lambdas: Sequence[float] | None = None,
    decision_cost: Sequence[float] | None = None,
) -> list[Point]:
    """(mean cost, mean quality) of a predictive router as its cost knob lambda sweeps.

    Rows are prompts, columns models (the same order in all three tables). For a given
    lambda >= 0 the router sends prompt i to argmax_j (predicted[i][j] - lambda *
    decision_cost[j]), ties to the first model in column order (pandas `idxmax`), and is
    charged that model's real `cost[i][j]` and credited its real `quality[i][j]`.
    `decision_cost` is the cost the router believes each model has; by default each
    model's mean of `cost`.

    This is RouterBench's willingness-to-pay router (`KNNRouter.batch_route_prompts`,
    withmartian/routerbench routers/knn_router.py): it maximises
    predicted * willingness_to_pay - cost, the same argmax with lambda = 1 /
    willingness_to_pay (its willingness_to_pay <= 0, "no limit", is lambda = 0). There,
    the believed cost is built from each model's token prices.

    - `lambdas` given: one point per lambda, in that order (a grid sweep: RouterBench
      evaluates each router at a list of willingness_to_pay values).
    - `lambdas=None`: the exact sweep, every distinct routing the knob can produce for
      lambda in (0, infinity), from the cheapest-believed model for every prompt (lambda
      -> infinity) to the best-predicted one (lambda -> 0+, ties to the cheaper). Computed
      from each prompt's breakpoints (the upper convex hull of its (decision cost,
      predicted) options), so no grid can miss a point.
    """
    n, m = _table_shape(predicted=predicted, quality=quality, cost=cost)
    if decision_cost is None:
        believed = [math.fsum(row[j] for row in cost) / n for j in range(m)]
    else:
        if len(decision_cost) != m:
            raise ValueError(f"decision_cost has {len(decision_cost)} values for {m} models")
        _all_finite("decision_cost", decision_cost)
        believed = [float(c) for c in decision_cost]
    if lambdas is None:
        return _frontier(predicted, [believed] * n, quality, cost)
    _all_finite("lambdas", lambdas)
    if any(lam < 0 for lam in lambdas):
        raise ValueError("lambdas must be >= 0")
    points: list[Point] = []
    for lam in lambdas:
        total_cost = 0.0
        total_quality = 0.0
        for p_row, q_row, c_row in zip(predicted, quality, cost, strict=True):
            best = 0
            best_value = p_row[0] - lam * believed[0]
            for j in range(1, m):
                value = p_row[j] - lam * believed[j]
                if value > best_value:
                    best, best_value = j, value
            total_cost += c_row[best]
            total_quality += q_row[best]
        points.append(Point(total_cost / n, total_quality / n))
    return points


def oracle_cost_quality_curve(
    quality: Sequence[Sequence[float]], cost: Sequence[Sequence[float]]
) -> list[Point]:
    """The oracle's curve: the best mean quality reachable at each mean cost, from the labels.

    The last point is RouterBench's oracle: per prompt, the model with the best quality,
    the cheapest among ties, i.e. for 0/1 labels the cheapest model that answers
    correctly (and the cheapest model when none does). The first point sends every prompt
    to its cheapest model. In between, the oracle upgrades prompts in order of quality
    gained per dollar; the result is the exact upper frontier of per-prompt model choices
    (randomising at most one prompt between two models), concave and non-decreasing: no
    router, whatever it knows, can sit above it. It is `cost_quality_curve` with the true
    qualities as predictions and the true per-prompt costs as decision costs.
    """
    _table_shape(quality=quality, cost=cost)
    return _frontier(quality, cost, quality, cost)


def oracle_choices(
    quality: Sequence[Sequence[float]], cost: Sequence[Sequence[float]]
) -> list[int]:
    """Per prompt, the column of RouterBench's oracle model: best quality, cheapest among ties.

    For 0/1 labels that is the cheapest model that answers correctly; when no model does,
    the cheapest model (RouterBench's files say `no_model_correct` there). Exact cost ties
    go to the first column. The mean cost and quality of these choices is the last point
    of `oracle_cost_quality_curve`.

    >>> oracle_choices([[1, 1, 0], [0, 0, 0]], [[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    [1, 2]
    """
    _table_shape(quality=quality, cost=cost)
    choices: list[int] = []
    for q_row, c_row in zip(quality, cost, strict=True):
        best = max(q_row)
        choices.append(min((j for j, q in enumerate(q_row) if q == best), key=lambda j: c_row[j]))
    return choices


def single_model_points(
    quality: Sequence[Sequence[float]], cost: Sequence[Sequence[float]]
) -> list[Point]:
    """(mean cost, mean quality) of each model alone, in column order.

    >>> single_model_points([[1, 0], [0, 0]], [[1.0, 0.5], [3.0, 0.5]])
    [Point(cost=2.0, quality=0.5), Point(cost=0.5, quality=0.0)]
    """
    n, m = _table_shape(quality=quality, cost=cost)
    return [
        Point(math.fsum(row[j] for row in cost) / n, math.fsum(row[j] for row in quality) / n)
        for j in range(m)
    ]


def random_mixture_curve(
    quality: Sequence[Sequence[float]], cost: Sequence[Sequence[float]]
) -> list[Point]:
    """The random baseline for many models: the non-decreasing convex hull of the single models.

    Sending each prompt to model A with probability p and to model B otherwise costs and
    scores, in expectation, the mix of A's and B's points: every point on a segment
    between single models is reachable without looking at the prompt. The best of these
    mixtures is the upper hull of the single-model points, what RouterBench calls the
    "Zero router". A router is worth its keep where it sits above this curve.
    """
    return non_decreasing_hull(single_model_points(quality, cost))


def non_decreasing_hull(points: Sequence[tuple[float, float]]) -> list[Point]:
    """The non-decreasing convex hull of (cost, quality) points (RouterBench, Hu et al. 2024).

    The upper concave envelope of the points, from the cheapest point (the best one among
    equally cheap points) up to the first point of highest quality, where it stops: it is
    non-decreasing in cost and concave, and returns only its vertices, sorted by cost.
    Mixing two operating points at random reaches every point on the segment between
    them, so the hull is what the router can deliver at each cost.

    This is the curve of `get_non_descreasing_convex_hull_of` (withmartian/routerbench
    evaluation/AIQ.py), which evaluates the upper envelope at every input cost and drops
    the points after the maximum: the same piecewise-linear function (it keeps collinear
    points, this drops them). One difference: with several points at the lowest cost it
    starts from whichever its unstable sort puts first; this starts from the best.

    >>> non_decreasing_hull([(1, 0.5), (2, 0.4), (3, 0.9), (4, 0.8), (0.5, 0.5)])
    [Point(cost=0.5, quality=0.5), Point(cost=3.0, quality=0.9)]
    """
    if not points:
        raise ValueError("the hull of no points is undefined: need at least one point")
    best_at_cost: dict[float, float] = {}
    for cost, quality in points:
        _finite("cost", cost)
        _finite("quality", quality)
        c, q = float(cost), float(quality)
        if c not in best_at_cost or q > best_at_cost[c]:
            best_at_cost[c] = q
    hull: list[Point] = []
    for c in sorted(best_at_cost):
        point = Point(c, best_at_cost[c])
        # Pop while the last two vertices and this point do not turn clockwise (right):
        # the middle vertex is then on or below the chord, not on the upper hull.
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) >= 0:
            hull.pop()
        hull.append(point)
    top = max(range(len(hull)), key=lambda k: (hull[k].quality, -k))
    return hull[: top + 1]


def aiq(
    points: Sequence[tuple[float, float]],
    *,
    max_cost: float | None = None,
    normalization: AiqNormalization = "max_cost",
) -> float:
    """Average improvement in quality, AIQ (RouterBench, Hu et al. 2024).

    The area under the router's non-decreasing convex hull (`non_decreasing_hull` of its
    (cost, quality) points as its knob sweeps), extended flat from its last vertex to
    `max_cost`, divided by a cost:

    - `normalization="max_cost"` (default): divided by `max_cost`. This is `calc_AIQ`
      (withmartian/routerbench evaluation/AIQ.py) exactly: `np.trapz` over the hull
      vertices plus the point (max_cost, last quality), divided by max_cost. The area
      starts at the hull's cheapest point, not at cost 0, so a router whose cheapest
      setting costs c_min > 0 scores at most max quality * (1 - c_min / max_cost).
    - `normalization="cost_range"`: divided by max_cost - c_min: the mean of the hull
      over [c_min, max_cost], the paper's 1/(c_max - c_min) * integral from c_min to
      c_max. It always lies between the hull's lowest and highest quality; the two agree
      when the cheapest point costs 0.

    `max_cost` defaults to the hull's own last cost (`calc_AIQ` on a list of one router).
    To compare routers, pass the same `max_cost` to each: `calc_AIQ` uses the largest
    last hull cost among the routers it compares. Raises `ValueError` if `max_cost` is
    below the hull's last cost or the cost range is empty (a single point with no
    `max_cost`: `calc_AIQ` would return 0 there).

    >>> aiq([(0.0, 0.5), (1.0, 0.7), (2.0, 0.8)])  # (0.6 + 0.75) / 2
    0.675
    """
    hull = non_decreasing_hull(points)
    c_min, last = hull[0].cost, hull[-1]
    if max_cost is None:
        c_max = last.cost
    else:
        _finite("max_cost", max_cost)
        c_max = float(max_cost)
        if c_max < last.cost:
            raise ValueError(
                f"max_cost {c_max} is below the hull's last cost {last.cost}: the hull must "
                "be extended to the right, never cut"
            )
    if c_max <= c_min:
        raise ValueError(
            f"AIQ needs a cost range: the hull starts and ends at cost {c_min} "
            "(a single operating point); pass a larger max_cost"
        )
    area = _trapezoid(hull) + last.quality * (c_max - last.cost)
    if normalization == "max_cost":
        return area / c_max
    if normalization == "cost_range":
        return area / (c_max - c_min)
    raise ValueError(f"normalization must be 'max_cost' or 'cost_range', not {normalization!r}")


def quality_at_cost(points: Sequence[tuple[float, float]], budget: float) -> float | None:
    """The hull's quality at a mean cost per query of `budget`; `None` below its cheapest point.

    Linear between hull vertices (mixing two operating points at random), flat beyond
    the last one (spending more does not have to buy anything).

    >>> quality_at_cost([(1.0, 0.5), (3.0, 0.9)], 2.0)
    0.7
    """
    _finite("budget", budget)
    hull = non_decreasing_hull(points)
    if budget < hull[0].cost:
        return None
    for a, b in itertools.pairwise(hull):
        if budget <= b.cost:
            return a.quality + (b.quality - a.quality) * (budget - a.cost) / (b.cost - a.cost)
    return hull[-1].quality


def cost_at_quality(
    points: Sequence[tuple[float, float]], target: float, *, interpolate: bool = True
) -> float | None:
    """The cheapest mean cost per query at which the router's quality reaches `target`.

    With `interpolate=True` (default), along the non-decreasing convex hull, linearly
    between its vertices: the two neighbouring knob settings mixed at random per query
    reach every point between them.
    With `interpolate=False`, the cheapest observed point whose quality reaches `target`
    (no mixing). `None` when no point reaches it. "Cost at best-single quality" is
    `cost_at_quality(curve, max(p.quality for p in single_model_points(...)))`.

    >>> cost_at_quality([(1.0, 0.5), (3.0, 1.0)], 0.75)
    2.0
    """
    _finite("target", target)
    if not interpolate:
        if not points:
            raise ValueError("cost_at_quality needs at least one point")
        for cost, quality in points:
            _finite("cost", cost)
            _finite("quality", quality)
        reaching = [float(c) for c, q in points if q >= target - _TOLERANCE]
        return min(reaching) if reaching else None
    hull = non_decreasing_hull(points)
    if target <= hull[0].quality + _TOLERANCE:
        return hull[0].cost
    for a, b in itertools.pairwise(hull):
        if target <= b.quality + _TOLERANCE:
            fraction = min(1.0, (target - a.quality) / (b.quality - a.quality))
            return a.cost + fraction * (b.cost - a.cost)
    return None
