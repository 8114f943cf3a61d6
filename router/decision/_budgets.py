"""Budgets: USD per tenant, or for the whole organisation (optionally per tag), per day or
month. Pure: the counters come from the store as values, the clock from the caller.

Scope: `tenant = "acme"` is one tenant's budget; `tenant = "*"` gives every tenant a
budget of its own (one counter each); `scope = "organisation"` is one budget, one
counter, shared by every tenant ("$50 a month for the whole company"). A request counts
against every budget that applies to it, and the tightest decides.

A `hard` budget takes paid deployments out of the plan when what is left cannot cover
the request's maximum cost there. A `soft` budget first relaxes the quality target
step by step as it fills (default: at 50% used x0.8, at 75% x0.5, at 90% x0 = any
free deployment will do), and stops paid deployments like a hard one at 100%.

The maximum cost is an upper bound, not the estimate the objective uses: the prompt
counted as its UTF-8 bytes plus message overhead and media (byte-level tokenizers never
make more tokens than bytes; images, audio and files by `router.decision._scan`'s bounds) and the
whole output budget times `n`, which the router then passes to the provider as
`max_tokens` (or `max_completion_tokens`, whichever name the caller used). Reserving
that bound before the call and settling the actual cost after keeps spend within the
limit, also under concurrency.

>>> b = Budget(tenant="acme", period="day", usd=10.0, mode="soft")
>>> b.window(1_764_400_000.0), b.limit_micro
('2025-11-29', 10000000)
>>> b.resets_at(1_764_400_000.0) - 1_764_400_000.0  # seconds to the next UTC midnight
60800.0
>>> relaxed_target(0.9, b, used_micro=8_000_000)
0.45
>>> company = Budget(scope="organisation", period="month", usd=50)
>>> company.key("acme"), company.key("globex") == company.key("acme")
('organisation/*/month/all-tenants', True)
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from router._models import Deployment, Features
from router._records import MICRO
from router._validation import fields_of, raise_config_error
from router.errors import ConfigError

__all__ = [
    "DEFAULT_STEPS",
    "ORGANISATION_SUFFIX",
    "Budget",
    "BudgetState",
    "applicable",
    "is_organisation_counter",
    "max_cost_micro",
    "parse_budgets",
    "relaxed_target",
]

Steps = tuple[tuple[float, float], ...]
DEFAULT_STEPS: Steps = ((0.5, 0.8), (0.75, 0.5), (0.9, 0.0))
"""(share of the budget used, factor on the quality target) for soft budgets."""

ORGANISATION_SUFFIX = "/all-tenants"
"""How the organisation's counters end (`organisation/TAG/PERIOD/all-tenants`). A tenant's
counter is `TENANT/TAG/PERIOD` and so always ends in `/day` or `/month`: no tenant, whatever
its name, can share the organisation's counter (in the ledger or on Redis)."""

_SCOPES = {"tenant": "tenant", "organisation": "organisation", "organization": "organisation"}
_WHO = (
    'write tenant = "NAME" (one tenant), tenant = "*" (every tenant, each its own '
    'counter) or scope = "organisation" (one counter shared by all tenants)'
)


def is_organisation_counter(key: str) -> bool:
    """True for the counter of a `scope = "organisation"` budget (shared by all tenants)."""
    return key.endswith(ORGANISATION_SUFFIX)


def _scope_problem(scope: object, tenant: object) -> str | None:
    """What to write about `tenant` when it does not go with `scope`, else None."""
    organisation = isinstance(scope, str) and _SCOPES.get(scope) == "organisation"
    if organisation and tenant is not None:
        own = (
            f'for {tenant}\'s own budget write tenant = "{tenant}" without scope'
            if isinstance(tenant, str) and tenant != "*"
            else 'for a budget per tenant write tenant = "*" without scope'
        )
        return f"an organisation budget counts all tenants in one counter: leave out tenant ({own})"
    if not organisation and tenant is None and scope in (None, "tenant"):
        return f"is required: {_WHO}"
    return None


