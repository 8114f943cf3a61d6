"""Objectives order scored deployments; ties always break the same way."""

from __future__ import annotations

import itertools
import random

import pytest
from factories import deployment, features

from router._models import Hosting
from router._records import Candidate
from router.decision._scoring import OBJECTIVES, ObjectiveName, Params, Scored, prior_scorer

OBJECTIVE_NAMES: list[ObjectiveName] = ["free-first", "cheapest", "best", "utility"]


def scored(name: str, quality: float, cost: float, hosting: Hosting = "local") -> Scored:
    return Scored(deployment(name, hosting=hosting, quality=quality), quality, cost)


def order(
    objective: ObjectiveName,
    items: list[Scored],
    target: float = 0.9,
    value: float = 0.01,
) -> list[str]:
    return [p.name for p in place(objective, items, target, value)]


def place(
    objective: ObjectiveName, items: list[Scored], target: float = 0.9, value: float = 0.01
) -> list[Candidate]:
    return OBJECTIVES[objective](items, Params(target, value))


# local free 0.70, self-hosted cheap 0.80, big API 0.90, small API 0.50
MIXED = [
    scored("local", 0.70, 0.0, "local"),
    scored("self", 0.80, 0.001, "self-hosted"),
    scored("big-api", 0.90, 0.01, "api"),
    scored("small-api", 0.50, 0.0001, "api"),
]


def test_objectives_are_the_documented_four() -> None:
    assert set(OBJECTIVES) == set(OBJECTIVE_NAMES)


# ---------------------------------------------------------------- free-first


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (0.75, ["local", "self", "big-api", "small-api"]),
        (0.85, ["self", "big-api", "local", "small-api"]),
        (0.95, ["big-api", "self", "local", "small-api"]),
        (0.5, ["local", "small-api", "self", "big-api"]),
    ],
    ids=["local-meets-bar", "self-hosted-cheapest-above-bar", "only-best-meets", "low-bar"],
)
def test_free_first_cheapest_within_target_then_fallbacks(
    target: float, expected: list[str]
) -> None:
    assert order("free-first", MIXED, target) == expected


def test_free_first_marks_who_meets_the_bar() -> None:
    placed = place("free-first", MIXED, 0.85)
    assert [p.meets_target for p in placed] == [True, True, False, False]
    assert placed[0].why.startswith("cheapest meeting the quality bar (0.80 >= 0.85 x 0.90)")
    assert placed[1].why == "fallback: meets the quality bar, costs more"
    assert placed[2].why == "fallback: below the quality bar 0.77"


def test_free_first_bar_is_relative_to_the_best_eligible() -> None:
    weak = [scored("a", 0.40, 0.0), scored("b", 0.44, 0.002, "api")]
    assert order("free-first", weak, 0.9) == ["a", "b"]
    assert order("free-first", weak, 0.95) == ["b", "a"]


def test_free_first_quality_exactly_at_the_bar_meets_it() -> None:
    items = [scored("edge", 0.45, 0.0), scored("best", 0.5, 1.0, "api")]
    placed = place("free-first", items, 0.9)
    assert [(p.name, p.meets_target) for p in placed] == [
        ("edge", True),
        ("best", True),
    ]


# ---------------------------------------------------------------- cheapest, best, utility


def test_cheapest_orders_by_cost() -> None:
    assert order("cheapest", MIXED) == ["local", "small-api", "self", "big-api"]
    assert all(p.meets_target for p in place("cheapest", MIXED))


def test_best_orders_by_quality() -> None:
    placed = place("best", MIXED)
    assert [p.name for p in placed] == ["big-api", "self", "local", "small-api"]
    assert placed[0].why == "highest predicted quality"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.02, ["self", "local", "small-api", "big-api"]),
        (1.0, ["big-api", "self", "local", "small-api"]),
        (0.0, ["local", "small-api", "self", "big-api"]),
    ],
    ids=["cents-per-quality", "dollar-per-quality", "quality-worthless"],
)
def test_utility_trades_quality_value_against_cost(value: float, expected: list[str]) -> None:
    assert order("utility", MIXED, value=value) == expected


