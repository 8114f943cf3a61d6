"""Research for issue 5: which per-prompt quality predictor to ship (not wired in).

One command, fixed seed, CPU only, reads ../shared/routing-data by path (nothing is
copied into the repo):

    .venv/bin/python scripts/quality_research.py [--data ../shared/routing-data] [--quick]

Training needs numpy, scipy and scikit-learn (`pip install scikit-learn==1.9.1`,
which brings scipy, joblib and threadpoolctl); the runtime scorers timed here are
pure Python (stdlib only), which is what the package could ship. About 7 minutes on
2 cores; --quick (no CV, no unseen-subject folds, no new-model check) about 1.5.

Splits (seed 0, fixed):
- MMLU (RouteLLM files, 57 subjects, 14,042 prompts less the 5 contaminated ones =
  14,037): one numpy default_rng(0) stream walks the subjects in sorted order,
  shuffles each subject's rows and holds out round(20%) of them (2,808 held out);
  the other 80% train. A second check, "unseen subjects" (APGR*): the 57 subjects are
  dealt into 5 folds (default_rng(0) permutation, fold = position % 5); each fold's
  prompts (all of them, both splits) are scored by a model trained on the training
  rows of the other subjects plus RouterBench's training rows; APGR of the pooled
  out-of-fold scores.
- RouterBench (3 files; the 20 arc-challenge rows with a missing quality dropped:
  2,205 rows): the same per-file 80/20 draw (441 held out).
Hyper-parameters are chosen by 3-fold cross-validation inside the training split only
(log-loss of P(correct) over all labelled (prompt, model) cells), MMLU rows folded by
whole subjects so the choice favours what carries to unseen subjects; the held-out
rows are scored once, for the table.

Routing rules evaluated: MMLU sends a prompt to GPT-4 when P(GPT-4 correct) -
P(Mixtral correct) is above a threshold swept over every value. RouterBench picks,
per prompt, argmax_m P(m correct) - lambda * estimated cost_m (a per-model linear fit
of cost on prompt length, from the training rows), lambda swept 0..inf; the points
are realised with the rows' true quality and `M|total_cost`.

Metric helpers are a research copy (marked below), written to the definitions in
../shared/routing-data/README.md; router/quality/metrics.py is the package's own.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import glob
import json
import math
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from quality_data import unwrap  # scripts/ is on sys.path when run by path
from sklearn.linear_model import LogisticRegression

SEED = 0
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/mixtral-8x7b-chat"
# RouteLLM's MMLU files name Mixtral-8x7B-Instruct by its HF id; RouterBench calls the
# same model mixtral-8x7b-chat. One name, so the two datasets share its ability.
MMLU_NAMES = {"gpt-4-1106-preview": STRONG, "mistralai/Mixtral-8x7B-Instruct-v0.1": WEAK}
RB_MODELS = [
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    "claude-v1",
    "claude-v2",
    "claude-instant-v1",
    "meta/llama-2-70b-chat",
    "mistralai/mixtral-8x7b-chat",
    "mistralai/mistral-7b-chat",
    "zero-one-ai/Yi-34B-Chat",
    "WizardLM/WizardLM-13B-V1.2",
    "meta/code-llama-instruct-34b-chat",
]
MODELS = RB_MODELS  # MMLU's two models are among them
LATENCY_MODELS = 10


# ----------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------


@dataclass
class Data:
    """All prompts, one row each; Y[i, m] in {0, 1} or nan where model m has no label."""

    text: list[str]
    source: np.ndarray  # "mmlu" or "rb"
    group: np.ndarray  # MMLU subject or RouterBench file
    Y: np.ndarray
    cost: np.ndarray  # RouterBench per-query USD (nan for MMLU)
    answers: dict[int, list[str]] = field(default_factory=dict)  # RouterBench row -> letters


def load(root: str) -> Data:
    text: list[str] = []
    source: list[str] = []
    group: list[str] = []
    ys: list[list[float]] = []
    costs: list[list[float]] = []
    answers: dict[int, list[str]] = {}
    col = {m: j for j, m in enumerate(MODELS)}
    with open(os.path.join(root, "routellm-mmlu", "contaminated_prompts.jsonl")) as fh:
        contaminated = {json.loads(line)["eval_prompt"] for line in fh if line.strip()}
    for path in sorted(glob.glob(os.path.join(root, "routellm-mmlu", "responses", "*.csv"))):
        subject = os.path.basename(path).removeprefix("mmlu_").removesuffix(".csv")
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                if r["prompt"] in contaminated:
                    continue
                y = [math.nan] * len(MODELS)
                for name, model in MMLU_NAMES.items():
                    y[col[model]] = 1.0 if r[name] == "True" else 0.0
                text.append(r["prompt"])
                source.append("mmlu")
                group.append(subject)
                ys.append(y)
                costs.append([math.nan] * len(MODELS))
    for path in sorted(glob.glob(os.path.join(root, "routerbench-train", "*.csv"))):
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                if any(r[m] == "" or r[m + "|total_cost"] == "" for m in RB_MODELS):
                    continue
                answers[len(text)] = [_answer(r[m + "|model_response"]) for m in RB_MODELS]
                text.append(unwrap(r["prompt"]))
                source.append("rb")
                group.append(r["eval_name"])
                ys.append([float(r[m]) for m in RB_MODELS])
                costs.append([float(r[m + "|total_cost"]) for m in RB_MODELS])
    return Data(text, np.array(source), np.array(group), np.array(ys), np.array(costs), answers)


def _answer(response: str) -> str:
    """The choice letter a recorded answer gives, else its text (for agreement checks)."""
    m = re.search(r"\b([A-E])\b", response)
    return m.group(1) if m else response.strip()


def stratified_holdout(group: np.ndarray, frac: float = 0.2, seed: int = SEED) -> np.ndarray:
    """Within each group (sorted), shuffle with default_rng(seed) and hold out round(frac)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(group), bool)
    for g in sorted(set(group.tolist())):
        idx = np.flatnonzero(group == g)
        rng.shuffle(idx)
        test[idx[: round(frac * len(idx))]] = True
    return test


def group_folds(group: np.ndarray, k: int = 5, seed: int = SEED) -> np.ndarray:
    names = sorted(set(group.tolist()))
    perm = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[j]: i % k for i, j in enumerate(perm)}
    return np.array([fold_of[g] for g in group])


def cv_folds(d: Data, rows: np.ndarray, k: int = 3, seed: int = SEED) -> np.ndarray:
    """CV folds inside the training rows: MMLU by whole subjects (so the chosen
    hyper-parameters are those that carry to subjects not seen), RouterBench rows at
    random (3 files only: a file held out would leave its models' kind unseen)."""
    folds = np.arange(len(rows)) % k
    np.random.default_rng(seed).shuffle(folds)
    mm = d.source[rows] == "mmlu"
    folds[mm] = group_folds(d.group[rows][mm], k, seed)
    return folds


# ----------------------------------------------------------------------------------
# Prompt features (pure Python: the same code would run in the package)
# ----------------------------------------------------------------------------------