class Budget(BaseModel):
    """One `[[budgets]]` entry of the config."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    scope: Literal["tenant", "organisation"] = "tenant"
    """`tenant` (the default): the budget of `tenant`. `organisation` (or `organization`):
    one budget, one counter, for all tenants together; `tenant` is then left out."""
    tenant: str | None = Field(default=None, min_length=1)
    """A tenant name, or "*" for every tenant, each with its own counter. Required unless
    `scope = "organisation"`, and not allowed with it."""
    tag: str | None = None
    """Count only requests carrying this tag."""
    period: Literal["day", "month"]
    usd: float = Field(ge=0)
    mode: Literal["hard", "soft"] = "hard"
    steps: Steps = DEFAULT_STEPS
    """Soft budgets: (share used, factor on the quality target), ascending shares."""

    @field_validator("scope", mode="before")
    @classmethod
    def _one_spelling(cls, scope: object) -> object:
        return _SCOPES.get(scope, scope) if isinstance(scope, str) else scope

    @field_validator("steps")
    @classmethod
    def _steps_ascend(
        cls, steps: tuple[tuple[float, float], ...]
    ) -> tuple[tuple[float, float], ...]:
        shares = [s for s, _ in steps]
        if shares != sorted(shares) or any(not 0 < s < 1 for s in shares):
            raise ValueError("give ascending shares between 0 and 1, e.g. [[0.5, 0.8], [0.9, 0.0]]")
        if any(not 0 <= f <= 1 for _, f in steps):
            raise ValueError("each factor on the quality target must be between 0 and 1")
        return steps

    @model_validator(mode="after")
    def _steps_for_soft_only(self) -> Budget:
        if self.mode == "hard" and self.steps != DEFAULT_STEPS:
            raise ValueError('steps apply to mode = "soft" budgets only')
        return self

    @model_validator(mode="after")
    def _tenant_fits_scope(self) -> Budget:
        problem = _scope_problem(self.scope, self.tenant)
        if problem is not None:
            raise ValueError(f"tenant: {problem}")
        return self

    @property
    def organisation(self) -> bool:
        """One counter shared by every tenant (`scope = "organisation"`)."""
        return self.scope == "organisation"

    @property
    def limit_micro(self) -> int:
        return round(self.usd * MICRO)

    def key(self, tenant: str) -> str:
        """The counter this budget keeps for `tenant`: tenant/tag/period, or for the
        organisation the same one whatever the tenant, organisation/tag/period/all-tenants
        (see `ORGANISATION_SUFFIX`: no tenant's counter can have that name)."""
        tag = self.tag or "*"
        if self.organisation:
            return f"organisation/{tag}/{self.period}{ORGANISATION_SUFFIX}"
        return f"{tenant if self.tenant == '*' else self.tenant}/{tag}/{self.period}"

    def window(self, now: float) -> str:
        """The UTC day (YYYY-MM-DD) or month (YYYY-MM) `now` falls in."""
        fmt = "%Y-%m-%d" if self.period == "day" else "%Y-%m"
        return time.strftime(fmt, time.gmtime(now))

    def resets_at(self, now: float) -> float:
        """When the window `now` falls in ends and the counter starts again from zero (a
        UTC timestamp): the next midnight, or the first of the next month."""
        t = time.gmtime(now)
        if self.period == "day":
            return float(calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)) + 86_400)
        year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        return float(calendar.timegm((year, month, 1, 0, 0, 0)))

    def label(self, tenant: str) -> str:
        tag = f" tag {self.tag}" if self.tag else ""
        who = "organisation" if self.organisation else tenant
        return f"{self.mode} budget {who}{tag} ${self.usd:g}/{self.period}"


class BudgetState(NamedTuple):
    """A budget as it stands for one request: its counter and what is used of it
    (settled spend plus open reservations), in micro-dollars."""

    budget: Budget
    tenant: str
    key: str
    window: str
    used_micro: int

    @property
    def left_micro(self) -> int:
        return max(self.budget.limit_micro - self.used_micro, 0)

    @property
    def share_used(self) -> float:
        limit = self.budget.limit_micro
        return 1.0 if limit == 0 else self.used_micro / limit


def applicable(budgets: Sequence[Budget], tenant: str, tags: Sequence[str]) -> list[Budget]:
    """The budgets a request of `tenant` with `tags` counts against: the organisation's,
    every tenant's ("*") and its own."""
    return [
        b
        for b in budgets
        if (b.organisation or b.tenant in ("*", tenant)) and (b.tag is None or b.tag in tags)
    ]


def max_cost_micro(features: Features, deployment: Deployment) -> int:
    """The most this request can cost on `deployment` (rounded up): the prompt at its
    byte bound (message overhead and media included, and the images at this deployment's
    own rule) and the whole output budget of every one of the `n` answers."""
    usd = (
        features.prompt_bytes + deployment.image_surplus(features)
    ) * deployment.input_usd_per_token + features.max_output_total * deployment.output_usd_per_token
    micro = usd * MICRO
    return int(micro) + (micro > int(micro))


def relaxed_target(target: float, budget: Budget, used_micro: int) -> float:
    """The quality target once a soft budget is `used_micro` full (unchanged for hard)."""
    if budget.mode != "soft":
        return target
    limit = budget.limit_micro
    share = 1.0 if limit == 0 else used_micro / limit
    factor = 1.0
    for at, f in budget.steps:
        if share >= at:
            factor = f
    return round(target * factor, 6)


def parse_budgets(entries: Sequence[Budget | Mapping[str, Any]], source: str) -> tuple[Budget, ...]:
    """Validate `[[budgets]]` entries; a ConfigError names the entry and the key."""
    out = []
    seen: set[tuple[str, str | None, str | None, str]] = set()
    for i, entry in enumerate(entries):
        if isinstance(entry, Mapping):
            problem = _scope_problem(entry.get("scope"), entry.get("tenant"))
            if problem is not None:
                raise ConfigError(source, f"budgets[{i}].tenant", problem)
        try:
            budget = entry if isinstance(entry, Budget) else Budget.model_validate(entry)
        except ValidationError as exc:
            raise_config_error(source, exc, f"budgets[{i}]", fields_of(Budget))
        ident = (budget.scope, budget.tenant, budget.tag, budget.period)
        if ident in seen:
            who = "the organisation" if budget.organisation else f"tenant {budget.tenant!r}"
            raise ConfigError(
                source,
                f"budgets[{i}]",
                f"a second {budget.period} budget for {who}"
                + (f" tag {budget.tag!r}" if budget.tag else "")
                + "; keep one",
            )
        seen.add(ident)
        out.append(budget)
    return tuple(out)
