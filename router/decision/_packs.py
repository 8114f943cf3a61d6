"""Policy packs: TOML files of ordered rules, with includes and variables.

Pack::

    name = "my-pack"
    include = ["confidential-local"]        # a shipped pack, or a .toml in this folder or
                                            # below: no absolute paths, no "..", no symlink out
    unscannable = "confidential"            # the sensitivity of content no detector can read
    [vars]
    allowed_regions = ["eu-*"]
    [[rules]]
    kind = "allow"
    where = { hosting = ["api"] }
    region = "${allowed_regions}"

Included rules come first; variables resolve with the config's `policy_vars` over
the including pack's `[vars]` over the included packs'. A `policy_vars` name that no
pack in the chain declares under `[vars]` or uses as `"${name}"` is a ConfigError (a
misspelt name would otherwise leave the pack's default in force), and a value from
`policy_vars` that does not fit its rule is reported against the config's key.

`unscannable` (one of public, internal, confidential, restricted) is the floor put on a
request's sensitivity when it carries content the detectors cannot read: images, audio,
binary files. It merges like a variable: the including pack's value wins over its
includes' (a later include over an earlier one). When no pack in the chain states it the
policy fails closed: `"confidential"`, so with a `local_only` rule at confidential such
requests stay on your own machines. A pack of your own that includes a shipped one and
says `unscannable = "internal"` (or `"public"`) lets them reach APIs: do that only when
what your users attach is never confidential.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from router._models import Sensitivity
from router._validation import clean_loc, fields_of, raise_config_error, read_toml
from router.decision._policy import Allow, Deny, LocalOnly, MaxCost, Policy, Require, Rule, RuleFn
from router.decision._policy_vars import Use, check_names, override_error, references, substitute
from router.errors import ConfigError

__all__ = ["PackFile", "builtin_policies", "describe_pack", "load_policy", "policy_dir"]


class PackFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(min_length=1)
    description: str = ""
    include: tuple[str, ...] = ()
    unscannable: Sensitivity | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    rules: tuple[dict[str, Any], ...] = ()


@functools.cache
def _rule_adapter() -> TypeAdapter[Rule]:
    return TypeAdapter(Rule)  # built on first use: keeps `import router` cheap


def policy_dir() -> Path:
    """Where the shipped policy packs live (inside the wheel, or `policies/` in a checkout)."""
    here = Path(__file__).parent.parent
    packaged = here / "_policies"
    return packaged if packaged.is_dir() else here.parent / "policies"


def builtin_policies() -> list[str]:
    """Names of the shipped policy packs."""
    return sorted(p.stem for p in policy_dir().glob("*.toml"))


def _pack_path(ref: str, base: Path, source: str, key: str) -> Path:
    if ref.endswith(".toml"):
        return (base / ref).resolve()
    if "/" in ref or "\\" in ref:
        raise ConfigError(
            source,
            key,
            f"{ref!r} is not a .toml file; write a shipped name "
            f"({', '.join(builtin_policies())}) or a path to a .toml pack",
        )
    candidate = policy_dir() / f"{ref}.toml"
    if not candidate.is_file():
        raise ConfigError(
            source,
            key,
            f"no shipped policy named {ref!r}; write one of {', '.join(builtin_policies())} "
            "or a path to a .toml pack",
        )
    return candidate


@dataclass(frozen=True)
class _Chain:
    """A pack with its includes expanded: rules in order, vars and `unscannable` merged."""

    name: str
    rules: tuple[tuple[str, str, dict[str, Any]], ...]
    """(label, "file: rules[i]", raw rule) per rule."""
    vars: dict[str, Any]
    unscannable: Sensitivity | None


def _collect(path: Path, chain: tuple[Path, ...]) -> _Chain:
    src = str(path)
    pack_raw = read_toml(path)
    try:
        pack = PackFile.model_validate(pack_raw)
    except ValidationError as exc:
        raise_config_error(src, exc, "", fields_of(PackFile))
    rules: list[tuple[str, str, dict[str, Any]]] = []
    merged_vars: dict[str, Any] = {}
    unscannable: Sensitivity | None = None
    for i, ref in enumerate(pack.include):
        target = _include_path(ref, path, src, f"include[{i}]")
        if target in chain or target == path:
            loop = " -> ".join(p.name for p in (*chain, path, target))
            raise ConfigError(src, f"include[{i}]", f"include cycle: {loop}; remove one include")
        if not target.is_file():
            raise ConfigError(src, f"include[{i}]", f"{ref!r} not found (looked for {target})")
        inc = _collect(target, (*chain, path))
        rules += inc.rules
        merged_vars.update(inc.vars)
        unscannable = inc.unscannable or unscannable
    merged_vars.update(pack.vars)
    for i, rule in enumerate(pack.rules):
        kind = rule.get("kind", "rule")
        rules.append((f"{pack.name}#{i + 1} {kind}", f"{src}: rules[{i}]", rule))
    return _Chain(pack.name, tuple(rules), merged_vars, pack.unscannable or unscannable)


def _include_path(ref: str, pack: Path, source: str, key: str) -> Path:
    """Where an include points. The rule: a shipped pack's name (`"confidential-local"`),
    or a .toml file in the including pack's folder or below -- no absolute path, no drive,
    no `~`, no `..`, and no symlink that resolves outside that folder. A pack can thus be
    copied with its folder and never reads a file its author did not put there."""
    rule = (
        "an include is a shipped pack name "
        f"({', '.join(builtin_policies())}) or a .toml file in this pack's folder or below "
        "(no absolute paths, no '..')"
    )
    if ref in builtin_policies():
        return policy_dir() / f"{ref}.toml"
    pure = PurePosixPath(ref.replace("\\", "/"))
    if (
        pure.is_absolute()
        or PureWindowsPath(ref).drive
        or ref.startswith("~")
        or ".." in pure.parts
        or not ref.endswith(".toml")
    ):
        raise ConfigError(source, key, f"{ref!r}: {rule}")
    folder = pack.parent.resolve()
    target = (folder / pure).resolve()
    if not target.is_relative_to(folder):
        raise ConfigError(source, key, f"{ref!r} resolves to {target}, outside; {rule}")
    return target


def load_policy(
    ref: str | Path,
    *,
    base: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    extra_rules: Sequence[RuleFn] = (),
    source: str = "policy",
) -> Policy:
    """Load a policy pack by shipped name (`"free-first"`) or path, includes expanded."""
    path = (
        Path(ref)
        if isinstance(ref, Path)
        else _pack_path(ref, base or Path.cwd(), source, "router.policy")
    )
    if not isinstance(ref, Path) and not path.is_file():
        raise ConfigError(
            source,
            "router.policy",
            f"policy pack {ref!r} not found (looked for {path}); write a shipped name "
            f"({', '.join(builtin_policies())}) or a path relative to the config file",
        )
    chain = _collect(path.resolve(), ())
    overrides = overrides or {}
    known = set(chain.vars).union(*(references(raw) for _, _, raw in chain.rules))
    check_names(overrides, known, chain.name, source)
    env = {**chain.vars, **overrides}
    rules: list[tuple[str, RuleFn]] = []
    for label, where, raw in chain.rules:
        file, _, key = where.partition(": ")
        uses: list[Use] = []
        resolved = substitute(raw, env, file, key, uses=uses)
        try:
            rules.append((label, _rule_adapter().validate_python(resolved)))
        except ValidationError as exc:
            kind = resolved.get("kind")
            loc = tuple(clean_loc(exc.errors()[0], kind))
            blame = override_error(
                loc, exc.errors()[0], uses=uses, overrides=overrides, label=label, source=source
            )
            if blame is not None:
                raise blame from None
            raise_config_error(file, exc, key, _rule_fields(kind), tag=kind)
    for i, fn in enumerate(extra_rules, 1):
        rules.append((f"custom#{i} {getattr(fn, '__name__', 'rule')}", fn))
    return Policy.of(chain.name, rules, vars=env, unscannable=chain.unscannable or "confidential")


def _rule_fields(kind: object) -> list[str]:
    by_kind: dict[object, type[BaseModel]] = {
        "local_only": LocalOnly,
        "deny": Deny,
        "allow": Allow,
        "max_cost": MaxCost,
        "require": Require,
    }
    model = by_kind.get(kind)
    return fields_of(model) if model else ["kind"]


def describe_pack(name: str) -> dict[str, Any]:
    """A shipped pack as data, includes expanded (for `python -m router packs NAME`):
    its description, its variables with their defaults, the effective `unscannable`
    and every rule in order as written (variables left as `"${name}"`)."""
    path = _pack_path(name, policy_dir(), "python -m router packs", "NAME")
    pack = PackFile.model_validate(read_toml(path))
    chain = _collect(path.resolve(), ())
    return {
        "name": pack.name,
        "description": pack.description,
        "include": list(pack.include),
        "unscannable": chain.unscannable or "confidential",
        "vars": dict(chain.vars),
        "rules": [
            {"label": label, "from": Path(where.partition(": ")[0]).name, **raw}
            for label, where, raw in chain.rules
        ],
    }
