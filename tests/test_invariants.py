"""Property tests for DESIGN.md invariants at the planning level.

1. A request at or above a `local_only` sensitivity never has a non-local candidate.
2. The plan never holds a denied (or technically unable) deployment; every deployment
   is either a candidate or rejected with its reasons, and the plan is deterministic.
7. Malformed input to `Router.plan` raises `InvalidRequest`, never another exception.
"""

from __future__ import annotations

import string
from typing import Any, TypeVar

import pytest
from factories import deployment, messages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import Router
from router._models import (
    CAPABILITIES,
    SENSITIVITY_LEVELS,
    Deployment,
    Features,
    Request,
    sensitivity_rank,
)
from router._records import Decision
from router.decision._arguments import OPENAI_PARAMS
from router.decision._planner import Settings, fact_reasons, plan
from router.decision._policy import (
    SELECTOR_FIELDS,
    Allow,
    Deny,
    LocalOnly,
    MaxCost,
    Policy,
    Require,
    RuleFn,
    Selector,
)
from router.errors import InvalidRequest, RouterError

T = TypeVar("T")
# Drawing a deployment set, a policy and a request costs ~25 ms: 150 examples per planning
# property keeps the file near 20 s on 2 cores.
PLANNING = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROPERTY = settings(max_examples=200, deadline=None)

VENDORS = ["openai", "OpenAI", "meta", "mistral", "alibaba", "acme"]
ORIGINS = ["US", "us", "CN", "FR", "DE"]
REGIONS = ["eu-west", "EU-central", "us-east", "ap-south"]
LICENSES = ["apache-2.0", "MIT", "llama3", "proprietary"]
TENANTS = ["default", "acme", "ACME-eu", "globex"]
TAGS = ["batch", "nightly", "interactive"]
GLOBS = [
    "*", "us*", "eu-*", "OPENAI", "meta", "cn", "?r", "api", "local", "self-hosted", "open",
    "CLOSED", "apache-*", "proprietary", "a*", "gpt*", "*-b", "[ab]*", "openai/*",
]  # fmt: skip
SENSITIVE_SNIPPETS = [
    "",
    " write to jane.doe@example.com",
    " call +1 415 555 0132",
    " card 4111 1111 1111 1111",
    " IBAN DE89 3704 0044 0532 0130 00",
    " key sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2,
    "\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7vQpL2mZ9\n-----END RSA PRIVATE KEY-----",
]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
FORMATS: list[dict[str, Any] | None] = [
    None,
    {"type": "text"},
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
]


def maybe(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


# ---------------------------------------------------------------- deployments


@st.composite
def deployment_sets(draw: st.DrawFn) -> tuple[Deployment, ...]:
    names = draw(
        st.lists(st.text("abgpt-4", min_size=1, max_size=5), min_size=1, max_size=6, unique=True)
    )
    price = st.sampled_from([0.0, 1e-7, 2.5e-6]) | st.floats(0, 1e-4)
    deps = [
        deployment(
            name,
            model=draw(st.sampled_from([f"openai/{name}", "gpt-4o", "mistral/large"])),
            hosting=draw(st.sampled_from(["local", "self-hosted", "api"])),
            weights=draw(st.sampled_from(["open", "closed"])),
            vendor=draw(maybe(st.sampled_from(VENDORS))),
            origin=draw(maybe(st.sampled_from(ORIGINS))),
            region=draw(maybe(st.sampled_from(REGIONS))),
            license=draw(maybe(st.sampled_from(LICENSES))),
            context_window=draw(st.sampled_from([64, 512, 2048, 4096, 8192, 32_768, 200_000])),
            max_output_tokens=draw(maybe(st.sampled_from([256, 4096, 16_384]))),
            capabilities=draw(st.frozensets(st.sampled_from(CAPABILITIES))),
            input_usd_per_token=draw(price),
            output_usd_per_token=draw(price),
            quality=draw(st.floats(0, 1)),
            # gpt-4o-mini's and Gemini's image rules count more than the general bound
            image_tokens=draw(st.sampled_from([2_500, 2_500, 48_169, 4_128, 1_000])),
        )
        for name in names
    ]
    # Twins differ only in name: the plan must still order them the same way every time.
    for i in draw(st.lists(st.integers(0, len(deps) - 1), max_size=2)):
        deps.append(deps[i].model_copy(update={"name": f"{deps[i].name}-twin{len(deps)}"}))
    return tuple(deps)


# ---------------------------------------------------------------- policies

glob_lists = st.lists(st.sampled_from(GLOBS), max_size=3).map(tuple)
selector_dicts = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(SELECTOR_FIELDS, glob_lists)
).filter(bool)
conditions = st.fixed_dictionaries(
    {},
    optional={
        "reason": st.sampled_from(["house rule", "legal says no"]),
        "min_sensitivity": st.sampled_from(SENSITIVITY_LEVELS),
        "tenants": st.lists(st.sampled_from(["acme*", "globex", "*"]), min_size=1, max_size=2),
        "tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
    },
)


