"""Organisation-wide budgets (issue 15, point 5): `scope = "organisation"` is one counter
shared by every tenant, beside the per-tenant budgets. A request counts against every
budget that applies to it and the tightest decides.

Real parts: a SQLite ledger on disk and a real redis-server hold the counters; a
MockBackend's two servers answer (a free local model and a paid API).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from factories import free_and_paid

import router
from router._records import Decision
from router.decision._budgets import Budget, applicable, parse_budgets
from router.decision._config import load_config
from router.errors import ConfigError
from router.state.redis_state import RedisState
from router.state.settings import StateSettings
from router.testing import MockBackend, MockServer, ok

KEY_ENV = "ROUTER_TEST_BUDGET_SCOPE_KEY"
DAY = "2026-11-29"
PAID_CALL = 450  # micro-dollars: 20 prompt tokens x $2.5/M + 40 completion tokens x $10/M
ORG = {"scope": "organisation", "period": "day"}


# ------------------------------------------------------------------ syntax


def test_an_organisation_budget_applies_to_every_tenant_in_one_counter() -> None:
    org = Budget(scope="organisation", period="month", usd=50)
    each = Budget(tenant="*", period="day", usd=5)
    acme = Budget(tenant="acme", period="day", usd=1)
    batch = Budget(scope="organisation", tag="batch", period="day", usd=2)
    budgets = [org, each, acme, batch]
    assert applicable(budgets, "acme", ()) == [org, each, acme]
    assert applicable(budgets, "globex", ("batch",)) == [org, each, batch]
    assert org.key("acme") == org.key("globex") == "organisation/*/month/all-tenants"
    assert batch.key("acme") == "organisation/batch/day/all-tenants"
    assert each.key("globex") == "globex/*/day"  # per-tenant counters are unchanged
    assert org.label("acme") == "hard budget organisation $50/month"


def test_no_tenant_can_share_the_organisation_counter() -> None:
    """Every tenant counter ends in /day or /month; the organisation's does not, so a
    tenant named "organisation" (or like the whole key) keeps its own counter."""
    org = Budget(scope="organisation", period="month", usd=50)
    every = Budget(tenant="*", period="month", usd=5)
    for name in ("organisation", org.key("x"), "organisation/*/month", "*"):
        assert every.key(name) != org.key(name)
        assert Budget(tenant=name, period="month", usd=1).key(name) != org.key(name)
    tagged = Budget(tenant="organisation", tag="*/month/all-tenants", period="day", usd=1)
    assert tagged.key("organisation") != org.key("organisation")


def test_the_american_spelling_is_the_same_scope() -> None:
    (b,) = parse_budgets([{"scope": "organization", "period": "day", "usd": 1}], "r.toml")
    assert b.scope == "organisation"
    assert b.tenant is None


@pytest.mark.parametrize(
    ("entry", "key", "says"),
    [
        ({"period": "day", "usd": 1}, "budgets[0].tenant", 'scope = "organisation"'),
        (
            {"scope": "organisation", "tenant": "*", "period": "day", "usd": 1},
            "budgets[0].tenant",
            "leave out tenant",
        ),
        (
            {"scope": "organisation", "tenant": "acme", "period": "day", "usd": 1},
            "budgets[0].tenant",
            'tenant = "acme" without scope',
        ),
        ({"scope": "company", "period": "day", "usd": 1}, "budgets[0].scope", "organisation"),
        ({"scope": "tenant", "period": "day", "usd": 1}, "budgets[0].tenant", 'tenant = "*"'),
    ],
    ids=["no-tenant", "org-with-star", "org-with-tenant", "unknown-scope", "tenant-scope-bare"],
)
def test_invalid_combinations_name_the_key_and_what_to_write(
    entry: dict[str, Any], key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_budgets([entry], "router.toml")
    assert caught.value.source == "router.toml"
    assert caught.value.key == key
    assert says in caught.value.message


def test_budget_objects_refuse_the_same_combinations() -> None:
    with pytest.raises(ValueError, match="leave out tenant"):
        Budget(scope="organisation", tenant="acme", period="day", usd=1)
    with pytest.raises(ValueError, match='scope = "organisation"'):
        Budget(period="day", usd=1)


def test_two_organisation_budgets_for_one_counter_are_an_error() -> None:
    entry = {"scope": "organisation", "period": "month", "usd": 50}
    with pytest.raises(ConfigError, match="second month budget for the organisation") as caught:
        parse_budgets([entry, {**entry, "usd": 60}], "router.toml")
    assert caught.value.key == "budgets[1]"
    # a tenant's budget and the organisation's are different counters: both allowed
    parse_budgets([entry, {"tenant": "organisation", "period": "month", "usd": 5}], "r.toml")


def _config(tmp_path: Path, budget: str) -> Path:
    path = tmp_path / "router.toml"
    path.write_text(
        '[router]\nledger = "ledger.sqlite"\n\n'
        '[[deployments]]\nname = "local"\nmodel = "openai/q"\n'
        'api_base = "http://127.0.0.1:9/v1"\ncontext_window = 8192\nquality = 0.5\n\n'
        f"[[budgets]]\n{budget}"
    )
    return path


def test_a_config_file_writes_the_organisation_budget_in_one_line(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, 'scope = "organisation"\nperiod = "month"\nusd = 50\n'))
    (b,) = cfg.budgets
    assert (b.scope, b.tenant, b.period, b.usd) == ("organisation", None, "month", 50)


def test_a_config_file_error_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = _config(tmp_path, 'period = "month"\nusd = 50\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.key == "budgets[0].tenant"
    assert 'scope = "organisation"' in str(caught.value)


# ------------------------------------------------------------------ the counters, for real


@pytest.fixture
def servers(
    monkeypatch: pytest.MonkeyPatch, mock_backend: MockBackend
) -> tuple[MockServer, MockServer]:
    monkeypatch.setenv(KEY_ENV, "sk-test")
    local = mock_backend.server(default=ok("free"))
    api = mock_backend.server(default=ok("paid", prompt_tokens=20, completion_tokens=40))
    return local, api


class Store:
    """Where a test's counters live, read back from the store itself."""

    def __init__(self, kind: str, tmp_path: Path, redis_url: str | None) -> None:
        self.kind = kind
        self.ledger_path = tmp_path / "ledger.sqlite"
        self.redis_url = redis_url

    def router_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"ledger": self.ledger_path}
        if self.redis_url is not None:
            args["state"] = self.redis_url
        return args

    def spent(self) -> dict[str, int]:
        """Settled micro-dollars per budget counter (any window)."""
        if self.redis_url is None:
            conn = sqlite3.connect(f"file:{self.ledger_path}?mode=ro", uri=True)
            try:
                rows = conn.execute("SELECT budget, SUM(spent_micro) FROM spend GROUP BY budget")
                return {str(b): int(s) for b, s in rows}
            finally:
                conn.close()
        client: Any = redis.Redis.from_url(self.redis_url, decode_responses=True)
        out: dict[str, int] = {}
        for k in client.keys("*:spent"):
            counter = k.split(":b:", 1)[1].rsplit(":", 2)[0]
            out[counter] = out.get(counter, 0) + int(client.get(k))
        client.close()
        return out


