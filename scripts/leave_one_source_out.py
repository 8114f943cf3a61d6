"""Leave-one-source-out: how the quality predictor generalises to a source it never saw.

    .venv/bin/python scripts/leave_one_source_out.py [--data ../shared/routing-data]
        [--out .router/quality/leave-one-source-out.md]

The honest protocol of issue 14 (point 2). Three sources (MMLU, RouterBench, AlpacaEval 2,
loaded and split by `scripts/quality_data.py`); one pair, GPT-4 (`quality_data.STRONG`)
against Mixtral (`quality_data.WEAK`), on the rows where both are labelled.

- Out of source: for each source S, fit the predictor of `scripts/quality_fit.py` on all
  rows of the other two sources and score all rows of S.
- In source: fit on the training rows of all three sources and score each source's
  held-out rows (the split `train_quality.py` ships from).

"ours" is that predictor, the one `train_quality.py` ships: two convex stages. Ridge
regressions from binary TF-IDF over the prompt's words and word pairs to two per-prompt
targets, each standardised within its source (difficulty: how much worse than usual
every model does on the prompt; gap: how much the best third of the source's models beat
its worst third), then one logistic head per model on those two numbers (heads only for
the models with 0/1 labels, MMLU and RouterBench; AlpacaEval teaches the encoding). Its
score for the pair is P(GPT-4 good) - P(Mixtral good).

Beside every figure, on the same rows and with the same training rows: the random router
(APGR 0.5, CPT(50%) 50% by definition), the oracle, and a plain baseline, scikit-learn's
`TfidfVectorizer()` + `LogisticRegression(max_iter=2000)` trained on the same prompts to
predict "the strong model's quality beats the weak one's" (score: its probability). The
metrics are the package's own (`router.quality.metrics`): APGR and CPT(50%) over the
threshold sweep of each router's scores (every distinct score a threshold).

How sure the comparison is: a paired bootstrap of APGR(ours) - APGR(TF-IDF+LR) on each
cell. The cell's rows are resampled with replacement (`numpy.random.default_rng(0)` per
cell, 1,000 resamples), both routers are scored on the same resampled rows, and the
table gives the point difference, the 2.5-97.5 percentile interval of the resampled
differences and the share of resamples where ours is strictly higher. The resampled APGR
is `apgr_from_counts`, the package's `apgr(threshold_curve(...))` computed with numpy
from each row's multiplicity in the resample (the same tie rule and trapezoids); the
script checks it against the package on every cell's unresampled rows. The interval
covers the test rows' sampling noise only, not the noise of the fit.

**The out-of-source figures are the ones that count.** The in-source figures go beside
them, never instead: a predictor that only fits the sources it was trained on says
nothing about the prompts a user will send.

Writes one markdown table to stdout and to `--out` (default
`.router/quality/leave-one-source-out.md`, git-ignored), and the same numbers as JSON
next to it (`.json`). Deterministic (convex fits, seeded bootstrap, single-threaded
BLAS). Needs numpy, scipy and scikit-learn (the dev extra). Four fits and six bootstraps:
about 13 s on 2 cores.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import quality_data as qd
import quality_fit as qf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from router.quality.metrics import (
    apgr,
    cpt,
    oracle_threshold_curve,
    random_threshold_curve,
    threshold_curve,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".router" / "quality" / "leave-one-source-out.md"
OUT_OF_SOURCE = "out of source"
IN_SOURCE = "in source"
ROUTERS = ("ours", "tfidf_lr", "random", "oracle")
RESAMPLES = 1000
SEED = 0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pair_rows(block: qf.Block) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The block's prompts and STRONG / WEAK qualities, on rows where both are labelled."""
    s = block.Y[:, block.models.index(qd.STRONG)]
    w = block.Y[:, block.models.index(qd.WEAK)]
    keep = ~(np.isnan(s) | np.isnan(w))
    prompts = [p for p, k in zip(block.prompts, keep, strict=True) if k]
    return prompts, s[keep], w[keep]


