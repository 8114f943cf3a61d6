#!/usr/bin/env python3
"""Lay `router/` out in layers (issue 16, point 5): one mapping, `git mv`, every reference.

    python scripts/relayout.py            # do it, on a committed tree (git reset --hard undoes it)
    python scripts/relayout.py --dry-run  # say what it would do, change nothing

The layers (`tests/test_layers.py` holds the rules as a test):

    router/__init__.py  the public API (lazy); router/_router.py the Router that wires the rest
    router/errors.py, router/_models.py, router/_records.py, router/_effects.py,
    router/_validation.py   base: what every layer shares
    router/decision/    the decision: config -> request -> features -> policy -> plan (pure)
    router/quality/     the quality predictor and the offline evaluation (as before)
    router/state/       what requests share: breakers, the response cache, budget stores
    router/money/       the ledger, holds and settlement, usage x price
    router/serving/     provider calls, retries, the cascade, streams, serving a request
    router/tools/       the command line, the demo, the local model, report, replay, eval

What it does, in order:

1. Checks every entry of MAPPING: to do (source there, target not), done (source gone or
   left as a public alias, target there), or refuses (a source missing from the tree, or
   a target that already exists). Entries in OPTIONAL may be absent (modules announced by
   the rewrite and not yet on the tree). Prints the modules the mapping does not move.
2. Rewrites every reference to a moved module in the files git knows (router/, tests/,
   benchmarks/, scripts/, docs/, examples/, *.md, Makefile, pyproject.toml, .ci/run):
   `import router.x`, `from router.x import`, `from router import x`, `router.x.y`
   attribute chains, `router.x` inside strings and comments, `router/x.py` paths, and
   `Path(__file__).parent` in the files that move to another depth. Logger names
   (`logging.getLogger("router...")`) and config keys ("router.cache" is the `[router]`
   table's `cache`) are strings the script never changes: it only rewrites a bare module
   name in a string where it is used as one (import_module, sys.modules, a `_LAZY` table).
   Prose (Markdown, comments, docstrings, pyproject.toml) keeps the public paths that
   ALIASES keeps working; code uses the real module.
3. `git mv`s the files and packages (an untracked source is renamed on disk).
4. Writes a public alias at each old path in ALIASES (the README and `router.__all__`
   promise `router.policy`, `router.scoring.prior_scorer`, `router.cli.main`,
   `router.local.LocalServer`).
5. Writes each new layer's `__init__.py`: a lazy face (PEP 562, as `router/__init__.py`)
   exporting exactly the names other layers import, and points those imports at it.
6. Sorts and formats the files it changed (ruff), wraps the comment and docstring lines the
   longer names pushed past 100 characters, and lists what needs a hand edit.

A second run does nothing. Add a new module to MAPPING (or OPTIONAL) and run it again:
only the new entries move.
"""

from __future__ import annotations

import argparse
import ast
import io
import itertools
import re
import shutil
import subprocess
import sys
import textwrap
import tokenize
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# -- the mapping -------------------------------------------------------------------------------

MAPPING: list[tuple[str, str]] = [
    # base: what every layer shares (httpx keeps these in _models.py, _exceptions.py, ...)
    ("router.models", "router._models"),
    ("router.records", "router._records"),
    ("router.effects", "router._effects"),  # ops and their drivers: money, state, serving use them
    # decision: pure, no I/O (request -> features -> policy -> scored plan)
    ("router.catalog", "router.decision._catalog"),
    ("router.params", "router.decision._params"),
    ("router.arguments", "router.decision._arguments"),
    ("router.scan", "router.decision._scan"),
    ("router.detectors", "router.decision._detectors"),
    ("router.features", "router.decision._features"),
    ("router.pricing", "router.decision._pricing"),
    ("router.policy", "router.decision._policy"),
    ("router._policy_vars", "router.decision._policy_vars"),
    ("router.packs", "router.decision._packs"),
    ("router.budgets", "router.decision._budgets"),
    ("router.scoring", "router.decision._scoring"),
    ("router.verify", "router.decision._verify"),
    ("router.settings", "router.decision._settings"),  # the config tree; the planner reads it
    ("router.config", "router.decision._config"),  # TOML -> that tree (settings loads through it)
    ("router.planner", "router.decision._planner"),
    # state: what requests share (in this process, on disk, or on Redis)
    ("router.cooldowns", "router.state.cooldowns"),
    ("router.cache", "router.state.cache"),
    # money: the ledger, holds and settlement, cost
    ("router.ledger", "router.money._ledger"),
    ("router.accounting", "router.money._accounting"),
    ("router.feedback", "router.money._feedback"),
    ("router.books", "router.money._books"),
    # serving: calls, retries, fallback, the cascade, streams, one request end to end
    ("router.backends", "router.serving._backends"),
    ("router.executor", "router.serving._executor"),
    ("router.streaming", "router.serving._streaming"),
    ("router.cascade", "router.serving._cascade"),
    ("router.serving", "router.serving._serving"),
    ("router.pipeline", "router.serving._pipeline"),
    # tools: never imported by `import router` or by a Router
    ("router.cli", "router.tools._cli"),
    ("router.render", "router.tools._render"),
    ("router.demo", "router.tools._demo"),
    ("router.demo_live", "router.tools._demo_live"),
    ("router.local", "router.tools._local"),
    ("router.replay", "router.tools._replay"),
    ("router.report", "router.tools._report"),
    ("router.quality.cli", "router.tools._eval"),
    ("router.quality.calibrate_cli", "router.tools._calibrate"),
]
"""Old module (or package) -> new module. A package moves with everything in it."""

