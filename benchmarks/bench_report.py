"""`python -m router report` over a ledger of 1,000,000 records: target <= 10 s.

Builds a synthetic ledger in a temporary directory (one `executemany` in one
transaction), then times `build_report` + `render_text` (and, separately,
`render_html`) over it twice in this process, then the whole command in a new one
(`python -m router report --ledger ... --html ...`: start-up and imports included).

The records are realistic: 90 UTC days, 12 tenants with skewed traffic, six
deployments (two local, one self-hosted, three APIs), four sensitivity levels
(confidential-or-above always served locally), ~96% answered, errors, unservable
requests, interrupted streams, cache hits, fallbacks, log-normal latencies, token
counts priced at the deployments' prices with a gpt-4o baseline. The `decision`
column holds a real `Decision.to_dict()` JSON of about 1.6 KB (features, three
candidates, up to three rejections with their reasons, attempts, usage, cost), built
from a few hundred templates keyed by tenant, sensitivity, deployment and outcome, each
row with its own random prompt hash: a 2 GB ledger. A Router with nine deployments
writes ~2.7 KB decisions (every candidate and rejection): `--pad 1100` adds a
rejection of that many bytes to each record to match.

Run: .venv/bin/python benchmarks/bench_report.py [--records N] [--pad BYTES] [--keep PATH]
"""

from __future__ import annotations

import argparse
import functools
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from router._models import Features, Sensitivity
from router._records import Attempt, Candidate, Cost, Decision, Rejection, Usage
from router.money._ledger import Ledger, row_of
from router.tools._report import build_report, render_html, render_text

TARGET_S = 10.0
DAY = 86_400.0
START = 1_735_689_600.0  # 2025-01-01 00:00 UTC
DAYS = 90
TENANTS = (
    "acme", "globex", "initech", "umbrella", "hooli", "stark",
    "wayne", "wonka", "tyrell", "cyberdyne", "soylent", "vandelay",
)  # fmt: skip
TENANT_WEIGHTS = (30, 20, 12, 9, 7, 6, 5, 4, 3, 2, 1, 1)
# name, hosting, weights, $ per input token, $ per output token, traffic weight
DEPLOYMENTS = (
    ("local-qwen", "local", "open", 0.0, 0.0, 45),
    ("local-llama", "local", "open", 0.0, 0.0, 20),
    ("gpu-llama", "self-hosted", "open", 1e-8, 1e-7, 10),
    ("gpt-4o-mini", "api", "closed", 1.5e-7, 6e-7, 12),
    ("gpt-4o", "api", "closed", 2.5e-6, 1e-5, 9),
    ("claude-sonnet", "api", "closed", 3e-6, 1.5e-5, 4),
)
LOCAL = tuple(d for d in DEPLOYMENTS if d[1] == "local")
BASELINE = (2.5e-6, 1e-5)  # gpt-4o
SENSITIVITY: tuple[tuple[Sensitivity, int], ...] = (
    ("public", 60),
    ("internal", 25),
    ("confidential", 12),
    ("restricted", 3),
)
HASH = "H" * 64  # replaced by a random prompt hash in every row
NAMES = (
    "ts", "day", "tenant", "tags", "sensitivity", "policy_fingerprint", "outcome", "error",
    "served_by", "hosting", "weights", "cache_hit", "attempts", "fallbacks", "latency_ms",
    "prompt_tokens", "completion_tokens", "cost_micro", "baseline_micro", "budget_changed",
    "decision", "prompt",
)  # fmt: skip
"""The columns written (the ledger's others, budget tickets, stay NULL)."""


