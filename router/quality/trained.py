"""The shipped per-prompt quality predictor: P(model answers well | prompt profile).

    logit P(m good | x) = ability_m - difficulty(x) + affinity_m(x)

`x` is the prompt's profile (`router.quality.profile`: 43 numbers, standardised and
clipped to +-5, plus one-hot quantile bins of the 21 non-binary ones). `difficulty(x)`
is shared by every model; `ability_m` and `affinity_m` (what model m does better or worse
than its ability on prompts like x: its kind profile) are learned for the models of the
training data. The artifact `router/data/quality-model.json` is written by
`scripts/train_quality.py` (fixed seed; see `router/data/quality-metrics.json`).

A model it never saw still gets a per-prompt number: its prior (the deployment's
`quality`, else its family's in `families.toml`) as the ability, and the shared
difficulty (`logit(prior) - center + shared(x)`, `center` being the mean shared logit
over the training prompts, so the prior stays its mean quality).
Out of its training distribution a linear model extrapolates; so the prompt-dependent
part of every logit is scaled by `trust = min(1, familiar / distance)`, where
`distance` is the mean squared standardised value of the 21 non-binary profile
entries and `familiar` its 90th percentile over the training prompts. A chat turn
("Suggest a name for a bakery.") is far from the benchmark questions the model learned
from (distance ~4.4 against 2.1): its number moves half as far from the prior.

A calibration file
(`python -m router calibrate`) fits a model's ability and its loadings on the K "kind"
directions of the artifact from a labelled sample of the user's own traffic.

Resolution order, per deployment: calibration (by deployment name, then model), the
deployment's own `quality`, a trained model of the same name (compared after the last
"/", lower-cased), the family prior. Pure Python at run time; about 0.05 ms per request
for 10 deployments once the profile is computed.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from operator import mul, sub
from pathlib import Path
from typing import Any

from router.catalog import DEFAULT_QUALITY
from router.models import Deployment, Features
from router.quality.predictor import prior_quality
from router.quality.profile import BINARY, FEATURES, profile

__all__ = [
    "Calibration",
    "CalibrationError",
    "Head",
    "TrainedModel",
    "TrainedPredictor",
    "default_model",
    "load_calibration",
]

SCHEMA = "router-quality-model/1"
CAL_SCHEMA = "router-calibration/1"


class CalibrationError(ValueError):
    """A calibration or model file that cannot be used; says which and what to do."""


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _bare(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


@dataclass(frozen=True)
class Head:
    """How one model's logit is made: a constant, a weight vector over the design (or
    None: the shared difficulty) and loadings on the kind directions."""

    bias: float
    weights: tuple[float, ...] | None
    kinds: tuple[float, ...]
    source: str
    center: float = 0.0
    """The mean of the prompt-dependent part over the training prompts (what `trust`
    shrinks toward)."""


class TrainedModel:
    """The artifact, parsed: what turns a profile into logits."""

    def __init__(self, art: Mapping[str, Any], digest: str) -> None:
        if art.get("schema") != SCHEMA:
            raise CalibrationError(f"not a quality model ({SCHEMA!r} expected)")
        if tuple(art["features"]) != FEATURES:
            raise CalibrationError("the quality model was trained on other profile features")
        self.digest = digest
        self.mean: tuple[float, ...] = tuple(art["mean"])
        self.std: tuple[float, ...] = tuple(art["std"])
        self.edges: tuple[tuple[float, ...], ...] = tuple(tuple(e) for e in art["edges"])
        offsets, at = [], len(FEATURES)
        for e in self.edges:
            offsets.append(at)
            at += len(e) + 1 if e else 0
        self.width = at
        self._offsets = tuple(offsets)
        self.shared: tuple[float, ...] = tuple(art["shared"])
        self.center = float(art["center"])
        self.kind_dirs: tuple[tuple[float, ...], ...] = tuple(tuple(k) for k in art["kinds"])
        self.familiar = float(art["familiar"])
        self._spread = tuple(i for i, f in enumerate(FEATURES) if f not in BINARY)
        self.models: dict[str, tuple[float, tuple[float, ...]]] = {
            name: (float(m["ability"]), tuple(m["weights"])) for name, m in art["models"].items()
        }
        self.centers: dict[str, float] = {
            name: float(m["center"]) for name, m in art["models"].items()
        }
        for w in (self.shared, *self.kind_dirs, *(w for _, w in self.models.values())):
            if len(w) != self.width:
                raise CalibrationError("quality model weights do not match its features")
        self._by_bare = {_bare(n): n for n in self.models}
        self._inv_std = tuple(1.0 / v for v in self.std)
        self._binned = tuple(
            (j, e, off)
            for j, (e, off) in enumerate(zip(self.edges, self._offsets, strict=True))
            if e
        )

    def design(self, prof: Sequence[float]) -> tuple[list[float], list[int]]:
        """(standardised clipped profile, indices of the active bins)."""
        x = list(map(mul, map(sub, prof, self.mean), self._inv_std))
        if max(x) > 5.0 or min(x) < -5.0:
            x = [min(5.0, max(-5.0, v)) for v in x]
        active = [off + bisect.bisect_right(e, prof[j]) for j, e, off in self._binned]
        return x, active

    def trust(self, x: Sequence[float]) -> float:
        """min(1, familiar / distance): 1 on prompts like the training ones."""
        distance = sum(x[i] * x[i] for i in self._spread) / len(self._spread)
        return 1.0 if distance <= self.familiar else self.familiar / distance

    @staticmethod
    def dot(w: Sequence[float], x: Sequence[float], active: Sequence[int]) -> float:
        return float(sum(map(mul, w, x))) + sum(w[i] for i in active)

    def known(self, name: str) -> str | None:
        """The trained model this name means, if any (exact, then after the last "/")."""
        return name if name in self.models else self._by_bare.get(_bare(name))

    def calibrated_head(
        self, name: str, base: str, ability: float, kinds: tuple[float, ...], source: str
    ) -> Head:
        """A fitted head: on the trained model's own weights (`base` "trained", when it
        knows `name`) or on the shared difficulty ("shared")."""
        known = self.known(name) if base == "trained" else None
        if known is None:
            return Head(ability, None, kinds, source, self.center)
        return Head(ability, self.models[known][1], kinds, source, self.centers[known])

    def head(self, name: str, prior: float | None, prior_source: str) -> Head:
        known = self.known(name)
        if prior is None and known is not None:
            bias, w = self.models[known]
            return Head(bias, w, (), f"trained ({known})", self.centers[known])
        p = prior if prior is not None else DEFAULT_QUALITY
        return Head(
            _logit(p) - self.center,
            None,
            (),
            f"{prior_source} + prompt difficulty",
            self.center,
        )


@dataclass(frozen=True)
class Calibration:
    """Per-model abilities and kind loadings fitted on a user's sample."""

    heads: Mapping[str, Head]
    model_digest: str
    source: str
    suggested_quality_target: float | None = None


