"""Local shared state: breakers every process of this machine sees (diskcache on disk).

`[state] directory = "..."` (with `state = "local"`) keeps each deployment's breaker
in a diskcache (SQLite) there, changed in one transaction per update, so a breaker one
worker process opens benches the deployment for the others on the machine. Budgets
already live in the SQLite ledger and the response cache on disk (`ResponseCache`);
without a directory the breakers stay in each process's memory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from router._effects import Op, blocking, done
from router.errors import ProviderError
from router.state.cooldowns import BreakerState, CooldownPolicy, Cooldowns, counts_against

__all__ = ["DiskCooldowns"]


class DiskCooldowns(Cooldowns):
    """Per-deployment breakers in a diskcache directory, shared by this machine's
    processes. Times are wall-clock seconds (the processes share one clock)."""

    def __init__(self, directory: str | Path, policy: CooldownPolicy | None = None) -> None:
        import diskcache  # noqa: PLC0415  (only when a state directory is configured)

        super().__init__(policy or CooldownPolicy())
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._disk: Any = diskcache.Cache(str(Path(directory) / "breakers"))
        self._clean: set[str] = set()

    def allow(self, name: str) -> bool:
        b = self._disk.get(name)
        if b is None:
            self._clean.add(name)
            return True
        self._clean.discard(name)
        if b.get("o") is None:
            return True
        with self._disk.transact():
            b = self._disk.get(name)
            if b is None or b.get("o") is None:
                return True
            if b.get("p") or time.time() - b["o"] < self.policy.seconds:
                return False
            self._disk.set(name, {**b, "p": True})
            return True

    def success(self, name: str) -> None:
        if name in self._clean:
            return
        self._disk.delete(name)
        self._clean.add(name)

    def failure(self, name: str, exc: ProviderError) -> None:
        if not counts_against(exc):
            return
        self._clean.discard(name)
        with self._disk.transact():
            b = self._disk.get(name) or {"f": 0, "o": None, "p": False}
            b = {**b, "f": b["f"] + 1}
            if b.get("p") or b["f"] >= self.policy.threshold:
                b = {**b, "o": time.time(), "p": False}
            self._disk.set(name, b, expire=max(self.policy.seconds * 10, 60))

    def state(self, name: str) -> BreakerState:
        b = self._disk.get(name)
        if b is None:
            return BreakerState("closed", 0, 0.0)
        if b.get("o") is None:
            return BreakerState("closed", b["f"], 0.0)
        left = self.policy.seconds - (time.time() - b["o"])
        if b.get("p") or left <= 0:
            return BreakerState("half-open", b["f"], 0.0)
        return BreakerState("open", b["f"], left)

    # As ops: diskcache is SQLite, so its work runs in a worker thread on the event loop
    # (`Blocking`); what needs no file (a healthy deployment's success, a failure that does
    # not count) ends at once.

    def allow_op(self, name: str) -> Op[bool]:
        return blocking(lambda: self.allow(name))

    def success_op(self, name: str) -> Op[None]:
        return done(None) if name in self._clean else blocking(lambda: self.success(name))

    def failure_op(self, name: str, exc: ProviderError) -> Op[None]:
        self.remember(name, exc)
        if not counts_against(exc):
            return done(None)
        return blocking(lambda: self.failure(name, exc))

    def close(self) -> None:
        self._disk.close()
