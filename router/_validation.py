"""Reading TOML and turning pydantic errors into one-line ConfigErrors.

Shared by the config loader and the policy-pack loader: every message names the
file, the dotted key and what to write instead, and never echoes a secret.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from router.errors import ConfigError

__all__ = [
    "MAX_TOML_DEPTH",
    "clean_loc",
    "fields_of",
    "raise_config_error",
    "read_toml",
    "too_deep",
]

MAX_TOML_DEPTH = 32
"""Nesting of tables and arrays a config or policy file may have (real ones need ~4)."""

_SECRET_KEYS = {"api_key", "key", "token", "secret", "password", "api_secret"}
_LIST_TYPES = {"tuple_type", "list_type", "set_type", "frozen_set_type", "iterable_type"}


def fields_of(model: type[BaseModel]) -> list[str]:
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
        if kind in _LIST_TYPES and isinstance(value, str) and isinstance(loc[-1], str):
            # `origin = "CN"` where a list is wanted: show the one-element list to write
            msg += f"; write a list: {last} = [{json.dumps(value)}]"
    elif (
        kind == "string_type"
        and isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], str)
        and last not in _SECRET_KEYS
        and isinstance(loc[-1], str)
    ):
        msg += f"; write one value, not a list: {last} = {json.dumps(value[0])}"
    return msg


def clean_loc(err: ErrorDetails, tag: object = None) -> list[int | str]:
    """The error's path as the user wrote it: pydantic's internal parts dropped --
    validator names, dict-key markers, and the discriminator tag of a rule
    (`rules[0].deny.hostin` -> `rules[0].hostin`)."""
    loc = [
        p
        for p in err["loc"]
        if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))
    ]
    if tag is not None and loc and loc[0] == tag:
        loc = loc[1:]
    return loc


def raise_config_error(
    source: str, exc: ValidationError, prefix: str, known: Sequence[str], tag: object = None
) -> NoReturn:
    err = exc.errors()[0]
    loc = clean_loc(err, tag)
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = [*loc, "kind"]
    raise ConfigError(source, _key(loc, prefix), _explain(err, known)) from None


def too_deep(value: object, limit: int) -> str | None:
    """The path (`a.b[3]`) of the first value nested deeper than `limit` dicts and lists,
    or None. Iterative: a structure nested 100,000 levels (or one that contains itself)
    cannot exhaust the stack."""
    stack: list[tuple[object, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= limit:
                return where or "(top)"
            if isinstance(item, dict):
                stack.extend(
                    (v, depth + 1, f"{where}.{k}" if where else str(k)) for k, v in item.items()
                )
            else:
                stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; every problem reading it is a ConfigError naming the file."""
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "", "is a directory; give a .toml file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "", "not valid UTF-8 text") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(
            str(path),
            "",
            f"nested too deeply; keep tables and arrays within {MAX_TOML_DEPTH} levels",
        ) from None
    except OSError as exc:  # permission denied, a FIFO, a broken disk...
        raise ConfigError(str(path), "", f"cannot be read ({exc.strerror or exc})") from None
    where = too_deep(raw, MAX_TOML_DEPTH)
    if where is not None:
        raise ConfigError(
            str(path),
            where if len(where) <= 80 else where[:60] + "...",
            f"nested too deeply; keep tables and arrays within {MAX_TOML_DEPTH} levels",
        )
    return raw


class Section(BaseModel):
    """A table of the config tree (`router.decision._settings.RouterConfig`): frozen, no unknown
    keys, field docstrings as their docs (`scripts/config_reference.py`)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        defer_build=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,  # TOML has inf and nan: neither is a number of seconds
    )