OPTIONAL = {"router.effects", "router.pipeline", "router.settings"}
"""Entries that may be missing from the tree (announced by the rewrite): skipped, not refused."""

ALIASES = {
    "router.policy": "the rule kinds (`router.__all__` lists `policy`)",
    "router.scoring": "`Router(scorer=router.scoring.prior_scorer)` (README)",
    "router.cli": "`from router.cli import main` (README); the `router` console script",
    "router.local": "`router.local.LocalServer()` (README, SECURITY.md)",
}
"""Old public paths kept as modules that re-export the new module's `__all__`."""

STAYS = {
    "router", "router.__main__", "router._router", "router._validation", "router.errors",
    "router.data", "router.quality", "router.state", "router.testing",
    "router.decision", "router.serving", "router.money", "router.tools",
}  # fmt: skip
"""Top-level modules and packages that stay where they are (anything else is reported)."""

FACES = {
    "router.decision": (
        "The decision: the config, a request's features, the policy, the scored plan. Pure:\n"
        "no network, no database, no provider (it reads its config and policy files).\n\n"
        "May import: the base modules (router.errors, router._models, router._records,\n"
        "router._effects, router._validation) and router.state.settings (the [state] table of\n"
        "the config); router.quality only lazily (inside a function: the shipped predictor).\n"
        "Nothing else of state, nor money, serving or tools."
    ),
    "router.money": (
        "Money: the SQLite ledger, budget holds and settlement, usage x price = cost.\n\n"
        "May import: the base modules, router.decision, router.state; router.quality only\n"
        "lazily. Nothing of serving or tools."
    ),
    "router.serving": (
        "Serving: provider calls (litellm), retries and fallback, the cascade, streams, and\n"
        "one request end to end (hold, call, settle, record).\n\n"
        "May import: the base modules, router.decision, router.state, router.money. Nothing\n"
        "of tools."
    ),
    "router.tools": (
        "Tools: `python -m router` (explain, check, catalog, packs, demo, local, report,\n"
        "replay, eval, calibrate) and what only they use. `import router` and a Router never\n"
        "import this package.\n\n"
        "May import: anything in router."
    ),
}
"""The layer folders whose `__init__.py` this script writes (a lazy face), with its docstring."""

FACE_MARK = "# -- the face: written by scripts/relayout.py (a re-run adds the names it lacks) --"
ALIAS_MARK = "# A public path kept by scripts/relayout.py"

QUIET = {
    "router.backends", "router.local", "router.state",  # logger names: public, never changed
    "router.policy", "router.cache", "router.ledger",  # `[router]` keys in config errors
}  # fmt: skip
"""Bare strings the script leaves without a note (it never rewrites a bare string that is not
used as a module name; the others it lists, to be looked at)."""

TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".cfg", ".ini", ".txt", ".yml", ".yaml"}
TEXT_NAMES = {"Makefile", "run"}
SKIP = {"scripts/relayout.py", "tests/test_layers.py"}  # written for the new layout
LINE_LIMIT = 100


# -- small helpers ------------------------------------------------------------------------------


def say(msg: str = "") -> None:
    print(msg, flush=True)


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"relayout: git {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def module_path(root: Path, module: str) -> tuple[Path, bool] | None:
    """Where a module lives: (path, is_package), or None."""
    base = root.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base, True
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py"), False
    return None


