"""Router evaluation metrics (RouteLLM, RouterBench) and the labelled-CSV loader.

Hand-computed cases carry their arithmetic in comments. The last tests read
../shared/routing-data and skip only when that folder is absent.
"""

from __future__ import annotations

import ast
import csv
import glob
import itertools
import json
import math
import random
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from router.quality.data import (
    DataFormatError,
    LabelledSample,
    concat_samples,
    read_labelled_csv,
)
from router.quality.frontier import (
    aiq,
    cost_at_quality,
    cost_quality_curve,
    non_decreasing_hull,
    oracle_choices,
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
    pgr,
    random_threshold_curve,
    threshold_curve,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "routing-data"
QUALITY_DIR = Path(__file__).resolve().parents[1] / "router" / "quality"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"


def close(a: float | None, b: float, tol: float = 1e-9) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def points_close(got: list[Point], want: list[tuple[float, float]]) -> bool:
    return len(got) == len(want) and all(
        close(g.cost, c) and close(g.quality, q) for g, (c, q) in zip(got, want, strict=True)
    )


# ------------------------------------------------------------------ PGR, APGR, CPT


def test_pgr_is_the_share_of_the_gap_recovered() -> None:
    # (0.75 - 0.5) / (1.0 - 0.5) = 0.5; at the weak model 0, at the strong model 1.
    assert pgr(0.75, 0.5, 1.0) == 0.5
    assert pgr(0.5, 0.5, 1.0) == 0.0
    assert pgr(1.0, 0.5, 1.0) == 1.0
    # Above the strong model: more than the gap. (0.9 - 0.6) / (0.8 - 0.6) = 1.5
    assert close(pgr(0.9, 0.6, 0.8), 1.5)


def test_pgr_apgr_cpt_refuse_an_empty_gap() -> None:
    with pytest.raises(ValueError, match="q_strong == q_weak"):
        pgr(0.7, 0.6, 0.6)
    with pytest.raises(ValueError, match="q_strong == q_weak"):
        apgr([(0.0, 0.6), (1.0, 0.6)], 0.6, 0.6)
    with pytest.raises(ValueError, match="q_strong == q_weak"):
        cpt([(0.0, 0.6), (1.0, 0.6)], 0.5, 0.6, 0.6)
    with pytest.raises(ValueError, match="finite"):
        pgr(float("nan"), 0.5, 1.0)


# Four prompts; the middle two have tied scores.
#   prompt   score  strong  weak
#   0        0.9    1       0
#   1        0.5    1       1
#   2        0.5    1       0
#   3        0.1    0       1
# q_strong = 3/4, q_weak = 2/4, gap 1/4.
SCORES = [0.9, 0.5, 0.5, 0.1]
STRONG_OK = [1, 1, 1, 0]
WEAK_OK = [0, 1, 0, 1]


def test_threshold_curve_every_threshold_moves_ties_together() -> None:
    # t = 0.1, score >= t: all strong             -> 1+1+1+0 = 3 -> (1.00, 0.75)
    # t = 0.5, score >= t: 0,1,2 strong; 3 weak   -> 1+1+1+1 = 4 -> (0.75, 1.00)
    #          (1 and 2 tie at 0.5 and go strong together: no point at share 0.5)
    # t = 0.9, score >= t: 0 strong; 1,2,3 weak   -> 1+1+0+1 = 3 -> (0.25, 0.75)
    # last edge, score > 0.9: nobody strong       -> 0+1+0+1 = 2 -> (0.00, 0.50)
    curve = threshold_curve(SCORES, STRONG_OK, WEAK_OK)
    assert curve == [(0.0, 0.5), (0.25, 0.75), (0.75, 1.0), (1.0, 0.75)]


def test_threshold_curve_routellm_quantile_edges() -> None:
    # Sorted scores 0.1 0.5 0.5 0.9; linear quantile at q: position 3q.
    # k = 2: edges q=0 -> 0.1, q=0.5 -> pos 1.5 -> 0.5, last = 0.9 (strict).
    #   >= 0.1: share 1 (0.75); >= 0.5: share 0.75 (1.0); > 0.9: share 0 (0.5)
    assert threshold_curve(SCORES, STRONG_OK, WEAK_OK, num_thresholds=2) == [
        (0.0, 0.5),
        (0.75, 1.0),
        (1.0, 0.75),
    ]
    # k = 4: positions 0, 0.75, 1.5, 2.25, 3 -> edges 0.1, 0.1 + 0.4*0.75 = 0.4, 0.5,
    # 0.5 + 0.4*0.25 = 0.6, 0.9 (strict). Shares 1, 0.75, 0.75, 0.25, 0.
    got = threshold_curve(SCORES, STRONG_OK, WEAK_OK, num_thresholds=4)
    assert points_close(got, [(0.0, 0.5), (0.25, 0.75), (0.75, 1.0), (0.75, 1.0), (1.0, 0.75)])
    with pytest.raises(ValueError, match="num_thresholds"):
        threshold_curve(SCORES, STRONG_OK, WEAK_OK, num_thresholds=0)


def test_threshold_curve_all_scores_tied() -> None:
    # One group of ties: all strong (share 1, q_strong) or none (share 0, q_weak).
    assert threshold_curve([0.3, 0.3], [1, 0], [0, 0]) == [(0.0, 0.0), (1.0, 0.5)]
    # RouteLLM edges all equal 0.3: every edge but the last sends everyone strong.
    assert threshold_curve([0.3, 0.3], [1, 0], [0, 0], num_thresholds=3) == [
        (0.0, 0.0),
        (1.0, 0.5),
        (1.0, 0.5),
        (1.0, 0.5),
    ]


def test_apgr_and_cpt_by_hand() -> None:
    curve = threshold_curve(SCORES, STRONG_OK, WEAK_OK)
    # PGR at the points (gap 0.25): 0, 1, 2, 1 at shares 0, 0.25, 0.75, 1.
    # Trapezoids: 0.25*(0+1)/2 + 0.5*(1+2)/2 + 0.25*(2+1)/2 = 0.125 + 0.75 + 0.375 = 1.25.
    # RouteLLM's form: AUC = 0.25*(0.5+0.75)/2 + 0.5*(0.75+1)/2 + 0.25*(1+0.75)/2 = 0.8125,
    # (0.8125 - 0.5*1) / (0.75*1 - 0.5*1) = 1.25.
    assert close(apgr(curve, 0.5, 0.75), 1.25)
    # CPT(50%): PGR 0 -> 1 between shares 0 and 0.25: 0.25 * 0.5 = 0.125.
    assert close(cpt(curve, 0.5, 0.5, 0.75), 0.125)
    assert close(cpt(curve, 1.0, 0.5, 0.75), 0.25)
    # CPT(150%): PGR 1 -> 2 between 0.25 and 0.75: 0.25 + 0.5 * 0.5 = 0.5.
    assert close(cpt(curve, 1.5, 0.5, 0.75), 0.5)
    assert cpt(curve, 0.0, 0.5, 0.75) == 0.0
    assert cpt(curve, 2.5, 0.5, 0.75) is None  # never recovered
    # The order of the points does not matter: both metrics sort by share first.
    assert close(apgr(list(reversed(curve)), 0.5, 0.75), 1.25)


def test_cpt_takes_the_first_crossing_of_a_dipping_curve() -> None:
    # PGR (q_weak 0, q_strong 1): 0 at 0, 0.6 at 0.2, 0.4 at 0.4, 1 at 1.
    curve = [(0.0, 0.0), (0.2, 0.6), (0.4, 0.4), (1.0, 1.0)]
    # 50%: first crossing between 0 and 0.2: 0.2 * 0.5/0.6 = 1/6.
    assert close(cpt(curve, 0.5, 0.0, 1.0), 0.2 * 0.5 / 0.6)
    # 80%: after the dip, between (0.4, 0.4) and (1, 1): 0.4 + 0.6 * 0.4/0.6 = 0.8.
    assert close(cpt(curve, 0.8, 0.0, 1.0), 0.8)


def test_apgr_needs_two_shares() -> None:
    with pytest.raises(ValueError, match="no points"):
        apgr([], 0.5, 0.8)
    with pytest.raises(ValueError, match="two different shares"):
        apgr([(0.3, 0.6)], 0.5, 0.8)
    with pytest.raises(ValueError, match="two different shares"):
        apgr([(0.3, 0.6), (0.3, 0.7)], 0.5, 0.8)
    with pytest.raises(ValueError, match="no points"):
        cpt([], 0.5, 0.5, 0.8)


def test_random_router_recovers_half_the_gap() -> None:
    curve = random_threshold_curve(0.6, 0.8)
    assert close(apgr(curve, 0.6, 0.8), 0.5)
    for x in (0.0, 0.2, 0.5, 0.8, 1.0):
        assert close(cpt(curve, x, 0.6, 0.8), x)


def test_oracle_threshold_curve_binary_labels() -> None:
    # STRONG_OK/WEAK_OK: weak wrong and strong right on prompts 0 and 2 -> 2 of 4.
    # RouteLLM: q_weak + min(s*4, 2)/4 -> (0, 0.5), (0.5, 1.0), then flat to (1, 1.0).
    curve = oracle_threshold_curve(STRONG_OK, WEAK_OK)
    assert curve == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]
    # PGR 0 -> 2 on [0, 0.5], then 2: APGR = 0.5*(0+2)/2 + 0.5*2 = 1.5.
    assert close(apgr(curve, 0.5, 0.75), 1.5)
    # CPT(50%) = 0.5 * 0.5/2 = 0.125: half the gap (1/4 * 1/2 = 1/8 of the prompts).
    assert close(cpt(curve, 0.5, 0.5, 0.75), 0.125)