# A few-shot demonstration ends with a filled-in answer ("Answer:\nB" then a blank
# line); what follows the last one is the question actually asked.
_DEMO_END = re.compile(r"Answer:[ \t]*\n?[ \t]*\S{1,3}[ \t]*\n[ \t]*\n")
# ASCII letters, digits and "_" stay; other ASCII bytes become spaces; UTF-8 multi-byte
# characters stay inside their word. A bytes.translate + split is ~4x faster than \w+.
_SPLIT = bytes(b if b >= 128 or chr(b).isalnum() or b == 95 else 32 for b in range(256))
_OPTION = re.compile(r"^[ \t]*\(?[A-Ja-j][.)][ \t]+(.*)$", re.M)
_ALL_NONE = ("all of the", "none of the", "both of the", "neither of the")
_MATH_MARKS = ("=", "+", "*", "/", "^", "<", ">", "%", "√", "∑", "∫", "π", "≤", "≥", "×", "÷")
_CODE_MARKS = ("```", "def ", "return", "{", "}", ";\n", "==", "!=", "->", "import ", "print(")
_NEGATIONS = frozenset(
    ["not", "except", "least", "false", "incorrect", "never", "cannot", "untrue"]
)
_QUESTION_WORDS = [
    "what",
    "which",
    "why",
    "how",
    "who",
    "when",
    "where",
    "calculate",
    "compute",
    "find",
    "solve",
    "estimate",
    "determine",
    "prove",
    "explain",
    "write",
    "describe",
    "compare",
    "evaluate",
    "simplify",
    "implement",
    "summarize",
]
_REASONING = frozenset(
    [
        "step",
        "therefore",
        "because",
        "if",
        "then",
        "suppose",
        "assume",
        "given",
        "implies",
        "probability",
        "expected",
        "ratio",
        "rate",
        "percent",
        "total",
        "each",
        "per",
        "average",
        "minimum",
        "maximum",
        "least",
        "most",
    ]
)


def focus(text: str) -> str:
    """The question asked: the text after the last worked few-shot demonstration."""
    last = None
    for last in _DEMO_END.finditer(text):  # noqa: B007
        pass
    return text[last.end() :] if last is not None else text


DENSE_NAMES = [
    "log_chars",
    "log_words",
    "log_lines",
    "digit_share",
    "number_share",
    "log_numbers",
    "log_math_marks",
    "log_latex",
    "log_code_marks",
    "mean_word_len",
    "long_word_share",
    "type_token_ratio",
    "log_negations",
    "n_options",
    "log_option_len",
    "numeric_option_share",
    "all_none_of_the",
    "log_question_marks",
    "fill_in_blank",
    "non_ascii_share",
    "log_reasoning_words",
    *(f"asks_{w}" for w in _QUESTION_WORDS),
]
BINARY_DENSE = frozenset(
    {"all_none_of_the", "fill_in_blank", *(f"asks_{w}" for w in _QUESTION_WORDS)}
)


def prompt_features(prompt: str) -> tuple[set[str], list[float]]:
    """(terms, dense) of the question: its set of lower-cased words and DENSE_NAMES.

    Pure Python, C-level passes where possible (it is the runtime cost). Dense
    features are counts and shares that mean the same on any prompt: length, digits,
    maths and code marks, word length, negations, answer options, question words.
    """
    text = focus(prompt)
    low = text.lower()
    words = low.encode().translate(_SPLIT).decode().split()
    wordset = set(words)
    nw = max(len(words), 1)
    digit_words = list(filter(str.isdigit, words))
    n_alpha = max(len(words) - len(digit_words), 1)
    options = _OPTION.findall(text)
    n_chars = max(len(text), 1)
    return wordset, [
        math.log1p(len(text)),
        math.log1p(len(words)),
        math.log1p(text.count("\n") + 1),
        sum(map(text.count, "0123456789")) / n_chars,
        len(digit_words) / nw,
        math.log1p(len(digit_words)),
        math.log1p(sum(map(text.count, _MATH_MARKS))),
        math.log1p(text.count("\\") + text.count("$")),
        math.log1p(sum(map(text.count, _CODE_MARKS))),
        (sum(map(len, words)) - sum(map(len, digit_words))) / n_alpha,
        sum(map((9).__lt__, map(len, words))) / nw,
        len(wordset) / nw,
        math.log1p(sum(map(_NEGATIONS.__contains__, words))),
        float(len(options)),
        math.log1p(sum(map(len, options)) / len(options)) if options else 0.0,
        sum(1 for o in options if any(map(o.__contains__, "0123456789"))) / len(options)
        if options
        else 0.0,
        1.0 if any(map(low.__contains__, _ALL_NONE)) else 0.0,
        math.log1p(text.count("?")),
        1.0 if "_" in wordset else 0.0,
        (len(text.encode()) - len(text)) / n_chars,
        math.log1p(sum(map(_REASONING.__contains__, words))),
        *(1.0 if w in wordset else 0.0 for w in _QUESTION_WORDS),
    ]


@dataclass
class Featurizer:
    """Binary TF-IDF over a fixed vocabulary, standardised dense features, quantile bins."""

    vocab: dict[str, int]
    idf: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    edges: list[list[float]]  # per dense feature; [] for binary ones
    bin_offset: list[int]

    @classmethod
    def fit(cls, texts: Sequence[str], min_df: int = 3, max_terms: int = 40000, bins: int = 6):
        feats = [prompt_features(t) for t in texts]
        docs = [f[0] for f in feats]
        df: dict[str, int] = {}
        for d in docs:
            for t in d:
                df[t] = df.get(t, 0) + 1
        kept = sorted((t for t, c in df.items() if c >= min_df), key=lambda t: (-df[t], t))
        kept = sorted(kept[:max_terms])
        vocab = {t: i for i, t in enumerate(kept)}
        n = len(docs)
        idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in kept])
        raw = np.array([f[1] for f in feats])
        mean, std = raw.mean(0), np.maximum(raw.std(0), 1e-6)
        edges: list[list[float]] = []
        offset: list[int] = []
        at = 0
        for j, name in enumerate(DENSE_NAMES):
            e = (
                []
                if name in BINARY_DENSE
                else sorted(set(np.quantile(raw[:, j], np.arange(1, bins) / bins).tolist()))
            )
            edges.append(e)
            offset.append(at)
            at += len(e) + 1 if e else 0
        return cls(vocab, idf, mean, std, edges, offset)

    @property
    def n_lex(self) -> int:
        return len(self.vocab)

    @property
    def n_bins(self) -> int:
        return sum(len(e) + 1 for e in self.edges if e)

    @property
    def width(self) -> int:
        return self.n_lex + len(DENSE_NAMES) + self.n_bins

    def matrix(self, texts: Sequence[str], lexical_only: bool = False) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        nl, nd = self.n_lex, len(DENSE_NAMES)
        for i, t in enumerate(texts):
            found, dense = prompt_features(t)
            ids = sorted(self.vocab[w] for w in found if w in self.vocab)  # hash-seed-proof
            if ids:
                w = self.idf[ids]
                w = w / math.sqrt(float(np.sum(w * w)))
                rows += [i] * len(ids)
                cols += ids
                vals += w.tolist()
            if lexical_only:
                continue
            raw = np.array(dense)
            x = np.clip((raw - self.mean) / self.std, -5, 5)
            rows += [i] * nd
            cols += list(range(nl, nl + nd))
            vals += x.tolist()
            for j, e in enumerate(self.edges):
                if e:
                    rows.append(i)
                    cols.append(nl + nd + self.bin_offset[j] + bisect.bisect_right(e, raw[j]))
                    vals.append(1.0)
        width = nl if lexical_only else self.width
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), width))


