"""One object per running event loop, closed on that loop when it shuts down.

A client library's asyncio connection pool belongs to the loop it was made on (its
sockets, locks and futures do), and a Router may be awaited from several loops in turn
(`asyncio.run` per batch, a thread with its own loop). `PerLoop` keeps one object per
loop, made on first use there, and closes it on its own loop: an async generator
started on the loop holds it, and `loop.shutdown_asyncgens()` (which `asyncio.run`
calls before closing the loop) runs the generator's `finally`, which awaits the close.
The shared state's Redis clients (`router.state.redis_state`) and the direct client's
aiohttp sessions (`router.serving._direct`) are both kept this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["PerLoop"]

T = TypeVar("T")

_closing: set[asyncio.Future[None]] = set()  # closes `close()` scheduled on running loops


class PerLoop(Generic[T]):
    """`await get()`: the running loop's object, made by `make()` on first use there;
    `aclose(obj)` closes it on its loop when the loop shuts down, or from `close()`.

    An object whose loop was closed without shutting down (a loop closed by hand, with
    no `shutdown_asyncgens()`) cannot be closed any more: it is forgotten the next time an
    object is made, its sockets left to the garbage collector."""

    def __init__(self, make: Callable[[], T], aclose: Callable[[T], Awaitable[object]]) -> None:
        self._make = make
        self._aclose = aclose
        self._lock = threading.Lock()
        self._held: dict[asyncio.AbstractEventLoop, tuple[T, AsyncGenerator[None, None]]] = {}

    def __len__(self) -> int:
        """How many loops hold an object now."""
        return len(self._held)

    def current(self) -> T | None:
        """The running loop's object if it has one (no await: the hot path)."""
        found = self._held.get(asyncio.get_running_loop())
        return None if found is None else found[0]

    async def get(self) -> T:
        """The running loop's object, made now if it has none."""
        loop = asyncio.get_running_loop()
        found = self._held.get(loop)
        if found is not None:
            return found[0]
        with self._lock:
            dead = [self._held.pop(old) for old in list(self._held) if old.is_closed()]
            made = self._make()
            keeper = self._keeper(loop, made)
            self._held[loop] = (made, keeper)
        for _, old_keeper in dead:
            _abandon(old_keeper)
        await keeper.__anext__()
        return made

    async def _keeper(self, loop: asyncio.AbstractEventLoop, held: T) -> AsyncGenerator[None, None]:
        """Holds the loop's object until the loop shuts down (or `close()`), then closes it."""
        try:
            yield
        finally:
            with self._lock:
                if self._held.get(loop, (None,))[0] is held:
                    del self._held[loop]
            if not loop.is_closed():
                await self._aclose(held)

    def close(self) -> None:
        """Close every loop's object that can still be closed, on its own loop: at once on
        this thread's running loop (scheduled), from another thread's running loop
        (submitted), or by running an idle loop of no running one; forgotten when its
        loop is closed. An idle loop while this thread runs another is closed by its own
        shutdown."""
        with self._lock:
            held, self._held = list(self._held.items()), {}
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for loop, (_, keeper) in held:
            if loop.is_closed():
                _abandon(keeper)
            elif loop is here:
                task = loop.create_task(_finish(keeper))
                _closing.add(task)
                task.add_done_callback(_closing.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(_finish(keeper), loop)
            elif here is None:
                loop.run_until_complete(_finish(keeper))


async def _finish(keeper: AsyncGenerator[None, None]) -> None:
    await keeper.aclose()


def _abandon(keeper: AsyncGenerator[None, None]) -> None:
    """End a keeper whose loop is closed: its `finally` sees the closed loop and awaits
    nothing, so one step of `aclose()` runs it to the end."""
    with contextlib.suppress(StopIteration, RuntimeError):
        keeper.aclose().send(None)
