"""The shipped per-prompt quality predictor: P(model answers well | prompt).

    encoding(x) = (difficulty, gap) = intercepts + W . tfidf(words and word pairs of x)
    logit P(m good | x) = ability_m + weights_m . encoding(x)

`tfidf(x)` is binary TF-IDF over `router.quality.words` (L2-normalised); the two numbers
are what the labels of the training data say about a prompt: `difficulty`, how much
worse than usual every model does on it, and `gap`, how much the best models beat the
worst. The two numbers are all that is kept of a prompt (`Features.profile`, the
ledger): no words. `ability_m` and `weights_m` are learned for the models with 0/1
correctness labels in the training data. The artifact `router/data/quality-model.json`
is written by `scripts/train_quality.py` (see `scripts/quality_fit.py` for the fit and
`router/data/quality-metrics.json` for the figures).

A model it never saw still gets a per-prompt number: its prior (the deployment's
`quality`, else its family's in `families.toml`) as the ability, and the mean of the
trained models' weights (`shared`), centred so the prior stays its mean quality over
the training prompts.

`gain_percentile` places a request's predicted gain of paying (best paid minus best
free deployment) among the gains the same two deployments would have on reference
traffic (600 encodings of training prompts, 200 per source, or the user's own recorded
traffic after `calibrate --ledger`): `free-first` pays for the top `paid_share`.
`reasons(prompt)` names the words that moved its difficulty most, for `explain`.

A calibration file (`python -m router calibrate`) fits a model's ability and its
loadings on the two encoding numbers from a labelled sample of the user's own traffic,
or from the feedback recorded in the ledger.

Resolution order, per deployment: calibration (by deployment name, then model), the
deployment's own `quality`, a trained model of the same name (compared after the last
"/", lower-cased), the family prior. Pure Python at run time.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import hashlib
import itertools
import json
import math
import sys
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from operator import mul
from pathlib import Path
from typing import Any

from router._models import Deployment, Features
from router.decision import DEFAULT_QUALITY
from router.quality.predictor import prior_quality
from router.quality.words import terms

__all__ = [
    "ENCODING",
    "Calibration",
    "CalibrationError",
    "Head",
    "TrainedModel",
    "TrainedPredictor",
    "default_model",
    "load_calibration",
    "pack_vocabulary",
]

SCHEMA = "router-quality-model/2"
CAL_SCHEMA = "router-calibration/1"
ENCODING = ("difficulty", "gap")
"""The two numbers a prompt is reduced to, in the order of `Features.profile`."""


class CalibrationError(ValueError):
    """A calibration or model file that cannot be used; says which and what to do."""


def _pairs(raw: object, what: str) -> tuple[tuple[float, float], ...]:
    """Reference encodings: a list of at least 2 [difficulty, gap] pairs of numbers."""
    rows = raw if isinstance(raw, list) else []
    ok = len(rows) >= 2 and all(
        isinstance(row, list)
        and len(row) == len(ENCODING)
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in row
        )
        for row in rows
    )
    if not ok:
        raise CalibrationError(
            f"{what} must be a list of at least 2 [difficulty, gap] pairs of numbers"
        )
    return tuple((float(a), float(b)) for a, b in rows)


def pack_vocabulary(rows: Mapping[str, Sequence[float]]) -> dict[str, str]:
    """The artifact's vocabulary: the terms (a word, or a word pair joined by a space) one
    per line, and their rows (idf x difficulty weight, idf x gap weight, idf^2) as base64
    little-endian float32. Parsed ~10x faster than the same numbers as JSON lists."""
    terms_ = sorted(rows)
    numbers = array("f", [float(v) for t in terms_ for v in rows[t]])
    if sys.byteorder == "big":
        numbers.byteswap()
    return {"terms": "\n".join(terms_), "rows": base64.b64encode(numbers.tobytes()).decode()}


def _unpack_vocabulary(raw: object, width: int) -> dict[str | tuple[str, ...], tuple[float, ...]]:
    """`pack_vocabulary`'s output, as the encoder's lookup table. Word pairs are keyed by
    the pair of words: a tuple hashes from the words' cached hashes, where joining each
    pair into a string cost a third of the encoding."""
    if not (
        isinstance(raw, dict)
        and isinstance(raw.get("terms"), str)
        and isinstance(raw.get("rows"), str)
    ):
        raise CalibrationError("quality model vocabulary must be {terms: str, rows: base64}")
    terms_ = raw["terms"].split("\n")
    numbers = array("f")
    try:
        numbers.frombytes(base64.b64decode(raw["rows"], validate=True))
    except (binascii.Error, ValueError):
        raise CalibrationError("quality model vocabulary rows are not base64 float32") from None
    if sys.byteorder == "big":
        numbers.byteswap()
    if len(numbers) != width * len(terms_):
        raise CalibrationError("quality model vocabulary rows do not match its encoding")
    values = iter(numbers.tolist())
    keys = ((tuple(t.split(" ")) if " " in t else t) for t in terms_)
    return dict(zip(keys, zip(*([values] * width), strict=True), strict=True))


def rank(value: float, ordered: Sequence[float]) -> float:
    """The share of `ordered` (sorted) below `value`, ties counted half, in [0, 1]."""
    lo = bisect.bisect_left(ordered, value)
    hi = bisect.bisect_right(ordered, value, lo)
    return (lo + hi) / (2 * len(ordered))


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _bare(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


@dataclass(frozen=True)
class Head:
    """How one model's logit is made: a constant, weights over the encoding (or None: the
    shared weights) and calibrated loadings on the kind directions."""

    bias: float
    weights: tuple[float, ...] | None
    kinds: tuple[float, ...]
    source: str


@dataclass(frozen=True)
class Reason:
    """A word or word pair of the prompt and how far it moved the prompt's difficulty."""

    term: str
    effect: float