# ----------------------------------------------------------------------------------
# Predictors. Each fits on (X, Y) with nan = unlabelled and returns P(correct), n x M.
# ----------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    mask = ~np.isnan(y)
    pp = np.clip(p[mask], 1e-6, 1 - 1e-6)
    yy = y[mask]
    return float(-(yy * np.log(pp) + (1 - yy) * np.log(1 - pp)).mean())


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """A dot product whose result does not depend on memory alignment (BLAS's ddot
    may sum in another order for another alignment; L-BFGS would amplify that)."""
    return float(np.sum(a * b))


def _mv(Z: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Z @ h without BLAS (same reason as _dot)."""
    return np.sum(Z * h[None, :], axis=1)


def lbfgs(
    f: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x: np.ndarray,
    maxiter: int,
    memory: int = 10,
    tol: float = 1e-7,
) -> np.ndarray:
    """Plain L-BFGS with Armijo backtracking (scipy's L-BFGS-B spends ~70 ms per step
    on its bound bookkeeping at 500k parameters; this spends ~3 ms)."""
    fx, g = f(x)
    S: list[np.ndarray] = []
    Yd: list[np.ndarray] = []
    for _ in range(maxiter):
        q = g.copy()
        alphas = []
        for s_, y_ in zip(reversed(S), reversed(Yd), strict=True):
            a = _dot(s_, q) / _dot(y_, s_)
            alphas.append(a)
            q -= a * y_
        if S:
            q *= _dot(S[-1], Yd[-1]) / _dot(Yd[-1], Yd[-1])
        else:
            q /= max(float(np.abs(g).max()), 1e-12) * 10
        for (s_, y_), a in zip(zip(S, Yd, strict=True), reversed(alphas), strict=True):
            q += s_ * (a - _dot(y_, q) / _dot(y_, s_))
        d = -q
        slope = _dot(g, d)
        if slope >= 0:
            d, slope = -g, -_dot(g, g)
            S.clear()
            Yd.clear()
        step = 1.0
        while True:
            xn = x + step * d
            fn, gn = f(xn)
            if fn <= fx + 1e-4 * step * slope or step < 1e-8:
                break
            step *= 0.5
        s_, y_ = xn - x, gn - g
        if _dot(s_, y_) > 1e-12:
            S.append(s_)
            Yd.append(y_)
            if len(S) > memory:
                S.pop(0)
                Yd.pop(0)
        improvement = fx - fn
        x, fx, g = xn, fn, gn
        if improvement < tol * max(abs(fx), 1.0):
            break
    return x


def fit_lr(X: sp.csr_matrix, Y: np.ndarray, C: float) -> dict[str, np.ndarray]:
    """(a) One L2 logistic regression per model on its labelled rows (baseline)."""
    W = np.zeros((X.shape[1], Y.shape[1]))
    b = np.zeros(Y.shape[1])
    for m in range(Y.shape[1]):
        rows = ~np.isnan(Y[:, m])
        lr = LogisticRegression(C=C, max_iter=2000, tol=1e-5)
        lr.fit(X[rows], Y[rows, m])
        W[:, m], b[m] = lr.coef_[0], lr.intercept_[0]
    return {"W": W, "b": b}


def predict_linear(model: dict[str, np.ndarray], X: sp.csr_matrix) -> np.ndarray:
    return _sigmoid(X @ model["W"] + model["b"][None, :])


def fit_factorised(
    X: sp.csr_matrix,
    Y: np.ndarray,
    n_lex: int,
    *,
    reg_lex: float,
    reg_dense: float,
    affinity_x: float,
    maxiter: int = 400,
    affinity_lex_x: float | None = None,
) -> dict[str, np.ndarray]:
    """(b) logit P(m correct | x) = ability_m - difficulty(x) + affinity_m(x).

    difficulty(x) = -x.w0 is shared by all models; affinity_m(x) = x.D[:, m] is what
    model m does better or worse than its ability on prompts like x (its kind
    profile), penalised `affinity_x` times harder than the shared part, so a model
    with few labels stays close to "ability minus difficulty". Jointly fitted by
    L-BFGS on the mean log-loss of all labelled cells + L2 (convex; starts at 0).
    """
    F = X.shape[1]
    M = Y.shape[1]
    mask = ~np.isnan(Y)
    Yz = np.where(mask, Y, 0.0)
    wt = mask / mask.sum()
    reg = np.full(F, reg_dense)
    reg[:n_lex] = reg_lex
    reg_aff = reg * affinity_x
    if affinity_lex_x is not None:
        reg_aff[:n_lex] = reg_lex * affinity_lex_x
    XT = X.T.tocsr()

    def f(p: np.ndarray) -> tuple[float, np.ndarray]:
        w0, D, th = p[:F], p[F : F + F * M].reshape(F, M), p[F + F * M :]
        Z = X @ (D + w0[:, None]) + th[None, :]
        P = _sigmoid(Z)
        loss = -(wt * (Yz * np.log(P + 1e-12) + (1 - Yz) * np.log(1 - P + 1e-12))).sum()
        g = wt * (P - Yz)
        gD = XT @ g
        gw0 = gD.sum(1) + reg * w0
        gD += reg_aff[:, None] * D
        loss += 0.5 * (reg * w0 * w0).sum() + 0.5 * (reg_aff[:, None] * D * D).sum()
        return float(loss), np.concatenate([gw0, gD.ravel(), g.sum(0)])

    p = lbfgs(f, np.zeros(F + F * M + M), maxiter)
    w0, D, th = p[:F], p[F : F + F * M].reshape(F, M), p[F + F * M :]
    return {"W": D + w0[:, None], "b": th, "w0": w0, "D": D}


def low_rank(
    model: dict[str, np.ndarray], X: sp.csr_matrix, Y: np.ndarray, k: int
) -> dict[str, np.ndarray]:
    """(b-K) The factorised model with its affinities squeezed to K shared prompt kinds.

    The affinity matrix D (features x models) is cut to rank K by SVD: D ~ B A', B the K
    kind directions (prompt -> kind scores), A each model's loading on them. Then each
    model's (ability, loadings) are refitted on its labels with difficulty and kinds
    fixed: K + 1 numbers per model, which is what `router calibrate` would fit for a
    model it has never seen, from ~100 labelled rows.
    """
    U, s, Vt = np.linalg.svd(model["D"], full_matrices=False)
    B = U[:, :k] * s[:k]
    kinds = X @ B
    base = X @ model["w0"]
    M = Y.shape[1]
    heads = np.zeros((M, k + 1))
    for m in range(M):
        rows = ~np.isnan(Y[:, m])
        Z = np.hstack([np.ones((rows.sum(), 1)), kinds[rows]])
        off, y = base[rows], Y[rows, m]

        def f(h: np.ndarray, Z: np.ndarray = Z, off: np.ndarray = off, y: np.ndarray = y):
            p = _sigmoid(_mv(Z, h) + off)
            loss = -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)).mean()
            return float(loss + 5e-4 * (h[1:] @ h[1:])), _mv(Z.T, p - y) / len(y) + np.r_[
                0.0, 1e-3 * h[1:]
            ]

        heads[m] = lbfgs(f, np.r_[model["b"][m], Vt[:k, m]], 200)
    W = model["w0"][:, None] + np.sum(B[:, None, :] * heads[None, :, 1:], axis=2)
    return {"W": W, "b": heads[:, 0], "w0": model["w0"], "B": B, "A": heads[:, 1:]}


def fit_knn(X: sp.csr_matrix, Y: np.ndarray, k: int, shrink: float) -> dict[str, Any]:
    """(c) k nearest labelled prompts (cosine on the binary TF-IDF), per model."""
    return {"X": X, "Y": Y, "k": k, "shrink": shrink, "prior": np.nanmean(Y, 0)}


def predict_knn(model: dict[str, Any], X: sp.csr_matrix) -> np.ndarray:
    S = (X @ model["X"].T).toarray().astype(np.float32)
    Y, k, a = model["Y"], model["k"], model["shrink"]
    out = np.zeros((X.shape[0], Y.shape[1]))
    for m in range(Y.shape[1]):
        cols = np.flatnonzero(~np.isnan(Y[:, m]))
        Sm = S[:, cols]
        kk = min(k, len(cols) - 1)
        nn = np.argpartition(-Sm, kk, axis=1)[:, :kk]
        w = np.take_along_axis(Sm, nn, 1).astype(float)
        out[:, m] = ((w * Y[cols, m][nn]).sum(1) + a * model["prior"][m]) / (w.sum(1) + a)
    return out


# ----------------------------------------------------------------------------------
# Metric helpers: RESEARCH COPY, written to ../shared/routing-data/README.md.
# (router/quality/metrics.py is the package's own; these are not imported from it.)
# ----------------------------------------------------------------------------------


def pgr_curve(score: np.ndarray, strong: np.ndarray, weak: np.ndarray):
    """(share of strong calls, PGR) as the threshold sweeps every value of `score`.

    Prompts whose score is >= the threshold go to the strong model; tied scores move
    together, so the curve has one point per distinct score (plus both ends) and is
    linear in between (a random tie-break's expectation).
    """
    n = len(score)
    order = np.argsort(-score, kind="stable")
    s = score[order]
    gain = np.concatenate([[0.0], np.cumsum((strong - weak)[order])])
    cuts = np.concatenate([[0], np.flatnonzero(s[1:] != s[:-1]) + 1, [n]])
    share = cuts / n
    quality = (weak.sum() + gain[cuts]) / n
    gap = strong.mean() - weak.mean()
    return share, (quality - weak.mean()) / gap


def apgr(score: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> float:
    """Area under PGR against the share of strong calls (trapezoid over the sorted curve)."""
    x, y = pgr_curve(score, strong, weak)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def cpt(score: np.ndarray, strong: np.ndarray, weak: np.ndarray, target: float) -> float:
    """The smallest share of strong calls at which PGR reaches `target` (on the curve)."""
    x, y = pgr_curve(score, strong, weak)
    for i in range(1, len(x)):
        if y[i] >= target:
            if y[i - 1] >= target:
                return float(x[i - 1])
            return float(x[i - 1] + (target - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1]))
    return 1.0


def route_points(q: np.ndarray, c_est: np.ndarray, Q: np.ndarray, C: np.ndarray) -> np.ndarray:
    """(mean cost, mean quality) of "argmax predicted quality - lambda x estimated cost"
    as lambda sweeps 0..inf (log grid), realised with the rows' true quality and cost."""
    rows = np.arange(len(Q))
    pts = []
    for lam in np.concatenate([[0.0], np.logspace(-2, 6, 801), [1e12]]):
        pick = np.argmax(q - lam * c_est, axis=1)
        pts.append((C[rows, pick].mean(), Q[rows, pick].mean()))
    return np.array(pts)


def hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-decreasing upper convex hull, cheapest point first."""
    h: list[tuple[float, float]] = []
    for p in sorted(set(map(tuple, points))):
        while (
            len(h) >= 2
            and (h[-1][0] - h[-2][0]) * (p[1] - h[-2][1])
            - (h[-1][1] - h[-2][1]) * (p[0] - h[-2][0])
            >= 0
        ):
            h.pop()
        h.append(p)
    top = max(range(len(h)), key=lambda i: (h[i][1], -i))
    return h[: top + 1]


def hull_at(points: Sequence[tuple[float, float]], cost: float) -> float:
    """The hull's quality at `cost` (flat after its last point, 0 before its first)."""
    h = hull(points)
    if cost < h[0][0]:
        return 0.0
    return float(np.interp(cost, [c for c, _ in h], [q for _, q in h]))


def aiq(points: Sequence[tuple[float, float]], lo: float, hi: float) -> float:
    """RouterBench's AIQ: area under the non-decreasing convex hull over [lo, hi], / width.

    lo and hi are the cheapest and dearest single model's mean cost on the same rows, so
    a router and the single models' own hull are measured over one range.
    """
    grid = np.linspace(lo, hi, 4001)
    v = [hull_at(points, c) for c in grid]
    return float(
        np.sum((grid[1:] - grid[:-1]) * (np.array(v[1:]) + np.array(v[:-1])) / 2) / (hi - lo)
    )


def cost_to_reach(points: Sequence[tuple[float, float]], target: float) -> float:
    """Cheapest mean cost among the router's own points whose quality >= target."""
    ok = [c for c, q in points if q >= target - 1e-12]
    return min(ok) if ok else math.inf


# ----------------------------------------------------------------------------------
# Runtime: what the package would ship. A JSON artifact and a stdlib-only scorer.
# ----------------------------------------------------------------------------------


def _r(x: float) -> float:
    return float(f"{x:.4g}")


def linear_artifact(
    fz: Featurizer, W: np.ndarray, heads: dict[str, tuple[float, list[float]]]
) -> dict[str, Any]:
    """W: (features x J) projection weights; heads: model -> (bias, J loadings).

    logit(model) = bias + sum_j loading_j * proj_j(prompt); proj_j = x . W[:, j] where x is
    the prompt's binary TF-IDF (L2-normalised), standardised dense features and bins.
    Each vocabulary term carries (idf^2, idf * W[t, :]) so a prompt's projections are
    one C-level column sum over its terms, divided by the TF-IDF norm.
    """
    nl, nd = fz.n_lex, len(DENSE_NAMES)
    inv = sorted(fz.vocab, key=fz.vocab.__getitem__)
    terms_ = (
        {t: [_r(fz.idf[i] ** 2), *(_r(fz.idf[i] * w) for w in W[i])] for i, t in enumerate(inv)}
        if np.any(W[:nl])
        else {}
    )
    bin_w = []
    for j, e in enumerate(fz.edges):
        at = nl + nd + fz.bin_offset[j]
        bin_w.append([[_r(w) for w in W[at + b]] for b in range(len(e) + 1)] if e else [])
    return {
        "terms": terms_,
        "mean": fz.mean.tolist(),
        "std": fz.std.tolist(),
        "dense_cols": [[_r(W[nl + j, c]) for j in range(nd)] for c in range(W.shape[1])],
        "edges": fz.edges,
        "bin_w": bin_w,
        "heads": {m: [_r(b), [_r(v) for v in h]] for m, (b, h) in heads.items()},
    }


class LinearScorer:
    """Pure-Python scorer of a linear artifact: (prompt, models) -> P(correct) each."""

    def __init__(self, art: dict[str, Any]) -> None:
        self.terms = {t: tuple(v) for t, v in art["terms"].items()}
        self.mean, self.std = art["mean"], art["std"]
        self.dense_cols = art["dense_cols"]
        self.edges = art["edges"]
        self.bin_w = [[tuple(b) for b in bins] for bins in art["bin_w"]]
        self.heads = {m: (b, h) for m, (b, h) in art["heads"].items()}
        self.J = len(self.dense_cols)

    def __call__(self, prompt: str, models: Sequence[str]) -> list[float]:
        from operator import mul  # noqa: PLC0415

        found, raw = prompt_features(prompt)
        get = self.terms.get
        hits = [v for v in map(get, found) if v is not None]
        if hits:
            cols = list(map(sum, zip(*hits, strict=True)))
            inv = 1.0 / math.sqrt(cols[0])
            proj = [c * inv for c in cols[1:]]
        else:
            proj = [0.0] * self.J
        x = [
            min(5.0, max(-5.0, (r - m) / s))
            for r, m, s in zip(raw, self.mean, self.std, strict=True)
        ]
        extra = [
            self.bin_w[j][bisect.bisect_right(e, raw[j])] for j, e in enumerate(self.edges) if e
        ]
        bins = list(map(sum, zip(*extra, strict=True))) if extra else [0.0] * self.J
        proj = [
            p + sum(map(mul, x, col)) + b
            for p, col, b in zip(proj, self.dense_cols, bins, strict=True)
        ]
        out = []
        for name in models:
            b, h = self.heads[name]
            z = b + sum(map(mul, h, proj))
            out.append(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))))
        return out


