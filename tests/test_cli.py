"""`python -m router explain | check | demo`: output, exit codes, one-line user errors.

Most tests call `router.cli.main` in-process (fast); exits and the demo also run as
real subprocesses, as a user would run them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from router.decision._config import load_config
from router.tools._cli import main
from router.tools._demo import DEMO_CONFIG, SAMPLES

REPO = Path(__file__).resolve().parent.parent
POLICIES = sorted((REPO / "policies").glob("*.toml"))
DEMO = load_config(DEMO_CONFIG).deployments
API_NAMES = {d.name for d in DEMO if d.hosting == "api"}

ONLY_API = """
[[deployments]]
name = "gpt-4o"
model = "gpt-4o"
api_key_env = "OPENAI_API_KEY"
"""


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _explain_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["explain", "--json", *args])
    out = capsys.readouterr().out
    assert code == 0
    data: dict[str, Any] = json.loads(out)
    return data


def test_explain_json_has_ordered_candidates_and_rejections(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _explain_json(capsys, "Say hi")
    candidates, rejected = data["candidates"], data["rejected"]
    assert isinstance(candidates, list)
    assert candidates
    assert all(isinstance(name, str) for name in candidates)
    assert data["chosen"] == candidates[0]
    assert isinstance(rejected, dict)
    assert set(candidates) | set(rejected) == {d.name for d in DEMO}
    assert not set(candidates) & set(rejected)


@pytest.mark.parametrize("level", ["confidential", "restricted"])
def test_explain_sensitive_removes_api_deployments(
    capsys: pytest.CaptureFixture[str], level: str
) -> None:
    data = _explain_json(capsys, "--sensitivity", level, "Summarise the board minutes.")
    assert data["candidates"]
    assert not set(data["candidates"]) & API_NAMES
    assert set(data["rejected"]) >= API_NAMES
    for reasons in data["rejected"].values():
        assert isinstance(reasons, list)
        assert reasons
        assert all(isinstance(r, str) and r for r in reasons)
    assert data["features"]["sensitivity"] == level


def test_explain_detected_card_number_removes_api_deployments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _explain_json(capsys, "Bill card 4111 1111 1111 1111 for the order.")
    assert data["features"]["sensitivity"] == "confidential"
    assert not set(data["candidates"]) & API_NAMES
    assert "4111" not in json.dumps(data)


@pytest.mark.parametrize(
    ("args", "field", "expected"),
    [
        (["--tenant", "finance"], "tenant", "finance"),
        (["--max-tokens", "77"], "max_output_tokens", 77),
        (["--max-tokens", "77"], "output_budget_source", "request"),
        ([], "output_budget_source", "default"),
        (["--tag", "batch", "--tag", "eu"], "tags", ["batch", "eu"]),
        (["--system", "Be terse."], "message_count", 2),
    ],
    ids=["tenant", "max-tokens", "max-tokens-source", "default-budget", "tags", "system"],
)
def test_explain_options_reach_the_features(
    capsys: pytest.CaptureFixture[str], args: list[str], field: str, expected: object
) -> None:
    data = _explain_json(capsys, *args, "Say hi")
    assert data["features"][field] == expected


def test_explain_text_names_the_chosen_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    chosen = _explain_json(capsys, "Say hi")["chosen"]
    assert main(["explain", "Say hi"]) == 0
    out = capsys.readouterr().out
    assert "candidates, in order:" in out
    assert f"1. {chosen} " in out


def test_explain_reads_stdin() -> None:
    out = _run("explain", "--json", "-", stdin="Mail bob.smith@example.org today.")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["features"]["sensitivity"] == "internal"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_explain_nothing_eligible_exits_1_with_rejections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    cfg = tmp_path / "api-only.toml"
    cfg.write_text(ONLY_API, encoding="utf-8")
    flags = ["--json"] if as_json else []
    code = main(["explain", "--config", str(cfg), "--sensitivity", "confidential", *flags, "hi"])
    out = capsys.readouterr().out
    assert code == 1
    if as_json:
        data = json.loads(out)
        assert data["candidates"] == []
        assert data["chosen"] is None
        assert "local/self-hosted" in " ".join(data["rejected"]["gpt-4o"])
    else:
        assert "candidates: none" in out
        assert "rejected:" in out
        assert "gpt-4o" in out.split("rejected:", 1)[1]


def test_explain_nothing_eligible_exit_code_in_subprocess(tmp_path: Path) -> None:
    cfg = tmp_path / "api-only.toml"
    cfg.write_text(ONLY_API, encoding="utf-8")
    out = _run("explain", "--config", str(cfg), "--sensitivity", "restricted", "hi")
    assert out.returncode == 1
    assert "rejected:" in out.stdout
    assert out.stderr == ""


def test_check_valid_config_lists_deployments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DEMO_CONFIG)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {len(DEMO)} deployments")
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == [d.name for d in DEMO]


@pytest.mark.parametrize("path", POLICIES, ids=[p.name for p in POLICIES])
def test_check_every_shipped_policy(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: policy pack ")
    assert "rules:" in out


CLOSED_OWN = """
[[deployments]]
name = "proxy"
model = "gpt-4o"
api_base = "http://127.0.0.1:4000"

