"""What starting up costs a process: `import router`, the Router, litellm, the first call.

Import: each case runs in a fresh interpreter (`python -c ...`), the cases interleaved
run by run (so a noisy moment hits them all), next to `python -c pass`. Each child
times its own statement with time.perf_counter (interpreter start-up not counted); the
wall time of the whole child is shown too, and its ratio to `python -c pass`. Two
rows per case: with the .pyc files users have (compiled once, unmeasured) and with none
(`-X pycache_prefix` on an empty folder: every module compiled from source, as under
PYTHONDONTWRITEBYTECODE=1 with no cache). `-X importtime` of one more child names the
slowest modules.

First call: a Router on a loopback FaultServer in a fresh process; the latency of its
first `complete` with no warmup, after `Router.warmup()`, and right after
`Router(..., warmup="background")` (the request waits for the thread), and the second
`complete` for comparison. Medians over fresh processes; a report, never an assertion.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

TARGET_MS = 300.0
RUNS = 9  # fresh interpreters per cheap case
LITELLM_RUNS = 3  # `import litellm`: ~2.5-9 s each
FIRST_CALL_RUNS = 3  # each imports litellm

_REPO = Path(__file__).resolve().parent.parent
_DEPLOYMENT = (
    "[{'name': 'local', 'model': 'openai/m', 'api_base': 'http://127.0.0.1:9/v1', "
    "'context_window': 8192}]"
)
CASES: tuple[tuple[str, str, str], ...] = (
    # (label, set-up not timed, statement timed)
    ("python -c pass", "", "pass"),
    ("import router", "", "import router"),
    ("from router import Router", "", "from router import Router"),
    ("+ Router(1 deployment)", "", f"import router; router.Router({_DEPLOYMENT})"),
)
_CHILD = """\
import json, sys, time
{setup}
t0 = time.perf_counter()
{statement}
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({{"ms": ms, "litellm_loaded": "litellm" in sys.modules}}))
"""

_FIRST_CALL = """\
import json, sys, time
mode = sys.argv[1]
t0 = time.perf_counter()
import router
from router.testing import FaultServer
with FaultServer() as server:
    r = router.Router(
        [{"name": "local", "model": "openai/m", "api_base": server.base_url,
          "context_window": 8192}],
        warmup="background" if mode == "background" else False,
    )
    warm_s = r.warmup() if mode == "warmup" else 0.0
    t1 = time.perf_counter()
    first = r.complete([{"role": "user", "content": "hi"}])
    first_ms = (time.perf_counter() - t1) * 1000
    t2 = time.perf_counter()
    r.complete([{"role": "user", "content": "hi"}])
    second_ms = (time.perf_counter() - t2) * 1000
print(json.dumps({"warmup_ms": warm_s * 1000, "first_ms": first_ms, "second_ms": second_ms,
                  "cold": first.decision.cold_start}))