def knn_artifact(fz: Featurizer, X: sp.csr_matrix, Y: np.ndarray, model: dict[str, Any]):
    """Inverted index over the training prompts' TF-IDF vectors, plus their labels."""
    inv = sorted(fz.vocab, key=fz.vocab.__getitem__)
    Xc = X.tocsc()
    post = {}
    for i, t in enumerate(inv):
        lo, hi = Xc.indptr[i], Xc.indptr[i + 1]
        post[t] = [_r(fz.idf[i]), Xc.indices[lo:hi].tolist(), [_r(v) for v in Xc.data[lo:hi]]]
    labels = {m: [None if math.isnan(v) else int(v) for v in Y[:, j]] for j, m in enumerate(MODELS)}
    prior = {m: _r(float(model["prior"][j])) for j, m in enumerate(MODELS)}
    return {"post": post, "labels": labels, "prior": prior, "k": model["k"], "a": model["shrink"]}


class KnnScorer:
    """Pure-Python kNN over the inverted index (exact cosine, then top-k per model)."""

    def __init__(self, art: dict[str, Any]) -> None:
        self.post = art["post"]
        self.labels, self.prior = art["labels"], art["prior"]
        self.k, self.a = art["k"], art["a"]

    def __call__(self, prompt: str, models: Sequence[str]) -> list[float]:
        import heapq  # noqa: PLC0415

        found, _ = prompt_features(prompt)
        hits = [p for p in map(self.post.get, found) if p is not None]
        norm = math.sqrt(sum(p[0] * p[0] for p in hits)) or 1.0
        acc: dict[int, float] = {}
        for idf, ids, ws in hits:
            q = idf / norm
            for i, w in zip(ids, ws, strict=True):
                acc[i] = acc.get(i, 0.0) + q * w
        out = []
        for name in models:
            lab = self.labels[name]
            top = heapq.nlargest(
                self.k, ((s, i) for i, s in acc.items() if lab[i] is not None), key=lambda t: t[0]
            )
            sw = sum(s for s, _ in top)
            out.append(
                (sum(s * lab[i] for s, i in top) + self.a * self.prior[name]) / (sw + self.a)
            )
        return out


