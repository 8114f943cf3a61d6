"""Router evaluation metrics, defined as RouteLLM and RouterBench define them (stdlib only).

A curve is a list of `Point(cost, quality)`. For a strong/weak pair, `cost` is the share
of calls sent to the strong model, in [0, 1] (RouteLLM's cost axis: it counts GPT-4 calls
because GPT-4 was priced ~100x Mixtral); `quality` is the mean quality per prompt (the
accuracy for 0/1 labels). For many models, `cost` is the mean cost per query in USD.

Two models: RouteLLM (Ong et al., "RouteLLM: Learning to Route LLMs with Preference
Data", ICLR 2025), code read in lm-sys/RouteLLM:

- `routellm/evals/evaluate.py`, `generate_results`: `apgr_metric` (APGR),
  `pct_call_metric` (CPT), `auc_metric`;
- `routellm/evals/benchmarks.py`: `MMLU.evaluate` (the threshold sweep and its tie rule),
  `MMLU.get_optimal_accuracy` / `GSM8K.get_optimal_accuracy` (the oracle for 0/1 labels)
  and `MTBench.get_optimal_accuracy` (the oracle for graded scores).

Many models with costs: RouterBench (Hu et al., "RouterBench: A Benchmark for Multi-LLM
Routing System", 2024, arXiv:2403.12031), code read in withmartian/routerbench:

- `evaluation/AIQ.py`: `get_non_descreasing_convex_hull_of` (the hull) and `calc_AIQ`
  (AIQ);
- `routers/knn_router.py`, `KNNRouter.batch_route_prompts` (the willingness-to-pay knob:
  per prompt, `idxmax` over models of `predicted_quality * willingness_to_pay - cost`).

Every function validates its input and raises `ValueError` with a plain message on
empty, ragged or non-finite input, and where the metric is undefined (PGR when
q_strong == q_weak).
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Literal, NamedTuple

__all__ = [
    "AiqNormalization",
    "Point",
    "aiq",
    "apgr",
    "cost_at_quality",
    "cost_quality_curve",
    "cpt",
    "non_decreasing_hull",
    "oracle_choices",
    "oracle_cost_quality_curve",
    "oracle_threshold_curve",
    "pgr",
    "quality_at_cost",
    "random_mixture_curve",
    "random_threshold_curve",
    "single_model_points",
    "threshold_curve",
]

AiqNormalization = Literal["max_cost", "cost_range"]

# Comparisons of a curve's quality with a target allow this much float noise (a mean of
# 0/1 labels computed two ways can differ in the last bit).
_TOLERANCE = 1e-12


class Point(NamedTuple):
    """One operating point: mean cost per query (or share of strong calls) and quality."""

    cost: float
    quality: float


# --------------------------------------------------------------------------- two models


def pgr(q_router: float, q_weak: float, q_strong: float) -> float:
    """Performance gap recovered (RouteLLM, Ong et al., ICLR 2025).

    PGR = (q_router - q_weak) / (q_strong - q_weak): 0 at the weak model's quality, 1 at
    the strong model's. Raises `ValueError` when q_strong == q_weak (no gap to recover).

    >>> pgr(0.75, 0.5, 1.0)
    0.5
    """
    _finite("q_router", q_router)
    return (q_router - q_weak) / _gap(q_weak, q_strong)


def threshold_curve(
    scores: Sequence[float],
    strong_quality: Sequence[float],
    weak_quality: Sequence[float],
    *,
    num_thresholds: int | None = None,
) -> list[Point]:
    """(share of strong calls, quality) as a two-model router's threshold sweeps.

    The router sends prompt i to the strong model when `scores[i]` (its predicted benefit
    of the strong model, RouteLLM's "strong win rate") clears the threshold. The rule is
    RouteLLM's `MMLU.evaluate` (routellm/evals/benchmarks.py): for thresholds t_0 <= ... <=
    t_k, prompt i goes to the strong model when `score >= t_j`, except for the last
    threshold, where it needs `score > t_k` (so the sweep ends at 0 strong calls). Tied
    scores therefore always move together: every prompt whose score equals the threshold
    goes strong.

    Thresholds:

    - `num_thresholds=None` (default): every distinct score, then RouteLLM's strict last
      edge at the maximum. This is every operating point the scores allow: shares from 1
      down to 0, one point per group of tied scores.
    - `num_thresholds=k`: RouteLLM's own k + 1 edges, `pd.qcut(scores, k,
      retbins=True)`: the linearly interpolated quantiles (numpy/pandas default) at i/k
      for i = 0..k; RouteLLM runs k = 10 (`--num-results`). Where edges coincide (many
      tied scores) pandas' qcut raises; here they give repeated points, which change
      neither APGR nor CPT.

    `strong_quality[i]` / `weak_quality[i]` are each model's quality on prompt i (0/1 or
    graded; booleans work). Returns the points sorted by share, ascending (the order
    `generate_results` sorts them into).

    >>> threshold_curve([0.9, 0.2], [1, 1], [0, 1])
    [Point(cost=0.0, quality=0.5), Point(cost=0.5, quality=1.0), Point(cost=1.0, quality=1.0)]
    """
    n = _same_length(scores=scores, strong_quality=strong_quality, weak_quality=weak_quality)
    _all_finite("scores", scores)
    _all_finite("strong_quality", strong_quality)
    _all_finite("weak_quality", weak_quality)
    order = sorted(range(n), key=lambda i: scores[i])
    ascending = [float(scores[i]) for i in order]
    # top_gain[k]: quality gained by sending the k highest-scored prompts to the strong
    # model. Tied scores are contiguous in `order` and the thresholds only ever cut
    # between groups of ties, so the order inside a group does not matter.
    top_gain = [0.0] * (n + 1)
    for k in range(1, n + 1):
        i = order[n - k]
        top_gain[k] = top_gain[k - 1] + (strong_quality[i] - weak_quality[i])
    base = math.fsum(weak_quality)
    if num_thresholds is None:
        edges = sorted(set(ascending))
        edges.append(edges[-1])  # the strict last edge: nothing goes strong
    else:
        if num_thresholds < 1:
            raise ValueError(f"num_thresholds must be >= 1, got {num_thresholds}")
        edges = [_quantile(ascending, j / num_thresholds) for j in range(num_thresholds)]
        edges.append(ascending[-1])
    points: list[Point] = []
    last = len(edges) - 1
    for j, edge in enumerate(edges):
        below = bisect_left(ascending, edge) if j != last else bisect_right(ascending, edge)
        strong = n - below
        points.append(Point(strong / n, (base + top_gain[strong]) / n))
    points.reverse()
    return points


def random_threshold_curve(q_weak: float, q_strong: float) -> list[Point]:
    """The random router's expected curve: a straight line from (0, q_weak) to (1, q_strong).

    RouteLLM's `random` router scores every prompt uniformly at random, so sending a share
    s of prompts to the strong model yields q_weak + s (q_strong - q_weak) in expectation:
    PGR(s) = s, APGR = 0.5 and CPT(x) = x exactly (the paper's "random baseline").

    >>> random_threshold_curve(0.5, 0.8)
    [Point(cost=0.0, quality=0.5), Point(cost=1.0, quality=0.8)]
    """
    _finite("q_weak", q_weak)
    _finite("q_strong", q_strong)
    return [Point(0.0, float(q_weak)), Point(1.0, float(q_strong))]


def oracle_threshold_curve(
    strong_quality: Sequence[float], weak_quality: Sequence[float]
) -> list[Point]:
    """The best quality reachable with at most a given share of strong calls.

    RouteLLM's `get_optimal_accuracy(strong_percent)` (routellm/evals/benchmarks.py): for
    0/1 labels (`MMLU`, `GSM8K`), q_weak + min(s * n, #{weak wrong and strong right}) / n;
    for graded scores (`MTBench`), the strong model goes to the prompts with the largest
    positive gain strong - weak first. This returns that curve exactly: its corners, from
    (0, q_weak) through the point where every prompt with a positive gain goes strong, then
    flat to share 1 (extra strong calls go where they do no harm, as RouteLLM assumes).
    Between corners it is linear: the marginal prompt counted fractionally, as the MMLU
    version does (`MTBench` rounds the budget down to whole prompts).

    >>> oracle_threshold_curve([1, 1, 0, 1], [0, 1, 1, 1])
    [Point(cost=0.0, quality=0.75), Point(cost=0.25, quality=1.0), Point(cost=1.0, quality=1.0)]
    """
    n = _same_length(strong_quality=strong_quality, weak_quality=weak_quality)
    _all_finite("strong_quality", strong_quality)
    _all_finite("weak_quality", weak_quality)
    curve = _frontier(
        values=[[w, s] for w, s in zip(weak_quality, strong_quality, strict=True)],
        decision_costs=[[0.0, 1.0]] * n,
        qualities=[[w, s] for w, s in zip(weak_quality, strong_quality, strict=True)],
        costs=[[0.0, 1.0]] * n,
    )
    if curve[-1].cost < 1.0:
        curve.append(Point(1.0, curve[-1].quality))
    return curve


def apgr(curve: Sequence[tuple[float, float]], q_weak: float, q_strong: float) -> float:
    """Average performance gap recovered: the area under PGR against the share of strong calls.

    RouteLLM's `apgr_metric` (routellm/evals/evaluate.py, `generate_results`): with the
    points sorted by share, AUC = trapz(quality, share) and
    APGR = (AUC - q_weak * span) / (q_strong * span - q_weak * span), span = last share -
    first share; for a sweep from share 0 to 1 that is the trapezoid integral of PGR over
    [0, 1]. The random router scores 0.5. Needs two points with different shares.

    >>> apgr(random_threshold_curve(0.5, 0.8), 0.5, 0.8)
    0.5
    """
    points = _sorted_points(curve)
    gap = _gap(q_weak, q_strong)
    if len(points) < 2 or points[-1].cost == points[0].cost:
        raise ValueError("APGR needs a curve with at least two different shares of strong calls")
    span = points[-1].cost - points[0].cost
    auc = _trapezoid(points)
    return (auc - q_weak * span) / (gap * span)


def cpt(
    curve: Sequence[tuple[float, float]], x: float, q_weak: float, q_strong: float
) -> float | None:
    """Call-performance threshold CPT(x): the smallest share of strong calls reaching PGR = x.

    `x` is a fraction: `cpt(curve, 0.5, ...)` is CPT(50%). Along the curve sorted by share,
    linearly interpolated between points, the first share at which PGR reaches x; `None`
    if the curve never does. RouteLLM's `pct_call_metric` (routellm/evals/evaluate.py)
    computes `np.interp(q_weak + x (q_strong - q_weak), accuracy, strong_percentage)`,
    which is the same number whenever the quality rises with the share (np.interp
    assumes that, and clamps to the last share when the target is never reached); this
    version stays defined on curves that dip.

    >>> cpt(random_threshold_curve(0.5, 0.8), 0.5, 0.5, 0.8)
    0.5
    """
    _finite("x", x)
    points = _sorted_points(curve)
    gap = _gap(q_weak, q_strong)
    tolerance = _TOLERANCE / abs(gap)
    previous: tuple[float, float] | None = None
    for point in points:
        recovered = (point.quality - q_weak) / gap
        if recovered >= x - tolerance:
            if previous is None or recovered <= previous[1]:
                return point.cost
            share, before = previous
            fraction = min(1.0, max(0.0, (x - before) / (recovered - before)))
            return share + fraction * (point.cost - share)
        previous = (point.cost, recovered)
    return None


# ---------------------------------------------------------------- many models with costs


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


# -------------------------------------------------------------------------- internals


def _frontier(
    values: Sequence[Sequence[float]],
    decision_costs: Sequence[Sequence[float]],
    qualities: Sequence[Sequence[float]],
    costs: Sequence[Sequence[float]],
) -> list[Point]:
    """Every routing that argmax_j (values[i][j] - lambda * decision_costs[i][j]) produces.

    For lambda in (0, infinity), each row's choice walks the upper convex hull of its
    (decision cost, value) options, from the cheapest (best value among ties) to the
    best value (cheapest among ties), switching where lambda equals a hull edge's slope.
    Sorting every row's hull edges by slope, steepest first, and applying them in that
    order visits every distinct routing; edges with equal slopes switch together. Each
    switch adds its real cost and quality change. (With values = true qualities and
    decision costs = true costs, this is the greedy solution of the LP relaxation of the
    multiple-choice knapsack: the oracle frontier.)
    """
    n = len(values)
    start_cost = 0.0
    start_quality = 0.0
    edges: list[tuple[float, float, float]] = []  # (slope, delta cost, delta quality)
    for i in range(n):
        chain = _row_chain(values[i], decision_costs[i])
        start_cost += costs[i][chain[0]]
        start_quality += qualities[i][chain[0]]
        for a, b in itertools.pairwise(chain):
            slope = (values[i][b] - values[i][a]) / (decision_costs[i][b] - decision_costs[i][a])
            edges.append((slope, costs[i][b] - costs[i][a], qualities[i][b] - qualities[i][a]))
    # Stable sort: a row's own edges have strictly decreasing slopes, so they stay in order.
    edges.sort(key=lambda edge: -edge[0])
    points = [Point(start_cost / n, start_quality / n)]
    total_cost, total_quality = start_cost, start_quality
    for k, (slope, delta_cost, delta_quality) in enumerate(edges):
        total_cost += delta_cost
        total_quality += delta_quality
        if k + 1 == len(edges) or edges[k + 1][0] != slope:
            points.append(Point(total_cost / n, total_quality / n))
    return points


def _row_chain(values: Sequence[float], decision_costs: Sequence[float]) -> list[int]:
    """Model indices on the rising part of one row's upper hull of (decision cost, value)."""
    # Per distinct decision cost, the best value (first model among equal values).
    best: dict[float, int] = {}
    for j, (c, v) in enumerate(zip(decision_costs, values, strict=True)):
        if c not in best or v > values[best[c]]:
            best[c] = j
    chain: list[int] = []
    for c in sorted(best):
        j = best[c]
        while len(chain) >= 2 and (
            _cross(
                (decision_costs[chain[-2]], values[chain[-2]]),
                (decision_costs[chain[-1]], values[chain[-1]]),
                (c, values[j]),
            )
            >= 0
        ):
            chain.pop()
        chain.append(j)
    top = max(range(len(chain)), key=lambda k: (values[chain[k]], -k))
    return chain[: top + 1]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """z of (a - o) x (b - o): > 0 for a counter-clockwise (left) turn o -> a -> b."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _trapezoid(points: Sequence[Point]) -> float:
    return math.fsum(
        (b.cost - a.cost) * (a.quality + b.quality) / 2 for a, b in itertools.pairwise(points)
    )


def _quantile(ascending: Sequence[float], q: float) -> float:
    """numpy's default ("linear") quantile of sorted data, as pandas' qcut computes edges."""
    position = (len(ascending) - 1) * q
    low = math.floor(position)
    if low >= len(ascending) - 1:
        return ascending[-1]
    t = position - low
    a, b = ascending[low], ascending[low + 1]
    # numpy's _lerp: a + (b - a) t, computed from the nearer end for t >= 0.5.
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _sorted_points(curve: Sequence[tuple[float, float]]) -> list[Point]:
    if not curve:
        raise ValueError("the curve has no points")
    points = [Point(float(c), float(q)) for c, q in curve]
    for point in points:
        _finite("cost", point.cost)
        _finite("quality", point.quality)
    points.sort(key=lambda p: p.cost)
    return points


def _gap(q_weak: float, q_strong: float) -> float:
    _finite("q_weak", q_weak)
    _finite("q_strong", q_strong)
    if q_strong == q_weak:
        raise ValueError(
            f"q_strong == q_weak (both {q_weak}): PGR, APGR and CPT are undefined when the "
            "strong model is no better than the weak one on this data"
        )
    return q_strong - q_weak


def _finite(name: str, value: float) -> None:
    try:
        finite = math.isfinite(value)
    except TypeError:
        finite = False
    if not finite:
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _all_finite(name: str, values: Sequence[float]) -> None:
    for value in values:
        _finite(name, value)


def _same_length(**columns: Sequence[float]) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    n = next(iter(lengths.values()))
    if len(set(lengths.values())) != 1:
        raise ValueError(f"inputs must have the same length, got {lengths}")
    if n == 0:
        raise ValueError("inputs are empty: need at least one prompt")
    return n


def _table_shape(**tables: Sequence[Sequence[float]]) -> tuple[int, int]:
    shapes = {name: len(rows) for name, rows in tables.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"tables must have the same number of rows, got {shapes}")
    n = next(iter(shapes.values()))
    if n == 0:
        raise ValueError("tables are empty: need at least one prompt")
    m = len(next(iter(tables.values()))[0])
    if m == 0:
        raise ValueError("tables have no columns: need at least one model")
    for name, rows in tables.items():
        for i, row in enumerate(rows):
            if len(row) != m:
                raise ValueError(f"{name} row {i} has {len(row)} values, expected {m}")
            _all_finite(f"{name} row {i}", row)
    return n, m