class TrainedModel:
    """The artifact, parsed: what turns a prompt into its encoding and logits."""

    def __init__(self, art: Mapping[str, Any], digest: str) -> None:
        if art.get("schema") != SCHEMA:
            raise CalibrationError(f"not a quality model ({SCHEMA!r} expected)")
        if tuple(art["encoding"]) != ENCODING:
            raise CalibrationError("the quality model encodes prompts differently")
        self.digest = digest
        self.ngrams = int(art["ngrams"])
        self.width = len(ENCODING)
        self.intercepts: tuple[float, ...] = tuple(art["intercepts"])
        self.vocabulary = _unpack_vocabulary(art["vocabulary"], self.width + 1)
        self.reference = _pairs(art["reference"], "quality model reference")
        self.shared: tuple[float, ...] = tuple(art["shared"])
        # The mean encoding of the reference traffic: what a model's prior is centred on.
        self.mean: tuple[float, ...] = tuple(art["mean"])
        self.models: dict[str, tuple[float, tuple[float, ...]]] = {
            name: (float(m["ability"]), tuple(m["weights"])) for name, m in art["models"].items()
        }
        for w in (
            self.intercepts,
            self.shared,
            self.mean,
            *(w for _, w in self.models.values()),
        ):
            if len(w) != self.width:
                raise CalibrationError("quality model weights do not match its encoding")
        self.center = self.dot(self.shared, self.mean, ())
        """The shared weights' part of the logit on the mean encoding: subtracted from an
        unknown model's prior logit so its mean quality stays its prior."""
        self.kind_dirs: tuple[tuple[float, ...], ...] = tuple(
            tuple(1.0 if i == k else 0.0 for i in range(self.width)) for k in range(self.width)
        )
        self._by_bare = {_bare(n): n for n in self.models}

    def _seen(self, prompt: str) -> set[str | tuple[str, ...]]:
        """The prompt's distinct words, and word pairs as tuples (binary TF-IDF)."""
        words = terms(prompt)
        seen: set[str | tuple[str, ...]] = set(words)
        if self.ngrams >= 2:
            seen.update(itertools.pairwise(words))
        return seen

    def encode(self, prompt: str) -> tuple[float, ...]:
        """(difficulty, gap) of the prompt's question, rounded to 4 decimals."""
        rows = list(filter(None, map(self.vocabulary.get, self._seen(prompt))))
        if not rows:
            return tuple(round(b, 4) for b in self.intercepts)
        # sum(), not fsum() (half the time): the set's order, which the hash seed changes,
        # moves the sums by ~1e-16, far below the 4 decimals kept.
        sums = list(map(sum, zip(*rows, strict=True)))
        norm = math.sqrt(sums[-1])
        return tuple(round(b + s / norm, 4) for b, s in zip(self.intercepts, sums, strict=False))

    def reasons(self, prompt: str, k: int = 3) -> tuple[list[Reason], list[Reason]]:
        """The `k` words or word pairs that raised the prompt's difficulty most, and the
        `k` that lowered it most (each with its effect on the difficulty)."""
        get = self.vocabulary.get
        hits = [(t, v) for t in self._seen(prompt) if (v := get(t)) is not None]
        if not hits:
            return [], []
        norm = math.sqrt(math.fsum(v[-1] for _, v in hits))
        effects = sorted((v[0] / norm, t if isinstance(t, str) else " ".join(t)) for t, v in hits)
        up = [Reason(t, e) for e, t in reversed(effects[-k:]) if e > 0]
        down = [Reason(t, e) for e, t in effects[:k] if e < 0]
        return up, down

    def design(self, prof: Sequence[float]) -> tuple[list[float], list[int]]:
        """The encoding as the heads read it (no bins: the active list is empty)."""
        return list(prof), []

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
        knows `name`) or on the shared weights ("shared")."""
        known = self.known(name) if base == "trained" else None
        if known is None:
            return Head(ability, None, kinds, source)
        return Head(ability, self.models[known][1], kinds, source)

    def head(self, name: str, prior: float | None, prior_source: str) -> Head:
        known = self.known(name)
        if prior is None and known is not None:
            bias, w = self.models[known]
            return Head(bias, w, (), f"trained ({known})")
        p = prior if prior is not None else DEFAULT_QUALITY
        return Head(
            _logit(p) - self.center,
            None,
            (),
            f"{prior_source} + prompt difficulty",
        )


@dataclass(frozen=True)
class Calibration:
    """Per-model abilities and kind loadings fitted on a user's sample."""

    heads: Mapping[str, Head]
    model_digest: str
    source: str
    suggested_quality_target: float | None = None
    reference: tuple[tuple[float, float], ...] | None = None
    """Encodings of the user's recorded traffic (`calibrate --ledger`): what `paid_share`
    is a share of."""


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
    reference = raw.get("reference")
    if reference is not None:
        reference = _pairs(reference, f"{where}: reference")
    return Calibration(
        heads,
        model.digest,
        where,
        float(target) if target is not None else None,
        reference,
    )


