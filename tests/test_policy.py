"""Each rule kind in router.policy, and how a Policy combines rules (deny-overrides)."""

from __future__ import annotations

from typing import Any

import pytest
from factories import deployment, features
from pydantic import ValidationError

from router._models import Deployment, Features, Sensitivity
from router.decision._policy import Allow, Deny, LocalOnly, MaxCost, Policy, Require, Selector

LOCAL = deployment("local-qwen", hosting="local")
SELF_HOSTED = deployment("gpu-llama", hosting="self-hosted")
API = deployment(
    "gpt-4o",
    model="gpt-4o",
    hosting="api",
    weights="closed",
    vendor="OpenAI",
    origin="US",
    region="us-east",
    license="proprietary",
)

# ---------------------------------------------------------------- local_only


@pytest.mark.parametrize(
    ("sensitivity", "dep", "denied"),
    [
        ("public", API, False),
        ("internal", API, False),
        ("confidential", API, True),
        ("restricted", API, True),
        ("confidential", LOCAL, False),
        ("restricted", SELF_HOSTED, False),
    ],
    ids=["public-api", "internal-api", "confidential-api", "restricted-api", "local", "self"],
)
def test_local_only_by_sensitivity(sensitivity: Sensitivity, dep: Deployment, denied: bool) -> None:
    rule = LocalOnly(min_sensitivity="confidential")
    assert (rule(features(sensitivity=sensitivity), dep) is not None) is denied


def test_local_only_reason_names_sensitivity_and_hosting() -> None:
    reason = LocalOnly(min_sensitivity="internal")(features(sensitivity="restricted"), API)
    assert reason is not None
    assert "internal" in reason
    assert "local/self-hosted" in reason
    assert "api" in reason


@pytest.mark.parametrize(
    ("dep", "denied"),
    [(LOCAL, False), (SELF_HOSTED, True), (API, True)],
    ids=["local", "self-hosted", "api"],
)
def test_local_only_custom_hosting(dep: Deployment, denied: bool) -> None:
    rule = LocalOnly(min_sensitivity="internal", hosting=("local",))
    assert (rule(features(sensitivity="internal"), dep) is not None) is denied


def test_local_only_rejects_api_in_hosting_tuple() -> None:
    bad: dict[str, Any] = {"min_sensitivity": "internal", "hosting": ["api"]}
    with pytest.raises(ValidationError):
        LocalOnly.model_validate(bad)


# ---------------------------------------------------------------- deny / allow selectors

SELECTOR_CASES = [
    ("name", "GPT-*"),
    ("model", "gpt-4?"),
    ("vendor", "openai"),
    ("origin", "us"),
    ("region", "US-*"),
    ("hosting", "API"),
    ("weights", "clo*"),
    ("license", "PROPRIETARY"),
]
SELECTOR_IDS = [field for field, _ in SELECTOR_CASES]


@pytest.mark.parametrize(("field", "glob"), SELECTOR_CASES, ids=SELECTOR_IDS)
def test_deny_matches_each_field_by_glob_ignoring_case(field: str, glob: str) -> None:
    rule = Deny.model_validate({field: [glob]})
    reason = rule(features(), API)
    assert reason is not None
    assert reason.startswith("barred: ")
    assert field in reason


@pytest.mark.parametrize(("field", "glob"), SELECTOR_CASES, ids=SELECTOR_IDS)
def test_deny_lets_non_matching_through(field: str, glob: str) -> None:
    rule = Deny.model_validate({field: [glob]})
    assert rule(features(), LOCAL) is None


@pytest.mark.parametrize(("field", "glob"), SELECTOR_CASES, ids=SELECTOR_IDS)
def test_allow_passes_matching_and_denies_the_rest(field: str, glob: str) -> None:
    rule = Allow.model_validate({field: ["nothing-like-this", glob]})
    assert rule(features(), API) is None
    reason = rule(features(), LOCAL)
    assert reason is not None
    assert reason.startswith("not allowed: ")
    assert field in reason