"""


def _env(pycache: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch a price map
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pycache is not None:  # compile from source: an empty cache, nothing written
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _child(setup: str, statement: str, pycache: str | None = None) -> tuple[dict[str, Any], float]:
    """(what the child reports, wall ms of the whole child)."""
    flags = ["-X", f"pycache_prefix={pycache}"] if pycache is not None else []
    code = _CHILD.format(setup=setup, statement=statement)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=_REPO,
        env=_env(pycache),
        timeout=300,
    )
    wall = (time.perf_counter() - t0) * 1000
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report, wall


def _measure(
    cases: tuple[tuple[str, str, str], ...], runs: int, pycache: str | None
) -> dict[str, tuple[float, float, bool]]:
    """label -> (median statement ms, median child wall ms, litellm loaded in any run),
    the cases interleaved run by run."""
    for _, setup, statement in cases:
        _child(setup, statement)  # unmeasured: compile the .pyc files, warm the file cache
    ms: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    walls: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    loaded: dict[str, bool] = dict.fromkeys(ms, False)
    for _ in range(runs):
        for label, setup, statement in cases:
            report, wall = _child(setup, statement, pycache)
            ms[label].append(float(report["ms"]))
            walls[label].append(wall)
            loaded[label] = loaded[label] or bool(report["litellm_loaded"])
    return {
        label: (statistics.median(ms[label]), statistics.median(walls[label]), loaded[label])
        for label in ms
    }


def _slowest_modules(module: str, top: int = 8) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) of the slowest modules `-X importtime` reports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=_REPO,
        env=_env(None),
        timeout=120,
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3:
            rows.append((int(fields[0].strip()), int(fields[1].strip()), fields[2].strip()))
    return sorted(rows, reverse=True)[:top]


def _first_calls(runs: int) -> dict[str, dict[str, float]]:
    """mode -> median of each figure over `runs` fresh processes, modes interleaved."""
    modes = ("none", "warmup", "background")
    seen: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for _ in range(runs):
        for mode in modes:
            done = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL, mode],
                capture_output=True,
                text=True,
                check=True,
                cwd=_REPO,
                env=_env(None),
                timeout=300,
            )
            seen[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        mode: {
            key: statistics.median(float(r[key]) for r in rows)
            for key in ("warmup_ms", "first_ms", "second_ms", "cold")
        }
        for mode, rows in seen.items()
    }


def _table(title: str, figures: dict[str, tuple[float, float, bool]], runs: int) -> None:
    base_wall = figures["python -c pass"][1]
    print(f"  {title}")
    print(f"    {'case':<27} {'runs':>4} {'stmt ms':>9} {'child wall ms':>14} {'wall / pass':>12}")
    for label, (ms, wall, _) in figures.items():
        print(f"    {label:<27} {runs:>4} {ms:>9.1f} {wall:>14.1f} {wall / base_wall:>11.2f}x")


def main() -> None:
    print(
        f"python {sys.version.split()[0]}; fresh interpreter per run, medians; cases "
        "interleaved run by run"
    )
    cached = _measure(CASES, RUNS, None)
    with tempfile.TemporaryDirectory(prefix="router-pycache-") as empty:
        source = _measure(CASES, RUNS, empty)
    litellm = _measure(
        (("python -c pass", "", "pass"), ("import litellm", "", "import litellm")),
        LITELLM_RUNS,
        None,
    )
    print()
    _table("with .pyc files (what users have)", cached, RUNS)
    print()
    _table("no .pyc (every module compiled from source)", source, RUNS)
    print()
    _table("litellm, for scale", litellm, LITELLM_RUNS)
    r_ms = cached["import router"][0]
    full_ms = cached["from router import Router"][0]
    l_ms = litellm["import litellm"][0]
    print(
        f"    import litellm / import router: {l_ms / r_ms:.0f}x;  / from router import Router: "
        f"{l_ms / full_ms:.1f}x  (what importing litellm lazily saves)"
    )
    print()
    print("  slowest modules under `from router import Router` (-X importtime, .pyc):")
    print(f"    {'self ms':>8} {'cumul ms':>9}  module")
    for us, cum, name in _slowest_modules("router._router"):
        print(f"    {us / 1000:>8.1f} {cum / 1000:>9.1f}  {name}")
    print()
    calls = _first_calls(FIRST_CALL_RUNS)
    print(
        f"  first Router.complete of a process (loopback FaultServer, {FIRST_CALL_RUNS} "
        "fresh processes, medians):"
    )
    print(
        f"    {'warmup':<34} {'warmup ms':>10} {'1st call ms':>12} {'2nd call ms':>12} {'cold':>5}"
    )
    names = {
        "none": "none (the 1st call imports litellm)",
        "warmup": "Router.warmup() before it",
        "background": 'warmup="background", call at once',
    }
    for mode, row in calls.items():
        print(
            f"    {names[mode]:<34} {row['warmup_ms']:>10.0f} {row['first_ms']:>12.1f} "
            f"{row['second_ms']:>12.1f} {'yes' if row['cold'] >= 0.5 else 'no':>5}"
        )
    cold, warm = calls["none"]["first_ms"], calls["warmup"]["first_ms"]
    print(f"    first call without / with warmup: {cold / warm:.0f}x")
    print()
    print("targets (a report, not an assertion):")
    print(
        f"  import router <= {TARGET_MS:.0f} ms (.pyc)     measured {r_ms:>8.1f} ms   "
        f"{'PASS' if r_ms <= TARGET_MS else 'MISS'}"
    )
    src_ms = source["import router"][0]
    print(
        f"  import router <= {TARGET_MS:.0f} ms (no .pyc)  measured {src_ms:>8.1f} ms   "
        f"{'PASS' if src_ms <= TARGET_MS else 'MISS'}"
    )
    loaded = any(v[2] for k, v in cached.items() if k != "python -c pass")
    print(
        f"  litellm not imported by them      measured {'imported' if loaded else 'absent':>11}"
        f"   {'MISS' if loaded else 'PASS'}"
    )
    print(
        f"  1st call after warmup ~ 2nd call  measured {warm:>8.1f} ms vs "
        f"{calls['warmup']['second_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
