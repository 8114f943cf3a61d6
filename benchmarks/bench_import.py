"""What `import router` costs a process, next to `import litellm`.

Each figure is the median over fresh interpreters (`python -c ...`), timed with
time.perf_counter around the import inside the child, so interpreter start-up is not
counted (the wall time of the whole child is shown too). One unmeasured run first
compiles the .pyc files. `-X importtime` of one more child names the slowest modules.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

TARGET_MS = 300.0
ROUTER_RUNS = 9
LITELLM_RUNS = 5  # ~2.5-9 s each

_REPO = Path(__file__).resolve().parent.parent
_CHILD = """\
import json, sys, time
t0 = time.perf_counter()
import {module}
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({{"ms": ms, "litellm_loaded": "litellm" in sys.modules}}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch a price map
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _child(module: str) -> tuple[dict[str, Any], float]:
    """(what the child reports, wall seconds of the whole child)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        cwd=_REPO,
        env=_env(),
        timeout=120,
    )
    wall = time.perf_counter() - t0
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report, wall


def _measure(module: str, runs: int) -> tuple[float, float, bool]:
    """(median import ms, median child wall ms, litellm in sys.modules in every run)."""
    _child(module)  # unmeasured: compile .pyc, warm the file cache
    ms: list[float] = []
    walls: list[float] = []
    loaded = False
    for _ in range(runs):
        report, wall = _child(module)
        ms.append(float(report["ms"]))
        walls.append(wall * 1000)
        loaded = loaded or bool(report["litellm_loaded"])
    return statistics.median(ms), statistics.median(walls), loaded


def _slowest_modules(module: str, top: int = 6) -> list[tuple[int, str]]:
    """(self µs, module) of the slowest modules `-X importtime` reports for one import."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=_REPO,
        env=_env(),
        timeout=120,
    )
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3:
            rows.append((int(fields[0].strip()), fields[2].strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    print(f"python {sys.version.split()[0]}; fresh interpreter per run, median of the runs")
    r_ms, r_wall, r_litellm = _measure("router", ROUTER_RUNS)
    l_ms, l_wall, _ = _measure("litellm", LITELLM_RUNS)
    print()
    print(f"  {'import':<16} {'runs':>4} {'import ms':>10} {'child wall ms':>14}")
    print(f"  {'router':<16} {ROUTER_RUNS:>4} {r_ms:>10.1f} {r_wall:>14.1f}")
    print(f"  {'litellm':<16} {LITELLM_RUNS:>4} {l_ms:>10.1f} {l_wall:>14.1f}")
    print(f"  litellm / router: {l_ms / r_ms:.1f}x  (what importing litellm lazily saves)")
    print()
    print("  slowest modules under `import router` (-X importtime, self time):")
    for us, name in _slowest_modules("router"):
        print(f"    {us / 1000:>7.1f} ms  {name}")
    print()
    print("targets (a report, not an assertion):")
    ok_ms = r_ms <= TARGET_MS
    print(
        f"  import router <= {TARGET_MS:.0f} ms          measured {r_ms:>8.1f} ms   "
        f"{'PASS' if ok_ms else 'MISS'}"
    )
    print(
        f"  litellm not imported by it        measured {'imported' if r_litellm else 'absent':>11}"
        f"   {'MISS' if r_litellm else 'PASS'}"
    )


if __name__ == "__main__":
    main()
