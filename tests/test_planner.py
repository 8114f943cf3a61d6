"""The planner: facts first, then policy, then the objective orders what is left."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import pytest
from factories import deployment, features, fleet, request

from router import Router
from router._models import Capability, Deployment, Features, Request
from router._records import Decision
from router.decision._planner import Settings, fact_reasons, plan
from router.decision._policy import Deny, LocalOnly, Policy
from router.decision._pricing import estimate_cost_usd

OPEN = Policy.of("open", [])
FLEET = fleet()
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}


def decide(
    req: Request,
    deps: Sequence[Deployment] = FLEET,
    policy: Policy = OPEN,
    **settings: Any,
) -> Decision:
    return plan(req, deps, policy, Settings(**settings))


def names(decision: Decision) -> list[str]:
    return [c.name for c in decision.candidates]


def rejected(decision: Decision) -> dict[str, tuple[str, ...]]:
    return {r.name: r.reasons for r in decision.rejected}


# ---------------------------------------------------------------- objectives through plan


LQ, GL, G4 = "local-qwen", "gpu-llama", "gpt-4o"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"objective": "free-first", "quality_target": 0.75}, [LQ, GL, G4]),
        ({"objective": "free-first", "quality_target": 0.85}, [GL, G4, LQ]),
        ({"objective": "free-first", "quality_target": 0.95}, [G4, GL, LQ]),
        ({"objective": "cheapest"}, [LQ, GL, G4]),
        ({"objective": "best"}, [G4, GL, LQ]),
        ({"objective": "utility", "quality_value_usd": 0.0}, [LQ, GL, G4]),
        ({"objective": "utility", "quality_value_usd": 0.01}, [GL, LQ, G4]),
        ({"objective": "utility", "quality_value_usd": 10.0}, [G4, GL, LQ]),
    ],
    ids=[
        "ff-local",
        "ff-self-hosted",
        "ff-api",
        "cheapest",
        "best",
        "utility-free",
        "utility-cents",
        "utility-dollars",
    ],
)
def test_objective_orders_candidates(settings: dict[str, Any], expected: list[str]) -> None:
    decision = decide(request(), **settings)
    assert names(decision) == expected
    assert decision.objective == settings["objective"]


def test_candidates_carry_cost_quality_and_why() -> None:
    decision = decide(request(max_tokens=200), quality_target=0.85)
    by_name = {d.name: d for d in FLEET}
    for c in decision.candidates:
        assert c.est_cost_usd == estimate_cost_usd(decision.features, by_name[c.name])
        assert c.quality == by_name[c.name].quality
        assert (c.hosting, c.weights, c.model) == (
            by_name[c.name].hosting,
            by_name[c.name].weights,
            by_name[c.name].model,
        )
    assert [c.meets_target for c in decision.candidates] == [True, True, False]
    assert decision.candidates[0].why.startswith("cheapest meeting the quality bar")
    assert decision.quality_target == 0.85


@pytest.mark.parametrize("objective", ["free-first", "cheapest", "best", "utility"])
@pytest.mark.parametrize("seed", range(4))
def test_plan_does_not_depend_on_deployment_order(objective: str, seed: int) -> None:
    deps = [
        *FLEET,
        deployment("twin-a", quality=0.7),
        deployment("twin-b", quality=0.7, hosting="self-hosted"),
        deployment("tiny", context_window=64),
    ]
    shuffled = list(deps)
    random.Random(seed).shuffle(shuffled)
    first = decide(request(), deps, objective=objective)
    again = decide(request(), shuffled, objective=objective)
    assert names(again) == names(first)
    assert rejected(again) == rejected(first)
    assert again.features == first.features


def test_same_input_same_decision() -> None:
    policy = Policy.of("p", [Deny(vendor=("meta",))])
    assert decide(request(), policy=policy) == decide(request(), policy=policy)


# ---------------------------------------------------------------- facts


def test_byte_bound_that_does_not_fit_triggers_an_exact_count() -> None:
    # ~6,000 bytes but ~1,000 tokens: the byte bound overflows 4,096, the exact count fits.
    small = deployment("small", context_window=4096)
    decision = decide(request("hello " * 1000, max_tokens=1024), [small])
    assert decision.features.prompt_tokens_exact
    assert decision.features.prompt_bytes + 1024 > 4096
    assert names(decision) == ["small"]


def test_prompt_over_the_window_by_exact_count_is_rejected() -> None:
    small = deployment("small", context_window=4096)
    decision = decide(request("hello " * 5000, max_tokens=1024), [small])
    assert decision.features.prompt_tokens_exact
    (reason,) = rejected(decision)["small"]
    assert "exceeds context window 4,096" in reason
    assert "up to" not in reason


def test_no_exact_count_when_every_window_is_far() -> None:
    decision = decide(request("hello " * 1000), [deployment(context_window=200_000)])
    assert not decision.features.prompt_tokens_exact


@pytest.mark.parametrize(
    ("feats", "fits"),
    [
        (features(prompt_tokens=500, prompt_bytes=3096, max_output_tokens=1000), True),
        (features(prompt_tokens=500, prompt_bytes=3097, max_output_tokens=1000), False),
        (features(prompt_tokens=500, prompt_bytes=9000, exact=True, max_output_tokens=1000), True),
        (
            features(prompt_tokens=1000, prompt_bytes=9000, exact=True, max_output_tokens=3000),
            False,
        ),
    ],
    ids=["bytes-just-fit", "bytes-one-over", "exact-with-margin-fits", "exact-over"],
)
def test_context_window_fact(feats: Features, fits: bool) -> None:
    reasons = fact_reasons(feats, deployment(context_window=4096))
    assert (reasons == []) is fits
    if not fits:
        assert ("up to " in reasons[0]) is not feats.prompt_tokens_exact


CAPABILITY_CASES: list[tuple[str, dict[str, Any], Capability]] = [
    ("tools", {"tools": [TOOL]}, "tools"),
    ("vision", {"images": 1}, "vision"),
    ("json", {"response_format": {"type": "json_object"}}, "json"),
    ("json_schema", {"response_format": SCHEMA}, "json_schema"),
]


@pytest.mark.parametrize(
    ("kwargs", "capability"),
    [(k, c) for _, k, c in CAPABILITY_CASES],
    ids=[i for i, _, _ in CAPABILITY_CASES],
)
def test_missing_capability_is_rejected(kwargs: dict[str, Any], capability: Capability) -> None:
    able = deployment("able", capabilities=[capability])
    unable = deployment("unable", capabilities=[c for c in ("tools", "json") if c != capability])
    decision = decide(request(**kwargs), [able, unable])
    assert capability in decision.features.capabilities
    assert names(decision) == ["able"]
    assert rejected(decision) == {"unable": (f"lacks capability the request uses: {capability}",)}
    assert decision.rejected[0].stage == "facts"


def test_text_response_format_needs_no_capability() -> None:
    decision = decide(request(response_format={"type": "text"}), [deployment()])
    assert decision.features.capabilities == ()
    assert names(decision) == ["local-qwen"]


def test_long_context_is_judged_by_the_window_not_a_capability() -> None:
    big = deployment("big", context_window=200_000)
    decision = decide(request("hello " * 40_000), [big])
    assert "long_context" in decision.features.capabilities
    assert names(decision) == ["big"]


@pytest.mark.parametrize(
    ("max_tokens", "default", "ok"),
    [(8000, 1024, False), (4096, 1024, True), (None, 8000, True)],
    ids=["request-over-limit", "request-at-limit", "default-over-limit-is-not-checked"],
)
def test_max_tokens_over_output_limit(max_tokens: int | None, default: int, ok: bool) -> None:
    dep = deployment("capped", context_window=128_000, max_output_tokens=4096)
    decision = decide(request(max_tokens=max_tokens), [dep], default_max_tokens=default)
    assert (names(decision) == ["capped"]) is ok
    if not ok:
        assert rejected(decision)["capped"] == ("max_tokens 8,000 exceeds its output limit 4,096",)


def test_rejection_keeps_facts_and_policy_reasons() -> None:
    dep = deployment("narrow", context_window=64, capabilities=())
    policy = Policy.of("p", [Deny(name=("narrow",), reason="not this one")])
    decision = decide(request("hello", tools=[TOOL]), [dep], policy)
    (rejection,) = decision.rejected
    assert rejection.stage == "policy"
    assert [r.split(" ")[0] for r in rejection.reasons] == ["prompt", "lacks", "p#1"]
    assert "not this one" in rejection.reasons[2]


def test_nothing_eligible_gives_no_candidates() -> None:
    decision = decide(request(), FLEET, Policy.of("none", [Deny(name=("*",))]))
    assert decision.candidates == ()
    assert decision.chosen is None
    assert {r.name for r in decision.rejected} == {d.name for d in FLEET}


def test_no_deployments_gives_an_empty_decision() -> None:
    decision = decide(request(), [])
    assert (decision.candidates, decision.rejected) == ((), ())


# ---------------------------------------------------------------- policy in the plan


def test_confidential_request_only_has_local_candidates() -> None:
    policy = Policy.of("p", [LocalOnly(min_sensitivity="confidential")])
    decision = decide(request(sensitivity="confidential"), policy=policy, objective="best")
    assert names(decision) == ["gpu-llama", "local-qwen"]
    assert decision.rejected[0].name == "gpt-4o"
    assert decision.rejected[0].stage == "policy"


def test_bound_policy_gives_the_same_decision() -> None:
    policy = Policy.of("p", [Deny(vendor=("meta",)), LocalOnly(min_sensitivity="internal")])
    for req in (request(), request(sensitivity="internal")):
        expected = decide(req, policy=policy)
        assert plan(req, FLEET, policy.bind(FLEET), Settings()) == expected
        stale = policy.bind(FLEET[:1])
        assert plan(req, FLEET, stale, Settings()) == expected


def test_decision_names_the_policy_and_its_fingerprint() -> None:
    policy = Policy.of("mine", [Deny(vendor=("meta",))])
    decision = decide(request(), policy=policy)
    assert (decision.policy, decision.policy_fingerprint) == ("mine", policy.fingerprint)
    assert decision.summary()["policy_fingerprint"] == policy.fingerprint


def test_pluggable_scorer_changes_the_order() -> None:
    def inverse(features: Features, deployments: Sequence[Deployment]) -> list[float]:
        return [1.0 - d.quality for d in deployments]

    req = request()
    default = plan(req, FLEET, OPEN, Settings(objective="best"))
    flipped = plan(req, FLEET, OPEN, Settings(objective="best"), scorer=inverse)
    assert names(flipped) == list(reversed(names(default)))
    assert flipped.candidates[0].quality == pytest.approx(0.3)


def test_scorer_sees_only_eligible_deployments() -> None:
    seen: list[str] = []

    def spy(features: Features, deployments: Sequence[Deployment]) -> list[float]:
        seen.extend(d.name for d in deployments)
        return [0.5] * len(deployments)

    policy = Policy.of("p", [Deny(hosting=("api",))])
    plan(request(), FLEET, policy, Settings(), scorer=spy)
    assert sorted(seen) == ["gpu-llama", "local-qwen"]


# ---------------------------------------------------------------- features on the decision


def test_decision_holds_features_but_no_prompt_text() -> None:
    prompt = "the purple elephant recites tax law at midnight"
    decision = decide(
        request(prompt, tenant="acme", tags=["batch"], max_tokens=300, sensitivity="internal")
    )
    dumped = json.dumps(decision.to_dict()) + json.dumps(decision.summary()) + repr(decision)
    assert prompt not in dumped
    assert "purple elephant" not in dumped
    f = decision.features
    assert len(f.prompt_hash) == 64
    assert (f.tenant, f.tags, f.max_output_tokens, f.output_budget_source) == (
        "acme",
        ("batch",),
        300,
        "request",
    )
    assert (f.declared_sensitivity, f.sensitivity) == ("internal", "internal")


def test_max_completion_tokens_is_the_output_budget() -> None:
    r = Router([{"name": "local", "model": "openai/x", "hosting": "local", "context_window": 4096}])
    decision = r.plan([{"role": "user", "content": "hi"}], max_completion_tokens=321)
    assert decision.features.max_output_tokens == 321
    assert decision.features.output_budget_source == "request"