@pytest.fixture(params=["ledger", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return Store(request.param, tmp_path, url)


def _router(
    servers: tuple[MockServer, MockServer], store: Store, budgets: list[dict[str, Any]]
) -> router.Router:
    return router.Router(
        free_and_paid(*servers, KEY_ENV),
        backend=servers[0].backend,
        budgets=budgets,
        quality_target=0.95,
        paid_share=1.0,  # the bar alone decides: these short prompts would go free first
        **store.router_args(),
    )


def _ask(r: router.Router, tenant: str, i: int) -> Decision:
    res = r.complete([{"role": "user", "content": f"q{i}"}], max_tokens=50, tenant=tenant)
    return res.decision


def test_two_tenants_spend_into_one_organisation_counter(
    servers: tuple[MockServer, MockServer], store: Store
) -> None:
    r = _router(
        servers,
        store,
        [{**ORG, "usd": 1.0}, {"tenant": "*", "period": "day", "usd": 1.0}],
    )
    served = [_ask(r, tenant, i).served_by for i, tenant in enumerate(["acme", "globex"] * 2)]
    assert served == ["api"] * 4
    spent = store.spent()
    assert spent["organisation/*/day/all-tenants"] == 4 * PAID_CALL  # both tenants, summed
    assert spent["acme/*/day"] == spent["globex/*/day"] == 2 * PAID_CALL


def test_an_exhausted_organisation_budget_stops_every_tenant(
    servers: tuple[MockServer, MockServer], store: Store
) -> None:
    """$0.002 for the whole organisation: four paid calls (two per tenant) leave $0.0002,
    less than the next call's maximum cost, so both tenants go free although each has
    ample money of its own."""
    r = _router(
        servers,
        store,
        [{**ORG, "usd": 0.002}, {"tenant": "*", "period": "day", "usd": 1.0}],
    )
    decisions = [_ask(r, t, i) for i, t in enumerate(["acme", "globex"] * 4)]
    assert [d.served_by for d in decisions] == ["api"] * 4 + ["local"] * 4
    for d in decisions[4:]:
        (why,) = [x for x in d.rejected if x.name == "api"]
        assert why.stage == "budget"
        assert "hard budget organisation $0.002/day" in why.reasons[0]
    spent = store.spent()
    assert spent["organisation/*/day/all-tenants"] == 4 * PAID_CALL <= 2000
    assert spent["acme/*/day"] == spent["globex/*/day"] == 2 * PAID_CALL


def test_per_tenant_budgets_still_apply_beside_the_organisation_budget(
    servers: tuple[MockServer, MockServer], store: Store
) -> None:
    """The tightest budget decides: acme's own $0.0006 stops acme after one paid call
    while globex keeps paying under the ample organisation budget."""
    r = _router(
        servers,
        store,
        [{**ORG, "usd": 1.0}, {"tenant": "acme", "period": "day", "usd": 0.0006}],
    )
    decisions = [_ask(r, t, i) for i, t in enumerate(["acme", "globex"] * 3)]
    assert [(d.features.tenant, d.served_by) for d in decisions] == [
        ("acme", "api"), ("globex", "api"),
        ("acme", "local"), ("globex", "api"),
        ("acme", "local"), ("globex", "api"),
    ]  # fmt: skip
    (why,) = [x for x in decisions[2].rejected if x.name == "api"]
    assert "hard budget acme $0.0006/day" in why.reasons[0]
    spent = store.spent()
    assert spent["acme/*/day"] == PAID_CALL
    assert spent["organisation/*/day/all-tenants"] == 4 * PAID_CALL


def test_a_tenant_named_like_the_organisation_keeps_its_own_counter(
    servers: tuple[MockServer, MockServer], store: Store
) -> None:
    r = _router(
        servers,
        store,
        [{**ORG, "usd": 1.0}, {"tenant": "*", "period": "day", "usd": 1.0}],
    )
    for i, tenant in enumerate(["organisation", "organisation/*/day/all-tenants", "acme"]):
        assert _ask(r, tenant, i).served_by == "api"
    spent = store.spent()
    assert spent["organisation/*/day/all-tenants"] == 3 * PAID_CALL
    assert spent["organisation/*/day"] == PAID_CALL
    assert spent["organisation/*/day/all-tenants/*/day"] == PAID_CALL
    assert spent["acme/*/day"] == PAID_CALL


def test_a_soft_organisation_budget_relaxes_the_target_for_every_tenant(
    servers: tuple[MockServer, MockServer], store: Store
) -> None:
    """Soft, $0.0015, any free deployment will do at 50% used: after one paid call each
    (900 of 1500 used, 60%) both tenants are relaxed to free while money is left; each
    tenant alone has used only 30% of it."""
    soft = {**ORG, "usd": 0.0015, "mode": "soft", "steps": [[0.5, 0.0]]}
    r = _router(servers, store, [soft])
    decisions = [_ask(r, t, i) for i, t in enumerate(["acme", "globex"] * 2)]
    assert [d.served_by for d in decisions] == ["api", "api", "local", "local"]
    for d in decisions[2:]:
        assert d.quality_target == 0.0
        notes = " | ".join(d.budget_notes)
        assert "soft budget organisation $0.0015/day 60% used" in notes, notes
        assert not any(x.stage == "budget" for x in d.rejected)  # relaxed, not stopped
    assert store.spent()["organisation/*/day/all-tenants"] == 2 * PAID_CALL


# ------------------------------------------------------------------ Redis: one slot per script


def _spy_on_scripts(s: RedisState) -> list[list[str]]:
    """The keys of every script call (each must stay in one Redis Cluster slot)."""
    calls: list[list[str]] = []
    link = s.link
    real: Callable[[str], Any] = link.script

    def script(source: str) -> Any:
        run = real(source)

        def traced(*, keys: list[str], args: list[Any] | None = None) -> Any:
            calls.append(list(keys))
            return run(keys=keys, args=args)

        return traced

    link.script = script  # type: ignore[method-assign]
    return calls


def _tag(key: str) -> str:
    return key[key.index("{") + 1 : key.index("}")]


def test_redis_keeps_the_organisation_counter_in_its_own_slot(redis_url: str) -> None:
    """The organisation counter lives under `{org}`, the tenant's under `{t:TENANT}`; a
    request touching both runs one script per slot (Redis Cluster refuses cross-slot
    scripts) and the reservation stays all or nothing."""
    s = RedisState(redis_url, StateSettings())
    calls = _spy_on_scripts(s)
    org = ("organisation/*/day/all-tenants", DAY)
    limits = [("acme/*/day", DAY, 1000), (*org, 500)]
    counters = [(k, w) for k, w, _ in limits]
    assert s.budgets.reserve("acme", "t1", limits, 400, hold_seconds=60) == [0, 0]
    # 400 + 200 fits acme's 1000 but not the organisation's 500: nothing is held anywhere
    assert s.budgets.reserve("acme", "t2", limits, 200, hold_seconds=60) is None
    assert s.budgets.used("acme", counters) == [400, 400]
    assert s.budgets.used("globex", [org]) == [400]  # the same counter for another tenant
    s.budgets.settle("acme", "t1", counters, 150)
    s.budgets.settle("acme", "t1", counters, 150)  # a replay after a lost reply: once
    assert s.budgets.used("acme", counters) == [150, 150]
    assert calls
    assert all(len({_tag(k) for k in keys}) == 1 for keys in calls), calls
    client: Any = redis.Redis.from_url(redis_url, decode_responses=True)
    tags = {_tag(k) for k in client.keys("*")}
    assert tags == {"t:acme", "org"}
    assert not any(client.hgetall(k) for k in client.keys("*:holds"))
    client.close()


def test_redis_releases_the_tenant_hold_when_the_organisation_is_full(redis_url: str) -> None:
    s = RedisState(redis_url, StateSettings())
    org = ("organisation/*/month/all-tenants", "2026-11")
    s.budgets.reserve("globex", "g", [(*org, 1000)], 900, hold_seconds=60)
    limits = [("acme/*/day", DAY, 10_000), (*org, 1000)]
    assert s.budgets.reserve("acme", "a", limits, 200, hold_seconds=60) is None
    assert s.budgets.used("acme", [("acme/*/day", DAY), org]) == [0, 900]
