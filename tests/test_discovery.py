"""Issue 15: what the router knows, without reading its source.

`python -m router catalog [--json] [MODEL-GLOB]` lists models (prices per 1M tokens,
context window, capabilities, provenance) and families; `python -m router packs [NAME]`
lists the shipped policy packs with their rules and variables; `check` and `explain`
show each deployment's vendor, origin, region, hosting and weights, as text and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from router.decision._catalog import families, lookup, models
from router.decision._config import load_config
from router.decision._packs import builtin_policies
from router.tools._cli import main
from router.tools._demo import DEMO_CONFIG

PROVENANCE = ("vendor", "origin", "region", "hosting", "weights")


def _out(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 0) -> str:
    assert main(argv) == code
    return capsys.readouterr().out


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(_out([*argv, "--json"], capsys))


# -- catalog ----------------------------------------------------------------------------


def test_catalog_glob_lists_matching_models_with_prices_per_million(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _out(["catalog", "gpt-4o-mini*"], capsys)
    assert "USD per 1M tokens" in out
    line = next(x for x in out.splitlines() if x.split()[:1] == ["gpt-4o-mini"])
    assert "$0.1500" in line
    assert "$0.6000" in line
    assert "128,000" in line
    assert "tools" in line
    assert "openai" in line
    assert "US" in line
    assert "closed" in line


def test_catalog_json_has_every_fact(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(["catalog", "gpt-4o"], capsys)
    (model,) = doc["models"]
    facts = lookup("gpt-4o")
    assert facts is not None
    assert facts.input_usd_per_token is not None
    assert model["model"] == "gpt-4o"
    assert model["input_usd_per_mtok"] == pytest.approx(facts.input_usd_per_token * 1e6)
    assert model["context_window"] == facts.context_window
    assert set(model["capabilities"]) == set(facts.capabilities)
    for key in (*PROVENANCE, "license", "family", "quality_prior"):
        assert key in model
    assert model["vendor"] == "openai"
    assert model["weights"] == "closed"
    assert len(doc["families"]) == len(families())


def test_catalog_glob_matches_provider_qualified_names() -> None:
    assert [m.key for m in models("openai/gpt-4o")] == ["gpt-4o"]
    assert all(m.key.startswith("deepseek") or "deepseek" in m.key for m in models("deepseek/*"))
    assert models("GPT-4O") == models("gpt-4o")  # case-insensitive


def test_catalog_without_glob_lists_families(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(["catalog"], capsys)
    assert f"{len(families())} model families" in out
    assert "python -m router catalog 'gpt-4o*'" in out
    for fam in families()[:3]:
        assert ", ".join(fam.match) in out


def test_catalog_no_match_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert "no chat model" in _out(["catalog", "no-such-model-*"], capsys, code=1)


# -- packs ------------------------------------------------------------------------------


def test_packs_lists_every_shipped_pack(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(["packs"], capsys)
    for name in builtin_policies():
        assert f"{name}: " in out
    assert 'allowed_regions = ["eu-*"]' in out  # public-sector's variables and defaults


def test_packs_name_shows_rules_and_variables(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(["packs", "public-sector"], capsys)
    assert "rules, in order:" in out
    assert "confidential-local#1 local_only (confidential-local.toml)" in out
    assert 'public-sector#3 deny (public-sector.toml): kind = "deny", origin = ' in out
    assert "barred_origins = []" in out


def test_packs_json(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(["packs", "cost-capped"], capsys)
    assert doc["name"] == "cost-capped"
    assert doc["vars"] == {"max_usd_per_request": 0.02}
    assert [r["label"] for r in doc["rules"]] == [
        "confidential-local#1 local_only", "cost-capped#1 max_cost", "cost-capped#2 deny"
    ]  # fmt: skip
    assert doc["rules"][1]["usd"] == "${max_usd_per_request}"
    assert doc["unscannable"] == "confidential"
    assert len(_json(["packs"], capsys)) == len(builtin_policies())


def test_packs_unknown_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["packs", "free-frist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no shipped policy named 'free-frist'" in err


# -- provenance in check and explain ----------------------------------------------------


def test_check_text_shows_provenance_per_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(["check", str(DEMO_CONFIG)], capsys)
    row = next(x for x in out.splitlines() if x.split()[:1] == ["deepseek-chat"])
    assert row.split()[1:9] == [
        "api", "open", "vendor", "deepseek", "origin", "CN", "region", "cn"
    ]  # fmt: skip
    for line in out.splitlines()[1:]:
        assert " vendor " in line
        assert " origin " in line
        assert " region " in line


def test_check_json_shows_provenance_per_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(["check", str(DEMO_CONFIG)], capsys)
    cfg = load_config(DEMO_CONFIG)
    assert doc["ok"] is True
    assert doc["policy"] == cfg.policy.name
    assert list(doc["deployments"]) == [d.name for d in cfg.deployments]
    for d in cfg.deployments:
        for key in PROVENANCE:
            assert doc["deployments"][d.name][key] == getattr(d, key)


def test_explain_shows_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    text = _out(["explain", "--config", str(DEMO_CONFIG), "hello"], capsys)
    assert "\ndeployments:\n" in text
    assert "mistral" in text
    assert "FR" in text
    assert "eu-west" in text
    doc = _json(["explain", "--config", str(DEMO_CONFIG), "hello"], capsys)
    assert "chosen" in doc
    assert "candidates" in doc
    gpt = doc["deployments"]["gpt-4o"]
    assert {k: gpt[k] for k in PROVENANCE} == {
        "vendor": "openai", "origin": "US", "region": "us", "hosting": "api", "weights": "closed"
    }  # fmt: skip


def test_check_json_of_a_config_without_region(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "router.toml"
    path.write_text('[[deployments]]\nname = "g"\nmodel = "gpt-4o"\n', encoding="utf-8")
    assert _json(["check", str(path)], capsys)["deployments"]["g"]["region"] is None
    assert " ? " in _out(["check", str(path)], capsys)  # unknown region shows as ?
