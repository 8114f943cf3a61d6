"""Router.stream through litellm's real streaming HTTP stack against the loopback fault server."""

from __future__ import annotations

import asyncio
import time

import pytest
from factories import pair_router

import router
from router.errors import InvalidRequest, StreamInterrupted
from router.serving._executor import RetryPolicy
from router.serving._streaming import AsyncStream
from router.testing import FaultServer, malformed_json, server_error, stream

FAST = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02, jitter=0.0)
HI = [{"role": "user", "content": "Say hello"}]


def make_router(first: FaultServer, second: FaultServer) -> router.Router:
    return pair_router(first, second, names=("a", "b"), retry=FAST)


def test_chunks_reach_the_caller_and_usage_is_kept(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(stream(("Hel", "lo ", "there")))
    s = make_router(first, second).stream(HI)
    chunks = list(s)
    assert len(chunks) >= 3
    assert s.text == "Hello there"
    assert s.finished
    assert s.usage is not None
    assert s.usage["total_tokens"] > 0
    assert s.decision.served_by == "a"
    assert first.requests[0]["stream"] is True


def test_failure_before_the_first_chunk_falls_back(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(server_error(503), server_error(503))
    second.script(stream(("from ", "b")))
    s = make_router(first, second).stream(HI)
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in s if c.get("choices"))
        == "from b"
    )
    assert [a.outcome for a in s.decision.attempts] == ["retry", "gave up", "ok"]


def test_failure_after_the_first_chunk_is_a_typed_error_with_what_was_delivered(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(stream(("one ", "two ", "three"), disconnect_after=2))
    s = make_router(first, second).stream(HI)
    received: list[str] = []

    def consume() -> None:
        for chunk in s:
            received.extend(c["delta"].get("content") or "" for c in chunk.get("choices") or ())

    with pytest.raises(StreamInterrupted) as caught:
        consume()
    assert caught.value.deployment == "a"
    assert caught.value.delivered == "".join(received)
    assert caught.value.delivered.startswith("one")
    assert second.requests == []  # never a switch after the caller saw output


def test_stopping_early_closes_the_stream(servers: tuple[FaultServer, FaultServer]) -> None:
    first, second = servers
    first.script(stream(("a", "b", "c", "d"), delay=0.01))
    s = make_router(first, second).stream(HI)
    next(iter(s))
    s.close()
    assert s.text == "a"
    assert not s.finished


LONG = stream(tuple(f"part {i} " for i in range(200)), delay=0.05)  # ~10 s if read to the end


def _released(server: FaultServer, within: float = 3.0) -> bool:
    """Whether the server holds no connection of ours within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.open_connections == 0:
            return True
        time.sleep(0.02)
    return False


def test_stopping_early_lets_go_of_the_connection(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(LONG)
    s = make_router(first, second).stream(HI)
    next(iter(s))
    assert first.open_connections == 1
    s.close()
    # The HTTP response is closed with the stream: the server's next write fails and its
    # handler ends, seconds before the ~10 s the rest of the stream would take.
    assert _released(first)


def test_astream_stopping_early_lets_go_of_the_connection(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(LONG)

    async def run() -> bool:
        s = await make_router(first, second).astream(HI)
        async for _chunk in s:
            break
        opened = first.open_connections == 1
        await s.aclose()
        return opened

    assert asyncio.run(run())
    assert _released(first)


def test_complete_refuses_stream_true(servers: tuple[FaultServer, FaultServer]) -> None:
    first, second = servers
    with pytest.raises(InvalidRequest, match=r"Router\.stream"):
        make_router(first, second).complete(HI, stream=True)


def test_astream_falls_back_before_the_first_chunk(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(server_error(503), server_error(503))
    second.script(stream(("async ", "b")))

    async def run() -> tuple[str, list[str], AsyncStream]:
        s = await make_router(first, second).astream(HI)
        parts = [
            c["delta"].get("content") or "" async for chunk in s for c in chunk.get("choices") or ()
        ]
        return s.text, parts, s

    text, parts, s = asyncio.run(run())
    assert text == "".join(parts) == "async b"
    assert s.finished
    assert s.decision.served_by == "b"
    assert s.usage is not None


def test_astream_interruption_carries_what_was_delivered(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(stream(("one ", "two ", "three"), disconnect_after=2))

    async def run() -> None:
        s = await make_router(first, second).astream(HI)
        async for _chunk in s:
            pass

    with pytest.raises(StreamInterrupted) as caught:
        asyncio.run(run())
    assert caught.value.delivered.startswith("one")
    assert second.requests == []


def test_a_stream_with_no_output_is_retried_not_taken_for_an_answer(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    first, second = servers
    first.script(malformed_json(), stream(("fine",)))
    s = make_router(first, second).stream(HI)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in s if c["choices"])
    assert s.text == "fine"
    assert [(a.deployment, a.outcome) for a in s.decision.attempts] == [("a", "retry"), ("a", "ok")]
    assert "without output" in (s.decision.attempts[0].error or "")


def test_an_async_stream_refuses_a_plain_for_and_settles_nothing(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    """A plain `for` over `astream`'s result used to yield the chunks already received
    and then settle that partial text as a complete answer (issue 16)."""
    first, second = servers
    first.script(stream(("one ", "two ", "three")))

    async def run() -> tuple[AsyncStream, str]:
        s = await make_router(first, second).astream(HI)
        with pytest.raises(TypeError, match="async for"):
            for _ in s:
                pass
        with pytest.raises(TypeError, match="aclose"):
            s.close()
        assert not s.settled
        assert not s.finished
        assert s.text == ""
        text = "".join(
            [
                c["delta"].get("content") or ""
                async for chunk in s
                for c in chunk.get("choices") or ()
            ]
        )
        return s, text

    s, text = asyncio.run(run())
    assert text == s.text == "one two three"
    assert s.finished
    assert s.settled
    assert s.decision.served_by == "a"