def test_deny_needs_every_given_field_to_match() -> None:
    rule = Deny(vendor=("openai",), region=("eu-*",))
    assert rule(features(), API) is None
    assert rule(features(), API.model_copy(update={"region": "eu-west"})) is not None


def test_selector_rule_without_any_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="needs at least one of"):
        Deny()


def test_selector_glob_is_a_full_match() -> None:
    assert Deny(region=("us",))(features(), API) is None
    assert Deny(region=("us*",))(features(), API) is not None


# ---------------------------------------------------------------- where scoping


@pytest.mark.parametrize(
    ("rule", "dep", "denied"),
    [
        (Deny(origin=("US",), where=Selector(hosting=("api",))), API, True),
        (Deny(origin=("US",), where=Selector(hosting=("api",))), SELF_HOSTED, False),
        (Allow(region=("eu-*",), where=Selector(hosting=("api",))), API, True),
        (Allow(region=("eu-*",), where=Selector(hosting=("api",))), LOCAL, False),
        (
            Allow(region=("eu-*",), where=Selector(hosting=("api",))),
            LOCAL.model_copy(update={"region": "us-east"}),
            False,
        ),
    ],
    ids=["deny-in-scope", "deny-out-of-scope", "allow-in-scope", "allow-out", "allow-out-us"],
)
def test_where_limits_which_deployments_a_rule_judges(
    rule: Deny | Allow, dep: Deployment, denied: bool
) -> None:
    assert (rule(features(), dep) is not None) is denied


def test_where_on_unknown_field_keeps_rule_in_force() -> None:
    rule = Allow(weights=("open",), where=Selector(vendor=("openai",)))
    unknown_vendor = API.model_copy(update={"vendor": None})
    assert rule(features(), unknown_vendor) is not None


# ---------------------------------------------------------------- request conditions


def case(conditions: dict[str, Any], feats: Features, applies: bool, id: str) -> Any:
    return pytest.param(conditions, feats, applies, id=id)


@pytest.mark.parametrize(
    ("conditions", "feats", "applies"),
    [
        case({"min_sensitivity": "internal"}, features(), False, "below-min-sensitivity"),
        case({"min_sensitivity": "internal"}, features(sensitivity="internal"), True, "at-min"),
        case({"min_sensitivity": "internal"}, features(sensitivity="restricted"), True, "above"),
        case({"tenants": ["acme-*"]}, features(tenant="ACME-eu"), True, "tenant-glob-case"),
        case({"tenants": ["acme-*"]}, features(tenant="globex"), False, "tenant-other"),
        case({"tenants": ["acme-*", "globex"]}, features(tenant="globex"), True, "tenant-2nd"),
        case({"tags": ["batch"]}, features(tags=["batch", "x"]), True, "tag-present"),
        case({"tags": ["batch", "nightly"]}, features(tags=["nightly"]), True, "any-tag"),
        case({"tags": ["batch"]}, features(tags=["interactive"]), False, "tag-absent"),
        case({"tags": ["batch"]}, features(), False, "no-tags"),
        case(
            {"tags": ["batch"], "tenants": ["acme"]},
            features(tags=["batch"], tenant="globex"),
            False,
            "all-conditions-must-hold",
        ),
        case(
            {"tags": ["batch"], "min_sensitivity": "internal"},
            features(tags=["batch"], sensitivity="internal"),
            True,
            "both-hold",
        ),
    ],
)
def test_request_conditions_decide_whether_rule_applies(
    conditions: dict[str, Any], feats: Features, applies: bool
) -> None:
    rule = Deny.model_validate({"hosting": ["api"], **conditions})
    assert rule.applies(feats) is applies
    assert (rule(feats, API) is not None) is applies


# ---------------------------------------------------------------- fail closed, empty lists

UNKNOWABLE = ["vendor", "origin", "region", "license"]