@functools.cache
def _decision_json(
    tenant: str,
    sensitivity: Sensitivity,
    served: str | None,
    fell_back: bool,
    outcome: str,
    *,
    pad: int = 0,
) -> str:
    """A real Decision's JSON for this kind of record (usage and cost are illustrative:
    the columns carry each row's own numbers)."""
    pool = LOCAL if sensitivity in ("confidential", "restricted") else DEPLOYMENTS
    names = [d[0] for d in pool]
    first = served or names[0]
    order = [first, *[n for n in names if n != first]][:3]
    by_name = {d[0]: d for d in DEPLOYMENTS}
    candidates = tuple(
        Candidate(
            name=n, model=f"openai/{n}", hosting=by_name[n][1], weights=by_name[n][2],  # type: ignore[arg-type]
            est_cost_usd=by_name[n][3] * 800 + by_name[n][4] * 1024, quality=0.8,
            quality_source="deployment", meets_target=True, why="cheapest meeting the target",
        )
        for n in order
    )  # fmt: skip
    rejected = tuple(
        Rejection(
            d[0],
            "policy",
            (f"confidential-local#2 deny: {sensitivity} data may not leave your machines",),
        )
        for d in DEPLOYMENTS
        if d[0] not in names
    )[:3] or (Rejection("gpt-4o", "facts", ("context window 128,000 < prompt + output budget",)),)
    if pad:
        rejected += (Rejection("padding", "facts", ("x" * pad,)),)
    attempts: list[Attempt] = []
    if fell_back:
        attempts.append(Attempt(order[1], 1, "fallback", "ProviderUnavailable", 812.5))
    if outcome == "error":
        attempts.append(Attempt(order[0], 1, "gave up", "ProviderTimeout", 30_000.0))
    elif outcome != "unservable":
        attempts.append(Attempt(first, 1, "ok", None, 412.0))
    usage = Usage(800, 200, "provider") if outcome in ("ok", "interrupted") else None
    decision = Decision(
        features=Features(
            prompt_hash=HASH, prompt_bytes=3200, prompt_tokens=800, prompt_tokens_exact=True,
            max_output_tokens=1024, output_budget_source="default", capabilities=("json",),
            declared_sensitivity=sensitivity, sensitivity=sensitivity, tenant=tenant,
            tags=("support", "eu"),
        ),
        candidates=candidates if outcome != "unservable" else (),
        rejected=rejected,
        policy="confidential-local",
        policy_fingerprint="3f9a1c2b7d4e",
        objective="cheapest",
        quality_target=0.7,
        attempts=tuple(attempts),
        served_by=served,
        usage=usage,
        cost=Cost(1500, 4000) if usage else None,
    )  # fmt: skip
    return row_of(decision, ts=START, outcome="ok", latency_ms=0.0).decision


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def synthetic_rows(n: int, seed: int = 7, pad: int = 0) -> list[tuple[object, ...]]:
    """`n` ledger rows in time order (values in `NAMES` order)."""
    rng = random.Random(seed)
    tenants = rng.choices(TENANTS, TENANT_WEIGHTS, k=n)
    sens_levels = rng.choices([s for s, _ in SENSITIVITY], [w for _, w in SENSITIVITY], k=n)
    deps = rng.choices(DEPLOYMENTS, [d[5] for d in DEPLOYMENTS], k=n)
    step = DAYS * DAY / n
    rows: list[tuple[object, ...]] = []
    for i in range(n):
        ts = START + i * step
        tenant, sensitivity, dep = tenants[i], sens_levels[i], deps[i]
        if sensitivity in ("confidential", "restricted") and dep[1] != "local":
            dep = LOCAL[i % len(LOCAL)]
        u = rng.random()
        outcome = (
            "ok" if u < 0.96 else "error" if u < 0.98 else "unservable" if u < 0.99 else
            "interrupted"
        )  # fmt: skip
        served = outcome in ("ok", "interrupted")
        fell_back = outcome != "unservable" and rng.random() < 0.03
        cache_hit = outcome == "ok" and rng.random() < 0.1
        prompt_tokens = int(rng.lognormvariate(6.5, 0.8)) if served else 0
        completion_tokens = int(rng.lognormvariate(5.3, 0.7)) if served else 0
        cost = (
            round((prompt_tokens * dep[3] + completion_tokens * dep[4]) * 1e6)
            if served and not cache_hit
            else 0
        )
        baseline = (
            round((prompt_tokens * BASELINE[0] + completion_tokens * BASELINE[1]) * 1e6)
            if served
            else None
        )
        latency = (
            2.0 if cache_hit else 0.3 if outcome == "unservable" else rng.lognormvariate(6.2, 0.6)
        )
        decision = _decision_json(
            tenant, sensitivity, dep[0] if served else None, fell_back, outcome, pad=pad
        ).replace(HASH, rng.randbytes(32).hex())
        rows.append(
            (
                ts, time.strftime("%Y-%m-%d", time.gmtime(ts)), tenant, '["support", "eu"]',
                sensitivity, "3f9a1c2b7d4e", outcome,
                None if outcome == "ok" else {
                    "error": "AllDeploymentsFailed", "unservable": "NoEligibleDeployment",
                    "interrupted": "StreamInterrupted",
                }[outcome],
                dep[0] if served else None, dep[1] if served else None,
                dep[2] if served else None, int(cache_hit),
                0 if outcome == "unservable" else 1 + int(fell_back), int(fell_back),
                latency, prompt_tokens, completion_tokens, cost, baseline,
                int(rng.random() < 0.01), decision, None,
            )
        )  # fmt: skip
    return rows


