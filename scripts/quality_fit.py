"""A candidate quality predictor over the prompt's words, under study for issue 14: what
`leave_one_source_out.py` fits as "ours". Not shipped: `router/quality/trained.py` (the
43-number profile) still is, because this candidate does not yet beat the TF-IDF + LR
baseline on every held-out source and loses in-source MMLU (see benchmarks/README.md).
Needs numpy and scipy (the dev extra).

Model, for prompt x and model m:

    profile(x) = W^T tfidf(x)                      (D numbers)
    logit P(m good | x) = b_m + C_m . profile(x)   (MMLU, RouterBench: 0/1 correctness)
    logit P(m beats GPT-4-turbo | x) = beta + (b_m - b_g) + (C_m - C_g) . profile(x)
                                                   (AlpacaEval: Bradley-Terry against g)

tfidf(x) is binary TF-IDF over `terms(x)` (words seen in at least
`min_df` training prompts, smooth idf, L2 norm). Fitted jointly by L-BFGS on the mean
log-loss of each source's labelled cells (each source weighs the same, so 800 chat prompts
count as much as 14,000 exam questions), + reg_words |W|^2 + reg_loadings |C - e1|^2.
Seeded: a rerun gives the same numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import quality_data as qd
import scipy.sparse as sp
from scipy.optimize import minimize

from router.quality.profile import WINDOW, focus

# ASCII letters, digits and "_" stay; other ASCII bytes split words; UTF-8 stays inside.
_SPLIT = bytes(b if b >= 128 or chr(b).isalnum() or b == 95 else 32 for b in range(256))


def terms(prompt: str) -> list[str]:
    """The lower-cased words of the question (after few-shot demos; first and last
    WINDOW / 2 characters of a longer one), split at ASCII punctuation and spaces."""
    text = focus(prompt)
    if len(text) > WINDOW:
        text = text[: WINDOW // 2] + "\n" + text[-WINDOW // 2 :]
    raw = text.lower().encode("utf-8", "surrogatepass").translate(_SPLIT)
    return raw.decode("utf-8", "replace").split()


HYPER: dict[str, Any] = {
    "dims": 3,
    "reg_words": 1e-2,
    "reg_loadings": 1e-3,
    "min_df": 3,
    "maxiter": 400,
    "seed": 0,
}
"""The best of a small grid in a first leave-one-source-out study; the fit is not convex
and its out-of-source figures move by several points with the seed (benchmarks/README.md)."""

CORRECTNESS = ("mmlu", "routerbench")
"""Sources whose labels are 0/1 correctness; the others are judged against GPT-4-turbo."""


@dataclass
class Block:
    """The labelled rows of one source: prompts, one column per model (NaN: unlabelled)."""

    source: str
    prompts: list[str]
    models: list[str]
    Y: np.ndarray


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


class Vocabulary:
    """Binary TF-IDF over `terms`, as scikit-learn's TfidfVectorizer(binary=True) computes it."""

    def __init__(self, prompts: Sequence[str], min_df: int) -> None:
        df = Counter(w for p in prompts for w in set(terms(p)))
        self.words = sorted(w for w, n in df.items() if n >= min_df)
        self.index = {w: i for i, w in enumerate(self.words)}
        n = len(prompts)
        self.idf = np.array([math.log((1 + n) / (1 + df[w])) + 1 for w in self.words])

    def matrix(self, prompts: Sequence[str]) -> sp.csr_matrix:
        indptr, indices, data = [0], [], []
        for p in prompts:
            cols = sorted({self.index[w] for w in terms(p) if w in self.index})
            vals = self.idf[cols]
            norm = math.sqrt(float(vals @ vals)) if cols else 1.0
            indices += cols
            data += list(vals / norm)
            indptr.append(len(indices))
        shape = (len(prompts), len(self.words))
        return sp.csr_matrix((np.array(data), np.array(indices, int), np.array(indptr)), shape)


