"""`router eval`: the evaluation harness around a quality predictor.

A hand-made sample (4 models, 8 prompts, costs) and a fake predictor whose predictions
are chosen so every figure in metrics.json can be worked out by hand (arithmetic in the
comments). The last test reads ../shared/routing-data and skips only when it is absent.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from router.quality.data import LabelledSample, read_labelled_csv
from router.quality.evaluate import evaluate
from router.quality.predictor import DEFAULT_QUALITY, Predictor, PriorPredictor, prior_quality
from router.quality.result import EvalInputError
from router.tools._eval import ProgressBar, main

DATA = Path(__file__).resolve().parents[2] / "shared" / "routing-data"
MBPP = DATA / "routerbench-train" / "mbpp_train.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TINY, SMALL, LARGE, HUGE = "v/tiny", "v/small", "v/large", "v/huge"
MODELS = (TINY, SMALL, LARGE, HUGE)
COSTS = (1.0, 2.0, 4.0, 8.0)  # per query, the same on every prompt
# Quality (0/1) per prompt, columns TINY SMALL LARGE HUGE.
# Means: TINY 2/8 = 0.25, SMALL 4/8 = 0.5, LARGE 5/8 = 0.625, HUGE 6/8 = 0.75.
QUALITY = [
    [1, 1, 1, 1],  # 0
    [0, 1, 1, 1],  # 1
    [0, 0, 1, 1],  # 2
    [0, 0, 0, 1],  # 3
    [1, 1, 1, 1],  # 4
    [0, 1, 0, 1],  # 5
    [0, 0, 1, 0],  # 6
    [0, 0, 0, 0],  # 7
]
# The fake predictor: TINY 0.1 everywhere, SMALL and LARGE 0 (never worth their cost),
# HUGE per prompt below. Pair score = HUGE - TINY = 0.6 0.8 0.3 0.7 0.3 0.5 0.2 0.1 minus
# float noise: prompts go strong in the order 1, 3, 0, 5, 2, 4, 6, 7.
HUGE_PREDICTED = [0.7, 0.9, 0.5, 0.8, 0.4, 0.6, 0.3, 0.2]
PREDICTED = [[0.1, 0.0, 0.0, h] for h in HUGE_PREDICTED]


class FakePredictor:
    """Returns PREDICTED row by row, matching prompts "p0".."p7"."""

    models: tuple[str, ...] = MODELS

    def predict(self, prompts: Sequence[str], models: Sequence[str]) -> list[list[float]]:
        assert tuple(models) == MODELS
        return [list(PREDICTED[int(p[1:])]) for p in prompts]

    def __repr__(self) -> str:
        return "FakePredictor()"


def write_csv(path: Path, *, costs: bool = True, rows: list[list[Any]] | None = None) -> Path:
    header = ["sample_id", "prompt", *MODELS]
    if costs:
        header += [f"{m}|total_cost" for m in MODELS]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, q in enumerate(QUALITY):
            writer.writerow([i, f"p{i}", *q, *(COSTS if costs else ())])
        writer.writerows(rows or [])
    return path


@pytest.fixture
def sample(tmp_path: Path) -> LabelledSample:
    return read_labelled_csv(write_csv(tmp_path / "hand.csv"))


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def triple_close(got: dict[str, float | None], router: float, random: float, oracle: float) -> bool:
    return (
        set(got) == {"router", "random", "oracle"}
        and close(got["router"], router)
        and close(got["random"], random)
        and close(got["oracle"], oracle)
    )


def test_pair_metrics_by_hand(sample: LabelledSample) -> None:
    result = evaluate(sample, FakePredictor())
    pair = result.metrics["pair"]
    # Defaults: strong = best mean quality (HUGE 0.75), weak = cheapest (TINY, $1).
    assert (pair["strong"], pair["weak"]) == (HUGE, TINY)
    assert pair["chosen"] == {
        "strong": "best single model by mean quality",
        "weak": "cheapest model by mean cost",
    }
    assert (pair["quality_strong"], pair["quality_weak"]) == (0.75, 0.25)  # gap 0.5
    # Gains HUGE - TINY per prompt: 0 1 1 1 0 1 0 0. Strong in score order 1,3,0,5,2,4,6,7:
    # cumulative gain 1 2 2 3 4 4 4 4 -> PGR at shares 0, 1/8, ..., 1:
    # 0, .25, .5, .5, .75, 1, 1, 1, 1. Trapezoids of width 1/8:
    # (.125 + .375 + .5 + .625 + .875 + 1 + 1 + 1) / 8 = 5.5 / 8 = 0.6875.
    # Oracle: the 4 gaining prompts first: PGR 0 -> 1 on [0, 0.5], then 1: 0.25 + 0.5.
    assert triple_close(pair["apgr"], 0.6875, 0.5, 0.75)
    # CPT(50%): PGR .5 is reached at share .25. Oracle: 0.5 * 0.5 = 0.25; random 0.5.
    assert triple_close(pair["cpt_50"], 0.25, 0.5, 0.25)
    # CPT(80%): between (.5, PGR .75) and (.625, 1): .5 + .125 * .05/.25 = .525.
    # Oracle 0.5 * 0.8 = 0.4; random 0.8.
    assert triple_close(pair["cpt_80"], 0.525, 0.8, 0.4)


def test_many_model_metrics_by_hand(sample: LabelledSample) -> None:
    many = evaluate(sample, FakePredictor()).metrics["many_models"]
    assert many["best_single"] == {"model": HUGE, "cost": 8.0, "quality": 0.75}
    assert many["cheapest_single"] == {"model": TINY, "cost": 1.0, "quality": 0.25}
    # Router: SMALL and LARGE are predicted 0 < TINY's 0.1, so each prompt moves TINY -> HUGE
    # when lambda < score / 7, in the pair's order: cost 1 + 7k/8, quality as the pair:
    # (1, .25) (1.875, .375) (2.75, .5) (3.625, .5) (4.5, .625) (5.375, .75) ... (8, .75).
    # Its hull: (1, .25) (2.75, .5) (5.375, .75) [(4.5, .625) lies under the chord].
    # Random: the hull of the single models (1, .25) (2, .5) (4, .625) (8, .75).
    # Oracle: start all on TINY (1, .25); upgrades by gain per $: prompts 1, 5 to SMALL
    # (slope 1): (1.25, .5); prompts 2, 6 to LARGE (1/3): (2, .75); prompt 3 to HUGE
    # (1/7): (2.875, .875).
    # Cost at quality .75: router 5.375, random 8 (HUGE alone), oracle 2.
    assert triple_close(many["cost_at_best_single_quality"], 5.375, 8.0, 2.0)
    assert triple_close(many["cost_at_best_single_quality_share"], 5.375 / 8, 1.0, 2 / 8)
    # AIQ, max cost 8 (the random hull's end), area / 8:
    # router (.25+.5)/2*1.75 + (.5+.75)/2*2.625 + .75*2.625 = 4.265625 -> 0.533203125
    # random (.25+.5)/2*1 + (.5+.625)/2*2 + (.625+.75)/2*4 = 4.25 -> 0.53125
    # oracle (.25+.5)/2*.25 + (.5+.75)/2*.75 + (.75+.875)/2*.875 + .875*5.125 = 5.7578125
    #        -> 0.7197265625
    assert many["aiq_max_cost"] == 8.0
    assert triple_close(many["aiq"], 0.533203125, 0.53125, 0.7197265625)
    # At TINY's $1 every curve is at its start: all on TINY (constant costs), .25.
    assert triple_close(many["quality_at_cheapest_cost"], 0.25, 0.25, 0.25)
    assert triple_close(many["quality_max"], 0.75, 0.75, 0.875)


def test_every_figure_has_its_floor_and_ceiling(sample: LabelledSample) -> None:
    metrics = evaluate(sample, FakePredictor()).metrics
    figures = {k: v for k, v in metrics["pair"].items() if k in ("apgr", "cpt_50", "cpt_80")}
    figures.update(
        (k, v) for k, v in metrics["many_models"].items() if isinstance(v, dict) and "router" in v
    )
    assert set(figures) == {
        "apgr", "cpt_50", "cpt_80", "cost_at_best_single_quality",
        "cost_at_best_single_quality_share", "aiq", "quality_at_cheapest_cost", "quality_max",
    }  # fmt: skip
    assert all(set(v) == {"router", "random", "oracle"} for v in figures.values())
    assert metrics["predictor"] == {
        "name": "FakePredictor()",
        "models_learned": list(MODELS),
        "models_on_prior": [],
    }
    assert metrics["single_models"][LARGE] == {"quality": 0.625, "cost": 4.0}
    assert metrics["notes"] == []


def test_written_files(sample: LabelledSample, tmp_path: Path) -> None:
    result = evaluate(sample, FakePredictor())
    out = tmp_path / "new" / "dir"  # created, parents too
    written = result.write(out)
    assert [p.name for p in written] == ["metrics.json", "predictions.csv", "curve.png"]
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8")) == result.metrics
    with (out / "predictions.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(MODELS)
    assert rows[1:] == [["0.1", "0.0", "0.0", repr(h)] for h in HUGE_PREDICTED]
    png = (out / "curve.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 1000
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left
    result.write(out)  # writing again replaces the files


def test_write_refuses_a_file_path(sample: LabelledSample, tmp_path: Path) -> None:
    result = evaluate(sample, FakePredictor())
    target = tmp_path / "a-file"
    target.write_text("keep me", encoding="utf-8")
    with pytest.raises(EvalInputError, match="is a file, not a folder"):
        result.write(target)
    assert target.read_text(encoding="utf-8") == "keep me"
    (tmp_path / "out" / "metrics.json").mkdir(parents=True)
    with pytest.raises(EvalInputError, match="is a folder"):
        result.write(tmp_path / "out")


def test_pair_given_and_validated(sample: LabelledSample) -> None:
    pair = evaluate(sample, FakePredictor(), strong=LARGE, weak=SMALL).metrics["pair"]
    assert (pair["strong"], pair["weak"], pair["chosen"]["strong"]) == (LARGE, SMALL, "given")
    # Only weak given: strong is still the best model other than it.
    assert evaluate(sample, FakePredictor(), weak=HUGE).metrics["pair"]["strong"] == LARGE
    with pytest.raises(EvalInputError, match=r"no model 'huge'.*did you mean 'v/huge'") as info:
        evaluate(sample, FakePredictor(), strong="huge")
    assert info.value.argument == "strong"
    with pytest.raises(EvalInputError, match="is the strong model too"):
        evaluate(sample, FakePredictor(), strong=HUGE, weak=HUGE)
    with pytest.raises(EvalInputError, match=r"hand\.csv: --mode cascade needs the recorded"):
        evaluate(sample, FakePredictor(), mode="cascade")


def test_without_costs_routellm_convention(tmp_path: Path) -> None:
    plain = read_labelled_csv(write_csv(tmp_path / "mmlu-like.csv", costs=False))
    result = evaluate(plain, FakePredictor())
    metrics = result.metrics
    # No costs: weak = the worst by mean quality (TINY); the pair is as before.
    assert metrics["pair"]["weak"] == TINY
    assert metrics["pair"]["chosen"]["weak"].startswith("worst single model by mean quality")
    assert triple_close(metrics["pair"]["apgr"], 0.6875, 0.5, 0.75)
    assert metrics["many_models"] is None
    assert "share of calls to the strong model" in metrics["notes"][0]
    assert metrics["single_models"][TINY] == {"quality": 0.25, "cost": None}
    result.write(tmp_path / "out")
    assert (tmp_path / "out" / "curve.png").read_bytes().startswith(PNG_MAGIC)


def test_bad_predictor_output_is_refused(sample: LabelledSample) -> None:
    class Broken(FakePredictor):
        def predict(self, prompts: Sequence[str], models: Sequence[str]) -> list[list[float]]:
            return [[0.5, 0.5, 0.5, 1.5] for _ in prompts]

    with pytest.raises(ValueError, match=r"numbers in \[0, 1\]"):
        evaluate(sample, Broken())


def test_prior_predictor() -> None:
    predictor = PriorPredictor({"mine": 0.3})
    assert isinstance(predictor, Predictor)
    assert isinstance(FakePredictor(), Predictor)
    assert predictor.models == ("mine",)
    # Family priors from families.toml (as the planner's deployments get them), the
    # default for unknown names.
    names = ["mine", "gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat", "zz-unknown"]
    row = predictor.predict(["x"], names)
    assert row == [[0.3, 0.88, 0.74, DEFAULT_QUALITY]]
    assert prior_quality("zz-unknown") == DEFAULT_QUALITY == 0.5
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        PriorPredictor({"bad": 1.5})


def test_progress_bar_tty_and_log() -> None:
    log = io.StringIO()
    bar = ProgressBar(log)
    for done in range(0, 101, 5):
        bar(done, 100)
    # Not a terminal: one line per 10% step crossed.
    assert log.getvalue().count("\n") == 10
    assert "100% (100/100 rows)" in log.getvalue()

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = ProgressBar(tty)
    for done in (0, 2, 3):
        bar(done, 3)
    assert tty.getvalue().count("\r") == 3
    assert tty.getvalue().endswith("100% (3/3 rows)\n")


# ------------------------------------------------------------------------------ the CLI


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "hand.csv")
    code, out, err = run([str(data), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert "strong v/huge (best single model by mean quality)" in out
    assert "APGR" in out
    assert "wrote" in out
    assert "100% (8/8 rows)" in err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["predictor"]["name"].startswith("TrainedPredictor(model='sha256:")
    assert metrics["predictor"]["models_on_prior"] == list(MODELS)  # names it never saw


def one_error(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("router: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--strong", "huge"], "--strong: no model 'huge' in the file; did you mean 'v/huge'?"),
        (["--weak", "v/tinny"], "--weak: no model 'v/tinny' in the file; did you mean 'v/tiny'?"),
        (["--calibration", "cal.json"], "--calibration: cal.json: no such file (write it with"),
        (["--mode", "cascade"], "hand.csv: --mode cascade needs the recorded answers"),
        (["--mode", "fast"], "argument --mode: invalid choice: 'fast'"),
    ],
)
def test_cli_argument_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    data = write_csv(tmp_path / "hand.csv")
    code, _, err = run([str(data), "--out", str(tmp_path / "out"), *extra], capsys)
    assert expected in one_error(code, err)
    assert not (tmp_path / "out").exists()


def test_cli_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    missing = tmp_path / "nope.csv"
    line = one_error(*run([str(missing), "--out", out], capsys)[::2])
    assert str(missing) in line
    assert "cannot open" in line
    ragged = write_csv(tmp_path / "ragged.csv", rows=[[9, "p9", 1, 0]])
    line = one_error(*run([str(ragged), "--out", out], capsys)[::2])
    assert f"{ragged}, line 10: expected 10 fields, found 4" in line
    blank = write_csv(tmp_path / "blank.csv", rows=[[9, "p9", 1, "", 1, 1, 1, 2, 4, 8]])
    line = one_error(*run([str(blank), "--out", out], capsys)[::2])
    assert "empty cell (--skip-incomplete skips such rows)" in line
    code, _, err = run([str(blank), "--out", out, "--skip-incomplete"], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["skipped_lines"] == [[str(blank), 10]]
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    line = one_error(*run([str(blank), "--out", str(a_file)], capsys)[::2])
    assert f"--out: {a_file} is a file, not a folder" in line
    assert "--out" in one_error(*run([str(blank)], capsys)[::2])  # --out is required


def test_cli_without_matplotlib(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    data = write_csv(tmp_path / "hand.csv")
    line = one_error(*run([str(data), "--out", str(tmp_path / "out")], capsys)[::2])
    assert "pip install 'freefirst-router[eval]'" in line
    assert not (tmp_path / "out").exists()


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "--mode cascade replays the cascade from the recorded answers" in out
    assert "--calibration" in out


# ------------------------------------------------------------------ the shared data


def test_mbpp_with_the_shipped_predictor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not MBPP.is_file():
        pytest.skip(f"{MBPP} is absent (the shared routing data is read by path, not shipped)")
    code, out, err = run([str(MBPP), "--out", str(tmp_path / "mbpp")], capsys)
    assert code == 0, err
    print(out)
    metrics = json.loads((tmp_path / "mbpp" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["rows"] == 299
    with (tmp_path / "mbpp" / "predictions.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 300
    assert rows[0] == metrics["data"]["models"]
    assert (tmp_path / "mbpp" / "curve.png").read_bytes().startswith(PNG_MAGIC)
    pair, many = metrics["pair"], metrics["many_models"]
    assert pair["strong"] == "gpt-4-1106-preview"
    # (The shipped predictor was trained on 80% of these rows: no figure is asserted here;
    # tests/test_quality_predictor.py checks the held-out figures.)
    assert 0 <= pair["apgr"]["router"] <= pair["apgr"]["oracle"]
    for key in ("aiq", "quality_at_cheapest_cost", "quality_max"):
        assert 0 <= many[key]["router"] <= many[key]["oracle"] + 1e-12, key
    cost = many["cost_at_best_single_quality"]
    assert 0 <= cost["oracle"] <= cost["router"]
