"""Pack variables: `${name}` substitution, and the config's `policy_vars` checked and blamed.

A misspelt `policy_vars` key would otherwise change nothing and leave the pack's default
in force (`barred_orgins = ["CN"]` bars no origin), and a value of the wrong type would
be reported against the shipped pack file the user never edited. So a name no pack in
the chain declares or uses is an error with a did-you-mean, and a rule that does not
validate because of a value the config supplied names the config file and
`router.policy_vars.<name>`. Values are never echoed: a variable may hold anything.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import ErrorDetails

from router.errors import ConfigError

__all__ = ["POLICY_VARS_KEY", "Use", "check_names", "override_error", "references", "substitute"]

POLICY_VARS_KEY = "router.policy_vars"

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Use:
    """`${name}` was substituted at `path` inside a rule (`("where", "region")`)."""

    path: Path
    name: str


def _var_name(value: object) -> str | None:
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return None


def references(value: Any) -> set[str]:
    """Every variable name a raw rule (or any TOML value) uses as `"${name}"`."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if (name := _var_name(item)) is not None:
            found.add(name)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def substitute(
    value: Any,
    env: Mapping[str, Any],
    where: str,
    key: str,
    *,
    uses: list[Use],
    path: Path = (),
) -> Any:
    """`value` with every `"${name}"` replaced from `env`; each replacement is appended to
    `uses`. An undefined name is a ConfigError naming `where` (the pack file) and `key`."""
    name = _var_name(value)
    if name is not None:
        if name not in env:
            raise ConfigError(
                where,
                key,
                f"undefined variable {name!r}; define it under [vars] in the pack "
                f"or in [{POLICY_VARS_KEY}] of the config",
            )
        uses.append(Use(path, name))
        return env[name]
    if isinstance(value, dict):
        return {
            k: substitute(v, env, where, f"{key}.{k}", uses=uses, path=(*path, k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            substitute(v, env, where, f"{key}[{i}]", uses=uses, path=(*path, i))
            for i, v in enumerate(value)
        ]
    return value


def check_names(
    overrides: Mapping[str, Any], known: Collection[str], policy: str, source: str
) -> None:
    """Raise a ConfigError for the first override no pack in the chain declares or uses."""
    for name in overrides:
        if name in known:
            continue
        if not known:
            message = f"policy {policy!r} has no variables, so it would change nothing"
            hint = "remove this key"
        else:
            message = (
                f"no pack in policy {policy!r} declares or uses it, so it would change nothing"
            )
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"known variables: {', '.join(sorted(known))}"
            )
        raise ConfigError(
            source, f"{POLICY_VARS_KEY}.{name}", f"unknown variable: {message}; {hint}"
        )


# An example value per rule field, for "write ..." hints (never the user's value).
_EXAMPLES: dict[str, str] = {
    "name": '["local-qwen"]',
    "model": '["gpt-4o*"]',
    "vendor": '["acme"]',
    "origin": '["CN"]',
    "region": '["eu-*"]',
    "hosting": '["self-hosted"]',
    "weights": '["open"]',
    "license": '["apache-2.0"]',
    "tenants": '["gov"]',
    "tags": '["batch"]',
    "capabilities": '["tools"]',
    "usd": "0.02",
    "min_sensitivity": '"confidential"',
    "reason": '"..."',
}
_LIST_TYPES = {"tuple_type", "list_type", "set_type", "frozen_set_type", "iterable_type"}
_NUMBER_TYPES = {"float_type", "float_parsing", "int_type", "int_parsing", "finite_number"}


def override_error(
    loc: Path,
    err: ErrorDetails,
    *,
    uses: list[Use],
    overrides: Mapping[str, Any],
    label: str,
    source: str,
) -> ConfigError | None:
    """The ConfigError naming `router.policy_vars.<name>` when the failing value at `loc`
    (a rule-relative path) came from the config's overrides; None when the pack is to blame."""
    blamed = [u for u in uses if loc[: len(u.path)] == u.path]
    if not blamed:
        return None
    use = max(blamed, key=lambda u: len(u.path))
    if use.name not in overrides:
        return None
    fields = [p for p in use.path if isinstance(p, str)]
    field = fields[-1] if fields else "?"
    example = _EXAMPLES.get(field, '["..."]')
    element = len(use.path) > 0 and isinstance(use.path[-1], int)
    if element:  # `${name}` is one item of a list: it must be one string
        example = example.strip("[]").split(",")[0]
    kind = err["type"]
    if kind in _LIST_TYPES:
        problem, fix = "must be a list", f"write a list, e.g. {use.name} = {example}"
    elif kind == "string_type" and len(loc) > len(use.path):
        problem, fix = "must be a list of strings", f"write e.g. {use.name} = {example}"
    elif kind == "string_type":
        problem, fix = "must be a string", f"write e.g. {use.name} = {example}"
    elif kind in _NUMBER_TYPES:
        problem, fix = "must be a number", f"write a number, e.g. {use.name} = {example}"
    else:  # pydantic's text states the rule (a bound, the allowed words), never the value
        problem = str(err["msg"]).replace("Input should be", "must be", 1)
        fix = f"write e.g. {use.name} = {example}"
    return ConfigError(
        source,
        f"{POLICY_VARS_KEY}.{use.name}",
        f"{problem}: rule {label!r} uses it as {field}; {fix}",
    )
