"""The records of a request: candidates, rejections, attempts, usage, cost, the Decision
and the Result. Frozen dataclasses and named tuples: cheap to build on the hot path and
JSON-ready through `Decision.to_dict()`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from router._models import Features, Hosting, Weights

__all__ = [
    "CLOSED_BY_CALLER",
    "Attempt",
    "Candidate",
    "Cost",
    "Decision",
    "Rejection",
    "Result",
    "Usage",
    "Verification",
    "response_text",
]

CLOSED_BY_CALLER = "ClosedByCaller"
"""A ledger record's `error` when its caller cut the request: a stream's `close()` /
`aclose()`, a loop left early, the reading task cancelled (a server's client that
disconnected)."""

MICRO = 1_000_000
"""Micro-dollars per dollar: money is kept and summed as integers of 1e-6 USD."""


class Candidate(NamedTuple):
    """A deployment that may serve the request, in plan order."""

    name: str
    model: str
    hosting: Hosting
    weights: Weights
    est_cost_usd: float
    quality: float
    quality_source: str
    meets_target: bool
    why: str


class Rejection(NamedTuple):
    """A deployment that may not serve the request, with every reason (deny-overrides)."""

    name: str
    stage: Literal["facts", "policy", "budget"]
    reasons: tuple[str, ...]


class Attempt(NamedTuple):
    """One call to one deployment, as recorded in the decision."""

    deployment: str
    try_number: int
    outcome: Literal["ok", "retry", "fallback", "raise", "gave up", "skipped", "rejected", "sample"]
    """`rejected`: answered, but the cascade's verifier scored the answer below its
    threshold and a paid deployment served instead; `sample`: an extra answer the cascade
    drew from the same free deployment to measure agreement (never served)."""
    error: str | None
    latency_ms: float


class Usage(NamedTuple):
    """Tokens a call used. `source` says whether the provider reported them or the router
    estimated them (a stream stopped before the provider's usage chunk)."""

    prompt_tokens: int
    completion_tokens: int
    source: Literal["provider", "estimate"]
    reported_usd: float | None = None
    """The call's cost as the provider or litellm reported it (`usage.cost`), if any."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Cost(NamedTuple):
    """What a request cost and what the baseline model would have cost for the same usage,
    in integer micro-dollars (exact sums). `baseline_micro_usd` is None without a baseline."""

    micro_usd: int
    baseline_micro_usd: int | None
    source: Literal["price", "reported"] = "price"
    """"price": usage x the deployment's price; "reported": the provider's or litellm's
    own figure, used for API deployments when it is within 0.1x-1x of the price."""

    @property
    def usd(self) -> float:
        return self.micro_usd / MICRO

    @property
    def baseline_usd(self) -> float | None:
        return None if self.baseline_micro_usd is None else self.baseline_micro_usd / MICRO

    @property
    def saved_usd(self) -> float | None:
        """Baseline minus actual cost (negative when the request cost more than the baseline)."""
        if self.baseline_micro_usd is None:
            return None
        return (self.baseline_micro_usd - self.micro_usd) / MICRO


class Verification(NamedTuple):
    """What the cascade did with a request (`mode="cascade"`): which free deployment
    answered first, the verifier's score of that answer, and whether and why it escalated.

    Honest accounting: `first_latency_ms` is the wall time of the free stage (its calls,
    retries, samples and the verification), `first_cost_micro` what the free answer cost
    at its deployment's price (0 for a free local model; a self-hosted one's cost model),
    `samples_cost_micro` what the agreement samples cost. When the request escalated, the
    decision's `cost` is the paid answer's cost plus both; its `usage` is the served
    (paid) answer's, and `first_usage` keeps the free one's tokens.
    """

    first: str | None
    """The free deployment whose answer was verified; None when none answered."""
    score: float | None
    """The combined score (minimum of the checks); None when nothing was verified."""
    threshold: float
    checks: tuple[tuple[str, float], ...]
    escalated: bool
    """True when a paid deployment served the answer instead of the free one."""
    reason: str
    first_latency_ms: float = 0.0
    first_usage: Usage | None = None
    first_cost_micro: int = 0
    samples: int = 0
    samples_cost_micro: int = 0

    @property
    def extra_micro(self) -> int:
        """The cost of the calls that did not deliver the served answer."""
        return self.samples_cost_micro + (self.first_cost_micro if self.escalated else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._asdict(),
            "checks": dict(self.checks),
            "first_usage": self.first_usage._asdict() if self.first_usage else None,
            "first_cost_usd": self.first_cost_micro / MICRO,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The record of one routing decision: what may serve, in what order, and why.

    `Router.plan(...)` returns it without calling any model. The records are a frozen
    dataclass and named tuples, not pydantic models: the planner builds dozens per
    request, and a named tuple costs ~0.7 µs where a frozen model costs 3-10 µs.
    """

    features: Features
    candidates: tuple[Candidate, ...]
    rejected: tuple[Rejection, ...]
    policy: str
    policy_fingerprint: str
    objective: str
    quality_target: float
    attempts: tuple[Attempt, ...] = ()
    served_by: str | None = None
    cache_hit: bool = False
    usage: Usage | None = None
    cost: Cost | None = None
    budget_notes: tuple[str, ...] = ()
    """How budgets changed the plan (a relaxed quality target); removals are rejections."""
    verification: Verification | None = None
    """The cascade's record (mode "cascade"); None when the request was routed plainly."""
    shared_state: tuple[str, ...] = ()
    """How unreachable shared state (Redis) changed this request: "shared state
    unavailable: budgets failed closed", "... response cache bypassed", ..."""
    request_id: str | None = None
    """Names the request in the ledger (24 hex digits), for `Router.feedback`; None for a
    dry run (`Router.plan`)."""
    gain_percentile: float | None = None
    """How the predicted gain of paying on this request (best paid minus best free
    deployment) ranks among the same deployments' gains on reference traffic, in [0, 1]
    (None: a scorer that does not encode prompts, or nothing free or nothing paid
    eligible). `free-first` pays when it is at least 1 - `paid_share`."""
    cold_start: bool = False
    """The request ran before its backend was warm in this process, so its latency holds
    the first-call cost (litellm's import, ~2-7 s; `Router.warmup()` takes it out). The
    ledger's `cold_start` column; reports can leave such requests out of latency figures."""

    @property
    def chosen(self) -> Candidate | None:
        """The deployment the request goes to first, or None when nothing is eligible."""
        return self.candidates[0] if self.candidates else None

    def to_dict(self) -> dict[str, Any]:
        """The whole record as JSON-ready data."""
        return {
            "features": self.features.model_dump(mode="json"),
            **self.to_dict_without_features(),
        }

    def to_json(self) -> str:
        """`to_dict()` as compact JSON, built without the intermediate features dict
        (pydantic writes the features straight to JSON): the ledger's fast path."""
        rest = self.to_dict_without_features()
        body = json.dumps(rest, separators=(",", ":"))
        return '{"features":' + self.features.model_dump_json() + "," + body[1:]

    def to_dict_without_features(self) -> dict[str, Any]:
        return {
            "candidates": [c._asdict() for c in self.candidates],
            "rejected": [{**r._asdict(), "reasons": list(r.reasons)} for r in self.rejected],
            "policy": self.policy,
            "policy_fingerprint": self.policy_fingerprint,
            "objective": self.objective,
            "quality_target": self.quality_target,
            "attempts": [a._asdict() for a in self.attempts],
            "served_by": self.served_by,
            "cache_hit": self.cache_hit,
            "usage": self.usage._asdict() if self.usage else None,
            "cost": _cost_dict(self.cost),
            "budget_notes": list(self.budget_notes),
            "verification": self.verification.to_dict() if self.verification else None,
            "shared_state": list(self.shared_state),
            "request_id": self.request_id,
            "gain_percentile": self.gain_percentile,
            "cold_start": self.cold_start,
        }

    def summary(self) -> dict[str, Any]:
        """A JSON-ready view: ordered `candidates` names and `rejected` name -> reasons."""
        return {
            "chosen": self.chosen.name if self.chosen else None,
            "candidates": [c.name for c in self.candidates],
            "rejected": {r.name: list(r.reasons) for r in self.rejected},
            "policy": self.policy,
            "policy_fingerprint": self.policy_fingerprint,
            "objective": self.objective,
            "quality_target": self.quality_target,
            "gain_percentile": self.gain_percentile,
            "features": self.features.model_dump(mode="json"),
            "candidate_details": [c._asdict() for c in self.candidates],
            "verification": self.verification.to_dict() if self.verification else None,
            "shared_state": list(self.shared_state),
        }


@dataclass(frozen=True, slots=True)
class Result:
    """An OpenAI-shaped response and the decision that explains it (attempts, who served)."""

    response: dict[str, Any]
    decision: Decision

    @property
    def content(self) -> str | None:
        """The first choice's message text, or None (e.g. a tool call)."""
        return response_text(self.response)


def response_text(response: Mapping[str, Any]) -> str | None:
    """The first choice's message text of an OpenAI-shaped response, or None."""
    choices = response.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    return content if isinstance(content, str) else None


def _cost_dict(cost: Cost | None) -> dict[str, Any] | None:
    if cost is None:
        return None
    return {
        **cost._asdict(),
        "usd": cost.usd,
        "baseline_usd": cost.baseline_usd,
        "saved_usd": cost.saved_usd,
    }
