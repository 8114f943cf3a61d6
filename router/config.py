"""TOML config and policy packs -> validated values. Every mistake is a ConfigError
naming the file, the key and what to write instead.

Config file::

    [router]
    policy = "free-first"          # a shipped pack name, or a path relative to this file
    objective = "free-first"       # free-first | cheapest | best | utility
    quality_target = 0.9
    baseline = "gpt-4o"            # a deployment name or a catalog model: what savings compare to

    [detectors]                    # optional: the sensitivity each finding raises a request to
    email = "public"

    [[deployments]]
    name = "local-qwen"
    model = "openai/qwen2.5-7b-instruct"
    ...

Policy pack::

    name = "my-pack"
    include = ["confidential-local.toml"]   # same folder or below; no absolute paths, no ".."
    [vars]
    allowed_regions = ["eu-*"]
    [[rules]]
    kind = "allow"
    where = { hosting = ["api"] }
    region = "${allowed_regions}"
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from router.catalog import DeploymentSpec, lookup, resolve
from router.errors import ConfigError
from router.models import Deployment, DetectorKind, Sensitivity
from router.planner import Settings
from router.policy import Allow, Deny, LocalOnly, MaxCost, Policy, Require, Rule, RuleFn
from router.scoring import ObjectiveName

__all__ = [
    "Config",
    "builtin_policies",
    "load_config",
    "load_policy",
    "policy_dir",
    "resolve_deployments",
]

_SECRET_KEYS = {"api_key", "key", "token", "secret", "password", "api_secret"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class RouterSection(_Frozen):
    policy: str = "free-first"
    policy_vars: dict[str, Any] = Field(default_factory=dict)
    objective: ObjectiveName = "free-first"
    quality_target: float = Field(default=0.9, gt=0, le=1)
    quality_value_usd: float = Field(default=0.01, ge=0)
    default_max_tokens: int = Field(default=1024, gt=0)
    baseline: str | None = None
    state: Literal["local"] = "local"


class ConfigFile(_Frozen):
    router: RouterSection = Field(default_factory=RouterSection)
    detectors: dict[DetectorKind, Sensitivity] = Field(default_factory=dict)
    deployments: tuple[dict[str, Any], ...] = Field(min_length=1)


class PackFile(_Frozen):
    name: str = Field(min_length=1)
    description: str = ""
    include: tuple[str, ...] = ()
    vars: dict[str, Any] = Field(default_factory=dict)
    rules: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Config:
    """A loaded config: deployments with every fact filled, the policy, planner settings."""

    source: str
    deployments: tuple[Deployment, ...]
    policy: Policy
    settings: Settings
    baseline: str | None


@functools.cache
def _rule_adapter() -> TypeAdapter[Rule]:
    return TypeAdapter(Rule)  # built on first use: keeps `import router` cheap


def _fields_of(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _key(loc: Sequence[int | str], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _explain(err: Mapping[str, Any], known: Sequence[str]) -> str:
    kind = err["type"]
    loc = err["loc"]
    last = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        if last in _SECRET_KEYS:
            return (
                "secrets are never written in config files; write api_key_env = "
                '"ENV_VAR_NAME" and set that environment variable'
            )
        close = difflib.get_close_matches(last, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return f"unknown key; {hint}"
    if last == "deployments" and kind in ("missing", "too_short"):
        return "give at least one deployment: add a [[deployments]] table with name and model"
    if kind == "missing":
        return "is required"
    if last == "api_key_env":  # its value may be a pasted key: never echo it
        return (
            'must name an environment variable, e.g. api_key_env = "OPENAI_API_KEY"; '
            "never the key itself"
        )
    if kind == "union_tag_invalid":
        tags = err.get("ctx", {}).get("expected_tags", "")
        return f"unknown rule kind {err['ctx'].get('tag')!r}; write one of {tags}"
    if kind == "union_tag_not_found":
        return "a rule needs kind = one of 'local_only', 'deny', 'allow', 'max_cost', 'require'"
    msg = str(err["msg"])
    value = err.get("input")
    if isinstance(value, str | int | float | bool) and last not in _SECRET_KEYS:
        msg += f" (got {value!r})"
    return msg


def _raise(
    source: str, exc: ValidationError, prefix: str, known: Sequence[str], tag: object = None
) -> None:
    err = exc.errors()[0]
    # Drop pydantic's internal loc parts: validator names, dict-key markers, and the
    # discriminator tag of a rule (`rules[0].deny.hostin` -> `rules[0].hostin`).
    loc = [
        p
        for p in err["loc"]
        if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))
    ]
    if tag is not None and loc and loc[0] == tag:
        loc = loc[1:]
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = [*loc, "kind"]
    raise ConfigError(source, _key(loc, prefix), _explain(err, known)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "", "is a directory; give a .toml file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "", "not valid UTF-8 text") from None


def policy_dir() -> Path:
    """Where the shipped policy packs live (inside the wheel, or `policies/` in a checkout)."""
    here = Path(__file__).parent
    packaged = here / "_policies"
    return packaged if packaged.is_dir() else here.parent / "policies"


def builtin_policies() -> list[str]:
    """Names of the shipped policy packs."""
    return sorted(p.stem for p in policy_dir().glob("*.toml"))


def _pack_path(ref: str, base: Path, source: str, key: str) -> Path:
    if ref.endswith(".toml") or "/" in ref or "\\" in ref:
        return (base / ref).resolve()
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
    pack_raw = _read_toml(path)
    try:
        pack = PackFile.model_validate(pack_raw)
    except ValidationError as exc:
        _raise(src, exc, "", _fields_of(PackFile))
    rules: list[tuple[str, str, dict[str, Any]]] = []
    merged_vars: dict[str, Any] = {}
    for i, ref in enumerate(pack.include):
        pure = PurePosixPath(ref.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or not ref.endswith(".toml"):
            raise ConfigError(
                src,
                f"include[{i}]",
                f"{ref!r} must be a .toml file in this pack's folder or below "
                "(no absolute paths, no '..')",
            )
        target = (path.parent / pure).resolve()
        if target in chain or target == path:
            raise ConfigError(src, f"include[{i}]", f"{ref!r} includes itself (a cycle)")
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
            _raise(file, exc, key, known, tag=kind)
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
    return _fields_of(model) if model else ["kind"]


def resolve_deployments(
    entries: Sequence[Mapping[str, Any] | DeploymentSpec | Deployment], source: str
) -> tuple[Deployment, ...]:
    """Validate and fill each deployment; names must be unique."""
    out: list[Deployment] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        key = f"deployments[{i}]"
        if isinstance(entry, Deployment):
            dep = entry
        else:
            try:
                spec = (
                    entry
                    if isinstance(entry, DeploymentSpec)
                    else DeploymentSpec.model_validate(entry)
                )
            except ValidationError as exc:
                _raise(source, exc, key, _fields_of(DeploymentSpec))
            dep = resolve(spec, source, key)
        if dep.name in seen:
            raise ConfigError(
                source, f"{key}.name", f"{dep.name!r} is used twice; names must be unique"
            )
        seen.add(dep.name)
        out.append(dep)
    return tuple(out)


def baseline_prices(
    baseline: str | None, deployments: Sequence[Deployment], source: str
) -> tuple[float, float] | None:
    """(input, output) USD per token of the baseline savings are measured against.

    A baseline names a deployment or a model litellm's price map prices.
    """
    if baseline is None:
        return None
    for d in deployments:
        if d.name == baseline:
            return d.input_usd_per_token, d.output_usd_per_token
    facts = lookup(baseline)
    if facts is None or facts.input_usd_per_token is None or facts.output_usd_per_token is None:
        raise ConfigError(
            source,
            "router.baseline",
            f"{baseline!r} is neither a deployment name nor a priced model in litellm's "
            'price map; write e.g. baseline = "gpt-4o"',
        )
    return facts.input_usd_per_token, facts.output_usd_per_token


def load_config(path: str | Path, *, extra_rules: Sequence[RuleFn] = ()) -> Config:
    """Read a config file, its policy pack and deployments."""
    path = Path(path)
    source = str(path)
    raw = _read_toml(path)
    try:
        cfg = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        top = str(err["loc"][0]) if err["loc"] else ""
        known = {
            "router": _fields_of(RouterSection),
            "detectors": list(ConfigFile.model_fields),
        }.get(top, _fields_of(ConfigFile))
        if len(err["loc"]) == 1:
            known = _fields_of(ConfigFile)
        _raise(source, exc, "", known)
    settings_in = cfg.router
    deployments = resolve_deployments(cfg.deployments, source)
    policy = load_policy(
        settings_in.policy,
        base=path.parent,
        overrides=settings_in.policy_vars,
        extra_rules=extra_rules,
        source=source,
    )
    baseline_prices(settings_in.baseline, deployments, source)
    settings = Settings(
        objective=settings_in.objective,
        quality_target=settings_in.quality_target,
        quality_value_usd=settings_in.quality_value_usd,
        default_max_tokens=settings_in.default_max_tokens,
        detector_levels={**Settings().detector_levels, **cfg.detectors},
    )
    return Config(
        source=source,
        deployments=deployments,
        policy=policy,
        settings=settings,
        baseline=settings_in.baseline,
    )
