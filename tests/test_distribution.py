"""The distribution's name is free on the package index, and every install hint uses it
(issue 15: `pip install 'router[local]'` would install someone else's `router`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "freefirst-router"


def test_the_distribution_is_not_named_router() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    assert project["name"] == NAME
    assert (ROOT / "router" / "__init__.py").is_file()  # the import name stays `router`


def test_every_install_hint_names_the_distribution() -> None:
    files = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "router").rglob("*.py"))]
    wrong = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for hint in re.findall(r"pip install ['\"]?([\w.-]+)\[", text):
            if hint != NAME:
                wrong.append(f"{path.relative_to(ROOT)}: pip install {hint}[...]")
    assert not wrong, wrong


def test_the_version_is_read_from_the_installed_distribution() -> None:
    from router.tools._cli import version  # noqa: PLC0415

    with (ROOT / "pyproject.toml").open("rb") as f:
        assert version() == tomllib.load(f)["project"]["version"]
