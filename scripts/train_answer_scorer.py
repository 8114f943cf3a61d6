"""Train the answer scorer (`router.quality.answers.AnswerScorer`) and rewrite its artifact.

    .venv/bin/python scripts/train_answer_scorer.py [--data ../shared/routing-data]

Reads RouterBench's three files by path through `scripts/quality_data.py` (THE split: per
file 80/20, `random.Random(0)`), and learns from the TRAINING rows only: for each row and
each of RouterBench's six open-weights models M, the example is (prompt, M's recorded
answer) labelled with M's quality cell, scored

- alone (no other answers), weight 1;
- with one other open model's answer for agreement, each of the 5 others, weight 1/5;
- with two others, each of the 10 pairs, weight 1/10,

so the scorer is calibrated whether the caller has 0, 1 or 2 other free answers. The fit is
an L2-regularised logistic regression (Newton steps, numpy, no randomness) whose penalty
pulls the weights towards `PRIOR`; a feature non-zero on under 1% of the examples' weight
(empty answers and refusals never occur in the data, open-ended prompts hardly) keeps its
prior weight. Weights rounded to 6 decimals. Writes `router/data/answer-scorer.json`
(the weights) and `router/data/answer-scorer-metrics.json` (AUC and log-loss on the
held-out rows, per number of other answers and per file). Rerunning writes byte-identical files.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_data as qd

from router.quality.answers import FEATURES, SCHEMA, answer_features, recorded_text

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "router" / "data" / "answer-scorer.json"
METRICS = ROOT / "router" / "data" / "answer-scorer-metrics.json"
OPEN_MODELS = (  # RouterBench's open-weights models (../shared/routing-data/README.md)
    "meta/llama-2-70b-chat",
    "mistralai/mixtral-8x7b-chat",
    "mistralai/mistral-7b-chat",
    "zero-one-ai/Yi-34B-Chat",
    "WizardLM/WizardLM-13B-V1.2",
    "meta/code-llama-instruct-34b-chat",
)
L2 = 1.0  # on the summed example weight of 1 per (row, model, number of others)
MIN_SUPPORT = 0.01  # a feature seen on less of the examples' weight keeps its prior mean
# Prior means of the weights (L2 pulls towards them): what the recorded answers cannot
# teach, since none is empty or a refusal and few hedge; the data overrides the others.
PRIOR = {
    "empty": -4.0,
    "refusal": -3.0,
    "hedge": -1.0,
    "repetition": -2.0,
    "mc_unclear": -1.0,
    "code_missing": -2.0,
    "code_invalid": -1.0,
    "code_truncated": -1.0,
    "agree_number": 2.0,  # self-consistency on a final number (Wang et al. 2022)
    "agree_text": 1.0,
}


def examples(
    parts: Sequence[qd.Part], held_out: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(X, y, weight, number of others, file) over every (row, open model, others set)."""
    xs: list[list[float]] = []
    ys: list[float] = []
    ws: list[float] = []
    ks: list[int] = []
    files: list[str] = []
    for part in parts:
        s = qd.split(part, held_out)
        models = [m for m in OPEN_MODELS if m in s.responses]
        for i, prompt in enumerate(s.prompts):
            answers = {m: recorded_text(s.responses[m][i]) for m in models}
            for m in models:
                rest = [o for o in models if o != m]
                for k in (0, 1, 2):
                    groups = list(itertools.combinations(rest, k))
                    for others in groups:
                        xs.append(answer_features(prompt, answers[m], [answers[o] for o in others]))
                        ys.append(s.quality[m][i])
                        ws.append(1 / len(groups))
                        ks.append(k)
                        files.append(part.group.split("/", 1)[1])
    return np.array(xs), np.array(ys), np.array(ws), np.array(ks), files


def _supported(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Features non-zero on at least `MIN_SUPPORT` of the examples' weight."""
    return np.asarray(((X != 0) * w[:, None]).sum(0) >= MIN_SUPPORT * w.sum())


def fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = L2) -> np.ndarray:
    """Weighted logistic regression by Newton's method, L2 towards `PRIOR` on every weight
    but the bias; the weights of unsupported features stay at `PRIOR` exactly."""
    prior = np.array([PRIOR.get(name, 0.0) for name in FEATURES])
    free = _supported(X, w)
    offset = X[:, ~free] @ prior[~free]
    Z, mean = X[:, free], prior[free]
    penalty = np.where(np.array(FEATURES)[free] == "bias", 0.0, l2)
    beta = mean.copy()
    for _ in range(100):
        p = 1 / (1 + np.exp(-(Z @ beta + offset)))
        grad = Z.T @ (w * (p - y)) + penalty * (beta - mean)
        hess = (Z * (w * p * (1 - p))[:, None]).T @ Z + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    out = prior.copy()
    out[free] = beta
    return out


def auc(score: np.ndarray, y: np.ndarray) -> float | None:
    """Mann-Whitney AUC with ties counted half (labels thresholded at 0.5)."""
    pos, neg = score[y >= 0.5], score[y < 0.5]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.sort(neg)
    below = np.searchsorted(order, pos, side="left")
    ties = np.searchsorted(order, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def log_loss(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / w.sum())


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=qd.DEFAULT_ROOT, help="routing-data folder")
    args = ap.parse_args(argv)
    parts = [p for p in qd.load(args.data) if p.group.startswith("routerbench/")]
    X, y, w, _, _ = examples(parts, held_out=False)
    beta = np.round(fit(X, y, w), 6)
    Xt, yt, wt, kt, ft = examples(parts, held_out=True)
    pt = 1 / (1 + np.exp(-(Xt @ beta)))
    files = np.array(ft)
    evaluation: dict[str, dict[str, float | int | None]] = {}
    for k in (0, 1, 2):
        for name in ("all", *sorted(set(ft))):
            sel = (kt == k) & ((files == name) | (name == "all"))
            evaluation[f"{k} other(s), {name}"] = {
                "examples": int(sel.sum()),
                "auc": _r(auc(pt[sel], yt[sel])),
                "log_loss": _r(log_loss(pt[sel], yt[sel], wt[sel])),
                "base_rate": _r(float(yt[sel].mean())),
            }
    trained = {
        "data": "../shared/routing-data/routerbench-train (RouterDC's split of RouterBench)",
        "rows": "training rows of scripts/quality_data.py's split (per file 80/20, "
        "random.Random(0))",
        "answers": list(OPEN_MODELS),
        "examples": len(y),
        "l2": L2,
        "prior": PRIOR,
        "held_at_prior": [f for f, ok in zip(FEATURES, _supported(X, w), strict=True) if not ok],
    }
    artifact = {
        "schema": SCHEMA,
        "name": "routerbench-open-answers",
        "features": list(FEATURES),
        "weights": {name: float(b) for name, b in zip(FEATURES, beta, strict=True)},
        "trained": trained,
    }
    metrics = {
        "schema": "router-answer-scorer-metrics/1",
        "split": (qd.__doc__ or "").split("The split", 1)[-1].strip(),
        "trained": trained,
        "held_out": evaluation,
    }
    ARTIFACT.write_text(json.dumps(artifact, indent=1) + "\n", encoding="utf-8")
    METRICS.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    for key, value in evaluation.items():
        print(f"{key:40s} {value}")
    print(f"wrote {ARTIFACT} and {METRICS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