def load_calibration(path: str | Path, model: TrainedModel) -> Calibration:
    """Read a `python -m router calibrate` file; errors name the file and what to do."""
    where = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(
            f"{where}: no such file (write it with `python -m router calibrate`)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{where}: not a calibration file ({exc})") from None
    if not isinstance(raw, dict) or raw.get("schema") != CAL_SCHEMA:
        raise CalibrationError(f"{where}: not a calibration file ({CAL_SCHEMA!r} expected)")
    if raw.get("quality_model") != model.digest:
        raise CalibrationError(
            f"{where}: fitted against another quality model ({raw.get('quality_model')!r}); "
            "run `python -m router calibrate` again on your sample"
        )
    heads: dict[str, Head] = {}
    try:
        for name, h in raw["models"].items():
            kinds = tuple(float(v) for v in h["kinds"])
            if len(kinds) not in (0, len(model.kind_dirs)):
                raise CalibrationError(f"{where}: models.{name}.kinds has {len(kinds)} values")
            heads[name] = model.calibrated_head(
                name, h["base"], float(h["ability"]), kinds, f"calibrated ({where})"
            )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CalibrationError):
            raise
        raise CalibrationError(f"{where}: malformed models entry ({exc!r})") from None
    target = raw.get("suggested_quality_target")
    return Calibration(heads, model.digest, where, float(target) if target is not None else None)