def fit_baseline(train: Sequence[qf.Block]) -> Any:
    """TF-IDF + logistic regression on the training prompts: does STRONG beat WEAK?"""
    prompts: list[str] = []
    labels: list[int] = []
    for block in train:
        p, s, w = pair_rows(block)
        prompts += p
        labels += [int(v) for v in s > w]
    vectorizer = TfidfVectorizer()
    X = vectorizer.fit_transform(prompts)
    model = LogisticRegression(max_iter=2000).fit(X, labels)

    def score(test: Sequence[str]) -> np.ndarray:
        return np.asarray(model.predict_proba(vectorizer.transform(test))[:, 1])

    return score


def measure(scores: np.ndarray | None, strong: np.ndarray, weak: np.ndarray) -> dict[str, Any]:
    """APGR and CPT(50%) of one router (scores), or of the random router (None)."""
    sq, wq = [float(v) for v in strong], [float(v) for v in weak]
    q_strong, q_weak = float(np.mean(strong)), float(np.mean(weak))
    if scores is None:
        curve = random_threshold_curve(q_weak, q_strong)
    else:
        curve = threshold_curve([float(v) for v in scores], sq, wq)
    return {"apgr": apgr(curve, q_weak, q_strong), "cpt50": cpt(curve, 0.5, q_weak, q_strong)}


class Ranking:
    """One router's scores on one cell, ready for `apgr_from_counts`: the rows sorted by
    score, highest first, and where each group of tied scores starts in that order."""

    def __init__(self, scores: np.ndarray, gain: np.ndarray) -> None:
        scores = np.asarray(scores, float)
        self.order = np.argsort(-scores, kind="stable")
        ranked = scores[self.order]
        self.starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        self.gain = np.asarray(gain, float)[self.order]


def apgr_from_counts(ranking: Ranking, counts: np.ndarray) -> float | None:
    """`apgr(threshold_curve(scores, strong, weak), mean weak, mean strong)` of the package
    on the rows repeated `counts[i]` times each (a bootstrap resample), with numpy.

    The package's curve (every distinct score a threshold, ties moving together) has one
    point per group of tied scores, taken highest first: after groups 1..g, the share of
    strong calls is K_1 + ... + K_g over n and the quality is (sum of the weak qualities +
    G_1 + ... + G_g) / n, where K_g is the group's number of rows and G_g its summed gain
    strong - weak. Its trapezoids, minus q_weak over the span [0, 1], divided by the gap
    q_strong - q_weak = (G_1 + ... + G_last) / n, give
    APGR = sum_g K_g (C_{g-1} + C_g) / (2 n C_last), C_g = G_1 + ... + G_g. A group
    absent from the resample (K_g = 0) adds a segment of width 0, as in the package.
    None where APGR is undefined (no gap between the two models on these rows).
    """
    c = np.asarray(counts, float)[ranking.order]
    k = np.add.reduceat(c, ranking.starts)
    cumulative = np.cumsum(np.add.reduceat(c * ranking.gain, ranking.starts))
    n, total = c.sum(), cumulative[-1]
    if total == 0.0:
        return None
    before = np.r_[0.0, cumulative[:-1]]
    return float(np.sum(k * (before + cumulative)) / (2.0 * n * total))


