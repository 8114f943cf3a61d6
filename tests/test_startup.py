"""Start-up (issue 15): a cheap `import router`, `Router.warmup()`, the ledger's cold-start
flag, a ledger file created only by its first record, every error importable from `router`.

Import costs are checked in real subprocesses (a fresh interpreter each): what `import
router` loads, never how long it takes (that is `benchmarks/bench_import.py`'s report).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import router
import router.errors
from router._models import Deployment
from router.errors import ConfigError, LedgerError
from router.money._ledger import SCHEMA_VERSION, Ledger
from router.tools._cli import main

REPO = Path(__file__).resolve().parent.parent
HI = [{"role": "user", "content": "Say hi"}]
LOCAL = {
    "name": "local",
    "model": "openai/m",
    "api_base": "http://127.0.0.1:9/v1",
    "context_window": 8192,
}


def run_python(code: str, *args: str, timeout: float = 240) -> str:
    """Run `code` in a fresh interpreter (litellm's price map never fetched); its stdout."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        check=False,
        text=True,
        cwd=REPO,
        env=env,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# -- import router ---------------------------------------------------------------------------


def test_import_router_loads_neither_litellm_nor_the_planner() -> None:
    out = run_python(
        """
        import json, sys
        import router
        loaded = sorted(sys.modules)
        heavy = [m for m in loaded if m.split('.')[0] in
                 ('litellm', 'tiktoken', 'openai', 'httpx', 'pydantic', 'numpy', 'tenacity')]
        ours = [m for m in loaded if m.startswith('router')]
        router.Router  # the first use of a lazy name imports its module
        print(json.dumps({'heavy': heavy, 'ours': ours,
                          'after': 'router._router' in sys.modules,
                          'litellm_after': 'litellm' in sys.modules}))
        """
    )
    seen = json.loads(out)
    assert seen["heavy"] == []
    assert seen["ours"] == ["router", "router._lazy", "router.errors"]
    assert seen["after"] is True
    assert seen["litellm_after"] is False


def test_every_public_name_resolves_and_star_import_works() -> None:
    out = run_python(
        """
        import json, sys
        import router
        # as when `import router` loaded it
        submodule = callable(router.decision._scoring.prior_scorer)
        names = {n: type(getattr(router, n)).__name__ for n in router.__all__}
        ns = {}
        exec('from router import *', ns)
        print(json.dumps({'names': names, 'star': sorted(k for k in ns if k != '__builtins__'),
                          'submodule': submodule,
                          'litellm': 'litellm' in sys.modules, 'dir': sorted(dir(router))}))
        """
    )
    seen = json.loads(out)
    assert set(seen["names"]) == set(router.__all__)
    assert set(seen["star"]) == set(router.__all__)
    assert set(router.__all__) <= set(seen["dir"])
    assert seen["names"]["policy"] == "module"
    assert seen["submodule"] is True
    assert seen["litellm"] is False


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = router.Nope
    assert not hasattr(router, "Nope")


def test_every_error_class_is_importable_from_router() -> None:
    errors = {
        name: value
        for name, value in vars(router.errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == "router.errors"
    }
    assert {"BadRequest", "AllDeploymentsFailed", "StreamInterrupted", "LedgerError"} <= set(errors)
    for name, cls in errors.items():
        assert getattr(router, name) is cls, name
        assert name in router.__all__, name
        assert name in router.errors.__all__, name


def test_errors_named_in_the_readme_are_importable_from_router() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = [n for n in router.errors.__all__ if f"`{n}`" in readme]
    assert "BadRequest" in named
    for name in named:
        assert hasattr(router, name), name


# -- a backend with its own first-call cost -------------------------------------------------


def answer(text: str = "hi") -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


class WarmingBackend:
    """A backend whose `warmup()` takes `seconds`: counts warmups and whether each call
    found it warm."""

    def __init__(self, seconds: float = 0.3, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.warmups = 0
        self.warm = False
        self.calls_warm: list[bool] = []
        self._lock = threading.Lock()

    def warmup(self) -> None:
        with self._lock:
            self.warmups += 1
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("no model files")
        self.warm = True

    def complete(self, d: Deployment, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.calls_warm.append(self.warm)
        return answer()

    async def acomplete(
        self, d: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        self.calls_warm.append(self.warm)
        return answer()

    def stream(
        self, d: Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]:
        self.calls_warm.append(self.warm)
        yield {"choices": [{"index": 0, "delta": {"content": "hi"}}]}

    async def astream(
        self, d: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls_warm.append(self.warm)
        yield {"choices": [{"index": 0, "delta": {"content": "hi"}}]}


class PlainBackend(WarmingBackend):
    """No `warmup` attribute at all: nothing to warm."""

    warmup = None  # type: ignore[assignment]


def test_warmup_is_idempotent_and_concurrent_calls_warm_once() -> None:
    backend = WarmingBackend(seconds=0.2)
    r = router.Router([LOCAL], backend=backend)
    assert not r.warm
    threads = [threading.Thread(target=r.warmup) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.warmups == 1
    assert r.warm
    assert r.warmup() < 0.1  # warm already: nothing is loaded again
    assert backend.warmups == 1
    served = r.complete(HI)
    assert served.decision.cold_start is False
    assert backend.calls_warm == [True]


def test_without_warmup_the_first_request_is_cold_and_the_next_is_not() -> None:
    backend = WarmingBackend()
    r = router.Router([LOCAL], backend=backend)
    first, second = r.complete(HI), r.complete(HI)
    assert (first.decision.cold_start, second.decision.cold_start) == (True, False)
    assert backend.warmups == 0  # a request does not call warmup(): it pays as it goes
    assert r.plan(HI).cold_start is False  # a dry run serves nothing


def test_warmup_true_warms_in_the_constructor() -> None:
    backend = WarmingBackend(seconds=0.05)
    r = router.Router([LOCAL], backend=backend, warmup=True)
    assert backend.warmups == 1
    assert r.warm
    assert r.warmup_thread is None
    assert r.complete(HI).decision.cold_start is False


def test_a_request_during_a_background_warmup_waits_for_it() -> None:
    backend = WarmingBackend(seconds=0.5)
    started = time.perf_counter()
    r = router.Router([LOCAL], backend=backend, warmup="background")
    assert r.warmup_thread is not None
    served = r.complete(HI)  # arrives while the thread warms: waits, does not warm again
    assert time.perf_counter() - started >= 0.45
    assert backend.warmups == 1
    assert backend.calls_warm == [True]
    assert served.decision.cold_start is True  # it waited for the warmup: its latency shows it
    r.warmup_thread.join(5)
    assert not r.warmup_thread.is_alive()
    assert r.warmup_thread.daemon
    assert r.complete(HI).decision.cold_start is False


@pytest.mark.parametrize("entry", ["acomplete", "stream", "astream"])
def test_other_entry_points_wait_for_a_background_warmup(entry: str) -> None:
    backend = WarmingBackend(seconds=0.3)
    r = router.Router([LOCAL], backend=backend, warmup="background")

    async def go() -> bool:
        if entry == "acomplete":
            return (await r.acomplete(HI)).decision.cold_start
        s = await r.astream(HI)
        async for _ in s:
            pass
        return s.decision.cold_start

    if entry == "stream":
        s = r.stream(HI)
        list(s)
        cold = s.decision.cold_start
    else:
        cold = asyncio.run(go())
    assert backend.warmups == 1
    assert backend.calls_warm == [True]
    assert cold is True


def test_a_failed_background_warmup_leaves_the_cost_to_the_first_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = WarmingBackend(seconds=0.05, fail=True)
    r = router.Router([LOCAL], backend=backend, warmup="background")
    assert r.warmup_thread is not None
    r.warmup_thread.join(5)
    assert isinstance(r.warmup_error, RuntimeError)
    assert "router warmup failed" in caplog.text
    first = r.complete(HI)  # served all the same, and marked cold
    assert first.decision.cold_start is True
    assert r.complete(HI).decision.cold_start is False


def test_a_backend_without_warmup_is_never_cold() -> None:
    r = router.Router([LOCAL], backend=PlainBackend())
    assert r.warm
    assert r.warmup() >= 0
    assert r.complete(HI).decision.cold_start is False


def test_warmup_must_be_a_bool_or_background() -> None:
    with pytest.raises(ConfigError, match="warmup"):
        router.Router([LOCAL], backend=PlainBackend(), warmup="later")  # type: ignore[arg-type]


# -- litellm: real subprocesses, a loopback FaultServer, a ledger on disk ---------------------

_COLD = """
import json, sys, time
import router
from router.testing import FaultServer
mode, path = sys.argv[1], sys.argv[2]
with FaultServer() as server:
    r = router.Router(
        [{"name": "local", "model": "openai/m", "api_base": server.base_url,
          "context_window": 8192}],
        ledger=path,
        warmup={"none": False, "now": True, "background": "background"}[mode],
    )
    before = "litellm" in sys.modules
    created = __import__("os").path.exists(path)
    warm_s = r.warmup()
    sent_by_warmup = len(server.requests)
    t0 = time.perf_counter()
    first = r.complete([{"role": "user", "content": "hi"}])
    first_s = time.perf_counter() - t0
    second = r.complete([{"role": "user", "content": "hi"}])
    again = r.warmup()
print(json.dumps({
    "litellm_before": before, "created_before_first_record": created, "warmup_s": warm_s,
    "sent_by_warmup": sent_by_warmup, "first_s": first_s, "again_s": again,
    "cold": [first.decision.cold_start, second.decision.cold_start],
}))
"""


def cold_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT cold_start, latency_ms FROM records ORDER BY id").fetchall()
    conn.close()
    return rows


def test_warmup_loads_litellm_sends_nothing_and_creates_no_ledger_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite"
    seen = json.loads(run_python(_COLD, "none", str(path)))  # warmup() after construction
    assert seen["litellm_before"] is False
    assert seen["created_before_first_record"] is False
    assert seen["sent_by_warmup"] == 0  # warmup sends nothing to any deployment
    assert seen["cold"] == [False, False]
    assert [c for c, _ in cold_rows(path)] == [0, 0]


def test_cold_start_flag_in_a_real_ledger_with_and_without_warmup(tmp_path: Path) -> None:
    script = """
    import json, sys, time
    import router
    from router.testing import FaultServer
    path, warm = sys.argv[1], sys.argv[2] == "warm"
    with FaultServer() as server:
        r = router.Router(
            [{"name": "local", "model": "openai/m", "api_base": server.base_url,
              "context_window": 8192, "client": "litellm"}],
            ledger=path, warmup=warm,
        )
        assert "litellm" in sys.modules if warm else "litellm" not in sys.modules
        sent = len(server.requests)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            r.complete([{"role": "user", "content": "hi"}])
            times.append(time.perf_counter() - t0)
    print(json.dumps({"sent_by_warmup": sent, "times": times}))
    """
    cold_path, warm_path = tmp_path / "cold.sqlite", tmp_path / "warm.sqlite"
    cold = json.loads(run_python(script, str(cold_path), "cold"))
    warm = json.loads(run_python(script, str(warm_path), "warm"))
    assert [c for c, _ in cold_rows(cold_path)] == [1, 0, 0]
    assert [c for c, _ in cold_rows(warm_path)] == [0, 0, 0]
    assert warm["sent_by_warmup"] == 0
    # the cold request carried litellm's import (seconds); after warmup, milliseconds
    assert cold["times"][0] > 2 * warm["times"][0]
    assert cold_rows(cold_path)[0][1] > cold_rows(warm_path)[0][1]


def test_a_router_on_direct_clients_never_loads_litellm(tmp_path: Path) -> None:
    """A local `openai/` deployment with an api_base takes the direct client ("auto"):
    neither warmup nor the calls import litellm (seconds of start-up saved)."""
    seen = json.loads(
        run_python(
            """
            import json, sys, time
            import router
            from router.testing import FaultServer
            with FaultServer() as server:
                r = router.Router(
                    [{"name": "local", "model": "openai/m", "api_base": server.base_url,
                      "context_window": 8192}],
                    ledger=sys.argv[1],
                )
                t0 = time.perf_counter()
                r.warmup()
                warm_s = time.perf_counter() - t0
                answer = r.complete([{"role": "user", "content": "hi"}]).content
            print(json.dumps({"client": r.deployments[0].client, "answer": answer,
                              "warm_s": warm_s, "litellm": "litellm" in sys.modules,
                              "aiohttp": "aiohttp" in sys.modules}))
            """,
            str(tmp_path / "l.sqlite"),
        )
    )
    assert seen["client"] == "direct"
    assert seen["answer"] == "hello"
    assert seen["litellm"] is False
    assert seen["aiohttp"] is True  # warmup loaded the direct client's modules


def test_a_background_warmup_in_a_fresh_process_is_waited_for_and_sends_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "l.sqlite"
    seen = json.loads(run_python(_COLD, "background", str(path)))
    assert seen["sent_by_warmup"] == 0
    assert seen["again_s"] < 0.05  # warmup() again finds everything loaded
    assert seen["cold"] == [False, False]  # warmup() waited for the background thread
    assert [c for c, _ in cold_rows(path)] == [0, 0]


# -- the ledger file: created by the first record, never by a dry run -----------------------


def test_plan_and_explain_create_no_ledger_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.sqlite"
    r = router.Router(
        [LOCAL],
        backend=PlainBackend(),
        ledger=path,
        budgets=[{"tenant": "*", "period": "day", "usd": 1.0}],
    )
    decision = r.plan(HI)
    assert decision.chosen is not None
    assert r.ledger is not None
    assert r.ledger.count() == 0  # reads see an empty ledger...
    assert list(r.ledger.rows()) == []
    assert r.ledger.query("SELECT COUNT(*) FROM spend") == [(0,)]
    assert not path.exists()  # ...and create nothing
    assert not path.parent.exists()
    r.complete(HI)
    assert path.exists()
    assert r.ledger.count() == 1

    cfg = tmp_path / "router.toml"
    cfg.write_text(
        textwrap.dedent(
            """
            [router]
            ledger = "cli-ledger.sqlite"

            [[deployments]]
            name = "local"
            model = "openai/m"
            api_base = "http://127.0.0.1:9/v1"
            context_window = 8192

            [[budgets]]
            tenant = "*"
            period = "day"
            usd = 1.0
            """
        ),
        encoding="utf-8",
    )
    assert main(["explain", "--config", str(cfg), "hello"]) == 0
    assert main(["explain", "--json", "--config", str(cfg), "hello"]) == 0
    assert not (tmp_path / "cli-ledger.sqlite").exists()


def test_a_lazy_ledger_refuses_an_unusable_path_at_once_and_creates_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(LedgerError, match="cannot create its folder"):
        Ledger(tmp_path / "file" / "ledger.sqlite", lazy=True)
    with pytest.raises(LedgerError, match="is a directory"):
        Ledger(tmp_path, lazy=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_lazy_ledger_checks_an_existing_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_text("not a database at all\n" * 50)
    with pytest.raises(LedgerError, match="not a readable SQLite ledger"):
        Ledger(path, lazy=True)


def test_a_lazy_ledger_reads_a_file_another_process_created(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    lazy = Ledger(path, lazy=True)
    assert lazy.count() == 0
    assert not path.exists()
    writer = router.Router([LOCAL], backend=PlainBackend(), ledger=path)
    writer.complete(HI)
    assert lazy.count() == 1  # the file appeared: read, checked, not replaced
    lazy.close()


# -- the schema: 2 -> 3 in place -------------------------------------------------------------


def test_a_schema_2_ledger_gains_the_cold_start_column_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    r = router.Router([LOCAL], backend=PlainBackend(), ledger=path)
    r.complete(HI, tenant="old")
    assert r.ledger is not None
    r.ledger.close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE records DROP COLUMN cold_start")
        conn.execute("PRAGMA user_version=2")
    conn.close()
    again = router.Router([LOCAL], backend=PlainBackend(), ledger=path)  # upgrades it
    again.complete(HI, tenant="new")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        rows = conn.execute("SELECT tenant, cold_start FROM records ORDER BY id").fetchall()
    conn.close()
    assert rows == [("old", None), ("new", 0)]  # the old record as it was, NULL: unknown
    assert [row.cold_start for row in Ledger(path, create=False).rows()] == [None, 0]


def test_the_types_the_constructor_takes_are_importable_from_router() -> None:
    """Issue 16: `Router(...)` takes a Backend, CascadeSettings, StateSettings, Budgets and
    a Ledger; a user should not need to know which submodule defines each."""
    import inspect  # noqa: PLC0415

    import router  # noqa: PLC0415
    from router.decision._budgets import Budget  # noqa: PLC0415
    from router.decision._verify import CascadeSettings  # noqa: PLC0415
    from router.money._ledger import Ledger  # noqa: PLC0415
    from router.serving._backends import Backend, LiteLLMBackend  # noqa: PLC0415
    from router.state.settings import StateSettings  # noqa: PLC0415

    for cls in (Backend, LiteLLMBackend, Budget, Ledger, StateSettings, CascadeSettings):
        assert getattr(router, cls.__name__) is cls
        assert cls.__name__ in router.__all__
    params = inspect.signature(router.Router).parameters
    for name in ("backend", "budgets", "ledger", "cascade", "state_settings"):
        assert name in params
