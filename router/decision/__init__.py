"""The decision: the config, a request's features, the policy, the scored plan. Pure:
no network, no database, no provider (it reads its config and policy files).

May import: the base modules (router.errors, router._models, router._records,
router._effects, router._validation) and router.state.settings (the [state] table of
the config); router.quality only lazily (inside a function: the shipped predictor).
Nothing else of state, nor money, serving or tools.
"""

# -- the face: written by scripts/relayout.py (a re-run adds the names it lacks) --

from __future__ import annotations

from typing import TYPE_CHECKING

from router._lazy import face as _face

if TYPE_CHECKING:
    from router.decision._arguments import (
        OPENAI_PARAMS,
        SERVING_ARGS,
        CompleteArgs,
        RequestArgs,
        StreamArgs,
        call_params,
        to_request,
    )
    from router.decision._budgets import (
        Budget,
        BudgetState,
        applicable,
        is_organisation_counter,
        max_cost_micro,
    )
    from router.decision._catalog import (
        DEFAULT_QUALITY,
        DeploymentSpec,
        ModelFacts,
        families,
        family_of,
        lookup,
        models,
    )
    from router.decision._config import (
        Config,
        baseline_prices,
        compile_config,
        load_config,
        tree_of,
    )
    from router.decision._features import _encoding as _encoding
    from router.decision._features import estimate_tokens
    from router.decision._packs import builtin_policies, describe_pack, load_policy
    from router.decision._params import check_timeout
    from router.decision._planner import plan, plan_features
    from router.decision._policy import Policy, RuleFn
    from router.decision._pricing import cost_at
    from router.decision._scoring import Scorer, default_scorer, prior_scorer
    from router.decision._server import (
        DEFAULT_MODEL,
        KEY_HASH,
        ClientKey,
        ModelRoute,
        ServerSettings,
        is_loopback,
    )
    from router.decision._settings import (
        CooldownSettings,
        Mode,
        Origin,
        RetrySettings,
        RouterConfig,
        Settings,
        merged,
    )
    from router.decision._verify import (
        AnswerScorerFn,
        CascadeSettings,
        Verdict,
        verify,
        with_agreement,
    )

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_QUALITY",
    "KEY_HASH",
    "OPENAI_PARAMS",
    "SERVING_ARGS",
    "AnswerScorerFn",
    "Budget",
    "BudgetState",
    "CascadeSettings",
    "ClientKey",
    "CompleteArgs",
    "Config",
    "CooldownSettings",
    "DeploymentSpec",
    "Mode",
    "ModelFacts",
    "ModelRoute",
    "Origin",
    "Policy",
    "RequestArgs",
    "RetrySettings",
    "RouterConfig",
    "RuleFn",
    "Scorer",
    "ServerSettings",
    "Settings",
    "StreamArgs",
    "Verdict",
    "applicable",
    "baseline_prices",
    "builtin_policies",
    "call_params",
    "check_timeout",
    "compile_config",
    "cost_at",
    "default_scorer",
    "describe_pack",
    "estimate_tokens",
    "families",
    "family_of",
    "is_loopback",
    "is_organisation_counter",
    "load_config",
    "load_policy",
    "lookup",
    "max_cost_micro",
    "merged",
    "models",
    "plan",
    "plan_features",
    "prior_scorer",
    "to_request",
    "tree_of",
    "verify",
    "with_agreement",
]

_LAZY: dict[str, str] = {
    "ClientKey": "router.decision._server",
    "DEFAULT_MODEL": "router.decision._server",
    "KEY_HASH": "router.decision._server",
    "ModelRoute": "router.decision._server",
    "OPENAI_PARAMS": "router.decision._arguments",
    "ServerSettings": "router.decision._server",
    "is_loopback": "router.decision._server",
    "AnswerScorerFn": "router.decision._verify",
    "Budget": "router.decision._budgets",
    "BudgetState": "router.decision._budgets",
    "CascadeSettings": "router.decision._verify",
    "CompleteArgs": "router.decision._arguments",
    "Config": "router.decision._config",
    "CooldownSettings": "router.decision._settings",
    "DEFAULT_QUALITY": "router.decision._catalog",
    "DeploymentSpec": "router.decision._catalog",
    "Mode": "router.decision._settings",
    "ModelFacts": "router.decision._catalog",
    "Origin": "router.decision._settings",
    "Policy": "router.decision._policy",
    "RequestArgs": "router.decision._arguments",
    "RetrySettings": "router.decision._settings",
    "RouterConfig": "router.decision._settings",
    "RuleFn": "router.decision._policy",
    "SERVING_ARGS": "router.decision._arguments",
    "Scorer": "router.decision._scoring",
    "Settings": "router.decision._settings",
    "StreamArgs": "router.decision._arguments",
    "Verdict": "router.decision._verify",
    "_encoding": "router.decision._features",
    "applicable": "router.decision._budgets",
    "baseline_prices": "router.decision._config",
    "builtin_policies": "router.decision._packs",
    "call_params": "router.decision._arguments",
    "check_timeout": "router.decision._params",
    "compile_config": "router.decision._config",
    "cost_at": "router.decision._pricing",
    "default_scorer": "router.decision._scoring",
    "describe_pack": "router.decision._packs",
    "estimate_tokens": "router.decision._features",
    "families": "router.decision._catalog",
    "family_of": "router.decision._catalog",
    "is_organisation_counter": "router.decision._budgets",
    "load_config": "router.decision._config",
    "load_policy": "router.decision._packs",
    "lookup": "router.decision._catalog",
    "max_cost_micro": "router.decision._budgets",
    "merged": "router.decision._settings",
    "models": "router.decision._catalog",
    "plan": "router.decision._planner",
    "plan_features": "router.decision._planner",
    "prior_scorer": "router.decision._scoring",
    "to_request": "router.decision._arguments",
    "tree_of": "router.decision._config",
    "verify": "router.decision._verify",
    "with_agreement": "router.decision._verify",
}
"""Name -> the private module that defines it, imported on first access."""


__getattr__, __dir__ = _face(__name__, _LAZY, __all__)
