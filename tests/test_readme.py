"""The README's examples run: Python blocks execute, TOML blocks validate."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from router.decision._config import load_config
from router.decision._packs import load_policy

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.DOTALL)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
TOML = [code for lang, code in BLOCKS if lang == "toml"]


def test_readme_has_examples() -> None:
    assert len(PYTHON) >= 3
    assert len(TOML) >= 7
    assert "make demo" in README
    assert "make test" in README


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_block_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert "router" in namespace


def test_ten_line_example_is_ten_lines() -> None:
    first = PYTHON[0].strip().splitlines()
    assert len(first) <= 10


def test_ten_line_example_prints_what_it_says(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(PYTHON[0], "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "local-qwen 0.0"
    assert out[1].startswith("confidential [")
    assert "gpt-4o" in out[2]


@pytest.mark.parametrize("code", TOML, ids=[f"toml-{i}" for i in range(len(TOML))])
def test_toml_block_is_valid(code: str, tmp_path: Path) -> None:
    data = tomllib.loads(code)
    if "deployments" in data:
        path = tmp_path / "router.toml"
        path.write_text(code, encoding="utf-8")
        cfg = load_config(path)
        assert cfg.deployments
        return
    # A pack, or a fragment of one: wrap rule fragments into a pack and load it.
    shipped = load_policy("public-sector").name
    assert shipped == "public-sector"
    text = code
    if "name" not in data:
        text = 'name = "readme"\n' + code
    if "include" in data:
        (tmp_path / "public-sector.toml").write_text(
            (ROOT / "policies" / "public-sector.toml").read_text(encoding="utf-8"),
            encoding="utf-8",
        )
        (tmp_path / "confidential-local.toml").write_text(
            (ROOT / "policies" / "confidential-local.toml").read_text(encoding="utf-8"),
            encoding="utf-8",
        )
    path = tmp_path / "pack.toml"
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    assert policy.rules
