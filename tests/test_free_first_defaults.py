"""Issue 14, point 3: with shipped defaults, `free-first` serves easy requests free and
pays for the hardest (the README's setup: a local Ollama qwen2.5:7b, gpt-4o-mini,
claude-sonnet-4-5 and deepseek-chat). `Router.plan` is a dry run: no model is called.

The knob is `paid_share` (default 0.3): a share of requests, those where paying is
predicted to gain the most, ranked against the same deployments' gains on reference
traffic; not an absolute quality number (the old `quality_target`-only rule flipped all
traffic at once: the local model's predicted quality barely moved with the prompt)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import router
from router._models import Deployment, Features
from router._records import Candidate
from router.decision._planner import PAID_SHARE, Settings
from router.decision._scoring import OBJECTIVES, Params, Scored, prior_scorer
from router.tools._cli import main

EASY = (
    "hi",
    "Hello! How are you today?",
    "What is the capital of France?",
    "Suggest a name for a bakery.",
    "Translate 'Good morning, how are you?' into Spanish.",
    "Rewrite this sentence more politely: Send me the report now.",
    "Who wrote Romeo and Juliet?",
    "Thanks, that was helpful!",
    "Give me a synonym for 'happy'.",
    "Fix the spelling: 'I recieved teh package yesterday.'",
    "What colour is the sky on a clear day?",
    "Summarise in one line: The meeting moved from Monday to Tuesday at 3pm.",
)
HARD = (
    "Prove that there are infinitely many primes of the form 4k+3.",
    "Write a Rust lock-free MPMC queue with hazard pointers.",
    "Prove that the square root of 2 is irrational, then generalise the proof to show "
    "that the square root of any non-square integer is irrational.",
    "Implement a red-black tree in C with insertion and deletion, and explain how each "
    "rotation preserves the invariants.",
    "A train leaves at 3:15 pm travelling at 84 km/h; a second train leaves the same "
    "station at 4:05 pm at 112 km/h on the same track. At what time and distance does the "
    "second catch the first? Show every step.",
    "Find all real solutions of x^4 - 5x^2 + 4 = 0 and prove there are no others.",
    "Write a Python function that parses arithmetic expressions with operator precedence "
    "and parentheses into an AST, without using eval, and give unit tests.",
    "Prove by induction that the sum of the first n odd numbers is n^2, and then derive a "
    "closed form for the sum of the first n squares.",
    "Design and implement a concurrent web crawler in Go that respects robots.txt, limits "
    "requests per host, and deduplicates URLs; explain the synchronisation.",
    "Let f be continuous on [0,1] with f(0)=f(1). Prove that for every positive integer n "
    "there exists x with f(x) = f(x + 1/n).",
    "Derive the closed-form solution of ordinary least squares regression and prove that it "
    "minimises the squared error when X has full column rank.",
    "A bag has 5 red, 7 blue and 8 green balls. Three are drawn without replacement. What "
    "is the probability that exactly two share a colour? Show the computation step by step.",
)
# Measured with the shipped model (README, "Free first, per prompt"): the design-and-
# implement code prompts in C and Go rank below the line. In two of the three training
# sources the labels say code-word prompts are average or easy
# (`scripts/code_difficulty.py`), so "implement" lowers the learned difficulty.
HARD_MISSES_ALLOWED = 2

SETUP: list[dict[str, Any]] = [
    {
        "name": "local",
        "model": "ollama/qwen2.5:7b",
        "api_base": "http://127.0.0.1:11434",
        "context_window": 32768,
    },
    {"name": "gpt-4o-mini", "model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"},
    {"name": "claude", "model": "claude-sonnet-4-5", "api_key_env": "ANTHROPIC_API_KEY"},
    {"name": "deepseek", "model": "deepseek-chat", "api_key_env": "DEEPSEEK_API_KEY"},
]


@pytest.fixture(scope="module")
def r() -> router.Router:
    return router.Router(deployments=SETUP)


def _plan(r: router.Router, prompt: str) -> router.Decision:
    return r.plan([{"role": "user", "content": prompt}])


@pytest.mark.parametrize("prompt", EASY)
def test_easy_requests_are_served_free(r: router.Router, prompt: str) -> None:
    d = _plan(r, prompt)
    assert d.chosen is not None, d.rejected
    assert d.chosen.name == "local", d.chosen
    assert d.gain_percentile is not None
    assert d.gain_percentile < 1 - PAID_SHARE
    assert d.chosen.why.startswith("free: paying gains less here than on 70% of traffic")


def test_the_hardest_go_to_a_paid_model(r: router.Router) -> None:
    paid = [p for p in HARD if _plan(r, p).chosen.hosting == "api"]  # type: ignore[union-attr]
    assert len(paid) >= len(HARD) - HARD_MISSES_ALLOWED, [p for p in HARD if p not in paid]
    for p in paid:
        d = _plan(r, p)
        assert d.gain_percentile is not None
        assert d.gain_percentile >= 0.7
        assert d.chosen is not None
        assert d.chosen.why.startswith("worth paying for, top 30%")


def test_hard_prompts_rank_above_easy_ones(r: router.Router) -> None:
    easy = [_plan(r, p).gain_percentile for p in EASY]
    hard = [_plan(r, p).gain_percentile for p in HARD]
    assert all(v is not None for v in easy + hard)
    mean = sum(hard) / len(hard) - sum(easy) / len(easy)  # type: ignore[arg-type]
    assert mean > 0.3, (easy, hard)


def test_paid_share_moves_the_line(r: router.Router) -> None:
    prompt = HARD[0]
    assert _plan(r, prompt).chosen.hosting == "api"  # type: ignore[union-attr]
    none = router.Router(deployments=SETUP, paid_share=0.0)
    assert _plan(none, prompt).chosen.name == "local"  # type: ignore[union-attr]
    everything = router.Router(deployments=SETUP, paid_share=1.0)
    # 1.0: the quality bar decides every request, as before paid_share existed.
    assert _plan(everything, EASY[0]).chosen.hosting == "api"  # type: ignore[union-attr]


def test_paid_share_is_validated() -> None:
    with pytest.raises(router.ConfigError, match="paid_share"):
        router.Router(deployments=SETUP, paid_share=1.5)


def test_paid_share_in_toml(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        '[router]\npaid_share = 0.0\n\n[[deployments]]\nname = "local"\n'
        'model = "ollama/qwen2.5:7b"\napi_base = "http://127.0.0.1:11434"\n'
        "context_window = 32768\n\n"
        '[[deployments]]\nname = "deepseek"\nmodel = "deepseek-chat"\n'
        'api_key_env = "DEEPSEEK_API_KEY"\n',
        encoding="utf-8",
    )
    r = router.Router.from_config(path)
    assert r.settings.paid_share == 0.0
    assert _plan(r, HARD[0]).chosen.name == "local"  # type: ignore[union-attr]
    path.write_text(path.read_text().replace("0.0", '"lots"'), encoding="utf-8")
    with pytest.raises(router.ConfigError, match="paid_share"):
        router.Router.from_config(path)


# --------------------------------------------------------------------- the objective alone


def _dep(name: str, price: float) -> Deployment:
    return Deployment(
        name=name,
        model=name,
        hosting="local" if price == 0 else "api",
        input_usd_per_token=price,
        output_usd_per_token=price,
        context_window=8192,
        weights="open" if price == 0 else "closed",
        quality=0.5,
    )


ITEMS: Sequence[Scored] = (
    Scored(_dep("free-small", 0.0), 0.5, 0.0),
    Scored(_dep("free-big", 0.0), 0.7, 0.0),
    Scored(_dep("cheap", 1e-7), 0.88, 1e-4),
    Scored(_dep("dear", 1e-5), 0.95, 1e-2),
)


def _order(pct: float | None, share: float, target: float = 0.9) -> list[Candidate]:
    return OBJECTIVES["free-first"](ITEMS, Params(target, 0.01, share, pct))


def test_below_the_line_the_best_free_comes_first_then_paid() -> None:
    names = [c.name for c in _order(0.5, 0.3)]
    assert names == ["free-big", "free-small", "cheap", "dear"]


def test_above_the_line_the_quality_bar_decides() -> None:
    assert [c.name for c in _order(0.8, 0.3)][:2] == ["cheap", "dear"]
    # At the line exactly it pays (>=).
    assert _order(0.7, 0.3)[0].name == "cheap"


def test_unknown_difficulty_falls_back_to_the_bar() -> None:
    assert _order(None, 0.3)[0].name == "cheap"
    assert _order(None, 0.0)[0].name == "cheap"


def test_nothing_free_eligible_uses_the_bar() -> None:
    paid = [s for s in ITEMS if s.cost > 0]
    order = OBJECTIVES["free-first"](paid, Params(0.9, 0.01, 0.3, 0.1))
    assert [c.name for c in order] == ["cheap", "dear"]
    assert order[0].why.startswith("cheapest meeting the quality bar")


def test_settings_default() -> None:
    assert Settings().paid_share == PAID_SHARE == 0.3


def test_prior_scorer_keeps_the_old_rule() -> None:
    r = router.Router(deployments=SETUP, scorer=prior_scorer)
    d = _plan(r, EASY[0])
    assert d.gain_percentile is None
    assert d.chosen is not None
    assert d.chosen.hosting == "api"


def test_no_paid_deployment_means_no_gain_to_rank() -> None:
    local_only = router.Router(deployments=SETUP[:1])
    d = _plan(local_only, HARD[0])
    assert d.gain_percentile is None
    assert d.chosen is not None
    assert d.chosen.name == "local"


def test_features_profile_is_the_two_number_encoding(r: router.Router) -> None:
    d = _plan(r, HARD[0])
    assert isinstance(d.features, Features)
    assert len(d.features.profile) == 2


def test_explain_says_why_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "r.toml"
    lines = []
    for d in SETUP:
        lines.append("[[deployments]]")
        lines += [f"{k} = {v!r}" if isinstance(v, int) else f'{k} = "{v}"' for k, v in d.items()]
        lines.append("")
    cfg.write_text("\n".join(lines), encoding="utf-8")
    assert main(["explain", "--config", str(cfg), HARD[0]]) == 0
    out = capsys.readouterr().out
    assert "gain of paying: more than on 72% of reference traffic" in out
    assert 'harder because of: "3", "there are", "primes"' in out
    assert "before the prompt" in out
    assert "harder than usual" in out
    assert main(["explain", "--config", str(cfg), "--json", EASY[2]]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gain_percentile"] < 0.7
    assert doc["quality_why"]["paid_share"] == 0.3
    assert "capital" in doc["quality_why"]["easier_because_of"]


def test_a_profile_of_another_quality_model_is_not_scored(r: router.Router) -> None:
    """A ledger written before the words predictor holds 43-number profiles: replaying
    one must fall back to the priors, not multiply two weights by the first two."""
    d = _plan(r, HARD[0])
    old = d.features.model_copy(update={"profile": tuple(float(i) for i in range(43))})
    deployments = list(r.deployments)
    assert r.scorer(old, deployments) == [x.quality for x in deployments]
    rank = r.scorer.gain_percentile  # type: ignore[attr-defined]
    assert rank(old, deployments[0], deployments[-1], 0.2) is None
