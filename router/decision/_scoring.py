"""Scorers predict quality; objectives order eligible deployments.

A scorer is any callable `(features, deployments) -> qualities` (one float in
[0, 1] per deployment). The Router's default, `default_scorer()`, is the shipped
per-prompt predictor (`router.quality.trained`): each deployment's chance of answering
this prompt well, from the prompt's profile. `prior_scorer` returns each deployment's
documented prior whatever the prompt. A scorer with an `encode(text)` method gets
`Features.profile` filled with it; one with `sources(deployments)` names where each number
came from in the decision. An objective turns (deployment, quality, estimated cost) triples into the
ordered candidates of the plan, each with a one-line reason for its place. Ties
always break the same way: cost, then quality, then hosting (local before
self-hosted before API), then name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from router._models import Deployment, Features
from router._records import Candidate
from router.errors import ConfigError

__all__ = [
    "OBJECTIVES",
    "ObjectiveName",
    "Scored",
    "Scorer",
    "default_scorer",
    "prior_scorer",
]

ObjectiveName = Literal["free-first", "cheapest", "best", "utility"]
_HOSTING_ORDER = {"local": 0, "self-hosted": 1, "api": 2}
_EPS = 1e-12


class Scorer(Protocol):
    """Predicts, per deployment, the quality of its answer to this request."""

    def __call__(
        self, features: Features, deployments: Sequence[Deployment], /
    ) -> Sequence[float]: ...


def prior_scorer(features: Features, deployments: Sequence[Deployment]) -> list[float]:
    """Each deployment's quality prior (its `quality` field or its family's)."""
    return [d.quality for d in deployments]


def default_scorer(calibration: str | Path | None = None) -> Scorer:
    """The shipped per-prompt quality predictor, calibrated by `calibration` (a file
    written by `python -m router calibrate`) when given."""
    from router.quality.trained import (  # noqa: PLC0415  (parsed on first use)
        CalibrationError,
        TrainedPredictor,
        default_model,
        load_calibration,
    )

    model = default_model()
    if calibration is None:
        return TrainedPredictor(model)
    try:
        return TrainedPredictor(model, load_calibration(calibration, model))
    except CalibrationError as exc:
        raise ConfigError(str(calibration), "calibration", str(exc)) from None


class Scored(NamedTuple):
    """A deployment with its predicted quality and estimated cost for this request."""

    deployment: Deployment
    quality: float
    cost: float
    source: str = ""
    """Where `quality` comes from (empty: the deployment's own `quality_source`)."""

    def tiebreak(self) -> tuple[float, float, int, str]:
        return (
            self.cost,
            -self.quality,
            _HOSTING_ORDER[self.deployment.hosting],
            self.deployment.name,
        )


def _place(s: Scored, meets_target: bool, why: str) -> Candidate:
    d = s.deployment
    return Candidate._make(
        (
            d.name,
            d.model,
            d.hosting,
            d.weights,
            s.cost,
            s.quality,
            s.source or d.quality_source,
            meets_target,
            why,
        )
    )


@dataclass(frozen=True, slots=True)
class Params:
    quality_target: float
    quality_value_usd: float
    paid_share: float = 1.0
    percentile: float | None = None
    """Where the request's predicted gain of paying ranks in the reference traffic (None:
    unknown, or nothing free or nothing paid is eligible)."""


Objective = Callable[[Sequence[Scored], Params], list[Candidate]]


def _by_bar(items: Sequence[Scored], p: Params, first: str) -> list[Candidate]:
    """Cheapest meeting `quality_target` x the best predicted quality, then the rest."""
    best = max(s.quality for s in items)
    bar = p.quality_target * best
    meets = sorted((s for s in items if s.quality >= bar - _EPS), key=Scored.tiebreak)
    below = sorted(
        (s for s in items if s.quality < bar - _EPS),
        key=lambda s: (-s.quality, *s.tiebreak()),
    )
    out = [
        _place(
            s,
            True,
            f"{first}cheapest meeting the quality bar ({s.quality:.2f} >= "
            f"{p.quality_target:g} x {best:.2f})"
            if i == 0
            else "fallback: meets the quality bar, costs more",
        )
        for i, s in enumerate(meets)
    ]
    why_below = f"fallback: below the quality bar {bar:.2f}"
    out += [_place(s, False, why_below) for s in below]
    return out


def _free_first(items: Sequence[Scored], p: Params) -> list[Candidate]:
    """Free unless paying is predicted to gain more here than on all but `paid_share` of
    the reference traffic; there (or when the gain cannot be ranked) the bar decides."""
    pct, share = p.percentile, p.paid_share
    if pct is None or share >= 1.0:
        return _by_bar(items, p, "")
    place = f"gain of paying at percentile {pct:.0%}"
    if pct >= 1.0 - share:
        return _by_bar(items, p, f"worth paying for, top {share:.0%} ({place}): ")
    free = [s for s in items if s.cost == 0]
    paid = [s for s in items if s.cost != 0]
    if not free or not paid:
        return _by_bar(items, p, "")
    free.sort(key=lambda s: (-s.quality, *s.tiebreak()))
    out = [
        _place(
            s,
            True,
            f"free: paying gains less here than on {1 - share:.0%} of traffic ({place}); "
            f"best free ({s.quality:.2f})"
            if i == 0
            else "fallback: free, lower predicted quality",
        )
        for i, s in enumerate(free)
    ]
    out += [
        c._replace(why="fallback: paid, for a request not worth paying for")
        for c in _by_bar(paid, p, "")
    ]
    return out


def _cheapest(items: Sequence[Scored], p: Params) -> list[Candidate]:
    ordered = sorted(items, key=Scored.tiebreak)
    return [
        _place(s, True, "cheapest" if i == 0 else "fallback: costs more")
        for i, s in enumerate(ordered)
    ]


def _best(items: Sequence[Scored], p: Params) -> list[Candidate]:
    ordered = sorted(items, key=lambda s: (-s.quality, *s.tiebreak()))
    return [
        _place(s, True, "highest predicted quality" if i == 0 else "fallback: lower quality")
        for i, s in enumerate(ordered)
    ]


def _utility(items: Sequence[Scored], p: Params) -> list[Candidate]:
    def utility(s: Scored) -> float:
        return s.quality * p.quality_value_usd - s.cost

    # Rounded to a nano-dollar so float noise (0.7 x 0.01 vs 0.8 x 0.01 - 0.001) is a
    # tie, broken by the documented tiebreak instead of by the last bit.
    ordered = sorted(items, key=lambda s: (-round(utility(s), 9), *s.tiebreak()))
    return [
        _place(
            s,
            True,
            f"utility {utility(s):+.6f} = {s.quality:.2f} x ${p.quality_value_usd:g} - "
            f"${s.cost:.6f}" + ("" if i == 0 else " (fallback)"),
        )
        for i, s in enumerate(ordered)
    ]


OBJECTIVES: Mapping[ObjectiveName, Objective] = {
    "free-first": _free_first,
    "cheapest": _cheapest,
    "best": _best,
    "utility": _utility,
}
"""Objective name -> ordering function. `free-first` is the default."""
