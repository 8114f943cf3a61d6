"""The layers of `router` (issue 16): which folder may import which, as one table.

LAYERS below is the rule; each entry says what its modules may touch:

- **base** (`router.errors`, `router._models`, `router._records`, `router._effects`,
  `router._validation`, `router._lazy`): what every layer shares: values, errors, ops
  and their drivers, the lazy faces.
  Imports nothing of router but itself; serving lazily (the drivers call a backend).
- **observe** (`router.observe`): metrics and spans (issue 17); hooks the serving and
  money layers call at a request's steps, and the Observer the facade builds. Base only
  (it reads the records; the breakers and budgets it shows are handed to it).
- **decision** (`router.decision`; `router.policy` and `router.scoring` are its public
  paths): config -> request -> features -> policy -> scored plan; no network, no database.
  Base, and `router.state.settings` (the config's `[state]` table); the shipped quality
  predictor lazily (inside the function that needs it).
- **quality** (`router.quality`): the per-prompt predictor, the answer scorer, and the
  offline evaluation. Base and decision (model families, Deployment, Features).
- **state** (`router.state`): what requests share: breakers, the response cache, budget
  stores, in this process, on disk or on Redis. Base and decision (budget counters).
- **money** (`router.money`): the ledger, holds and settlement, usage x price. Base,
  decision, state, observe; quality lazily (the profile feedback is fitted with).
- **serving** (`router.serving`): provider calls, retries, the cascade, streams, one
  request end to end. Base, decision, state, money (it holds and settles; money never
  calls a provider), observe.
- **facade** (`router`, `router._router`): the API and the Router that wires the layers.
  Every layer but tools and testing; quality lazily.
- **tools** (`router.tools`; `router.cli`, `router.local` and `python -m router` are its
  public paths): the command line, the demo, the local model, report, replay, eval,
  calibrate. Anything; nothing outside tools imports it.
- **testing** (`router.testing`): what a user's tests import beside router. Everything
  but tools.
- **server** (`router.server`): `python -m router serve`, the OpenAI-compatible HTTP
  server (Starlette, uvicorn). Router's public API only: the facade (`router`), the
  decision's face (the `[server]` table) and the errors; observe lazily (`/metrics`).
  Only tools imports it, lazily (the `serve` command), so neither `import router` nor
  any other command loads Starlette or uvicorn.

Across the table: a layer's `_private` modules (`router.decision._planner`) are imported
only from inside that layer; the others import its face (`from router.decision import
plan`). Every module under router/ is in exactly one layer, so a new module is placed on
purpose (and `scripts/relayout.py`'s MAPPING moves it). An import under `if
TYPE_CHECKING:` counts as lazy (it never runs). In a fresh interpreter, `import
router`, and a Router built and used on a fake backend, load no tools module and none of
quality's offline modules; the public paths the README promises resolve.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "router"


@dataclass(frozen=True)
class Layer:
    modules: tuple[str, ...]
    """Module (or package) names in this layer; `router` means the package's __init__ only."""
    may: tuple[str, ...]
    """Layers it may import at module level (its own layer always)."""
    lazily: tuple[str, ...] = ()
    """Layers it may import only inside a function (or for type checkers only)."""
    also: tuple[str, ...] = ()
    """Single modules of other layers it may import, each for a reason the docstring gives."""


BASE = (
    "router.errors",
    "router._models",
    "router._records",
    "router._effects",
    "router._validation",
    "router._lazy",
    "router._loops",
)
ALL_BUT_TOOLS = (
    "base", "observe", "decision", "quality", "state", "money", "serving", "facade",
)  # fmt: skip

LAYERS: dict[str, Layer] = {
    "base": Layer(BASE, may=(), lazily=("serving",)),
    "observe": Layer(("router.observe",), may=("base",)),
    "decision": Layer(
        ("router.decision", "router.policy", "router.scoring"),
        may=("base",),
        lazily=("quality",),
        also=("router.state.settings",),
    ),
    "quality": Layer(("router.quality",), may=("base", "decision")),
    "state": Layer(("router.state",), may=("base", "decision")),
    "money": Layer(
        ("router.money",), may=("base", "observe", "decision", "state"), lazily=("quality",)
    ),
    "serving": Layer(("router.serving",), may=("base", "observe", "decision", "state", "money")),
    "facade": Layer(
        ("router", "router._router"),
        may=("base", "observe", "decision", "state", "money", "serving"),
        lazily=("quality",),
    ),
    "tools": Layer(
        ("router.tools", "router.cli", "router.local", "router.__main__"),
        may=ALL_BUT_TOOLS,
        lazily=("server",),
    ),
    "testing": Layer(("router.testing",), may=ALL_BUT_TOOLS),
    "server": Layer(("router.server",), may=("base", "decision", "facade"), lazily=("observe",)),
}

