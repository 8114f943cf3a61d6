"""`router._loops.PerLoop`: one object per event loop, closed on its loop when the loop
shuts down, by `close()`, or forgotten when its loop was closed by hand."""

from __future__ import annotations

import asyncio
import threading

from router._loops import PerLoop


class _Pool:
    """Stands in for a client library's pool: it notes the loop it was closed on."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.closed_on: asyncio.AbstractEventLoop | None = None

    async def aclose(self) -> None:
        self.closed_on = asyncio.get_running_loop()


def _per_loop() -> tuple[PerLoop[_Pool], list[_Pool]]:
    made: list[_Pool] = []

    def make() -> _Pool:
        made.append(_Pool())
        return made[-1]

    return PerLoop(make, _Pool.aclose), made


def test_one_object_per_loop_closed_on_it_when_asyncio_run_ends() -> None:
    per, made = _per_loop()

    async def twice() -> tuple[_Pool, _Pool | None]:
        first = await per.get()
        return first, per.current()

    for _ in range(2):
        first, again = asyncio.run(twice())
        assert again is first
    assert len(made) == 2
    assert made[0] is not made[1]
    assert all(p.closed_on is p.loop for p in made)
    assert len(per) == 0


def test_loops_of_several_threads_each_get_their_own() -> None:
    per, made = _per_loop()
    seen: list[_Pool] = []

    def thread() -> None:
        seen.append(asyncio.run(per.get()))

    threads = [threading.Thread(target=thread) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(p) for p in seen}) == 4
    assert all(p.closed_on is p.loop for p in made)


def test_close_closes_an_idle_loops_object_on_it() -> None:
    per, made = _per_loop()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(per.get())
        per.close()  # no loop runs here: the idle loop is run to close it
        assert made[0].closed_on is loop
        assert len(per) == 0
    finally:
        loop.close()


def test_close_from_the_running_loop_schedules_the_close() -> None:
    per, made = _per_loop()

    async def main() -> None:
        await per.get()
        per.close()
        await asyncio.sleep(0.01)
        assert made[0].closed_on is asyncio.get_running_loop()

    asyncio.run(main())


def test_an_object_of_a_loop_closed_by_hand_is_forgotten_not_closed() -> None:
    per, made = _per_loop()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(per.get())
    loop.close()  # no shutdown_asyncgens: nothing can run on it any more
    fresh = asyncio.run(per.get())  # the dead loop's entry goes now
    assert fresh is made[1]
    assert made[0].closed_on is None
    assert len(per) == 0
