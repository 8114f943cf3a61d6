"""README.md's "From any language" snippets run (issue 17, point 6).

The section's ```sh block is a newcomer's session: install, `serve --new-key acme`, export
the key, `serve --config router.toml`, one curl line. Its ```py block is the OpenAI SDK
with `with_raw_response`. Both are read from README.md by the section's heading, so an
edit of the README that breaks them fails here.

The session runs as written, on a free port instead of 8000: `python -m router serve
--new-key acme` (through bash, `python` being this interpreter); its `[[server.keys]]`
table goes into a router.toml over two loopback FaultServers (tests/server_kit.py) whose
`[server] port` is the free port; `python -m router serve --config router.toml` runs
through bash in that folder; the curl line runs through bash with ROUTER_KEY set to the
printed key and only `127.0.0.1:8000` replaced. The py block is executed with the
same key in its environment and the same host:port replaced. `pip install` is not run
(it would install from the index): the test checks that its package and extra exist.
The ```py fence is on purpose: tests/test_readme.py executes every ```python block without
a server.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from server_kit import ROOT, config_text, env, free_port

import router
from router.server._keys import KeyRing
from router.testing import FaultServer, ok

README = (ROOT / "README.md").read_text(encoding="utf-8")
HEADING = "## From any language"
README_ADDRESS = "127.0.0.1:8000"
ANSWER = "hi from the local model"
START_TIMEOUT_S = 90.0


def _section(text: str, heading: str) -> str:
    """The text under `heading` (a whole line) up to the next heading of its level or
    higher."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    assert lines.count(heading) == 1, f"README.md has {lines.count(heading)} {heading!r} lines"
    start = lines.index(heading) + 1
    end = next(
        (
            i
            for i in range(start, len(lines))
            if re.match(rf"#{{1,{level}}} ", lines[i]) and not _in_fence(lines, i)
        ),
        len(lines),
    )
    return "\n".join(lines[start:end]) + "\n"


def _in_fence(lines: list[str], index: int) -> bool:
    """Whether line `index` is inside a ``` block (a `# comment` there is no heading)."""
    return sum(line.startswith("```") for line in lines[:index]) % 2 == 1


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)


SECTION = _section(README, HEADING)
(SH,) = _blocks(SECTION, "sh")
(PY,) = _blocks(SECTION, "py")


def _commands(block: str) -> list[str]:
    """The shell block's commands: continuation lines joined (as bash reads them)."""
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        if not line.strip() and not pending:
            continue
        pending += line + "\n"
        if not line.endswith("\\"):
            commands.append(pending.rstrip("\n"))
            pending = ""
    assert not pending, "the sh block ends inside a continued line"
    return commands


def _command(prefix: str) -> str:
    """The one command of the sh block that starts with `prefix`."""
    found = [c for c in _commands(SH) if c.startswith(prefix)]
    assert len(found) == 1, f"README's sh block: {len(found)} commands start with {prefix!r}"
    return found[0]


def _local(text: str, port: int) -> str:
    """`text` with the README's 127.0.0.1:8000 on `port`; nothing else changes."""
    assert text.count(README_ADDRESS) == 1, f"expected one {README_ADDRESS} in {text!r}"
    return text.replace(README_ADDRESS, f"127.0.0.1:{port}")


