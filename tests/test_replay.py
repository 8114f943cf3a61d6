"""`python -m router replay`: recorded traffic re-planned under another config, from the
recorded features only (no model called, no prompt text needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import router
from router.serving._executor import RetryPolicy
from router.testing import FaultServer, ok
from router.tools._cli import main

KEY_ENV = "ROUTER_TEST_REPLAY_KEY"
PROMPTS = ["Summarise our meeting notes please", "Write a haiku about the sea", "What is 2+2?"]

CHEAP_CONFIG = """
[router]
objective = "free-first"
baseline = "gpt-4o"
quality_target = 0.5

[[deployments]]
name = "local"
model = "openai/a"
api_base = "{local}"
hosting = "local"
context_window = 8192
quality = 0.6

[[deployments]]
name = "api"
model = "openai/x"
api_base = "{api}"
hosting = "api"
weights = "closed"
api_key_env = "ROUTER_TEST_REPLAY_KEY"
context_window = 8192
input_cost_per_mtok = 10
output_cost_per_mtok = 10
quality = 0.95
"""

TINY_LOCAL_ONLY = """
[router]
baseline = "gpt-4o"

[[deployments]]
name = "tiny"
model = "openai/a"
hosting = "local"
context_window = 64
quality = 0.6
"""


@pytest.fixture
def ledger(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Six requests served by the API (objective best), 50 + 100 tokens each at $10/M."""
    monkeypatch.setenv(KEY_ENV, "sk-test")
    local, api = servers
    api.script(*[ok("answer", prompt_tokens=50, completion_tokens=100)] * 6)
    path = tmp_path / "ledger.sqlite"
    r = router.Router(
        deployments=[
            {"name": "local", "model": "openai/a", "api_base": local.base_url,
             "hosting": "local", "context_window": 8192, "quality": 0.6},
            {"name": "api", "model": "openai/x", "api_base": api.base_url, "hosting": "api",
             "weights": "closed", "api_key_env": KEY_ENV, "context_window": 8192,
             "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95},
        ],
        objective="best",
        baseline="gpt-4o",
        retry=RetryPolicy(attempts=1),
        ledger=path,
    )  # fmt: skip
    for prompt in PROMPTS * 2:
        r.complete([{"role": "user", "content": prompt}], max_tokens=200)
    assert local.requests == []
    return path


def write(tmp_path: Path, text: str, servers: tuple[FaultServer, FaultServer]) -> Path:
    local, api = servers
    path = tmp_path / "new.toml"
    path.write_text(text.format(local=local.base_url, api=api.base_url))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_free_first_config_moves_everything_to_the_free_model(
    ledger: Path,
    tmp_path: Path,
    servers: tuple[FaultServer, FaultServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write(tmp_path, CHEAP_CONFIG, servers)
    code, out, _ = run(capsys, "replay", "--ledger", str(ledger), "--config", str(config), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["requests"] == 6
    assert report["recorded_spend_usd"] == pytest.approx(6 * 0.0015)
    assert report["estimated_spend_usd"] == 0
    assert report["estimated_baseline_usd"] == pytest.approx(6 * (50 * 2.5e-6 + 100 * 1e-5))
    assert report["estimated_saved_pct"] == pytest.approx(100)
    assert report["moved"] == 6
    assert report["moves"] == [{"from": "api", "to": "local", "requests": 6}]
    assert servers[0].requests == []  # nothing was called
    assert len(servers[1].requests) == 6  # only the six recorded calls


def test_a_config_that_cannot_serve_says_how_many_and_why(
    ledger: Path,
    tmp_path: Path,
    servers: tuple[FaultServer, FaultServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write(tmp_path, TINY_LOCAL_ONLY, servers)
    code, out, _ = run(capsys, "replay", "--ledger", str(ledger), "--config", str(config))
    assert code == 0
    assert "would be unservable   6" in out
    assert "exceeds context window" in out
    assert "Estimated:" in out


def test_bad_inputs_are_one_line_errors_and_change_nothing(
    tmp_path: Path, servers: tuple[FaultServer, FaultServer], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, CHEAP_CONFIG, servers)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    before = hashlib.sha256(text.read_bytes()).hexdigest()
    code, _, err = run(capsys, "replay", "--ledger", str(text), "--config", str(config))
    assert code == 2
    assert err.startswith("router: error: ")
    assert str(text) in err
    assert hashlib.sha256(text.read_bytes()).hexdigest() == before
    missing = tmp_path / "missing.sqlite"
    code, _, err = run(capsys, "replay", "--ledger", str(missing), "--config", str(config))
    assert code == 2
    assert "no such ledger" in err
    assert not missing.exists()
    code, _, err = run(capsys, "replay", "--ledger", str(text), "--config", str(tmp_path / "x"))
    assert code == 2
    assert "file not found" in err
