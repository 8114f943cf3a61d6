"""The ledger through real parts: a Router (served by a MockBackend) writes one
record per request into a real SQLite file (answered, failed, unservable, cached,
streamed, interrupted); prompt text only on opt-in; foreign or corrupt files are refused
untouched; a hard budget stops paid calls and passes the held output budget on."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import router
from router.errors import AllDeploymentsFailed, LedgerError, NoEligibleDeployment, StreamInterrupted
from router.money._ledger import Ledger
from router.quality.trained import default_model
from router.serving._executor import RetryPolicy
from router.testing import MockServer, ok, server_error, stream

FAST = RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.02, jitter=0.0)
SECRET_PROMPT = "The quarterly plan codenamed BLUE-HERON-7731 stays internal"
HI = [{"role": "user", "content": SECRET_PROMPT}]
KEY_ENV = "ROUTER_TEST_LEDGER_KEY"


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-real-key")


def local_router(server: MockServer, ledger: Path, **options: Any) -> router.Router:
    return router.Router(
        deployments=[
            {"name": "local", "model": "openai/a", "api_base": server.base_url,
             "context_window": 8192, "quality": 0.8},
        ],
        baseline="gpt-4o",
        retry=FAST,
        ledger=ledger,
        backend=server.backend,
        **options,
    )  # fmt: skip


def records(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM records ORDER BY id")]


def every_byte(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_an_answered_request_leaves_one_full_record(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    server, _ = mock_servers
    server.script(ok("hi", prompt_tokens=1000, completion_tokens=500))
    path = tmp_path / "ledger.sqlite"
    result = local_router(server, path).complete(HI, tenant="acme", tags=["support"])
    (rec,) = records(path)
    assert rec["tenant"] == "acme"
    assert json.loads(rec["tags"]) == ["support"]
    assert rec["outcome"] == "ok"
    assert rec["served_by"] == "local"
    assert rec["hosting"] == "local"
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (1000, 500)
    assert rec["cost_micro"] == 0
    assert rec["baseline_micro"] == 7500  # 1000 x $2.50/M + 500 x $10/M
    assert rec["latency_ms"] > 0
    assert rec["prompt"] is None
    decision = json.loads(rec["decision"])
    assert decision == json.loads(json.dumps(result.decision.to_dict()))
    assert decision["features"]["prompt_hash"] == result.decision.features.prompt_hash
    assert rec["request_id"] == result.decision.request_id
    assert rec["model"] == "openai/a"
    profile = result.decision.features.profile  # the refit's copy: rounded, in a column
    assert profile
    assert json.loads(rec["profile"]) == [round(v, 4) for v in profile]
    assert rec["quality_model"] == default_model().digest


def test_failed_and_unservable_requests_are_recorded_too(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    server, _ = mock_servers
    server.script(server_error(503))
    path = tmp_path / "ledger.sqlite"
    r = local_router(server, path)
    with pytest.raises(AllDeploymentsFailed):
        r.complete(HI)
    with pytest.raises(NoEligibleDeployment):
        r.complete(HI, max_tokens=100_000)
    failed, unservable = records(path)
    assert (failed["outcome"], failed["error"]) == ("error", "AllDeploymentsFailed")
    assert failed["attempts"] == 1
    assert (unservable["outcome"], unservable["error"]) == ("unservable", "NoEligibleDeployment")
    assert unservable["served_by"] is None
    assert len(server.requests) == 1


def test_cache_hits_and_streams_are_recorded(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    server, _ = mock_servers
    path = tmp_path / "ledger.sqlite"
    r = local_router(server, path, cache=router.ResponseCache(tmp_path / "cache"))
    server.script(
        ok("hi"), stream(("a", "b")), stream(("one ", "two ", "three"), disconnect_after=2)
    )
    r.complete(HI, temperature=0)
    r.complete(HI, temperature=0)
    list(r.stream(HI))
    with pytest.raises(StreamInterrupted):
        list(r.stream(HI))
    first, hit, streamed, broken = records(path)
    assert (first["cache_hit"], hit["cache_hit"]) == (0, 1)
    assert streamed["outcome"] == "ok"
    assert streamed["completion_tokens"] == 2
    assert (broken["outcome"], broken["error"]) == ("interrupted", "StreamInterrupted")
    assert json.loads(broken["decision"])["usage"]["source"] == "estimate"


def test_prompt_text_is_stored_nowhere_unless_opted_in(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    server, _ = mock_servers
    server.script(ok("hi"), ok("hi"))
    private, opted = tmp_path / "private", tmp_path / "opted"
    local_router(server, private / "ledger.sqlite").complete(HI)
    local_router(server, opted / "ledger.sqlite", store_prompts=True).complete(HI)
    assert b"BLUE-HERON" not in every_byte(private)  # the database, its WAL and shm files
    (rec,) = records(opted / "ledger.sqlite")
    assert json.loads(rec["prompt"]) == HI


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["text", "foreign-sqlite", "truncated"])
def test_a_foreign_or_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ledger.sqlite"
    if kind == "text":
        path.write_text("not a database at all\n" * 200)
    elif kind == "foreign-sqlite":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
            conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
        conn.close()
    else:
        Ledger(path).close()
        path.write_bytes(path.read_bytes()[:100])
    before = digest(path)
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert str(path) in str(caught.value)
    assert digest(path) == before


def as_schema_1(path: Path) -> None:
    """Turn a ledger back into what schema 1 wrote: no request id, model, profile or
    quality-model columns, no feedback table."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE feedback")
        conn.execute("DROP INDEX records_request")
        for column in ("request_id", "model", "profile", "quality_model"):
            conn.execute(f"ALTER TABLE records DROP COLUMN {column}")
        conn.execute("PRAGMA user_version=1")
    conn.close()


