"""Train the shipped quality predictor and measure it: `make train-quality`.

    .venv/bin/python scripts/train_quality.py [--data ../shared/routing-data]

Rewrites `router/data/quality-model.json` (the artifact) and
`router/data/quality-metrics.json` (how it was made and what it scores on held-out rows),
and writes the held-out rows as CSV under `.router/quality/` (git-ignored) so that
`python -m router eval` reproduces the figures. Needs numpy (the dev extra); the
package's runtime scorer is pure Python. Seed 0, single-threaded BLAS: a rerun writes
byte-identical files. About a minute on 2 cores.

Split: `scripts/quality_data.py` (per MMLU subject and per RouterBench file, 80/20,
random.Random(0)). Hyper-parameters: 3-fold cross-validation inside the training rows
(MMLU folded by whole subjects, so the choice favours what carries to subjects not seen;
RouterBench rows at random), by the log-loss of P(good) over all labelled cells.

Model (see router/quality/trained.py): logit P(m good | x) = b_m + x.(w0 + D_m), jointly
fitted by L-BFGS on the mean log-loss of all labelled cells + L2, the per-model part D
penalised `affinity_x` times harder than the shared w0. The kind directions are the top
K left singular vectors of D.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import quality_data as qd

from router.quality.calibrate import fit_model
from router.quality.evaluate import evaluate
from router.quality.profile import BINARY, FEATURES, profile
from router.quality.trained import (
    SCHEMA,
    Calibration,
    Head,
    TrainedPredictor,
    _read_model,
)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "router" / "data" / "quality-model.json"
METRICS = ROOT / "router" / "data" / "quality-metrics.json"
BINS = 6
KINDS = 4
GRID = [{"reg": r, "affinity_x": a} for r in (3e-4, 1e-3, 3e-3) for a in (1.0, 3.0, 10.0)]
MAXITER = 300
NEW_MODELS = ("claude-v2", "zero-one-ai/Yi-34B-Chat", "WizardLM/WizardLM-13B-V1.2")
CALIBRATION_ROWS = 100


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


class Table:
    def __init__(self, parts: Sequence[qd.Part]) -> None:
        models: list[str] = []
        for p in parts:
            models += [m for m in p.sample.models if m not in models]
        self.models = sorted(models)
        prompts, groups, test, rows = [], [], [], []
        for p in parts:
            s = p.sample
            for i, prompt in enumerate(s.prompts):
                prompts.append(prompt)
                groups.append(p.group)
                test.append(p.test[i])
                rows.append([s.quality[m][i] if m in s.quality else math.nan for m in self.models])
        self.prompts = prompts
        self.group = np.array(groups)
        self.test = np.array(test)
        self.Y = np.array(rows, float)
        self.profiles = np.array([profile(t) for t in prompts], float)


def fit_design(P: np.ndarray) -> dict[str, Any]:
    mean, std = P.mean(0), np.maximum(P.std(0), 1e-6)
    edges = []
    for j, name in enumerate(FEATURES):
        if name in BINARY:
            edges.append([])
        else:
            q = np.quantile(P[:, j], np.arange(1, BINS) / BINS)
            edges.append(sorted({round(float(v), 4) for v in q}))
    return {
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "edges": edges,
    }


def design_matrix(P: np.ndarray, d: dict[str, Any]) -> np.ndarray:
    X = np.clip((P - np.array(d["mean"])) / np.array(d["std"]), -5, 5)
    cols = [X]
    for j, e in enumerate(d["edges"]):
        if e:
            idx = np.searchsorted(np.array(e), P[:, j], side="right")
            cols.append(np.eye(len(e) + 1)[idx])
    return np.hstack(cols)


# --------------------------------------------------------------------------- fit


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a * b))


def lbfgs(
    f: Callable[[np.ndarray], tuple[float, np.ndarray]], x: np.ndarray, maxiter: int
) -> np.ndarray:
    """Plain L-BFGS (memory 10) with Armijo backtracking."""
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
            if len(S) > 10:
                S.pop(0)
                Yd.pop(0)
        improvement = fx - fn
        x, fx, g = xn, fn, gn
        if improvement < 1e-9 * max(abs(fx), 1.0):
            break
    return x


def fit(X: np.ndarray, Y: np.ndarray, reg: float, affinity_x: float) -> dict[str, np.ndarray]:
    F, M = X.shape[1], Y.shape[1]
    mask = ~np.isnan(Y)
    Yz = np.where(mask, Y, 0.0)
    wt = mask / mask.sum()
    XT = np.ascontiguousarray(X.T)

    def f(p: np.ndarray) -> tuple[float, np.ndarray]:
        w0, D, th = p[:F], p[F : F + F * M].reshape(F, M), p[F + F * M :]
        Z = X @ (D + w0[:, None]) + th[None, :]
        P = _sigmoid(Z)
        loss = -(wt * (Yz * np.log(P + 1e-12) + (1 - Yz) * np.log(1 - P + 1e-12))).sum()
        g = wt * (P - Yz)
        gD = XT @ g
        gw0 = gD.sum(1) + reg * w0
        gD += reg * affinity_x * D
        loss += 0.5 * reg * (w0 * w0).sum() + 0.5 * reg * affinity_x * (D * D).sum()
        return float(loss), np.concatenate([gw0, gD.ravel(), g.sum(0)])

    p = lbfgs(f, np.zeros(F + F * M + M), MAXITER)
    return {"w0": p[:F], "D": p[F : F + F * M].reshape(F, M), "b": p[F + F * M :]}


def predict(m: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    return _sigmoid(X @ (m["D"] + m["w0"][:, None]) + m["b"][None, :])


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    mask = ~np.isnan(y)
    pp, yy = np.clip(p[mask], 1e-6, 1 - 1e-6), y[mask]
    return float(-(yy * np.log(pp) + (1 - yy) * np.log(1 - pp)).mean())


def cv_folds(t: Table, rows: np.ndarray, k: int = 3) -> np.ndarray:
    rng = np.random.default_rng(qd.SEED)
    folds = np.arange(len(rows)) % k
    rng.shuffle(folds)
    mm = np.char.startswith(t.group[rows].astype(str), "mmlu/")
    subjects = sorted(set(t.group[rows][mm].tolist()))
    perm = rng.permutation(len(subjects))
    fold_of = {subjects[j]: i % k for i, j in enumerate(perm)}
    folds[mm] = [fold_of[g] for g in t.group[rows][mm]]
    return folds


def choose(t: Table, X: np.ndarray, train: np.ndarray) -> tuple[dict[str, float], list[Any]]:
    folds = cv_folds(t, train)
    scores = []
    for params in GRID:
        ll = []
        for f in range(3):
            fit_rows, val_rows = train[folds != f], train[folds == f]
            m = fit(X[fit_rows], t.Y[fit_rows], **params)
            ll.append(log_loss(predict(m, X[val_rows]), t.Y[val_rows]))
        scores.append([params, round(float(np.mean(ll)), 5)])
        log(f"  cv {params}: log-loss {np.mean(ll):.4f}")
    best = min(scores, key=lambda s: s[1])[0]
    return best, scores


# --------------------------------------------------------------------------- artifact


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def artifact(t: Table, d: dict[str, Any], m: dict[str, np.ndarray], X: np.ndarray) -> bytes:
    U = np.linalg.svd(m["D"], full_matrices=False)[0][:, :KINDS]
    U = U * np.sign(U[np.argmax(np.abs(U), axis=0), range(U.shape[1])])  # fixed signs
    spread = [j for j, f in enumerate(FEATURES) if f not in BINARY]
    distance = (X[:, spread] ** 2).mean(1)
    doc = {
        "schema": SCHEMA,
        "note": "Trained by scripts/train_quality.py on ../shared/routing-data (RouteLLM "
        "MMLU, Apache-2.0; RouterBench via RouterDC, MIT). Only weights over prompt-profile "
        "features are stored: no prompt text.",
        "features": list(FEATURES),
        **d,
        "shared": [_r(v) for v in m["w0"]],
        "center": _r(float((X @ m["w0"]).mean())),
        "familiar": _r(float(np.quantile(distance, 0.9))),
        "kinds": [[_r(v) for v in U[:, k]] for k in range(U.shape[1])],
        "models": {
            name: {
                "ability": _r(float(m["b"][j])),
                "center": _r(float((X @ (m["w0"] + m["D"][:, j])).mean())),
                "weights": [_r(v) for v in m["w0"] + m["D"][:, j]],
            }
            for j, name in enumerate(t.models)
        },
    }
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


# --------------------------------------------------------------------------- checks


def auc(score: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for v in np.unique(score):  # average ranks of ties
        ranks[score == v] = ranks[score == v].mean()
    pos = y > 0.5
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def new_model_check(
    t: Table, d: dict[str, Any], X: np.ndarray, params: dict[str, float], train: np.ndarray
) -> dict[str, Any]:
    """Retrain without one model's labels; calibrate it from CALIBRATION_ROWS training rows
    with the package's own `calibrate.fit_model`; score its held-out rows."""
    out = {}
    rng = np.random.default_rng(qd.SEED)
    for name in NEW_MODELS:
        j = t.models.index(name)
        Y = t.Y.copy()
        Y[:, j] = np.nan
        keep = [k for k in range(len(t.models)) if k != j]
        m = fit(X[train], Y[train][:, keep], **params)
        art = artifact(_Sub(t, keep), d, m, X[train])
        model = _read_model(art)
        labelled = train[~np.isnan(t.Y[train, j])]
        cal = np.sort(rng.choice(labelled, CALIBRATION_ROWS, replace=False))
        test = np.flatnonzero(t.test & ~np.isnan(t.Y[:, j]))
        head = fit_model(
            model,
            "never-seen-model",
            [model.design(t.profiles[i].tolist()) for i in cal],
            t.Y[cal, j].tolist(),
        )
        scorer = TrainedPredictor(
            model,
            Calibration(
                {"never-seen-model": Head(head.ability, None, head.kinds, "check", model.center)},
                model.digest,
                "check",
            ),
        )
        p_cal = np.array(scorer.predict([t.prompts[i] for i in test], ["never-seen-model"]))[:, 0]
        z = np.log(p_cal / (1 - p_cal))
        y = t.Y[test, j]
        full = fit(X[train], t.Y[train], **params)
        pf = predict(full, X[test])[:, j]
        out[name] = {
            "held_out_rows": len(test),
            "auc_calibrated_100_rows": round(auc(z, y), 4),
            "auc_trained_on_all_labels": round(auc(pf, y), 4),
            "log_loss_calibrated": round(log_loss(_sigmoid(z)[:, None], y[:, None]), 4),
            "log_loss_constant_accuracy": round(
                log_loss(np.full((len(y), 1), t.Y[cal, j].mean()), y[:, None]), 4
            ),
        }
        log(f"  new model {name}: {out[name]}")
    return out


