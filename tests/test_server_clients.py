"""Real clients of `python -m router serve` (issue 17): the official `openai` npm package
under Node, `curl`, and LangChain's `ChatOpenAI`. (The official Python SDK has its own
tests beside the server's.)

One `router serve` subprocess per test module (per xdist worker) over a config with two
deployments: the real local model (SmolLM2 on llama.cpp, `router.tools._local`) and a paid
API (a loopback `FaultServer`, hosting "api"). Clients send model `router/best` (objective
best, paid_share 1): a public prompt goes to the API, so the API is reachable through each
client; a prompt with a card number is confidential and must stay on this machine: the
answer comes from `local-smollm2` (header `x-router-served-by`) and the API's request log
stays empty, through the JSON and the streaming call of every client.

The Node client is installed from tests/clients/node/package-lock.json (`npm ci`, which
`make test` also runs through scripts/setup.sh node). When Node, npm, the install or curl
is missing, the test fails and says what to run: it never skips.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import server_kit as kit

from router.testing import FaultServer, ok
from router.tools._local import LocalServer

pytestmark = pytest.mark.local_model

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "clients" / "node"
CLIENT_KEY_ENV = "ROUTER_CLIENTS_TEST_KEY"
CLIENT_KEY = "rk-" + "clients-" + "0123456789abcdef4567"  # assembled: no scanner flags it
API_KEY_ENV = "ROUTER_CLIENTS_TEST_API_KEY"
API_ANSWER = "hello from the paid api"
CARD = "4111 1111 1111 1111"
CONFIDENTIAL = f"My card is {CARD}. Say OK."
PUBLIC = "Say hi."
MODEL = "router/best"
LOCAL = "local-smollm2"
START_TIMEOUT_S = 90.0


@dataclass
class Stack:
    """The running server and what is behind it."""

    root: str
    api: FaultServer
    log: Path

    @property
    def v1(self) -> str:
        return f"{self.root}/v1"

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _config(local: LocalServer, api: FaultServer, ledger: Path) -> str:
    return f"""
[router]
ledger = "{ledger}"

[retry]
attempts = 1

[[deployments]]
name = "{LOCAL}"
model = "openai/{local.alias}"
api_base = "{local.base_url}"
hosting = "local"
context_window = {local.context_window}
quality = 0.4

[[deployments]]
name = "api"
model = "openai/big"
api_base = "{api.base_url}"
client = "direct"  # the clients are under test: the server skips litellm's import
hosting = "api"
weights = "closed"
context_window = 8192
quality = 0.95
api_key_env = "{API_KEY_ENV}"
input_cost_per_mtok = 2.5
output_cost_per_mtok = 10

[server]

[[server.keys]]
tenant = "clients"
key_env = "{CLIENT_KEY_ENV}"

[[server.models]]
name = "{MODEL}"
objective = "best"
paid_share = 1.0
"""


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _warm(port: int, prompt: str) -> None:
    """One chat completion with http.client, before the clients' tests time anything."""
    body = json.dumps({"model": MODEL, "max_tokens": 8,
                       "messages": [{"role": "user", "content": prompt}]})  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json"}
        conn.request("POST", "/v1/chat/completions", body, headers)
        response = conn.getresponse()
        assert response.status == 200, response.read()[:500]
        response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The real local model, the API FaultServer and `python -m router serve` over them."""
    with (
        tempfile.TemporaryDirectory(prefix="router-clients-") as tmp,
        LocalServer() as local,
        FaultServer(default=ok(API_ANSWER)) as api,
    ):
        folder = Path(tmp)
        config = folder / "router.toml"
        config.write_text(_config(local, api, folder / "ledger.sqlite"), encoding="utf-8")
        port = kit.free_port()
        env = {**os.environ, CLIENT_KEY_ENV: CLIENT_KEY, API_KEY_ENV: "sk-" + "test-" + "x" * 16}
        env["PYTHONPATH"] = str(ROOT)
        log = folder / "serve.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "router", "serve", "--config", str(config),
                 "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=folder,
            )  # fmt: skip
        running = Stack(f"http://127.0.0.1:{port}", api, log)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _healthy(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"router serve did not start:\n{running.log_tail()}")
                time.sleep(0.1)
            for prompt in (PUBLIC, CONFIDENTIAL):  # first calls: litellm, the model's cache
                _warm(port, prompt)
            api.reset_requests()
            yield running
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _check_public(stack: Stack, headers: dict[str, str], content: str | None) -> None:
    """A public prompt to router/best went to the paid API (so the API is reachable)."""
    assert headers.get("x-router-served-by") == "api", headers
    assert content == API_ANSWER
    assert stack.api.requests, "the API FaultServer saw no request"


def _check_confidential(stack: Stack, headers: dict[str, str], content: str | None) -> None:
    """A card number stayed on this machine: answered by the real local model, and the
    API's request log is empty."""
    assert headers.get("x-router-served-by") == LOCAL, headers
    assert headers.get("x-router-sensitivity") == "confidential", headers
    assert headers.get("x-request-id"), headers
    assert content, "the local model's answer is empty"
    assert content != API_ANSWER
    assert stack.api.requests == [], "a confidential prompt reached the API deployment"