def _shell_env(**extra: str) -> dict[str, str]:
    """This environment, with `python` = this interpreter first on PATH, the checkout on
    PYTHONPATH, the server kit's keys and `extra`."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, **env(), "PATH": path, "PYTHONPATH": str(ROOT), **extra}


@dataclass(frozen=True)
class NewKey:
    key: str
    table: str
    output: str


def _new_key() -> NewKey:
    """The sh block's `serve --new-key acme` line, run by bash as written."""
    line = _command("python -m router serve --new-key ")
    done = subprocess.run(
        ["bash", "-c", line], env=_shell_env(), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    keys = re.findall(r"^\s*(rk-\S+)\s*$", done.stdout, flags=re.MULTILINE)
    assert len(keys) == 1, done.stdout
    table = done.stdout[done.stdout.index("[[server.keys]]") :]
    table = "\n".join(line.strip() for line in table.splitlines()) + "\n"
    return NewKey(keys[0], table, done.stdout)


@dataclass(frozen=True)
class Served:
    port: int
    folder: Path
    key: str
    local: FaultServer
    api: FaultServer


@contextlib.contextmanager
def _serve_line(folder: Path) -> Iterator[subprocess.Popen[str]]:
    """The sh block's `serve --config router.toml` line, run by bash in `folder`, in a
    session of its own (SIGTERM to that group when the block ends)."""
    line = _command("python -m router serve --config ")
    log = (folder / "serve.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        ["bash", "-c", line], cwd=folder, env=_shell_env(), stdout=log, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _wait_healthy(port: int, proc: subprocess.Popen[str], folder: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            log = (folder / "serve.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"the README's serve line exited {proc.returncode}:\n{log}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"the README's serve line did not answer /health in {START_TIMEOUT_S} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def new_key() -> NewKey:
    return _new_key()


@pytest.fixture(scope="module")
def served(new_key: NewKey, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The sh block's session: the printed table in router.toml, `serve --config` as
    written (the port from `[server] port`)."""
    folder = tmp_path_factory.mktemp("readme-server")
    port = free_port()
    with FaultServer(default=ok(ANSWER)) as local, FaultServer(default=ok("paid")) as api:
        text = config_text(local, api, server=f"port = {port}", extra="\n" + new_key.table)
        (folder / "router.toml").write_text(text, encoding="utf-8")
        with _serve_line(folder) as proc:
            _wait_healthy(port, proc, folder)
            yield Served(port, folder, new_key.key, local, api)


def test_the_section_holds_the_snippets() -> None:
    words = [shlex.split(c.replace("\\\n", " "), comments=True) for c in _commands(SH)]
    assert [w[:5] for w in words] == [
        ["pip", "install", "freefirst-router[server]"],
        ["python", "-m", "router", "serve", "--new-key"],
        ["export", "ROUTER_KEY=rk-..."],
        ["python", "-m", "router", "serve", "--config"],
        [
            "curl",
            "-s",
            "http://127.0.0.1:8000/v1/chat/completions",
            "-H",
            "Authorization: Bearer $ROUTER_KEY",
        ],
    ]
    assert "$ROUTER_KEY" in _command("curl ")
    assert 'os.environ["ROUTER_KEY"]' in PY
    assert f'base_url="http://{README_ADDRESS}/v1"' in PY
    # The SDK block needs a server: tests/test_readme.py runs ```python blocks, not ```py.
    assert "```py\n" in SECTION
    assert PY not in re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_pip_install_names_this_package_and_its_server_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    line = _command("pip install ")
    found = re.fullmatch(r"pip install '([\w-]+)\[(\w+)\]'", line)
    assert found is not None, line
    assert found.group(1) == project["name"]
    extra = project["optional-dependencies"][found.group(2)]
    assert {re.split(r"[\[<>=;\s]", r)[0] for r in extra} >= {"starlette", "uvicorn"}


def test_new_key_prints_a_key_and_a_table_the_config_accepts(
    new_key: NewKey, tmp_path: Path
) -> None:
    assert new_key.key.startswith("rk-")
    assert len(new_key.key) >= 32
    table = tomllib.loads(new_key.table)
    (entry,) = table["server"]["keys"]
    assert table == {"server": {"keys": [entry]}}
    assert entry["tenant"] == "acme"
    assert set(entry) == {"tenant", "key_hash"}
    assert new_key.key not in new_key.table  # only the salted hash goes into the config
    path = tmp_path / "router.toml"
    path.write_text(
        '[[deployments]]\nname = "local"\nmodel = "openai/q"\n'
        'api_base = "http://127.0.0.1:9/v1"\n\n' + new_key.table,
        encoding="utf-8",
    )
    settings = router.RouterConfig.load(path).server
    ring = KeyRing.of(settings, str(path), {})
    assert ring.tenant_of(new_key.key) == "acme"
    assert ring.tenant_of(new_key.key + "x") is None


def _curl_config(folder: Path) -> Path:
    """A curlrc that writes the status and headers to a file: the README's curl line is
    run unchanged (curl reads $CURL_HOME/.curlrc)."""
    home = folder / "curl-home"
    home.mkdir(exist_ok=True)
    (home / ".curlrc").write_text(
        f'dump-header = "{folder / "curl-headers.txt"}"\nmax-time = 60\n', encoding="utf-8"
    )
    return home


def test_the_curl_line_answers(served: Served) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is not on PATH: install it (apt-get install -y curl)"
    line = _local(_command("curl "), served.port)
    home = _curl_config(served.folder)
    done = subprocess.run(
        ["bash", "-c", line], env=_shell_env(ROUTER_KEY=served.key, CURL_HOME=str(home)),
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    head = (served.folder / "curl-headers.txt").read_text(encoding="utf-8").splitlines()
    assert re.match(r"HTTP/1\.1 200\b", head[0]), head
    headers = dict(h.lower().split(": ", 1) for h in head[1:] if ": " in h)
    assert headers["content-type"].startswith("application/json")
    assert headers["x-router-served-by"] == "local"
    body = json.loads(done.stdout)
    assert body["object"] == "chat.completion"
    assert body["model"]
    assert body["choices"][0]["message"] == {"role": "assistant", "content": ANSWER}
    assert body["usage"]["total_tokens"] > 0
    assert served.local.requests, "the local FaultServer saw no request"
    assert not served.api.requests  # paid_share 0: the paid API is never called


def test_the_curl_line_without_the_key_is_refused(served: Served) -> None:
    line = _local(_command("curl "), served.port)
    done = subprocess.run(
        ["bash", "-c", line], env=_shell_env(ROUTER_KEY="rk-not-a-key"),
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert json.loads(done.stdout)["error"]["code"] == "invalid_api_key"


def _ledger_row(folder: Path, request_id: str) -> tuple[str, str] | None:
    path = folder / "ledger.sqlite"
    if not path.exists():
        return None
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
        row = db.execute(
            "SELECT tenant, served_by FROM records WHERE request_id = ?", (request_id,)
        ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def test_the_sdk_snippet_prints_the_answer_and_the_decision(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROUTER_KEY", served.key)
    code = _local(PY, served.port)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ANSWER
    served_by, cost = out[1].split(" ")
    assert served_by == "local"
    assert float(cost) == 0.0  # a local deployment costs nothing
    request_id = namespace["request_id"]
    assert isinstance(request_id, str)
    assert request_id
    # The id the snippet says Router.feedback takes names the request in the ledger,
    # under the tenant of the key `--new-key acme` printed.
    deadline = time.monotonic() + 10
    while (row := _ledger_row(served.folder, request_id)) is None:
        assert time.monotonic() < deadline, f"no ledger record for {request_id}"
        time.sleep(0.05)
    assert row == ("acme", "local")
