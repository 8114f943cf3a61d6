"""`python -m router report`: exact figures over hand-built ledgers, the same figures over
records written by real Routers against loopback fault servers, the compliance line and
its offenders, bad input (exit 2, one line, files untouched), and a self-contained HTML
page. That a real browser renders the page is checked by scripts/check-report-html.sh
(it needs chromium)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from factories import features

import router
from router._models import Sensitivity
from router._records import Attempt, Candidate, Cost, Decision, Usage
from router.decision._policy import Policy
from router.errors import AllDeploymentsFailed, InvalidRequest
from router.money._ledger import Ledger, Outcome, row_of
from router.serving._executor import RetryPolicy
from router.testing import MockServer, ok, server_error
from router.tools._report import (
    YOUR_MACHINES,
    build_report,
    main,
    money,
    parse_since,
    render_html,
    render_text,
)

DAY = 86_400.0
JAN1 = 1_735_689_600.0  # 2025-01-01 00:00 UTC

PLAN = {
    "local-qwen": Candidate(
        "local-qwen", "openai/qwen", "local", "open", 0.0, 0.7, "deployment", True, "free"
    ),
    "gpu-llama": Candidate(
        "gpu-llama", "openai/llama", "self-hosted", "open", 1e-4, 0.8, "deployment", True, "gpu"
    ),
    "gpt-4o": Candidate(
        "gpt-4o", "gpt-4o", "api", "closed", 0.01, 0.9, "catalog", True, "best quality"
    ),
}


def write(
    ledger: Ledger,
    *,
    at: float,
    tenant: str = "acme",
    sensitivity: Sensitivity = "public",
    outcome: Outcome = "ok",
    served: str | None = "local-qwen",
    plan: Sequence[str] = (),
    attempts: Sequence[Attempt] = (),
    cost: int = 0,
    baseline: int | None = None,
    latency: float = 100.0,
    cache_hit: bool = False,
    cold_start: bool = False,
) -> None:
    """One record, as the Router would write it, from a hand-built Decision."""
    answered = outcome in ("ok", "interrupted")
    served = served if answered else None
    plan = plan or [served or "local-qwen"]
    if not attempts:
        if answered and not cache_hit:
            attempts = [Attempt(served or "", 1, "ok", None, latency)]
        elif outcome == "error":
            attempts = [Attempt(plan[0], 1, "gave up", "ProviderUnavailable", latency)]
    decision = Decision(
        features=features(tenant=tenant, sensitivity=sensitivity),
        candidates=() if outcome == "unservable" else tuple(PLAN[n] for n in plan),
        rejected=(),
        policy="test",
        policy_fingerprint="0123456789abcdef",
        objective="cheapest",
        quality_target=0.7,
        attempts=tuple(attempts),
        served_by=served,
        cache_hit=cache_hit,
        usage=Usage(1000, 200, "provider") if answered else None,
        cost=Cost(cost, baseline) if answered else None,
        cold_start=cold_start,
    )
    row = row_of(
        decision,
        ts=at,
        outcome=outcome,
        latency_ms=latency,
        hosting=PLAN[served].hosting if served else None,
        weights=PLAN[served].weights if served else None,
        error=None if outcome == "ok" else "SomeError",
    )
    ledger.write(row)


def clean_ledger(path: Path) -> Ledger:
    """Eight records over three days, two tenants, three deployments; figures by hand:

    id tenant sensitivity  outcome      served_by  hosting      cost baseline latency
    1  acme   public       ok           local-qwen local           0     7500     100
    2  acme   internal     ok           gpt-4o     api          4500     4500     300
    3  globex public       ok (1 fb)    gpu-llama  self-hosted   100     2000     200
    4  globex public       ok (cached)  local-qwen local           0     1000       2
    5  acme   confidential ok           local-qwen local           0     3000     400
    6  acme   public       error (1 fb) -          -               0        -    5000
    7  globex restricted   unservable   -          -               0        -       1
    8  acme   public       interrupted  local-qwen local           0      500      50
    """
    ledger = Ledger(path)
    write(ledger, at=JAN1 + 3600, baseline=7500, latency=100)
    write(ledger, at=JAN1 + 7200, sensitivity="internal", served="gpt-4o", cost=4500,
          baseline=4500, latency=300)  # fmt: skip
    write(
        ledger, at=JAN1 + DAY + 60, tenant="globex", served="gpu-llama", cost=100, baseline=2000,
        latency=200, plan=["local-qwen", "gpu-llama"],
        attempts=[Attempt("local-qwen", 1, "fallback", "ContextWindowExceeded", 5.0),
                  Attempt("gpu-llama", 1, "ok", None, 195.0)],
    )  # fmt: skip
    write(ledger, at=JAN1 + DAY + 120, tenant="globex", baseline=1000, latency=2,
          cache_hit=True)  # fmt: skip
    write(ledger, at=JAN1 + 2 * DAY, sensitivity="confidential", baseline=3000, latency=400)
    write(ledger, at=JAN1 + 2 * DAY + 1, outcome="error", plan=["gpt-4o"], latency=5000)
    write(ledger, at=JAN1 + 2 * DAY + 2, tenant="globex", sensitivity="restricted",
          outcome="unservable", latency=1)  # fmt: skip
    write(ledger, at=JAN1 + 2 * DAY + 3, outcome="interrupted", baseline=500, latency=50)
    return ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return clean_ledger(tmp_path / "ledger.sqlite")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- figures ------------------------------------------------------------------------------


def test_totals_money_shares_and_counts_are_exact(ledger: Ledger) -> None:
    t = build_report(ledger, since=None, tenant=None).total
    assert (t.requests, t.served, t.errors, t.unservable, t.interrupted) == (8, 6, 1, 1, 1)
    assert t.cost_micro == 4600
    assert t.baseline_micro == 18500
    assert t.saved_micro == 13900
    assert t.saved_pct == pytest.approx(100 * 13900 / 18500)  # 75.1%
    assert (t.free, t.local, t.cache_hits) == (4, 4, 1)  # 1, 4, 5, 8 are free and local
    assert t.free_pct == t.local_pct == pytest.approx(100 * 4 / 6)
    assert t.on_your_machines == 5  # the local ones and 3, self-hosted
    assert t.on_your_machines_pct == pytest.approx(100 * 5 / 6)
    assert t.cache_hit_pct == pytest.approx(100 / 6)
    assert (t.fallbacks, t.with_fallback) == (2, 2)  # record 3 fell back, record 6 gave up
    assert (t.prompt_tokens, t.completion_tokens) == (6000, 1200)
    assert t.mean_latency_ms == pytest.approx((100 + 300 + 200 + 2 + 400 + 50) / 6)
    d = t.to_dict()
    assert (d["cost_usd"], d["baseline_usd"], d["saved_usd"]) == (0.0046, 0.0185, 0.0139)
    assert (d["local"], d["on_your_machines"]) == (4, 5)
    assert d["on_your_machines_pct"] == pytest.approx(100 * 5 / 6)


def test_groups_by_tenant_deployment_and_day(ledger: Ledger) -> None:
    report = build_report(ledger, since=None, tenant=None)
    tenants = {s.key: s for s in report.by_tenant}
    assert [s.key for s in report.by_tenant] == ["acme", "globex"]  # most requests first
    acme, globex = tenants["acme"], tenants["globex"]
    assert (acme.requests, acme.served, acme.errors, acme.cost_micro) == (5, 4, 1, 4500)
    assert (acme.baseline_micro, acme.saved_micro) == (15500, 11000)
    assert (globex.requests, globex.served, globex.unservable, globex.cost_micro) == (3, 2, 1, 100)
    assert (globex.baseline_micro, globex.saved_micro, globex.cache_hits) == (3000, 2900, 1)

    deployments = [(s.key, s.hosting, s.requests, s.cost_micro) for s in report.by_deployment]
    assert deployments == [
        ("local-qwen", "local", 4, 0),
        ("gpt-4o", "api", 1, 4500),
        ("gpu-llama", "self-hosted", 1, 100),
        ("(not served)", "-", 2, 0),
    ]
    days = [(s.key, s.requests, s.cost_micro, s.baseline_micro) for s in report.by_day]
    assert days == [
        ("2025-01-01", 2, 4500, 12000),
        ("2025-01-02", 2, 100, 3000),
        ("2025-01-03", 4, 0, 3500),
    ]
    assert (report.first_day, report.last_day) == ("2025-01-01", "2025-01-03")
    # every breakdown adds up to the total
    for groups in (report.by_tenant, report.by_deployment, report.by_day):
        assert sum(s.requests for s in groups) == report.total.requests
        assert sum(s.cost_micro for s in groups) == report.total.cost_micro


def test_latency_percentiles_are_nearest_rank_over_served_requests(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    latencies = list(range(1, 101))
    random.Random(4).shuffle(latencies)
    for i, ms in enumerate(latencies):
        write(ledger, at=JAN1 + i, latency=float(ms))
    write(ledger, at=JAN1 + 200, outcome="error", latency=60_000.0)  # no answer: not counted
    lat = build_report(ledger, since=None, tenant=None).latency
    assert (lat.served, lat.p50_ms, lat.p90_ms, lat.p99_ms, lat.max_ms) == (100, 50, 90, 99, 100)


def cold_start_ledger(path: Path, *, suspect: bool = False) -> Ledger:
    """One cold start of 7,000 ms (the process's first call, litellm's import) and nine
    warm requests of 20 ms; `suspect`: one of the warm ones is a confidential request
    served by an API (the report's second scan then also reads the suspects)."""
    ledger = Ledger(path)
    write(ledger, at=JAN1, latency=7000.0, cold_start=True)
    for i in range(9):
        if suspect and i == 0:
            write(ledger, at=JAN1 + 1, sensitivity="confidential", served="gpt-4o", latency=20.0)
        else:
            write(ledger, at=JAN1 + 1 + i, latency=20.0)
    write(ledger, at=JAN1 + 20, outcome="error", latency=9000.0, cold_start=True)  # unserved
    ledger.close()
    return ledger


COLD_LINE = "  cold starts   1 (p50 7,000 ms), left out of the latency percentiles"


@pytest.mark.parametrize("suspect", [False, True], ids=["plain", "with-suspects"])
def test_cold_starts_are_left_out_of_the_latency_percentiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suspect: bool
) -> None:
    ledger = cold_start_ledger(tmp_path / "ledger.sqlite", suspect=suspect)
    assert main(["--ledger", str(ledger.path), "--json"]) == 0
    lat = json.loads(capsys.readouterr().out)["latency"]
    assert (lat["served"], lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"]) == (
        9, 20, 20, 20, 20,
    )  # fmt: skip
    assert (lat["cold_starts"], lat["cold_p50_ms"], lat["cold_starts_included"]) == (
        1, 7000, False,
    )  # fmt: skip
    page = tmp_path / "report.html"
    assert main(["--ledger", str(ledger.path), "--html", str(page)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert "  latency       p50 20 ms, p90 20 ms, p99 20 ms, max 20 ms (warm served requests)" in (
        text
    )
    assert COLD_LINE in text
    html = page.read_text()
    assert "1 (p50 7,000 ms), left out of the latency percentiles" in html
    assert "leaving out cold starts" in html


def test_include_cold_starts_puts_them_back_in_the_percentiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = cold_start_ledger(tmp_path / "ledger.sqlite")
    assert main(["--ledger", str(ledger.path), "--json", "--include-cold-starts"]) == 0
    lat = json.loads(capsys.readouterr().out)["latency"]
    assert (lat["served"], lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"]) == (
        10, 20, 20, 7000, 7000,
    )  # fmt: skip
    assert (lat["cold_starts"], lat["cold_p50_ms"], lat["cold_starts_included"]) == (
        1, 7000, True,
    )  # fmt: skip
    page = tmp_path / "report.html"
    assert main(["--ledger", str(ledger.path), "--include-cold-starts", "--html", str(page)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert "  latency       p50 20 ms, p90 20 ms, p99 7,000 ms, max 7,000 ms (served requests)" in (
        text
    )
    assert "  cold starts   1 (p50 7,000 ms), counted in the latency percentiles" in text
    assert "leaving out cold starts" not in page.read_text()


def test_a_ledger_without_cold_starts_prints_no_cold_start_line(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.close()
    assert main(["--ledger", str(ledger.path), "--json"]) == 0
    lat = json.loads(capsys.readouterr().out)["latency"]
    assert (lat["served"], lat["cold_starts"], lat["cold_p50_ms"]) == (6, 0, None)
    page = tmp_path / "report.html"
    assert main(["--ledger", str(ledger.path), "--html", str(page)]) == 0
    text = capsys.readouterr().out
    assert "cold start" not in text
    assert "(served requests)" in text
    assert "cold start" not in page.read_text()


def test_a_schema_2_ledger_is_upgraded_and_its_records_count_as_warm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    write(ledger, at=JAN1, latency=7000.0)
    for i in range(9):
        write(ledger, at=JAN1 + 1 + i, latency=20.0)
    ledger.close()
    with sqlite3.connect(path) as conn:  # as a schema-2 router left it: no cold_start column
        conn.execute("ALTER TABLE records DROP COLUMN cold_start")
        conn.execute("PRAGMA user_version=2")
    conn.close()
    assert main(["--ledger", str(path), "--json"]) == 0
    lat = json.loads(capsys.readouterr().out)["latency"]
    assert (lat["served"], lat["p99_ms"], lat["cold_starts"], lat["cold_p50_ms"]) == (
        10, 7000, 0, None,
    )  # fmt: skip
    with sqlite3.connect(path) as conn:  # opening it upgraded it in place, records intact
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert conn.execute("SELECT COUNT(*), COUNT(cold_start) FROM records").fetchone() == (
            10, 0,
        )  # fmt: skip
    conn.close()
    assert main(["--ledger", str(path)]) == 0
    assert "cold start" not in capsys.readouterr().out


def test_a_clean_ledger_has_no_compliance_finding(ledger: Ledger) -> None:
    c = build_report(ledger, since=None, tenant=None).compliance
    assert c.columns == ("local", "self-hosted", "api", "not served")
    assert dict(c.matrix) == {
        "public": (3, 1, 0, 1),  # 1, 4, 8 local; 3 self-hosted; 6 failed
        "internal": (0, 0, 1, 0),
        "confidential": (1, 0, 0, 0),
        "restricted": (0, 0, 0, 1),
    }
    assert (c.served_non_local, c.sent_non_local, c.offenders, c.ok) == (0, 0, (), True)


def test_confidential_requests_that_left_the_machine_are_counted_and_listed(
    ledger: Ledger,
) -> None:
    at = JAN1 + 3 * DAY
    # 9: confidential, served by an API
    write(ledger, at=at, tenant="globex", sensitivity="confidential", served="gpt-4o", cost=10)
    # 10: restricted, the API was tried and failed, then the local model answered
    write(
        ledger, at=at + 1, sensitivity="restricted", plan=["gpt-4o", "local-qwen"],
        attempts=[Attempt("gpt-4o", 1, "fallback", "AuthenticationFailed", 3.0),
                  Attempt("local-qwen", 1, "ok", None, 90.0)],
    )  # fmt: skip
    # 11: confidential, the API's breaker was open (skipped, never sent), then the
    # self-hosted GPU answered: on your machines, not a finding
    write(
        ledger, at=at + 2, sensitivity="confidential", plan=["local-qwen", "gpt-4o", "gpu-llama"],
        served="gpu-llama",
        attempts=[Attempt("local-qwen", 1, "fallback", "ContextWindowExceeded", 1.0),
                  Attempt("gpt-4o", 1, "skipped", "breaker open", 0.0),
                  Attempt("gpu-llama", 1, "ok", None, 90.0)],
    )  # fmt: skip
    # 12: confidential, every attempt failed, one of them on the API
    write(
        ledger, at=at + 3, sensitivity="confidential", outcome="error",
        plan=["local-qwen", "gpt-4o"],
        attempts=[Attempt("local-qwen", 1, "fallback", "ProviderUnavailable", 1.0),
                  Attempt("gpt-4o", 1, "gave up", "ProviderTimeout", 9.0)],
    )  # fmt: skip
    report = build_report(ledger, since=None, tenant=None)
    c = report.compliance
    # 9 by the API; 11 by the self-hosted GPU, which is on your machines
    assert c.served_non_local == 1
    assert c.sent_non_local == 2  # 10 and 12
    assert not c.ok
    assert [(o.id, o.tenant, o.sensitivity, o.served_by) for o in c.offenders] == [
        (9, "globex", "confidential", "gpt-4o"),
        (10, "acme", "restricted", "local-qwen"),
        (12, "acme", "confidential", None),
    ]
    assert c.offenders[0].reason == "served by gpt-4o (api)"
    assert c.offenders[1].reason == "sent to gpt-4o (api), not served by it"
    assert c.offenders[2].time == "2025-01-04T00:00:03Z"
    text = render_text(report)
    assert "confidential-or-above requests served by non-local deployments: 1  <-- MUST BE 0" in (
        text
    )
    assert "offending records (3 of 3 shown; no prompt text):" in text
    page = render_html(report)
    assert 'class="status bad"' in page
    assert "sent to gpt-4o (api), not served by it" in page


def test_self_hosted_is_on_your_machines_and_an_api_or_unknown_hosting_is_not(
    tmp_path: Path,
) -> None:
    """The confidential-local pack lets confidential data go to local and self-hosted
    deployments: only a deployment elsewhere (or of unknown hosting) is an offender."""
    assert YOUR_MACHINES == ("local", "self-hosted")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    # 1: confidential, served by the self-hosted GPU: allowed
    write(ledger, at=JAN1, sensitivity="confidential", served="gpu-llama", cost=100)
    # 2: restricted, the self-hosted GPU failed, the local model answered: allowed
    write(
        ledger, at=JAN1 + 1, sensitivity="restricted", plan=["gpu-llama", "local-qwen"],
        attempts=[Attempt("gpu-llama", 1, "fallback", "ProviderUnavailable", 3.0),
                  Attempt("local-qwen", 1, "ok", None, 90.0)],
    )  # fmt: skip
    c = build_report(ledger, since=None, tenant=None).compliance
    assert (c.served_non_local, c.sent_non_local, c.offenders, c.ok) == (0, 0, (), True)
    assert dict(c.matrix)["confidential"] == (0, 1, 0, 0)

    # 3: confidential, served by the API: an offender
    write(ledger, at=JAN1 + 2, sensitivity="confidential", served="gpt-4o", cost=10)
    # 4: confidential, served by the GPU, but its hosting was not recorded: fail closed
    write(ledger, at=JAN1 + 3, sensitivity="confidential", served="gpu-llama", cost=100)
    ledger.close()
    with sqlite3.connect(ledger.path) as conn:
        conn.execute("UPDATE records SET hosting = NULL WHERE id = 4")
    conn.close()
    report = build_report(Ledger(ledger.path, create=False), since=None, tenant=None)
    c = report.compliance
    assert c.columns == ("local", "self-hosted", "api", "unknown", "not served")
    assert dict(c.matrix)["confidential"] == (0, 1, 1, 1, 0)
    assert (c.served_non_local, c.sent_non_local, c.ok) == (2, 0, False)
    assert [(o.id, o.served_by, o.hosting, o.reason) for o in c.offenders] == [
        (3, "gpt-4o", "api", "served by gpt-4o (api)"),
        (4, "gpu-llama", None, "served by gpu-llama (unknown hosting)"),
    ]
    t = report.total
    assert (t.served, t.local, t.on_your_machines) == (4, 1, 2)  # 2 local; 1 self-hosted
    data = report.to_dict()
    assert data["compliance"]["your_machines"] == ["local", "self-hosted"]
    assert data["total"]["on_your_machines_pct"] == 50.0
    assert data["total"]["local_pct"] == 25.0
    text = render_text(report)
    assert "served by non-local deployments: 2  <-- MUST BE 0" in text
    assert "25.0% were served by local deployments\n" in text
    assert "  your machines 50.0% of served requests were served on your machines (local or" in text
    page = render_html(report)
    assert "on your machines (local or self-hosted)" in page
    # only the confidential cells served off your machines are marked, not the self-hosted
    assert re.findall(r'<tr><td class="l">confidential</td>(.*?)</tr>', page) == [
        '<td>0</td><td>1</td><td class="bad">1</td><td class="bad">1</td><td>0</td>'
    ]
    assert page.count('<td class="bad">') == 2


def test_since_and_tenant_select_records(ledger: Ledger) -> None:
    report = build_report(ledger, since="2025-01-02", tenant="acme")
    assert (report.total.requests, report.total.cost_micro) == (3, 0)  # records 5, 6, 8
    assert [s.key for s in report.by_day] == ["2025-01-03"]
    assert [s.key for s in report.by_tenant] == ["acme"]
    assert report.latency.p50_ms == 50  # records 5 and 8 were served
    report = build_report(ledger, since=None, tenant="globex")
    assert (report.total.requests, report.total.cost_micro) == (3, 100)  # records 3, 4, 7
    assert build_report(ledger, since="2030-01-01", tenant=None).total.requests == 0


def test_an_empty_ledger_reports_zeros(tmp_path: Path) -> None:
    report = build_report(Ledger(tmp_path / "ledger.sqlite"), since=None, tenant=None)
    assert report.total.requests == 0
    assert report.total.saved_pct is None
    assert report.latency.p50_ms is None
    assert "no records" in render_text(report)
    assert "nothing to chart" in render_html(report)
    json.dumps(report.to_dict())


@pytest.mark.parametrize("bad", ["2025-13-01", "2025-02-30", "yesterday", "2025-1-1", "20250101"])
def test_since_must_be_a_day(bad: str) -> None:
    with pytest.raises(InvalidRequest, match=r"YYYY-MM-DD") as caught:
        parse_since(bad)
    assert caught.value.field == "since"


def test_an_unknown_tenant_lists_the_known_ones(ledger: Ledger) -> None:
    with pytest.raises(InvalidRequest, match=r"known tenants: acme, globex") as caught:
        build_report(ledger, since=None, tenant="acmee")
    assert "did you mean acme?" in str(caught.value)


def test_money_is_shown_in_dollars_with_the_cents_that_matter() -> None:
    assert [money(m) for m in (0, 1, 7500, 16_772, 344_763, 999_000, 1_234_567_890)] == [
        "$0", "$0.000001", "$0.0075", "$0.017", "$0.34", "$1.00", "$1,234.57",
    ]  # fmt: skip
    assert money(-36_210_000) == "-$36.21"


# -- real Routers -------------------------------------------------------------------------

KEY_ENV = "ROUTER_TEST_REPORT_KEY"
HI = [{"role": "user", "content": "Summarise the meeting notes in three bullet points."}]
FAST = RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.02, jitter=0.0)


def routers(local: MockServer, api: MockServer, path: Path) -> dict[str, router.Router]:
    """Three Routers on one ledger: free-first (local preferred), best (API preferred,
    confidential data kept local by the default policy) and one with no policy at all."""
    deployments: list[dict[str, Any]] = [
        {"name": "api", "model": "openai/x", "api_base": api.base_url, "hosting": "api",
         "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
         "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95},
        {"name": "local", "model": "openai/a", "api_base": local.base_url,
         "context_window": 8192, "quality": 0.9},
    ]  # fmt: skip
    common: dict[str, Any] = {
        "retry": FAST, "ledger": path, "baseline": "gpt-4o", "backend": api.backend,
    }  # fmt: skip
    return {
        "free": router.Router(deployments, **common),
        "best": router.Router(deployments, objective="best", **common),
        "open": router.Router(
            deployments, objective="best", policy=Policy.of("anything-goes", []), **common
        ),
    }


def test_records_written_by_real_routers_add_up(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-real-key")
    local, api = mock_servers
    path = tmp_path / "ledger.sqlite"
    r = routers(local, api, path)
    usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    local.script(ok("a", **usage), ok("b", **usage), server_error(503), server_error(503))
    api.script(ok("c", **usage), ok("d", **usage), server_error(503))
    assert r["free"].complete(HI, tenant="acme").decision.served_by == "local"
    assert r["best"].complete(HI, tenant="acme").decision.served_by == "api"
    confidential = r["best"].complete(HI, tenant="globex", sensitivity="confidential")
    assert confidential.decision.served_by == "local"  # the default policy keeps it local
    fell_back = r["free"].complete(HI, tenant="globex").decision  # local 503 -> api
    assert fell_back.served_by == "api"
    with pytest.raises(AllDeploymentsFailed):  # local 503, api 503
        r["free"].complete(HI, tenant="globex")
    report = build_report(Ledger(path, create=False), since=None, tenant=None)
    t = report.total
    assert (t.requests, t.served, t.errors, t.fallbacks) == (5, 4, 1, 3)
    # the API at $10/M in and out: 1,500 tokens = $0.015; gpt-4o baseline = $0.0075
    assert t.cost_micro == 2 * 15_000
    assert t.baseline_micro == 4 * 7_500
    assert t.local == 2
    assert report.compliance.served_non_local == 0
    assert report.compliance.sent_non_local == 0
    with sqlite3.connect(path) as conn:
        (spent,) = conn.execute("SELECT SUM(cost_micro) FROM records").fetchone()
    conn.close()
    assert spent == t.cost_micro

    # a Router without the confidential-local rule sends confidential data to the API
    api.script(ok("f", **usage))
    leaked = r["open"].complete(HI, tenant="globex", sensitivity="confidential").decision
    assert leaked.served_by == "api"
    c = build_report(Ledger(path, create=False), since=None, tenant=None).compliance
    assert c.served_non_local == 1
    assert [(o.id, o.tenant, o.served_by, o.hosting) for o in c.offenders] == [
        (6, "globex", "api", "api")
    ]


# -- the command --------------------------------------------------------------------------


def test_the_command_prints_text_json_and_writes_html(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.close()
    before = digest(ledger.path)
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()  # the command does not create folders (tests/test_cli_small.py)
    assert main(["--ledger", str(ledger.path), "--html", str(page)]) == 0
    out = capsys.readouterr()
    assert "confidential-or-above requests served by non-local deployments: 0" in out.out
    assert "spend         $0.0046 vs baseline $0.019: saved $0.014 (75.1%)" in out.out
    assert f"wrote {page}" in out.err
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert main(["--ledger", str(ledger.path), "--json", "--tenant", "acme"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tenant"] == "acme"
    assert (data["total"]["requests"], data["total"]["cost_micro"]) == (5, 4500)
    assert data["compliance"]["served_non_local"] == 0
    assert digest(ledger.path) == before  # reading changed nothing


def test_the_ledger_defaults_to_router_ledger_from_the_environment(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROUTER_LEDGER", str(ledger.path))
    assert main(["--since", "2025-01-03"]) == 0
    assert "2025-01-03 .. 2025-01-03 since 2025-01-03, all tenants" in capsys.readouterr().out


def test_text_tables_are_aligned(ledger: Ledger) -> None:
    text = render_text(build_report(ledger, since=None, tenant=None))
    block = text.split("by deployment\n")[1].split("\n\n")[0].splitlines()
    assert len({len(line) for line in block}) == 1  # header, rule and rows: one width
    assert block[0].split()[:3] == ["deployment", "hosting", "requests"]


def _corrupt(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "ledger.sqlite"
    if kind == "text":
        path.write_text("not a database at all\n" * 200)
    elif kind == "foreign":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
            conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
        conn.close()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "damaged":  # a valid header, garbage in the middle of the records
        ledger = Ledger(path)
        for i in range(300):
            write(ledger, at=JAN1 + i)
        ledger.close()
        data = bytearray(path.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 8192] = b"\xff" * 8192
        path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "not a readable SQLite ledger"),
        ("foreign", "not a router ledger"),
        ("empty", "not a router ledger"),
        ("damaged", "malformed"),
    ],
)
def test_a_foreign_or_corrupt_ledger_is_a_clear_error_and_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, message: str
) -> None:
    path = _corrupt(tmp_path, kind)
    before = digest(path)
    page = tmp_path / "report.html"
    assert main(["--ledger", str(path), "--html", str(page)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"router: error: {path}: ")
    assert message in err
    assert err.count("\n") == 1
    assert digest(path) == before
    assert not page.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.sqlite"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2025-13-01"], "--since: '2025-13-01' is not a date; write YYYY-MM-DD"),
        (["--since", "last week"], "--since: 'last week' is not a date; write YYYY-MM-DD"),
        (["--tenant", "initech"], "--tenant: no records for tenant 'initech' in this ledger; "
                                  "known tenants: acme, globex"),
        (["--html", "{ledger}"], "is the ledger itself"),
        (["--html", "{ledger}-wal"], "is the ledger itself"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)  # fmt: skip
def test_bad_arguments_are_one_line_and_exit_2_with_nothing_written(
    ledger: Ledger,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    ledger.close()
    before = {p.name: digest(p) for p in tmp_path.iterdir()}
    args = [a.format(ledger=ledger.path) for a in args]
    code = main(["--ledger", str(ledger.path), "--html", str(tmp_path / "r.html"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.startswith("router: error: ")
    assert err.count("\n") == 1
    assert {p.name: digest(p) for p in tmp_path.iterdir()} == before


def test_a_missing_ledger_is_an_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--ledger", str(tmp_path / "nope.sqlite")]) == 2
    assert "no such ledger file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_page_is_never_written_over_a_database(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.sqlite"
    Ledger(other).close()
    before = digest(other)
    assert main(["--ledger", str(ledger.path), "--html", str(other)]) == 2
    assert "is a SQLite database; refusing to overwrite it" in capsys.readouterr().err
    assert digest(other) == before


# -- the page -----------------------------------------------------------------------------

EVIL = "<script>alert(1)</script>"


def evil_report(tmp_path: Path) -> str:
    ledger = clean_ledger(tmp_path / "ledger.sqlite")
    write(ledger, at=JAN1 + 3 * DAY, tenant=EVIL, served="gpt-4o", cost=2000, baseline=3000)
    return render_html(build_report(ledger, since=None, tenant=None))


def test_the_page_is_self_contained_and_escapes_every_name(tmp_path: Path) -> None:
    page = evil_report(tmp_path)
    assert "http://" not in page
    assert "https://" not in page
    assert not re.search(r"""(?:src|href)\s*=|@import|url\(""", page, re.IGNORECASE)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('<svg id="spend-chart"') == 1
    assert page.count('<svg id="share-chart"') == 1
    assert page.count("<polyline") == 2  # spend and baseline
    assert page.count('class="bar"') == 3  # three deployments served something
    assert "confidential-or-above requests served by non-local deployments: 0" in page
    assert page.count("<table") >= 5  # summary, tenants, deployments, days, compliance