def test_a_schema_1_ledger_is_upgraded_in_place_and_keeps_its_records(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    server, _ = mock_servers
    path = tmp_path / "ledger.sqlite"
    local_router(server, path).complete(HI, tenant="old")
    as_schema_1(path)
    (old,) = records(path)
    assert "request_id" not in old
    result = local_router(server, path).complete(HI, tenant="new")  # opens and upgrades it
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3  # 1 -> 2 -> 3
    conn.close()
    first, second = records(path)
    assert {k: first[k] for k in old} == old  # the old record, as it was
    assert first["request_id"] is None
    assert first["profile"] is None
    assert second["request_id"] == result.decision.request_id
    assert second["tenant"] == "new"
    local_router(server, path).feedback(second["request_id"], True)  # the feedback table
    assert [r.tenant for r in Ledger(path, create=False).rows()] == ["old", "new"]


def test_a_missing_ledger_is_an_error_when_reading(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no such ledger"):
        Ledger(tmp_path / "nope.sqlite", create=False)
    assert not (tmp_path / "nope.sqlite").exists()


def paid_router(local: MockServer, api: MockServer, ledger: Path, usd: float) -> router.Router:
    """An API at $10/M in and out that the objective prefers, a free local fallback, and a
    hard daily budget of `usd` for tenant acme."""
    return router.Router(
        deployments=[
            {"name": "api", "model": "openai/x", "api_base": api.base_url, "hosting": "api",
             "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
             "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95},
            {"name": "local", "model": "openai/a", "api_base": local.base_url,
             "context_window": 8192, "quality": 0.5},
        ],
        objective="best",
        retry=FAST,
        ledger=ledger,
        budgets=[{"tenant": "acme", "period": "day", "usd": usd}],
        backend=api.backend,
    )  # fmt: skip


@pytest.mark.usefixtures("api_key")
def test_hard_budget_moves_requests_to_the_free_model_when_money_runs_out(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    local, api = mock_servers
    local.script(*[ok("free")] * 10)
    api.script(*[ok("paid", prompt_tokens=50, completion_tokens=100)] * 10)
    path = tmp_path / "ledger.sqlite"
    # each API call may cost up to (prompt bytes + 100) x $10/M ~ $0.0016; it costs $0.0015
    r = paid_router(local, api, path, usd=0.005)
    served = [r.complete(HI, tenant="acme", max_tokens=100).decision for _ in range(6)]
    names = [d.served_by for d in served]
    assert names[:3] == ["api", "api", "api"]
    assert set(names[3:]) == {"local"}
    assert any(rj.stage == "budget" for rj in served[-1].rejected)
    spent = sum(rec["cost_micro"] for rec in records(path))
    assert spent == 3 * 1500 <= 5000
    assert r.ledger is not None
    assert r.ledger.query("SELECT COUNT(*) FROM reservations") == [(0,)]  # all released
    assert [rec["budget_changed"] for rec in records(path)] == [0, 0, 0, 1, 1, 1]
    # another tenant is not limited by acme's budget
    assert r.complete(HI, tenant="globex", max_tokens=100).decision.served_by == "api"


@pytest.mark.usefixtures("api_key")
def test_held_money_caps_the_output_the_provider_may_produce(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    local, api = mock_servers
    api.script(ok("paid"))
    r = paid_router(local, api, tmp_path / "ledger.sqlite", usd=1.0)
    r.complete(HI, tenant="acme")  # no max_tokens given: the default output budget is held
    assert api.requests[0]["max_tokens"] == r.settings.default_max_tokens


def test_budgets_need_a_ledger() -> None:
    with pytest.raises(router.ConfigError, match="ledger"):
        router.Router(
            deployments=[
                {"name": "l", "model": "openai/a", "hosting": "local", "context_window": 8192}
            ],
            budgets=[{"tenant": "a", "period": "day", "usd": 1}],
        )


@pytest.mark.usefixtures("api_key")
def test_soft_budget_steps_down_to_the_free_model_and_the_decision_says_why(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    local, api = mock_servers
    local.script(*[ok("free")] * 3)
    api.script(*[ok("paid", prompt_tokens=50, completion_tokens=100)] * 8)
    r = router.Router(
        deployments=[
            {"name": "api", "model": "openai/x", "api_base": api.base_url, "hosting": "api",
             "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
             "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95},
            {"name": "local", "model": "openai/a", "api_base": local.base_url,
             "context_window": 8192, "quality": 0.6},
        ],
        quality_target=0.9,  # local (0.6 / 0.95 = 0.63 of the best) is not good enough...
        paid_share=1.0,  # the bar alone decides: "hi" would go free first under the default
        retry=FAST,
        ledger=tmp_path / "ledger.sqlite",
        budgets=[{"tenant": "acme", "period": "day", "usd": 0.01, "mode": "soft"}],
        backend=api.backend,
    )  # fmt: skip
    decisions = [r.complete(HI, tenant="acme", max_tokens=100).decision for _ in range(6)]
    # ...until the budget is 75% used ($0.0015 a call): then the target halves to 0.45
    assert [d.served_by for d in decisions] == ["api"] * 5 + ["local"]
    assert [d.quality_target for d in decisions] == [0.9] * 4 + [0.72, 0.45]
    assert "75% used: quality target 0.9 -> 0.45" in decisions[-1].budget_notes[0]
    assert decisions[0].budget_notes == ()