def latency(scorer: Callable[[str, Sequence[str]], list[float]], prompts: Sequence[str]) -> float:
    """p50 seconds to score one ~1,000-token prompt for LATENCY_MODELS models."""
    models = MODELS[:LATENCY_MODELS]
    for p in prompts:
        scorer(p, models)
    times = []
    for _ in range(30):
        for p in prompts:
            t = time.perf_counter()
            scorer(p, models)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def thousand_token_prompts(d: Data, test: np.ndarray) -> list[str]:
    """Held-out prompts glued to ~1,000 cl100k tokens: MMLU questions, RouterBench, code."""
    from router.decision._features import count_tokens  # noqa: PLC0415

    out = []
    rng = random.Random(SEED)
    for pool in (
        [i for i in np.flatnonzero(test) if d.source[i] == "mmlu"],
        [i for i in np.flatnonzero(test) if d.source[i] == "rb"],
        [i for i in np.flatnonzero(test) if d.group[i] == "mbpp"],
    ):
        text = ""
        while count_tokens(text) < 1000:
            text += d.text[rng.choice(pool)] + "\n\n"
        ids = _encoding_ids(text)[:1000]
        out.append(_decode(ids))
    return out


def _encoding_ids(text: str) -> list[int]:
    from router.decision._features import _encoding  # noqa: PLC0415

    return _encoding().encode_ordinary(text)


def _decode(ids: list[int]) -> str:
    from router.decision._features import _encoding  # noqa: PLC0415

    enc: Any = _encoding()
    return str(enc.decode(ids))


# ----------------------------------------------------------------------------------
# Experiment
# ----------------------------------------------------------------------------------


@dataclass
class Ctx:
    d: Data
    fz: Featurizer
    X: sp.csr_matrix  # lexical | dense | bins
    XL: sp.csr_matrix  # lexical only
    quick: bool


@dataclass
class Design:
    name: str
    grid: list[dict[str, Any]]
    fit: Callable[[Ctx, np.ndarray, dict[str, Any]], Any]
    predict: Callable[[Ctx, Any, np.ndarray], np.ndarray]
    runtime: Callable[[Ctx, Any, np.ndarray], tuple[dict[str, Any], Any]] | None = None


def _lr_runtime(ctx: Ctx, model: dict[str, np.ndarray], rows: np.ndarray):
    W = np.vstack([model["W"], np.zeros((ctx.X.shape[1] - ctx.fz.n_lex, len(MODELS)))])
    heads = {
        m: (float(model["b"][j]), np.eye(len(MODELS))[j].tolist()) for j, m in enumerate(MODELS)
    }
    art = linear_artifact(ctx.fz, W, heads)
    return art, LinearScorer(art)


def _fact_runtime(ctx: Ctx, model: dict[str, np.ndarray], rows: np.ndarray):
    W = np.hstack([model["w0"][:, None], model["D"]])
    heads = {
        m: (float(model["b"][j]), np.eye(len(MODELS) + 1)[[0, j + 1]].sum(0).tolist())
        for j, m in enumerate(MODELS)
    }
    art = linear_artifact(ctx.fz, W, heads)
    return art, LinearScorer(art)


def _rank_runtime(ctx: Ctx, model: dict[str, np.ndarray], rows: np.ndarray):
    W = np.hstack([model["w0"][:, None], model["B"]])
    heads = {
        m: (float(model["b"][j]), [1.0, *model["A"][j].tolist()]) for j, m in enumerate(MODELS)
    }
    art = linear_artifact(ctx.fz, W, heads)
    return art, LinearScorer(art)


