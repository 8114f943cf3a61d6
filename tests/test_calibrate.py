"""`python -m router calibrate` and the goal helper: fits, files, errors."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest

import router
from router.quality.calibrate import PULL_KINDS, fit_model, fit_sample, kind_pulls
from router.quality.data import LabelledSample
from router.quality.predictor import PriorPredictor
from router.quality.trained import (
    Calibration,
    Head,
    TrainedModel,
    TrainedPredictor,
    default_model,
    load_calibration,
    pack_vocabulary,
)
from router.quality.tune import simulate, tune_target
from router.tools._cli import main as router_main

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
        z = ability + model.dot(model.shared, *model.design(model.encode(p)))
        labels.append(1.0 if rng.random() < 1 / (1 + math.exp(-z)) else 0.0)
    return LabelledSample(
        models=("brand-new-model",), prompts=tuple(ps), quality={"brand-new-model": tuple(labels)}
    )


def test_fit_recovers_the_ability_of_a_model_never_seen() -> None:
    model = default_model()
    sample = synthetic(2000, ability=1.2)
    (head,) = fit_sample(model, sample)
    assert head.base == "shared"
    assert head.ability == pytest.approx(1.2, abs=0.15)  # pulled a little toward the prior
    assert head.log_loss_after <= head.log_loss_before
    cal = Calibration({"brand-new-model": Head(head.ability, None, head.kinds, "cal")}, "d", "f")
    fitted = TrainedPredictor(model, cal).predict(sample.prompts[:300], ["brand-new-model"])
    true = [
        1 / (1 + math.exp(-(1.2 + model.dot(model.shared, *model.design(model.encode(p))))))
        for p in sample.prompts[:300]
    ]
    gap = sum(abs(f[0] - t) for f, t in zip(fitted, true, strict=True)) / len(true)
    assert gap < 0.05


def test_fit_recovers_the_kind_loadings_of_a_model_never_seen() -> None:
    """Labels whose logit also moves with the encoding (1.5 per unit of difficulty, -3 per
    unit of gap): the fit finds both loadings, not a version pulled most of the way to 0
    (the encoding spreads little, so the pull is scaled to its spread)."""
    model = default_model()
    rng = random.Random(7)
    truth = (1.5, -3.0)
    designs = [model.design(model.encode(p)) for p in prompts(2000, seed=7)]
    labels = []
    for x, active in designs:
        z = 0.5 + model.dot(model.shared, x, active) + model.dot(truth, x, active)
        labels.append(1.0 if rng.random() < 1 / (1 + math.exp(-z)) else 0.0)
    head = fit_model(model, "brand-new-model", designs, labels)
    assert head.ability == pytest.approx(0.5, abs=0.15)
    assert head.kinds == pytest.approx(truth, abs=0.75)
    assert head.log_loss_after < head.log_loss_before


def tiny_model(scale: tuple[float, float]) -> TrainedModel:
    """A two-word artifact whose encoding numbers are multiplied by `scale` (its weights
    divided by it): the same model in other units."""
    ref = [[0.3, -0.2], [-0.1, 0.4], [0.5, 0.1], [-0.4, -0.3], [0.0, 0.2]]
    art = {
        "schema": "router-quality-model/2",
        "encoding": ["difficulty", "gap"],
        "ngrams": 1,
        "intercepts": [0.0, 0.0],
        "reference": [[a * scale[0], b * scale[1]] for a, b in ref],
        "mean": [0.1 * scale[0], -0.05 * scale[1]],
        "shared": [-1.0 / scale[0], 0.5 / scale[1]],
        "models": {},
        "vocabulary": pack_vocabulary({"w": [1.0, 1.0, 1.0]}),
    }
    return TrainedModel(art, "sha256:tiny")


def test_the_pull_on_the_loadings_is_in_standardised_units() -> None:
    """The pull on loading j is PULL_KINDS x the variance of encoding number j over the
    model's reference: measuring a number in other units changes its loading by the
    inverse factor and nothing else (same ability, same predictions, same fit)."""
    model = default_model()
    for k, pull in enumerate(kind_pulls(model)):
        xs = [e[k] for e in model.reference]
        mean = sum(xs) / len(xs)
        variance = sum((x - mean) ** 2 for x in xs) / len(xs)
        assert pull == pytest.approx(PULL_KINDS * variance)
        assert 0 < pull < PULL_KINDS  # the encoding spreads less than one unit
    rng = random.Random(11)
    points = [(rng.gauss(0, 0.3), rng.gauss(0, 0.2)) for _ in range(60)]
    labels = [1.0 if a - 2 * b + rng.gauss(0, 0.3) > 0 else 0.0 for a, b in points]
    scale = (4.0, 0.25)
    plain, scaled = tiny_model((1.0, 1.0)), tiny_model(scale)
    assert kind_pulls(scaled) == pytest.approx(
        [p * c * c for p, c in zip(kind_pulls(plain), scale, strict=True)]
    )
    one = fit_model(plain, "acme/new-1", [plain.design(x) for x in points], labels)
    other = fit_model(
        scaled,
        "acme/new-1",
        [scaled.design((a * scale[0], b * scale[1])) for a, b in points],
        labels,
    )
    assert other.ability == pytest.approx(one.ability, rel=1e-6)
    assert other.kinds == pytest.approx(
        [h / c for h, c in zip(one.kinds, scale, strict=True)], rel=1e-6
    )
    assert other.log_loss_after == pytest.approx(one.log_loss_after, rel=1e-9)
    assert one.kinds[0] > 0 > one.kinds[1]  # the labels' own direction


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
    # The sample's prompts became the reference traffic (encodings only, no text).
    n = 120  # write_sample's rows
    assert doc["reference_requests"] == n
    assert len(doc["reference"]) == min(n, 600)
    assert all(len(row) == 2 for row in doc["reference"])
    assert "reference traffic: the sample's" in captured.out
    assert r.scorer.reference == cal.reference  # type: ignore[attr-defined]
    assert cal.reference != default_model().reference


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
