"""Worst-case time of `router.decision._detectors.detect`: adversarial repetitions, 256 KB and 1 MB.

Run: .venv/bin/python benchmarks/bench_detector_worst.py [--quick] [--seed N] [--plan]

With `--plan` each input is planned whole, `Router.plan([{"role": "user", "content": TEXT}])`
on one local deployment with a window wide enough for it: the request's validation, the
scan of every field, the detectors, token estimate, profile and policy -- the planning time
per MB the issue bounds.

Each generator repeats one fragment (a near-miss of some detector: an IBAN head, a card
group, a PEM header, a credentialed URL, an assignment...) to 256 KB and to 1 MB, or
strings random items of one kind (phone numbers, 4-digit groups...) so that no cache helps.
For each,
the median of a few runs in seconds per MB, and the ratio of the 1 MB time to the 256 KB
time: about 4 means linear, far more would mean the cost grows faster than the text.
Ordinary English prose is the reference. A small seeded random search over fragments drawn
from the detectors' trigger alphabets keeps the slowest one found, which is then measured
the same way. The last line names the worst input.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prompts

from router import Router
from router.decision._detectors import detect, warm_up

KB = 1024
SIZES = (256 * KB, 1024 * KB)
RUNS = 3

# Fragments repeated to size. Each is a near-miss: it wakes a detector up and fails late.
FRAGMENTS: dict[str, str] = {
    "iban head + letters": "DE89AAAAAAAAAAAA ",
    "iban lower, dashes": "de89-3704-0044-0532-0130-01 ",
    "card group": "4111 ",
    "card groups, ' - '": "4111 - ",
    "card groups, tabs": "4111\t",
    "card groups, lines": "4111\n",
    "card groups, dots": "4111.",
    "card groups, '/'": "4111/",
    "card groups, ','": "4111,",
    "card groups, '_'": "4111_",
    "card almost": "4111 1111 1111 1112 ",
    "digits": "0",
    "digit, space": "1 ",
    "digit pairs": "12 34 ",
    "phone prefix": "+1 ",
    "phone, spaced": "+12 345 678 ",
    "pem header": "-----BEGIN ",
    "pem header + run": "-----BEGIN RSA PRIVATE KEY----- Ab3dEf7hIj9kLm1nOp ",
    "dashes": "-",
    "email-ish": "@a.",
    "url userinfo": "://a:b@",
    "token prefix": "sk-",
    "token prefix in run": "/sk-",
    "assignment": "password=",
    "assignment, quoted": 'password="',
    "colons": "a:",
    "escapes": "\\u0034",
    "entities": "&#52;",
    "percent": "%34",
    "hex run": "0123456789abcdef",
    "base64 run": "Ab3dEf7hIj9kLm1nOp2qRs4tUv6wXy8z",
    "nbsp digits": "4111\u00a0",
    "fullwidth digits": "４１１１ ",
    "zero-width": "4\u200b",
    # groups split by tabs, commas or line breaks: read as IDs after a label (`ids`)
    "id groups, tab + capital": "12\tA",
    "id groups, comma + capital": "12,A",
    "id groups, ' - '": "12 - 34 - ",
    "labelled id, tabs": "SSN: 000\t00\t0000 ",
    "labelled id, lines": "Steuer-ID:\n00\n000\n000\n000\n",
    "label, then digits": "BSN 12 ",
    "nino, tabs": "AB\t12\t34\t56\tZ ",
    "corsican nir, label": "INSEE 1 49 08 2A 004 126 2",
    "phones, compact": "0612345670 ",
    "phones, slashes": "0151/2345678/",
    "phones, parentheses": "(022) 4548 ",
    # secrets wrapped over two lines (`keys`, `assigned`, `emails`)
    "wrapped assignment": "password=ab\ncd ",
    "wrapped assignment name": "aws_secret_access\n_key = ",
    "sendgrid head": "SG.abcdefghijklmnopqrstuv.",
    "sendgrid, wrapped": "SG.abcdefghij\nklmnopqrstuv.",
    "wrapped url userinfo": "://a\n:b@",
    "wrapped webhook": "hooks.slack.com/servi\nces/T0000000/B0000000/",
}
# Varied content (each item different, so no cache helps): (name, one random item).
ITEMS: dict[str, Callable[[random.Random], str]] = {
    "random NANP phones": lambda r: (
        f"+1 {r.randrange(200, 999)} {r.randrange(200, 999)} {r.randrange(10**4):04d} "
    ),
    "random 4-digit groups": lambda r: f"{r.randrange(2000, 7000)} ",
    "random IBAN-like": lambda r: (
        f"DE{r.randrange(10, 99)} {r.randrange(10**4):04d} "
        f"{r.randrange(10**4):04d} {r.randrange(10**4):04d} {r.randrange(10**4):04d} 00 "
    ),
    "random assignments": lambda r: f"password={r.randrange(10**9):x}!{r.randrange(10**6)} ",
    "random compact trunk numbers": lambda r: f"0{r.randrange(10**8, 10**10)} ",
    "random labelled IDs, tabs": lambda r: (
        f"SSN:\t{r.randrange(100, 999)}\t{r.randrange(10, 99)}\t{r.randrange(10**4):04d} "
    ),
}
# Characters the detectors react to, for the random search.
ALPHABET = "0123456789 -./,_:=@+\n\t\"'\\%&#ABEGIKNSadeksuwpx\u00a0\u200b٤"


def _repeat(fragment: str, size: int) -> str:
    return (fragment * (size // len(fragment) + 1))[:size]


def _items(make: Callable[[random.Random], str], size: int) -> str:
    rng = random.Random(size)
    parts, n = [], 0
    while n < size:
        parts.append(make(rng))
        n += len(parts[-1])
    return "".join(parts)[:size]


def _prose(size: int) -> str:
    return _repeat(_prompts.REPORT, size)


def _plan(text: str) -> object:
    return _router().plan([{"role": "user", "content": text}])


@functools.cache
def _router() -> Router:
    return Router(
        deployments=[{"name": "local", "model": "openai/q", "api_base": "http://127.0.0.1:9/v1",
                      "context_window": 8_000_000}]
    )  # fmt: skip


_WORK: list[Callable[[str], object]] = [detect]


def _seconds(text: str, runs: int) -> float:
    samples = []
    work = _WORK[0]
    for _ in range(runs):
        start = time.perf_counter()
        work(text)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _measure(make: Callable[[int], str], runs: int) -> tuple[float, float]:
    """Seconds per MB at 1 MB, and the 1 MB / 256 KB time ratio."""
    small, big = (_seconds(make(size), runs) for size in SIZES)
    return big * (1024 * KB) / SIZES[1], big / small if small else float("inf")


def _search(rng: random.Random, tries: int) -> tuple[str, float]:
    """The slowest random fragment found (timed at 64 KB)."""
    worst, worst_t = "", 0.0
    for _ in range(tries):
        fragment = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 24)))
        t = _seconds(_repeat(fragment, 64 * KB), 1)
        if t > worst_t:
            worst, worst_t = fragment, t
    return worst, worst_t * 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run each, 100 random tries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plan", action="store_true", help="time Router.plan, not detect")
    args = parser.parse_args()
    runs = 1 if args.quick else RUNS
    warm_up()
    if args.plan:
        _WORK[0] = _plan
        _plan("warm up the router")
    rows: list[tuple[str, str, float, float]] = []
    per_mb, ratio = _measure(_prose, runs)
    rows.append(("reference: English prose", "", per_mb, ratio))
    for name, fragment in FRAGMENTS.items():
        per_mb, ratio = _measure(functools.partial(_repeat, fragment), runs)
        rows.append((name, fragment, per_mb, ratio))
    for name, make in ITEMS.items():
        per_mb, ratio = _measure(functools.partial(_items, make), runs)
        rows.append((name, "", per_mb, ratio))
    rng = random.Random(args.seed)
    found, _ = _search(rng, 100 if args.quick else 400)
    per_mb, ratio = _measure(functools.partial(_repeat, found), runs)
    rows.append(("random search: slowest", found, per_mb, ratio))

    print(f"{'input (repeated)':32} {'fragment':30} {'s/MB':>7} {'1MB/256KB':>9}")
    for name, fragment, per_mb, ratio in rows:
        print(f"{name:32} {fragment[:30]!r:30} {per_mb:7.3f} {ratio:9.2f}")
    worst = max(rows[1:], key=lambda r: r[2])
    print(f"worst: {worst[0]} ({worst[1]!r}) at {worst[2]:.3f} s/MB; prose {rows[0][2]:.3f} s/MB")


if __name__ == "__main__":
    main()