def _knn_runtime(ctx: Ctx, model: dict[str, Any], rows: np.ndarray):
    art = knn_artifact(ctx.fz, model["X"], model["Y"], model)
    return art, KnnScorer(art)


def _fit_fact(ctx: Ctx, rows: np.ndarray, p: dict[str, Any]) -> dict[str, np.ndarray]:
    return fit_factorised(
        ctx.X[rows], ctx.d.Y[rows], ctx.fz.n_lex, maxiter=120 if ctx.quick else 250, **p
    )


def _fit_dense(ctx: Ctx, rows: np.ndarray, p: dict[str, Any]) -> dict[str, np.ndarray]:
    """The factorised model on the dense features and bins alone (no vocabulary)."""
    nl = ctx.fz.n_lex
    m = fit_factorised(ctx.X[rows][:, nl:], ctx.d.Y[rows], 0, maxiter=250, reg_lex=0.0, **p)
    pad = np.zeros(nl)
    return {
        "W": np.vstack([np.zeros((nl, len(MODELS))), m["W"]]),
        "b": m["b"],
        "w0": np.r_[pad, m["w0"]],
        "D": np.vstack([np.zeros((nl, len(MODELS))), m["D"]]),
    }


def _fit_rank(ctx: Ctx, rows: np.ndarray, p: dict[str, Any]) -> dict[str, np.ndarray]:
    p = dict(p)
    base = _fit_fact(ctx, rows, {k: v for k, v in p.items() if k != "K"})
    return low_rank(base, ctx.X[rows], ctx.d.Y[rows], p["K"])


def _fit_ens(ctx: Ctx, rows: np.ndarray, p: dict[str, Any]):
    return (_fit_fact(ctx, rows, p["fact"]), fit_knn(ctx.XL[rows], ctx.d.Y[rows], **p["knn"]))


def designs(best: dict[str, dict[str, Any]]) -> list[Design]:
    fact_grid = [
        {"reg_lex": 1e-4, "reg_dense": 1e-3, "affinity_x": 1.0},
        {"reg_lex": 3e-4, "reg_dense": 1e-3, "affinity_x": 1.0},
        {"reg_lex": 1e-3, "reg_dense": 1e-3, "affinity_x": 1.0},
        {"reg_lex": 3e-4, "reg_dense": 1e-3, "affinity_x": 1.0, "affinity_lex_x": 10.0},
    ]
    return [
        Design(
            "(a) TF-IDF + LR per model",
            [{"C": c} for c in (0.1, 0.3, 1.0, 3.0)],
            lambda ctx, rows, p: fit_lr(ctx.XL[rows], ctx.d.Y[rows], p["C"]),
            lambda ctx, m, rows: predict_linear(m, ctx.XL[rows]),
            _lr_runtime,
        ),
        Design(
            "(b) factorised: ability - difficulty + affinity",
            fact_grid,
            _fit_fact,
            lambda ctx, m, rows: predict_linear(m, ctx.X[rows]),
            _fact_runtime,
        ),
        Design(
            "(b4) factorised, affinities rank 4",
            [{**best.get("(b) factorised: ability - difficulty + affinity", fact_grid[0]), "K": 4}],
            _fit_rank,
            lambda ctx, m, rows: predict_linear(m, ctx.X[rows]),
            _rank_runtime,
        ),
        Design(
            "(e) factorised, dense features only (no words)",
            [{"reg_dense": r, "affinity_x": a} for r in (3e-4, 1e-3, 3e-3) for a in (1.0, 3.0)],
            _fit_dense,
            lambda ctx, m, rows: predict_linear(m, ctx.X[rows]),
            _fact_runtime,
        ),
        Design(
            "(c) kNN on TF-IDF",
            [{"k": k, "shrink": a} for k in (25, 100, 400) for a in (0.5, 2.0)],
            lambda ctx, rows, p: fit_knn(ctx.XL[rows], ctx.d.Y[rows], p["k"], p["shrink"]),
            lambda ctx, m, rows: predict_knn(m, ctx.XL[rows]),
            _knn_runtime,
        ),
        Design(
            "(d) mean of (b) and (c)",
            [
                {
                    "fact": best.get(
                        "(b) factorised: ability - difficulty + affinity", fact_grid[0]
                    ),
                    "knn": best.get("(c) kNN on TF-IDF", {"k": 100, "shrink": 2.0}),
                }
            ],
            _fit_ens,
            lambda ctx, m, rows: (
                (predict_linear(m[0], ctx.X[rows]) + predict_knn(m[1], ctx.XL[rows])) / 2
            ),
            None,
        ),
    ]


def cv_select(ctx: Ctx, design: Design, train: np.ndarray) -> tuple[dict[str, Any], float]:
    """Pick the grid point with the lowest 3-fold CV log-loss inside the training rows."""
    if len(design.grid) == 1:
        return design.grid[0], math.nan
    idx = np.flatnonzero(train)
    folds = cv_folds(ctx.d, idx)
    best, best_ll = design.grid[0], math.inf
    for p in design.grid:
        lls = []
        for f in range(3):
            fit_rows, val_rows = idx[folds != f], idx[folds == f]
            model = design.fit(ctx, fit_rows, p)
            lls.append(log_loss(design.predict(ctx, model, val_rows), ctx.d.Y[val_rows]))
        ll = float(np.mean(lls))
        print(f"    cv {p}: log-loss {ll:.4f}", flush=True)
        if ll < best_ll:
            best, best_ll = p, ll
    return best, best_ll


def mmlu_metrics(d: Data, rows: np.ndarray, P: np.ndarray) -> tuple[float, float, float]:
    s, w = MODELS.index(STRONG), MODELS.index(WEAK)
    G, W = d.Y[rows, s], d.Y[rows, w]
    score = P[:, s] - P[:, w]
    return apgr(score, G, W), cpt(score, G, W, 0.5), cpt(score, G, W, 0.8)


@dataclass
class RB:
    Q: np.ndarray
    C: np.ndarray
    c_est: np.ndarray
    lo: float
    hi: float
    strong_q: float
    strong_c: float


def rb_setup(d: Data, train: np.ndarray, test: np.ndarray) -> RB:
    """Held-out RouterBench rows; estimated cost = per-model linear fit on prompt length."""
    tr = np.flatnonzero(train & (d.source == "rb"))
    te = np.flatnonzero(test & (d.source == "rb"))
    length = np.array([len(t) for t in d.text], float)
    c_est = np.zeros((len(te), len(RB_MODELS)))
    for m in range(len(RB_MODELS)):
        b, a = np.polyfit(length[tr], d.cost[tr, m], 1)
        c_est[:, m] = np.maximum(a + b * length[te], 1e-9)
    Q, C = d.Y[te], d.cost[te]
    means = C.mean(0)
    s = MODELS.index(STRONG)
    return RB(
        Q, C, c_est, float(means.min()), float(means.max()), float(Q[:, s].mean()), float(means[s])
    )


