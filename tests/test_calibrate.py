"""`python -m router calibrate` and the goal helper: fits, files, errors."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest

import router
from router.cli import main as router_main
from router.quality.calibrate import fit_sample
from router.quality.data import LabelledSample
from router.quality.predictor import PriorPredictor
from router.quality.profile import profile
from router.quality.trained import (
    Calibration,
    Head,
    TrainedPredictor,
    default_model,
    load_calibration,
)
from router.quality.tune import simulate, tune_target

TOPICS = ["history", "physics", "cooking", "law", "music", "chess", "biology", "tax"]


def prompts(n: int, seed: int = 1) -> list[str]:
    """Varied prompts: short chat turns, maths with numbers, multiple choice."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        kind = i % 3
        if kind == 0:
            out.append(f"Tell me something fun about {topic}.")
        elif kind == 1:
            a, b = rng.randint(10, 999), rng.randint(10, 999)
            out.append(f"If {a} items cost ${b}, what is the price per item? Show each step.")
        else:
            out.append(
                f"Which statement about {topic} is NOT true?\nA. one\nB. two\nC. three\nD. four"
            )
    return out


def synthetic(n: int, ability: float, seed: int = 1) -> LabelledSample:
    """Labels drawn from the predictor's own form for a model of known ability."""
    model = default_model()
    rng = random.Random(seed)
    ps = prompts(n, seed)
    labels = []
    for p in ps:
        x, act = model.design(profile(p))
        z = (
            ability
            + model.center
            + model.trust(x) * (model.dot(model.shared, x, act) - model.center)
        )
        labels.append(1.0 if rng.random() < 1 / (1 + math.exp(-z)) else 0.0)
    return LabelledSample(
        models=("brand-new-model",), prompts=tuple(ps), quality={"brand-new-model": tuple(labels)}
    )


def test_fit_recovers_the_ability_of_a_model_never_seen() -> None:
    model = default_model()
    sample = synthetic(2000, ability=1.2)
    (head,) = fit_sample(model, sample)
    assert head.base == "shared"
    assert head.log_loss_after <= head.log_loss_before
    cal = Calibration(
        {"brand-new-model": Head(head.ability, None, head.kinds, "cal", model.center)}, "d", "f"
    )
    fitted = TrainedPredictor(model, cal).predict(sample.prompts[:300], ["brand-new-model"])
    true = [
        1
        / (
            1
            + math.exp(
                -(
                    1.2
                    + model.center
                    + model.trust(x) * (model.dot(model.shared, x, a) - model.center)
                )
            )
        )
        for x, a in (model.design(profile(p)) for p in sample.prompts[:300])
    ]
    gap = sum(abs(f[0] - t) for f, t in zip(fitted, true, strict=True)) / len(true)
    assert gap < 0.05


def test_too_few_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 20 labelled rows"):
        fit_sample(default_model(), synthetic(10, ability=0.0))


def write_sample(path: Path, n: int = 120) -> Path:
    rng = random.Random(3)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "prompt",
                "acme/big-1",
                "acme/small-1",
                "acme/big-1|total_cost",
                "acme/small-1|total_cost",
            ]
        )
        for i, p in enumerate(prompts(n, seed=5)):
            hard = i % 3 != 0
            big = 1 if rng.random() < (0.85 if hard else 0.95) else 0
            small = 1 if rng.random() < (0.35 if hard else 0.9) else 0
            w.writerow([p, big, small, 0.01, 0.0005])
    return path


