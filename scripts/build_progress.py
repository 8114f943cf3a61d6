"""Show a long source build's progress: read `pip wheel -v` output on stdin, keep all of it in
a log file, and print one short line per 10 % of ninja's [N/M] steps, plus a heartbeat every
15 s when nothing else was printed (downloading, configuring, or one long compile).

    pip wheel -v ... 2>&1 | python scripts/build_progress.py LOGFILE

Standard library only: it runs before anything else is installed. Used by scripts/setup.sh.
"""

from __future__ import annotations

import os
import re
import select
import sys
import time
from typing import BinaryIO

STEP = re.compile(rb"^\s*\[(\d+)/(\d+)\]")  # pip -v indents the build output
PHASE = re.compile(rb"^\*\*\* (.+)")  # scikit-build-core: "*** Configuring CMake...", ...
HEARTBEAT_S = 15.0
EVERY_PERCENT = 10


def main() -> int:
    with open(sys.argv[1], "wb") as log:
        return follow(log)


def follow(log: BinaryIO) -> int:
    start = last_print = time.monotonic()
    done = total = 0
    shown = -EVERY_PERCENT
    pending = b""
    fd = sys.stdin.fileno()

    def say(text: str) -> None:
        nonlocal last_print
        last_print = time.monotonic()
        elapsed = int(last_print - start)
        print(f"    [{elapsed // 60}:{elapsed % 60:02d}] {text}", flush=True)

    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            log.write(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if m := STEP.match(line):
                    done, total = int(m[1]), int(m[2])
                    percent = 100 * done // total
                    if percent >= shown + EVERY_PERCENT or done == total:
                        shown = percent - percent % EVERY_PERCENT
                        say(f"compiled {done}/{total} ({percent}%)")
                elif m := PHASE.match(line.strip()):
                    say(m[1].decode(errors="replace").rstrip("."))
        if time.monotonic() - last_print >= HEARTBEAT_S:
            where = f"{done}/{total} compiled" if total else "preparing the build"
            say(f"still working: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