def rb_metrics(rb: RB, points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """(cost to reach GPT-4's accuracy as a share of GPT-4's cost, quality at 25% of
    GPT-4's cost on the hull, AIQ)."""
    reach = cost_to_reach(points, rb.strong_q) / rb.strong_c
    return reach, hull_at(points, 0.25 * rb.strong_c), aiq(points, rb.lo, rb.hi)


def difficulty_ceiling(d: Data, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """NOT a predictor: each held-out RouterBench row's 1-D difficulty fitted on its own
    11 labels (Gaussian prior), with per-(model, file) ability from the training rows.
    What perfect knowledge of 'how hard is this prompt' would buy."""
    te = np.flatnonzero(test & (d.source == "rb"))
    theta = np.zeros((len(te), len(RB_MODELS)))
    for g in sorted(set(d.group[te].tolist())):
        acc = d.Y[train & (d.group == g)].mean(0).clip(0.02, 0.98)
        theta[d.group[te] == g] = np.log(acc / (1 - acc))
    Y = d.Y[te]
    diff = np.zeros(len(te))
    for _ in range(50):  # Newton steps on each row's difficulty
        p = _sigmoid(theta - diff[:, None])
        grad = (p - Y).sum(1) - diff / 2.0
        hess = -(p * (1 - p)).sum(1) - 1 / 2.0
        diff -= grad / hess
    return _sigmoid(theta - diff[:, None])


OPEN_MODELS = [m for m in RB_MODELS if "/" in m]  # RouterBench's open-weights models


def cascade_reference(d: Data, train: np.ndarray, test: np.ndarray) -> str:
    """NOT a prompt-only predictor, for scale: ask the two open models with the best
    training accuracy; keep their answer when they agree, else ask GPT-4 (code prompts,
    whose answers letters cannot compare, go to GPT-4 directly)."""
    s = MODELS.index(STRONG)
    rb = d.source == "rb"
    tr, te = np.flatnonzero(train & rb), np.flatnonzero(test & rb)

    def run(rows: np.ndarray, a: int, b: int) -> tuple[float, float]:
        q = c = 0.0
        for i in rows:
            if d.group[i] != "mbpp":
                c += d.cost[i, a] + d.cost[i, b]
                if d.answers[i][a] == d.answers[i][b]:
                    q += d.Y[i, a]
                    continue
            q, c = q + d.Y[i, s], c + d.cost[i, s]
        return q / len(rows), c / len(rows) / d.cost[rows, s].mean()

    acc = d.Y[tr].mean(0)
    a, b = sorted((MODELS.index(m) for m in OPEN_MODELS), key=lambda j: -acc[j])[:2]
    (q_tr, c_tr), (q_te, c_te) = run(tr, a, b), run(te, a, b)
    return (
        f"cascade reference (uses recorded answers, not a prompt-only predictor): "
        f"{MODELS[a]} + {MODELS[b]}, GPT-4 when they disagree or on code:\n"
        f"  training rows accuracy {q_tr:.3f} (GPT-4 {d.Y[tr, s].mean():.3f}) at "
        f"{100 * c_tr:.0f}% of GPT-4's cost; held-out {q_te:.3f} (GPT-4 "
        f"{d.Y[te, s].mean():.3f}) at {100 * c_te:.0f}%"
    )


def fit_head(Z: np.ndarray, offset: np.ndarray, y: np.ndarray, reg: float) -> np.ndarray:
    """Logistic fit of h on [1, Z] with a fixed offset (L2 `reg` on all but the bias)."""

    def f(h: np.ndarray) -> tuple[float, np.ndarray]:
        p = _sigmoid(_mv(Z, h) + offset)
        loss = -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)).mean()
        pen = np.r_[0.0, np.full(len(h) - 1, reg)]
        return float(loss + 0.5 * (pen * h * h).sum()), _mv(Z.T, p - y) / len(y) + pen * h

    Z = np.hstack([np.ones((len(y), 1)), Z])
    return lbfgs(f, np.zeros(Z.shape[1]), 300)


