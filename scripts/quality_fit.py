"""The shipped quality predictor's fit: two convex stages over the prompt's words.
`train_quality.py` fits it on the training rows of all three sources and writes the
artifact; `leave_one_source_out.py` fits it on two sources and scores the third.
Needs numpy, scipy and scikit-learn (the dev extra); the runtime (`router/quality/trained.py`)
is pure Python.

Stage 1, the encoding: two ridge regressions from binary TF-IDF over the prompt's words
and word pairs (`terms`, seen in at least `min_df` training prompts) to two numbers a
prompt's labels say about it, each standardised within its source (so a source's format
is not learned as difficulty):

- `difficulty`: minus the mean, over the source's models, of (the model's quality on
  this prompt - the model's mean quality): high when every model does worse than usual;
- `gap`: the mean quality of the source's best third of models (by mean quality) minus
  that of its worst third: high when paying for a stronger model changes the answer.

Stage 2, the heads: per model, logit P(m good | x) = a_m + b_m . (difficulty, gap), a
logistic regression on the model's 0/1 correctness cells (MMLU, RouterBench), each
source weighing the same. Only correctness: AlpacaEval's probability of beating
GPT-4-turbo is another scale (Mixtral's ~0.13 against its ~0.7 correctness), so its
models teach the encoding only, and every shipped number is on one scale.

Both stages are convex: a rerun gives the same numbers, whatever the seed (the
non-convex joint fit this replaced moved by up to 0.17 APGR with its initialisation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import quality_data as qd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from router.quality.trained import pack_vocabulary
from router.quality.words import terms

HYPER: dict[str, Any] = {"alpha": 10.0, "min_df": 3, "ngrams": 2, "head_C": 100.0}
"""Chosen on the leave-one-source-out table among alpha 3 / 10 / 30, words alone or with
word pairs, and the two targets alone or together (benchmarks/README.md)."""

CORRECTNESS = ("mmlu", "routerbench")
"""Sources whose labels are 0/1 correctness; AlpacaEval's are judged against GPT-4-turbo."""
TARGETS = ("difficulty", "gap")


@dataclass
class Block:
    """The labelled rows of one source: prompts, one column per model (NaN: unlabelled)."""

    source: str
    prompts: list[str]
    models: list[str]
    Y: np.ndarray

    def labels(self) -> np.ndarray:
        """Y without AlpacaEval's reference column (0.5 by construction)."""
        Y = self.Y.copy()
        if self.source not in CORRECTNESS and qd.STRONG in self.models:
            Y[:, self.models.index(qd.STRONG)] = np.nan
        return Y


def blocks(parts: Sequence[qd.Part], held_out: bool | None) -> list[Block]:
    """One block per source of `parts`: its training rows (held_out False), its held-out
    rows (True) or all of them (None)."""
    out: list[Block] = []
    for source in qd.SOURCES:
        mine = [p for p in parts if qd.source_of(p) == source]
        if not mine:
            continue
        models = sorted({m for p in mine for m in p.sample.models})
        prompts: list[str] = []
        rows: list[list[float]] = []
        for p in mine:
            s = p.sample
            for i, prompt in enumerate(s.prompts):
                if held_out is not None and p.test[i] != held_out:
                    continue
                prompts.append(prompt)
                rows.append([s.quality[m][i] if m in s.quality else math.nan for m in models])
        out.append(Block(source, prompts, models, np.array(rows, float)))
    return out


def _standardised(t: np.ndarray) -> np.ndarray:
    t = np.nan_to_num(t - np.nanmean(t))
    return t / (t.std() + 1e-9)