def test_oracle_threshold_curve_graded_scores_like_mtbench() -> None:
    # Gains strong - weak: 0.4, -0.2, 0.1. q_weak = (0.5+0.4+0.5)/3 = 1.4/3.
    # Biggest gain first: (1/3, 1.8/3), then (2/3, 1.9/3); the negative gain never goes
    # strong, so flat to share 1.
    curve = oracle_threshold_curve([0.9, 0.2, 0.6], [0.5, 0.4, 0.5])
    assert points_close(curve, [(0.0, 1.4 / 3), (1 / 3, 1.8 / 3), (2 / 3, 1.9 / 3), (1.0, 1.9 / 3)])


def test_two_model_inputs_must_be_nonempty_and_aligned() -> None:
    with pytest.raises(ValueError, match="empty"):
        threshold_curve([], [], [])
    with pytest.raises(ValueError, match="same length"):
        threshold_curve([0.1, 0.2], [1, 0], [1])
    with pytest.raises(ValueError, match="finite"):
        threshold_curve([0.1, float("inf")], [1, 0], [1, 1])
    with pytest.raises(ValueError, match="empty"):
        oracle_threshold_curve([], [])


def test_apgr_and_cpt_match_routellm_numpy_formulas() -> None:
    np = pytest.importorskip("numpy")
    rng = random.Random(7)
    n = 200
    strong = [rng.random() < 0.8 for _ in range(n)]
    weak = [rng.random() < 0.65 for _ in range(n)]
    # A router that knows something: its score leans towards the prompts the weak model fails.
    scores = [
        rng.random() + (0.5 if (s and not w) else 0.0) for s, w in zip(strong, weak, strict=True)
    ]
    q_s, q_w = sum(strong) / n, sum(weak) / n
    # RouteLLM's thresholds: pd.qcut(scores, 10, retbins=True) edges = np.quantile at
    # np.linspace(0, 1, 11); >= for all but the last edge, > for the last.
    edges = np.quantile(np.array(scores), np.linspace(0, 1, 11))
    share, accuracy = [], []
    for i, edge in enumerate(edges):
        chosen = np.array(scores) >= edge if i != len(edges) - 1 else np.array(scores) > edge
        share.append(chosen.mean())
        accuracy.append(np.where(chosen, strong, weak).mean())
    order = np.argsort(share, kind="stable")
    xs, ys = np.array(share)[order], np.array(accuracy)[order]
    auc = np.trapezoid(ys, xs)
    want_apgr = (auc - np.trapezoid(np.full(len(xs), q_w), xs)) / (
        np.trapezoid(np.full(len(xs), q_s), xs) - np.trapezoid(np.full(len(xs), q_w), xs)
    )
    curve = threshold_curve(scores, strong, weak, num_thresholds=10)
    assert points_close(curve, list(zip(xs.tolist(), ys.tolist(), strict=True)))
    assert close(apgr(curve, q_w, q_s), float(want_apgr))
    # np.interp needs a rising curve: compare CPT on the oracle's.
    oracle = oracle_threshold_curve(strong, weak)
    for x in (0.2, 0.5, 0.8):
        target = q_w + x * (q_s - q_w)
        want = np.interp(target, [p.quality for p in oracle], [p.cost for p in oracle])
        assert close(cpt(oracle, x, q_w, q_s), float(want))


