"""Router evaluation metrics for a strong/weak pair, as RouteLLM defines them (stdlib only).

A curve is a list of `Point(cost, quality)`. For a strong/weak pair, `cost` is the share
of calls sent to the strong model, in [0, 1] (RouteLLM's cost axis: it counts GPT-4 calls
because GPT-4 was priced ~100x Mixtral); `quality` is the mean quality per prompt (the
accuracy for 0/1 labels). Many models with costs (RouterBench, `cost` in USD per query)
are in `router.quality.frontier`.

Two models: RouteLLM (Ong et al., "RouteLLM: Learning to Route LLMs with Preference
Data", ICLR 2025), code read in lm-sys/RouteLLM:

- `routellm/evals/evaluate.py`, `generate_results`: `apgr_metric` (APGR),
  `pct_call_metric` (CPT), `auc_metric`;
- `routellm/evals/benchmarks.py`: `MMLU.evaluate` (the threshold sweep and its tie rule),
  `MMLU.get_optimal_accuracy` / `GSM8K.get_optimal_accuracy` (the oracle for 0/1 labels)
  and `MTBench.get_optimal_accuracy` (the oracle for graded scores).

Every function validates its input and raises `ValueError` with a plain message on
empty, ragged or non-finite input, and where the metric is undefined (PGR when
q_strong == q_weak).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from router.quality._checks import (
    _TOLERANCE,
    Point,
    _all_finite,
    _finite,
    _frontier,
    _same_length,
    _trapezoid,
)

__all__ = [
    "Point",
    "apgr",
    "cpt",
    "oracle_threshold_curve",
    "pgr",
    "random_threshold_curve",
    "threshold_curve",
]


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


# -------------------------------------------------------------------------- internals


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
