"""Feedback on answers, for learning from your own traffic without a labelled CSV.

Two sources score an answer in [0, 1], each a row of the ledger's `feedback` table:

- the application: `Router.feedback(result.decision.request_id, score)`, a thumbs up or
  down (True / False) or a 0..1 metric, about the deployment that served the answer;
- the cascade: its verdict on the free deployment's answer, 1.0 when it was kept and
  0.0 when the verifier doubted it (with the answer scorer's figure when that check ran).

The request's own record holds what a refit needs (the model that answered, the profile
of the last user turn and the digest of the quality model it belongs to), so a feedback
row holds only ids, names and numbers. `gather` reads them back for
`python -m router calibrate --ledger` (`router.tools._calibrate`), with the profile
([difficulty, gap]) of every request recorded under the quality model, scored or not:
up to `REFERENCE_SIZE` of them are the user's reference traffic, the encodings on which
`free-first` ranks the gain of paying (what `paid_share` is a share of) once the
calibration is in use.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from router._models import Deployment
from router._records import Decision
from router.errors import InvalidRequest
from router.money._ledger import FeedbackRow, Ledger

__all__ = [
    "MIN_REFERENCE",
    "REFERENCE_SIZE",
    "Gathered",
    "check_score",
    "gather",
    "new_request_id",
    "profile_digest",
    "record_feedback",
    "spread",
    "verdicts",
]

MIN_REFERENCE = 50
"""Fewer recorded requests than this make no reference traffic: `paid_share` stays a
share of the quality model's training prompts."""
REFERENCE_SIZE = 600
"""At most this many recorded encodings in a reference (as many as the shipped quality
model's: 200 training prompts per source); more are subsampled evenly."""

T = TypeVar("T")

_REQUEST_ID = re.compile(r"[0-9a-f]{24}")
_SCORE_HINT = "pass True or False (thumbs up or down) or a number from 0 to 1, e.g. 0.8"


def new_request_id() -> str:
    """A fresh request id: 24 random hex digits."""
    return os.urandom(12).hex()


def profile_digest(scorer: object) -> str | None:
    """The quality model a recorded profile belongs to when the scorer encodes prompts
    (has `encode`): the scorer's own model's digest (a `TrainedPredictor`), else the
    shipped predictor's; None when no profile is computed."""
    if getattr(scorer, "encode", None) is None:
        return None
    digest = getattr(getattr(scorer, "model", None), "digest", None)
    if isinstance(digest, str):
        return digest
    from router.quality.trained import default_model  # noqa: PLC0415  (parsed on first use)

    return default_model().digest


def check_score(score: object) -> float:
    """A feedback score as a float in [0, 1]: True is 1.0, False 0.0. Anything else
    raises InvalidRequest (the value is not echoed: it could be anything)."""
    if isinstance(score, bool):
        return 1.0 if score else 0.0
    if isinstance(score, int | float) and math.isfinite(score) and 0 <= score <= 1:
        return float(score)
    raise InvalidRequest("score", _SCORE_HINT)


def _check_request_id(request_id: object) -> str:
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise InvalidRequest(
            "request_id", "not a request id: pass result.decision.request_id (24 hex digits)"
        )
    return request_id


def record_feedback(ledger: Ledger, request_id: object, score: object, *, ts: float) -> None:
    """Append the application's score of a recorded answer to the ledger."""
    value, rid = check_score(score), _check_request_id(request_id)
    answer = ledger.answer_of(rid)
    if answer is None:
        raise InvalidRequest(
            "request_id",
            f"no request {rid} in the ledger {ledger.path}; pass result.decision.request_id "
            "of a request this Router's ledger recorded (a stream's, once it has ended)",
        )
    served_by, model = answer
    if served_by is None or model is None:
        raise InvalidRequest(
            "request_id", f"request {rid} got no answer (it failed): there is nothing to score"
        )
    ledger.add_feedback(FeedbackRow(ts, rid, "user", served_by, model, value))