def bootstrap(
    ours: np.ndarray,
    baseline: np.ndarray,
    strong: np.ndarray,
    weak: np.ndarray,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """Paired bootstrap of APGR(ours) - APGR(baseline): both routers on the same resamples
    of the rows (with replacement, `numpy.random.default_rng(seed)`).

    Returns the 2.5 and 97.5 percentiles of the resampled differences (`ci95`), the share
    of resamples where ours is strictly higher (`share_ours_better`) and the number of
    resamples used (those where APGR is defined; `undefined` counts the others).
    """
    gain = np.asarray(strong, float) - np.asarray(weak, float)
    rank_ours, rank_base = Ranking(ours, gain), Ranking(baseline, gain)
    n = len(gain)
    rng = np.random.default_rng(seed)
    diffs: list[float] = []
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        a, b = apgr_from_counts(rank_ours, counts), apgr_from_counts(rank_base, counts)
        if a is not None and b is not None:
            diffs.append(a - b)
    d = np.array(diffs)
    lo, hi = (float(v) for v in np.percentile(d, [2.5, 97.5])) if len(d) else (None, None)
    return {
        "ci95": [lo, hi],
        "share_ours_better": float(np.mean(d > 0)) if len(d) else None,
        "resamples": len(d),
        "undefined": resamples - len(d),
        "seed": seed,
    }


def cell(
    *,
    source: str,
    setting: str,
    test: qf.Block,
    fitted: qf.Fitted,
    baseline: Any,
    train_rows: int,
) -> dict[str, Any]:
    prompts, strong, weak = pair_rows(test)
    ours = fitted.pair_score(prompts, qd.STRONG, qd.WEAK)
    base = baseline(prompts)
    oracle = oracle_threshold_curve([float(v) for v in strong], [float(v) for v in weak])
    q_strong, q_weak = float(np.mean(strong)), float(np.mean(weak))
    row: dict[str, Any] = {
        "source": source,
        "setting": setting,
        "rows": len(prompts),
        "train_rows": train_rows,
        "q_strong": q_strong,
        "q_weak": q_weak,
        "ours": measure(ours, strong, weak),
        "tfidf_lr": measure(base, strong, weak),
        "random": measure(None, strong, weak),
        "oracle": {
            "apgr": apgr(oracle, q_weak, q_strong),
            "cpt50": cpt(oracle, 0.5, q_weak, q_strong),
        },
    }
    gain = strong - weak
    ones = np.ones(len(prompts), int)
    for name, scores in (("ours", ours), ("tfidf_lr", base)):
        fast = apgr_from_counts(Ranking(scores, gain), ones)
        if fast is None or abs(fast - row[name]["apgr"]) > 1e-9:
            raise AssertionError(f"apgr_from_counts {fast} != package {row[name]['apgr']}")
    row["ours_minus_tfidf_lr"] = {
        "apgr": row["ours"]["apgr"] - row["tfidf_lr"]["apgr"],
        **bootstrap(ours, base, strong, weak),
    }
    d = row["ours_minus_tfidf_lr"]
    log(
        f"  {source} ({setting}, {len(prompts)} rows): APGR ours {row['ours']['apgr']:.3f}, "
        f"TF-IDF+LR {row['tfidf_lr']['apgr']:.3f}, oracle {row['oracle']['apgr']:.3f}; "
        f"difference {_diff(d)}, ours higher in {_share(d['share_ours_better'])} "
        f"of {d['resamples']} resamples"
    )
    return row


def n_pair_rows(blocks: Sequence[qf.Block]) -> int:
    return sum(len(pair_rows(b)[0]) for b in blocks)


def run(parts: Sequence[qd.Part]) -> list[dict[str, Any]]:
    """The six cells: out of source for each source, then in source for each."""
    rows: list[dict[str, Any]] = []
    everything = qf.blocks(parts, held_out=None)
    for source in qd.SOURCES:
        train = [b for b in everything if b.source != source]
        (test,) = [b for b in everything if b.source == source]
        log(f"out of source {source}: fit on all rows of {', '.join(b.source for b in train)}")
        t = time.time()
        fitted = qf.fit(train, log=log)
        baseline = fit_baseline(train)
        log(f"  fitted in {time.time() - t:.0f} s")
        rows.append(
            cell(
                source=source,
                setting=OUT_OF_SOURCE,
                test=test,
                fitted=fitted,
                baseline=baseline,
                train_rows=n_pair_rows(train),
            )
        )
    train = qf.blocks(parts, held_out=False)
    log("in source: fit on the training rows of all three sources")
    t = time.time()
    fitted = qf.fit(train, log=log)
    baseline = fit_baseline(train)
    log(f"  fitted in {time.time() - t:.0f} s")
    for test in qf.blocks(parts, held_out=True):
        rows.append(
            cell(
                source=test.source,
                setting=IN_SOURCE,
                test=test,
                fitted=fitted,
                baseline=baseline,
                train_rows=n_pair_rows(train),
            )
        )
    return rows


def verdicts(rows: Sequence[dict[str, Any]]) -> dict[str, bool]:
    """Per source: does ours beat TF-IDF+LR on APGR, out of source?"""
    return {
        r["source"]: r["ours"]["apgr"] > r["tfidf_lr"]["apgr"]
        for r in rows
        if r["setting"] == OUT_OF_SOURCE
    }


def beyond_noise(rows: Sequence[dict[str, Any]]) -> dict[str, bool]:
    """Per source, out of source: is the whole 95% interval of the difference above 0?"""
    return {
        r["source"]: (lo := r["ours_minus_tfidf_lr"]["ci95"][0]) is not None and lo > 0
        for r in rows
        if r["setting"] == OUT_OF_SOURCE
    }


def _pct(v: float | None) -> str:
    return "never" if v is None else f"{100 * v:.1f}%"


def _share(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _diff(d: dict[str, Any]) -> str:
    lo, hi = d["ci95"]
    interval = "n/a" if lo is None else f"{lo:+.3f}, {hi:+.3f}"
    return f"{d['apgr']:+.3f} [{interval}]"


def table(rows: Sequence[dict[str, Any]]) -> str:
    header = (
        "| held-out source | rows | setting | APGR ours | APGR TF-IDF+LR "
        "| ours - TF-IDF+LR [95% CI] | ours higher | random | oracle "
        "| CPT(50%) ours | CPT(50%) TF-IDF+LR | oracle CPT(50%) |"
    )
    lines = [header, "|" + "|".join(["---"] * 3 + ["---:"] * 9) + "|"]
    for r in rows:
        d = r["ours_minus_tfidf_lr"]
        lines.append(
            f"| {r['source']} | {r['rows']} | {r['setting']} "
            f"| {r['ours']['apgr']:.3f} | {r['tfidf_lr']['apgr']:.3f} "
            f"| {_diff(d)} | {_share(d['share_ours_better'])} "
            f"| {r['random']['apgr']:.3f} | {r['oracle']['apgr']:.3f} "
            f"| {_pct(r['ours']['cpt50'])} | {_pct(r['tfidf_lr']['cpt50'])} "
            f"| {_pct(r['oracle']['cpt50'])} |"
        )
    by_source = {r["source"]: r for r in rows if r["setting"] == OUT_OF_SOURCE}
    clear = beyond_noise(rows)
    said = [
        f"{s} {'yes' if beats else 'no'} ({by_source[s]['ours']['apgr']:.3f} vs "
        f"{by_source[s]['tfidf_lr']['apgr']:.3f}, "
        + (
            "the 95% interval is above 0)"
            if clear[s]
            else "within noise: the 95% interval includes 0)"
        )
        for s, beats in verdicts(rows).items()
    ]
    lines += [
        "",
        "Out of source (the figures that count), ours beats TF-IDF+LR on APGR: "
        + "; ".join(said)
        + ".",
        "",
        "ours - TF-IDF+LR: the APGR difference on the cell's rows and the 2.5-97.5 "
        f"percentiles of a paired bootstrap ({RESAMPLES} resamples of the rows, seed {SEED}); "
        "ours higher: the share of resamples where ours has the higher APGR. The interval "
        "is the test rows' sampling noise only, not the fit's.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=qd.DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    missing = [
        sub
        for sub in ("routellm-mmlu", "routerbench-train", "alpacaeval2")
        if not (args.data / sub).is_dir()
    ]
    if missing:
        raise SystemExit(
            f"no routing data at {args.data} (missing {', '.join(missing)}): "
            "pass --data PATH/TO/routing-data"
        )
    t0 = time.time()
    parts = qd.load_all(args.data)
    rows = run(parts)
    text = table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    document = {
        "schema": "router-leave-one-source-out/2",
        "pair": {"strong": qd.STRONG, "weak": qd.WEAK},
        "hyper": qf.HYPER,
        "baseline": "TfidfVectorizer() + LogisticRegression(max_iter=2000), "
        "y = quality(strong) > quality(weak), score = predict_proba[:, 1]",
        "bootstrap": {
            "statistic": "APGR(ours) - APGR(tfidf_lr), paired: both on the same resample",
            "resamples": RESAMPLES,
            "rng": f"numpy.random.default_rng({SEED}), one per cell",
            "interval": "2.5 and 97.5 percentiles of the resampled differences",
        },
        "rows": rows,
        "ours_beats_tfidf_lr_out_of_source": verdicts(rows),
        "ours_beats_tfidf_lr_out_of_source_beyond_noise": beyond_noise(rows),
    }
    json_path = args.out.with_suffix(".json")
    json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(text, end="")
    log(f"wrote {args.out} and {json_path.name} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
