"""`scripts/leave_one_source_out.py` on a tiny synthetic routing-data folder.

In every source the strong model wins exactly on the prompts that contain one word
("zebra"), so a router that reads words can learn the rule on two sources and apply it
to the third: out of source, ours and the TF-IDF + LR baseline must both beat random.
The paired bootstrap and its numpy APGR are checked against the package's metrics on
random data.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import leave_one_source_out as loso  # type: ignore[import-not-found]

from router.quality.metrics import apgr, threshold_curve

STRONG = "gpt-4-1106-preview"
FILLER = [
    *("apple", "river", "stone", "cloud", "green", "music", "paper", "light", "table"),
    *("window", "garden", "silver", "orange", "bridge", "forest", "candle", "market"),
    *("winter", "summer", "planet", "engine", "castle"),
]
ROWS = 40  # per file; 20% of each file is held out for the in-source cells


def prompts(seed: int) -> list[tuple[str, bool]]:
    """(prompt, contains the word) pairs: two in five prompts carry "zebra"."""
    rng = random.Random(seed)
    out = []
    for i in range(ROWS):
        words = rng.sample(FILLER, 6)
        marked = i % 5 in (0, 2)
        if marked:
            words.insert(rng.randrange(len(words) + 1), "zebra")
        out.append((f"Question {seed}-{i}: " + " ".join(words) + "?", marked))
    return out


def write(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def routing_data(root: Path) -> Path:
    mmlu = root / "routellm-mmlu"
    for k, subject in enumerate(("algebra", "biology")):
        write(
            mmlu / "responses" / f"mmlu_{subject}.csv",
            ["prompt", "mistralai/Mixtral-8x7B-Instruct-v0.1", STRONG],
            [[p, 0.0 if marked else 1.0, 1.0] for p, marked in prompts(k)],
        )
    contaminated = {"train_prompt": "elsewhere", "eval_prompt": prompts(0)[1][0]}
    (mmlu / "contaminated_prompts.jsonl").write_text(json.dumps(contaminated) + "\n")
    for k, stem in enumerate(("arc_train", "mbpp_train")):
        write(
            root / "routerbench-train" / f"{stem}.csv",
            [
                "",
                "sample_id",
                "prompt",
                "eval_name",
                "claude-v2",
                STRONG,
                "mistralai/mixtral-8x7b-chat",
            ],
            [
                [i, f"{stem}.{i}", repr([p]), stem, 1.0, 1.0, 0.0 if marked else 1.0]
                for i, (p, marked) in enumerate(prompts(10 + k))
            ],
        )
    rows = []
    for k, dataset in enumerate(("koala", "vicuna")):
        for p, marked in prompts(20 + k):
            rows.append([p, dataset, 0.5, 900, 0.2 if marked else 0.6, 700, 0.4, 800])
    write(
        root / "alpacaeval2" / "preferences.csv",
        [
            "prompt",
            "dataset",
            STRONG,
            f"{STRONG}|out_chars",
            "Mixtral-8x7B-Instruct-v0.1_concise",
            "Mixtral-8x7B-Instruct-v0.1_concise|out_chars",
            "other-model",
            "other-model|out_chars",
        ],
        rows,
    )
    return root


def test_leave_one_source_out_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = routing_data(tmp_path / "routing-data")
    out = tmp_path / "report" / "loso.md"
    assert loso.main(["--data", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text(encoding="utf-8") == printed

    lines = [line for line in printed.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| held-out source | rows | setting | APGR ours |")
    assert "| ours - TF-IDF+LR [95% CI] | ours higher |" in lines[0]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]
    assert [(r[0], r[2]) for r in body] == [
        ("mmlu", "out of source"),
        ("routerbench", "out of source"),
        ("alpaca", "out of source"),
        ("mmlu", "in source"),
        ("routerbench", "in source"),
        ("alpaca", "in source"),
    ]
    assert [int(r[1]) for r in body[:3]] == [2 * ROWS - 1, 2 * ROWS, 2 * ROWS]
    assert "ours beats TF-IDF+LR on APGR" in printed

    doc = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert doc["schema"] == "router-leave-one-source-out/2"
    assert doc["bootstrap"]["resamples"] == 1000
    assert len(doc["rows"]) == 6
    for row in doc["rows"]:
        assert row["random"]["apgr"] == pytest.approx(0.5)
        assert row["random"]["cpt50"] == pytest.approx(0.5)
        for router in ("ours", "tfidf_lr", "oracle"):
            assert -1.0 <= row[router]["apgr"] <= 2.0
            assert row[router]["apgr"] <= row["oracle"]["apgr"] + 1e-9
            share = row[router]["cpt50"]
            assert share is None or 0.0 <= share <= 1.0
        d = row["ours_minus_tfidf_lr"]
        assert d["apgr"] == pytest.approx(row["ours"]["apgr"] - row["tfidf_lr"]["apgr"])
        assert d["resamples"] + d["undefined"] == 1000
        assert d["resamples"] > 900
        lo, hi = d["ci95"]
        assert lo - 1e-12 <= d["apgr"] <= hi + 1e-12, row
        assert 0.0 <= d["share_ours_better"] <= 1.0
    for row in doc["rows"][:3]:
        assert row["ours"]["apgr"] > 0.6, row
        assert row["tfidf_lr"]["apgr"] > 0.6, row
        assert row["ours"]["cpt50"] < 0.5, row
    assert set(doc["ours_beats_tfidf_lr_out_of_source"]) == {"mmlu", "routerbench", "alpaca"}
    assert set(doc["ours_beats_tfidf_lr_out_of_source_beyond_noise"]) == {
        "mmlu",
        "routerbench",
        "alpaca",
    }


def package_apgr(scores: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> float:
    """What `measure` computes: the package's APGR over every distinct score."""
    curve = threshold_curve([float(v) for v in scores], list(strong), list(weak))
    return apgr(curve, float(np.mean(weak)), float(np.mean(strong)))