class TrainedPredictor:
    """Per-prompt quality for models and deployments: a `Predictor` for `router eval` and a
    `Scorer` for the planner (it reads `Features.profile`, so the router computes it)."""

    needs_profile = True

    def __init__(self, model: TrainedModel, calibration: Calibration | None = None) -> None:
        self.model = model
        self.calibration = calibration
        self._heads: dict[tuple[str, str, float | None, str], Head] = {}
        self._by_models: dict[tuple[str, ...], list[Head]] = {}
        self._by_deployment: dict[str, tuple[Deployment, Head]] = {}

    @property
    def models(self) -> tuple[str, ...]:
        cal = tuple(self.calibration.heads) if self.calibration else ()
        return (*self.model.models, *(m for m in cal if m not in self.model.models))

    def _head(self, names: Sequence[str], prior: float | None, source: str) -> Head:
        key = (names[0], names[-1], prior, source)
        head = self._heads.get(key)
        if head is None:
            cal = self.calibration.heads if self.calibration else {}
            bare = {_bare(k): k for k in cal}
            found = next((cal[n] for n in names if n in cal), None) or next(
                (cal[bare[_bare(n)]] for n in names[1:] if _bare(n) in bare), None
            )
            head = found or self.model.head(names[-1], prior, source)
            self._heads[key] = head
        return head

    def _score(self, heads: Sequence[Head], prof: Sequence[float]) -> list[float]:
        m = self.model
        x, active = m.design(prof)
        trust = m.trust(x)
        shared = m.dot(m.shared, x, active)
        kinds: list[float] | None = None
        out = []
        for h in heads:
            if h.weights is None and not h.kinds:  # the common case: prior + difficulty
                z = h.bias + h.center + trust * (shared - h.center)
            else:
                part = m.dot(h.weights, x, active) if h.weights is not None else shared
                if h.kinds:
                    if kinds is None:
                        kinds = [m.dot(k, x, active) for k in m.kind_dirs]
                    part += sum(map(mul, h.kinds, kinds))
                z = h.bias + h.center + trust * (part - h.center)
            out.append(1.0 / (1.0 + math.exp(-z)) if -30.0 < z < 30.0 else _sigmoid(z))
        return out

    def predict(self, prompts: Sequence[str], models: Sequence[str]) -> list[list[float]]:
        key = tuple(models)
        heads = self._by_models.get(key)
        if heads is None:
            heads = self._by_models[key] = [
                self._head(
                    (n, n), None if self.model.known(n) else prior_quality(n), "family prior"
                )
                for n in models
            ]
        return [self._score(heads, profile(p)) for p in prompts]

    def heads_for(self, deployments: Sequence[Deployment]) -> list[Head]:
        cache = self._by_deployment
        out = []
        for d in deployments:
            hit = cache.get(d.name)
            if hit is None or hit[0] is not d:  # a Router's deployments are the same objects
                explicit = d.quality_source == "deployment"
                prior = d.quality if explicit or self.model.known(d.model) is None else None
                hit = cache[d.name] = (d, self._head((d.name, d.model), prior, d.quality_source))
            out.append(hit[1])
        return out

    def __call__(self, features: Features, deployments: Sequence[Deployment], /) -> list[float]:
        if not features.profile:  # planned without a profile: priors only
            return [d.quality for d in deployments]
        return self._score(self.heads_for(deployments), features.profile)

    def sources(self, deployments: Sequence[Deployment]) -> list[str]:
        """Where each deployment's number comes from ("trained (...)", "calibrated (...)",
        "family prior + prompt difficulty", ...), for `Candidate.quality_source`."""
        return [h.source for h in self.heads_for(deployments)]

    def __repr__(self) -> str:
        cal = f", calibration={self.calibration.source!r}" if self.calibration else ""
        return f"TrainedPredictor(model={self.model.digest!r}{cal})"


def _read_model(data: bytes) -> TrainedModel:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()[:16]
    return TrainedModel(json.loads(data), digest)


@functools.lru_cache(maxsize=1)
def default_model() -> TrainedModel:
    """The shipped artifact (`router/data/quality-model.json`), parsed once."""
    data = resources.files("router").joinpath("data/quality-model.json").read_bytes()
    return _read_model(data)
