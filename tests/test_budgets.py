"""Budgets, pure: which apply, the maximum cost bound, soft steps, and how the planner
uses them (paid deployments out when the money left cannot cover them; a relaxed
quality target noted in the decision)."""

from __future__ import annotations

from typing import Any

import pytest
from factories import deployment, features, fleet, request

from router._records import MICRO
from router.decision._budgets import (
    Budget,
    BudgetState,
    applicable,
    max_cost_micro,
    parse_budgets,
    relaxed_target,
)
from router.decision._planner import Settings, plan
from router.decision._policy import Policy
from router.errors import ConfigError

FREE_FIRST = Policy.of("free-first", [])


def state(budget: Budget, used_micro: int, tenant: str = "acme") -> BudgetState:
    return BudgetState(budget, tenant, budget.key(tenant), "2026-11-29", used_micro)


def test_applicable_by_tenant_wildcard_and_tag() -> None:
    acme = Budget(tenant="acme", period="day", usd=1)
    every = Budget(tenant="*", period="month", usd=5)
    batch = Budget(tenant="acme", tag="batch", period="day", usd=0.5)
    budgets = [acme, every, batch]
    assert applicable(budgets, "acme", ()) == [acme, every]
    assert applicable(budgets, "acme", ("batch",)) == [acme, every, batch]
    assert applicable(budgets, "globex", ("batch",)) == [every]
    assert every.key("globex") == "globex/*/month"
    assert batch.key("acme") == "acme/batch/day"


def test_windows_are_utc_days_and_months() -> None:
    day = Budget(tenant="a", period="day", usd=1)
    month = Budget(tenant="a", period="month", usd=1)
    midnight = 1_764_460_800.0  # 2025-11-30T00:00:00Z
    assert day.window(midnight - 1) == "2025-11-29"
    assert day.window(midnight) == "2025-11-30"
    assert month.window(midnight) == "2025-11"


def test_soft_steps_relax_the_target_and_hard_budgets_do_not() -> None:
    soft = Budget(tenant="a", period="day", usd=10, mode="soft")
    assert relaxed_target(0.9, soft, 0) == 0.9
    assert relaxed_target(0.9, soft, 4_999_999) == 0.9
    assert relaxed_target(0.9, soft, 5_000_000) == pytest.approx(0.72)
    assert relaxed_target(0.9, soft, 7_500_000) == pytest.approx(0.45)
    assert relaxed_target(0.9, soft, 9_000_000) == 0.0
    hard = Budget(tenant="a", period="day", usd=10)
    assert relaxed_target(0.9, hard, 9_999_999) == 0.9


def test_max_cost_is_an_upper_bound_on_the_prompt_and_the_whole_output_budget() -> None:
    api = deployment("api", hosting="api", input_usd_per_token=1e-6, output_usd_per_token=2e-6)
    f = features(prompt_tokens=100, max_output_tokens=500)
    most = max_cost_micro(f, api)
    assert most >= round((f.prompt_tokens * 1e-6 + 500 * 2e-6) * MICRO)
    assert most == -(-(f.prompt_bytes * 1e-6 + 500 * 2e-6) * MICRO // 1)  # bytes, rounded up
    assert max_cost_micro(f, deployment("free")) == 0


@pytest.mark.parametrize(
    ("entry", "key", "says"),
    [
        ({"tenant": "a", "period": "week", "usd": 1}, "budgets[0].period", "day"),
        ({"tenant": "a", "period": "day", "usd": -1}, "budgets[0].usd", "greater than or equal"),
        ({"tenant": "a", "period": "day", "usd": 1, "mod": "hard"}, "budgets[0].mod", "mode"),
        (
            {
                "tenant": "a",
                "period": "day",
                "usd": 1,
                "mode": "soft",
                "steps": [[0.9, 0.5], [0.5, 0.1]],
            },
            "budgets[0].steps",
            "ascending",
        ),
        ({"tenant": "a", "period": "day", "usd": 1, "steps": [[0.5, 0.5]]}, "budgets[0]", "soft"),
    ],
    ids=["period", "negative", "typo", "steps-order", "steps-on-hard"],
)
def test_bad_budget_entries_name_the_key(entry: dict[str, Any], key: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_budgets([entry], "router.toml")
    assert caught.value.key == key
    assert says in str(caught.value)


def test_two_budgets_for_the_same_counter_are_an_error() -> None:
    entry = {"tenant": "a", "period": "day", "usd": 1}
    with pytest.raises(ConfigError, match="keep one"):
        parse_budgets([entry, {**entry, "usd": 2}], "router.toml")


def test_hard_budget_takes_out_paid_deployments_it_cannot_cover() -> None:
    deployments = fleet()  # local-qwen (free), gpu-llama (cheap), gpt-4o (paid)
    req = request(max_tokens=1000)
    budget = Budget(tenant="default", period="day", usd=0.005)
    decision = plan(
        req,
        deployments,
        FREE_FIRST,
        Settings(objective="best"),
        budgets=[state(budget, 0, "default")],
    )
    by_name = {r.name: r for r in decision.rejected}
    assert "gpt-4o" in by_name  # up to ~$0.01 for 1000 output tokens: over $0.005
    assert by_name["gpt-4o"].stage == "budget"
    assert "$0.005000 left" in by_name["gpt-4o"].reasons[0]
    assert [c.name for c in decision.candidates] == ["gpu-llama", "local-qwen"]
    spent = plan(
        req, deployments, FREE_FIRST, Settings(objective="best"),
        budgets=[state(budget, 5000, "default")],
    )  # fmt: skip
    assert [c.name for c in spent.candidates] == ["local-qwen"]  # free ones always stay


def test_soft_budget_relaxes_the_target_and_says_so() -> None:
    deployments = fleet()
    req = request()
    budget = Budget(tenant="default", period="day", usd=100, mode="soft")
    fresh = plan(
        req,
        deployments,
        FREE_FIRST,
        Settings(quality_target=0.99),
        budgets=[state(budget, 0, "default")],
    )
    assert fresh.budget_notes == ()
    assert fresh.quality_target == 0.99
    full = plan(
        req, deployments, FREE_FIRST, Settings(quality_target=0.99),
        budgets=[state(budget, 95 * MICRO, "default")],
    )  # fmt: skip
    assert full.quality_target == 0.0
    assert "95% used: quality target 0.99 -> 0" in full.budget_notes[0]
    assert full.candidates[0].name == "local-qwen"  # any free deployment will do now
