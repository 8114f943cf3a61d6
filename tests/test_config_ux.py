"""Issue 15: config mistakes are reported once, in the file's own terms.

`check` fails for every config a Router would refuse at construction, naming the file
and the TOML key; an unknown model's missing facts come in one error; a string where a
list is wanted shows the list to write; a misspelt top-level table gets a did-you-mean;
docs/config.md is what scripts/config_reference.py generates; `--version` works and the
help says `python -m router X`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from textwrap import dedent
from types import ModuleType

import pytest

from router.decision._config import load_config
from router.errors import ConfigError, UnknownModelError
from router.tools._cli import main, version

REPO = Path(__file__).resolve().parent.parent

GPT4O = """
[[deployments]]
name = "gpt-4o"
model = "gpt-4o"
"""


def _config(folder: Path, text: str) -> Path:
    path = folder / "router.toml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- check runs what construction runs, in TOML terms ---------------------------------

# (id, config text, key, words the error must hold)
WIRING = [
    ("budgets-without-ledger", GPT4O + '[[budgets]]\ntenant = "*"\nperiod = "day"\nusd = 5\n',
     "budgets", '[[budgets]] needs [router] ledger = "ledger.sqlite" (budgets are counted in '
     "the ledger)"),
    ("cache-without-redis", "[router]\ncache = true\n" + GPT4O, "router.cache",
     'also write state = "redis://127.0.0.1:6379/0" under [router]'),
    ("calibration-missing", '[router]\ncalibration = "cal.json"\n' + GPT4O,
     "router.calibration", "python -m router calibrate"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "key", "words"), [c[1:] for c in WIRING], ids=[c[0] for c in WIRING]
)
def test_check_fails_where_construction_would_in_toml_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, words: str
) -> None:
    path = _config(tmp_path, text)
    code, out, err = _check(path, capsys)
    assert code == 2
    assert out == ""
    assert err == f"router: error: {path}: {key}: " + err.split(f"{key}: ", 1)[1]
    assert words in err
    assert "Router(...)" not in err
    assert "ledger='PATH'" not in err
    assert "cache=True" not in err
    # explain (which builds the Router) fails with the very same line
    assert main(["explain", "--config", str(path), "hi"]) == 2
    assert capsys.readouterr().err == err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["router.toml"]  # nothing created


def test_budgets_with_a_ledger_pass_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[router]\nledger = "ledger.sqlite"\n' + GPT4O
    path = _config(tmp_path, text + '[[budgets]]\ntenant = "*"\nperiod = "day"\nusd = 5\n')
    code, out, _ = _check(path, capsys)
    assert code == 0
    assert out.startswith("ok: 1 deployments")
    assert not (tmp_path / "ledger.sqlite").exists()  # check opens no ledger


def test_the_python_constructor_keeps_its_python_message() -> None:
    from router import Router  # noqa: PLC0415

    with pytest.raises(ConfigError) as info:
        Router(
            [{"name": "g", "model": "gpt-4o"}],
            budgets=[{"tenant": "*", "period": "day", "usd": 5}],
        )
    assert info.value.source == "Router(...)"
    assert "ledger='PATH'" in str(info.value)


# -- an unknown model: every missing fact at once --------------------------------------

UNKNOWN_API = """
[[deployments]]
name = "gpt-4o"
model = "gpt-4o"

