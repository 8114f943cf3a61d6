"""Request + deployments + policy + objective -> Decision. Pure: no clock, disk or network.

Stages, in order: features; facts (the prompt and output budget fit the context
window, the deployment has the capabilities the request uses); policy (every
rule, deny-overrides, every denial kept); then the scorer predicts quality for
what is left and the objective orders it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from router._models import Deployment, Features, Request
from router._records import MICRO, Candidate, Decision, Rejection
from router.decision._budgets import BudgetState, max_cost_micro, relaxed_target
from router.decision._features import extract, prompt_tokens_max
from router.decision._policy import BoundPolicy, Policy
from router.decision._scoring import OBJECTIVES, Params, Scored, Scorer, prior_scorer
from router.decision._settings import PAID_SHARE, Mode, Settings

__all__ = ["PAID_SHARE", "Mode", "Settings", "fact_reasons", "plan", "plan_features"]
# Settings is the planner's view of the config tree (`router.decision._settings`, where the keys it
# reads are declared once); PAID_SHARE and Mode are defined there too.


def fact_reasons(features: Features, deployment: Deployment) -> list[str]:
    """Why `deployment` cannot technically serve this request (empty when it can)."""
    need = prompt_tokens_max(features) + deployment.image_surplus(features)
    return _fact_reasons(features, deployment, need + features.max_output_tokens)


def _fact_reasons(features: Features, deployment: Deployment, need: int) -> list[str]:
    reasons = []
    if need > deployment.context_window:
        about = "" if features.prompt_tokens_exact else "up to "
        reasons.append(
            f"prompt ({about}{need - features.max_output_tokens:,} tokens) + output budget "
            f"({features.max_output_tokens:,}) exceeds context window "
            f"{deployment.context_window:,}"
        )
    missing = [
        c for c in features.capabilities if c != "long_context" and c not in deployment.capabilities
    ]
    if missing:
        reasons.append(f"lacks capability the request uses: {', '.join(missing)}")
    limit = deployment.max_output_tokens
    if features.output_budget_source == "request" and limit and features.max_output_tokens > limit:
        reasons.append(
            f"max_tokens {features.max_output_tokens:,} exceeds its output limit {limit:,}"
        )
    return reasons


def _bind(deployments: tuple[Deployment, ...], policy: Policy | BoundPolicy) -> BoundPolicy:
    if isinstance(policy, BoundPolicy) and policy.deployments == deployments:
        return policy
    return (policy.policy if isinstance(policy, BoundPolicy) else policy).bind(deployments)


def plan(
    request: Request,
    deployments: Sequence[Deployment],
    policy: Policy | BoundPolicy,
    settings: Settings,
    scorer: Scorer = prior_scorer,
    *,
    budgets: Sequence[BudgetState] = (),
) -> Decision:
    """Decide which deployments may serve `request`, in what order, and why.

    Pass `policy.bind(deployments)` to reuse the static verdicts across requests, and
    the state of the budgets the request counts against (`budgets.applicable`).
    """
    deployments = tuple(deployments)
    bound = _bind(deployments, policy)
    max_out = request.max_tokens or settings.default_max_tokens
    tightest = bound.tightest_window
    features = extract(
        request,
        default_max_tokens=settings.default_max_tokens,
        exact_above_bytes=None if tightest is None else tightest - max_out,
        detector_levels=settings.detector_levels,
        profile=getattr(scorer, "encode", None),
        stop_count_above=bound.widest_window,
        unscannable_level=bound.policy.unscannable,
    )
    target = request.quality_target or settings.quality_target
    return plan_features(
        features, deployments, bound, settings, scorer, target=target, budgets=budgets
    )


def plan_features(
    features: Features,
    deployments: Sequence[Deployment],
    policy: Policy | BoundPolicy,
    settings: Settings,
    scorer: Scorer = prior_scorer,
    *,
    target: float,
    budgets: Sequence[BudgetState] = (),
) -> Decision:
    """`plan` from features already extracted (a recorded request, in `replay`)."""
    deployments = tuple(deployments)
    bound = _bind(deployments, policy)
    max_out = features.max_output_tokens
    notes: list[str] = []
    for state in budgets:
        relaxed = relaxed_target(target, state.budget, state.used_micro)
        if relaxed < target:
            notes.append(
                f"{state.budget.label(state.tenant)} {state.share_used:.0%} used: "
                f"quality target {target:g} -> {relaxed:g}"
            )
            target = relaxed
    cap = min((s.left_micro for s in budgets), default=None)
    denied_by = bound.denials(features)

    need = prompt_tokens_max(features) + features.max_output_tokens
    images = features.images  # a model whose image rule counts more adds its surplus
    uses = frozenset(c for c in features.capabilities if c != "long_context")
    by_request = features.output_budget_source == "request"
    eligible: list[Deployment] = []
    rejected: list[Rejection] = []
    for d, denied in zip(deployments, denied_by, strict=True):
        # The conditions of `_fact_reasons`, without building messages for the common case
        # (tests/test_invariants.py checks the two agree on random requests).
        need_here = need + d.image_surplus(features) if images else need
        able = (
            need_here <= d.context_window
            and (not uses or uses <= d.capabilities)
            and not (by_request and d.max_output_tokens and max_out > d.max_output_tokens)
        )
        if able and not denied:
            if cap is None or not (d.input_usd_per_token or d.output_usd_per_token):
                eligible.append(d)
                continue
            most = max_cost_micro(features, d)
            if most <= cap:
                eligible.append(d)
                continue
            short = min(budgets, key=lambda s: s.left_micro)
            rejected.append(Rejection._make((d.name, "budget", (_over_budget(short, most),))))
            continue
        facts = () if able else tuple(_fact_reasons(features, d, need_here))
        stage: Literal["facts", "policy"] = "policy" if denied else "facts"
        rejected.append(Rejection._make((d.name, stage, (*facts, *denied))))

    candidates: tuple[Candidate, ...] = ()
    pct: float | None = None
    if eligible:
        qualities = scorer(features, eligible)
        sources_of = getattr(scorer, "sources", None)
        sources = (
            sources_of(eligible)
            if sources_of is not None and features.profile
            else [""] * len(eligible)
        )
        pt, mo = features.prompt_tokens, features.max_output_total
        # Hot path: cost as in `pricing.estimate_cost_usd`, inlined, and records built with
        # `_make` (a named tuple's keyword constructor costs ~10x more; see design notes).
        scored = [
            Scored._make(
                (
                    d,
                    float(q),
                    (pt + d.image_surplus(features) if images else pt) * d.input_usd_per_token
                    + mo * d.output_usd_per_token,
                    src,
                )
            )
            for d, q, src in zip(eligible, qualities, sources, strict=True)
        ]
        objective = OBJECTIVES[settings.objective]
        if settings.objective == "free-first" and features.profile:
            pct = _gain_percentile(scorer, features, scored)
        params = Params(target, settings.quality_value_usd, settings.paid_share, pct)
        candidates = tuple(objective(scored, params))

    return Decision(
        features=features,
        candidates=candidates,
        rejected=tuple(rejected),
        policy=bound.policy.name,
        policy_fingerprint=bound.policy.fingerprint,
        objective=settings.objective,
        quality_target=target,
        budget_notes=tuple(notes),
        gain_percentile=None if pct is None else round(pct, 4),
    )


def _gain_percentile(scorer: Scorer, features: Features, scored: Sequence[Scored]) -> float | None:
    """Where the predicted gain of paying (the best paid deployment's quality minus the
    best free one's) falls in the reference traffic, when the scorer can say."""
    rank = getattr(scorer, "gain_percentile", None)
    if rank is None:
        return None
    free: Scored | None = None
    paid: Scored | None = None
    for s in scored:  # the best free and the best paid by quality (first of equals)
        if s.cost == 0:
            if free is None or s.quality > free.quality:
                free = s
        elif paid is None or s.quality > paid.quality:
            paid = s
    if free is None or paid is None:
        return None
    pct: float | None = rank(
        features, free.deployment, paid.deployment, paid.quality - free.quality
    )
    return pct


def _over_budget(state: BudgetState, most_micro: int) -> str:
    return (
        f"{state.budget.label(state.tenant)}: ${state.left_micro / MICRO:.6f} left in "
        f"{state.window}, this request may cost up to ${most_micro / MICRO:.6f} here"
    )