@pytest.mark.parametrize("field", UNKNOWABLE, ids=UNKNOWABLE)
def test_deny_on_unknown_attribute_fails_closed(field: str) -> None:
    dep = API.model_copy(update={field: None})
    reason = Deny.model_validate({field: ["XX"]})(features(), dep)
    assert reason is not None
    assert f"{field} unknown" in reason
    assert f"set {field}" in reason


@pytest.mark.parametrize("field", UNKNOWABLE, ids=UNKNOWABLE)
def test_allow_on_unknown_attribute_fails_closed(field: str) -> None:
    dep = API.model_copy(update={field: None})
    reason = Allow.model_validate({field: ["*"]})(features(), dep)
    assert reason is not None
    assert f"{field} unknown" in reason


def test_deny_on_unknown_field_passes_when_another_field_rules_it_out() -> None:
    dep = API.model_copy(update={"origin": None})
    assert Deny(vendor=("mistral",), origin=("CN",))(features(), dep) is None


@pytest.mark.parametrize(
    "dep",
    [API, LOCAL, API.model_copy(update={"origin": None})],
    ids=["api", "local", "unknown-origin"],
)
def test_deny_with_empty_list_denies_nothing(dep: Deployment) -> None:
    assert Deny(origin=())(features(), dep) is None


@pytest.mark.parametrize(
    "dep",
    [API, LOCAL, API.model_copy(update={"region": None})],
    ids=["api", "local", "unknown-region"],
)
def test_allow_with_empty_list_allows_nothing(dep: Deployment) -> None:
    reason = Allow(region=())(features(), dep)
    assert reason is not None
    assert "region not in []" in reason


# ---------------------------------------------------------------- max_cost, require

PRICED = deployment("priced", input_usd_per_token=1e-6, output_usd_per_token=2e-6)


@pytest.mark.parametrize(
    ("prompt_tokens", "max_out", "usd", "denied"),
    [
        (1000, 500, 0.002, False),
        (1000, 500, 0.00199, True),
        (1000, 1500, 0.003, True),
        (3000, 500, 0.003, True),
        (10, 10, 1.0, False),
    ],
    ids=["at-cap", "just-over", "output-budget-counts", "prompt-counts", "far-under"],
)
def test_max_cost_uses_prompt_plus_output_budget(
    prompt_tokens: int, max_out: int, usd: float, denied: bool
) -> None:
    feats = features(prompt_tokens=prompt_tokens, max_output_tokens=max_out)
    assert (MaxCost(usd=usd)(feats, PRICED) is not None) is denied


def test_max_cost_reason_states_estimate_and_cap() -> None:
    reason = MaxCost(usd=0.001)(features(prompt_tokens=1000, max_output_tokens=500), PRICED)
    assert reason == "estimated cost $0.002000 exceeds max_cost $0.001000"


def test_max_cost_zero_still_allows_free_deployments() -> None:
    assert MaxCost(usd=0)(features(prompt_tokens=10**6), LOCAL) is None


@pytest.mark.parametrize(
    ("required", "has", "missing"),
    [
        (("tools",), ("tools", "json"), None),
        (("tools", "vision"), ("tools",), "vision"),
        (("json_schema", "json"), (), "json_schema, json"),
    ],
    ids=["has-all", "lacks-one", "lacks-both"],
)
def test_require_denies_missing_capabilities(
    required: tuple[Any, ...], has: tuple[Any, ...], missing: str | None
) -> None:
    dep = deployment(capabilities=has)
    reason = Require(capabilities=required)(features(), dep)
    expected = None if missing is None else f"lacks required capability: {missing}"
    assert reason == expected


def test_custom_reason_prefixes_the_rule_detail() -> None:
    rule = Deny(vendor=("openai",), reason="no US vendors")
    assert rule(features(), API) == "no US vendors (barred: vendor 'OpenAI')"


# ---------------------------------------------------------------- Policy


def no_gpt(feats: Features, dep: Deployment) -> str | None:
    return "custom: no gpt" if dep.name.startswith("gpt") else None