class TrainedPredictor:
    """Per-prompt quality for models and deployments: a `Predictor` for `router eval` and a
    `Scorer` for the planner (it reads `Features.profile`, so the router computes it)."""

    def __init__(self, model: TrainedModel, calibration: Calibration | None = None) -> None:
        self.model = model
        self.calibration = calibration
        self.encode = model.encode
        """The prompt's encoding (`Features.profile`): the planner computes it once."""
        self.reference = (
            calibration.reference if calibration and calibration.reference else model.reference
        )
        self._gains: dict[tuple[str, str], tuple[Deployment, Deployment, list[float]]] = {}
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
        shared = m.dot(m.shared, prof, ())
        out = []
        for h in heads:
            if h.weights is None and not h.kinds:  # the common case: prior + shared weights
                z = h.bias + shared
            else:
                z = h.bias + (m.dot(h.weights, prof, ()) if h.weights is not None else shared)
                if h.kinds:
                    z += m.dot(h.kinds, prof, ())
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
        return [self._score(heads, self.model.encode(p)) for p in prompts]

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
        if len(features.profile) != self.model.width:
            # Planned without a profile, or replayed from a record of another quality
            # model (the 43-number profile before issue 14): priors only.
            return [d.quality for d in deployments]
        return self._score(self.heads_for(deployments), features.profile)

    def gain_percentile(
        self, features: Features, free: Deployment, paid: Deployment, gain: float
    ) -> float | None:
        """Where `gain` (paid's predicted quality minus free's on this request) falls
        among the gains of the same two deployments on the reference traffic, in [0, 1];
        None when the request was planned without a profile."""
        if len(features.profile) != self.model.width:
            return None
        key = (free.name, paid.name)
        hit = self._gains.get(key)
        if hit is None or hit[0] is not free or hit[1] is not paid:
            heads = self.heads_for((free, paid))
            gains = sorted(
                q[1] - q[0] for q in map(functools.partial(self._score, heads), self.reference)
            )
            hit = self._gains[key] = (free, paid, gains)
        return rank(gain, hit[2])

    def why(
        self, prompt: str, deployments: Sequence[Deployment], k: int = 3
    ) -> tuple[list[str], list[str], list[float]]:
        """For `explain`: the prompt's words that raised and lowered its difficulty most,
        and each deployment's quality on a typical prompt (the mean encoding), to set
        beside its quality on this one. Computed on demand, never stored."""
        up, down = self.model.reasons(prompt, k)
        typical = self._score(self.heads_for(deployments), self.model.mean)
        return [r.term for r in up], [r.term for r in down], typical

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
