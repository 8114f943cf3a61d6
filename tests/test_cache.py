"""Response cache on real disk: deterministic only, per tenant, per eligible deployment, JSON
(the deployments served by a MockBackend)."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

import pytest

import router
from router.errors import AllDeploymentsFailed
from router.serving._executor import RetryPolicy
from router.state.cache import ResponseCache
from router.testing import MockBackend, MockServer, ok, server_error

HI = [{"role": "user", "content": "What is 2 + 2?"}]
FAST = RetryPolicy(attempts=1, jitter=0.0)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, mock_backend: MockBackend) -> MockServer:
    monkeypatch.setenv("ROUTER_TEST_API_KEY", "sk-test-not-a-real-key")
    return mock_backend.server(default=ok("4"))


@pytest.fixture
def local(mock_backend: MockBackend) -> MockServer:
    return mock_backend.server(default=ok("four"))


def make_router(api: MockServer, local: MockServer, cache_dir: Path) -> router.Router:
    """The API is preferred (best quality); the local one serves confidential requests."""
    return router.Router(
        deployments=[
            {"name": "api", "model": "openai/gpt-4o-mini", "api_base": api.base_url,
             "hosting": "api", "weights": "closed", "context_window": 8192, "quality": 0.9,
             "api_key_env": "ROUTER_TEST_API_KEY",
             "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.6},
            {"name": "local", "model": "openai/q", "api_base": local.base_url,
             "context_window": 8192, "quality": 0.5},
        ],
        objective="best",
        retry=FAST,
        cache=ResponseCache(cache_dir, ttl_seconds=60),
        backend=api.backend,
    )  # fmt: skip


def test_a_deterministic_request_is_answered_from_the_cache_the_second_time(
    api: MockServer, local: MockServer, tmp_path: Path
) -> None:
    r = make_router(api, local, tmp_path)
    first = r.complete(HI, temperature=0)
    second = r.complete(HI, temperature=0)
    assert (first.decision.cache_hit, second.decision.cache_hit) == (False, True)
    assert second.content == first.content == "4"
    assert second.decision.served_by == "api"
    assert len(api.requests) == 1


def test_the_cache_survives_a_new_router_on_the_same_directory(
    api: MockServer, local: MockServer, tmp_path: Path
) -> None:
    make_router(api, local, tmp_path).complete(HI, temperature=0)
    again = make_router(api, local, tmp_path).complete(HI, temperature=0)
    assert again.decision.cache_hit
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("params", "cached"),
    [
        ({"temperature": 0.7}, False),
        ({}, False),
        ({"temperature": 0.7, "cache": True}, True),
        ({"temperature": 0, "cache": False}, False),
        ({"temperature": 0, "n": 2}, False),
    ],
    ids=["sampling", "default-temperature", "forced", "opted-out", "several-choices"],
)
def test_only_deterministic_or_forced_requests_are_cached(
    api: MockServer, local: MockServer, tmp_path: Path, params: dict[str, object], cached: bool
) -> None:
    r = make_router(api, local, tmp_path)
    r.complete(HI, **params)  # type: ignore[arg-type]
    assert r.complete(HI, **params).decision.cache_hit is cached  # type: ignore[arg-type]


def test_never_served_to_another_tenant(api: MockServer, local: MockServer, tmp_path: Path) -> None:
    r = make_router(api, local, tmp_path)
    r.complete(HI, temperature=0, tenant="acme")
    assert not r.complete(HI, temperature=0, tenant="globex").decision.cache_hit
    assert r.complete(HI, temperature=0, tenant="acme").decision.cache_hit


def test_a_hit_needs_its_deployment_to_be_eligible_now(
    api: MockServer, local: MockServer, tmp_path: Path
) -> None:
    r = make_router(api, local, tmp_path)
    r.complete(HI, temperature=0)  # cached under "api"
    confidential = r.complete(HI, temperature=0, sensitivity="confidential")
    assert not confidential.decision.cache_hit
    assert confidential.decision.served_by == "local"
    assert confidential.content == "four"


def test_errors_are_never_cached(api: MockServer, local: MockServer, tmp_path: Path) -> None:
    r = make_router(api, local, tmp_path)
    api.script(server_error(503))
    local.script(server_error(503))
    with pytest.raises(AllDeploymentsFailed):
        r.complete(HI, temperature=0)
    after = r.complete(HI, temperature=0)
    assert after.decision.cache_hit is False
    assert after.decision.served_by == "api"
    assert len(api.requests) == 2


def test_entries_are_json_not_pickle(api: MockServer, local: MockServer, tmp_path: Path) -> None:
    make_router(api, local, tmp_path).complete(HI, temperature=0)
    with sqlite3.connect(tmp_path / "cache.db") as db:
        rows = db.execute("SELECT mode, value FROM Cache").fetchall()
    assert rows
    for _mode, value in rows:
        entry = json.loads(zlib.decompress(value))
        assert entry["tenant"] == "default"
        assert "What is 2 + 2?" not in json.dumps(entry)  # the prompt is not stored
