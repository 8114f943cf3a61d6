"""The report's values: `Stats`, `Latency`, `Offender`, `Compliance`, `Report` (frozen,
`to_dict()` JSON-ready) and the constants that define what is counted where."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

from router._models import SENSITIVITY_LEVELS, sensitivity_rank
from router._records import MICRO

SERVED = ("ok", "interrupted")
IN_SERVED = "outcome IN (" + ", ".join(f"'{o}'" for o in SERVED) + ")"
"""SQL: the record was served (answered, if only in part)."""
CONFIDENTIAL_OR_ABOVE: tuple[str, ...] = tuple(
    s for s in SENSITIVITY_LEVELS if sensitivity_rank(s) >= sensitivity_rank("confidential")
)
HOSTING_KINDS = ("local", "self-hosted", "api")
YOUR_MACHINES: tuple[str, ...] = ("local", "self-hosted")
"""Hosting kinds on machines you control: where confidential-or-above data may go (the
shipped confidential-local pack allows exactly these). Any other hosting, or none
recorded, is "non-local" for the compliance check: it fails closed."""
NOT_SERVED = "not served"
UNKNOWN = "unknown"
OFFENDERS_SHOWN = 50
"""At most this many offending records are listed (the counts are always complete)."""


def offending_cell(sensitivity: str, column: str) -> bool:
    """Whether the requests in this cell of the compliance matrix (a sensitivity level x
    the hosting that served them) break the rule: confidential-or-above, served, and not
    on your machines ("unknown" hosting included)."""
    return sensitivity in CONFIDENTIAL_OR_ABOVE and column not in (*YOUR_MACHINES, NOT_SERVED)


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts and money over one set of records: all of them, a tenant, a deployment or a
    day. Money in integer micro-dollars; `*_usd` and the shares are derived."""

    key: str
    requests: int = 0
    served: int = 0
    errors: int = 0
    unservable: int = 0
    interrupted: int = 0
    fallbacks: int = 0
    with_fallback: int = 0
    cache_hits: int = 0
    free: int = 0
    local: int = 0
    """Served by a deployment with `hosting = "local"`."""
    on_your_machines: int = 0
    """Served by a deployment on your machines: hosting in `YOUR_MACHINES`."""
    cost_micro: int = 0
    baseline_micro: int = 0
    priced: int = 0
    """Records with a baseline; `baseline_micro` and `saved_micro` are over these."""
    priced_cost_micro: int = 0
    served_latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    hosting: str | None = None
    """The deployment's hosting kind (deployment groups only)."""

    @property
    def saved_micro(self) -> int:
        return self.baseline_micro - self.priced_cost_micro

    @property
    def saved_pct(self) -> float | None:
        return 100.0 * self.saved_micro / self.baseline_micro if self.baseline_micro else None

    @property
    def free_pct(self) -> float | None:
        return _pct(self.free, self.served)

    @property
    def local_pct(self) -> float | None:
        return _pct(self.local, self.served)

    @property
    def on_your_machines_pct(self) -> float | None:
        return _pct(self.on_your_machines, self.served)

    @property
    def cache_hit_pct(self) -> float | None:
        return _pct(self.cache_hits, self.served)

    @property
    def mean_latency_ms(self) -> float | None:
        return self.served_latency_ms / self.served if self.served else None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if self.hosting is None:
            del out["hosting"]
        out.update(
            cost_usd=self.cost_micro / MICRO,
            baseline_usd=self.baseline_micro / MICRO,
            saved_micro=self.saved_micro,
            saved_usd=self.saved_micro / MICRO,
            saved_pct=self.saved_pct,
            free_pct=self.free_pct,
            local_pct=self.local_pct,
            on_your_machines_pct=self.on_your_machines_pct,
            cache_hit_pct=self.cache_hit_pct,
            mean_latency_ms=self.mean_latency_ms,
        )
        return out


SUMMED = tuple(f.name for f in dataclasses.fields(Stats) if f.name not in ("key", "hosting"))
"""The summed fields of `Stats`, in order."""


class Latency(NamedTuple):
    """End-to-end latency of the served requests, nearest-rank percentiles, in ms: over
    the warm requests only, unless `cold_starts_included` (`served` counts the requests
    the percentiles are over). A cold start paid the process's first-call cost (litellm's
    import, seconds: the ledger's `cold_start` column; a record written before schema 3
    counts as warm): `cold_starts` counts them, `cold_p50_ms` is their own median."""

    served: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    cold_starts: int = 0
    cold_p50_ms: float | None = None
    cold_starts_included: bool = False


class Offender(NamedTuple):
    """A confidential-or-above record that reached a deployment not on your machines.
    No prompt."""

    id: int
    time: str
    tenant: str
    sensitivity: str
    outcome: str
    served_by: str | None
    hosting: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Compliance:
    """Requests per sensitivity level x hosting kind, and who broke the rule that
    confidential-or-above data stays on your machines (`YOUR_MACHINES`)."""

    columns: tuple[str, ...]
    """Hosting kinds, then "not served" (and "unknown" when a served record has none)."""
    matrix: tuple[tuple[str, tuple[int, ...]], ...]
    """(sensitivity, counts in `columns` order), public first."""
    served_non_local: int
    """Confidential-or-above requests served by a deployment not on your machines (hosting
    not in `YOUR_MACHINES`, or unknown): must be 0."""
    sent_non_local: int
    """Confidential-or-above requests such a deployment was sent but did not serve."""
    offenders: tuple[Offender, ...]
    """The first `OFFENDERS_SHOWN` of those records, oldest first."""

    @property
    def ok(self) -> bool:
        return self.served_non_local == 0 and self.sent_non_local == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidential_or_above": list(CONFIDENTIAL_OR_ABOVE),
            "your_machines": list(YOUR_MACHINES),
            "columns": list(self.columns),
            "matrix": {s: dict(zip(self.columns, row, strict=True)) for s, row in self.matrix},
            "served_non_local": self.served_non_local,
            "sent_non_local": self.sent_non_local,
            "ok": self.ok,
            "offenders": [o._asdict() for o in self.offenders],
            "offenders_shown_max": OFFENDERS_SHOWN,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `python -m router report` shows, as one frozen value."""

    ledger: str
    since: str | None
    tenant: str | None
    generated: str
    first_day: str | None
    last_day: str | None
    total: Stats
    latency: Latency
    by_tenant: tuple[Stats, ...]
    by_deployment: tuple[Stats, ...]
    by_day: tuple[Stats, ...]
    compliance: Compliance

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: money as exact micro-dollar integers and as USD floats."""
        return {
            "ledger": self.ledger,
            "since": self.since,
            "tenant": self.tenant,
            "generated": self.generated,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "total": self.total.to_dict(),
            "latency": self.latency._asdict(),
            "by_tenant": [s.to_dict() for s in self.by_tenant],
            "by_deployment": [s.to_dict() for s in self.by_deployment],
            "by_day": [s.to_dict() for s in self.by_day],
            "compliance": self.compliance.to_dict(),
        }