def module_of(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_alias(path: Path) -> bool:
    return path.is_file() and ALIAS_MARK in path.read_text(encoding="utf-8")


def rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


Edit = tuple[int, int, str]  # replace text[start:end] with the string


def apply(text: str, edits: list[Edit], where: str) -> str:
    edits = sorted(edits)
    for (a1, b1, _), (a2, _, _) in itertools.pairwise(edits):
        if a2 < b1:
            raise SystemExit(f"relayout: overlapping edits in {where} at offset {a1} (a bug)")
    for a, b, new in reversed(edits):
        text = text[:a] + new + text[b:]
    return text


@dataclass
class Move:
    old: str
    new: str
    src: Path
    dst: Path
    package: bool

    @property
    def depth(self) -> int:
        """How many folders deeper its files go."""
        return self.new.count(".") - self.old.count(".")


@dataclass
class Notes:
    """What the script saw and did, for the summary."""

    changed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    left: list[str] = field(default_factory=list)
    hand: list[str] = field(default_factory=list)

    def count(self, path: str, n: int = 1) -> None:
        if n:
            self.changed[path] += n


# -- renaming in text -------------------------------------------------------------------------


class Renamer:
    """Old module names -> new ones (a package's submodules move with it)."""

    def __init__(self, moves: list[Move]) -> None:
        self.table = {m.old: m.new for m in moves}
        names = sorted(self.table, key=len, reverse=True)
        alt = "|".join(re.escape(n) for n in names)
        # a dotted name that is not part of a longer one (`w.router.ledger` is an attribute)
        self.dotted = re.compile(rf"(?<![\w.])({alt})(?![\w])")
        # paths: router/planner.py, router/detectors/, router/detectors/phones.py
        self.paths = {}
        for m in moves:
            old, new = m.old.replace(".", "/"), m.new.replace(".", "/")
            self.paths.update({old: new} if m.package else {old + ".py": new + ".py"})
        pal = "|".join(re.escape(p) for p in sorted(self.paths, key=len, reverse=True))
        self.path_re = re.compile(rf"(?<![\w./~-])({pal})(?=[/`'\"\s)|,:;]|$)")

    def resolve(self, dotted: str) -> str | None:
        """The new name of a dotted module name (or attribute path), or None."""
        old = self.old_of(dotted)
        return None if old is None else self.table[old] + dotted[len(old) :]

    def old_of(self, dotted: str) -> str | None:
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in self.table:
                return ".".join(parts[:i])
        return None

    def text(self, s: str, *, prose: bool, left: list[str] | None = None) -> tuple[str, int]:
        """The module names in a piece of text rewritten; (text, how many).

        In prose (Markdown, comments, docstrings, TOML) a bare `router.x` is a module named
        in a sentence and is rewritten, except the public paths ALIASES keeps. Elsewhere (a
        string in code) only `router.x.y`, `router.x:y`, `` `router.x` ``, `import
        router.x`, `from router.x` and `'router.x' in sys.modules` are; a bare `router.x`
        is left (a logger name and a config key look the same) and put in `left`."""
        n = 0

        def path_sub(m: re.Match[str]) -> str:
            nonlocal n
            n += 1
            return self.paths[m.group(1)]

        def sub(m: re.Match[str]) -> str:
            nonlocal n
            old = m.group(1)
            if prose and old in ALIASES:
                return old
            before, after = s[max(0, m.start() - 14) : m.start()], s[m.end() : m.end() + 16]
            if (
                prose
                or re.match(r"[.:]\w", after)
                or (before.endswith("`") and after.startswith("`"))
                or re.search(r"(?:\bfrom|\bimport)\s+$", before)
                or (before[-1:] in "'\"" and after[1:].startswith(" in sys.modules"))
                or before.endswith(("sys.modules['", 'sys.modules["'))
            ):
                n += 1
                return self.table[old]
            if left is not None:
                left.append(old)
            return old

        s = self.path_re.sub(path_sub, s)
        return self.dotted.sub(sub, s), n


# -- renaming in Python -----------------------------------------------------------------------


class Source:
    """A Python file's text, with ast's (line, UTF-8 byte column) -> offset."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for line in text.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        start = self.starts[lineno - 1]
        line = self.text[start : self.starts[lineno]] if lineno < len(self.starts) else ""
        return start + len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        a = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        b = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return a, b


def dotted_name(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def names_a_module(node: ast.Constant, up: dict[ast.AST, ast.AST]) -> bool:
    """A whole string used as a module name: `import_module(...)`, `sys.modules[...]`,
    `... in sys.modules`, `__module__ == ...`, a value of a `_LAZY` table."""
    parent = up.get(node)
    if isinstance(parent, ast.Call):
        return (dotted_name(parent.func) or "").endswith("import_module") and (
            parent.args[:1] == [node]
        )
    if isinstance(parent, ast.Subscript):
        return dotted_name(parent.value) == "sys.modules"
    if isinstance(parent, ast.Compare):
        named = [dotted_name(c) or "" for c in [parent.left, *parent.comparators]]
        return any(n == "sys.modules" or n.endswith(("__module__", "__name__")) for n in named)
    if isinstance(parent, ast.Dict) and node in parent.values:
        owner = up.get(parent)
        targets = getattr(owner, "targets", None) or [getattr(owner, "target", None)]
        return any(isinstance(t, ast.Name) and t.id.endswith("_LAZY") for t in targets)
    return False


def import_line(module: str, names: list[tuple[str, str | None]]) -> str:
    inner = ", ".join(n if a is None or a == n else f"{n} as {a}" for n, a in names)
    return f"from {module} import {inner}"


class PythonRewrite:
    """Every reference to a moved module in one Python file, as edits of its text."""

    def __init__(self, text: str, path: str, ren: Renamer, notes: Notes) -> None:
        self.text, self.path, self.ren, self.notes = text, path, ren, notes
        self.tree = ast.parse(text)
        self.src = Source(text)
        self.up = parents(self.tree)
        self.edits: list[Edit] = []
        self.in_fstring = {
            inner
            for node in ast.walk(self.tree)
            if isinstance(node, ast.JoinedStr)
            for inner in ast.walk(node)
            if inner is not node
        }
        # `router.x.y` is the module only where the file binds `router` by `import router...`
        self.binds_router = any(
            isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "router" for a in node.names)
            for node in ast.walk(self.tree)
        )

    def run(self) -> str:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                self.import_(node)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                self.import_from(node)
            elif isinstance(node, ast.Attribute) and self.binds_router:
                self.attribute(node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                self.string(node)
            elif isinstance(node, ast.JoinedStr):
                a, b = self.src.span(node)
                self.replace_text(a, b, prose=False)
        self.comments()
        self.notes.count(self.path, len(self.edits))
        return apply(self.text, self.edits, self.path)

    def replace_text(self, a: int, b: int, *, prose: bool) -> list[str]:
        left: list[str] = []
        new, n = self.ren.text(self.text[a:b], prose=prose, left=left)
        if n:
            self.edits.append((a, b, new))
        return left

    def import_(self, node: ast.Import) -> None:
        for alias in node.names:
            new = self.ren.resolve(alias.name)
            if new is not None:
                a, _ = self.src.span(alias)
                if self.text[a : a + len(alias.name)] != alias.name:
                    raise SystemExit(
                        f"relayout: {self.path}:{node.lineno}: cannot read {alias.name}"
                    )
                self.edits.append((a, a + len(alias.name), new))

    def import_from(self, node: ast.ImportFrom) -> None:
        assert node.module is not None
        a, b = self.src.span(node)
        new_module = self.ren.resolve(node.module)
        if new_module is not None:
            m = re.match(r"from\s+([\w.]+)", self.text[a:b])
            if m is None or m.group(1) != node.module:
                raise SystemExit(f"relayout: {self.path}:{node.lineno}: cannot read the import")
            self.edits.append((a + m.start(1), a + m.end(1), new_module))
            return
        # `from router import demo_live`, `from router.quality import cli as quality_cli`;
        # `from router import policy` stays: the public alias keeps `router.policy`
        moved = [
            al
            for al in node.names
            if f"{node.module}.{al.name}" in self.ren.table
            and f"{node.module}.{al.name}" not in ALIASES
        ]
        if not moved:
            return
        indent = self.text[self.src.starts[node.lineno - 1] : a]
        rest = [(al.name, al.asname) for al in node.names if al not in moved]
        lines = [import_line(node.module, rest)] if rest else []
        for al in moved:
            parent, _, leaf = self.ren.table[f"{node.module}.{al.name}"].rpartition(".")
            lines.append(import_line(parent, [(leaf, al.asname or al.name)]))
        self.edits.append((a, b, ("\n" + indent).join(lines)))

    def attribute(self, node: ast.Attribute) -> None:
        if isinstance(self.up.get(node), ast.Attribute) or node in self.in_fstring:
            return  # a chain is rewritten from its outermost attribute; f-strings as text
        chain = dotted_name(node) or ""
        old = self.ren.old_of(chain) if chain.startswith("router.") else None
        if old is None:
            return
        sub: ast.AST = node
        while dotted_name(sub) != old:
            sub = sub.value  # type: ignore[attr-defined]
        a, b = self.src.span(sub)
        if re.sub(r"\s", "", self.text[a:b]) != old:
            self.notes.hand.append(f"{self.path}:{node.lineno}: `{chain}` is split oddly")
            return
        self.edits.append((a, b, self.ren.table[old]))

    def string(self, node: ast.Constant) -> None:
        if node in self.in_fstring:
            return
        a, b = self.src.span(node)
        value = node.value
        moved = self.ren.resolve(value) if re.fullmatch(r"[\w.]+", value) else None
        if moved is not None and names_a_module(node, self.up):
            self.edits.append((a, b, self.text[a:b].replace(value, moved)))
            return
        docstring = isinstance(self.up.get(node), ast.Expr)
        for name in self.replace_text(a, b, prose=docstring):
            if name not in QUIET:
                self.notes.left.append(f"{self.path}:{node.lineno}: the string {name!r}")

    def comments(self) -> None:
        for tok in tokenize.generate_tokens(io.StringIO(self.text).readline):
            if tok.type == tokenize.COMMENT:
                a = self.src.starts[tok.start[0] - 1] + tok.start[1]
                self.replace_text(a, a + len(tok.string), prose=True)


FILE_PARENT = re.compile(r"Path\(__file__\)(\.resolve\(\))?((?:\.parent\b)+|\.parents\[(\d+)\])")


def deepen(text: str, depth: int, path: str, notes: Notes) -> str:
    """`Path(__file__).parent` in a file that moved `depth` folders deeper."""

    def sub(m: re.Match[str]) -> str:
        resolve = m.group(1) or ""
        if m.group(3) is not None:
            new = f"Path(__file__){resolve}.parents[{int(m.group(3)) + depth}]"
        else:
            new = f"Path(__file__){resolve}" + ".parent" * (m.group(2).count(".parent") + depth)
        say(f"  {path}: {m.group(0)} -> {new}")
        notes.count(path)
        return new

    return FILE_PARENT.sub(sub, text)


def rewrite_file(p: Path, name: str, ren: Renamer, notes: Notes, depth: int) -> str:
    text = p.read_text(encoding="utf-8")
    if p.suffix != ".py":
        out, n = ren.text(text, prose=True)
        notes.count(name, n)
        return out
    try:
        out = PythonRewrite(text, name, ren, notes).run()
    except SyntaxError as exc:
        notes.hand.append(f"{name}: not Python 3.11 ({exc.msg}): rewritten as text, check it")
        out, n = ren.text(text, prose=False)
        notes.count(name, n)
    for old in re.findall(r"""["']router["']\s*/\s*["'](\w+)["']""", text):
        if f"router.{old}" in ren.table:
            notes.hand.append(f'{name}: builds the path "router" / "{old}"')
    return deepen(out, depth, name, notes) if depth else out


# -- the mapping against the tree ---------------------------------------------------------------


def plan_moves(root: Path) -> tuple[list[Move], list[str], list[str]]:
    """(to do, done, refusals)."""
    todo, done, refuse = [], [], []
    for old, new in MAPPING:
        src, dst = module_path(root, old), module_path(root, new)
        if src is not None and src[1] and new.startswith(old + "."):
            src = None  # router/serving/ is the new layer; the old module was router/serving.py
        if src is not None and not src[1] and is_alias(src[0]):
            src = None  # the public alias this script left at the old path
        if src is None and dst is not None:
            done.append(f"{old} -> {new}")
        elif src is None and old in OPTIONAL:
            done.append(f"{old} -> {new} (not on the tree: skipped)")
        elif src is None:
            refuse.append(f"{old}: neither it nor {new} is on the tree; fix MAPPING")
        elif dst is not None:
            refuse.append(f"{old} -> {new}: {rel(root, dst[0])} already exists")
        else:
            path, package = src
            dest = root.joinpath(*new.split("."))
            dest = dest if package else dest.with_suffix(".py")
            if dest.exists():
                refuse.append(f"{old} -> {new}: {rel(root, dest)} already exists")
            else:
                todo.append(Move(old, new, path, dest, package))
    return todo, done, refuse


def unmapped(root: Path) -> tuple[list[str], list[str]]:
    """(modules that stay, as STAYS says; top-level modules nobody placed)."""
    named = {old for old, _ in MAPPING} | {new for _, new in MAPPING}
    stays, unknown = [], []
    for p in sorted((root / "router").iterdir()):
        if p.name.startswith((".", "_relayout")) or p.name in ("__pycache__", "py.typed"):
            continue
        if p.is_file() and p.suffix != ".py":
            continue
        name = "router" if p.name == "__init__.py" else f"router.{p.stem}"
        if name in named or is_alias(p):
            continue
        (stays if name in STAYS else unknown).append(name)
    for pkg in ("quality", "state", "testing"):
        for p in sorted((root / "router" / pkg).glob("*.py")):
            name = f"router.{pkg}.{p.stem}"
            if p.name != "__init__.py" and name not in named:
                stays.append(name)
    return stays, unknown


def text_files(root: Path) -> list[Path]:
    """The files git knows (tracked, or new and not ignored) that may name a module."""
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    out = []
    for name in sorted(set(filter(None, listed.split("\0")))):
        p = root / name
        if name in SKIP or not p.is_file() or name.startswith("router/data/"):
            continue
        if p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES:
            out.append(p)
    return out


def move_all(root: Path, todo: list[Move]) -> None:
    """`git mv` in two steps, through a temporary name: router/serving.py becomes
    router/serving/_serving.py. A source git does not track is renamed on disk."""
    tracked = set(filter(None, git(root, "ls-files", "-z").split("\0")))
    staged = []
    for i, m in enumerate(todo):
        tmp = root / "router" / f"_relayout_{i}{'' if m.package else '.py'}"
        src = rel(root, m.src)
        known = src in tracked or any(t.startswith(src + "/") for t in tracked)
        if known:
            git(root, "mv", src, rel(root, tmp))
        else:
            m.src.rename(tmp)
        staged.append((m, tmp, known))
    for m, tmp, known in staged:
        say(f"  {rel(root, m.src)} -> {rel(root, m.dst)}" + ("" if known else " (untracked)"))
        m.dst.parent.mkdir(parents=True, exist_ok=True)
        init = m.dst.parent / "__init__.py"
        if not init.exists():  # a new layer folder: its face is written below
            init.write_text('"""(scripts/relayout.py writes this face)"""\n', encoding="utf-8")
            git(root, "add", rel(root, init))
        if known:
            git(root, "mv", rel(root, tmp), rel(root, m.dst))
        else:
            tmp.rename(m.dst)


# -- public aliases -----------------------------------------------------------------------------


def all_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [str(ast.literal_eval(e)) for e in node.value.elts]  # type: ignore[attr-defined]
    return sorted(
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.ClassDef) and not n.name.startswith("_")
    )