def new_model_check(su: Setup, params: dict[str, Any], n_calib: int = 100) -> list[str]:
    """A model the predictor never saw: train the factorised model without its labels,
    then calibrate it from `n_calib` labelled training rows (RouterBench), and compare
    AUC / log-loss on its held-out rows with the model trained on all its labels."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    ctx, d = su.ctx, su.ctx.d
    X = ctx.X
    rng = np.random.default_rng(SEED)
    tr_rb = np.flatnonzero(su.train & (d.source == "rb"))
    full = _fit_fact(ctx, np.flatnonzero(su.train), params)
    out = [f"new-model check ({n_calib} calibration rows; AUC / log-loss on held-out rows):"]
    for name in ("claude-v2", "zero-one-ai/Yi-34B-Chat", "WizardLM/WizardLM-13B-V1.2"):
        m = MODELS.index(name)
        Y = d.Y.copy()
        Y[:, m] = np.nan
        base = fit_factorised(X[su.train], Y[su.train], ctx.fz.n_lex, maxiter=250, **params)
        cal = rng.choice(tr_rb, n_calib, replace=False)
        y_cal, y_te = d.Y[cal, m], d.Y[su.te_rb, m]
        U = np.linalg.svd(base["D"], full_matrices=False)[0][:, :4]
        preds = {
            "ability only": np.full(len(y_te), y_cal.mean()),
            "ability + shared difficulty": None,
            "+ 4 kind loadings": None,
            "trained on all its labels": predict_linear(full, X[su.te_rb])[:, m],
        }
        for key, Zc, Zt, reg in (
            ("ability + shared difficulty", np.zeros((n_calib, 0)), np.zeros((len(y_te), 0)), 0),
            ("+ 4 kind loadings", X[cal] @ U, X[su.te_rb] @ U, 1e-2),
        ):
            h = fit_head(Zc, X[cal] @ base["w0"], y_cal, reg)
            preds[key] = _sigmoid(h[0] + _mv(Zt, h[1:]) + X[su.te_rb] @ base["w0"])
        cells = ", ".join(
            f"{k} {roc_auc_score(y_te, p):.3f} / {log_loss(p[:, None], y_te[:, None]):.3f}"
            for k, p in preds.items()
        )
        out.append(f"  {name}: {cells}")
    return out


@dataclass
class Setup:
    ctx: Ctx
    train: np.ndarray
    test: np.ndarray
    rb: RB
    te_mm: np.ndarray
    te_rb: np.ndarray
    mm_rows: np.ndarray
    lso: np.ndarray
    bench: list[str]


def setup(root: str, quick: bool) -> Setup:
    d = load(root)
    mm = d.source == "mmlu"
    test = np.zeros(len(d.text), bool)
    test[mm] = stratified_holdout(d.group[mm])
    test[~mm] = stratified_holdout(d.group[~mm])
    train = ~test
    print(
        f"data: {mm.sum()} MMLU prompts ({(mm & test).sum()} held out), {(~mm).sum()} "
        f"RouterBench ({(~mm & test).sum()} held out); {len(MODELS)} models",
        flush=True,
    )
    fz = Featurizer.fit([d.text[i] for i in np.flatnonzero(train)])
    X = fz.matrix(d.text)
    print(f"features: {fz.n_lex} terms, {len(DENSE_NAMES)} dense, {fz.n_bins} bins", flush=True)
    return Setup(
        Ctx(d, fz, X, X[:, : fz.n_lex].tocsr(), quick),
        train,
        test,
        rb_setup(d, train, test),
        np.flatnonzero(test & mm),
        np.flatnonzero(test & ~mm),
        np.flatnonzero(mm),
        group_folds(d.group[mm]),
        thousand_token_prompts(d, test),
    )


def reference_rows(su: Setup) -> list[dict[str, Any]]:
    """Random router, oracle, and the difficulty ceiling, on the same held-out rows."""
    d, rb = su.ctx.d, su.rb
    s, w = MODELS.index(STRONG), MODELS.index(WEAK)
    G, W = d.Y[su.te_mm, s], d.Y[su.te_mm, w]
    single = [(float(rb.C[:, m].mean()), float(rb.Q[:, m].mean())) for m in range(len(RB_MODELS))]
    ceil = difficulty_ceiling(d, su.train, su.test)
    return [
        {
            "design": "random router (expectation)",
            "apgr": 0.5,
            "cpt50": 0.5,
            "cpt80": 0.8,
            "apgr_unseen": 0.5,
            "rb": (1.0, hull_at(single, 0.25 * rb.strong_c), aiq(single, rb.lo, rb.hi)),
        },
        {
            "design": "oracle",
            "apgr": apgr(G - W, G, W),
            "cpt50": cpt(G - W, G, W, 0.5),
            "cpt80": cpt(G - W, G, W, 0.8),
            "rb": rb_metrics(rb, route_points(rb.Q, rb.C, rb.Q, rb.C)),
        },
        {
            "design": "ceiling: true 1-D difficulty (uses test labels)",
            "rb": rb_metrics(rb, route_points(ceil, rb.c_est, rb.Q, rb.C)),
        },
    ]


def evaluate(su: Setup, design: Design) -> dict[str, Any]:
    ctx, d = su.ctx, su.ctx.d
    t0 = time.time()
    print(f"\n{design.name}", flush=True)
    if ctx.quick:
        params, cv_ll = design.grid[0], math.nan
    else:
        params, cv_ll = cv_select(ctx, design, su.train)
    model = design.fit(ctx, np.flatnonzero(su.train), params)
    P_mm = design.predict(ctx, model, su.te_mm)
    P_rb = design.predict(ctx, model, su.te_rb)
    row: dict[str, Any] = {"design": design.name, "params": params, "cv_logloss": cv_ll}
    row["apgr"], row["cpt50"], row["cpt80"] = mmlu_metrics(d, su.te_mm, P_mm)
    row["rb"] = rb_metrics(su.rb, route_points(P_rb, su.rb.c_est, su.rb.Q, su.rb.C))
    row["test_logloss"] = log_loss(np.vstack([P_mm, P_rb]), d.Y[np.r_[su.te_mm, su.te_rb]])
    if not ctx.quick:
        oof = np.zeros((len(su.mm_rows), len(MODELS)))
        for f in range(5):
            held = su.mm_rows[su.lso == f]
            fit_rows = np.flatnonzero(su.train & ~np.isin(np.arange(len(d.text)), held))
            oof[su.lso == f] = design.predict(ctx, design.fit(ctx, fit_rows, params), held)
        row["apgr_unseen"] = mmlu_metrics(d, su.mm_rows, oof)[0]
    if design.runtime is not None:
        art, scorer = design.runtime(ctx, model, np.flatnonzero(su.train))
        row["artifact_mb"] = len(json.dumps(art, separators=(",", ":")).encode()) / 1e6
        row["p50_ms"] = latency(scorer, su.bench) * 1e3
        check = np.array([scorer(d.text[i], MODELS) for i in su.te_mm[:200]])
        row["runtime_max_abs_diff"] = float(np.abs(check - P_mm[:200]).max())
    row["seconds"] = time.time() - t0
    shown = {k: v for k, v in row.items() if k not in ("params", "design")}
    print(f"  chosen {params}\n  {json.dumps(shown, default=str)}", flush=True)
    return row


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "routing-data"))
    ap.add_argument("--quick", action="store_true", help="no CV, no unseen-subject check")
    ap.add_argument("--json", help="also write the table as JSON here")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    threadpool_limits(1)  # BLAS threads spin against each other on 2 shared cores
    t_start = time.time()
    su = setup(args.data, args.quick)
    rows = reference_rows(su)
    best: dict[str, dict[str, Any]] = {}
    for i in range(len(designs(best))):
        design = designs(best)[i]  # later designs reuse earlier choices
        row = evaluate(su, design)
        best[design.name] = row["params"]
        rows.append(row)
    print_table(rows, su.rb)
    print("\n" + cascade_reference(su.ctx.d, su.train, su.test))
    if not args.quick:
        fact = best["(b) factorised: ability - difficulty + affinity"]
        print("\n" + "\n".join(new_model_check(su, fact)))
    print(f"\ntotal {time.time() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1, default=str)
    return 0


def _fmt(v: Any, spec: str, scale: float = 1.0, unit: str = "") -> str:
    width = int(spec.split(".", maxsplit=1)[0]) + len(unit)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-".rjust(width)
    if isinstance(v, float) and math.isinf(v):
        return "never".rjust(width)
    return format(v * scale, spec) + unit


def print_table(rows: Sequence[dict[str, Any]], rb: RB) -> None:
    print(
        f"\nRouterBench held-out: GPT-4 accuracy {rb.strong_q:.3f} at "
        f"${rb.strong_c * 1e3:.2f}/1k queries; 25% of that = ${0.25 * rb.strong_c * 1e3:.2f}/1k"
    )
    head = (
        f"{'design':48s} {'APGR':>6s} {'CPT50':>6s} {'CPT80':>6s} {'APGR*':>6s} | "
        f"{'reach':>6s} {'q@25%':>6s} {'AIQ':>6s} | {'p50 ms':>6s} {'MB':>6s} {'LL':>6s}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        reach, q25, a = r.get("rb", (None, None, None))
        cells = [
            _fmt(r.get("apgr"), "6.3f"),
            _fmt(r.get("cpt50"), "5.1f", 100, "%"),
            _fmt(r.get("cpt80"), "5.1f", 100, "%"),
            _fmt(r.get("apgr_unseen"), "6.3f"),
            "|",
            _fmt(reach, "5.0f", 100, "%"),
            _fmt(q25, "6.3f"),
            _fmt(a, "6.3f"),
            "|",
            _fmt(r.get("p50_ms"), "6.2f"),
            _fmt(r.get("artifact_mb"), "6.3f"),
            _fmt(r.get("test_logloss"), "6.4f"),
        ]
        print(f"{r['design'][:48]:48s} " + " ".join(cells))
    print(
        "\nAPGR, CPT50/80: MMLU GPT-4 vs Mixtral on the held-out 20% of each subject. APGR*: "
        "MMLU with the subjects unseen in training\n(5 subject folds, out-of-fold scores "
        "pooled). reach: RouterBench cost to reach GPT-4's held-out accuracy, % of GPT-4's "
        "cost\n('never' = no threshold does). q@25%: quality on the router's hull at 25% of "
        "GPT-4's cost. AIQ over [cheapest, dearest] single model's\ncost; the random row's "
        "q@25% and AIQ are the single models' hull. p50 ms: stdlib-only scoring of a "
        f"1,000-token prompt for {LATENCY_MODELS} models\n(this machine, shared). MB: JSON "
        "artifact. LL: held-out log-loss of P(correct) over all labelled cells."
    )


if __name__ == "__main__":
    sys.exit(main())
