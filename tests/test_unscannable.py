"""A pack's `unscannable` level: the sensitivity floor of content no detector can read
(images, audio, binary files). Merged like vars, fails closed to "confidential" when
no pack states it (and for a Policy built in code), part of the fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from router._models import Sensitivity
from router.decision._packs import load_policy
from router.decision._policy import Deny, Policy
from router.errors import ConfigError

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "stated"),
    [
        ("confidential-local", True),
        ("public-sector", True),
        ("free-first", True),
        ("cost-capped", False),
    ],
    ids=["confidential-local", "public-sector", "free-first", "cost-capped-inherits"],
)
def test_shipped_packs_treat_unscannable_content_as_confidential(name: str, stated: bool) -> None:
    assert load_policy(name).unscannable == "confidential"
    assert ("\nunscannable = " in (POLICY_DIR / f"{name}.toml").read_text("utf-8")) is stated


def _unscannable_packs(tmp_path: Path, a: str, b: str, top: str) -> Path:
    """top.toml includes a.toml then b.toml; each line is empty or `unscannable = ...`."""
    write(tmp_path / "a.toml", f'name = "a"\n{a}\n')
    write(tmp_path / "b.toml", f'name = "b"\n{b}\n')
    return write(tmp_path / "top.toml", f'name = "top"\ninclude = ["a.toml", "b.toml"]\n{top}\n')


@pytest.mark.parametrize(
    ("a", "b", "top", "expected"),
    [
        ("", "", "", "confidential"),
        ('unscannable = "public"', "", "", "public"),
        ('unscannable = "public"', 'unscannable = "internal"', "", "internal"),
        ('unscannable = "internal"', "", "", "internal"),
        ('unscannable = "public"', 'unscannable = "internal"', 'unscannable = "restricted"',
         "restricted"),
        ("", "", 'unscannable = "public"', "public"),
    ],
    ids=["none-stated-fails-closed", "from-an-include", "later-include-wins",
         "earlier-include-kept", "including-pack-wins", "including-pack-only"],
)  # fmt: skip
def test_unscannable_merges_like_vars(
    tmp_path: Path, a: str, b: str, top: str, expected: Sensitivity
) -> None:
    assert load_policy(_unscannable_packs(tmp_path, a, b, top)).unscannable == expected


def test_unscannable_changes_the_fingerprint(tmp_path: Path) -> None:
    closed = load_policy(_unscannable_packs(tmp_path, "", "", ""))
    same = load_policy(_unscannable_packs(tmp_path, "", "", 'unscannable = "confidential"'))
    lowered = load_policy(_unscannable_packs(tmp_path, "", "", 'unscannable = "internal"'))
    assert closed.fingerprint == same.fingerprint
    assert lowered.fingerprint != closed.fingerprint


@pytest.mark.parametrize(
    "value", ['"secret"', '"Confidential"', "3", '["public"]'], ids=["word", "case", "int", "list"]
)
def test_bad_unscannable_names_the_pack_file_and_key(tmp_path: Path, value: str) -> None:
    pack = _unscannable_packs(tmp_path, f"unscannable = {value}", "", "")
    with pytest.raises(ConfigError) as info:
        load_policy(pack)
    assert info.value.source == str(tmp_path / "a.toml")
    assert info.value.key == "unscannable"
    assert "'public', 'internal', 'confidential' or 'restricted'" in str(info.value)


def test_a_policy_built_in_code_treats_unscannable_content_as_confidential() -> None:
    assert Policy.of("p", [Deny(origin=("CN",))]).unscannable == "confidential"
    assert Policy(name="p", rules=()).unscannable == "confidential"


@pytest.mark.parametrize("level", ["public", "internal", "restricted"])
def test_unscannable_is_kept_and_changes_the_fingerprint(level: Sensitivity) -> None:
    base = Policy.of("p", [Deny(origin=("CN",))])
    other = Policy.of("p", [Deny(origin=("CN",))], unscannable=level)
    assert other.unscannable == level
    assert other.fingerprint != base.fingerprint
