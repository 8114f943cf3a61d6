"""Latency of `router.decision._detectors.detect` on ~4 KB prompts, next to phonenumbers' own
matcher.

Run: .venv/bin/python benchmarks/bench_detectors.py

Instructions per `detect` call, for callgrind (repeatable where the clock is noisy), on the
~5 KB prompt `benchmarks/instr_decision.py` plans (`--pii` adds its e-mail and card):

    for n in 20 420; do PYTHONHASHSEED=0 valgrind --tool=callgrind \\
        --callgrind-out-file=/dev/null .venv/bin/python benchmarks/bench_detectors.py \\
        --instr $n [--pii] 2>&1 | grep refs; done

Subtract the two totals and divide by 400.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prompts

from router.decision._detectors import detect, warm_up

PROSE = (
    "I am refactoring the billing service and would like a second opinion on the design. "
    "The current implementation reads the configuration once at startup, builds a cache of "
    "customer records keyed by account, and serves requests from that cache. Since the upgrade "
    "to version 2.4.1 last week, latency went from 120 ms to roughly 340 ms at p99, and I suspect "
    "the new retry policy (3 attempts, 250 ms backoff) is the cause. We deployed on 2024-05-13 "
    "at 14:30 UTC and the regression started right after. Order volume is about 1,250 per minute "
    "at peak and the average basket costs $49.99. Please review the code below, explain what "
    "could make it slow, and suggest a fix that keeps the public API.\n\n"
)
CODE = """
import asyncio
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
RETRIES = 3
BACKOFF_MS = 250


@dataclass(frozen=True)
class Account:
    account_id: str
    plan: str = "basic"
    seats: int = 1
    tags: tuple[str, ...] = field(default_factory=tuple)


class Cache:
    def __init__(self, ttl: float = 30.0, max_items: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_items
        self._items: dict[str, tuple[float, Account]] = {}

    def get(self, key: str, now: float) -> Account | None:
        hit = self._items.get(key)
        if hit is None or now - hit[0] > self._ttl:
            return None
        return hit[1]

    def put(self, key: str, value: Account, now: float) -> None:
        if len(self._items) >= self._max:
            oldest = min(self._items, key=lambda k: self._items[k][0])
            del self._items[oldest]
        self._items[key] = (now, value)


async def fetch(client, account_id: str) -> Account:
    for attempt in range(RETRIES):
        try:
            resp = await client.get(f"/v1/accounts/{account_id}", timeout=2.5)
            resp.raise_for_status()
            data = resp.json()
            return Account(data["id"], data.get("plan", "basic"), int(data["seats"]))
        except TimeoutError:
            log.warning("timeout on attempt %d for %s", attempt + 1, account_id)
            await asyncio.sleep(BACKOFF_MS / 1000 * (2 ** attempt))
    raise RuntimeError("gave up after 3 attempts")
"""
TAIL = (
    "\nThe commit that introduced it is 3f786850e387550fdab836ed7e6dc881de23001b and the request "
    "id in the logs is 550e8400-e29b-41d4-a716-446655440000. The max_tokens setting of the "
    "summarizer is 1024 and the tokenizer is unchanged. Thanks!\n"
)
PII = (
    "\nThe failing customer is jane.doe@example.com, card 4111 1111 1111 1111, refunds go to "
    "DE89 3704 0044 0532 0130 00, and she asked to be called back on +44 20 7946 0958.\n"
)
SIZE = 4096
ROUNDS = 40  # blocks of each case alternate, so machine noise hits all cases alike
BLOCK = 50
MATCHER_BLOCK = 5  # the matcher is ~50x slower


def _prompt(extra: str) -> str:
    head = PROSE + CODE + TAIL
    body = head
    while len(body) < SIZE:
        body += PROSE
    return body[: SIZE - len(extra)] + extra


def _matcher(text: str) -> int:
    return sum(1 for _ in phonenumbers.PhoneNumberMatcher(text, "US"))


def _timed(fn: Callable[[], object], times: int) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(times):
        start = clock()
        fn()
        samples.append(clock() - start)
    return samples


def _summary(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) / 1000, p99 / 1000


def instructions(calls: int, *, pii: bool) -> None:
    """Call `detect` `calls` times on the decision benchmark's prompt (see the docstring)."""
    warm_up()
    user = _prompts.REPORT + (_prompts.PII_NOTE if pii else "")
    text = "\n".join(["system", _prompts.SYSTEM, "user", user])
    expected = {"email": 1, "payment_card": 1} if pii else {}
    assert detect(text) == expected, detect(text)
    for _ in range(calls):
        detect(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instr", type=int, metavar="N", help="only call detect N times")
    parser.add_argument("--pii", action="store_true", help="with --instr: the prompt with PII")
    args = parser.parse_args()
    if args.instr is not None:
        instructions(args.instr, pii=args.pii)
        return
    plain, with_pii = _prompt(""), _prompt(PII)
    warm_up()
    assert detect(plain) == {}, detect(plain)
    assert detect(with_pii) == {"email": 1, "phone": 1, "payment_card": 1, "iban": 1}
    _timed(lambda: detect(plain), 200)
    _timed(lambda: detect(with_pii), 200)
    _matcher(plain)

    times: dict[str, list[int]] = {"plain": [], "pii": [], "matcher": [], "cold": []}
    for _ in range(ROUNDS):
        times["plain"] += _timed(lambda: detect(plain), BLOCK)
        times["pii"] += _timed(lambda: detect(with_pii), BLOCK)
        times["matcher"] += _timed(lambda: _matcher(plain), MATCHER_BLOCK)
        # (a) right after other work, as on a real request path: colder caches
        for _ in range(BLOCK // 2):
            detect(with_pii)
            times["cold"] += _timed(lambda: detect(plain), 1)

    rows = (
        ("(a) detect, 4 KB, no PII", "plain", len(plain)),
        ("(b) detect, 4 KB, email+card+IBAN+phone", "pii", len(with_pii)),
        ("(c) PhoneNumberMatcher over (a)", "matcher", len(plain)),
        ("(a) again, each call right after other work", "cold", len(plain)),
    )
    print(f"{'case':46} {'chars':>6} {'runs':>6} {'median us':>10} {'p99 us':>9}")
    for label, key, chars in rows:
        median, p99 = _summary(times[key])
        print(f"{label:46} {chars:6d} {len(times[key]):6d} {median:10.1f} {p99:9.1f}")
    ratio = _summary(times["matcher"])[0] / _summary(times["plain"])[0]
    print(f"matcher / detect on (a), medians: {ratio:.1f}x")


if __name__ == "__main__":
    main()