@dataclass
class Fitted:
    vocab: Vocabulary
    W: np.ndarray  # words x D
    C: np.ndarray  # models x D
    b: np.ndarray  # models
    models: list[str]

    def logits(self, prompts: Sequence[str], models: Sequence[str]) -> np.ndarray:
        S = self.vocab.matrix(prompts) @ self.W
        idx = [self.models.index(m) for m in models]
        return S @ self.C[idx].T + self.b[idx]

    def pair_score(self, prompts: Sequence[str], strong: str, weak: str) -> np.ndarray:
        """P(strong good) - P(weak good): the predicted gain of paying for `strong`."""
        p = 1 / (1 + np.exp(-self.logits(prompts, [strong, weak])))
        return p[:, 0] - p[:, 1]


def fit(train: Sequence[Block], hyper: dict[str, Any] = HYPER, log: Any = None) -> Fitted:
    """The joint fit over the given sources' rows (see the module docstring)."""
    vocab = Vocabulary([p for b in train for p in b.prompts], hyper["min_df"])
    models: list[str] = []
    for b in train:
        models += [m for m in b.models if m not in models]
    mi = {m: i for i, m in enumerate(models)}
    g = mi[qd.STRONG]
    n_m, n_f, d = len(models), len(vocab.words), hyper["dims"]
    data = []
    for b in train:
        Y = np.full((len(b.prompts), n_m), np.nan)
        for j, m in enumerate(b.models):
            Y[:, mi[m]] = b.Y[:, j]
        pairwise = b.source not in CORRECTNESS
        if pairwise:
            Y[:, g] = np.nan  # the reference itself: 0.5 by construction
        mask = ~np.isnan(Y)
        data.append((vocab.matrix(b.prompts), np.nan_to_num(Y), mask / mask.sum(), pairwise))
    e1 = np.zeros((n_m, d))
    e1[:, 0] = 1.0
    rng = np.random.default_rng(hyper["seed"])
    sizes = [n_f * d, n_m * d, n_m, 1]

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, ...]:
        cut = np.cumsum(sizes)[:-1]
        w, c, bias, beta = np.split(theta, cut)
        return w.reshape(n_f, d), c.reshape(n_m, d), bias, beta

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, C, bias, beta = unpack(theta)
        total = hyper["reg_words"] * float((W * W).sum()) + hyper["reg_loadings"] * float(
            ((C - e1) ** 2).sum()
        )
        gW, gC = 2 * hyper["reg_words"] * W, 2 * hyper["reg_loadings"] * (C - e1)
        gb, gbeta = np.zeros(n_m), np.zeros(1)
        for X, Y, weight, pairwise in data:
            S = X @ W
            Z = S @ C.T + bias
            if pairwise:
                Z = Z - Z[:, [g]] + beta[0]
            P = 1 / (1 + np.exp(-np.clip(Z, -30, 30)))
            ll = Y * np.log(P + 1e-12) + (1 - Y) * np.log1p(-P + 1e-12)
            total -= float((weight * ll).sum())
            R = weight * (P - Y)
            if pairwise:
                gbeta[0] += R.sum()
                R[:, g] -= R.sum(1)
            gC += R.T @ S
            gb += R.sum(0)
            gW += X.T @ (R @ C)
        return total, np.concatenate([gW.ravel(), gC.ravel(), gb, gbeta])

    theta0 = np.concatenate(
        [
            rng.normal(0, 0.01, n_f * d),
            (e1 + rng.normal(0, 0.01, e1.shape)).ravel(),
            np.zeros(n_m + 1),
        ]
    )
    options = {"maxiter": hyper["maxiter"], "ftol": 1e-12, "gtol": 1e-9}
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options=options)
    if log is not None:
        log(f"  L-BFGS: {res.nit} iterations, loss {res.fun:.5f} ({res.message})")
    W, C, bias, _ = unpack(res.x)
    return Fitted(vocab, W, C, bias, models)