@st.composite
def selector_rules(draw: st.DrawFn) -> Deny | Allow:
    where = draw(maybe(selector_dicts.map(lambda d: Selector(**d))))
    fields = {**draw(selector_dicts), **draw(conditions), "where": where}
    return Deny(**fields) if draw(st.booleans()) else Allow(**fields)


def callable_rule(banned: frozenset[str], api_token_limit: int) -> RuleFn:
    def custom(features: Features, deployment: Deployment) -> str | None:
        if deployment.name in banned:
            return f"custom: {deployment.name} is banned"
        if deployment.hosting == "api" and features.prompt_tokens > api_token_limit:
            return "custom: long prompts stay off APIs"
        return None

    return custom


local_only_rules = st.builds(
    lambda level, hosting, cond: LocalOnly(
        **{**cond, "min_sensitivity": level, "hosting": hosting}
    ),
    st.sampled_from(SENSITIVITY_LEVELS),
    st.sampled_from([("local",), ("self-hosted",), ("local", "self-hosted")]),
    conditions,
)
rules = st.one_of(
    local_only_rules,
    selector_rules(),
    st.builds(lambda usd, cond: MaxCost(usd=usd, **cond), st.floats(0, 0.05), conditions),
    st.builds(
        lambda caps, cond: Require(capabilities=tuple(sorted(caps)), **cond),
        st.frozensets(st.sampled_from(["tools", "vision", "json", "json_schema"]), min_size=1),
        conditions,
    ),
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    chosen: list[RuleFn] = list(draw(st.lists(rules, max_size=5)))
    if draw(st.booleans()):  # invariant 1 needs many policies with a local_only rule
        chosen.insert(draw(st.integers(0, len(chosen))), draw(local_only_rules))
    if draw(st.booleans()):
        banned = draw(st.frozensets(st.text("abgpt-4", min_size=1, max_size=5), max_size=3))
        fn = callable_rule(banned, draw(st.integers(0, 5000)))
        chosen.insert(draw(st.integers(0, len(chosen))), fn)
    return Policy.of("random", chosen)


# ---------------------------------------------------------------- requests


@st.composite
def requests(draw: st.DrawFn) -> Request:
    # a short random text repeated: long prompts (up to ~5,000 characters) stay cheap to draw
    words = draw(st.text(string.ascii_letters + " .,", max_size=60)) * draw(st.integers(1, 80))
    return Request.model_validate(
        {
            "messages": messages(
                words + draw(st.sampled_from(SENSITIVE_SNIPPETS)),
                images=draw(st.sampled_from([0, 0, 0, 1, 2])),
            ),
            "tools": draw(st.sampled_from([None, None, (TOOL,)])),
            "response_format": draw(st.sampled_from(FORMATS)),
            "max_tokens": draw(maybe(st.integers(1, 40_000))),
            "tenant": draw(st.sampled_from(TENANTS)),
            "sensitivity": draw(st.sampled_from(SENSITIVITY_LEVELS)),
            "tags": tuple(draw(st.lists(st.sampled_from(TAGS), max_size=3))),
        }
    )


planner_settings = st.builds(
    Settings,
    objective=st.sampled_from(["free-first", "cheapest", "best", "utility"]),
    quality_target=st.floats(0.01, 1),
    default_max_tokens=st.sampled_from([16, 1024, 8192]),
)


# ---------------------------------------------------------------- invariants 1 and 2


def by_name(deps: tuple[Deployment, ...]) -> dict[str, Deployment]:
    return {d.name: d for d in deps}


@PLANNING
@given(deployment_sets(), policies(), requests(), planner_settings)
def test_plan_never_holds_a_denied_or_unable_deployment(
    deps: tuple[Deployment, ...], policy: Policy, req: Request, cfg: Settings
) -> None:
    decision = plan(req, deps, policy, cfg)
    f, known = decision.features, by_name(deps)
    for c in decision.candidates:
        assert policy.denials(f, known[c.name]) == ()
        assert fact_reasons(f, known[c.name]) == []


@PLANNING
@given(deployment_sets(), policies(), requests(), planner_settings)
def test_every_deployment_is_placed_once_and_rejections_say_why(
    deps: tuple[Deployment, ...], policy: Policy, req: Request, cfg: Settings
) -> None:
    decision = plan(req, deps, policy, cfg)
    f, known = decision.features, by_name(deps)
    placed = [c.name for c in decision.candidates] + [r.name for r in decision.rejected]
    assert sorted(placed) == sorted(known)
    for r in decision.rejected:
        facts, denials = fact_reasons(f, known[r.name]), policy.denials(f, known[r.name])
        assert len(r.reasons) >= 1
        assert r.reasons == (*facts, *denials)
        assert r.stage == ("policy" if denials else "facts")


@PLANNING
@given(deployment_sets(), policies(), requests(), planner_settings)
def test_local_only_level_never_has_a_non_local_candidate(
    deps: tuple[Deployment, ...], policy: Policy, req: Request, cfg: Settings
) -> None:
    decision = plan(req, deps, policy, cfg)
    f = decision.features
    assert sensitivity_rank(f.sensitivity) >= sensitivity_rank(f.declared_sensitivity)
    for _, rule in policy.rules:
        if isinstance(rule, LocalOnly) and rule.applies(f):
            assert all(c.hosting in rule.hosting for c in decision.candidates)
            assert all(c.hosting != "api" for c in decision.candidates)


def comparable(decision: Decision) -> tuple[Any, ...]:
    rejected = sorted((r.name, r.stage, r.reasons) for r in decision.rejected)
    return decision.features, decision.candidates, rejected, decision.policy_fingerprint


@PLANNING
@given(st.data(), deployment_sets(), policies(), requests(), planner_settings)
def test_plan_is_deterministic_and_independent_of_deployment_order(
    data: st.DataObject,
    deps: tuple[Deployment, ...],
    policy: Policy,
    req: Request,
    cfg: Settings,
) -> None:
    first = plan(req, deps, policy, cfg)
    assert plan(req, deps, policy, cfg) == first
    assert plan(req, deps, policy.bind(deps), cfg) == first
    shuffled = data.draw(st.permutations(deps))
    assert comparable(plan(req, shuffled, policy, cfg)) == comparable(first)


# ---------------------------------------------------------------- invariant 7

ROUTER = Router(
    [deployment("local"), deployment("api", hosting="api", weights="closed")],
    policy=Policy.of("open", []),
)
OK_MESSAGES = [{"role": "user", "content": "hello"}]
NAMED_ARGS = {"self", "messages", "tools", "response_format", "max_tokens", "tenant"}
NAMED_ARGS |= {"sensitivity", "tags"}
non_str = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.binary(max_size=5))
junk = non_str | st.text(max_size=5)
bad_roles = st.text(max_size=10).filter(
    lambda r: r not in {"system", "developer", "user", "assistant", "tool", "function"}
)
untyped_parts = st.lists(
    st.fixed_dictionaries({"text": st.text(max_size=5)}, optional={"type": non_str}),
    min_size=1,
    max_size=3,
)
bad_messages = st.one_of(
    junk,
    st.just([]),
    st.dictionaries(st.sampled_from(["role", "content"]), st.text(max_size=5), max_size=2),
    st.lists(junk, min_size=1, max_size=3),
    st.lists(
        st.fixed_dictionaries({"role": bad_roles, "content": st.text(max_size=5)}), min_size=1
    ),
    st.lists(st.fixed_dictionaries({"content": st.text(max_size=5)}), min_size=1),
    st.lists(
        st.fixed_dictionaries({"role": st.just("user"), "content": untyped_parts}), min_size=1
    ),
    st.lists(
        st.fixed_dictionaries({"role": st.just("user"), "content": st.integers() | st.booleans()}),
        min_size=1,
    ),
)
bad_kwargs = st.one_of(
    st.fixed_dictionaries({"max_tokens": st.integers(max_value=0)}),
    st.fixed_dictionaries(
        {"max_tokens": st.sampled_from(["ten", "1.5", "", "many"]) | st.just(2.5)}
    ),
    st.fixed_dictionaries(
        {"sensitivity": st.text(max_size=12).filter(lambda s: s not in SENSITIVITY_LEVELS)}
    ),
    st.fixed_dictionaries({"tenant": st.just("") | st.none() | st.text(min_size=201)}),
    st.fixed_dictionaries({"tags": st.text(max_size=5) | st.lists(st.integers(), min_size=1)}),
    st.fixed_dictionaries({"tools": st.text(max_size=3) | st.lists(st.integers(), min_size=1)}),
    st.fixed_dictionaries(
        {
            "response_format": st.text(max_size=3)
            | st.fixed_dictionaries(
                {
                    "type": st.text().filter(
                        lambda t: t not in {"text", "json_object", "json_schema"}
                    )
                }
            )
        }
    ),
    st.dictionaries(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(
            lambda k: k not in OPENAI_PARAMS and k not in NAMED_ARGS
        ),
        st.integers(),
        min_size=1,
        max_size=2,
    ),
)


@PROPERTY
@given(bad_messages)
def test_malformed_messages_raise_invalid_request(msgs: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ROUTER.plan(msgs)
    assert isinstance(caught.value, RouterError)
    assert caught.value.field


@PROPERTY
@given(bad_kwargs)
def test_malformed_arguments_raise_invalid_request(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ROUTER.plan(OK_MESSAGES, **kwargs)
    assert caught.value.field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tags": None}, "tags"),
        ({"tags": 5}, "tags"),
        ({"response_format": {"type": []}}, "response_format"),
    ],
    ids=["tags-none", "tags-int", "response-format-type-unhashable"],
)
def test_malformed_arguments_once_escaping_as_type_error(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ROUTER.plan(OK_MESSAGES, **kwargs)
    assert caught.value.field == field
