"""The offline cascade (`router eval --mode cascade`): a hand-made sample with recorded answers
whose every figure is worked out by hand, the CLI end to end, and its input errors.

The sample: 4 multiple-choice prompts; free models A (mixtral, $1 per query) and B (Yi, $2),
strong S (GPT-4, $10). Correct letters: A, B, B, A.

    row  A answers      A ok  B answers  B ok  S ok
    0    A              1     A          1     1
    1    A              0     B          1     1
    2    B              1     B          1     1
    3    (a refusal)    0     B          0     1

A scorer with weights has_others -2, agree_choice +4, refusal -3, mc_unclear -1 gives an
agreeing answer sigmoid(2), a disagreeing one sigmoid(-2), the refusal sigmoid(-6). The
cascade keeps the best-scored tier answer (ties: A): rows 0 and 2 keep A at sigmoid(2),
row 1 keeps A at sigmoid(-2), row 3 keeps B at sigmoid(-2).
Every row pays A + B = $3; an escalated row pays S's $10 too.
- escalate all: cost (12 + 40) / 4 = 13, quality 1.0, escalation 100%;
- threshold sigmoid(2): rows 0 and 2 accepted (both right): cost (12 + 20) / 4 = 8,
  quality 1.0, escalation 50%;
- threshold sigmoid(-2): all accepted: cost 3, quality (1 + 0 + 1 + 0) / 4 = 0.5.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from router.quality.answers import AnswerScorer
from router.quality.cascade import CascadeRun, cascade_curve, run_cascade
from router.quality.data import read_labelled_csv
from router.quality.evaluate import evaluate
from router.quality.metrics import Point
from router.quality.predictor import PriorPredictor
from router.quality.result import EvalInputError
from router.tools._eval import main

A, B, S = "mistralai/mixtral-8x7b-chat", "zero-one-ai/Yi-34B-Chat", "gpt-4-1106-preview"
REFUSAL = "I'm sorry, but I can't help with that."
ROWS = [  # (answer A, A ok, answer B, B ok, S ok)
    ("A", 1, "A", 1, 1),
    ("A", 0, "B", 1, 1),
    ("B", 1, "B", 1, 1),
    (REFUSAL, 0, "B", 0, 1),
]
SCORER = AnswerScorer(
    {"has_others": -2.0, "agree_choice": 4.0, "refusal": -3.0, "mc_unclear": -1.0}
)
HIGH, LOW = 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(2))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA = Path(__file__).resolve().parents[2] / "shared" / "routing-data"


def write(path: Path, *, responses: tuple[str, ...] = (A, B, S)) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["prompt", A, B, S, *(f"{m}|total_cost" for m in (A, B, S))]
            + [f"{m}|model_response" for m in responses]
        )
        for i, (a, a_ok, b, b_ok, s_ok) in enumerate(ROWS):
            prompt = f"Question {i}?\nA) one\nB) two\nAnswer:"
            answers = {A: f"['{a}']", B: b, S: "A"}  # A's as RouterBench records them
            w.writerow([prompt, a_ok, b_ok, s_ok, 1, 2, 10, *(answers[m] for m in responses)])
    return path


def test_cascade_curve_by_hand(tmp_path: Path) -> None:
    sample = read_labelled_csv(write(tmp_path / "hand.csv"))
    run = run_cascade(sample, (A, B), S, SCORER)
    assert run.scores == [HIGH, LOW, HIGH, LOW]
    assert run.kept == [A, A, A, B]
    assert run.tier_cost == [3.0] * 4
    steps = cascade_curve(run)
    assert [(s.threshold, s.point, s.escalation_rate) for s in steps] == [
        (math.inf, Point(13.0, 1.0), 1.0),
        (HIGH, Point(8.0, 1.0), 0.5),
        (LOW, Point(3.0, 0.5), 0.0),
    ]
    # Restricted to rows 1 and 3 (the combined scheme's building block): means over 2 rows.
    assert [s.point for s in cascade_curve(run, [1, 3])] == [Point(13.0, 1.0), Point(3.0, 0.0)]


def test_cascade_curve_groups_ties_and_handles_no_rows() -> None:
    run = CascadeRun(
        tier=("f",), strong="s", scores=[0.5, 0.5, 0.9], kept=["f"] * 3,
        free_quality=[1.0, 0.0, 1.0], tier_cost=[1.0] * 3,
        strong_quality=[1.0, 1.0, 0.0], strong_cost=[4.0] * 3,
    )  # fmt: skip
    points = [s.point for s in cascade_curve(run)]
    assert points == [Point(5.0, 2 / 3), Point(11 / 3, 1.0), Point(1.0, 2 / 3)]
    assert cascade_curve(run, []) == []


def test_evaluate_cascade_block_by_hand(tmp_path: Path) -> None:
    sample = read_labelled_csv(write(tmp_path / "hand.csv"))
    result = evaluate(sample, PriorPredictor(), mode="cascade", scorer=SCORER)
    c = result.metrics["cascade"]
    assert c["tier"] == [A, B]  # open-weights families, mixtral's prior 0.74 above Yi's 0.70
    assert c["strong"] == S
    assert c["curve"] == [[None, 13.0, 1.0, 1.0], [HIGH, 8.0, 1.0, 0.5], [LOW, 3.0, 0.5, 0.0]]
    assert c["best_single"] == {"model": S, "quality": 1.0, "cost": 10.0}
    at = c["cost_at_best_single_quality"]
    # Route (constant priors): all A ($1, 0.5) or all S ($10, 1.0). Oracle: A, B, A, S = 3.5.
    # Route+verify: the hull of those and the cascade's points: (1, 0.5) -> (8, 1.0).
    assert at == {"cascade": 8.0, "route+verify": 8.0, "route": 10.0, "random": 10.0,
                  "oracle": 3.5}  # fmt: skip
    assert c["cost_at_best_single_quality_share"]["cascade"] == 0.8
    assert c["operating_point"] == {
        "threshold": HIGH, "cost": 8.0, "quality": 1.0, "escalation_rate": 0.5,
        "reaches_best_single": True,
    }  # fmt: skip
    # At 25% of S's cost ($2.5): the cascade's hull starts at $3 (none); route+verify's
    # hull is 0.5 + (2.5 - 1) * 0.5 / 7.
    quarter = c["quality_at_share_of_strong_cost"]["25%"]
    assert quarter["cascade"] is None
    assert quarter["route+verify"] == pytest.approx(0.5 + 1.5 * 0.5 / 7)
    assert result.many is not None
    assert set(result.many.extra) == {"cascade", "route+verify"}
    explicit = evaluate(sample, PriorPredictor(), mode="cascade", scorer=SCORER, free=[B], agree=0)
    assert explicit.metrics["cascade"]["tier"] == [B]
    assert explicit.metrics["cascade"]["tier_chosen"] == "given"
    # Tier A + B: the scorer already escalates exactly the wrong kept answers (rows 1, 3).
    assert c["perfect_verifier"]["cost_at_best_single_quality"] == 8.0
    # Tier B alone: the scorer sees no agreement and rates every clear letter alike (all
    # in or all out: $12 to reach 1.0); knowing that B is wrong only on row 3, rows 0-2
    # keep B and row 3 escalates: (4 * $2 + $10) / 4 = $4.5.
    b_only = explicit.metrics["cascade"]
    assert b_only["cost_at_best_single_quality"]["cascade"] == 12.0
    assert b_only["perfect_verifier"]["cost_at_best_single_quality"] == 4.5
    assert b_only["perfect_verifier"]["cost_at_best_single_quality_share"] == 0.45


def test_cascade_input_errors(tmp_path: Path) -> None:
    no_answers = read_labelled_csv(write(tmp_path / "none.csv", responses=()))
    with pytest.raises(EvalInputError, match=r"none\.csv: --mode cascade needs the recorded"):
        evaluate(no_answers, PriorPredictor(), mode="cascade")
    some = read_labelled_csv(write(tmp_path / "some.csv", responses=(B, S)))
    with pytest.raises(EvalInputError, match=r"some\.csv: the cascade needs the answers "
                       r"`mistralai/mixtral-8x7b-chat\|model_response`"):  # fmt: skip
        evaluate(some, PriorPredictor(), mode="cascade")
    full = read_labelled_csv(write(tmp_path / "full.csv"))
    with pytest.raises(EvalInputError, match="cannot be free"):
        evaluate(full, PriorPredictor(), mode="cascade", free=[S])
    with pytest.raises(EvalInputError, match="no model"):
        evaluate(full, PriorPredictor(), mode="cascade", free=["nope"])
    with pytest.raises(EvalInputError, match="must be >= 0"):
        evaluate(full, PriorPredictor(), mode="cascade", agree=-1)


def test_cli_cascade_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = write(tmp_path / "hand.csv"), tmp_path / "out"
    tier = "mistralai/mixtral-8x7b-chat,zero-one-ai/Yi-34B-Chat"  # fixed: not the predictor's
    assert main([str(data), "--out", str(out), "--mode", "cascade", "--free", tier]) == 0
    captured = capsys.readouterr()
    assert "cascade: tier mistralai/mixtral-8x7b-chat, zero-one-ai/Yi-34B-Chat" in captured.out
    assert "router eval: verifying 100% (4/4 rows)" in captured.err
    # Kept A, A, A, B; knowing rows 1 and 3 are wrong: rows 0 and 2 kept, $32 / 4 rows.
    assert (
        "with a perfect verifier the cascade would reach 1.000 at $8000.000/1k (80.0% of its cost)"
        in captured.out
    )
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    curve = metrics["cascade"]["curve"]
    assert curve[0] == [None, 13.0, 1.0, 1.0]  # escalate all: A + B + S on every row
    assert curve[-1][1:3] == [3.0, 0.5]  # accept all: kept A, A, A, B as with the hand scorer
    assert metrics["mode"] == "cascade"
    with (out / "predictions.csv").open(encoding="utf-8") as f:
        assert len(list(csv.reader(f))) == 5
    assert (out / "curve.png").read_bytes().startswith(PNG_MAGIC)


def test_cli_cascade_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path / "plain.csv", responses=())
    assert main([str(data), "--out", str(tmp_path / "o"), "--mode", "cascade"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"router: error: {data}: --mode cascade needs the recorded")
    assert "|model_response" in err[0]
    assert not (tmp_path / "o").exists()
    data = write(tmp_path / "hand.csv")
    code = main([str(data), "--out", str(tmp_path / "o"), "--mode", "cascade", "--free", S])
    assert code == 2
    assert "--free: 'gpt-4-1106-preview' is the strong model" in capsys.readouterr().err


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/routing-data is absent")
def test_cascade_on_routerbench_heldout_rows() -> None:
    import sys  # noqa: PLC0415

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import quality_data  # type: ignore[import-not-found]  # noqa: PLC0415

    from router.quality.data import concat_samples  # noqa: PLC0415

    parts = [p for p in quality_data.load(DATA) if p.group.startswith("routerbench/")]
    sample = concat_samples([quality_data.split(p, True) for p in parts])
    c = evaluate(sample, PriorPredictor(), mode="cascade").metrics["cascade"]
    assert len(sample) == 441
    assert c["tier"] == [A, B]
    first, last = c["curve"][0], c["curve"][-1]
    assert first[2] == pytest.approx(sample.mean_quality(S))  # escalate all: S's quality
    tier_cost = sample.mean_cost(A) + sample.mean_cost(B)
    assert first[1] == pytest.approx(tier_cost + sample.mean_cost(S))
    assert last[1] == pytest.approx(tier_cost)
    # Verifying beats paying for the free tier blindly: at half of S's cost the cascade
    # is above the random router (the single models' hull).
    half = c["quality_at_share_of_strong_cost"]["50%"]
    assert half["cascade"] > half["random"]
