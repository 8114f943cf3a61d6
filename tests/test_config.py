"""Config and policy packs: bad input gets a ConfigError naming file, key and the fix;
good input loads. Every config is written into `tmp_path` by the test that uses it."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from router import Router
from router.decision._config import load_config
from router.decision._features import DEFAULT_DETECTOR_LEVELS
from router.decision._packs import builtin_policies, load_policy, policy_dir
from router.decision._policy import Allow
from router.errors import ConfigError, UnknownModelError
from router.tools._demo import DEMO_CONFIG

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-proj-Zq81TESTSECRETvalue0000"

GPT4O = """
[[deployments]]
name = "gpt-4o"
model = "gpt-4o"
api_key_env = "OPENAI_API_KEY"
"""

ACME_API = """
[[deployments]]
name = "acme"
model = "acme/frontier-1"
hosting = "api"
weights = "closed"
context_window = 8192
"""

LOCAL = """
[[deployments]]
name = "local"
model = "openai/my-local-model"
api_base = "http://127.0.0.1:8080/v1"
context_window = 8192
"""


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dedent(text), encoding="utf-8")


def _config(folder: Path, text: str, packs: dict[str, str] | None = None) -> Path:
    """Write `router.toml` and the given pack files into `folder`; return the config path."""
    _write(folder, {**(packs or {}), "router.toml": text})
    return folder / "router.toml"


PROMPT = [{"role": "user", "content": "Say hi"}]
PACKED = '[router]\npolicy = "pack.toml"\n' + GPT4O
COST_FIX = "either cost_model or input/output_cost_per_mtok"
SENSITIVITIES = "'public', 'internal', 'confidential' or 'restricted'"
KINDS = "write one of 'local_only', 'deny', 'allow', 'max_cost', 'require'"

# Mistakes in the config file itself: (id, config text, key, words of the fix).
BAD_CONFIG = [
    ("malformed-toml", "[router\npolicy = 'free-first'\n", "", "(at line 1, column"),
    ("misspelled-key", LOCAL.replace("context_", "contex_"), "deployments[0].contex_window",
     "did you mean 'context_window'?"),
    ("misspelled-router-key", '[router]\nobjectiv = "best"\n' + GPT4O, "router.objectiv",
     "did you mean 'objective'?"),
    ("negative-price", LOCAL + "input_cost_per_mtok = -1.0\noutput_cost_per_mtok = 1.0\n",
     "deployments[0].input_cost_per_mtok", "greater than or equal to 0"),
    ("unknown-model-no-window", LOCAL.replace("context_window = 8192", ""),
     "deployments[0].context_window", "write context_window = <tokens>"),
    ("unknown-api-model-no-prices", ACME_API, "deployments[0].input_cost_per_mtok",
     "write input_cost_per_mtok = <USD> and output_cost_per_mtok = <USD>"),
    ("detectors-bad-level", '[detectors]\nemail = "secret"\n' + GPT4O, "detectors.email",
     SENSITIVITIES),
    ("detectors-bad-kind", '[detectors]\nemial = "public"\n' + GPT4O, "detectors.emial",
     "'email', 'phone'"),
    ("literal-api-key", GPT4O + f'api_key = "{SECRET}"\n', "deployments[0].api_key",
     'write api_key_env = "ENV_VAR_NAME"'),
    ("key-in-api-key-env", GPT4O.replace('"OPENAI_API_KEY"', f'"{SECRET}"'),
     "deployments[0].api_key_env", "must name an environment variable"),
    ("duplicate-name", GPT4O + GPT4O.replace('l = "gpt-4o"', 'l = "gpt-4o-mini"'),
     "deployments[1].name", "names must be unique"),
    ("empty-deployments", "deployments = []\n", "deployments", "add a [[deployments]] table"),
    ("no-deployments", "[router]\nquality_target = 0.8\n", "deployments",
     "add a [[deployments]] table"),
    ("policy-file-missing", '[router]\npolicy = "nowhere.toml"\n' + GPT4O, "router.policy",
     "write a shipped name"),
    ("unknown-shipped-policy", '[router]\npolicy = "free-frist"\n' + GPT4O, "router.policy",
     "write one of confidential-local, cost-capped, free-first"),
    ("unknown-baseline", '[router]\nbaseline = "gpt-9000-ultra"\n' + GPT4O, "router.baseline",
     'write e.g. baseline = "gpt-4o"'),
    ("unknown-objective", '[router]\nobjective = "fastest"\n' + GPT4O, "router.objective",
     "'free-first', 'cheapest', 'best' or 'utility'"),
    ("quality-target-above-1", "[router]\nquality_target = 1.5\n" + GPT4O,
     "router.quality_target", "less than or equal to 1"),
    ("quality-target-zero", "[router]\nquality_target = 0\n" + GPT4O, "router.quality_target",
     "greater than 0"),
    ("cost-model-and-prices", LOCAL + 'hosting = "self-hosted"\ninput_cost_per_mtok = 1.0\n'
     "output_cost_per_mtok = 2.0\ncost_model = { usd_per_hour = 2, output_tokens_per_second = 9 }",
     "deployments[0].cost_model", COST_FIX),
]  # fmt: skip

# Mistakes in a policy pack (`pack.toml`, the config's policy):
# (id, pack body after its name, other files, file the error names, key, words of the fix).
BAD_PACK = [
    ("unknown-rule-kind", '[[rules]]\nkind = "block"\nhosting = ["api"]', {}, "pack.toml",
     "rules[0].kind", KINDS),
    ("rule-without-kind", '[[rules]]\nhosting = ["api"]', {}, "pack.toml", "rules[0].kind",
     "a rule needs kind = one of"),
    ("misspelled-rule-key", '[[rules]]\nkind = "deny"\nhostin = ["api"]', {}, "pack.toml",
     "rules[0].hostin", "did you mean 'hosting'?"),
    ("rule-bad-sensitivity", '[[rules]]\nkind = "local_only"\nmin_sensitivity = "secret"', {},
     "pack.toml", "rules[0].min_sensitivity", SENSITIVITIES),
    ("include-dotdot", 'include = ["sub/../../other.toml"]', {}, "pack.toml", "include[0]",
     "no absolute paths, no '..'"),
    ("include-absolute", 'include = ["/etc/other.toml"]', {}, "pack.toml", "include[0]",
     "no absolute paths, no '..'"),
    ("include-cycle", 'include = ["b.toml"]', {"b.toml": 'name = "b"\ninclude = ["pack.toml"]'},
     "b.toml", "include[0]", "include cycle: pack.toml -> b.toml -> pack.toml"),
    ("include-missing", 'include = ["nowhere.toml"]', {}, "pack.toml", "include[0]",
     "'nowhere.toml' not found"),
    ("undefined-var", '[[rules]]\nkind = "max_cost"\nusd = "${cap}"', {}, "pack.toml",
     "rules[0].usd", "undefined variable 'cap'; define it under [vars]"),
]  # fmt: skip


def _assert_names_file_key_fix(err: ConfigError, file: str, key: str, fix: str) -> None:
    message = str(err)
    assert Path(err.source).name == file
    assert message.startswith(err.source)
    assert err.key == key
    assert (f": {key}: " in message) == bool(key)
    assert fix in message


@pytest.mark.parametrize(
    ("text", "key", "fix"), [c[1:] for c in BAD_CONFIG], ids=[c[0] for c in BAD_CONFIG]
)
def test_bad_config_names_file_key_and_fix(tmp_path: Path, text: str, key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, text))
    _assert_names_file_key_fix(info.value, "router.toml", key, fix)


@pytest.mark.parametrize(
    ("body", "files", "file", "key", "fix"),
    [c[1:] for c in BAD_PACK],
    ids=[c[0] for c in BAD_PACK],
)
def test_bad_policy_pack_names_file_key_and_fix(
    tmp_path: Path, *, body: str, files: dict[str, str], file: str, key: str, fix: str
) -> None:
    path = _config(tmp_path, PACKED, {**files, "pack.toml": f'name = "p"\n{body}\n'})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    _assert_names_file_key_fix(info.value, file, key, fix)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (LOCAL.replace("context_window = 8192", ""), "deployments[0].context_window"),
        (ACME_API, "deployments[0].input_cost_per_mtok"),
    ],
    ids=["no-context-window", "api-without-prices"],
)
def test_unknown_model_is_its_own_error_type(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(UnknownModelError) as info:
        load_config(_config(tmp_path, text))
    assert info.value.key == key


@pytest.mark.parametrize(
    "text",
    [GPT4O + f'api_key = "{SECRET}"\n', GPT4O.replace('"OPENAI_API_KEY"', f'"{SECRET}"')],
    ids=["api_key", "api_key_env"],
)
def test_secret_value_never_echoed(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, text))
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert "api_key_env" in str(info.value)


def test_relative_policy_path_resolves_from_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_dir = tmp_path / "conf"
    pack = 'name = "mine"\n[[rules]]\nkind = "deny"\nvendor = ["acme"]\n'
    path = _config(
        cfg_dir, '[router]\npolicy = "packs/mine.toml"\n' + GPT4O, {"packs/mine.toml": pack}
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "conf" / "router.toml")
    assert cfg.policy.name == "mine"
    assert len(cfg.policy.rules) == 1
    assert load_config(path).policy.fingerprint == cfg.policy.fingerprint


def _allow_regions(policy_vars: str, tmp_path: Path) -> set[tuple[str, ...] | None]:
    text = f'[router]\npolicy = "public-sector"\n{policy_vars}\n' + GPT4O
    cfg = load_config(_config(tmp_path, text))
    return {rule.region for _, rule in cfg.policy.rules if isinstance(rule, Allow)}


@pytest.mark.parametrize(
    ("policy_vars", "region"),
    [
        ("", ("eu-*",)),
        ('policy_vars = { allowed_regions = ["us", "ca"] }', ("us", "ca")),
    ],
    ids=["pack-default", "override"],
)
def test_policy_vars_override_pack_vars(
    tmp_path: Path, policy_vars: str, region: tuple[str, ...]
) -> None:
    assert region in _allow_regions(policy_vars, tmp_path)


def test_policy_vars_decide_the_plan(tmp_path: Path) -> None:
    text = '[router]\npolicy = "public-sector"\npolicy_vars = { allowed_regions = ["us"] }\n'
    us = GPT4O + 'region = "us"\n'
    eu = GPT4O.replace('"gpt-4o"\nmodel', '"gpt-4o-eu"\nmodel') + 'region = "eu-west"\n'
    r = Router.from_config(_config(tmp_path, text + us + eu))
    decision = r.plan(PROMPT)
    assert [c.name for c in decision.candidates] == ["gpt-4o"]
    assert [x.name for x in decision.rejected] == ["gpt-4o-eu"]


def test_detectors_override_is_merged_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, '[detectors]\nemail = "public"\n' + GPT4O))
    levels = cfg.settings.detector_levels
    assert levels["email"] == "public"
    assert {k: v for k, v in levels.items() if k != "email"} == {
        k: v for k, v in DEFAULT_DETECTOR_LEVELS.items() if k != "email"
    }


@pytest.mark.parametrize(
    ("detectors", "expected"),
    [("", "internal"), ('[detectors]\nemail = "public"\n', "public")],
    ids=["default-raises", "override-lowers"],
)
def test_detectors_override_is_honoured_by_plan(
    tmp_path: Path, detectors: str, expected: str
) -> None:
    r = Router.from_config(_config(tmp_path, detectors + GPT4O))
    prompt = "Forward the notes to bob.smith@example.org please."
    decision = r.plan([{"role": "user", "content": prompt}])
    assert [d.kind for d in decision.features.detections] == ["email"]
    assert decision.features.sensitivity == expected


def test_demo_config_loads() -> None:
    cfg = load_config(DEMO_CONFIG)
    assert len(cfg.deployments) >= 3
    assert cfg.baseline == "gpt-4o"
    assert {d.hosting for d in cfg.deployments} == {"local", "self-hosted", "api"}


@pytest.mark.parametrize(
    "path",
    sorted((REPO / "examples").glob("*.toml")),
    ids=lambda p: p.name,
)
def test_every_example_config_loads(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.deployments
    assert cfg.source == str(path)


@pytest.mark.parametrize("name", builtin_policies())
def test_every_shipped_policy_loads_by_name_and_path(name: str) -> None:
    by_name = load_policy(name)
    by_path = load_policy(policy_dir() / f"{name}.toml")
    assert by_name.fingerprint == by_path.fingerprint
    assert by_name.name == name
