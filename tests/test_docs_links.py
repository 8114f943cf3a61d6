"""README and the docs point only at files in this repository (issue 15: README linked
the shared DESIGN.md, which a clone of the repository does not have)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
# Markdown links [text](target), and backticked paths to .md files: `docs/design.md`.
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
MD_PATH = re.compile(r"`([\w./-]+\.md)`")


def _targets(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    found = LINK.findall(text) + MD_PATH.findall(text)
    return [t for t in found if not re.match(r"[a-z]+://", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_linked_file_is_in_the_repository(doc: Path) -> None:
    missing = []
    for target in _targets(doc):
        resolved = (doc.parent / target).resolve()
        from_root = (ROOT / target).resolve()
        inside = [p for p in (resolved, from_root) if p.is_relative_to(ROOT) and p.exists()]
        if not inside:
            missing.append(target)
    assert not missing, f"{doc.name} points outside the repository or at nothing: {missing}"


def test_the_design_is_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/design.md)" in readme
    assert "../shared/DESIGN.md" not in readme
