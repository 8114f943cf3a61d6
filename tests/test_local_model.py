"""A real local model (SmolLM2-135M via llama.cpp): needs `router[local]`, which make test
installs. Deselect consciously with `-m "not local_model"`."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import router
from router.local import LocalServer

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


def test_the_server_stops_cleanly() -> None:
    running = LocalServer().start()
    port = running.port
    assert port is not None
    assert running.running
    running.stop()
    assert not running.running
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
