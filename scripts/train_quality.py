"""Train the shipped quality predictor and measure it: `make train-quality`.

    .venv/bin/python scripts/train_quality.py [--data ../shared/routing-data] [--skip-checks]

Fits `scripts/quality_fit.py`'s model on the training rows of MMLU, RouterBench and
AlpacaEval 2 (the split of `scripts/quality_data.py`), and rewrites
`router/data/quality-model.json` (the artifact) and `router/data/quality-metrics.json`
(how it was made and what it scores on the held-out rows). It writes the held-out rows
as CSV under `.router/quality/` (git-ignored), so `python -m router eval` reproduces
the figures, and checks that the pure-Python runtime encodes prompts as scikit-learn
did. Needs numpy, scipy and scikit-learn (the dev extra). Deterministic (convex fits,
single-threaded BLAS): a rerun writes byte-identical files. About a minute on 2 cores.

How the model generalises to a source it never saw is measured separately:
`scripts/leave_one_source_out.py`.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import quality_data as qd
import quality_fit as qf

from router.quality.calibrate import fit_profiles
from router.quality.evaluate import evaluate
from router.quality.trained import (
    SCHEMA,
    Calibration,
    TrainedPredictor,
    _read_model,
)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "router" / "data" / "quality-model.json"
METRICS = ROOT / "router" / "data" / "quality-metrics.json"
NEW_MODELS = ("claude-v2", "zero-one-ai/Yi-34B-Chat", "WizardLM/WizardLM-13B-V1.2")
CALIBRATION_ROWS = 100
NOTE = (
    "Trained by scripts/train_quality.py on ../shared/routing-data (RouteLLM MMLU, "
    "Apache-2.0; RouterBench via RouterDC, MIT; AlpacaEval 2, Apache-2.0). Stores "
    "weights per word and word pair seen in at least 3 training prompts, no prompt text."
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def encode_bytes(fitted: qf.Fitted) -> bytes:
    doc = qf.artifact(fitted, SCHEMA, NOTE)
    return (json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def check_runtime(fitted: qf.Fitted, model: Any, prompts: Sequence[str]) -> float:
    """The largest difference between scikit-learn's encoding and the runtime's."""
    want = fitted.encode(prompts)
    got = np.array([model.encode(p) for p in prompts])
    worst = float(np.abs(want - got).max())
    if worst > 1e-3:
        raise SystemExit(f"the runtime encodes prompts differently (max diff {worst:.2g})")
    return worst


def auc(score: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for v in np.unique(score):  # average ranks of ties
        ranks[score == v] = ranks[score == v].mean()
    pos = y > 0.5
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    pp = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(y * np.log(pp) + (1 - y) * np.log(1 - pp)).mean())


def new_model_check(train: list[qf.Block], test: list[qf.Block]) -> dict[str, Any]:
    """Refit without one model's labels; calibrate it from CALIBRATION_ROWS training rows
    with the package's own `calibrate.fit_profiles`; score its held-out rows."""
    out = {}
    rng = np.random.default_rng(qd.SEED)
    full = qf.fit(train)
    for name in NEW_MODELS:
        blind = []
        for b in train:
            Y = b.Y.copy()
            if name in b.models:
                Y[:, b.models.index(name)] = np.nan
            blind.append(qf.Block(b.source, b.prompts, b.models, Y))
        model = _read_model(encode_bytes(qf.fit(blind)))
        (b,) = [b for b in train if b.source == "routerbench"]
        (t,) = [t for t in test if t.source == "routerbench"]
        y_all = b.Y[:, b.models.index(name)]
        labelled = np.flatnonzero(~np.isnan(y_all))
        cal = np.sort(rng.choice(labelled, CALIBRATION_ROWS, replace=False))
        head = fit_profiles(
            model,
            "never-seen-model",
            [model.encode(b.prompts[i]) for i in cal],
            y_all[cal].tolist(),
        )
        scorer = TrainedPredictor(
            model,
            Calibration(
                {
                    "never-seen-model": model.calibrated_head(
                        "never-seen-model", head.base, head.ability, head.kinds, "check"
                    )
                },
                model.digest,
                "check",
            ),
        )
        y = t.Y[:, t.models.index(name)]
        keep = ~np.isnan(y)
        prompts = [p for p, k in zip(t.prompts, keep, strict=True) if k]
        p_cal = np.array(scorer.predict(prompts, ["never-seen-model"]))[:, 0]
        p_full = full.quality(prompts, name)
        out[name] = {
            "held_out_rows": len(prompts),
            "auc_calibrated_100_rows": round(auc(p_cal, y[keep]), 4),
            "auc_trained_on_all_labels": round(auc(p_full, y[keep]), 4),
            "log_loss_calibrated": round(log_loss(p_cal, y[keep]), 4),
            "log_loss_constant_accuracy": round(
                log_loss(np.full(len(prompts), y_all[cal].mean()), y[keep]), 4
            ),
        }
        log(f"  new model {name}: {out[name]}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=qd.DEFAULT_ROOT)
    ap.add_argument("--skip-checks", action="store_true", help="no new-model check")
    args = ap.parse_args(argv)
    t0 = time.time()
    parts = qd.load_all(args.data)
    train = qf.blocks(parts, held_out=False)
    test = qf.blocks(parts, held_out=True)
    n_train = sum(len(b.prompts) for b in train)
    n_test = sum(len(b.prompts) for b in test)
    log(f"data: {n_train + n_test} prompts ({n_test} held out) from {len(train)} sources")
    fitted = qf.fit(train, log=log)
    data = encode_bytes(fitted)
    ARTIFACT.write_bytes(data)
    model = _read_model(data)
    log(f"wrote {ARTIFACT.relative_to(ROOT)} ({len(data) / 1e6:.1f} MB, {model.digest})")
    sample = [p for t in test for p in t.prompts[:300]]
    worst = check_runtime(fitted, model, sample)
    log(f"runtime encoding matches scikit-learn's on {len(sample)} prompts (max diff {worst:.1g})")
    files = qd.write_heldout(parts)
    predictor = TrainedPredictor(model)
    results = {}
    for f in files:
        labelled = qd.read_labelled_csv(f)
        strong, weak = (
            (qd.STRONG, None) if f.name.startswith("routerbench") else (qd.STRONG, qd.WEAK)
        )
        r = evaluate(labelled, predictor, strong=strong, weak=weak)
        results[f.name] = {"pair": r.metrics["pair"], "many_models": r.metrics["many_models"]}
        log(f"  {f.name}: APGR {r.metrics['pair']['apgr']}")
    checks = {} if args.skip_checks else new_model_check(train, test)
    metrics = {
        "schema": "router-quality-metrics/2",
        "quality_model": model.digest,
        "artifact_bytes": len(data),
        "terms": len(model.vocabulary),
        "split": (qd.__doc__ or "").split("The split", 1)[1].strip()
        + "\n"
        + (qd.load_alpaca.__doc__ or "").split("The split", 1)[1].strip(),
        "rows": {"train": n_train, "held_out": n_test},
        "models": sorted(model.models),
        "hyper_parameters": qf.HYPER,
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