OFFLINE_QUALITY = tuple(
    f"router.quality.{m}"
    for m in (
        "evaluate", "metrics", "frontier", "plot", "result", "data", "tune", "calibrate",
        "cascade", "cascade_report", "_checks", "_csvlayout",
    )
)  # fmt: skip
"""quality's offline modules: as tools, never loaded by `import router` or a Router."""

PROMISED = (
    "router.Router",
    "router.errors.RouterError",
    "router.BadRequest",
    "router.policy.Deny",
    "router.scoring.prior_scorer",
    "router.cli.main",
    "router.local.LocalServer",
    "router.testing.FaultServer",
    "router.testing.ok",
)
"""Public paths the README, docs and `router.__all__` promise (kept as aliases if moved)."""


# -- the import graph ---------------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


MODULES = sorted(module_name(p) for p in PACKAGE.rglob("*.py"))


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int
    lazy: bool  # inside a function: runs when it is called, not on import


def edges_of(name: str) -> list[Edge]:
    """Every router module `name` imports: statements at any depth (a function-level import
    is lazy), and `importlib.import_module("router...")` with a literal name."""
    path = ROOT.joinpath(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Edge] = []

    def add(imported: str, node: ast.AST, lazy: bool) -> None:
        if imported == "router" or imported.startswith("router."):
            found.append(Edge(name, imported, getattr(node, "lineno", 0), lazy))

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.body:  # for type checkers only: never runs
                    visit(ast.Module(body=[stmt], type_ignores=[]), True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), lazy)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, lazy)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*up, base] if base else up)
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    add(sub if is_module(sub) else base, child, lazy)
            elif isinstance(child, ast.Call) and (
                getattr(child.func, "attr", None) == "import_module"
                or getattr(child.func, "id", None) == "import_module"
            ):
                arg = child.args[0] if child.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    add(arg.value, child, True)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def layer_of(module: str) -> str | None:
    best, best_len = None, -1
    for layer, spec in LAYERS.items():
        for prefix in spec.modules:
            hit = module == prefix or (prefix != "router" and module.startswith(prefix + "."))
            if hit and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


def private_to(module: str) -> str | None:
    """The layer whose folder keeps `module` private (router.decision._planner -> decision)."""
    layer = layer_of(module)
    if layer is None:
        return None
    for prefix in LAYERS[layer].modules:
        if (
            prefix != "router"
            and module.startswith(prefix + ".")
            and ((ROOT.joinpath(*prefix.split(".")) / "__init__.py").is_file())
        ):
            rest = module[len(prefix) + 1 :].split(".")
            if any(part.startswith("_") for part in rest):
                return layer
    return None


# -- the rules ----------------------------------------------------------------------------------


def test_every_module_is_in_one_layer() -> None:
    unplaced = [m for m in MODULES if layer_of(m) is None]
    assert not unplaced, (
        f"not in any layer: {unplaced}; add each to LAYERS here (and to the MAPPING of "
        "scripts/relayout.py, which moves it into its layer's folder)"
    )