def targets(block: Block) -> np.ndarray:
    """(rows, 2): the block's difficulty and gap targets, standardised within the block."""
    Y = block.labels()
    labelled = ~np.all(np.isnan(Y), axis=0)
    Y = Y[:, labelled]
    mean = np.nanmean(Y, axis=0)
    with np.errstate(invalid="ignore"):
        difficulty = -np.nanmean(Y - mean, axis=1)
        order = np.argsort(mean, kind="stable")
        k = max(1, len(mean) // 3)
        gap = np.nanmean(Y[:, order[-k:]], axis=1) - np.nanmean(Y[:, order[:k]], axis=1)
    return np.column_stack([_standardised(difficulty), _standardised(gap)])


@dataclass
class Fitted:
    vectorizer: Any
    ridges: list[Any]
    heads: dict[str, Any]
    reference: np.ndarray
    """(REFERENCE_PER_SOURCE x sources, 2): encodings of training prompts drawn evenly from
    each source, the traffic `paid_share` is a share of."""
    mean: np.ndarray
    """The mean encoding over the training prompts, each source weighing the same."""

    def encode(self, prompts: Sequence[str]) -> np.ndarray:
        X = self.vectorizer.transform(prompts)
        return np.column_stack([r.predict(X) for r in self.ridges])

    def quality(self, prompts: Sequence[str], model: str) -> np.ndarray:
        return np.asarray(self.heads[model].predict_proba(self.encode(prompts))[:, 1])

    def pair_score(self, prompts: Sequence[str], strong: str, weak: str) -> np.ndarray:
        """P(strong good) - P(weak good): the predicted gain of paying for `strong`."""
        return self.quality(prompts, strong) - self.quality(prompts, weak)


REFERENCE_PER_SOURCE = 200


def fit(train: Sequence[Block], hyper: dict[str, Any] = HYPER, log: Any = None) -> Fitted:
    """Both stages on the given sources' rows (see the module docstring)."""
    prompts = [p for b in train for p in b.prompts]
    vectorizer = TfidfVectorizer(
        binary=True,
        min_df=hyper["min_df"],
        tokenizer=terms,
        lowercase=False,
        token_pattern=None,
        ngram_range=(1, hyper["ngrams"]),
        dtype=np.float64,
    )
    X = vectorizer.fit_transform(prompts)
    T = np.vstack([targets(b) for b in train])
    ridges = [Ridge(alpha=hyper["alpha"]).fit(X, T[:, k]) for k in range(len(TARGETS))]
    E = np.column_stack([r.predict(X) for r in ridges])
    if log is not None:
        log(f"  encoding: {X.shape[1]:,} terms over {len(prompts):,} prompts")
    weights = np.concatenate([np.full(len(b.prompts), 1.0 / len(b.prompts)) for b in train])
    rng = np.random.default_rng(qd.SEED)
    sizes = [len(b.prompts) for b in train]
    reference = np.vstack(
        [
            E[lo + np.sort(rng.choice(n, min(REFERENCE_PER_SOURCE, n), replace=False))]
            for n, lo in zip(sizes, np.cumsum([0, *sizes]), strict=False)
        ]
    )
    mean = (weights[:, None] * E).sum(0) / weights.sum()
    at = np.cumsum([0] + [len(b.prompts) for b in train])
    heads: dict[str, Any] = {}
    models = sorted({m for b in train if b.source in CORRECTNESS for m in b.models})
    for model in models:
        rows, ys, ws = [], [], []
        for b, lo in zip(train, at, strict=False):
            if model not in b.models or b.source not in CORRECTNESS:
                continue  # one scale: AlpacaEval's win rates against GPT-4-turbo are not
            y = b.labels()[:, b.models.index(model)]
            keep = np.flatnonzero(~np.isnan(y))
            if not len(keep):
                continue
            rows.append(lo + keep)
            ys.append(y[keep])
            ws.append(np.full(len(keep), 1.0 / len(keep)))
        if not rows:
            continue
        e, y, w = E[np.concatenate(rows)], np.concatenate(ys), np.concatenate(ws)
        # A soft label y is the pair (1, weight y) + (0, weight 1 - y).
        head = LogisticRegression(C=hyper["head_C"], max_iter=1000).fit(
            np.vstack([e, e]),
            np.concatenate([np.ones(len(y)), np.zeros(len(y))]),
            sample_weight=np.concatenate([w * y, w * (1 - y)]) * len(ys) / w.sum(),
        )
        heads[model] = head
    return Fitted(vectorizer, ridges, heads, reference, mean)


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def artifact(fitted: Fitted, schema: str, note: str) -> dict[str, Any]:
    """The runtime's document: per term (idf x difficulty weight, idf x gap weight, idf^2,
    packed by `pack_vocabulary`), the intercepts, the heads and the reference encodings."""
    v = fitted.vectorizer
    idf = v.idf_
    W = np.vstack([r.coef_ for r in fitted.ridges])
    terms_ = v.get_feature_names_out()
    vocabulary = pack_vocabulary(
        {
            str(terms_[j]): [W[0, j] * idf[j], W[1, j] * idf[j], idf[j] ** 2]
            for j in range(len(terms_))
        }
    )
    slopes = np.array([h.coef_[0] for h in fitted.heads.values()])
    return {
        "schema": schema,
        "note": note,
        "encoding": list(TARGETS),
        "ngrams": int(v.ngram_range[1]),
        "intercepts": [_r(r.intercept_) for r in fitted.ridges],
        "reference": [[_r(x) for x in row] for row in fitted.reference],
        "mean": [_r(x) for x in fitted.mean],
        "shared": [_r(x) for x in slopes.mean(0)],
        "models": {
            name: {"ability": _r(h.intercept_[0]), "weights": [_r(x) for x in h.coef_[0]]}
            for name, h in fitted.heads.items()
        },
        "vocabulary": vocabulary,
    }
