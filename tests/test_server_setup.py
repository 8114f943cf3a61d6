"""Setting the server up: the `[server]` table, client keys, what it refuses to start
with, `Router.variant`, and `python -m router serve` as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import openai
import pytest
import server_kit as kit

import router
from router.decision import RouterConfig
from router.errors import ConfigError
from router.server import hash_key, new_key
from router.server._keys import KeyRing
from router.server._run import bind, check_exposure
from router.testing import FaultServer
from router.testing.redis_server import RedisServer

LOCAL = {"name": "local", "model": "openai/q", "api_base": "http://127.0.0.1:9/v1",
         "context_window": 8192}  # fmt: skip


def tree(**server: object) -> RouterConfig:
    return RouterConfig(deployments=[LOCAL], server=server)


# -- keys ------------------------------------------------------------------------------------


def test_a_key_matches_only_its_own_hash() -> None:
    key, line = new_key()
    other, other_line = new_key()
    keys = [{"tenant": "acme", "key_hash": line}, {"tenant": "globex", "key_hash": other_line}]
    ring = KeyRing.of(tree(keys=keys).server, "t", {})
    assert ring.tenant_of(key) == "acme"
    assert ring.tenant_of(other) == "globex"
    assert ring.tenant_of(key[:-1]) is None
    assert ring.tenant_of("") is None
    assert key not in line  # the line holds no key
    assert hash_key(key, bytes(16)) != hash_key(key, bytes([1]) * 16)  # salted


def test_an_environment_key_is_read_at_start_and_never_shown() -> None:
    value = "rk-" + "env-" + "q" * 20
    settings = tree(keys=[{"tenant": "acme", "key_env": "ACME_KEY"}]).server
    assert KeyRing.of(settings, "r.toml", {"ACME_KEY": value}).tenant_of(value) == "acme"
    with pytest.raises(ConfigError) as unset:
        KeyRing.of(settings, "r.toml", {})
    assert unset.value.key == "server.keys[0].key_env"
    assert "$ACME_KEY is not set" in str(unset.value)
    with pytest.raises(ConfigError) as short:
        KeyRing.of(settings, "r.toml", {"ACME_KEY": "rk-short"})
    assert "rk-short" not in str(short.value)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ({"tenant": "a"}, "exactly one way"),
        ({"tenant": "a", "key_env": "A", "key_hash": hash_key("x")}, "exactly one way"),
        ({"tenant": "a", "key_hash": "rk-" + "pasted-" + "secret-value"}, "sha256:SALT:HEX"),
        ({"tenant": "a", "key_env": "rk-" + "pasted-" + "secret-value"}, "environment variable"),
    ],
    ids=["none", "both", "pasted-hash", "pasted-env"],
)
def test_a_wrong_key_table_names_it_and_never_echoes_it(
    tmp_path: Path, key: dict[str, str], words: str
) -> None:
    lines = "\n".join(f'{k} = "{v}"' for k, v in key.items())
    path = tmp_path / "router.toml"
    path.write_text(
        '[[deployments]]\nname = "l"\nmodel = "openai/q"\napi_base = "http://127.0.0.1:9/v1"\n'
        f"context_window = 8192\n[[server.keys]]\n{lines}\n"
    )
    with pytest.raises(ConfigError) as caught:
        RouterConfig.load(path)
    assert caught.value.key == "server.keys[0]"
    assert words in str(caught.value)
    assert "secret-value" not in str(caught.value)


# -- what it refuses to start with ---------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "host", "key"),
    [
        ({}, "127.0.0.1", "server.keys"),  # no keys and no auth = "none": refused
        ({"auth": "none"}, "0.0.0.0", "server.auth"),  # no keys on a reachable address
    ],
    ids=["no-keys", "none-exposed"],
)
def test_it_fails_closed_without_keys(server: dict[str, str], host: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_exposure(tree(**server), host)
    assert caught.value.key == key


def test_no_keys_on_loopback_needs_auth_none_and_keys_go_anywhere() -> None:
    check_exposure(tree(auth="none"), "127.0.0.1")
    check_exposure(tree(keys=[{"tenant": "a", "key_hash": hash_key("k")}]), "0.0.0.0")
    with pytest.raises(ConfigError, match="loopback"):
        router.Router([LOCAL], server={"auth": "none", "host": "10.0.0.5"})
    with pytest.raises(ConfigError, match="built in"):
        router.Router([LOCAL], server={"models": [{"name": "router"}]})


def test_a_port_in_use_is_said_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            bind("127.0.0.1", port)
    assert caught.value.key == "--port"
    assert f"port {port} on 127.0.0.1 is already in use" in str(caught.value)


def test_a_route_with_a_missing_policy_pack_is_named(tmp_path: Path) -> None:
    from router.server import create_app  # noqa: PLC0415

    r = router.Router([LOCAL], server={"auth": "none", "models": [{"name": "x", "policy": "nope"}]})
    with pytest.raises(ConfigError) as caught:
        create_app(r)
    assert caught.value.key.startswith("server.models[0].policy")


# -- variants share what they serve with ---------------------------------------------------


def test_a_variant_plans_otherwise_and_shares_breakers_budgets_and_ledger(tmp_path: Path) -> None:
    api = {**LOCAL, "name": "api", "model": "gpt-4o", "hosting": "api", "api_base": None}
    r = router.Router([LOCAL, api], ledger=tmp_path / "l.sqlite", paid_share=0.0)
    best = r.variant(objective="best", paid_share=1.0)
    hi = [{"role": "user", "content": "Say hi"}]
    assert r.plan(hi).chosen.name == "local"  # type: ignore[union-attr]
    assert best.plan(hi).chosen.name == "api"  # type: ignore[union-attr]
    assert best.cooldowns is r.cooldowns
    assert best.books is r.books
    assert best.ledger is r.ledger
    assert r.settings.objective == "free-first"  # the original is unchanged
    with pytest.raises(ConfigError) as caught:
        r.variant(ledger="other.sqlite")
    assert caught.value.key == "ledger"


# -- python -m router serve, a real process ------------------------------------------------


def test_serve_with_two_workers_answers_the_sdk_and_stops_on_sigterm(tmp_path: Path) -> None:
    # one process test only: each process imports litellm (seconds on a busy machine)
    with FaultServer() as local, FaultServer() as api:
        path = kit.write_config(tmp_path, local, api)
        with kit.subprocess_server(path, "--workers", "2") as (running, proc):
            client = openai.OpenAI(base_url=running.v1, api_key=kit.GLOBEX)
            answers = [
                client.chat.completions.with_raw_response.create(
                    model="router", messages=[{"role": "user", "content": "Say hi"}]
                )
                for _ in range(4)
            ]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            assert proc.stderr is not None
            log = proc.stderr.read()
    assert [a.parse().choices[0].message.content for a in answers] == ["hello"] * 4
    assert len({a.headers["x-request-id"] for a in answers}) == 4
    assert "POST /v1/chat/completions 200 tenant=globex" in log
    assert kit.GLOBEX not in log  # the key is never logged
    assert "authorization" not in log.lower()
    assert "Say hi" not in log  # nor the prompt


def cli(
    *args: str, env: dict[str, str] | None = None, code: str = ""
) -> subprocess.CompletedProcess[str]:
    program = (
        f"{code or 'pass'}\nfrom router.cli import main\nraise SystemExit(main({list(args)!r}))"
    )
    return subprocess.run(
        [sys.executable, "-c", program],
        check=False, capture_output=True, text=True, timeout=120, cwd=kit.ROOT,
        env={**os.environ, "PYTHONPATH": str(kit.ROOT), **(env or {})},
    )  # fmt: skip


def test_serve_refusals_are_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = cli("serve", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert "nope.toml: file not found" in missing.stderr
    no_config = cli("serve")
    assert no_config.returncode == 2
    assert "--config" in no_config.stderr
    with FaultServer() as local, FaultServer() as api:
        path = kit.write_config(tmp_path, local, api)
        unset = cli("serve", "--config", str(path), env={kit.GLOBEX_ENV: ""})
        no_extra = cli(
            "serve", "--config", str(path), code="import sys; sys.modules['uvicorn'] = None"
        )
    assert unset.returncode == 2
    assert f"${kit.GLOBEX_ENV} is not set" in unset.stderr
    assert no_extra.returncode == 2
    assert "pip install 'freefirst-router[server]'" in no_extra.stderr
    assert all(
        len(r.stderr.strip().splitlines()) == 1 for r in (missing, no_config, unset, no_extra)
    )


def test_new_key_prints_a_key_and_the_table_that_accepts_it() -> None:
    done = cli("serve", "--new-key", "acme")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    key = lines[1].strip()
    line = next(x for x in lines if "key_hash" in x).split('"')[1]
    settings = tree(keys=[{"tenant": "acme", "key_hash": line}]).server
    assert KeyRing.of(settings, "t", {}).tenant_of(key) == "acme"


def test_readiness_asks_the_shared_state(redis_server: RedisServer) -> None:
    with FaultServer() as local:
        here = {**LOCAL, "api_base": local.base_url}
        r = router.Router([here], state=redis_server.url, state_settings={"timeout_ms": 200})
        up = r.readiness()
        redis_server.stop()
        down = r.readiness()
    assert up["ready"] is True
    assert up["state"] == {"backend": "redis", "reachable": True, "error": None}
    assert down["ready"] is False
    assert down["state"]["reachable"] is False
    assert down["state"]["error"]  # the failure's type, never the URL's password
