"""Shared state on a real redis-server: budgets, cooldowns, cache, degradation, config."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from factories import free_and_paid

import router
from router.errors import ConfigError, NoEligibleDeployment, ProviderUnavailable
from router.state import StateUnavailable, _lua
from router.state.cooldowns import CooldownPolicy
from router.state.redis_state import RedisState
from router.state.settings import StateSettings
from router.testing import FaultServer, ok
from router.testing.redis_server import RedisServer

os.environ.setdefault("STATE_TEST_KEY", "sk-test")


def deployments(local: FaultServer, api: FaultServer) -> list[dict[str, Any]]:
    return free_and_paid(local, api, "STATE_TEST_KEY")


def state(url: str, **settings: Any) -> RedisState:
    return RedisState(url, StateSettings(**settings))


def client_of(url: str) -> Any:
    """A sync redis-py client (Any: its stubs type every reply as "value or awaitable")."""
    return redis.Redis.from_url(url, decode_responses=True)


def spent(client: Any, pattern: str = "*:spent") -> int:
    return sum(int(client.get(k) or 0) for k in client.keys(pattern))


# ------------------------------------------------------------------ budgets


def test_reserve_is_all_or_nothing_over_counters(redis_url: str) -> None:
    s = state(redis_url)
    limits = [("acme/*/day", "2026-11-29", 1000), ("acme/batch/day", "2026-11-29", 500)]
    assert s.budgets.reserve("acme", "t1", limits, 400, hold_seconds=60) == [0, 0]
    # 400 + 200 fits the first (1000) but not the second (500): nothing is held.
    assert s.budgets.reserve("acme", "t2", limits, 200, hold_seconds=60) is None
    assert s.budgets.used("acme", [(k, w) for k, w, _ in limits]) == [400, 400]
    s.budgets.settle("acme", "t1", [(k, w) for k, w, _ in limits], 150)
    assert s.budgets.used("acme", [(k, w) for k, w, _ in limits]) == [150, 150]


def test_settlement_counts_once(redis_url: str) -> None:
    s = state(redis_url)
    counters = [("acme/*/day", "2026-11-29")]
    s.budgets.reserve("acme", "tok", [(*counters[0], 10_000)], 500, hold_seconds=60)
    s.budgets.settle("acme", "tok", counters, 120)
    s.budgets.settle("acme", "tok", counters, 120)  # a replay after a lost reply
    assert s.budgets.used("acme", counters) == [120]


def test_holds_lapse_at_their_expiry(redis_url: str) -> None:
    s = state(redis_url)
    counters = [("acme/*/day", "2026-11-29")]
    assert s.budgets.reserve("acme", "a", [(*counters[0], 1000)], 900, hold_seconds=0.05) == [0]
    import time  # noqa: PLC0415

    time.sleep(0.2)
    assert s.budgets.used("acme", counters) == [0]
    assert s.budgets.reserve("acme", "b", [(*counters[0], 1000)], 900, hold_seconds=60) == [0]


def test_keys_of_one_request_share_the_tenant_hash_tag(redis_url: str) -> None:
    s = state(redis_url)
    s.budgets.reserve("acme", "t", [("acme/*/day", "2026-11-29", 10_000)], 5, hold_seconds=60)
    keys = client_of(redis_url).keys("*")
    assert keys
    assert all("{t:acme}" in k for k in keys)


def test_router_budget_on_redis_moves_to_free_when_spent(redis_url: str) -> None:
    with FaultServer() as local, FaultServer() as api:
        r = router.Router(
            deployments(local, api),
            state=redis_url,
            budgets=[{"tenant": "*", "period": "day", "usd": 0.0012}],
            quality_target=0.95,
            paid_share=1.0,  # the bar alone decides: these short prompts would go free first
        )
        served = []
        for i in range(4):
            api.script(ok("paid", prompt_tokens=20, completion_tokens=40))
            local.script(ok("free"))
            res = r.complete([{"role": "user", "content": f"q{i}"}], max_tokens=50)
            served.append(res.decision.served_by)
        client = client_of(redis_url)
        assert served[0] == "api"
        assert served[-1] == "local"
        assert spent(client) <= 1200
        assert spent(client) == 450 * served.count("api")
        assert not any(client.hgetall(k) for k in client.keys("*:holds"))


# ------------------------------------------------------------------ cooldowns, cache


def test_a_breaker_opened_by_one_router_benches_the_deployment_for_another(
    redis_url: str,
) -> None:
    policy = CooldownPolicy(threshold=2, seconds=30)
    one, two = (RedisState(redis_url, StateSettings(), policy) for _ in range(2))
    fault = ProviderUnavailable("api", "503")
    one.cooldowns.failure("api", fault)
    assert two.cooldowns.allow("api")
    one.cooldowns.failure("api", fault)
    assert not two.cooldowns.allow("api")
    assert two.cooldowns.state("api").state == "open"
    two.cooldowns.success("api")  # a success anywhere closes it (after a probe)
    assert one.cooldowns.allow("api")


def test_the_cache_is_shared_within_a_tenant_only(redis_url: str) -> None:
    a, b = state(redis_url), state(redis_url)
    a.cache.put("k", "acme", {"choices": [{"message": {"content": "hi"}}]})
    assert b.cache.get("k", "acme") == {"choices": [{"message": {"content": "hi"}}]}
    assert b.cache.get("k", "other") is None


# ------------------------------------------------------------------ without Redis


def test_unreachable_redis_fails_closed_and_says_so(tmp_path: Path) -> None:
    server = RedisServer(appendonly=True)
    server.start()
    try:
        with FaultServer() as local, FaultServer() as api:
            r = router.Router(
                deployments(local, api),
                state=server.url,
                state_settings={"retry_seconds": 0.1},
                budgets=[{"tenant": "*", "period": "day", "usd": 1.0}],
                ledger=tmp_path / "ledger.sqlite",
                quality_target=0.95,
                paid_share=1.0,  # the bar alone decides: short prompts would go free first
                cache=True,
            )
            api.script(ok("paid", prompt_tokens=20, completion_tokens=40))
            up = r.complete([{"role": "user", "content": "one"}], max_tokens=50)
            assert up.decision.served_by == "api"
            assert up.decision.shared_state == ()
            server.kill()
            local.script(ok("free"))
            down = r.complete([{"role": "user", "content": "two"}], max_tokens=50, temperature=0)
            assert down.decision.served_by == "local"
            notes = " | ".join(down.decision.shared_state)
            assert "budgets failed closed" in notes
            assert "response cache bypassed" in notes
            rejected = {x.name: x.reasons for x in down.decision.rejected}
            assert "api" in rejected
            server.start()
            import time  # noqa: PLC0415

            time.sleep(0.2)
            api.script(ok("paid again", prompt_tokens=20, completion_tokens=40))
            back = r.complete([{"role": "user", "content": "three"}], max_tokens=50)
            assert back.decision.served_by == "api"
            assert back.decision.shared_state == ()
            client = client_of(server.url)
            assert spent(client) == 900  # appendonly kept the first request's cost
            assert r.ledger is not None
            rows = r.ledger.query("SELECT decision FROM records ORDER BY id")
            assert len(rows) == 3
            assert "budgets failed closed" in rows[1][0]
    finally:
        server.close()


def test_a_request_refused_because_budgets_failed_closed_says_so(tmp_path: Path) -> None:
    """Only a paid deployment, and Redis unreachable: the error says the budgets failed
    closed (not "$0 left" of a budget with room), and carries the ledger row's id."""
    dead = "redis://127.0.0.1:9/0"  # nothing listens on port 9
    with FaultServer() as local, FaultServer() as api:
        paid = [d for d in deployments(local, api) if d["name"] == "api"]
        r = router.Router(
            paid,
            state=dead,
            state_settings={"timeout_ms": 100},
            budgets=[{"tenant": "*", "period": "day", "usd": 1000.0}],
            ledger=tmp_path / "ledger.sqlite",
        )
        with pytest.raises(NoEligibleDeployment) as caught:
            r.complete([{"role": "user", "content": "q"}], max_tokens=50)
        assert "budgets failed closed" in str(caught.value)
        assert caught.value.request_id is not None
        assert r.ledger is not None
        rows = r.ledger.query("SELECT request_id, outcome FROM records")
        assert rows == [(caught.value.request_id, "unservable")]
        assert api.requests == []