[[deployments]]
name = "licensed-gpt"
model = "openai/gpt-4o"
api_base = "http://10.0.0.5:8000/v1"
hosting = "self-hosted"

[[deployments]]
name = "said-local"
model = "openai/my-model"
api_base = "http://127.0.0.1:8080/v1"
hosting = "local"
weights = "closed"
context_window = 8192
"""


def test_check_warns_for_closed_weights_declared_own(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CLOSED_OWN, encoding="utf-8")
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: 3 deployments")
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [
        ["proxy", "api"],  # closed weights on loopback, hosting not written: an API
        ["licensed-gpt", "self-hosted"],
        ["said-local", "local"],
    ]
    warnings = err.splitlines()
    assert [w.split(": ")[3] for w in warnings] == ["deployments[1]", "deployments[2]"]
    for line, (name, hosting) in zip(
        warnings, [("licensed-gpt", "self-hosted"), ("said-local", "local")], strict=True
    ):
        assert line.startswith(f"router: warning: {path}: ")
        assert f"{name!r} has closed weights" in line
        assert f'hosting = "{hosting}", so confidential requests may be sent to it' in line
        assert "run these weights yourself under licence" in line
        assert line.endswith('write hosting = "api"')


def test_check_of_the_demo_config_warns_of_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DEMO_CONFIG)]) == 0
    assert capsys.readouterr().err == ""


def test_policies_folder_is_not_empty() -> None:
    assert {p.stem for p in POLICIES} >= {"free-first", "confidential-local"}


BAD_PACK = 'name = "p"\n[[rules]]\nkind = "block"\nhosting = ["api"]\n'

# (id, files to write, command line with {dir} for the folder, words the error line holds)
USER_ERRORS: list[tuple[str, dict[str, str], list[str], str]] = [
    ("missing-file", {}, ["check", "{dir}/nowhere.toml"], "nowhere.toml: file not found"),
    ("missing-config", {}, ["explain", "--config", "{dir}/nowhere.toml", "hi"], "file not found"),
    ("malformed-toml", {"bad.toml": "[router\n"}, ["check", "{dir}/bad.toml"], "not valid TOML"),
    ("unknown-kind-pack", {"p.toml": BAD_PACK}, ["check", "{dir}/p.toml"],
     "rules[0].kind: unknown rule kind 'block'"),
    ("unknown-kind-config", {"p.toml": BAD_PACK, "c.toml": '[router]\npolicy = "p.toml"\n'
     + ONLY_API}, ["explain", "--config", "{dir}/c.toml", "hi"], "unknown rule kind 'block'"),
    ("bad-sensitivity", {}, ["explain", "--sensitivity", "secret", "hi"],
     "invalid choice: 'secret'"),
    ("max-tokens-zero", {}, ["explain", "--max-tokens", "0", "hi"], "--max-tokens"),
    ("max-tokens-not-int", {}, ["explain", "--max-tokens", "lots", "hi"], "not a positive number"),
    ("no-command", {}, [], "required: command"),
    ("misspelt-policy-var", {"c.toml": '[router]\npolicy = "public-sector"\n'
     'policy_vars = {barred_orgins = ["CN"]}\n' + ONLY_API}, ["check", "{dir}/c.toml"],
     "c.toml: router.policy_vars.barred_orgins: unknown variable: no pack in policy "
     "'public-sector' declares or uses it, so it would change nothing; "
     "did you mean 'barred_origins'?"),
    ("policy-var-wrong-type", {"c.toml": '[router]\npolicy = "public-sector"\n'
     'policy_vars = {barred_origins = "CN"}\n' + ONLY_API}, ["check", "{dir}/c.toml"],
     'c.toml: router.policy_vars.barred_origins: must be a list: rule '
     "'public-sector#3 deny' uses it as origin; write a list, e.g. barred_origins = [\"CN\"]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "argv", "words"),
    [case[1:] for case in USER_ERRORS],
    ids=[case[0] for case in USER_ERRORS],
)
def test_user_error_exits_2_with_one_line(
    tmp_path: Path, files: dict[str, str], argv: list[str], words: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    out = _run(*(a.replace("{dir}", str(tmp_path)) for a in argv))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("router: error: ")
    assert words in lines[0]
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_demo_prints_every_sample_and_the_savings() -> None:
    out = _run("demo")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    rows = [line for line in out.stdout.splitlines() if re.match(r" ?\d{1,2}  \S", line)]
    assert len(rows) == len(SAMPLES)
    for i, (row, sample) in enumerate(zip(rows, SAMPLES, strict=True), 1):
        assert row.split(None, 1)[0] == str(i)
        assert sample.label[:28] in row
    assert f"/{len(SAMPLES)} requests have a plan" in out.stdout
    assert "saved (" in out.stdout