def write_alias(root: Path, move: Move, dry: bool) -> Path:
    where = move.dst if move.dst.exists() else move.src  # the source, in a dry run
    names = all_of(where / "__init__.py" if move.package else where)
    path = move.src / "__init__.py" if move.package else move.src
    say(f"  {rel(root, path)}: re-exports {move.new}'s {len(names)} names")
    if not dry:
        body = "".join(f"    {n},\n" for n in names)
        listed = "".join(f'    "{n}",\n' for n in names)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'"""`{move.old}`: {ALIASES[move.old]}.\n\n'
            f"The code is in `{move.new}`; this module re-exports its `__all__`.\n"
            f'"""\n\n{ALIAS_MARK} (issue 16).\n\n'
            f"from {move.new} import (\n{body})\n\n__all__ = [\n{listed}]\n",
            encoding="utf-8",
        )
        git(root, "add", rel(root, path))
    return path


# -- the layers' faces --------------------------------------------------------------------------


def face_of(module: str) -> str | None:
    """The face a module is private to (router.decision._planner -> router.decision)."""
    for face in FACES:
        if module.startswith(face + ".") and module[len(face) + 1 :].startswith("_"):
            return face
    return None


def owner_face(module: str) -> str | None:
    """The face whose layer a module is in (an alias is in its target's)."""
    for face in FACES:
        if module == face or module.startswith(face + "."):
            return face
    target = dict(MAPPING).get(module)
    return owner_face(target) if module in ALIASES and target else None


