"""The answer scorer: features, the shipped artifact, and the reproducible training script."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from router.quality.answers import (
    ARTIFACT,
    FEATURES,
    SCHEMA,
    AnswerScorer,
    answer_features,
    answer_key,
    default_answer_scorer,
    recorded_text,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "routing-data"
MC = "Which gas do plants take in?\nA) oxygen\nB) carbon dioxide\nC) helium\nD) neon\nAnswer:"
CODE = "Write a python function to add two numbers."


def feature(prompt: str, answer: str, name: str, others: tuple[str, ...] = ()) -> float:
    return answer_features(prompt, answer, others)[FEATURES.index(name)]


def test_features_of_multiple_choice_answers() -> None:
    assert feature(MC, "B", "mc_prompt") == 1.0
    assert feature(MC, "B", "mc_chance") == 0.25
    assert feature(MC, "B", "mc_unclear") == 0.0
    assert feature(MC, "The answer is B.", "mc_unclear") == 0.0
    assert feature(MC, "It is A or maybe B", "mc_unclear") == 1.0
    assert feature(MC, "I think it might be B, not sure", "hedge") == 1.0
    assert feature(MC, "", "empty") == 1.0
    assert feature(MC, "I'm sorry, but I can't help with that.", "refusal") == 1.0
    assert answer_key(MC, "(B) carbon dioxide") == ("choice", "B")
    assert feature(MC, "B", "agree_choice", ("B", "B")) == 1.0
    assert feature(MC, "B", "agree_choice", ("B", "A")) == 0.5
    assert feature(MC, "B", "agree_all", ("B", "A")) == 0.0
    assert feature(MC, "B", "has_others") == 0.0


def test_features_of_code_and_open_answers() -> None:
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    assert feature(CODE, good, "code_prompt") == 1.0
    assert feature(CODE, good, "code_missing") == 0.0
    assert feature(CODE, "You can use the plus operator.", "code_missing") == 1.0
    assert feature(CODE, "```python\ndef add(a, b:\n    return a +", "code_invalid") == 1.0
    assert feature(CODE, "```python\ndef add(a, b:\n    return a +", "code_truncated") == 1.0
    assert feature(CODE, good, "agree_code", (good,)) == 1.0
    looping = " ".join(["the same words again and again"] * 20)
    assert feature("Tell me a story.", looping, "repetition") > 0.8
    assert answer_key("How many legs do 3 cats have?", "3 cats have 12 legs.") == ("number", "12")
    assert feature("How many legs?", "12", "agree_number", ("12",)) == 1.0
    assert feature("How many legs?", "12", "agree_number", ("14",)) == 0.0


def test_shipped_scorer_ranks_answers_sensibly() -> None:
    scorer = default_answer_scorer()
    clear, hedge = scorer(MC, "B"), scorer(MC, "I think it might be A or B, I'm not sure.")
    refusal, empty = scorer(MC, "I'm sorry, but I can't help with that."), scorer(MC, "")
    assert clear > hedge
    assert refusal < 0.2
    assert empty < 0.1
    assert refusal < clear
    assert scorer.score(MC, "B", ["B"]) > scorer.score(MC, "B") > scorer.score(MC, "B", ["C"])
    code = "```python\ndef add(a, b):\n    return a + b\n```"
    assert scorer(CODE, code) > scorer(CODE, "Just add them together.")
    assert all(0 <= v <= 1 for v in (clear, hedge, refusal, empty))
    assert scorer(MC, "B") == scorer.score(MC, "B", ())  # the verifier hook's signature


def test_artifact_loads_and_is_cached() -> None:
    data = json.loads(ARTIFACT.read_text(encoding="utf-8"))
    assert data["schema"] == SCHEMA
    assert data["features"] == list(FEATURES)
    scorer = default_answer_scorer()
    assert scorer is default_answer_scorer()
    assert scorer.weights == tuple(data["weights"][f] for f in FEATURES)
    assert scorer.info["name"] == "routerbench-open-answers"
    assert ARTIFACT.stat().st_size < 10_000
    metrics = json.loads((ARTIFACT.parent / "answer-scorer-metrics.json").read_text("utf-8"))
    assert metrics["held_out"]["1 other(s), all"]["auc"] > 0.6


def test_scorer_validates_its_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown answer features"):
        AnswerScorer({"bias": 1.0, "vibes": 2.0})
    with pytest.raises(ValueError, match="finite"):
        AnswerScorer({"bias": math.nan})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "other", "weights": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="not an answer-scorer artifact"):
        AnswerScorer.load(bad)
    extreme = AnswerScorer({"bias": 1e9})
    assert extreme(MC, "B") == pytest.approx(1.0)  # no overflow


def test_recorded_text() -> None:
    assert recorded_text("['B\\n']") == "B\n"
    assert recorded_text("['a', 'b']") == "a\nb"
    assert recorded_text("[not python") == "[not python"
    assert recorded_text("[1, 2]") == "[1, 2]"


def _script() -> ModuleType:
    path = ROOT / "scripts" / "train_answer_scorer.py"
    spec = importlib.util.spec_from_file_location("train_answer_scorer", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("train_answer_scorer", module)
    spec.loader.exec_module(module)
    return module


def test_fit_is_deterministic_and_keeps_unsupported_priors() -> None:
    np = pytest.importorskip("numpy")
    script = _script()
    rng = np.random.default_rng(0)
    X = np.zeros((200, len(FEATURES)))
    X[:, FEATURES.index("bias")] = 1.0
    X[:, FEATURES.index("agree_choice")] = rng.integers(0, 2, 200)
    y = (X[:, FEATURES.index("agree_choice")] + rng.random(200) > 0.8).astype(float)
    w = np.ones(200)
    first, second = script.fit(X, y, w), script.fit(X, y, w)
    assert first.tobytes() == second.tobytes()
    assert first[FEATURES.index("agree_choice")] > 1.0  # learned: agreement predicts good
    assert first[FEATURES.index("refusal")] == script.PRIOR["refusal"]  # never seen: prior


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/routing-data is absent")
def test_training_reproduces_the_shipped_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script()
    monkeypatch.setattr(script, "ARTIFACT", tmp_path / "a.json")
    monkeypatch.setattr(script, "METRICS", tmp_path / "m.json")
    assert script.main(["--data", str(DATA)]) == 0
    assert (tmp_path / "a.json").read_bytes() == ARTIFACT.read_bytes()
    shipped_metrics = ARTIFACT.parent / "answer-scorer-metrics.json"
    assert (tmp_path / "m.json").read_bytes() == shipped_metrics.read_bytes()