[[deployments]]
name = "mystery"
model = "acme/mystery-9000"
api_base = "https://api.acme.example/v1"
hosting = "api"
"""


def test_unknown_model_reports_every_missing_key_at_once(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError) as info:
        load_config(_config(tmp_path, UNKNOWN_API))
    err = info.value
    assert err.source.endswith("router.toml")
    assert err.key == "deployments[1].weights"  # the first; the message has them all
    message = str(err)
    assert "3 keys are missing from deployments[1]" in message
    for fix in (
        'write weights = "open" or "closed"',
        "write context_window = <tokens> (e.g. 32768)",
        "write input_cost_per_mtok = <USD> and output_cost_per_mtok = <USD>",
    ):
        assert fix in message


def test_one_round_of_fixes_is_enough(tmp_path: Path) -> None:
    fixed = UNKNOWN_API + (
        'weights = "closed"\ncontext_window = 32768\n'
        "input_cost_per_mtok = 0.5\noutput_cost_per_mtok = 1.5\n"
    )
    cfg = load_config(_config(tmp_path, fixed))
    assert cfg.deployments[1].input_usd_per_token == pytest.approx(0.5e-6)


def test_unknown_hosting_says_what_an_api_would_also_need(tmp_path: Path) -> None:
    text = UNKNOWN_API.replace('hosting = "api"\n', "")
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, text))
    assert info.value.key == "deployments[1].hosting"
    message = str(info.value)
    assert 'write hosting = "local", "self-hosted" or "api"' in message
    assert "write context_window = <tokens>" in message
    assert 'if hosting = "api", also write weights = "open" or "closed" and ' in message


# -- a string where a list is wanted, and the reverse ---------------------------------


def test_a_string_for_a_list_in_a_pack_shows_the_list(tmp_path: Path) -> None:
    (tmp_path / "pack.toml").write_text(
        'name = "mine"\n[[rules]]\nkind = "deny"\norigin = "CN"\n', encoding="utf-8"
    )
    path = _config(tmp_path, '[router]\npolicy = "pack.toml"\n' + GPT4O)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "rules[0].origin"
    assert 'write a list: origin = ["CN"]' in str(info.value)


def test_a_string_for_capabilities_shows_the_list(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, GPT4O + 'capabilities = "tools"\n'))
    assert 'write a list: capabilities = ["tools"]' in str(info.value)


def test_a_list_for_one_region_shows_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, GPT4O + 'region = ["eu-west"]\n'))
    assert info.value.key == "deployments[0].region"
    assert 'write one value, not a list: region = "eu-west"' in str(info.value)


# -- unknown top-level tables and keys --------------------------------------------------

TOP = [
    ("singular-deployment", GPT4O.replace("[[deployments]]", "[[deployment]]"), "deployment",
     "unknown table [[deployment]]; did you mean 'deployments'? write [[deployments]]"),
    ("singular-budget", GPT4O + '[[budget]]\ntenant = "*"\n', "budget",
     "did you mean 'budgets'? write [[budgets]]"),
    ("misspelt-router", '[routre]\npolicy = "free-first"\n' + GPT4O, "routre",
     "unknown table [routre]; did you mean 'router'? write [router]"),
    ("router-key-at-top", 'policy = "free-first"\n' + GPT4O, "policy",
     "belongs in the [router] table"),
    ("unrelated", "[colours]\nred = 1\n" + GPT4O, "colours", "known keys: router, detectors"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "words"), [c[1:] for c in TOP], ids=[c[0] for c in TOP])
def test_unknown_top_level_gets_a_did_you_mean(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, text))
    assert info.value.source.endswith("router.toml")
    assert info.value.key == key
    assert words in str(info.value)
    assert "give at least one deployment" not in str(info.value)


# -- docs/config.md is generated -------------------------------------------------------


def _reference_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "config_reference", REPO / "scripts" / "config_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_config_md_is_what_the_script_generates() -> None:
    committed = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == _reference_script().render(), (
        "docs/config.md is stale: run python scripts/config_reference.py"
    )


def test_docs_config_md_covers_every_table_and_key() -> None:
    from router.decision._budgets import Budget  # noqa: PLC0415
    from router.decision._catalog import DeploymentSpec  # noqa: PLC0415
    from router.decision._server import ClientKey, ModelRoute, ServerSettings  # noqa: PLC0415
    from router.decision._settings import (  # noqa: PLC0415
        CooldownSettings,
        RetrySettings,
        RouterConfig,
        RouterSection,
    )
    from router.decision._verify import CascadeSettings  # noqa: PLC0415
    from router.state.settings import StateSettings  # noqa: PLC0415

    text = _reference_script().render()
    for heading in ("[router]", "[detectors]", "[cascade]", "[state]", "[retry]", "[cooldown]",
                    "[[deployments]]", "[[budgets]]", "[server]", "[[server.keys]]",
                    "[[server.models]]"):  # fmt: skip
        assert f"## `{heading}`" in text
    assert set(RouterConfig.model_fields) == {
        "router", "detectors", "cascade", "state", "retry", "cooldown", "deployments", "budgets",
        "server",
    }  # fmt: skip
    models = (RouterSection, DeploymentSpec, Budget, CascadeSettings, StateSettings,
              RetrySettings, CooldownSettings, ServerSettings, ClientKey, ModelRoute)  # fmt: skip
    for model in models:
        for name in model.model_fields:
            row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
            assert row.split(" | ")[-1].strip(" |"), f"{model.__name__}.{name} has no text"


def test_the_script_check_mode_passes_on_the_committed_file() -> None:
    assert _reference_script().main(["--check"]) == 0


# -- --version and usage ---------------------------------------------------------------


def test_version_prints_router_and_the_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "router", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == f"router {version()}\n"
    assert version() != "unknown"
    import tomllib  # noqa: PLC0415

    with (REPO / "pyproject.toml").open("rb") as f:
        assert version() == tomllib.load(f)["project"]["version"]


def test_version_falls_back_to_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata  # noqa: PLC0415

    def missing(_: str) -> str:
        raise importlib.metadata.PackageNotFoundError("router")

    monkeypatch.setattr(importlib.metadata, "version", missing)
    import tomllib  # noqa: PLC0415

    with (REPO / "pyproject.toml").open("rb") as f:
        assert version() == tomllib.load(f)["project"]["version"]


@pytest.mark.parametrize("argv", [["-h"], ["check", "-h"], ["catalog", "-h"], ["packs", "-h"]])
def test_usage_says_python_m_router(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    usage = capsys.readouterr().out
    assert usage.startswith("usage: python -m router")
    assert "usage: router " not in usage