def test_plain_callable_is_a_rule() -> None:
    policy = Policy.of("p", [no_gpt])
    assert policy.denials(features(), API) == ("p#1 no_gpt: custom: no gpt",)
    assert policy.denials(features(), LOCAL) == ()


def test_denials_keep_every_reason_from_every_rule_in_order() -> None:
    policy = Policy.of(
        "strict",
        [
            Allow(hosting=("api",)),
            Deny(origin=("US",), reason="no US origin"),
            no_gpt,
            LocalOnly(min_sensitivity="confidential"),
            Deny(vendor=("mistral",)),
        ],
    )
    reasons = policy.denials(features(sensitivity="confidential"), API)
    # the allow (#1) matches and denies nothing, yet cannot cancel any deny after it
    assert [r.split(":")[0] for r in reasons] == [
        "strict#2 deny",
        "strict#3 no_gpt",
        "strict#4 local_only",
    ]
    assert "no US origin" in reasons[0]


def test_labels_given_explicitly_are_kept() -> None:
    policy = Policy.of("p", [("mine", Deny(hosting=("api",)))])
    assert policy.denials(features(), API)[0].startswith("mine: barred: ")


def test_fingerprint_is_stable_for_equal_rules() -> None:
    def build() -> Policy:
        return Policy.of("p", [Deny(origin=("CN",)), MaxCost(usd=0.5), no_gpt])

    assert build().fingerprint == build().fingerprint
    assert len(build().fingerprint) == 16


@pytest.mark.parametrize(
    ("name", "rules", "vars"),
    [
        ("q", [Deny(origin=("CN",)), MaxCost(usd=0.5)], None),
        ("p", [Deny(origin=("RU",)), MaxCost(usd=0.5)], None),
        ("p", [Deny(origin=("CN",)), MaxCost(usd=0.25)], None),
        ("p", [MaxCost(usd=0.5), Deny(origin=("CN",))], None),
        ("p", [Deny(origin=("CN",), reason="x"), MaxCost(usd=0.5)], None),
        ("p", [Deny(origin=("CN",)), MaxCost(usd=0.5), no_gpt], None),
        ("p", [Deny(origin=("CN",)), MaxCost(usd=0.5)], {"a": 1}),
    ],
    ids=["name", "selector", "number", "order", "reason", "extra-callable", "vars"],
)
def test_fingerprint_changes_when_a_rule_changes(
    name: str, rules: list[Deny | MaxCost], vars: dict[str, int] | None
) -> None:
    base = Policy.of("p", [Deny(origin=("CN",)), MaxCost(usd=0.5)])
    assert Policy.of(name, [*rules], vars=vars).fingerprint != base.fingerprint


def test_bound_policy_gives_the_same_denials_per_deployment() -> None:
    policy = Policy.of(
        "p",
        [
            LocalOnly(min_sensitivity="internal"),
            Deny(hosting=("api",), tags=("batch",), reason="batch stays home"),
            Deny(vendor=("meta",), tenants=("acme",)),
            MaxCost(usd=0.001),
            no_gpt,
        ],
    )
    deps = (LOCAL, SELF_HOSTED.model_copy(update={"vendor": "Meta"}), API, PRICED)
    bound = policy.bind(deps)
    cases = [
        features(),
        features(sensitivity="internal"),
        features(tags=["batch"]),
        features(tenant="ACME"),
        features(prompt_tokens=10**4, sensitivity="restricted", tags=["batch"], tenant="acme"),
    ]
    for feats in cases:
        assert bound.denials(feats) == [list(policy.denials(feats, d)) for d in deps]


def test_bound_policy_skips_rules_whose_conditions_do_not_hold() -> None:
    policy = Policy.of("p", [Deny(hosting=("api",), tags=("batch",)), no_gpt])
    bound = policy.bind((LOCAL, API))
    assert bound.denials(features()) == [[], ["p#2 no_gpt: custom: no gpt"]]
    assert bound.denials(features(tags=["batch"]))[1][0].startswith("p#1 deny: barred: ")
