"""Fixtures shared by the serving tests: two fault servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router.testing import FaultServer


@pytest.fixture
def servers() -> Iterator[tuple[FaultServer, FaultServer]]:
    """Two OpenAI-compatible fault servers, started for one test and stopped after it."""
    with FaultServer() as first, FaultServer() as second:
        yield first, second