class _Sub:
    def __init__(self, t: Table, keep: list[int]) -> None:
        self.models = [t.models[k] for k in keep]


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=qd.DEFAULT_ROOT)
    ap.add_argument("--skip-checks", action="store_true", help="no new-model check")
    args = ap.parse_args(argv)
    t0 = time.time()
    parts = qd.load(args.data)
    t = Table(parts)
    train = np.flatnonzero(~t.test)
    log(f"data: {len(t.prompts)} prompts ({t.test.sum()} held out), {len(t.models)} models")
    d = fit_design(t.profiles[train])
    X = design_matrix(t.profiles, d)
    log(f"design: {len(FEATURES)} profile features + {X.shape[1] - len(FEATURES)} bins")
    log("choosing hyper-parameters (3-fold CV inside the training rows)")
    params, cv = choose(t, X, train)
    log(f"chosen {params}; fitting on all {len(train)} training rows")
    m = fit(X[train], t.Y[train], **params)
    data = artifact(t, d, m, X[train])
    ARTIFACT.write_bytes(data)
    model = _read_model(data)
    log(f"wrote {ARTIFACT.relative_to(ROOT)} ({len(data) / 1e3:.0f} KB, {model.digest})")
    files = qd.write_heldout(parts)
    predictor = TrainedPredictor(model)
    results = {}
    for f in files:
        sample = qd.read_labelled_csv(f)
        strong, weak = (qd.STRONG, qd.WEAK) if f.name.startswith("mmlu") else (qd.STRONG, None)
        r = evaluate(sample, predictor, strong=strong, weak=weak)
        results[f.name] = {"pair": r.metrics["pair"], "many_models": r.metrics["many_models"]}
        log(f"  {f.name}: APGR {r.metrics['pair']['apgr']}")
    checks = {} if args.skip_checks else new_model_check(t, d, X, params, train)
    metrics = {
        "schema": "router-quality-metrics/1",
        "quality_model": model.digest,
        "artifact_bytes": len(data),
        "split": (qd.__doc__ or "").split("The split", 1)[1].strip(),
        "rows": {"train": len(train), "held_out": int(t.test.sum())},
        "models": t.models,
        "hyper_parameters": params,
        "cross_validation": cv,
        "held_out": results,
        "new_model_check": checks,
        "reproduce": "make train-quality; python -m router eval "
        ".router/quality/mmlu-heldout.csv --strong gpt-4-1106-preview "
        "--weak mistralai/mixtral-8x7b-chat --out DIR",
    }
    METRICS.write_text(json.dumps(metrics, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    log(f"wrote {METRICS.relative_to(ROOT)} in {time.time() - t0:.0f} s")
    return 0


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return str(v)


if __name__ == "__main__":
    sys.exit(main())