@pytest.mark.parametrize("graded", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_apgr_from_counts_equals_the_package(graded: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    if graded:
        strong, weak = rng.random(n), rng.random(n) * 0.8
    else:
        strong = (rng.random(n) < 0.7).astype(float)
        weak = (rng.random(n) < 0.5).astype(float)
    # Rounded scores: many ties, which the package moves together.
    scores = np.round(rng.normal(size=n) + 0.5 * (strong - weak), 1)
    ranking = loso.Ranking(scores, strong - weak)

    ones = np.ones(n, int)
    assert loso.apgr_from_counts(ranking, ones) == pytest.approx(
        package_apgr(scores, strong, weak), abs=1e-12
    )
    for _ in range(5):  # a resample: row i repeated counts[i] times
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        rows = np.repeat(np.arange(n), counts)
        assert loso.apgr_from_counts(ranking, counts) == pytest.approx(
            package_apgr(scores[rows], strong[rows], weak[rows]), abs=1e-12
        )


def test_apgr_from_counts_is_none_without_a_gap() -> None:
    same = np.array([1.0, 0.0, 1.0])
    ranking = loso.Ranking(np.array([0.3, 0.2, 0.1]), same - same)
    assert loso.apgr_from_counts(ranking, np.ones(3, int)) is None


def test_bootstrap_of_the_baseline_against_itself_is_zero() -> None:
    rng = np.random.default_rng(3)
    strong = (rng.random(500) < 0.7).astype(float)
    weak = (rng.random(500) < 0.5).astype(float)
    scores = rng.normal(size=500)
    result = loso.bootstrap(scores, scores.copy(), strong, weak)
    assert result["ci95"] == [0.0, 0.0]
    assert result["share_ours_better"] == 0.0  # strictly higher: never
    assert result["resamples"] == 1000
    assert result["undefined"] == 0


def test_bootstrap_interval_contains_the_difference_and_is_paired() -> None:
    rng = np.random.default_rng(4)
    n = 800
    strong = (rng.random(n) < 0.7).astype(float)
    weak = (rng.random(n) < 0.5).astype(float)
    informed = (strong - weak) + rng.normal(scale=1.5, size=n)
    blind = rng.normal(size=n)
    point = package_apgr(informed, strong, weak) - package_apgr(blind, strong, weak)
    result = loso.bootstrap(informed, blind, strong, weak)
    lo, hi = result["ci95"]
    assert lo <= point <= hi
    assert lo > 0.0  # the informed router is clearly better
    assert result["share_ours_better"] > 0.975
    again = loso.bootstrap(informed, blind, strong, weak)
    assert again == result  # seeded: the same resamples every run
    swapped = loso.bootstrap(blind, informed, strong, weak)
    assert swapped["ci95"] == pytest.approx([-hi, -lo])


def test_missing_data_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no routing data at .* pass --data"):
        loso.main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "x.md")])
