"""Supply chain hygiene (issue 7): every declared dependency is bounded, and a local model
file is verified by SHA-256 before anything serves it.

These tests need no real model or llama.cpp: the model is a small file written here, and
spawning a process or taking a port fails the test. The shipped SmolLM2's digest is checked
against the installed file in tests/test_local_model.py (marked local_model)."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tomllib
from pathlib import Path
from typing import Any, NoReturn

import pytest
from packaging.requirements import Requirement

import router.tools._local
from router.errors import ModelIntegrityError, RouterError
from router.tools._cli import main
from router.tools._local import LocalServer, verify_model

REPO = Path(__file__).resolve().parent.parent
LOWER = {">=", ">", "==", "~=", "==="}
UPPER = {"<", "<=", "==", "~=", "==="}


def _requirements() -> list[tuple[str, str]]:
    """(where, requirement) for every requirement string pyproject.toml declares."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    found = [("build-system.requires", r) for r in data["build-system"]["requires"]]
    project = data["project"]
    found += [("project.dependencies", r) for r in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        found += [(f"optional-dependencies.{extra}", r) for r in reqs]
    for group, reqs in data.get("dependency-groups", {}).items():
        found += [(f"dependency-groups.{group}", r) for r in reqs if isinstance(r, str)]
    return found


def test_pyproject_declares_the_expected_sections() -> None:
    where = {w for w, _ in _requirements()}
    assert {"build-system.requires", "project.dependencies"} <= where
    assert {"optional-dependencies.local", "optional-dependencies.dev"} <= where


@pytest.mark.parametrize(("where", "requirement"), _requirements())
def test_every_dependency_has_a_lower_and_an_upper_bound(where: str, requirement: str) -> None:
    req = Requirement(requirement)
    assert req.url is None, f"{where}: {requirement!r} installs from a URL, not the registry"
    operators = {spec.operator for spec in req.specifier}
    assert operators & UPPER, f"{where}: {requirement!r} needs an upper bound (<) or ==="
    assert operators & LOWER, f"{where}: {requirement!r} needs a lower bound (>=) or =="


def test_the_bound_check_catches_an_unbounded_requirement() -> None:
    for bad in ("requests", "requests>=2", "requests<3"):
        operators = {spec.operator for spec in Requirement(bad).specifier}
        assert not (operators & UPPER and operators & LOWER), bad


# -- the local model file is verified before it is served --------------------------------


class _Spawned(Exception):
    """Raised by the fake Popen: verification passed and a process would have started."""


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any process spawn or port allocation is recorded and stops the test right there."""
    events: list[str] = []

    def popen(command: list[str], *args: Any, **kwargs: Any) -> NoReturn:
        events.append("popen")
        raise _Spawned(command)

    def free_port(host: str) -> NoReturn:
        events.append("port")
        raise AssertionError("a port was opened")

    monkeypatch.setattr(subprocess, "Popen", popen)  # router.local calls subprocess.Popen
    monkeypatch.setattr(router.tools._local, "_free_port", free_port)
    monkeypatch.setattr(router.tools._local, "_has_llama_cpp", lambda: True)
    return events


@pytest.fixture
def model(tmp_path: Path) -> tuple[Path, str]:
    """A small stand-in GGUF file and its SHA-256, computed independently of router."""
    path = tmp_path / "tiny.gguf"
    data = b"GGUF" + bytes(range(256)) * 5000  # ~1.3 MB: several hash chunks
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _tamper(path: Path) -> None:
    """Flip one byte in place; same size, and the modification time put back."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size


def test_a_tampered_copy_is_refused_before_any_server_starts(
    model: tuple[Path, str], tmp_path: Path, no_server: list[str]
) -> None:
    original, digest = model
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(original.read_bytes())
    _tamper(copy)
    server = LocalServer(copy, sha256=digest)
    with pytest.raises(ModelIntegrityError) as info:
        server.start()
    err = info.value
    assert isinstance(err, RouterError)
    assert err.path == str(copy)
    assert err.expected == digest
    assert err.actual == hashlib.sha256(copy.read_bytes()).hexdigest() != digest
    message = str(err)
    assert str(copy) in message
    assert digest in message
    assert err.actual in message
    assert "not served" in message
    assert "fetch it again" in message
    assert no_server == []  # no process, no port
    assert server.port is None
    assert not server.running


def test_the_right_digest_passes_and_the_file_is_served(
    model: tuple[Path, str], no_server: list[str]
) -> None:
    path, digest = model
    assert verify_model(path, digest) == digest
    assert verify_model(path, "sha256:" + digest.upper()) == digest  # as publishers print it
    server = LocalServer(path, sha256=digest, port=8999)
    with pytest.raises(_Spawned) as spawned:
        server.start()
    command = spawned.value.args[0]
    assert command[command.index("--model") + 1] == str(path)
    assert no_server == ["popen"]
    assert server.sha256 == digest
    assert server.verified


def test_a_file_changed_after_a_good_check_is_refused_next_time(
    model: tuple[Path, str], no_server: list[str]
) -> None:
    """Nothing caches a verdict by (path, size, mtime): an in-place edit that keeps both
    is still caught."""
    path, digest = model
    assert verify_model(path, digest) == digest
    _tamper(path)
    with pytest.raises(ModelIntegrityError, match="SHA-256 mismatch"):
        LocalServer(path, sha256=digest).start()
    assert no_server == []


def test_a_file_nobody_pinned_is_refused_and_its_digest_shown(
    model: tuple[Path, str], no_server: list[str]
) -> None:
    path, digest = model
    with pytest.raises(ModelIntegrityError) as info:
        LocalServer(path).start()
    assert info.value.expected is None
    assert info.value.actual == digest
    assert digest in str(info.value)
    assert "--sha256" in str(info.value)
    assert "--allow-unverified" in str(info.value)
    assert no_server == []


def test_allow_unverified_serves_it_and_logs_the_digest(
    model: tuple[Path, str], no_server: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    path, digest = model
    server = LocalServer(path, allow_unverified=True, port=8999)
    with caplog.at_level(logging.WARNING, logger="router.local"), pytest.raises(_Spawned):
        server.start()
    assert server.sha256 == digest
    assert not server.verified
    assert any("UNVERIFIED" in r.getMessage() and digest in r.getMessage() for r in caplog.records)


def test_a_pinned_digest_is_enforced_even_with_allow_unverified(
    model: tuple[Path, str], no_server: list[str]
) -> None:
    path, _ = model
    with pytest.raises(ModelIntegrityError, match="SHA-256 mismatch"):
        LocalServer(path, sha256="0" * 64, allow_unverified=True).start()
    assert no_server == []


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64, "0" * 63, "0" * 65])
def test_a_malformed_digest_is_refused(model: tuple[Path, str], bad: str) -> None:
    path, _ = model
    with pytest.raises(router.tools._local.LocalModelError, match="64 hexadecimal digits"):
        LocalServer(path, sha256=bad)


def test_cli_local_refuses_a_mismatch(
    model: tuple[Path, str], no_server: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, digest = model
    _tamper(path)
    assert main(["local", "--model", str(path), "--sha256", digest]) == 2
    err = capsys.readouterr().err
    assert err.startswith("router: error: ")
    assert err.count("\n") == 1
    assert "SHA-256 mismatch" in err
    assert digest in err
    assert no_server == []


def test_cli_local_refuses_an_unpinned_file_unless_allowed(
    model: tuple[Path, str], no_server: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, digest = model
    assert main(["local", "--model", str(path)]) == 2
    assert digest in capsys.readouterr().err
    assert no_server == []
    with pytest.raises(_Spawned):
        main(["local", "--model", str(path), "--port", "8999", "--allow-unverified"])
    assert no_server == ["popen"]


def test_cli_local_rejects_a_malformed_digest(
    model: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = model
    with pytest.raises(SystemExit) as exit_:
        main(["local", "--model", str(path), "--sha256", "not-a-digest"])
    assert exit_.value.code == 2
    assert "is not a SHA-256" in capsys.readouterr().err
