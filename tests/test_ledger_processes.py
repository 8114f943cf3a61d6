"""The ledger and budgets across OS processes: several writers on one SQLite file, one
small hard budget hammered at once, and a writer killed with SIGKILL mid-run.

The workers (tests/ledger_worker.py) are served by a MockBackend in their own process:
what is under test is the ledger's file locking and the budget's bound, not the HTTP
stack (tests/test_state_processes.py keeps a multi-process test on litellm and a
FaultServer).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from router.money._ledger import Ledger

WORKER = Path(__file__).parent / "ledger_worker.py"
API_CALL_MICRO = 1500  # 50 prompt + 100 completion tokens at $10/M


def spawn(ledger: Path, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "ROUTER_TEST_LEDGER_KEY": "sk-test-not-a-real-key"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(ledger), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_processes_hammering_one_small_budget_never_overspend_it(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    budget_usd = 0.02  # room for 13 API calls at $0.0015
    workers = [spawn(ledger, 20, 4, budget_usd) for _ in range(3)]
    outputs = [w.communicate(timeout=180) for w in workers]
    for w, (_, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err[-2000:]
    lines = [line.split() for out, _ in outputs for line in out.splitlines()]
    assert len(lines) == 60
    seen_cost = sum(int(cost) for _, _, cost in lines)
    with sqlite3.connect(ledger) as conn:
        recorded, spent_records = conn.execute(
            "SELECT COUNT(*), SUM(cost_micro) FROM records"
        ).fetchone()
        (counter,) = conn.execute("SELECT spent_micro FROM spend").fetchone()
        (left_held,) = conn.execute("SELECT COUNT(*) FROM reservations").fetchone()
    conn.close()
    assert recorded == 60  # no lost record
    assert spent_records == seen_cost == counter  # no lost or double-counted settlement
    assert counter <= budget_usd * 1_000_000  # the documented bound: 0 over the limit
    api_calls = sum(served == "api" for served, *_ in (line[1:] for line in lines))
    assert api_calls == counter // API_CALL_MICRO
    assert api_calls >= 10  # the budget was really used, not refused wholesale
    assert left_held == 0


def test_every_call_that_returned_is_in_the_ledger_after_sigkill(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    worker = spawn(ledger, 100_000, 2, 1000.0)
    assert worker.stdout is not None
    returned = 0
    for line in worker.stdout:
        assert line.startswith("done ")
        returned += 1
        if returned == 40:
            worker.send_signal(signal.SIGKILL)
            break
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    book = Ledger(ledger)  # opens cleanly after the kill
    assert book.count() >= returned
    ((spent,),) = book.query("SELECT COALESCE(SUM(spent_micro), 0) FROM spend")
    ((recorded,),) = book.query("SELECT COALESCE(SUM(cost_micro), 0) FROM records")
    assert spent == recorded  # record and settlement were written together or not at all


OPEN_AT_ONCE = """
import sys, time
from router.money._ledger import Ledger
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
Ledger(sys.argv[1]).reserve("t", [("b", "w", 10**9)], 1, now=1.0, hold_seconds=10)
"""


@pytest.mark.parametrize("round_", range(3))
def test_processes_creating_one_new_ledger_at_once_all_open_it(tmp_path: Path, round_: int) -> None:
    path = tmp_path / f"new-{round_}.sqlite"
    start = time.time() + 1.5  # after every interpreter has started
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, str(path), str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, "\n".join(e[-800:] for e in errors if e)
    assert Ledger(path).query("SELECT COUNT(*) FROM reservations") == [(6,)]