def test_calibrate_cli_writes_a_file_the_router_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_sample(tmp_path / "mine.csv")
    out = tmp_path / "cal.json"
    code = router_main(
        [
            "calibrate",
            str(data),
            "--out",
            str(out),
            "--max-paid-share",
            "0.5",
            "--free",
            "acme/small-1",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "quality_target = " in captured.out
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(doc["models"]) == {"acme/big-1", "acme/small-1"}
    assert doc["goal"]["paid_share_on_sample"] <= 0.5
    target = doc["suggested_quality_target"]
    assert 0 < target <= 1
    cal = load_calibration(out, default_model())
    assert set(cal.heads) == {"acme/big-1", "acme/small-1"}
    # The router uses the calibrated heads for deployments of those models.
    r = router.Router(
        [
            {
                "name": "small",
                "model": "openai/acme/small-1",
                "api_base": "http://127.0.0.1:9/v1",
                "context_window": 8192,
            },
            {
                "name": "big",
                "model": "openai/acme/big-1",
                "api_base": "http://10.0.0.2:9/v1",
                "hosting": "self-hosted",
                "context_window": 8192,
                "cost_model": {"usd_per_hour": 2.0, "output_tokens_per_second": 100},
            },
        ],
        calibration=out,
    )
    d = r.plan([{"role": "user", "content": "Tell me something fun about chess."}])
    assert all(c.quality_source.startswith("calibrated") for c in d.candidates)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--out", "x.json", "--max-paid-share", "2"], "is not a share between 0 and 1"),
        (["--out", "x.csv"], "x.csv looks like data; write the calibration to a .json file"),
        (
            ["--out", "x.json", "--max-paid-share", "0.2", "--keep-quality", "0.9"],
            "not allowed with argument",
        ),
        (
            ["--out", "x.json", "--max-paid-share", "0.2", "--free", "nope"],
            "--free: ['nope'] are not model columns",
        ),
    ],
)
def test_calibrate_cli_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    data = write_sample(tmp_path / "mine.csv")
    before = data.read_bytes()
    args = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    code = router_main(["calibrate", str(data), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert err[0].startswith("router: error: ")
    assert expected in err[0]
    assert data.read_bytes() == before
    assert not (tmp_path / "x.json").exists()


def test_simulate_is_the_free_first_rule() -> None:
    predicted = [[0.9, 0.6], [0.9, 0.85]]
    costs = [1.0, 0.0]
    assert simulate(predicted, costs, 0.9) == [0, 1]  # 0.85 >= 0.81; 0.6 < 0.81
    assert simulate(predicted, costs, 0.5) == [1, 1]
    assert simulate(predicted, costs, 1.0) == [0, 0]


class Table:
    """A predictor that returns a fixed table (pure-logic test of the goal search)."""

    def __init__(self, rows: list[list[float]]) -> None:
        self.rows = rows

    @property
    def models(self) -> tuple[str, ...]:
        return ()

    def predict(self, prompts: object, models: object) -> list[list[float]]:
        return self.rows


def test_goal_max_paid_share_is_the_largest_target_within_it() -> None:
    # ratios free/best per row: 0.5, 0.7, 0.8, 0.95
    rows = [[1.0, 0.5], [1.0, 0.7], [1.0, 0.8], [1.0, 0.95]]
    sample = LabelledSample(
        models=("paid", "free"),
        prompts=("a", "b", "c", "d"),
        quality={"paid": (1.0, 1.0, 1.0, 1.0), "free": (0.0, 1.0, 1.0, 1.0)},
    )
    tuned = tune_target(Table(rows), sample, max_paid_share=0.25, free=["free"])
    # At most one of four rows paid: the target may exceed 0.5 but not 0.7.
    assert tuned.paid_share == 0.25
    assert 0.5 < tuned.quality_target <= 0.7
    kept = tune_target(Table(rows), sample, keep_quality=1.0, free=["free"])
    assert kept.quality == 1.0
    assert kept.paid_share == 0.25
    assert tune_target(PriorPredictor(), sample, keep_quality=0.5, free=["free"]).quality >= 0.5


def test_goals_are_checked() -> None:
    sample = LabelledSample(models=("a", "b"), prompts=("p",), quality={"a": (1.0,), "b": (0.0,)})
    with pytest.raises(ValueError, match="exactly one goal"):
        tune_target(TrainedPredictor(default_model()), sample)
