"""Shared by `metrics` and `frontier`: the `Point` type, input validation and geometry.

`_frontier` walks every routing an argmax over (value - lambda * cost) produces as lambda
sweeps (the predictive router's exact curve and the oracle's, for two models or many);
`_cross` and `_trapezoid` are the hull's turn test and the area under a curve. The
`_finite` / `_same_length` / `_table_shape` checks raise `ValueError` with a plain
message on non-finite, ragged or empty input.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["Point"]

# Comparisons of a curve's quality with a target allow this much float noise (a mean of
# 0/1 labels computed two ways can differ in the last bit).
_TOLERANCE = 1e-12


class Point(NamedTuple):
    """One operating point: mean cost per query (or share of strong calls) and quality."""

    cost: float
    quality: float


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
