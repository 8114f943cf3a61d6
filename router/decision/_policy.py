"""Policy rules and how they combine.

A rule is anything callable as `rule(features, deployment) -> reason | None`:
`None` lets the deployment through, a string denies it and says why. The rule
kinds written in policy packs (`policies/*.toml`) are pydantic models with a
`kind` discriminator that implement that call; a plain Python function is a rule
too.

Combination is deny-overrides: every rule sees every deployment, any denial
removes it, and every denial is kept. There is no "allow" that overrides a
"deny": `allow` means "only these", i.e. it denies what it does not match.
Rules fail closed: a rule about a field the deployment leaves unknown (say its
`origin`) denies it and says which field to set.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from router._models import Deployment, Features, Sensitivity, sensitivity_rank
from router.decision._pricing import estimate_cost_usd

__all__ = [
    "SELECTOR_FIELDS",
    "Allow",
    "BoundPolicy",
    "Deny",
    "LocalOnly",
    "MaxCost",
    "Policy",
    "Require",
    "Rule",
    "RuleFn",
    "Selector",
]

RuleFn = Callable[[Features, Deployment], "str | None"]
"""A rule: `(features, deployment) -> reason | None`."""

SELECTOR_FIELDS = ("name", "model", "vendor", "origin", "region", "hosting", "weights", "license")
Globs = tuple[Annotated[str, Field(min_length=1)], ...]


@functools.lru_cache(maxsize=1024)
def _compile(globs: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(translate(g) for g in globs), re.IGNORECASE)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Selector(_Frozen):
    """Which deployments a rule is about: each given field is a list of globs (any may
    match); all given fields must match."""

    name: Globs | None = None
    model: Globs | None = None
    vendor: Globs | None = None
    origin: Globs | None = None
    region: Globs | None = None
    hosting: Globs | None = None
    weights: Globs | None = None
    license: Globs | None = None

    _patterns: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = PrivateAttr(default=())

    def model_post_init(self, context: Any, /) -> None:
        self._patterns = tuple(
            (f, _compile(globs), globs)
            for f in SELECTOR_FIELDS
            if (globs := getattr(self, f)) is not None
        )

    def compare(self, deployment: Deployment) -> tuple[list[str], list[str], list[str]]:
        """(matched, mismatched, unknown) descriptions, one per selector field."""
        matched: list[str] = []
        mismatched: list[str] = []
        unknown: list[str] = []
        for f, pattern, globs in self._patterns:
            value = deployment.attribute(f)
            if not globs:  # an empty list names nothing: nothing matches, nothing is unknown
                mismatched.append(f"{f} not in []")
            elif value is None:
                unknown.append(f"{f} unknown (set {f} on the deployment)")
            elif pattern.fullmatch(value):
                matched.append(f"{f} {value!r}")
            else:
                mismatched.append(f"{f} {value!r} not in {list(globs)}")
        return matched, mismatched, unknown


class _RuleBase(_Frozen):
    """Conditions on the request under which a rule applies (all given must hold)."""

    reason: str | None = Field(default=None, description="one line shown on denial")
    min_sensitivity: Sensitivity | None = None
    tenants: Globs | None = None
    tags: tuple[str, ...] | None = Field(default=None, min_length=1)

    def applies(self, features: Features) -> bool:
        """Whether the request conditions hold. Reads public fields only: pydantic's
        private attributes take a slow lookup path, and this runs on every request."""
        if self.min_sensitivity is not None and sensitivity_rank(
            features.sensitivity
        ) < sensitivity_rank(self.min_sensitivity):
            return False
        if self.tenants is not None and not _compile(self.tenants).fullmatch(features.tenant):
            return False
        return self.tags is None or any(t in features.tags for t in self.tags)

    static: ClassVar[bool] = True
    """True when the verdict depends on the deployment alone (then it is computed once
    per deployment set, see `Policy.bind`), False when it needs the request too."""

    def check_deployment(self, deployment: Deployment) -> str | None:
        """The verdict of a static rule (one that needs no request features)."""
        raise NotImplementedError

    def check(self, features: Features, deployment: Deployment) -> str | None:
        return self.check_deployment(deployment)

    def check_many(
        self, features: Features, deployments: Sequence[Deployment]
    ) -> list[tuple[int, str]]:
        """(index, explained reason) for each deployment this rule denies (conditions
        already known to hold). Rules on the hot path override it with a single pass."""
        return [
            (i, self.explain(found))
            for i, d in enumerate(deployments)
            if (found := self.check(features, d)) is not None
        ]

    def explain(self, found: str) -> str:
        return found if self.reason is None else f"{self.reason} ({found})"

    def __call__(self, features: Features, deployment: Deployment) -> str | None:
        if not self.applies(features):
            return None
        found = self.check(features, deployment)
        return None if found is None else self.explain(found)


class LocalOnly(_RuleBase):
    """At or above `min_sensitivity`, only deployments you host may serve."""

    kind: Literal["local_only"] = "local_only"
    min_sensitivity: Sensitivity
    hosting: tuple[Literal["local", "self-hosted"], ...] = Field(
        default=("local", "self-hosted"), min_length=1
    )

    def check_deployment(self, deployment: Deployment) -> str | None:
        if deployment.hosting in self.hosting:
            return None
        return (
            f"{self.min_sensitivity}+ requests stay on {'/'.join(self.hosting)} "
            f"deployments; this one is {deployment.hosting}"
        )


class _SelectorRule(_RuleBase, Selector):
    where: Selector | None = Field(
        default=None, description="only deployments matching this are subject to the rule"
    )

    def model_post_init(self, context: Any, /) -> None:
        _RuleBase.model_post_init(self, context)
        Selector.model_post_init(self, context)

    @model_validator(mode="after")
    def _has_selector(self) -> _SelectorRule:
        if not any(getattr(self, f) is not None for f in SELECTOR_FIELDS):
            raise ValueError(
                f"a {self.kind_name()} rule needs at least one of {', '.join(SELECTOR_FIELDS)}"
            )
        return self

    def kind_name(self) -> str:
        return str(getattr(self, "kind", "selector"))

    def in_scope(self, deployment: Deployment) -> bool:
        if self.where is None:
            return True
        _, mismatched, _ = self.where.compare(deployment)
        return not mismatched  # unknown fields keep the rule in force: fail closed


class Deny(_SelectorRule):
    """Deny deployments that match every given field."""

    kind: Literal["deny"] = "deny"

    def check_deployment(self, deployment: Deployment) -> str | None:
        if not self.in_scope(deployment):
            return None
        matched, mismatched, unknown = self.compare(deployment)
        if mismatched:
            return None
        if unknown:
            return "cannot rule out a barred deployment: " + ", ".join(unknown)
        return "barred: " + ", ".join(matched)


class Allow(_SelectorRule):
    """Only deployments that match every given field may serve (an allow-list)."""

    kind: Literal["allow"] = "allow"

    def check_deployment(self, deployment: Deployment) -> str | None:
        if not self.in_scope(deployment):
            return None
        _, mismatched, unknown = self.compare(deployment)
        if not mismatched and not unknown:
            return None
        return "not allowed: " + ", ".join(mismatched + unknown)


class MaxCost(_RuleBase):
    """Deny deployments whose estimated maximum cost for this request exceeds `usd`."""

    kind: Literal["max_cost"] = "max_cost"
    usd: float = Field(ge=0)
    static: ClassVar[bool] = False

    def check(self, features: Features, deployment: Deployment) -> str | None:
        cost = estimate_cost_usd(features, deployment)
        if cost <= self.usd:
            return None
        return f"estimated cost ${cost:.6f} exceeds max_cost ${self.usd:.6f}"

    def check_many(
        self, features: Features, deployments: Sequence[Deployment]
    ) -> list[tuple[int, str]]:
        # The same arithmetic as `check`, in one pass: this rule runs on every request.
        pt, mo, cap = features.prompt_tokens, features.max_output_total, self.usd
        images = features.images  # a model whose image rule counts more adds its surplus
        return [
            (i, self.explain(f"estimated cost ${cost:.6f} exceeds max_cost ${cap:.6f}"))
            for i, d in enumerate(deployments)
            if (
                cost := (pt + d.image_surplus(features) if images else pt) * d.input_usd_per_token
                + mo * d.output_usd_per_token
            )
            > cap
        ]


class Require(_RuleBase):
    """Deny deployments that lack any of the listed capabilities."""

    kind: Literal["require"] = "require"
    capabilities: tuple[Literal["tools", "vision", "json", "json_schema"], ...] = Field(
        min_length=1
    )

    def check_deployment(self, deployment: Deployment) -> str | None:
        missing = [c for c in self.capabilities if c not in deployment.capabilities]
        return f"lacks required capability: {', '.join(missing)}" if missing else None


Rule = Annotated[LocalOnly | Deny | Allow | MaxCost | Require, Field(discriminator="kind")]
"""A rule written in a policy pack, chosen by its `kind`."""


def _rule_identity(rule: RuleFn) -> Any:
    """What the fingerprint covers: a pack rule's fields; a Python rule's name, code,
    defaults and captured values (so two closures of one factory differ)."""
    if isinstance(rule, BaseModel):
        return rule.model_dump(mode="json")
    name = getattr(rule, "__qualname__", type(rule).__qualname__)
    ident = f"callable:{getattr(rule, '__module__', '?')}.{name}"
    code = getattr(rule, "__code__", None)
    if code is not None:
        cells = [repr(c.cell_contents) for c in (getattr(rule, "__closure__", None) or ())]
        body = repr((code.co_code, code.co_consts, getattr(rule, "__defaults__", None), cells))
        ident += ":" + hashlib.sha256(body.encode()).hexdigest()[:16]
    return ident


@dataclass(frozen=True)
class Policy:
    """Ordered, labelled rules combined by deny-overrides.

    >>> from router.policy import Policy, Deny
    >>> p = Policy.of("no-cn", [Deny(origin=("CN",))])
    >>> p.name, len(p.fingerprint), p.unscannable
    ('no-cn', 16, 'confidential')
    """

    name: str
    rules: tuple[tuple[str, RuleFn], ...]
    fingerprint: str = field(default="")
    unscannable: Sensitivity = "confidential"
    """The sensitivity floor of a request carrying content the detectors cannot read
    (images, audio, binary files). Fails closed: confidential unless a pack says otherwise
    (`unscannable = "..."`, see `router.decision._packs`)."""

    @classmethod
    def of(
        cls,
        name: str,
        rules: Sequence[RuleFn | tuple[str, RuleFn]],
        vars: Any = None,
        *,
        unscannable: Sensitivity = "confidential",
    ) -> Policy:
        labelled: list[tuple[str, RuleFn]] = []
        for i, item in enumerate(rules, 1):
            if isinstance(item, tuple):
                labelled.append(item)
            else:
                kind = getattr(item, "kind", None) or getattr(item, "__name__", "rule")
                labelled.append((f"{name}#{i} {kind}", item))
        blob = json.dumps(
            {
                "name": name,
                "rules": [_rule_identity(r) for _, r in labelled],
                "vars": vars,
                "unscannable": unscannable,
            },
            sort_keys=True,
            default=str,
        )
        fingerprint = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return cls(
            name=name, rules=tuple(labelled), fingerprint=fingerprint, unscannable=unscannable
        )

    def denials(self, features: Features, deployment: Deployment) -> tuple[str, ...]:
        """Every reason any rule gives to deny `deployment` for this request."""
        return tuple(
            f"{label}: {reason}"
            for label, rule in self.rules
            if (reason := rule(features, deployment)) is not None
        )

    def bind(self, deployments: Sequence[Deployment]) -> BoundPolicy:
        """This policy for a fixed deployment set, with every static verdict precomputed."""
        deps = tuple(deployments)
        static: list[tuple[tuple[int, str], ...] | None] = []
        for label, rule in self.rules:
            if isinstance(rule, _RuleBase) and rule.static:
                static.append(
                    tuple(
                        (i, f"{label}: {rule.explain(found)}")
                        for i, d in enumerate(deps)
                        if (found := rule.check_deployment(d)) is not None
                    )
                )
            else:
                static.append(None)
        return BoundPolicy(self, deps, tuple(static))


@dataclass(frozen=True)  # not slots: `tightest_window` is a cached_property
class BoundPolicy:
    """A policy bound to a deployment set: per request, only request conditions and
    request-dependent rules (`max_cost`, callables) are evaluated."""

    policy: Policy
    deployments: tuple[Deployment, ...]
    static: tuple[tuple[tuple[int, str], ...] | None, ...]
    """Per rule: (deployment index, reason) for each deployment a static rule denies;
    None for rules that need the request."""

    @functools.cached_property
    def tightest_window(self) -> int | None:
        """The smallest context window in the set (None when it is empty)."""
        return min((d.context_window for d in self.deployments), default=None)

    @functools.cached_property
    def widest_window(self) -> int | None:
        """The largest context window in the set (None when it is empty)."""
        return max((d.context_window for d in self.deployments), default=None)

    def denials(self, features: Features) -> list[list[str]]:
        """Every denial reason, per deployment (same order as `deployments`)."""
        out: list[list[str]] = [[] for _ in self.deployments]
        for (label, rule), verdicts in zip(self.policy.rules, self.static, strict=True):
            if isinstance(rule, _RuleBase) and not rule.applies(features):
                continue
            if verdicts is not None:
                for i, reason in verdicts:
                    out[i].append(reason)
                continue
            if isinstance(rule, _RuleBase):  # conditions checked above
                for i, reason in rule.check_many(features, self.deployments):
                    out[i].append(f"{label}: {reason}")
                continue
            for reasons, d in zip(out, self.deployments, strict=True):
                if (found := rule(features, d)) is not None:
                    reasons.append(f"{label}: {found}")
        return out
