"""The soak (`scripts/soak.py`) at a small size, so that CI runs its checks: mixed async
requests and streams against random-fault servers, several tenants, tight hard budgets,
confidential requests, callers that close, drop or cancel; then every request ended in
an answer or a typed error, the ledger holds one record per request, spend and every
budget counter equal the settled costs (within the limit), no confidential request
reached an API, and memory did not grow past x1.5 between a quarter and the end."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "soak.py"


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


soak = load_soak()


@pytest.mark.parametrize("state", ["local", "redis"])
def test_soak_small_every_check_passes(state: str, tmp_path: Path) -> None:
    report = soak.soak(600, state=state, concurrency=30, seed=11, workdir=tmp_path,
                       max_rss_growth=1.5)  # fmt: skip
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
    assert failed == []
    names = {c.name for c in report.checks}
    assert len(names) == 9  # memory included: both checkpoints were measured
    outcomes = report.tally.outcomes
    assert sum(outcomes.values()) == 600
    # The faults and the callers' misbehaviour really happened at this size.
    assert outcomes["answer"] > 300
    assert outcomes["answer (closed early)"] > 0
    assert outcomes["NoEligibleDeployment"] > 0  # tools requests once the budget is spent
    assert outcomes["StreamInterrupted"] + outcomes["AllDeploymentsFailed"] > 0
    assert report.tally.seen_micro > 0


def test_the_checks_catch_a_lost_record_and_an_overspent_counter(tmp_path: Path) -> None:
    """The checks are not vacuous: a ledger missing a record, or a counter that does not
    match its records, fails them."""
    report = soak.soak(120, concurrency=20, seed=3, workdir=tmp_path)
    assert report.ok, [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
    import sqlite3  # noqa: PLC0415

    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    with conn:
        (ticket,) = conn.execute(
            "SELECT id FROM records WHERE cost_micro > 0 ORDER BY id LIMIT 1"
        ).fetchone()
        conn.execute("DELETE FROM records WHERE id = ?", (ticket,))
        conn.execute("UPDATE spend SET spent_micro = spent_micro + 10000000")
    conn.close()
    checks = {c.name: c.ok for c in soak.check(report.tally, 120, tmp_path / "ledger.sqlite",
                                               None, 1.25)}  # fmt: skip
    assert checks["ledger records == requests"] is False
    assert checks["ledger spend == sum of the costs the callers saw"] is False
    assert checks["each budget counter == the sum of its records' costs"] is False
    assert checks["each budget counter <= its limit (bound: 0 over)"] is False


def test_a_request_its_caller_cancels_is_recorded_and_releases_its_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that disconnects (its task cancelled mid-call) still leaves one record,
    and the money its request held goes back to the budget at once (found by the soak:
    such requests had no record and held their reservation until it lapsed)."""
    import asyncio  # noqa: PLC0415

    import router  # noqa: PLC0415
    from router.money._ledger import Ledger  # noqa: PLC0415
    from router.serving._backends import _litellm  # noqa: PLC0415
    from router.testing import FaultServer, hang  # noqa: PLC0415

    ledger = Ledger(tmp_path / "ledger.sqlite")
    with FaultServer(default=hang(5.0)) as api:
        r = router.Router(
            deployments=[{"name": "api", "model": "openai/x", "api_base": api.base_url,
                          "hosting": "api", "weights": "closed",
                          "api_key_env": "ROUTER_SOAK_CANCEL_KEY",
                          "context_window": 8192, "input_cost_per_mtok": 10,
                          "output_cost_per_mtok": 10}],
            ledger=ledger,
            budgets=[{"tenant": "acme", "period": "day", "usd": 1.0}],
        )  # fmt: skip

        async def call() -> None:
            messages = [{"role": "user", "content": "Say hello to the team"}]
            await asyncio.wait_for(r.acomplete(messages, tenant="acme", max_tokens=50), 2.0)

        monkeypatch.setenv("ROUTER_SOAK_CANCEL_KEY", "sk-test-not-a-real-key")
        _litellm()  # imported before the clock runs (it takes seconds)
        with pytest.raises(TimeoutError):
            asyncio.run(call())
        assert len(api.requests) == 1  # the call was out when the caller left
    rows = ledger.query("SELECT outcome, error, cost_micro FROM records")
    assert rows == [("error", "CancelledError", 0)]
    assert ledger.query("SELECT COUNT(*) FROM reservations") == [(0,)]
    assert ledger.query("SELECT COALESCE(SUM(spent_micro), 0) FROM spend") == [(0,)]