def test_open_mode_serves_as_planned_and_holds_nothing() -> None:
    dead = "redis://127.0.0.1:9/0"  # nothing listens on port 9
    with FaultServer() as local, FaultServer() as api:
        r = router.Router(
            deployments(local, api),
            state=dead,
            state_settings={"budgets_when_unavailable": "open", "timeout_ms": 100},
            budgets=[{"tenant": "*", "period": "day", "usd": 1.0}],
            quality_target=0.95,
            paid_share=1.0,  # the bar alone decides: these short prompts would go free first
        )
        api.script(ok("paid", prompt_tokens=20, completion_tokens=40))
        res = r.complete([{"role": "user", "content": "q"}], max_tokens=50)
        assert res.decision.served_by == "api"
        assert any("budgets not checked" in n for n in res.decision.shared_state)


def test_state_unavailable_fails_fast_within_retry_seconds() -> None:
    s = state("redis://127.0.0.1:9/0", retry_seconds=30, timeout_ms=100)
    with pytest.raises(StateUnavailable):
        s.budgets.used("acme", [("acme/*/day", "2026-11-29")])
    import time  # noqa: PLC0415

    t0 = time.perf_counter()
    with pytest.raises(StateUnavailable, match="retrying shortly"):
        s.budgets.used("acme", [("acme/*/day", "2026-11-29")])
    assert time.perf_counter() - t0 < 0.05


# ------------------------------------------------------------------ ping and readiness