def make_ledger(path: Path, n: int, seed: int = 7, pad: int = 0) -> float:
    """Write a ledger of `n` synthetic records at `path`; returns the seconds it took."""
    t0 = time.perf_counter()
    Ledger(path).close()
    rows = synthetic_rows(n, seed, pad)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")  # one big load: no 1 GB WAL to checkpoint
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO records ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})",
            rows,
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return time.perf_counter() - t0


def _time_report(path: Path) -> tuple[float, float, float, str]:
    t0 = time.perf_counter()
    ledger = Ledger(path, create=False)
    report = build_report(ledger, since=None, tenant=None)
    t1 = time.perf_counter()
    text = render_text(report)
    t2 = time.perf_counter()
    render_html(report)
    t3 = time.perf_counter()
    ledger.close()
    return t1 - t0, t2 - t1, t3 - t2, text


def _verdict(seconds: float) -> str:
    return f"target <= {TARGET_S:g} s: {'PASS' if seconds <= TARGET_S else 'MISS'}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--pad", type=int, default=0, help="bytes added to each decision JSON")
    p.add_argument("--keep", type=Path, help="build (or reuse) the ledger at this path")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path: Path = args.keep or Path(tmp) / "ledger.sqlite"
        if not path.exists():
            took = make_ledger(path, args.records, pad=args.pad)
            print(f"wrote {args.records:,} synthetic records in {took:.1f} s")
        with sqlite3.connect(path) as conn:
            (n,) = conn.execute("SELECT COUNT(*) FROM records").fetchone()
            (avg_decision,) = conn.execute(
                "SELECT AVG(LENGTH(decision)) FROM records WHERE id <= 10000"
            ).fetchone()
        conn.close()
        print(
            f"ledger: {n:,} records, {path.stat().st_size / 2**20:,.0f} MiB, decision JSON "
            f"{avg_decision or 0:,.0f} bytes on average"
        )
        text = ""
        for label in ("run 1", "run 2"):
            build, render, html_s, text = _time_report(path)
            print(
                f"{label}: build_report {build:.2f} s + render_text {render:.3f} s = "
                f"{build + render:.2f} s ({_verdict(build + render)}); "
                f"render_html {html_s:.3f} s"
            )
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "router", "report", "--ledger", str(path),
             "--html", str(Path(tmp) / "report.html")],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        took = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"the command failed: {done.stderr.strip()}")
        print(
            f"the command, end to end (python -m router report --ledger ... --html ...): "
            f"{took:.2f} s ({_verdict(took)})"
        )
        print("report head:\n  " + "\n  ".join(text.splitlines()[:9]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
