"""Helpers shared by the invariant suites: call a Router in one of its four modes and see
what the caller saw; look for strings in what the router wrote (files, cache, Redis)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from router import AsyncStream, Decision, Router, Stream
from router.errors import RouterError, StreamInterrupted

__all__ = [
    "MODES",
    "Mode",
    "Outcome",
    "diskcache_values",
    "exception_texts",
    "file_bytes",
    "redis_dump",
    "serve",
]

Mode = Literal["complete", "acomplete", "stream", "astream"]
MODES: tuple[Mode, ...] = ("complete", "acomplete", "stream", "astream")


@dataclass
class Outcome:
    """What the caller saw: the text delivered, the final decision (if any) and the error."""

    text: str | None
    decision: Decision | None
    error: RouterError | None


def _contents(chunk: Mapping[str, Any]) -> list[str]:
    return [
        content
        for choice in chunk.get("choices") or ()
        if isinstance(content := (choice.get("delta") or {}).get("content"), str)
    ]


def _drained(s: Stream | AsyncStream, parts: list[str], error: StreamInterrupted | None) -> Outcome:
    assert s.text == "".join(parts)
    assert s.finished is (error is None)
    return Outcome("".join(parts), s.decision, error)


def _drain(s: Stream) -> Outcome:
    parts: list[str] = []
    try:
        for chunk in s:
            parts += _contents(chunk)
    except StreamInterrupted as exc:
        return _drained(s, parts, exc)
    return _drained(s, parts, None)


async def _adrain(s: AsyncStream) -> Outcome:
    parts: list[str] = []
    try:
        async for chunk in s:
            parts += _contents(chunk)
    except StreamInterrupted as exc:
        return _drained(s, parts, exc)
    return _drained(s, parts, None)


def serve(r: Router, mode: Mode, messages: list[dict[str, Any]], **args: Any) -> Outcome:
    """Call `r` in `mode` with `args` (OpenAI-style and router arguments); a RouterError is
    an outcome, any other exception propagates."""

    async def astream() -> Outcome:
        return await _adrain(await r.astream(messages, **args))

    try:
        if mode == "complete":
            res = r.complete(messages, **args)
            return Outcome(res.content, res.decision, None)
        if mode == "acomplete":
            res = asyncio.run(r.acomplete(messages, **args))
            return Outcome(res.content, res.decision, None)
        if mode == "stream":
            return _drain(r.stream(messages, **args))
        return asyncio.run(astream())
    except RouterError as exc:
        return Outcome(None, None, exc)


def exception_texts(exc: BaseException) -> Iterator[str]:
    """str and repr of an exception and of every exception in its cause/context chain, and
    the JSON of any decision one carries."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield str(e)
        yield repr(e)
        decision = getattr(e, "decision", None)
        if isinstance(decision, Decision):
            yield decision.to_json()
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]


def file_bytes(root: Path) -> Iterator[tuple[Path, bytes]]:
    """Every regular file under `root` (or `root` itself), with its bytes. A file that goes
    away while the tree is read (SQLite removes `-wal` when the ledger's writer thread
    closes its connection, after moving its pages into the main file) makes the whole
    tree be read again, so nothing written is missed."""
    for _ in range(20):
        paths: Iterable[Path] = [root] if root.is_file() else sorted(root.rglob("*"))
        try:
            read = [(path, path.read_bytes()) for path in paths if path.is_file()]
        except FileNotFoundError:
            continue
        yield from read
        return
    raise AssertionError(f"files under {root} kept going away while they were read")


def diskcache_values(directory: Path) -> Iterator[str]:
    """Every key and value of a `ResponseCache` directory, decoded (the values are stored
    zlib-compressed, so the raw bytes alone would hide a leak)."""
    import diskcache  # noqa: PLC0415

    with diskcache.Cache(str(directory), disk=diskcache.JSONDisk) as cache:
        for key in cache.iterkeys():
            yield json.dumps(key)
            yield json.dumps(cache.get(key), default=str)


def redis_dump(url: str) -> Iterator[str]:
    """Every key of the Redis database at `url` and its value (strings and hashes)."""
    import redis  # noqa: PLC0415

    client: Any = redis.Redis.from_url(url, decode_responses=True)
    try:
        for key in client.scan_iter(count=1000):
            yield key
            kind = client.type(key)
            if kind == "string":
                yield str(client.get(key))
            elif kind == "hash":
                yield json.dumps(client.hgetall(key))
            else:  # the router writes strings and hashes only
                raise AssertionError(f"unexpected Redis key type {kind} for {key}")
    finally:
        client.close()