def face_names(init: Path) -> dict[str, str]:
    """The names a face exports (its `_LAZY` table): name -> module."""
    if not init.is_file():
        return {}
    for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
        targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
        if isinstance(node, ast.Assign | ast.AnnAssign) and any(
            isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets
        ):
            return dict(ast.literal_eval(node.value))  # type: ignore[arg-type]
    return {}


@dataclass
class Crossing:
    """What other layers import from the faces' private modules."""

    wanted: dict[str, dict[str, str]] = field(default_factory=lambda: {f: {} for f in FACES})
    sites: list[tuple[Path, ast.ImportFrom, str]] = field(default_factory=list)
    lazy: list[tuple[Path, ast.Constant, str]] = field(default_factory=list)
    clashes: set[tuple[str, str]] = field(default_factory=set)

    def want(self, face: str, name: str, module: str) -> None:
        have = self.wanted[face].setdefault(name, module)
        if have != module:
            self.clashes.add((face, name))


def crossings(root: Path, notes: Notes) -> Crossing:
    found = Crossing()
    for path in sorted((root / "router").rglob("*.py")):
        if is_alias(path):
            continue
        mine = owner_face(module_of(root, path))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        up = parents(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                face = face_of(node.module)
                if face is None or face == mine:
                    continue
                modules = [
                    a.name for a in node.names if module_path(root, f"{node.module}.{a.name}")
                ]
                if modules:
                    notes.hand.append(
                        f"{rel(root, path)}:{node.lineno}: imports the module "
                        f"{node.module}.{modules[0]}, private to {face}: import names from {face}"
                    )
                    continue
                for al in node.names:
                    found.want(face, al.name, origin(root, node.module, al.name))
                found.sites.append((path, node, face))
            elif isinstance(node, ast.Import):
                for al in node.names:
                    face = face_of(al.name)
                    if face is not None and face != mine:
                        notes.hand.append(
                            f"{rel(root, path)}:{node.lineno}: `import {al.name}` is private "
                            f"to {face}: import names from {face}"
                        )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                face = face_of(node.value)
                parent = up.get(node)
                if face is None or face == mine or not isinstance(parent, ast.Dict):
                    continue
                key = parent.keys[parent.values.index(node)] if node in parent.values else None
                if names_a_module(node, up) and isinstance(key, ast.Constant):
                    found.want(face, str(key.value), origin(root, node.value, str(key.value)))
                    found.lazy.append((path, node, face))
    return found


def origin(root: Path, module: str, name: str) -> str:
    """The module that defines `name`, following `from x import name` re-exports."""
    for _ in range(5):
        found = module_path(root, module)
        if found is None:
            return module
        path = found[0] / "__init__.py" if found[1] else found[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        source = next(
            (
                n.module
                for n in tree.body
                if isinstance(n, ast.ImportFrom)
                and n.module
                and any(a.name == name for a in n.names)
            ),
            None,
        )
        if source is None:
            return module
        module = source
    return module


def write_face(init: Path, face: str, names: dict[str, str]) -> None:
    text = init.read_text(encoding="utf-8") if init.is_file() else ""
    head = text.split(FACE_MARK)[0].rstrip("\n") + "\n" if FACE_MARK in text else ""
    head = head or f'"""{FACES[face]}\n"""\n'
    by_module: dict[str, list[str]] = defaultdict(list)
    for name, module in names.items():
        by_module[module].append(name)
    imports = "".join(
        f"    from {module} import "
        + ", ".join(n if not n.startswith("_") else f"{n} as {n}" for n in sorted(ns))
        + "\n"
        for module, ns in sorted(by_module.items())
    )
    listed = "".join(f'    "{n}",\n' for n in sorted(n for n in names if not n.startswith("_")))
    lazy = "".join(f'    "{n}": "{names[n]}",\n' for n in sorted(names))
    init.write_text(
        f"{head}\n{FACE_MARK}\n\n"
        "from __future__ import annotations\n\n"
        "import importlib\n"
        "from typing import TYPE_CHECKING, Any\n\n"
        f"if TYPE_CHECKING:\n{imports}\n"
        f"__all__ = [\n{listed}]\n\n"
        f"_LAZY: dict[str, str] = {{\n{lazy}}}\n"
        '"""Name -> the private module that defines it, imported on first access."""\n\n\n'
        "def __getattr__(name: str) -> Any:\n"
        "    module = _LAZY.get(name)\n"
        "    if module is not None:\n"
        "        value = getattr(importlib.import_module(module), name)\n"
        "        globals()[name] = value  # the next access is a plain attribute lookup\n"
        "        return value\n"
        '    if not name.startswith("__"):  # a submodule, as `import pkg.mod` binds it\n'
        "        try:\n"
        '            return importlib.import_module(f"{__name__}.{name}")\n'
        "        except ModuleNotFoundError as exc:\n"
        '            if exc.name != f"{__name__}.{name}":\n'
        "                raise\n"
        '    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")\n\n\n'
        "def __dir__() -> list[str]:\n"
        "    return sorted({*globals(), *__all__})\n",
        encoding="utf-8",
    )


def build_faces(root: Path, notes: Notes) -> set[Path]:
    """Each new layer's `__init__.py`: a lazy face with the names other layers import from
    its private modules (and the ones it had); those imports then go through it."""
    found = crossings(root, notes)
    for face, name in sorted(found.clashes):
        notes.hand.append(f"{face}: two different `{name}` are imported from it; kept private")
        found.wanted[face].pop(name, None)
    changed = set()
    for face, wanted in found.wanted.items():
        init = root.joinpath(*face.split(".")) / "__init__.py"
        if not init.parent.is_dir():
            continue
        have = face_names(init)
        if FACE_MARK not in init.read_text(encoding="utf-8") or set(wanted) - set(have):
            names = {**wanted, **have}
            say(f"  {rel(root, init)}: {len(names)} names: {', '.join(sorted(names))}")
            write_face(init, face, names)
            git(root, "add", rel(root, init))
            changed.add(init)
    edits: dict[Path, list[Edit]] = defaultdict(list)
    for path, node, face in found.sites:
        if all(al.name in found.wanted[face] for al in node.names):
            text = path.read_text(encoding="utf-8")
            a, b = Source(text).span(node)
            m = re.match(r"from\s+([\w.]+)", text[a:b])
            assert m is not None
            edits[path].append((a + m.start(1), a + m.end(1), face))
    for path, const, face in found.lazy:
        text = path.read_text(encoding="utf-8")
        a, b = Source(text).span(const)
        edits[path].append((a, b, text[a:b].replace(const.value, face)))
    for path, todo in sorted(edits.items()):
        say(f"  {rel(root, path)}: {len(todo)} imports now through the faces")
        notes.count(rel(root, path), len(todo))
        path.write_text(apply(path.read_text(encoding="utf-8"), todo, str(path)), encoding="utf-8")
        changed.add(path)
    return changed


# -- tidying up ---------------------------------------------------------------------------------


def ruff(root: Path, paths: Iterable[Path], notes: Notes) -> None:
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    files = [rel(root, p) for p in sorted(set(paths)) if p.suffix == ".py" and p.is_file()]
    if not Path(exe).is_file():
        notes.hand.append(
            "ruff not found: run `ruff check --fix --select I,RUF022` and `ruff format`"
        )
        return
    say(f"  ruff: imports sorted and {len(files)} files formatted")
    fix = [exe, "check", "-q", "--fix", "--select", "I,RUF022"]
    subprocess.run([*fix, *files], cwd=root, check=False, capture_output=True)
    subprocess.run([exe, "format", "-q", *files], cwd=root, check=False)
    again = [rel(root, p) for p in join_split_noqa(root, (root / f for f in files))]
    if again:
        subprocess.run([exe, "format", "-q", *again], cwd=root, check=False)


SPLIT_NOQA = re.compile(
    r"^(?P<indent>[ \t]*)from (?P<module>[\w.]+) import \(\n"
    r"(?P<names>(?:(?P=indent)    \w+(?: as \w+)?,(?:  #[^\n]*)?\n)+)"
    r"(?P=indent)\)\n",
    re.MULTILINE,
)


def join_split_noqa(root: Path, paths: Iterable[Path]) -> list[Path]:
    """ruff merges `from x import a  # noqa: C` and `from x import b  # noqa: C` (two lines that
    now name the same face) into one parenthesised import with the comments on the names,
    where they no longer apply: the comment goes back on the `from` line."""
    fixed = []
    for p in sorted(set(paths)):
        if p.suffix != ".py" or not p.is_file():
            continue
        text = p.read_text(encoding="utf-8")

        def sub(m: re.Match[str]) -> str:
            rows = [r.strip() for r in m.group("names").splitlines()]
            comments = [r.split("  #", 1)[1] for r in rows if "  #" in r]
            if not any("noqa" in c for c in comments):
                return m.group(0)
            names = ", ".join(r.split(",")[0] for r in rows)
            line = f"{m.group('indent')}from {m.group('module')} import {names}  #{comments[0]}"
            return line + "\n"

        out = SPLIT_NOQA.sub(sub, text)
        if out != text:
            p.write_text(out, encoding="utf-8")
            say(f"  {rel(root, p)}: a noqa comment back on its import")
            fixed.append(p)
    return fixed


PRAGMA = re.compile(r"#\s*(noqa|type:|fmt:|pragma|pyright)")


def wrap_text(indent: str, text: str, lead: str = "") -> list[str]:
    """`text` in lines of at most LINE_LIMIT characters, each `indent + lead + ...`."""
    width = max(20, LINE_LIMIT - len(indent) - len(lead))
    chunks = textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)
    return [f"{indent}{lead}{c}".rstrip() for c in chunks] or [f"{indent}{lead}".rstrip()]


def long_string_lines(text: str) -> set[int]:
    """Line numbers inside triple-quoted strings (docstrings, code written as a string)."""
    inside: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.STRING and tok.string.lstrip("rbuRBUfF")[:3] in ('"""', "'''"):
            inside.update(range(tok.start[0], tok.end[0] + 1))
    return inside


def wrap_line(line: str, comment_at: int | None, in_string: bool) -> list[str] | None:
    """A line made too long, as several; None when it is code (for a hand edit)."""
    indent = line[: len(line) - len(line.lstrip())]
    if comment_at is not None and not PRAGMA.search(line[comment_at:]):
        code, comment = line[:comment_at].rstrip(), line[comment_at:].lstrip("# ")
        return [*wrap_text(indent, comment, "# "), *([code] if code.strip() else [])]
    if not in_string:
        return None
    trailing = re.search(r"\S(\s{2,}#\s.*)$", line)  # code written in a string, with a comment
    if trailing is not None and not PRAGMA.search(trailing.group(1)):
        comment = trailing.group(1).strip().lstrip("# ")
        return [*wrap_text(indent, comment, "# "), line[: trailing.start(1)]]
    cut = line.rfind(" ", len(indent) + 1, LINE_LIMIT + 1)
    if cut <= len(indent):
        return None
    return [line[:cut], *wrap_text(indent, line[cut + 1 :])]


def wrap_long_lines(root: Path, paths: Iterable[Path], before: dict[Path, set[str]]) -> list[str]:
    """Lines the longer names pushed past LINE_LIMIT: a trailing comment goes on its own line
    above, a comment or a line of triple-quoted text is wrapped. Code is left and listed."""
    left = []
    for p in sorted(set(paths)):
        if p.suffix != ".py" or not p.is_file():
            continue
        text = p.read_text(encoding="utf-8")
        lines = text.splitlines()
        if all(len(line) <= LINE_LIMIT for line in lines):
            continue
        strings = long_string_lines(text)
        comments = {
            t.start[0]: t.start[1]
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type == tokenize.COMMENT
        }
        out: list[str] = []
        for i, line in enumerate(lines, 1):
            if len(line) <= LINE_LIMIT or line in before.get(p, set()) or "://" in line:
                out.append(line)
                continue
            wrapped = wrap_line(line, comments.get(i), i in strings)
            if wrapped is None:
                left.append(f"{rel(root, p)}:{i}: {len(line)} characters (was shorter)")
            else:
                say(f"  {rel(root, p)}:{i}: wrapped (the longer names made it too long)")
            out += wrapped or [line]
        p.write_text("\n".join(out) + ("\n" if text.endswith("\n") else ""), encoding="utf-8")
    return left


# -- the run ------------------------------------------------------------------------------------


def report_plan(todo: list[Move], done: list[str], stays: list[str], unknown: list[str]) -> None:
    say("relayout: the mapping")
    for line in done:
        say(f"  done   {line}")
    for m in todo:
        say(f"  to do  {m.old} -> {m.new}" + ("  (package)" if m.package else ""))
    say("relayout: not in the mapping (they stay where they are)")
    say(textwrap.fill(", ".join(stays), width=96, initial_indent="  ", subsequent_indent="  "))
    if unknown:
        say("relayout: NOT PLACED: add each to MAPPING (or to STAYS) and run again:")
        for name in unknown:
            say(f"  {name}")


def rewrite_all(root: Path, todo: list[Move], notes: Notes, dry: bool) -> tuple[set[Path], dict]:
    """Step 2 on the old tree: every file's references. (Files changed at their new paths,
    their lines that were already too long.)"""
    ren = Renamer(todo)
    moved: dict[Path, Move] = {}
    for m in todo:
        for p in m.src.rglob("*.py") if m.package else [m.src]:
            moved[p] = m

    def final(p: Path) -> Path:
        m = moved.get(p)
        return p if m is None else (m.dst / p.relative_to(m.src) if m.package else m.dst)

    changed, long_before = set(), {}
    for p in text_files(root):
        name = rel(root, p)
        text = p.read_text(encoding="utf-8")
        depth = moved[p].depth if p in moved else 0
        out = rewrite_file(p, name, ren, notes, depth)
        if out != text:
            changed.add(final(p))
            long_before[final(p)] = {x for x in text.splitlines() if len(x) > LINE_LIMIT}
            if not dry:
                p.write_text(out, encoding="utf-8")
    for name, n in sorted(notes.changed.items()):
        say(f"  {name}: {n}")
    return changed, long_before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="say what it would do; change nothing")
    args = ap.parse_args(argv)
    dry = args.dry_run
    root = Path(git(Path.cwd(), "rev-parse", "--show-toplevel").strip())
    if not (root / "router" / "__init__.py").is_file():
        raise SystemExit(f"relayout: {root} has no router/__init__.py")

    todo, done, refuse = plan_moves(root)
    report_plan(todo, done, *unmapped(root))
    if refuse:
        say("relayout: refusing; nothing was changed:")
        for line in refuse:
            say(f"  {line}")
        return 2
    if not todo:
        say("relayout: nothing to do (every entry of the mapping is done)")
        return 0

    notes = Notes()
    say("relayout: rewriting the references" + (" (dry run: nothing written)" if dry else ""))
    changed, long_before = rewrite_all(root, todo, notes, dry)
    say("relayout: moving")
    if dry:
        for m in todo:
            say(f"  {rel(root, m.src)} -> {rel(root, m.dst)}")
    else:
        move_all(root, todo)
    say("relayout: public aliases at the old paths")
    changed |= {write_alias(root, m, dry) for m in todo if m.old in ALIASES}
    if dry:
        say("relayout: (a dry run stops here: the faces are computed on the moved tree)")
        return 0
    say("relayout: the layers' faces")
    changed |= build_faces(root, notes)
    ruff(root, changed, notes)
    notes.hand.extend(wrap_long_lines(root, changed, long_before))

    if notes.left:
        say("relayout: strings left as they are (a logger name, a config key?), to look at:")
        for line in sorted(set(notes.left)):
            say(f"  {line}")
    say("relayout: for a hand edit:" if notes.hand else "relayout: nothing needs a hand edit")
    for line in notes.hand:
        say(f"  {line}")
    say(
        f"relayout: moved {len(todo)} modules; {len(notes.changed)} files rewritten. Next: "
        "ruff check . && ruff format --check . && mypy && pytest, then commit."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