def verdicts(
    decision: Decision, by_name: Mapping[str, Deployment], *, ts: float
) -> tuple[FeedbackRow, ...]:
    """The cascade's verdict on the free deployment's answer, as implicit feedback: 1.0
    kept (score at or above the threshold), 0.0 doubted; none when nothing was verified."""
    v = decision.verification
    if v is None or v.first is None or v.score is None or decision.request_id is None:
        return ()
    figure = dict(v.checks).get("scorer")
    score = 1.0 if v.score >= v.threshold else 0.0
    model = by_name[v.first].model
    return (FeedbackRow(ts, decision.request_id, "cascade", v.first, model, score, figure),)


_JOINED = """
SELECT f.request_id, f.deployment, f.model, f.source, f.score, r.profile, r.quality_model
FROM feedback f JOIN records r ON r.request_id = f.request_id
ORDER BY f.id
"""
_PROFILES = (
    "SELECT profile FROM records WHERE quality_model = ? AND profile IS NOT NULL ORDER BY id"
)


def spread(rows: Sequence[T], n: int = REFERENCE_SIZE) -> list[T]:
    """`rows` when there are at most `n`, else `n` of them evenly spaced in their order
    (the first and the last included): deterministic, no randomness."""
    if len(rows) <= n:
        return list(rows)
    if n < 2:
        raise ValueError("spread needs n >= 2")
    last = len(rows) - 1
    return [rows[round(i * last / (n - 1))] for i in range(n)]


@dataclass
class Gathered:
    """Feedback rows as training rows for one quality model: per model, profiles and
    scores; and what could not be used, and why. Also the profile of every request
    recorded under that quality model (for the reference traffic)."""

    profiles: dict[str, list[list[float]]] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)
    feedback: int = 0
    """Answers with feedback (the application's score wins over the cascade's verdict)."""
    no_profile: int = 0
    """Recorded without a profile: the Router's scorer reads none (`prior_scorer`)."""
    other_models: Counter[str] = field(default_factory=Counter)
    """Recorded under another quality model (its profiles mean something else)."""
    recorded: list[tuple[float, float]] = field(default_factory=list)
    """The profile ([difficulty, gap]) of every request recorded under this quality
    model, scored or not, in record order (malformed ones skipped)."""

    def add(self, model: str, profile: list[float], score: float) -> None:
        self.profiles.setdefault(model, []).append(profile)
        self.scores.setdefault(model, []).append(score)

    @property
    def usable(self) -> int:
        return sum(map(len, self.scores.values()))

    @property
    def reference(self) -> list[tuple[float, float]] | None:
        """The recorded profiles (at most `REFERENCE_SIZE`, evenly spaced in record
        order), or None when fewer than `MIN_REFERENCE` requests were recorded under this
        quality model."""
        if len(self.recorded) < MIN_REFERENCE:
            return None
        return spread(self.recorded)


def _pair(profile: str) -> tuple[float, float] | None:
    """A recorded profile as (difficulty, gap): exactly two finite numbers, else None."""
    try:
        value = json.loads(profile)
    except (ValueError, TypeError):
        return None
    if not isinstance(value, list) or len(value) != 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    if not all(math.isfinite(v) for v in value):
        return None
    return float(value[0]), float(value[1])


def gather(ledger: Ledger, quality_model: str) -> Gathered:
    """One score per answer: the application's last one, else the cascade's verdict; and
    the profile of every request recorded under `quality_model`."""
    best: dict[tuple[str, str], tuple[str, str, float, str | None, str | None]] = {}
    for rid, deployment, model, source, score, profile, digest in ledger.query(_JOINED):
        key = (rid, deployment)
        if source == "user" or key not in best or best[key][1] != "user":
            best[key] = (model, source, score, profile, digest)
    out = Gathered(feedback=len(best))
    for model, _, score, profile, digest in best.values():
        if profile is None:
            out.no_profile += 1
        elif digest != quality_model:
            out.other_models[str(digest)] += 1
        else:
            out.add(model, [float(v) for v in json.loads(profile)], float(score))
    for (profile,) in ledger.query(_PROFILES, (quality_model,)):
        if (pair := _pair(profile)) is not None:
            out.recorded.append(pair)
    return out