def test_each_layer_imports_only_what_it_may() -> None:
    wrong = []
    for module in MODULES:
        mine = layer_of(module)
        if mine is None:
            continue
        spec = LAYERS[mine]
        for edge in edges_of(module):
            theirs = layer_of(edge.imported)
            if theirs is None or theirs == mine or theirs in spec.may:
                continue
            if any(edge.imported == m or edge.imported.startswith(m + ".") for m in spec.also):
                continue
            if edge.lazy and theirs in spec.lazily:
                continue
            how = "lazily " if edge.lazy else ""
            wrong.append(f"{module}:{edge.line} ({mine}) {how}imports {edge.imported} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_private_modules_are_imported_only_inside_their_layer() -> None:
    wrong = []
    for module in MODULES:
        mine = layer_of(module)
        for edge in edges_of(module):
            owner = private_to(edge.imported)
            if owner is not None and owner != mine:
                face = next(p for p in LAYERS[owner].modules if edge.imported.startswith(p + "."))
                wrong.append(
                    f"{module}:{edge.line} imports {edge.imported}, private to {owner}: "
                    f"import the name from {face}"
                )
    assert not wrong, "\n".join(wrong)


def test_nothing_outside_tools_imports_tools() -> None:
    users = {
        f"{e.importer}:{e.line}"
        for m in MODULES
        if layer_of(m) != "tools"
        for e in edges_of(m)
        if layer_of(e.imported) == "tools"
    }
    assert not users, sorted(users)


def test_the_table_names_layers_that_exist() -> None:
    # a module the rewrite announced (router._effects) may be listed before it is on the tree
    for layer, spec in LAYERS.items():
        assert any(is_module(p) for p in spec.modules), f"{layer}: none of its modules exists"
        for other in (*spec.may, *spec.lazily):
            assert other in LAYERS, f"{layer}: unknown layer {other!r}"


# -- what `import router` and a Router load ---------------------------------------------------


def run_python(code: str) -> str:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        check=False,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_router_and_a_router_load_no_tool() -> None:
    tools = [p for p in LAYERS["tools"].modules if p != "router.__main__"]
    out = run_python(
        f"""
        import json, sys, tempfile
        from pathlib import Path

        OFFLINE = {[*tools, "router.__main__", *OFFLINE_QUALITY]!r}

        def offline():
            return sorted(m for m in sys.modules
                          if any(m == p or m.startswith(p + ".") for p in OFFLINE))

        import router
        seen = {{"import": offline()}}

        class Fake:
            def complete(self, deployment, params, timeout):
                return {{"id": "x", "object": "chat.completion", "model": deployment.model,
                        "choices": [{{"index": 0, "finish_reason": "stop",
                                     "message": {{"role": "assistant", "content": "hi"}}}}],
                        "usage": {{"prompt_tokens": 3, "completion_tokens": 1,
                                  "total_tokens": 4}}}}
            async def acomplete(self, deployment, params, timeout):
                return self.complete(deployment, params, timeout)
            def stream(self, deployment, params, timeout):
                raise NotImplementedError
            def astream(self, deployment, params, timeout):
                raise NotImplementedError

        folder = Path(tempfile.mkdtemp())
        r = router.Router(
            deployments=[{{"name": "local", "model": "openai/m",
                          "api_base": "http://127.0.0.1:9/v1", "context_window": 8192}}],
            backend=Fake(), ledger=folder / "ledger.sqlite")
        seen["router"] = offline()
        hi = [{{"role": "user", "content": "Say hi"}}]
        r.plan(hi)
        result = r.complete(hi)
        seen["complete"] = offline()
        seen["text"] = result.response["choices"][0]["message"]["content"]
        print(json.dumps(seen))
        """
    )
    seen = json.loads(out)
    assert seen["text"] == "hi"
    assert seen["import"] == []
    assert seen["router"] == []
    assert seen["complete"] == []


def test_a_layers_face_imports_nothing_until_a_name_is_used() -> None:
    faces = [
        p
        for spec in LAYERS.values()
        for p in spec.modules
        if (ROOT.joinpath(*p.split(".")) / "__init__.py").is_file() and p != "router"
    ]
    faces = [f for f in faces if f not in ("router.quality", "router.state", "router.testing")]
    out = run_python(
        f"""
        import importlib, json, sys
        seen = {{}}
        for face in {faces!r}:
            before = set(sys.modules)
            importlib.import_module(face)
            seen[face] = sorted(m for m in set(sys.modules) - before
                                if m.startswith("router.") and m != face)
        print(json.dumps(seen))
        """
    )
    shared = ("router.errors", "router._lazy")  # what every face needs: errors, the lazy lookup
    loaded = {face: [m for m in ms if m not in shared] for face, ms in json.loads(out).items()}
    assert loaded == {face: [] for face in faces}


@pytest.mark.parametrize("dotted", PROMISED)
def test_a_promised_public_path_resolves(dotted: str) -> None:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            value = getattr(value, attr)
        assert value is not None
        return
    pytest.fail(f"{dotted}: no module to import")


def test_python_dash_m_router_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "router", "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_import_router_and_the_cli_load_no_server() -> None:
    out = run_python(
        """
        import json, sys
        import router, router.cli
        r = router.Router(deployments=[{"name": "local", "model": "openai/m",
                                        "api_base": "http://127.0.0.1:9/v1",
                                        "context_window": 8192}])
        r.plan([{"role": "user", "content": "Say hi"}])
        print(json.dumps(sorted(m for m in sys.modules
                                if m.split(".")[0] in ("starlette", "uvicorn")
                                or m.startswith("router.server"))))
        """
    )
    assert json.loads(out) == []
