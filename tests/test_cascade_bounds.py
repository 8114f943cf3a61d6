"""`scripts/cascade_bounds.py`: the hindsight bounds quoted for issue 5's RouterBench
target, checked on hand-computed rows (the script itself reads the shared data)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import cascade_bounds as cb  # type: ignore[import-not-found]

G = cb.STRONG


def _row(q_g: float, q_a: float, q_b: float) -> cb.Row:
    return cb.Row(
        "arc",
        {G: q_g, "a": q_a, "b": q_b},
        {G: 1.0, "a": 0.1, "b": 0.05},
        {G: "x", "a": "x", "b": "y"},
    )


# G right on 3 of 4 (goal 0.75); a right on r1, r4; b on r2, r4.
ROWS = [_row(1, 1, 0), _row(1, 0, 1), _row(1, 0, 0), _row(0, 1, 1)]


def test_perfect_verifier_escalates_only_what_it_must() -> None:
    # a on every row (0.4), then r2 to G (1.0): 3 right of 4 at 1.4 / 4 = 0.35 per row,
    # against G's 1.0 per row.
    assert cb.perfect_verifier(ROWS, "a") == pytest.approx(0.35)


def test_one_group_can_only_buy_gpt4() -> None:
    # Neither a (0.5) nor b (0.5) reaches 0.75 alone: G's own cost.
    assert cb.best_grouped(ROWS, {("arc",): ROWS}, ()) == pytest.approx(1.0)


def test_groups_chosen_with_hindsight() -> None:
    # {r1, r4} -> a (2 right, 0.05 per row of the 4), {r2, r3} -> b (1 right, 0.025):
    # 3 right of 4 at 0.075 per row.
    groups = {("g1",): [ROWS[0], ROWS[3]], ("g2",): [ROWS[1], ROWS[2]]}
    assert cb.best_grouped(ROWS, groups, ()) == pytest.approx(0.075)


def test_a_paid_tier_is_charged_on_every_row() -> None:
    groups = {("g1",): [ROWS[0], ROWS[3]], ("g2",): [ROWS[1], ROWS[2]]}
    # With a asked on every row (0.1), g1 keeps a's answer for free: 0.1 + 0.025.
    assert cb.best_grouped(ROWS, groups, ("a",)) == pytest.approx(0.125)


def test_all_wrong_first_model_pays_for_everything() -> None:
    rows = [_row(1, 0, 0), _row(1, 0, 0)]
    assert cb.perfect_verifier(rows, "a") == pytest.approx(1.1)  # a's 0.1 and G's 1.0


def test_the_cheapest_model_at_the_goal_wins() -> None:
    rows = [cb.Row("arc", {G: 0.0, "a": 1.0, "b": 0.0}, r.cost, r.key) for r in ROWS[:2]]
    assert cb.best_grouped(rows, {("arc",): rows}, ()) == pytest.approx(0.05)  # b: 0 = G


def test_a_near_perfect_verifier_matches_the_perfect_one() -> None:
    # AUC ~1: the two wrong answers of a score lowest; escalating r2 or r3 first, one
    # escalation reaches 3 right (r3 then r2 when r3 comes first: G is right on both).
    assert cb.noisy_verifier(ROWS, "a", 0.999999) == pytest.approx(0.35)


def test_a_weaker_verifier_costs_more() -> None:
    rows = [_row(1, 1, 0)] * 30 + [_row(1, 0, 0)] * 10
    strong = cb.noisy_verifier(rows, "a", 0.99)
    weak = cb.noisy_verifier(rows, "a", 0.6)
    assert strong is not None
    assert weak is not None
    assert 0.35 <= strong < weak <= 1.1
