"""Issue 15's smaller command-line points, each through the real command:

- `local --port` says "port number (1-65535)", refuses 0 and 99999 up front, and a port
  something already listens on, before any process starts;
- `local --model` with a file that is not a GGUF model: one line naming the file, whether
  the header is wrong (checked before llama.cpp) or llama.cpp cannot load it;
- `report ... | head`: a reader that leaves early is not an error (no message, exit 0);
- `report --html` names the path the user gave when it cannot write it, and does not
  create missing folders;
- `eval`: a quality outside 0..1 is a DataFormatError naming file, line and column;
- `demo --live`: each row shows the start of its answer (one line, `ANSWER_CHARS` at
  most; `answers=False` hides them), and the cause a paid deployment without its key gave
  ("$DEEPSEEK_API_KEY is not set") on every such row.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_report import JAN1, write

from router.money._ledger import Ledger
from router.quality.data import DataFormatError, read_labelled_csv
from router.testing import FaultServer, ok
from router.tools import _demo_live as demo_live
from router.tools import _eval as quality_cli
from router.tools._cli import main
from router.tools._demo import SAMPLES
from router.tools._local import LocalModelError, LocalServer

DAY = 86_400.0


def _router_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# -- local --port ------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["abc", "0", "-1", "99999", "65536", "1.5", ""])
def test_a_bad_port_is_named_as_a_port(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["local", "--port", port])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == f"router: error: argument --port: {port!r} is not a port number (1-65535)\n"
    assert "tokens" not in err


def test_local_server_refuses_a_port_out_of_range() -> None:
    for port in (0, -5, 65536, 99999):
        with pytest.raises(LocalModelError, match=r"is not a port number \(1-65535\)"):
            LocalServer(port=port)


@pytest.fixture
def not_a_model(tmp_path: Path) -> Path:
    path = tmp_path / "bad.gguf"
    path.write_bytes(b"this is not a model\n" * 10)
    return path


@pytest.fixture
def gguf_header_only(tmp_path: Path) -> Path:
    """GGUF's magic and version, then zeros: passes the header check, llama.cpp refuses it."""
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + bytes(256))
    return path


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_port_in_use_is_refused_before_any_server_starts(
    gguf_header_only: Path,
    taken_port: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawned: list[object] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a))
    argv = ["local", "--model", str(gguf_header_only), "--allow-unverified"]
    assert main([*argv, "--port", str(taken_port)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"router: error: port {taken_port} on 127.0.0.1 is already in use; stop what "
        "listens there, or pick another port (omit --port for a free one)\n"
    )
    assert spawned == []


def test_a_file_that_is_not_gguf_is_one_line_naming_it(not_a_model: Path) -> None:
    proc = _router_cli("local", "--model", str(not_a_model), "--allow-unverified")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"router: error: {not_a_model}: not a valid GGUF model (it does not start with "
        "the GGUF header); give a .gguf model file\n"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="needs llama-cpp-python (freefirst-router[local])",
)
def test_a_gguf_llama_cpp_cannot_load_is_one_line_naming_it(gguf_header_only: Path) -> None:
    """Past the header check: llama.cpp itself refuses the file, in the server process."""
    proc = _router_cli("local", "--model", str(gguf_header_only), "--allow-unverified")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith(f"router: error: {gguf_header_only}: not a valid GGUF model")
    assert "llama.cpp could not load it" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert all("router: error:" in line or "UNVERIFIED" in line for line in lines)


# -- report | head -----------------------------------------------------------------------


@pytest.fixture
def big_ledger(tmp_path: Path) -> Path:
    """A year of records, one a day: the report (by day) is far more than a pipe holds."""
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    for day in range(400):
        write(ledger, at=JAN1 + day * DAY, baseline=1000)
    ledger.close()
    return path