# --- the official openai npm package under Node ----------------------------------------------


def _locked_version() -> str:
    lock = json.loads((NODE_DIR / "package-lock.json").read_text(encoding="utf-8"))
    version: str = lock["packages"]["node_modules/openai"]["version"]
    return version


def _installed_version() -> str | None:
    try:
        meta = json.loads((NODE_DIR / "node_modules" / "openai" / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = meta.get("version")
    return version if isinstance(version, str) else None


@pytest.fixture(scope="session")
def node_client() -> Path:
    """tests/clients/node installed from its lockfile (`npm ci`, once; a file lock keeps
    xdist workers from installing at the same time). Fails, never skips, with what to run."""
    hint = "run `npm ci --prefix tests/clients/node` (it needs the npm registry)"
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not on PATH: install Node.js 20+ and npm, then {hint}")
    with (NODE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() != _locked_version():
            done = subprocess.run(
                ["npm", "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"],
                capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                pytest.fail(
                    f"npm ci failed (exit {done.returncode}): {hint}\n"
                    f"{(done.stderr or done.stdout)[-2000:]}"
                )
    installed = _installed_version()
    assert installed == _locked_version(), f"openai npm {installed} installed; {hint}"
    return NODE_DIR / "client.mjs"


def _node(script: Path, stack: Stack, prompt: str) -> dict[str, Any]:
    spec = {"baseURL": stack.v1, "apiKey": CLIENT_KEY, "model": MODEL, "prompt": prompt,
            "maxTokens": 8}  # fmt: skip
    done = subprocess.run(
        ["node", str(script), json.dumps(spec)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr[-2000:]}\nserver log:\n{stack.log_tail()}"
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_the_openai_npm_package_under_node(node_client: Path, stack: Stack) -> None:
    stack.api.reset_requests()
    public = _node(node_client, stack, PUBLIC)
    assert public["sdk"] == _locked_version()
    _check_public(stack, public["json"]["headers"], public["json"]["content"])
    _check_public(stack, public["stream"]["headers"], public["stream"]["content"])
    assert public["json"]["object"] == "chat.completion"
    assert public["json"]["model"]  # (the server names the model that answered)

    stack.api.reset_requests()
    secret = _node(node_client, stack, CONFIDENTIAL)
    _check_confidential(stack, secret["json"]["headers"], secret["json"]["content"])
    _check_confidential(stack, secret["stream"]["headers"], secret["stream"]["content"])
    assert secret["json"]["usage"]["completion_tokens"] > 0
    assert secret["stream"]["finish_reason"] in {"stop", "length"}
    assert secret["stream"]["usage"]["completion_tokens"] > 0  # include_usage's last chunk


# --- curl ---------------------------------------------------------------------------------------


def _curl(stack: Stack, prompt: str, *, stream: bool) -> tuple[int, dict[str, str], str]:
    """One chat completion through curl: (status, headers, the answer's text)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is not on PATH: install it (apt-get install -y curl)")
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 8, "temperature": 0,
                            "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    with tempfile.NamedTemporaryFile(suffix=".headers") as head:
        done = subprocess.run(
            [curl, "-sS", "--max-time", "60", *(["-N"] if stream else []), "-D", head.name,
             "-H", f"Authorization: Bearer {CLIENT_KEY}", "-H", "Content-Type: application/json",
             "--data-binary", "@-", f"{stack.v1}/chat/completions"],
            input=json.dumps(body), capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"curl failed: {done.stderr}\n{stack.log_tail()}"
        lines = Path(head.name).read_text().splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if not stream:
        if status != 200:
            return status, headers, done.stdout
        answer = json.loads(done.stdout)
        assert answer["object"] == "chat.completion"
        return status, headers, answer["choices"][0]["message"]["content"]
    events = [x[len("data: ") :] for x in done.stdout.split("\n") if x.startswith("data: ")]
    assert events, done.stdout[-500:]
    assert events[-1] == "[DONE]", done.stdout[-500:]
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] > 0  # include_usage: the last chunk
    text = "".join(choice["delta"].get("content") or "" for c in chunks for choice in c["choices"])
    return status, headers, text


def test_curl(stack: Stack) -> None:
    stack.api.reset_requests()
    for stream in (False, True):
        status, headers, text = _curl(stack, PUBLIC, stream=stream)
        assert status == 200
        _check_public(stack, headers, text)

    stack.api.reset_requests()
    for stream in (False, True):
        status, headers, text = _curl(stack, CONFIDENTIAL, stream=stream)
        assert status == 200
        assert headers["content-type"].startswith(
            "text/event-stream" if stream else "application/json"
        )
        _check_confidential(stack, headers, text)


def test_curl_without_a_key_is_refused(stack: Stack) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is not on PATH: install it (apt-get install -y curl)"
    done = subprocess.run(
        [curl, "-sS", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}", "-H",
         "Content-Type: application/json", "--data-binary", "@-", f"{stack.v1}/chat/completions"],
        input=json.dumps({"model": MODEL, "messages": [{"role": "user", "content": CONFIDENTIAL}]}),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    body, _, code = done.stdout.rpartition("\n")
    assert code == "401"
    assert set(json.loads(body)["error"]) >= {"message", "type", "code"}
    assert CARD not in body


# --- LangChain's ChatOpenAI ----------------------------------------------------------------------


@contextlib.contextmanager
def _no_langsmith() -> Iterator[None]:
    """LangChain's tracing off whatever the environment says (it would post to LangSmith)."""
    names = ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING")
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in names:
            os.environ[name] = "false"
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_langchain_chat_openai(stack: Stack) -> None:
    from langchain_openai import ChatOpenAI  # noqa: PLC0415  (heavy; this test only)
    from pydantic import SecretStr  # noqa: PLC0415

    with _no_langsmith():
        llm = ChatOpenAI(
            base_url=stack.v1,
            api_key=SecretStr(CLIENT_KEY),
            model=MODEL,
            max_tokens=8,
            temperature=0,
            max_retries=0,
            timeout=60,
            include_response_headers=True,
        )
        stack.api.reset_requests()
        public = llm.invoke(PUBLIC)
        _check_public(stack, public.response_metadata["headers"], str(public.content))

        stack.api.reset_requests()
        answer = llm.invoke(CONFIDENTIAL)
        _check_confidential(stack, answer.response_metadata["headers"], str(answer.content))
        chunks = list(llm.stream(CONFIDENTIAL))
    text = "".join(str(c.content) for c in chunks)
    with_headers = [
        c.response_metadata["headers"] for c in chunks if "headers" in c.response_metadata
    ]
    assert with_headers, "no chunk carried the response headers"
    headers = with_headers[0]
    _check_confidential(stack, headers, text)
    assert len(chunks) > 1  # streamed, not one answer
