"""Budgets: USD per tenant (and optionally per tag) per day or month. Pure: the counters
come from the store as values, the clock from the caller.

A `hard` budget takes paid deployments out of the plan when what is left cannot cover
the request's maximum cost there. A `soft` budget first relaxes the quality target
step by step as it fills (default: at 50% used x0.8, at 75% x0.5, at 90% x0 = any
free deployment will do), and stops paid deployments like a hard one at 100%.

The maximum cost is an upper bound, not the estimate the objective uses: the prompt
counted as its UTF-8 bytes plus message overhead and media (byte-level tokenizers never
make more tokens than bytes; images, audio and files by `router.scan`'s bounds) and the
whole output budget times `n`, which the router then passes to the provider as
`max_tokens` (or `max_completion_tokens`, whichever name the caller used). Reserving
that bound before the call and settling the actual cost after keeps spend within the
limit, also under concurrency.

>>> b = Budget(tenant="acme", period="day", usd=10.0, mode="soft")
>>> b.window(1_764_400_000.0), b.limit_micro
('2025-11-29', 10000000)
>>> relaxed_target(0.9, b, used_micro=8_000_000)
0.45
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from router._validation import fields_of, raise_config_error
from router.errors import ConfigError
from router.models import Deployment, Features
from router.records import MICRO

__all__ = [
    "DEFAULT_STEPS",
    "Budget",
    "BudgetState",
    "applicable",
    "max_cost_micro",
    "parse_budgets",
    "relaxed_target",
]

Steps = tuple[tuple[float, float], ...]
DEFAULT_STEPS: Steps = ((0.5, 0.8), (0.75, 0.5), (0.9, 0.0))
"""(share of the budget used, factor on the quality target) for soft budgets."""


class Budget(BaseModel):
    """One `[[budgets]]` entry of the config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = Field(min_length=1)
    """A tenant name, or "*" for every tenant, each with its own counter."""
    tag: str | None = None
    """Count only requests carrying this tag."""
    period: Literal["day", "month"]
    usd: float = Field(ge=0)
    mode: Literal["hard", "soft"] = "hard"
    steps: Steps = DEFAULT_STEPS
    """Soft budgets: (share used, factor on the quality target), ascending shares."""

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

    @property
    def limit_micro(self) -> int:
        return round(self.usd * MICRO)

    def key(self, tenant: str) -> str:
        """The counter this budget keeps for `tenant`: tenant/tag/period."""
        return f"{tenant if self.tenant == '*' else self.tenant}/{self.tag or '*'}/{self.period}"

    def window(self, now: float) -> str:
        """The UTC day (YYYY-MM-DD) or month (YYYY-MM) `now` falls in."""
        fmt = "%Y-%m-%d" if self.period == "day" else "%Y-%m"
        return time.strftime(fmt, time.gmtime(now))

    def label(self, tenant: str) -> str:
        tag = f" tag {self.tag}" if self.tag else ""
        return f"{self.mode} budget {tenant}{tag} ${self.usd:g}/{self.period}"


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
    """The budgets a request of `tenant` with `tags` counts against."""
    return [b for b in budgets if b.tenant in ("*", tenant) and (b.tag is None or b.tag in tags)]


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
    seen: set[tuple[str, str | None, str]] = set()
    for i, entry in enumerate(entries):
        try:
            budget = entry if isinstance(entry, Budget) else Budget.model_validate(entry)
        except ValidationError as exc:
            raise_config_error(source, exc, f"budgets[{i}]", fields_of(Budget))
        ident = (budget.tenant, budget.tag, budget.period)
        if ident in seen:
            raise ConfigError(
                source,
                f"budgets[{i}]",
                f"a second {budget.period} budget for tenant {budget.tenant!r}"
                + (f" tag {budget.tag!r}" if budget.tag else "")
                + "; keep one",
            )
        seen.add(ident)
        out.append(budget)
    return tuple(out)
