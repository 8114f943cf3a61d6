"""Write docs/config.md, the config file reference, from the config schema.

A config file is one pydantic tree, `router.decision._settings.RouterConfig`, whose sections are
defined once each: `[router]`, `[retry]`, `[cooldown]` and the file itself in
`router/decision/_settings.py`, `[[deployments]]` in `router/decision/_catalog.py`, `[[budgets]]` in
`router/decision/_budgets.py`, `[cascade]` in `router/decision/_verify.py`, `[state]` in
`router/state/settings.py`. Each key's type and default come from the model, its text
from the attribute docstring under it. `tests/test_config_ux.py` fails when the committed
file differs from what this script writes, so a key added without regenerating is caught.

    python scripts/config_reference.py           # (re)write docs/config.md
    python scripts/config_reference.py --check   # exit 1 if docs/config.md is stale
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from router._models import CostModel  # noqa: E402
from router.decision._budgets import Budget  # noqa: E402
from router.decision._catalog import LITELLM_PARAMS, DeploymentSpec  # noqa: E402
from router.decision._server import ClientKey, ModelRoute, ServerSettings  # noqa: E402
from router.decision._settings import (  # noqa: E402
    CooldownSettings,
    RetrySettings,
    RouterConfig,
    RouterSection,
)
from router.decision._verify import CascadeSettings  # noqa: E402
from router.state.settings import StateSettings  # noqa: E402

OUT = ROOT / "docs" / "config.md"

# (heading, the model, what the section says before its keys)
SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("[router]", RouterSection, ""),
    ("[[deployments]]", DeploymentSpec, "One table per deployment; `name` and `model` are "
     "required, and a model litellm's price map does not know also needs the facts it "
     "cannot fill (`python -m router check` lists every one at once). `litellm_params` "
     f"may hold: {', '.join(LITELLM_PARAMS)}."),
    ("cost_model (in a deployment)", CostModel, "An inline table: "
     "`cost_model = { usd_per_hour = 2.0, output_tokens_per_second = 40 }`."),
    ("[[budgets]]", Budget, "One table per budget. Budgets are counted in the ledger "
     "(`[router] ledger`) or in Redis (`[router] state`): a config with budgets and "
     "neither is refused."),
    ("[cascade]", CascadeSettings, "Used with `[router] mode = \"cascade\"`."),
    ("[state]", StateSettings, ""),
    ("[retry]", RetrySettings, "Python: `Router(retry={...})` or a `RetryPolicy`."),
    ("[cooldown]", CooldownSettings, "Python: `Router(cooldown={...})` or a "
     "`CooldownPolicy`. The breakers are shared as the `[state]` is: in Redis, in "
     "`[state] directory`, or per process."),
    ("[server]", ServerSettings, "Read by `python -m router serve --config FILE` (needs "
     "`pip install 'freefirst-router[server]'`); the library ignores it."),
    ("[[server.keys]]", ClientKey, "One table per client key. `python -m router serve "
     "--new-key TENANT` prints a new random key and the table to add."),
    ("[[server.models]]", ModelRoute, "One table per model name; `GET /v1/models` lists "
     "them after `router`. Requests to each are planned by a `Router.variant` of the "
     "config's Router, which shares its breakers, budgets, ledger and cache."),
)  # fmt: skip

# Text for keys whose model has no docstring under them yet (a docstring wins).
FALLBACK: dict[tuple[str, str], str] = {
    ("Budget", "period"): 'The budget\'s window: "day" or "month" (UTC).',
    ("Budget", "usd"): "The limit in USD per period.",
    ("Budget", "mode"): '"hard": paid deployments stop when the budget cannot cover a '
    'request. "soft": the quality target is first relaxed step by step (`steps`), then '
    "paid deployments stop at 100%.",
    ("CostModel", "usd_per_hour"): "What the machine (GPU) serving it costs per hour.",
    ("CostModel", "output_tokens_per_second"): "Its output throughput.",
    ("CostModel", "input_tokens_per_second"): "Its prompt-processing throughput "
    "(default: 10x the output speed).",
}


def attribute_docs(model: type) -> dict[str, str]:
    """The docstring under each annotated attribute of `model` and its bases (the class's
    own win), as pydantic's `use_attribute_docstrings` reads them."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if cls in (object, BaseModel) or not issubclass(cls, BaseModel):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, [*body[1:], None], strict=True):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def type_name(annotation: Any) -> str:
    """A TOML-minded name for a field's type: `"a" | "b"`, `list of string`, `table`..."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " | ".join(type_name(a) for a in kept)
    if origin in (tuple, list, set, frozenset):
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {type_name(args[0])}"
        if args:
            return "[" + ", ".join(type_name(a) for a in args) + "]"
        return "list"
    if origin in (dict, typing.Mapping) or annotation is dict:
        if args and get_origin(args[0]) is Literal:
            return f"table of {type_name(args[0])} = {type_name(args[1])}"
        if args and args[0] is str and args[1] is not Any:
            return f"table of {type_name(args[1])}"
        return "table"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def constraints(field: FieldInfo) -> str:
    parts = []
    for m in field.metadata:
        if isinstance(m, Gt):
            parts.append(f"> {m.gt}")
        elif isinstance(m, Ge):
            parts.append(f">= {m.ge}")
        elif isinstance(m, Lt):
            parts.append(f"< {m.lt}")
        elif isinstance(m, Le):
            parts.append(f"<= {m.le}")
        elif isinstance(m, MinLen) and m.min_length > 0:
            parts.append(f"length >= {m.min_length}")
        elif isinstance(m, MaxLen):
            parts.append(f"length <= {m.max_length}")
        elif getattr(m, "pattern", None):
            parts.append(f"matches `{m.pattern}`")
    return ", ".join(parts)


def toml_value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        return "(the table's defaults)"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return json.dumps(value)


def default_of(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return toml_value(field.default_factory())  # type: ignore[call-arg]
    if field.default is PydanticUndefined:
        return "required"
    return toml_value(field.default)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def section(heading: str, model: type[BaseModel], intro: str) -> list[str]:
    docs = attribute_docs(model)
    out = [f"## `{heading}`", ""]
    summary = inspect.cleandoc(model.__doc__ or "").split("\n\n")[0]
    for text in (summary, intro):
        if text:
            out += [" ".join(text.split()), ""]
    out += ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        kind = type_name(field.annotation)
        limits = constraints(field)
        if limits:
            kind += f" ({limits})"
        text = field.description or docs.get(name) or FALLBACK.get((model.__name__, name), "")
        out.append(f"| `{name}` | {_cell(kind)} | `{_cell(default_of(field))}` | {_cell(text)} |")
    return [*out, ""]


def render() -> str:
    tables = RouterConfig.model_fields
    docs = attribute_docs(RouterConfig)
    out = [
        "# Config file reference",
        "",
        "<!-- Generated by scripts/config_reference.py from the config schema; do not edit. "
        "Run `python scripts/config_reference.py` after changing a key. -->",
        "",
        "A config file is TOML. Check one with `python -m router check router.toml`; list "
        "the models the catalog knows with `python -m router catalog GLOB` and the shipped "
        "policy packs with `python -m router packs`. Any other top-level table or key is "
        "an error.",
        "",
        "The same tree is what `Router(...)` takes: `Router(config=RouterConfig.load(path))` "
        "(which is `Router.from_config(path)`), and every key is also a keyword that "
        'overrides the tree\'s value: a `[router]` key by its name (`objective="best"`, '
        '`timeout=30`), a table by its name (`retry={"attempts": 1}`, `cascade={...}`, '
        "`detectors={...}`, `deployments=[...]`, `budgets=[...]`), and `[state]` as "
        "`state_settings={...}`. Relative paths (`ledger`, `calibration`, a policy pack, "
        "`[state] directory`) are taken from the config file's folder.",
        "",
        "| table | description |",
        "|---|---|",
    ]
    for name in tables:
        heading = f"[[{name}]]" if name in ("deployments", "budgets") else f"[{name}]"
        out.append(f"| `{heading}` | {_cell(docs.get(name, ''))} |")
    out.append("")
    for heading, model, intro in SECTIONS:
        out += section(heading, model, intro)
        if heading == "[router]":
            out += [
                "## `[detectors]`",
                "",
                " ".join(docs["detectors"].split()),
                "",
                f"Keys: {type_name(tables['detectors'].annotation)}.",
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/config_reference.py", description=__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 if docs/config.md is stale")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.is_file() else ""
        if current != text:
            print(f"{OUT} is stale: run python scripts/config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