@pytest.mark.parametrize("fmt", [["--json"], []])
def test_a_reader_that_leaves_early_is_not_an_error(big_ledger: Path, fmt: list[str]) -> None:
    report = subprocess.Popen(
        [sys.executable, "-m", "router", "report", "--ledger", str(big_ledger), *fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert report.stdout is not None
    assert report.stderr is not None
    head = subprocess.run(
        ["head", "-c", "10"], stdin=report.stdout, capture_output=True, timeout=300, check=True
    )
    report.stdout.close()  # only head reads the pipe; it closes it after 10 bytes
    err = report.stderr.read().decode()
    report.stderr.close()
    assert report.wait(timeout=300) == 0
    assert err == ""
    assert len(head.stdout) == 10
    assert head.stdout.startswith(b"{" if fmt else b"router")


# -- report --html -----------------------------------------------------------------------


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    write(ledger, at=JAN1, baseline=1000)
    ledger.close()
    return path


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_unwritable_page_names_the_path_given(
    ledger_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--ledger", str(ledger_path), "--html", "/proc/r.html"]) == 2
    out = capsys.readouterr()
    assert out.err.startswith("router: error: --html: cannot write /proc/r.html: ")
    assert ".r.html." not in out.err  # never the temporary file
    assert out.err.count("\n") == 1
    assert out.out == ""  # nothing printed for a command that failed


def test_missing_folders_are_not_created(
    ledger_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "no" / "such" / "r.html"
    assert main(["report", "--ledger", str(ledger_path), "--html", str(page)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"router: error: --html: cannot write {page}: the folder {page.parent} does not "
        "exist; create it first\n"
    )
    assert not (tmp_path / "no").exists()


def test_a_file_in_place_of_the_folder_is_named(
    ledger_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "ledger.sqlite" / "r.html"
    assert main(["report", "--ledger", str(ledger_path), "--html", str(page)]) == 2
    assert f"{ledger_path} is not a folder" in capsys.readouterr().err


def test_the_page_is_written_into_an_existing_folder(
    ledger_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "r.html"
    assert main(["report", "--ledger", str(ledger_path), "--html", str(page)]) == 0
    assert page.read_text().startswith("<!DOCTYPE html>")
    out = capsys.readouterr()
    assert "router report:" in out.out
    assert out.err == f"wrote {page}\n"


# -- eval: quality values ----------------------------------------------------------------


@pytest.mark.parametrize(("cell", "line"), [("5", 2), ("-3", 3), ("1.0001", 2), ("-0.5", 3)])
def test_a_quality_outside_0_to_1_is_refused(tmp_path: Path, cell: str, line: int) -> None:
    rows = ["prompt,weak,strong", "q1,0,1", "q2,1,0.5"]
    rows[line - 1] = rows[line - 1].rsplit(",", 2)[0] + f",{cell},1"
    data = tmp_path / "s.csv"
    data.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataFormatError) as info:
        read_labelled_csv(data)
    assert (info.value.path, info.value.line, info.value.column) == (str(data), line, "weak")
    assert str(info.value) == (
        f"{data}, line {line}, column 'weak': quality {cell!r} is outside 0..1: a quality "
        "cell is a number from 0 (wrong) to 1 (right), or True/False"
    )


def test_qualities_on_the_bounds_and_booleans_are_read(tmp_path: Path) -> None:
    data = tmp_path / "s.csv"
    data.write_text("prompt,weak,strong\nq1,0,1\nq2,0.5,TRUE\nq3,false,1.0\n")
    sample = read_labelled_csv(data)
    assert sample.quality == {"weak": (0.0, 0.5, 0.0), "strong": (1.0, 1.0, 1.0)}


def test_eval_refuses_a_quality_of_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "s.csv"
    data.write_text("prompt,a,b\nq1,5,0\nq2,-3,1\nq3,1,0\n")
    assert quality_cli.main([str(data), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"router: error: {data}, line 2, column 'a': quality '5' is outside 0..1: a quality "
        "cell is a number from 0 (wrong) to 1 (right), or True/False\n"
    )
    assert not (tmp_path / "out").exists()


# -- demo --live: answers and causes -----------------------------------------------------

ANSWER = "Hello!\nI am a  small model.\n\n" + "And I go on and on " * 20


@pytest.fixture
def live_rows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[FaultServer, list[str], str]]:
    """The live demo's table over its real config, the local model played by a loopback
    OpenAI-compatible server, no paid key set: (server, rows, whole output)."""
    for var in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with FaultServer(default=ok(ANSWER, prompt_tokens=20, completion_tokens=30)) as server:
        r = demo_live._router(server.base_url, None)
        demo_live.route_samples(r, SAMPLES)
        out = capsys.readouterr().out
        rows = [line for line in out.splitlines() if re.match(r"^ ?\d{1,2}  ", line)]
        yield server, rows, out


def test_each_served_row_shows_its_answer_on_one_line(
    live_rows: tuple[FaultServer, list[str], str],
) -> None:
    _, rows, out = live_rows
    assert len(rows) == len(SAMPLES)
    shown = demo_live.one_line(ANSWER, demo_live.ANSWER_CHARS)
    assert shown.startswith("Hello! I am a small model. And I go on")
    assert shown.endswith("...")
    assert len(shown) <= demo_live.ANSWER_CHARS
    served = [row for row in rows if row[33:49].strip() == "local-smollm2"]  # "served by"
    assert len(served) >= len(SAMPLES) // 2
    assert all(shown in row for row in served)
    assert "answer" in out.splitlines()[0]


def test_every_row_planned_on_a_keyless_paid_deployment_says_its_key_is_unset(
    live_rows: tuple[FaultServer, list[str], str],
) -> None:
    _, rows, _ = live_rows
    planned_paid = [row for row in rows if "planned deepseek-chat" in row]
    assert len(planned_paid) >= 3
    for row in planned_paid:
        assert "unavailable: $DEEPSEEK_API_KEY is not set" in row
    assert not any("cooling down" in row for row in rows)
    assert not any("missing credentials" in row for row in rows)


def test_answers_can_be_hidden(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with FaultServer(default=ok(ANSWER)) as server:
        demo_live.route_samples(demo_live._router(server.base_url, None), SAMPLES[:6],
                                answers=False)  # fmt: skip
    out = capsys.readouterr().out
    assert "Hello!" not in out
    assert "answer" not in out.splitlines()[0]
    assert "planned deepseek-chat, unavailable: $DEEPSEEK_API_KEY is not set" in out


def test_one_line_keeps_short_text_and_flattens_whitespace() -> None:
    assert demo_live.one_line("  a\n\tb  ") == "a b"
    assert demo_live.one_line("x" * 80) == "x" * 80
    assert demo_live.one_line("x" * 81) == "x" * 77 + "..."


def test_demo_no_answers_flag_reaches_the_live_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def run(*, answers: bool = True) -> int:
        seen.append(answers)
        return 0

    monkeypatch.setattr(demo_live, "run", run)
    assert main(["demo", "--live", "--no-answers"]) == 0
    assert main(["demo", "--live"]) == 0
    assert seen == [False, True]
