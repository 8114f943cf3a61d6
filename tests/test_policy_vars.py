"""`[router] policy_vars` cannot silently weaken a policy: a name no pack declares or
uses is an error with a did-you-mean, and a value of the wrong type names the user's
config file and `router.policy_vars.<name>`, never the shipped pack, never the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from router import Router
from router.decision._config import load_config
from router.decision._packs import load_policy
from router.errors import ConfigError

# A value that looks like a key: it must never appear in an error message.
SECRET = "sk-" + "proj-" + "Qv7TESTvalue" + "0000"

DEPLOYMENTS = """
[[deployments]]
name = "gpt-4o"
model = "gpt-4o"
api_key_env = "OPENAI_API_KEY"
region = "eu-west"

[[deployments]]
name = "deepseek-chat"
model = "deepseek/deepseek-chat"
api_key_env = "DEEPSEEK_API_KEY"
region = "eu-west"
"""

# A pack of the user's own that uses a variable it does not declare (the config gives it).
OWN_PACK = 'name = "own"\n[[rules]]\nkind = "allow"\nregion = ["${home}"]\n'


def _config(tmp_path: Path, policy: str, policy_vars: str) -> Path:
    (tmp_path / "own.toml").write_text(OWN_PACK, encoding="utf-8")
    path = tmp_path / "router.toml"
    text = f'[router]\npolicy = "{policy}"\npolicy_vars = {policy_vars}\n' + DEPLOYMENTS
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, policy: str, policy_vars: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, policy, policy_vars))
    return info.value


# (id, policy, policy_vars, the variable named in the key, words of the fix)
UNKNOWN = [
    ("misspelt", "public-sector", '{barred_orgins = ["CN"]}', "barred_orgins",
     "did you mean 'barred_origins'?"),
    ("misspelt-in-an-including-pack", "cost-capped", "{max_usd_per_reqest = 0.01}",
     "max_usd_per_reqest", "did you mean 'max_usd_per_request'?"),
    ("nothing-close", "public-sector", "{colour = 1}", "colour",
     "known variables: allowed_regions, barred_origins, barred_vendors"),
    ("pack-without-variables", "free-first", '{barred_origins = ["CN"]}', "barred_origins",
     "policy 'free-first' has no variables, so it would change nothing; remove this key"),
    ("misspelt-used-not-declared", "own.toml", '{hom = "eu-west"}', "hom",
     "did you mean 'home'?"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "policy_vars", "name", "fix"), [c[1:] for c in UNKNOWN], ids=[c[0] for c in UNKNOWN]
)
def test_unknown_policy_var_is_an_error_naming_the_config(
    tmp_path: Path, policy: str, policy_vars: str, name: str, fix: str
) -> None:
    err = _error(tmp_path, policy, policy_vars)
    assert err.source == str(tmp_path / "router.toml")
    assert err.key == f"router.policy_vars.{name}"
    assert str(err).startswith(f"{err.source}: router.policy_vars.{name}: unknown variable")
    assert fix in str(err)


def test_misspelt_var_no_longer_lets_a_barred_origin_through(tmp_path: Path) -> None:
    # The case: with `barred_orgins` the pack's `barred_origins = []` applied and
    # the Chinese-origin deployment served the gov tenant. Spelt right, it is denied.
    with pytest.raises(ConfigError, match="did you mean 'barred_origins'"):
        load_config(_config(tmp_path, "public-sector", '{barred_orgins = ["CN"]}'))
    r = Router.from_config(_config(tmp_path, "public-sector", '{barred_origins = ["CN"]}'))
    decision = r.plan([{"role": "user", "content": "Say hi"}], tenant="gov")
    assert "deepseek-chat" in {x.name for x in decision.rejected}
    assert "deepseek-chat" not in {c.name for c in decision.candidates}


@pytest.mark.parametrize(
    ("policy", "policy_vars"),
    [
        ("public-sector", '{barred_origins = ["CN"], allowed_regions = ["eu-*", "ch-*"]}'),
        ("cost-capped", "{max_usd_per_request = 0.5}"),
        ("own.toml", '{home = "eu-west"}'),
    ],
    ids=["declared", "declared-by-the-pack-itself", "used-but-not-declared"],
)
def test_known_policy_vars_load(tmp_path: Path, policy: str, policy_vars: str) -> None:
    assert load_config(_config(tmp_path, policy, policy_vars)).policy.rules


# (id, policy, policy_vars, the variable named in the key, words of the fix)
WRONG_TYPE = [
    ("string-for-a-list", "public-sector", '{barred_origins = "CN"}', "barred_origins",
     "must be a list: rule 'public-sector#3 deny' uses it as origin; "
     'write a list, e.g. barred_origins = ["CN"]'),
    ("secret-for-a-list", "public-sector", f'{{barred_vendors = "{SECRET}"}}', "barred_vendors",
     'write a list, e.g. barred_vendors = ["acme"]'),
    ("number-in-a-list", "public-sector", '{allowed_regions = ["eu-*", 5]}', "allowed_regions",
     'must be a list of strings: rule \'public-sector#1 allow\' uses it as region; '
     'write e.g. allowed_regions = ["eu-*"]'),
    ("table-for-a-list", "public-sector", "{allowed_regions = {eu = true}}", "allowed_regions",
     "must be a list"),
    ("word-for-a-number", "cost-capped", '{max_usd_per_request = "lots"}', "max_usd_per_request",
     "must be a number: rule 'cost-capped#1 max_cost' uses it as usd; "
     "write a number, e.g. max_usd_per_request = 0.02"),
    ("negative-number", "cost-capped", "{max_usd_per_request = -1}", "max_usd_per_request",
     "must be greater than or equal to 0"),
    ("list-for-one-item", "own.toml", '{home = ["eu-west"]}', "home",
     'must be a string: rule \'own#1 allow\' uses it as region; write e.g. home = "eu-*"'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "policy_vars", "name", "fix"),
    [c[1:] for c in WRONG_TYPE],
    ids=[c[0] for c in WRONG_TYPE],
)
def test_wrong_type_from_policy_vars_names_the_config_key(
    tmp_path: Path, policy: str, policy_vars: str, name: str, fix: str
) -> None:
    err = _error(tmp_path, policy, policy_vars)
    assert err.source == str(tmp_path / "router.toml")
    assert err.key == f"router.policy_vars.{name}"
    assert str(err).startswith(f"{err.source}: router.policy_vars.{name}: ")
    assert fix in str(err)
    assert ".toml: rules[" not in str(err)  # not blamed on the pack


def test_a_value_from_policy_vars_is_never_echoed(tmp_path: Path) -> None:
    err = _error(tmp_path, "public-sector", f'{{barred_vendors = "{SECRET}"}}')
    assert SECRET not in str(err)
    assert SECRET not in repr(err)
    assert "Qv7TEST" not in str(err)


def test_a_packs_own_wrong_var_still_blames_the_pack(tmp_path: Path) -> None:
    pack = tmp_path / "p.toml"
    pack.write_text(
        'name = "p"\n[vars]\nregions = "eu-*"\n[[rules]]\nkind = "allow"\nregion = "${regions}"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_policy(pack, overrides={}, source="router.toml")
    assert info.value.source == str(pack)
    assert info.value.key == "rules[0].region"


def test_an_override_of_another_var_does_not_take_the_blame(tmp_path: Path) -> None:
    pack = tmp_path / "p.toml"
    pack.write_text(
        'name = "p"\n[vars]\nregions = "eu-*"\nvendors = ["acme"]\n'
        '[[rules]]\nkind = "allow"\nregion = "${regions}"\nvendor = "${vendors}"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_policy(pack, overrides={"vendors": ["other"]}, source="router.toml")
    assert info.value.source == str(pack)
    assert info.value.key == "rules[0].region"
