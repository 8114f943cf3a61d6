"""Router.stream through litellm's real streaming HTTP stack against the loopback fault server."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from factories import pair_router

import router
from router.errors import InvalidRequest, StreamInterrupted
from router.serving._executor import RetryPolicy
from router.serving._streaming import AsyncStream, Stream
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


# -- a stream its caller leaves early: recorded as cut by the caller, and charged ----------


def priced_router(server: FaultServer, ledger: Path) -> router.Router:
    """One self-hosted deployment at $1/M input and $2/M output, with a ledger and a
    budget every tenant spends from: what a stream costs lands in the budget's counter."""
    return router.Router(
        deployments=[
            {"name": "gpu", "model": "openai/m", "api_base": server.base_url,
             "hosting": "self-hosted", "weights": "open", "context_window": 8192,
             "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0, "quality": 0.8},
        ],
        retry=FAST,
        ledger=ledger,
        budgets=[{"tenant": "*", "period": "day", "usd": 5.0}],
    )  # fmt: skip


SLOW = stream(tuple(f"part {i} " for i in range(40)), delay=0.05)  # ~2 s if read to the end


def _break_out(r: router.Router) -> Stream:
    s = r.stream(HI)
    for _chunk in s:  # leave the loop at the first chunk, without close()
        break
    return s


def _close(r: router.Router) -> Stream:
    s = r.stream(HI)
    next(iter(s))
    s.close()
    return s


def _abreak_and_aclose(r: router.Router) -> Stream:
    async def run() -> AsyncStream:
        s = await r.astream(HI)
        async for _chunk in s:
            break
        await s.aclose()
        return s

    return asyncio.run(run())


def _abreak(r: router.Router) -> Stream:
    """`break` out of `async for` and never `aclose()`: the loop closes the abandoned
    generator at its next turn, and that settles the stream."""

    async def run() -> AsyncStream:
        s = await r.astream(HI)
        async for _chunk in s:
            break
        deadline = time.monotonic() + 10
        while not s.settled and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return s

    return asyncio.run(run())


def _cancel_the_reader(r: router.Router) -> Stream:
    """What the server does when its client disconnects: the task reading the stream is
    cancelled while it waits for the next chunk."""

    async def run() -> AsyncStream:
        s = await r.astream(HI)
        first = asyncio.Event()

        async def read() -> None:
            async for _chunk in s:
                first.set()

        task = asyncio.create_task(read())
        await first.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return s

    return asyncio.run(run())


@pytest.mark.parametrize(
    "leave",
    [_break_out, _close, _abreak_and_aclose, _abreak, _cancel_the_reader],
    ids=["break", "close", "async-break-aclose", "async-break", "cancelled-reader"],
)
def test_a_stream_left_early_is_recorded_as_cut_by_the_caller_and_charged(
    servers: tuple[FaultServer, FaultServer],
    tmp_path: Path,
    leave: Callable[[router.Router], Stream],
) -> None:
    first, _ = servers
    first.script(SLOW)
    path = tmp_path / "ledger.sqlite"
    s = leave(priced_router(first, path))
    assert s.settled
    assert not s.finished
    assert not s.interrupted  # no StreamInterrupted: the provider did not fail
    assert s.decision.usage is not None
    assert s.decision.usage.source == "estimate"  # the provider's usage chunk never came
    assert s.decision.cost is not None
    assert s.decision.cost.micro_usd > 0
    (row,) = ledger_rows(path)
    assert (row["outcome"], row["error"]) == ("interrupted", "ClosedByCaller")
    assert row["served_by"] == "gpu"
    assert 0 < row["completion_tokens"] < 40  # what was delivered, not the whole answer
    assert row["cost_micro"] == s.decision.cost.micro_usd
    # what was delivered is charged to the budget, and its hold is released
    assert spent(path) == row["cost_micro"]
    assert held(path) == 0
    assert _released(first)


def test_a_stream_read_to_its_end_is_ok_and_one_the_provider_broke_says_so(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path
) -> None:
    first, _ = servers
    first.script(stream(("one ", "two ", "three")), stream(("one ", "two "), disconnect_after=1))
    path = tmp_path / "ledger.sqlite"
    r = priced_router(first, path)
    whole = r.stream(HI)
    list(whole)
    with pytest.raises(StreamInterrupted):
        list(r.stream(HI))
    ended, broken = ledger_rows(path)
    assert (ended["outcome"], ended["error"]) == ("ok", None)
    assert (broken["outcome"], broken["error"]) == ("interrupted", "StreamInterrupted")
    whole.close()  # after its end: nothing changes, nothing is recorded again
    assert len(ledger_rows(path)) == 2
    assert spent(path) == ended["cost_micro"] + broken["cost_micro"] > 0


def ledger_rows(path: Path) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM records ORDER BY id")]


def spent(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        (total,) = conn.execute("SELECT COALESCE(SUM(spent_micro), 0) FROM spend").fetchone()
    return int(total)


def held(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM reservations").fetchone()
    return int(count)
