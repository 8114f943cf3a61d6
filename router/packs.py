"""Policy packs: TOML files of ordered rules, with includes and variables.

Pack::

    name = "my-pack"
    include = ["confidential-local"]        # a shipped pack, or a .toml in this folder or
                                            # below: no absolute paths, no "..", no symlink out
    [vars]
    allowed_regions = ["eu-*"]
    [[rules]]
    kind = "allow"
    where = { hosting = ["api"] }
    region = "${allowed_regions}"

Included rules come first; variables resolve with the config's `policy_vars` over
the including pack's `[vars]` over the included packs'.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from router._validation import fields_of, raise_config_error, read_toml
from router.errors import ConfigError
from router.policy import Allow, Deny, LocalOnly, MaxCost, Policy, Require, Rule, RuleFn

__all__ = ["PackFile", "builtin_policies", "load_policy", "policy_dir"]


class PackFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(min_length=1)
    description: str = ""
    include: tuple[str, ...] = ()
    vars: dict[str, Any] = Field(default_factory=dict)
    rules: tuple[dict[str, Any], ...] = ()


@functools.cache
def _rule_adapter() -> TypeAdapter[Rule]:
    return TypeAdapter(Rule)  # built on first use: keeps `import router` cheap


def policy_dir() -> Path:
    """Where the shipped policy packs live (inside the wheel, or `policies/` in a checkout)."""
    here = Path(__file__).parent
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


def _collect(
    path: Path, chain: tuple[Path, ...]
) -> tuple[str, list[tuple[str, str, dict[str, Any]]], dict[str, Any]]:
    """(pack name, [(label, file, raw rule)], vars) with includes expanded first."""
    src = str(path)
    pack_raw = read_toml(path)
    try:
        pack = PackFile.model_validate(pack_raw)
    except ValidationError as exc:
        raise_config_error(src, exc, "", fields_of(PackFile))
    rules: list[tuple[str, str, dict[str, Any]]] = []
    merged_vars: dict[str, Any] = {}
    for i, ref in enumerate(pack.include):
        target = _include_path(ref, path, src, f"include[{i}]")
        if target in chain or target == path:
            loop = " -> ".join(p.name for p in (*chain, path, target))
            raise ConfigError(src, f"include[{i}]", f"include cycle: {loop}; remove one include")
        if not target.is_file():
            raise ConfigError(src, f"include[{i}]", f"{ref!r} not found (looked for {target})")
        _, inc_rules, inc_vars = _collect(target, (*chain, path))
        rules += inc_rules
        merged_vars.update(inc_vars)
    merged_vars.update(pack.vars)
    for i, rule in enumerate(pack.rules):
        kind = rule.get("kind", "rule")
        rules.append((f"{pack.name}#{i + 1} {kind}", f"{src}: rules[{i}]", rule))
    return pack.name, rules, merged_vars


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


def _substitute(value: Any, env: Mapping[str, Any], where: str, key: str) -> Any:
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        name = value[2:-1]
        if name not in env:
            raise ConfigError(
                where,
                key,
                f"undefined variable {name!r}; define it under [vars] in the pack "
                "or in [router.policy_vars] of the config",
            )
        return env[name]
    if isinstance(value, dict):
        return {k: _substitute(v, env, where, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, where, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


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
    name, raw_rules, pack_vars = _collect(path.resolve(), ())
    env = {**pack_vars, **(overrides or {})}
    rules: list[tuple[str, RuleFn]] = []
    for label, where, raw in raw_rules:
        file, _, key = where.partition(": ")
        resolved = _substitute(raw, env, file, key)
        try:
            rules.append((label, _rule_adapter().validate_python(resolved)))
        except ValidationError as exc:
            kind = resolved.get("kind")
            known = _rule_fields(kind)
            raise_config_error(file, exc, key, known, tag=kind)
    for i, fn in enumerate(extra_rules, 1):
        rules.append((f"custom#{i} {getattr(fn, '__name__', 'rule')}", fn))
    return Policy.of(name, rules, vars=env)


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