# ------------------------------------------------------------- many models with costs

# Three prompts, three models with fixed costs A = 1, B = 2, C = 4 per query.
#   prompt   A  B  C
#   0        1  1  1
#   1        0  1  1
#   2        0  0  1
QUALITY = [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
COST = [[1.0, 2.0, 4.0]] * 3


def test_single_models_random_mixture_and_oracle_by_hand() -> None:
    # Single models: A (1, 1/3), B (2, 2/3), C (4, 1).
    singles = single_model_points(QUALITY, COST)
    assert points_close(singles, [(1, 1 / 3), (2, 2 / 3), (4, 1)])
    # Slopes 1/3 then 1/6: concave, all three are hull vertices.
    assert points_close(random_mixture_curve(QUALITY, COST), [(1, 1 / 3), (2, 2 / 3), (4, 1)])
    # Oracle: prompt 0 -> A, 1 -> B, 2 -> C: cost (1+2+4)/3 = 7/3, quality 1.
    assert oracle_choices(QUALITY, COST) == [0, 1, 2]
    # Its curve starts with everything on A (1, 1/3); prompt 1's upgrade A -> B gains 1
    # per $1 (slope 1), prompt 2's A -> C gains 1 per $3 (slope 1/3; B is below that chord).
    # (1, 1/3) -> (1 + 1/3, 2/3) -> (4/3 + 1, 1).
    oracle = oracle_cost_quality_curve(QUALITY, COST)
    assert points_close(oracle, [(1, 1 / 3), (4 / 3, 2 / 3), (7 / 3, 1)])


def test_aiq_by_hand_both_normalizations() -> None:
    oracle = oracle_cost_quality_curve(QUALITY, COST)
    zero = random_mixture_curve(QUALITY, COST)
    # Common max cost 4 (the largest hull end). Oracle area from 1 to 4:
    # (1/3+2/3)/2 * 1/3 + (2/3+1)/2 * 1 + 1 * (4 - 7/3) = 1/6 + 5/6 + 5/3 = 8/3.
    assert close(aiq(oracle, max_cost=4), (8 / 3) / 4)  # calc_AIQ: / max cost = 2/3
    assert close(aiq(oracle, max_cost=4, normalization="cost_range"), (8 / 3) / 3)  # 8/9
    # Random mixture: (1/3+2/3)/2 * 1 + (2/3+1)/2 * 2 = 1/2 + 5/3 = 13/6.
    assert close(aiq(zero, max_cost=4), (13 / 6) / 4)
    assert close(aiq(zero), (13 / 6) / 4)  # its own hull already ends at 4
    assert close(aiq(zero, normalization="cost_range"), (13 / 6) / 3)
    # The hull starts at cost 1, not 0: calc_AIQ's area starts there too.
    # Two points (1, 0.5), (2, 0.6): area (0.5+0.6)/2 = 0.55; / 2 = 0.275; / (2-1) = 0.55.
    assert close(aiq([(1, 0.5), (2, 0.6)]), 0.275)
    assert close(aiq([(1, 0.5), (2, 0.6)], normalization="cost_range"), 0.55)


def test_cost_and_quality_read_off_the_hull() -> None:
    zero = random_mixture_curve(QUALITY, COST)
    # 5/6 lies halfway between B (2, 2/3) and C (4, 1): cost 3.
    assert close(cost_at_quality(zero, 5 / 6), 3.0)
    # Without mixing, the cheapest point reaching 5/6 is C itself.
    assert close(cost_at_quality(zero, 5 / 6, interpolate=False), 4.0)
    assert close(cost_at_quality(zero, 0.1), 1.0)  # the cheapest point already does
    assert cost_at_quality(zero, 1.01) is None
    # Best single model is C (quality 1): the oracle gets there for 7/3, the mix for 4.
    best = max(p.quality for p in single_model_points(QUALITY, COST))
    assert close(cost_at_quality(oracle_cost_quality_curve(QUALITY, COST), best), 7 / 3)
    assert close(cost_at_quality(zero, best), 4.0)
    # Quality at a budget: halfway A -> B at 1.5: (1/3 + 2/3)/2 = 1/2; flat beyond C.
    assert close(quality_at_cost(zero, 1.5), 0.5)
    assert close(quality_at_cost(zero, 10.0), 1.0)
    assert quality_at_cost(zero, 0.5) is None


def test_cost_quality_curve_lambda_grid_and_exact_sweep() -> None:
    # A perfect predictor (predicted = quality), believed costs = mean costs 1, 2, 4.
    # lambda = 0: argmax quality, ties to the first column: 0 -> A, 1 -> B, 2 -> C:
    #   (7/3, 1).
    # lambda = 0.5: prompt 1: A 0-0.5, B 1-1 = 0, C 1-2 -> B; prompt 2: A -0.5, B -1,
    #   C 1-2 = -1 -> A; prompt 0 -> A: cost (1+2+1)/3 = 4/3, quality 2/3.
    # lambda = 1 is a breakpoint: prompt 1 ties A (0-1) with B (1-2) -> A (first column);
    #   everything on A: (1, 1/3). lambda = 2: (1, 1/3).
    grid = cost_quality_curve(QUALITY, QUALITY, COST, lambdas=[0, 0.5, 1, 2])
    assert points_close(grid, [(7 / 3, 1), (4 / 3, 2 / 3), (1, 1 / 3), (1, 1 / 3)])
    # The exact sweep visits every routing the knob can make, cheapest first.
    exact = cost_quality_curve(QUALITY, QUALITY, COST)
    assert points_close(exact, [(1, 1 / 3), (4 / 3, 2 / 3), (7 / 3, 1)])
    # A predictor that is wrong about prompt 2 (thinks B answers it, C does not):
    # lambda = 0 sends prompt 2 to B (real quality 0): (1+2+2)/3 = 5/3, quality 2/3.
    wrong = [[1, 1, 1], [0, 1, 1], [0, 1, 0]]
    assert points_close(cost_quality_curve(wrong, QUALITY, COST, lambdas=[0]), [(5 / 3, 2 / 3)])
    # Believed costs can differ from real ones: believe C is free -> C wins everywhere.
    free_c = cost_quality_curve(QUALITY, QUALITY, COST, lambdas=[5], decision_cost=[1, 2, 0])
    assert points_close(free_c, [(4, 1)])


def test_many_model_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="empty"):
        oracle_cost_quality_curve([], [])
    with pytest.raises(ValueError, match="same number of rows"):
        single_model_points([[1, 0]], [[1.0, 2.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match="row 1 has 1 values"):
        single_model_points([[1, 0], [1]], COST[:2])
    with pytest.raises(ValueError, match="lambdas must be >= 0"):
        cost_quality_curve(QUALITY, QUALITY, COST, lambdas=[-1])
    with pytest.raises(ValueError, match="decision_cost has 2 values"):
        cost_quality_curve(QUALITY, QUALITY, COST, decision_cost=[1, 2])


def test_non_decreasing_hull_by_hand() -> None:
    # Sorted: (0.5,.5) (1,.5) (2,.4) (3,.9) (4,.8). (1,.5) and (2,.4) lie under the chord
    # (0.5,.5)-(3,.9); (4,.8) is after the maximum and is dropped.
    hull = non_decreasing_hull([(1, 0.5), (2, 0.4), (3, 0.9), (4, 0.8), (0.5, 0.5)])
    assert hull == [(0.5, 0.5), (3.0, 0.9)]
    # Equally cheap points: the best one starts the hull.
    assert non_decreasing_hull([(0, 0.1), (0, 0.5), (1, 0.6)]) == [(0, 0.5), (1, 0.6)]
    # Collinear points are not vertices; a lone point is its own hull.
    assert non_decreasing_hull([(0, 0), (1, 0.5), (2, 1)]) == [(0, 0), (2, 1)]
    assert non_decreasing_hull([(2, 0.3)]) == [(2, 0.3)]
    # Cheapest point best of all: the hull is that point.
    assert non_decreasing_hull([(1, 0.9), (2, 0.5), (3, 0.7)]) == [(1, 0.9)]
    with pytest.raises(ValueError, match="at least one point"):
        non_decreasing_hull([])


def test_aiq_refuses_what_it_cannot_measure() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        aiq([])
    with pytest.raises(ValueError, match="cost range"):
        aiq([(2, 0.3)])
    assert close(aiq([(2, 0.3)], max_cost=4, normalization="cost_range"), 0.3)
    with pytest.raises(ValueError, match="below the hull's last cost"):
        aiq([(1, 0.5), (3, 0.9)], max_cost=2)


# ---------------------------------------------------------------------------- properties

labels = st.lists(st.tuples(st.booleans(), st.booleans(), st.floats(0, 1)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(labels)
def test_oracle_beats_random_and_every_threshold_router(
    rows: list[tuple[bool, bool, float]],
) -> None:
    strong = [s for s, _, _ in rows]
    weak = [w for _, w, _ in rows]
    scores = [x for _, _, x in rows]
    n = len(rows)
    q_s, q_w = sum(strong) / n, sum(weak) / n
    assume(q_s > q_w)
    oracle = oracle_threshold_curve(strong, weak)
    router = threshold_curve(scores, strong, weak)
    oracle_apgr = apgr(oracle, q_w, q_s)
    random_apgr = apgr(random_threshold_curve(q_w, q_s), q_w, q_s)
    assert oracle_apgr >= random_apgr - 1e-9
    assert oracle_apgr >= apgr(router, q_w, q_s) - 1e-9
    for point in router:  # no router beats the oracle at its own share of strong calls
        best = quality_at_cost(oracle, point.cost)
        assert best is not None
        assert point.quality <= best + 1e-9


points_strategy = st.lists(
    st.tuples(st.floats(0, 100, allow_subnormal=False), st.floats(0, 1)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(points_strategy)
def test_hull_is_monotone_concave_and_on_top(points: list[tuple[float, float]]) -> None:
    hull = non_decreasing_hull(points)
    for a, b in itertools.pairwise(hull):
        assert b.cost > a.cost
        assert b.quality > a.quality
    slopes = [(b.quality - a.quality) / (b.cost - a.cost) for a, b in itertools.pairwise(hull)]
    for s1, s2 in itertools.pairwise(slopes):
        assert s2 <= s1 * (1 + 1e-9) + 1e-9
    assert hull[0].cost == min(c for c, _ in points)
    assert hull[-1].quality == max(q for _, q in points)
    for c, q in points:  # every operating point is on or under the hull
        value = quality_at_cost(hull, c)
        assert value is not None
        assert q <= value + 1e-9


@settings(max_examples=200, deadline=None)
@given(points_strategy, st.floats(0, 50))
def test_aiq_lies_between_the_lowest_and_highest_quality(
    points: list[tuple[float, float]], extra: float
) -> None:
    low, high = min(q for _, q in points), max(q for _, q in points)
    hull = non_decreasing_hull(points)
    max_cost = hull[-1].cost + extra
    assume(max_cost > hull[0].cost + 1e-6)
    ranged = aiq(points, max_cost=max_cost, normalization="cost_range")
    assert low - 1e-9 <= ranged <= high + 1e-9
    by_max = aiq(points, max_cost=max_cost)
    assert by_max <= high + 1e-9
    # calc_AIQ's normalisation is the same as the range's when the hull starts at cost 0.
    with_free = [*points, (0.0, low)]
    free_hull = non_decreasing_hull(with_free)
    assume(max_cost > 1e-6 and max_cost >= free_hull[-1].cost)
    assert low - 1e-9 <= aiq(with_free, max_cost=max_cost) <= high + 1e-9


@settings(max_examples=200, deadline=None)
@given(points_strategy, st.floats(0, 1))
def test_cost_at_quality_inverts_quality_at_cost(
    points: list[tuple[float, float]], fraction: float
) -> None:
    hull = non_decreasing_hull(points)
    budget = hull[0].cost + fraction * (hull[-1].cost - hull[0].cost)
    reached = quality_at_cost(points, budget)
    assert reached is not None
    cheapest = cost_at_quality(points, reached)
    assert cheapest is not None
    assert cheapest <= budget + 1e-9 * max(1.0, budget)


tables = st.integers(1, 12).flatmap(
    lambda n: st.integers(1, 4).flatmap(
        lambda m: st.tuples(
            st.lists(
                st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=m, max_size=m),
                min_size=n,
                max_size=n,
            ),
            st.lists(st.lists(st.floats(0, 1), min_size=m, max_size=m), min_size=n, max_size=n),
            st.lists(
                st.lists(st.floats(0.001, 10), min_size=m, max_size=m), min_size=n, max_size=n
            ),
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(tables, st.lists(st.floats(0, 100), min_size=1, max_size=5))
def test_no_router_beats_the_oracle_curve(
    table: tuple[list[list[float]], list[list[float]], list[list[float]]], lambdas: list[float]
) -> None:
    quality, predicted, cost = table
    oracle = oracle_cost_quality_curve(quality, cost)
    last = oracle[-1]
    chosen = oracle_choices(quality, cost)
    n = len(quality)
    assert close(last.cost, sum(cost[i][j] for i, j in enumerate(chosen)) / n)
    assert close(last.quality, sum(quality[i][j] for i, j in enumerate(chosen)) / n)
    for best in single_model_points(quality, cost):
        assert best.quality <= last.quality + 1e-9
    routers = cost_quality_curve(predicted, quality, cost, lambdas=lambdas)
    routers += cost_quality_curve(predicted, quality, cost)
    for point in routers:
        # Nothing is cheaper than every prompt's cheapest model (up to float rounding).
        assert point.cost >= oracle[0].cost - 1e-9
        ceiling = quality_at_cost(oracle, max(point.cost, oracle[0].cost))
        assert ceiling is not None
        assert point.quality <= ceiling + 1e-9


# -------------------------------------------------------------------------------- loader


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_routellm_style_true_false(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mmlu_x.csv",
        'prompt,weak,strong\n"Q1\nA. x\nAnswer:",True,True\nQ2,False,TRUE\nQ3,false,False\n',
    )
    sample = read_labelled_csv(path)
    assert sample.models == ("weak", "strong")
    assert sample.prompts == ("Q1\nA. x\nAnswer:", "Q2", "Q3")
    assert sample.quality == {"weak": (1.0, 0.0, 0.0), "strong": (1.0, 1.0, 0.0)}
    assert sample.cost == {}
    assert sample.responses == {}
    assert len(sample) == 3
    assert close(sample.mean_quality("strong"), 2 / 3)
    assert sample.sources == (str(path),)
    with pytest.raises(ValueError, match=r"no `<model>\|total_cost` column"):
        sample.cost_rows()


def test_read_routerbench_style(tmp_path: Path) -> None:
    path = write(
        tmp_path / "rb.csv",
        ",sample_id,prompt,eval_name,a/m1,b-2,a/m1|model_response,b-2|model_response,"
        "a/m1|total_cost,b-2|total_cost,oracle_model_to_route_to\n"
        "7,s.1,hi,ev,1.0,0.0,\"['x, y']\",['z'],0.001,2e-05,a/m1\n"
        "8,s.2,yo,ev,0.5,1,,['w'],0.002,0,b-2\n",
    )
    sample = read_labelled_csv(path)
    assert sample.models == ("a/m1", "b-2")
    assert sample.quality_rows() == [[1.0, 0.0], [0.5, 1.0]]
    assert sample.cost_rows(["b-2", "a/m1"]) == [[2e-05, 0.001], [0.0, 0.002]]
    assert sample.responses == {"a/m1": ("['x, y']", ""), "b-2": ("['z']", "['w']")}
    assert close(sample.mean_cost("a/m1"), 0.0015)
    only = read_labelled_csv(path, models=["b-2"], with_responses=False)
    assert only.models == ("b-2",)
    assert set(only.cost) == {"b-2"}
    assert only.responses == {}


def test_read_rejects_malformed_files_saying_where(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", "prompt,m\nq1,1\nq2,maybe\n")
    with pytest.raises(DataFormatError, match=r"bad\.csv, line 3, column 'm'.*'maybe'") as info:
        read_labelled_csv(bad)
    assert (info.value.path, info.value.line, info.value.column) == (str(bad), 3, "m")
    # A quoted prompt over two lines: the next record starts on line 4.
    multi = write(tmp_path / "multi.csv", 'prompt,m\n"a\nb",1\nq,nan\n')
    with pytest.raises(DataFormatError, match="line 4, column 'm'"):
        read_labelled_csv(multi)
    cases = {
        "prompt_missing.csv": ("question,m\nq,1\n", "no 'prompt' column"),
        "fields.csv": ("prompt,m\nq,1,2\n", "line 2: expected 2 fields, found 3"),
        "cost.csv": ("prompt,m,m|total_cost\nq,1,-1\n", "column 'm|total_cost'.*>= 0"),
        "suffix.csv": ("prompt,m,m|latency\nq,1,2\n", "unknown suffix 'latency'"),
        "orphan.csv": ("prompt,m,x|total_cost\nq,1,2\n", "no quality column 'x'"),
        "dup.csv": ("prompt,m,m\nq,1,1\n", "column 'm': duplicated column"),
        "empty.csv": ("", "empty file"),
        "no_rows.csv": ("prompt,m\n", "no data rows"),
        "no_models.csv": ("prompt,sample_id\nq,1\n", "no model quality column"),
        "blank.csv": ("prompt,m\nq,\n", "line 2, column 'm': empty cell"),
    }
    for name, (text, message) in cases.items():
        with pytest.raises(DataFormatError, match=message):
            read_labelled_csv(write(tmp_path / name, text))
    with pytest.raises(DataFormatError, match=r"no quality column for \['z'\]"):
        read_labelled_csv(bad, models=["z"])
    with pytest.raises(DataFormatError, match="cannot open"):
        read_labelled_csv(tmp_path / "absent.csv")


def test_read_can_drop_rows_with_empty_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path / "holes.csv",
        "prompt,m,n,n|total_cost\nq1,1,0,0.1\nq2,,1,0.1\nq3,1,1,\nq4,0,0,0.2\n",
    )
    sample = read_labelled_csv(path, missing="drop_row")
    assert sample.prompts == ("q1", "q4")
    assert sample.dropped_lines == ((str(path), 3), (str(path), 4))
    assert sample.cost == {"n": (0.1, 0.2)}


def test_concat_and_without_prompts(tmp_path: Path) -> None:
    one = read_labelled_csv(write(tmp_path / "1.csv", "prompt,a,b\nq1,1,0\nq2,0,0\n"))
    two = read_labelled_csv(write(tmp_path / "2.csv", "prompt,a,b\nq3,1,1\n"))
    both = concat_samples([one, two])
    assert both.prompts == ("q1", "q2", "q3")
    assert both.quality["b"] == (0.0, 0.0, 1.0)
    assert both.without_prompts({"q2", "unknown"}).quality == {"a": (1.0, 1.0), "b": (0.0, 1.0)}
    swapped = read_labelled_csv(write(tmp_path / "3.csv", "prompt,b,a\nq,1,1\n"))
    with pytest.raises(ValueError, match="models differ"):
        concat_samples([one, swapped])
    with pytest.raises(ValueError, match="no rows"):
        both.without_prompts(both.prompts)
    with pytest.raises(ValueError, match="at least one sample"):
        concat_samples([])
    with pytest.raises(ValueError, match="unknown models"):
        both.quality_rows(["c"])
    with pytest.raises(ValueError, match="2 values for 1 prompts"):
        LabelledSample(models=("a",), prompts=("q",), quality={"a": (1.0, 0.0)})


HEAVY = {"numpy", "scipy", "sklearn", "torch", "pandas"}
OPTIONAL = {"plot.py": {"matplotlib"}}  # the `eval` extra, imported lazily for curve.png


def test_quality_package_needs_no_numpy_at_runtime() -> None:
    """The predictor runs on the stdlib (and router itself); only the plot may use the
    optional matplotlib."""
    for module in sorted(QUALITY_DIR.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        allowed = OPTIONAL.get(module.name, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in HEAVY, f"{module.name} imports {name}"
                assert top in sys.stdlib_module_names or top == "router" or top in allowed, (
                    f"{module.name} imports {name}"
                )


# ------------------------------------------------------------------ the shared data


@pytest.fixture
def routing_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is absent (the shared routing data is read by path, not shipped)")
    return DATA


def test_mmlu_random_and_oracle_match_routellm(routing_data: Path) -> None:
    files = sorted(glob.glob(str(routing_data / "routellm-mmlu" / "responses" / "mmlu_*.csv")))
    assert len(files) == 57
    sample = concat_samples([read_labelled_csv(f) for f in files])
    with open(routing_data / "routellm-mmlu" / "contaminated_prompts.jsonl", encoding="utf-8") as f:
        contaminated = [json.loads(line)["eval_prompt"] for line in f if line.strip()]
    assert len(contaminated) == 5
    clean = sample.without_prompts(contaminated)
    assert (len(sample), len(clean)) == (14042, 14037)
    strong, weak = clean.quality[STRONG], clean.quality[WEAK]
    q_s, q_w = clean.mean_quality(STRONG), clean.mean_quality(WEAK)
    # RouteLLM's random router: uniform scores, 10 qcut thresholds, averaged over 10 runs
    # (evaluate.py, --random-iters 10; the shares are the same in every run).
    runs = []
    for seed in range(10):
        rng = random.Random(seed)
        runs.append(
            threshold_curve([rng.random() for _ in strong], strong, weak, num_thresholds=10)
        )
    mean_curve = [
        Point(runs[0][k].cost, sum(run[k].quality for run in runs) / len(runs))
        for k in range(len(runs[0]))
    ]
    random_apgr = apgr(mean_curve, q_w, q_s)
    expected_apgr = apgr(random_threshold_curve(q_w, q_s), q_w, q_s)
    oracle = oracle_threshold_curve(strong, weak)
    oracle_apgr = apgr(oracle, q_w, q_s)
    oracle_cpt50 = cpt(oracle, 0.5, q_w, q_s)
    oracle_cpt80 = cpt(oracle, 0.8, q_w, q_s)
    print(
        f"\nMMLU (n={len(clean)}): GPT-4 {q_s:.4f}, Mixtral {q_w:.4f}; random APGR "
        f"{random_apgr:.4f} (10 seeded runs; expected {expected_apgr:.4f}), random CPT(50%) "
        f"{cpt(mean_curve, 0.5, q_w, q_s):.4f}; oracle APGR {oracle_apgr:.4f}, "
        f"CPT(50%) {oracle_cpt50:.4f}, CPT(80%) {oracle_cpt80:.4f}"
    )
    assert abs(q_s - 0.806) < 0.001
    assert abs(q_w - 0.681) < 0.001
    assert close(expected_apgr, 0.5)
    assert abs(random_apgr - 0.5) < 0.02
    # README: "A perfect oracle: half the gap with 6.2%": (q_s - q_w) / 2 = 0.0625.
    assert oracle_cpt50 is not None
    assert abs(oracle_cpt50 - 0.062) < 0.001
    assert oracle_apgr > 1.0  # the oracle passes GPT-4 with 12.5% of the calls


def test_routerbench_oracle_and_gpt4(routing_data: Path) -> None:
    files = sorted(glob.glob(str(routing_data / "routerbench-train" / "*.csv")))
    assert len(files) == 3
    samples = [read_labelled_csv(f, missing="drop_row", with_responses=False) for f in files]
    sample = concat_samples(samples)
    quality, cost = sample.quality_rows(), sample.cost_rows()
    singles = dict(zip(sample.models, single_model_points(quality, cost), strict=True))
    gpt4 = singles[STRONG]
    best = max(singles.values(), key=lambda p: p.quality)
    oracle = oracle_cost_quality_curve(quality, cost)
    zero = random_mixture_curve(quality, cost)
    max_cost = max(oracle[-1].cost, zero[-1].cost)
    oracle_at_gpt4 = cost_at_quality(oracle, gpt4.quality)
    zero_at_gpt4 = cost_at_quality(zero, gpt4.quality)
    print(
        f"\nRouterBench train (n={len(sample)}, {len(sample.dropped_lines)} rows with empty "
        f"cells dropped): GPT-4 {gpt4.quality:.4f} at ${gpt4.cost * 1000:.3f}/1k; best "
        f"single {best.quality:.4f}; oracle {oracle[-1].quality:.4f} at "
        f"${oracle[-1].cost * 1000:.3f}/1k; oracle reaches GPT-4 at "
        f"${(oracle_at_gpt4 or math.nan) * 1000:.3f}/1k "
        f"({(oracle_at_gpt4 or math.nan) / gpt4.cost:.1%} of GPT-4), single-model mix at "
        f"${(zero_at_gpt4 or math.nan) * 1000:.3f}/1k; AIQ (max cost "
        f"${max_cost * 1000:.3f}/1k) oracle {aiq(oracle, max_cost=max_cost):.4f}, "
        f"single-model mix {aiq(zero, max_cost=max_cost):.4f}"
    )
    for model, point in singles.items():
        print(f"  {model:36s} {point.quality:.4f} at ${point.cost * 1000:.3f}/1k")
    assert len(sample) == 2205
    assert len(sample.dropped_lines) == 20
    assert best == gpt4  # GPT-4 is the best single model here
    assert 0.85 < gpt4.quality < 0.91
    assert 0.004 < gpt4.cost < 0.006
    assert oracle[-1].quality >= best.quality
    assert oracle[-1].cost < gpt4.cost
    assert oracle_at_gpt4 is not None
    assert oracle_at_gpt4 <= 0.05 * gpt4.cost
    assert aiq(oracle, max_cost=max_cost) >= aiq(zero, max_cost=max_cost)
    # The oracle picks what the files' `oracle_model_to_route_to` names, wherever some
    # model answers correctly.
    named: dict[str, str] = {}
    for f in files:
        with open(f, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                named[row["prompt"]] = row["oracle_model_to_route_to"]
    picks = [sample.models[j] for j in oracle_choices(quality, cost)]
    compared = [(pick, named[p]) for pick, p in zip(picks, sample.prompts, strict=True)]
    agree = [pick == name for pick, name in compared if name != "no_model_correct"]
    assert len(agree) > 2000
    assert all(agree)
