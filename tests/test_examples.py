"""Every example script runs and every example config loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from router.decision._config import load_config

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))
CONFIGS = sorted((ROOT / "examples").glob("*.toml"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_script_runs(script: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


@pytest.mark.parametrize("config", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_config_loads(config: Path) -> None:
    assert load_config(config).deployments


def test_quickstart_routes_as_documented() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert out[0].split()[2] == "local-qwen"
    assert "gpt-4o" not in out[1]
    assert out[2].split()[3] != "local-qwen"
