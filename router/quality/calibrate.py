"""Fit the quality predictor to a user's own labelled sample: `python -m router calibrate`.

For every model column of the sample (RouterBench's column convention), it fits

    logit P(m good | x) = a_m + base_m(x) + h_m . encoding(x)

where `base_m` is the trained model's own weights over the prompt's encoding
(difficulty, gap) when the predictor knows m, else the shared weights; `h_m` is how
this model departs from them on the user's traffic and `a_m` the model's ability. It is
a 3-parameter logistic regression per model, fitted by Newton's method with an L2
pull of `a_m` toward the prior ability and of `h_m` toward 0, so ~100 rows give a usable
fit and a model name never seen before is fine. Pure Python.

The pull on `h_m` is scaled to the encoding: `PULL_KINDS * var_j` on loading j, where
`var_j` is the variance of encoding number j over the quality model's reference
encodings (`TrainedModel.reference`, training prompts; `kind_pulls`). That is a
`PULL_KINDS` pull on the loading in standardised units (logits per standard deviation
of the number), whatever the number's units. The numbers spread little (standard
deviations ~0.3 and ~0.17 in the shipped model), so an unscaled pull held the loadings
near 0 even where the labels clearly pointed one way.

Quality cells may be fractional (0..1): the fit maximises the Bernoulli likelihood of the
cell as a soft label.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.quality.data import LabelledSample
from router.quality.predictor import prior_quality
from router.quality.trained import CAL_SCHEMA, TrainedModel

__all__ = [
    "MIN_ROWS",
    "PULL_ABILITY",
    "PULL_KINDS",
    "FittedHead",
    "calibration_json",
    "fit_model",
    "fit_profiles",
    "fit_sample",
    "kind_pulls",
]

MIN_ROWS = 20
"""Fewer labelled rows than this per model is refused (the fit would be the prior)."""

PULL_ABILITY = 0.01
PULL_KINDS = 0.01
"""Per loading in standardised units: `fit_model` multiplies it by the variance of the
encoding number over the model's reference (see the module docstring)."""


def kind_pulls(model: TrainedModel) -> list[float]:
    """The L2 pull on each kind loading: `PULL_KINDS` x the variance of that encoding
    number (its kind direction's projection) over `model.reference`."""
    out = []
    for k in model.kind_dirs:
        xs = [model.dot(k, x, act) for x, act in map(model.design, model.reference)]
        mean = math.fsum(xs) / len(xs)
        var = math.fsum((v - mean) ** 2 for v in xs) / len(xs)
        out.append(PULL_KINDS * (var or 1.0))  # a constant number: unscaled (never seen)
    return out


@dataclass(frozen=True)
class FittedHead:
    model: str
    base: str  # "trained" or "shared"
    ability: float
    kinds: tuple[float, ...]
    rows: int
    accuracy: float
    log_loss_before: float
    log_loss_after: float


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a is small and positive definite)."""
    n = len(b)
    m = [[*row, v] for row, v in zip(a, b, strict=True)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for k in range(c, n + 1):
                m[r][k] -= f * m[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


def _loss(z: Sequence[float], y: Sequence[float]) -> float:
    total = 0.0
    for zi, yi in zip(z, y, strict=True):
        # log(1 + e^z) - y z, stably
        total += (max(zi, 0.0) + math.log1p(math.exp(-abs(zi)))) - yi * zi
    return total / len(y)


def fit_model(
    model: TrainedModel,
    name: str,
    designs: Sequence[tuple[list[float], list[int]]],
    labels: Sequence[float],
) -> FittedHead:
    """Fit one model's ability and kind loadings on profiles already turned into designs."""
    known = model.known(name)
    if known is not None:
        a0, w = model.models[known]
        base = "trained"
    else:
        a0 = math.log(prior_quality(name) / (1 - prior_quality(name))) - model.center
        w, base = model.shared, "shared"
    # As TrainedPredictor scores: bias + w.x + h.kinds(x).
    offset = [model.dot(w, x, act) for x, act in designs]
    feats = [[1.0, *(model.dot(k, x, act) for k in model.kind_dirs)] for x, act in designs]
    n, p = len(labels), len(model.kind_dirs) + 1
    theta = [a0] + [0.0] * (p - 1)
    prior = [a0] + [0.0] * (p - 1)
    pull = [PULL_ABILITY, *kind_pulls(model)]
    before = _loss([o + a0 for o in offset], labels)
    for _ in range(50):
        z = [o + sum(map(float.__mul__, f, theta)) for o, f in zip(offset, feats, strict=True)]
        probs = [1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, zi)))) for zi in z]
        grad = [pull[j] * (theta[j] - prior[j]) for j in range(p)]
        hess = [[pull[j] if j == k else 0.0 for k in range(p)] for j in range(p)]
        for f, pr, y in zip(feats, probs, labels, strict=True):
            r, s = (pr - y) / n, pr * (1 - pr) / n
            for j in range(p):
                grad[j] += r * f[j]
                for k in range(j, p):
                    hess[j][k] += s * f[j] * f[k]
        for j in range(p):
            for k in range(j):
                hess[j][k] = hess[k][j]
        step = _solve(hess, grad)
        theta = [t - s for t, s in zip(theta, step, strict=True)]
        if max(map(abs, step)) < 1e-9:
            break
    z = [o + sum(map(float.__mul__, f, theta)) for o, f in zip(offset, feats, strict=True)]
    return FittedHead(
        name,
        base,
        theta[0],
        tuple(theta[1:]),
        n,
        math.fsum(labels) / n,
        before,
        _loss(z, labels),
    )


def fit_profiles(
    model: TrainedModel,
    name: str,
    profiles: Sequence[Sequence[float]],
    labels: Sequence[float],
) -> FittedHead:
    """Fit one model's head on recorded profiles (`Features.profile`, as the ledger keeps
    them) and their 0..1 scores: `python -m router calibrate --ledger`."""
    return fit_model(model, name, [model.design(p) for p in profiles], labels)


def fit_sample(model: TrainedModel, sample: LabelledSample) -> list[FittedHead]:
    """One fitted head per model column of `sample`."""
    if len(sample) < MIN_ROWS:
        raise ValueError(
            f"calibration needs at least {MIN_ROWS} labelled rows; the sample has {len(sample)}"
        )
    designs = [model.design(model.encode(p)) for p in sample.prompts]
    return [fit_model(model, m, designs, sample.quality[m]) for m in sample.models]


def calibration_json(
    model: TrainedModel,
    heads: Sequence[FittedHead],
    sources: Sequence[str],
    extra: dict[str, Any] | None = None,
) -> str:
    doc: dict[str, Any] = {
        "schema": CAL_SCHEMA,
        "quality_model": model.digest,
        "data": list(sources),
        "models": {
            h.model: {
                "base": h.base,
                "ability": round(h.ability, 6),
                "kinds": [round(v, 6) for v in h.kinds],
                "rows": h.rows,
                "accuracy": round(h.accuracy, 6),
                "log_loss_before": round(h.log_loss_before, 6),
                "log_loss_after": round(h.log_loss_after, 6),
            }
            for h in heads
        },
        **(extra or {}),
    }
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def write_calibration(path: str | Path, text: str) -> Path:
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