def test_ping_answers_past_an_open_breaker_and_readiness_uses_it(redis_url: str) -> None:
    s = state(redis_url, retry_seconds=30, timeout_ms=250)
    try:
        s.ping()  # it answers: no exception
        s.link._down_until = time.monotonic() + 30  # a failure opened the link's breaker
        with pytest.raises(StateUnavailable, match="retrying shortly"):
            s.budgets.used("acme", [("acme/*/day", "2026-11-29")])
        s.ping()  # PING asks Redis itself, not the breaker (no StateUnavailable)...
        assert not s.link.up  # ...and leaves the breaker as it was
    finally:
        s.close()
    with FaultServer() as local, FaultServer() as api:
        r = router.Router(deployments(local, api), state=redis_url)
        try:
            report = r.readiness(timeout=0.5)
        finally:
            assert r.shared is not None
            r.shared.close()
    assert report["state"] == {"backend": "redis", "reachable": True, "error": None}
    assert report["ready"] is True


def test_ping_of_a_redis_that_is_down_raises_and_readiness_names_the_cause() -> None:
    s = state("redis://127.0.0.1:9/0", timeout_ms=100)  # nothing listens on port 9
    with pytest.raises(StateUnavailable, match=r"did not answer PING \(ConnectionError\)") as err:
        s.ping()
    assert isinstance(err.value.__cause__, redis.ConnectionError)
    with FaultServer() as local, FaultServer() as api:
        r = router.Router(
            deployments(local, api),
            state="redis://127.0.0.1:9/0",
            state_settings={"timeout_ms": 100},
        )
        report = r.readiness(timeout=0.5)
    assert report["state"] == {"backend": "redis", "reachable": False, "error": "ConnectionError"}
    assert report["ready"] is False


def test_ping_of_a_redis_that_never_replies_is_bounded_by_timeout_ms() -> None:
    """A port that accepts connections (the kernel's backlog) and never replies: the PING
    gives up after `timeout_ms`, as readiness's did."""
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        port = mute.getsockname()[1]
        s = state(f"redis://127.0.0.1:{port}/0", timeout_ms=200)
        started = time.perf_counter()
        with pytest.raises(StateUnavailable) as err:
            s.ping()
        took = time.perf_counter() - started
    assert isinstance(err.value.__cause__, redis.TimeoutError)
    assert 0.15 < took < 2.0


# ------------------------------------------------------------------ config


def test_config_state_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "router.toml"
    body = '\n[[deployments]]\nname = "m"\nmodel = "gpt-4o-mini"\napi_key_env = "K"\n'
    cfg.write_text('[router]\nstate = "memcached://x"\n' + body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        router.Router.from_config(cfg)
    assert "state" in str(err.value)
    cfg.write_text(
        '[router]\nstate = "local"\n[state]\nretry_second = 1\n' + body, encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="retry_seconds"):
        router.Router.from_config(cfg)


def test_cache_true_needs_redis() -> None:
    with pytest.raises(ConfigError, match="ResponseCache"):
        router.Router([{"name": "m", "model": "gpt-4o-mini", "api_key_env": "K"}], cache=True)


def test_budgets_need_a_ledger_or_redis() -> None:
    with pytest.raises(ConfigError, match="redis://"):
        router.Router(
            [{"name": "m", "model": "gpt-4o-mini", "api_key_env": "K"}],
            budgets=[{"tenant": "*", "period": "day", "usd": 1}],
        )


def test_no_password_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    s = state("redis://user:hunter2@127.0.0.1:9/0", timeout_ms=100)
    with pytest.raises(StateUnavailable) as err:
        s.budgets.used("acme", [("acme/*/day", "2026-11-29")])
    assert "hunter2" not in str(err.value)
    assert "hunter2" not in caplog.text


def test_a_reservation_whose_reply_is_lost_is_released(redis_url: str) -> None:
    """Redis ran the hold but the reply never came back: the router fails closed and
    releases the hold when Redis answers again (found by tests/test_state_processes.py's
    author)."""
    with FaultServer() as local, FaultServer() as api:
        r = router.Router(
            deployments(local, api),
            state=redis_url,
            state_settings={"retry_seconds": 0.05},
            budgets=[{"tenant": "*", "period": "day", "usd": 1.0}],
            quality_target=0.95,
            paid_share=1.0,  # the bar alone decides: these short prompts would go free first
        )
        assert r.shared is not None
        link = r.shared.link
        real = link.script(_lua.RESERVE)

        def lost_reply(*args: Any, **kwargs: Any) -> Any:
            real(*args, **kwargs)  # ran on the server...
            raise redis.ConnectionError("Connection closed by server.")  # ...reply lost

        link._scripts[_lua.RESERVE] = lost_reply
        local.script(ok("free"))
        d = r.complete([{"role": "user", "content": "q"}], max_tokens=50).decision
        assert d.served_by == "local"
        client = client_of(redis_url)
        holds = [client.hgetall(k) for k in client.keys("*:holds")]
        assert any(holds)  # the orphaned hold is there...
        link._scripts[_lua.RESERVE] = real
        import time  # noqa: PLC0415

        time.sleep(0.1)
        api.script(ok("paid", prompt_tokens=20, completion_tokens=40))
        again = r.complete([{"role": "user", "content": "q2"}], max_tokens=50).decision
        assert again.served_by == "api"
        assert all(client.hgetall(k) == {} for k in client.keys("*:holds"))  # ...released
        assert r.shared.budgets.pending == 0