def test_utility_why_shows_the_arithmetic() -> None:
    placed = place("utility", [scored("a", 0.5, 0.001, "api")], value=0.01)
    assert placed[0].why == "utility +0.004000 = 0.50 x $0.01 - $0.001000"


# ---------------------------------------------------------------- tie-breaks

TIES: list[tuple[str, list[Scored], list[str]]] = [
    ("cost-first", [scored("b", 0.9, 0.02), scored("a", 0.9, 0.01)], ["a", "b"]),
    ("then-quality", [scored("a", 0.80, 0.01), scored("b", 0.85, 0.01)], ["b", "a"]),
    (
        "then-hosting",
        [scored("a", 0.8, 0.0, "api"), scored("b", 0.8, 0.0, "self-hosted"), scored("c", 0.8, 0.0)],
        ["c", "b", "a"],
    ),
    (
        "then-name",
        [scored("z", 0.8, 0.0), scored("m", 0.8, 0.0), scored("a", 0.8, 0.0)],
        ["a", "m", "z"],
    ),
]


@pytest.mark.parametrize(
    ("items", "expected"), [(i, e) for _, i, e in TIES], ids=[name for name, _, _ in TIES]
)
@pytest.mark.parametrize("objective", ["free-first", "cheapest"])
def test_tiebreak_order(objective: ObjectiveName, items: list[Scored], expected: list[str]) -> None:
    assert order(objective, items, target=0.5) == expected


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([scored("b", 0.8, 0.02, "api"), scored("a", 0.8, 0.01, "api")], ["a", "b"]),
        ([scored("a", 0.8, 0.0, "api"), scored("b", 0.8, 0.0, "local")], ["b", "a"]),
        ([scored("b", 0.8, 0.0), scored("a", 0.8, 0.0)], ["a", "b"]),
    ],
    ids=["equal-quality-cost", "equal-quality-cost-hosting", "equal-all-name"],
)
@pytest.mark.parametrize("objective", ["best", "utility"])
def test_tiebreak_after_the_objectives_own_key(
    objective: ObjectiveName, items: list[Scored], expected: list[str]
) -> None:
    assert order(objective, items, value=0.0) == expected


HOSTINGS: tuple[Hosting, ...] = ("local", "api")
ALL_TIED = [
    scored(n, q, c, h)
    for n, (q, c, h) in zip(
        "abcdefgh",
        itertools.product((0.7, 0.9), (0.0, 0.001), HOSTINGS),
        strict=True,
    )
]


@pytest.mark.parametrize("objective", OBJECTIVE_NAMES)
@pytest.mark.parametrize("seed", range(5))
def test_order_does_not_depend_on_input_order(objective: ObjectiveName, seed: int) -> None:
    expected = order(objective, ALL_TIED)
    shuffled = list(ALL_TIED)
    random.Random(seed).shuffle(shuffled)
    assert shuffled != ALL_TIED
    assert order(objective, shuffled) == expected


@pytest.mark.parametrize("objective", OBJECTIVE_NAMES)
def test_every_item_is_placed_once(objective: ObjectiveName) -> None:
    assert sorted(order(objective, MIXED)) == sorted(s.deployment.name for s in MIXED)


# ---------------------------------------------------------------- scorer


def test_prior_scorer_returns_each_deployments_prior() -> None:
    deps = [deployment("a", quality=0.3), deployment("b", quality=0.9)]
    assert prior_scorer(features(), deps) == [0.3, 0.9]


def test_utility_tie_up_to_float_noise_breaks_by_cost() -> None:
    # 0.7 x 0.01 - 0 and 0.8 x 0.01 - 0.001 are both 0.007, but not in binary floats.
    items = [scored("self", 0.8, 0.001, "self-hosted"), scored("local", 0.7, 0.0)]
    assert order("utility", items, value=0.01) == ["local", "self"]
