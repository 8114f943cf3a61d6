"""TOML config -> the tree (`router.decision._settings.RouterConfig`) -> what it names, loaded and
checked. Every mistake is a ConfigError naming the file, the key and what to write.

Config file (every key: docs/config.md)::

    [router]
    policy = "free-first"          # a shipped pack name, or a path relative to this file
    policy_vars = { }              # override the pack's [vars]; an unknown name is an error
    objective = "free-first"       # free-first | cheapest | best | utility
    mode = "route"                 # route | cascade (free answer first, verified; see [cascade])
    quality_target = 0.9
    baseline = "gpt-4o"            # a deployment name or a catalog model: what savings compare to
    timeout = 60                   # seconds a request may take in all, unless the call says

    [retry]                        # tries of one deployment before the plan's next one
    attempts = 3
    [cooldown]                     # a deployment failing this often is benched this long
    threshold = 5
    seconds = 30

    [detectors]                    # optional: the sensitivity each finding raises a request to
    email = "public"

    [[deployments]]
    name = "local-qwen"
    model = "openai/qwen2.5-7b-instruct"
    ...

`load_tree(path)` reads a file into the tree (`RouterConfig.load`); `compile_config(tree)`
resolves what the tree names (deployments from the catalog, the policy pack, the
baseline's prices) and runs every check `Router(...)` makes, in the tree's own terms:
`Router(...)` runs it too, so `python -m router check` fails for every config that would
fail at construction. Policy packs are loaded by `router.decision._packs`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from router._models import Deployment
from router._validation import fields_of, raise_config_error, read_toml
from router.decision._budgets import Budget, parse_budgets
from router.decision._catalog import DeploymentSpec, check_call_params, lookup, resolve
from router.decision._packs import load_policy
from router.decision._policy import Policy, RuleFn
from router.decision._settings import (
    CooldownSettings,
    Origin,
    RetrySettings,
    RouterConfig,
    RouterSection,
    Settings,
    config_error,
)
from router.errors import ConfigError
from router.state.settings import StateSettings

__all__ = [
    "Config",
    "RouterConfig",
    "RouterSection",
    "baseline_prices",
    "check_top_level",
    "check_wiring",
    "compile_config",
    "load_config",
    "load_tree",
    "resolve_deployments",
]

_ARRAYS_OF_TABLES = ("deployments", "budgets")


def _table(name: str) -> str:
    return f"[[{name}]]" if name in _ARRAYS_OF_TABLES else f"[{name}]"


def check_top_level(raw: Mapping[str, Any], source: str) -> None:
    """An unknown top-level table or key is an error with a did-you-mean, raised before
    anything else (a misspelt `[[deployment]]` would otherwise read as "no deployments")."""
    known = fields_of(RouterConfig)
    for name, value in raw.items():
        if name in known:
            continue
        is_table = isinstance(value, dict) or (
            isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
        )
        written = f"[[{name}]]" if isinstance(value, list) else f"[{name}]" if is_table else name
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if not is_table and name in fields_of(RouterSection):
            hint = f"{name} belongs in the [router] table: write it under [router]"
        elif close:
            hint = f"did you mean {close[0]!r}? write {_table(close[0])}"
        else:
            hint = f"known keys: {', '.join(known)} (written {', '.join(_table(k) for k in known)})"
        what = "table" if is_table else "key"
        raise ConfigError(source, name, f"unknown {what} {written}; {hint}")


def tree_of(raw: Mapping[str, Any], origin: Origin) -> RouterConfig:
    """A config's content (as TOML reads it) -> the tree, or a ConfigError in TOML terms."""
    source = origin.source
    check_top_level(raw, source)
    data = dict(raw)
    budgets = data.get("budgets")
    if isinstance(budgets, list) and all(isinstance(b, Mapping) for b in budgets):
        data["budgets"] = parse_budgets(budgets, source)  # per entry: budgets[i].key
    try:
        tree = RouterConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, origin) from None
    return tree.with_origin(origin)


def load_tree(path: str | Path) -> RouterConfig:
    """Read a config file into the tree; relative paths in it are taken from its folder."""
    path = Path(path)
    origin = Origin(source=str(path), base=path.parent, file_terms=True)
    return tree_of(read_toml(path), origin)


def check_wiring(tree: RouterConfig, *, ledger_given: bool = False) -> None:
    """What a Router built from this tree would refuse, said in the tree's own terms (a
    file's TOML, or `Router(...)` keywords). `ledger_given`: a Ledger object was passed."""
    r, o = tree.router, tree.origin
    toml = o.file_terms
    redis = r.state != "local"
    if tree.budgets and r.ledger is None and not ledger_given and not redis:
        raise ConfigError(
            o.source,
            "budgets",
            '[[budgets]] needs [router] ledger = "ledger.sqlite" (budgets are counted in '
            'the ledger), or [router] state = "redis://127.0.0.1:6379/0" to count them in Redis'
            if toml
            else "budgets are kept in the ledger or in Redis: also pass ledger='PATH' "
            "or state='redis://HOST:PORT/DB'",
        )
    if r.cache and not redis:
        raise ConfigError(
            o.source,
            "router.cache" if toml else "cache",
            "cache = true shares answers through Redis: also write "
            'state = "redis://127.0.0.1:6379/0" under [router], or remove cache = true'
            if toml
            else "cache=True shares answers through Redis (state='redis://...'); on one "
            "machine pass cache=ResponseCache('DIR')",
        )
    if redis and importlib.util.find_spec("redis") is None:
        raise ConfigError(
            o.source,
            "router.state" if toml else "state",
            "Redis state needs redis-py: pip install 'freefirst-router[redis]'",
        )
    if not toml:
        return  # a Ledger and the calibration file say what is wrong with them themselves
    ledger, calibration = tree.path(r.ledger), tree.path(r.calibration)
    if r.ledger is not None and ledger is not None and ledger.is_dir():
        raise ConfigError(
            o.source,
            "router.ledger",
            f"{r.ledger!r} is a directory; write a file path, e.g. ledger = "
            f'"{Path(r.ledger) / "ledger.sqlite"}"',
        )
    if r.calibration is not None and calibration is not None and not calibration.is_file():
        raise ConfigError(
            o.source,
            "router.calibration",
            f"{r.calibration!r} not found (looked for {calibration}); write it with "
            "`python -m router calibrate` or remove calibration",
        )


@dataclasses.dataclass(frozen=True)
class Config:
    """A tree compiled: the deployments with every fact filled, the policy loaded, the
    baseline priced, every check passed. The rest is read from the tree."""

    tree: RouterConfig
    deployments: tuple[Deployment, ...]
    policy: Policy
    baseline_prices: tuple[float, float] | None = None
    """(input, output) USD per token of the baseline (None without one)."""

    @property
    def source(self) -> str:
        return self.tree.source

    @property
    def settings(self) -> Settings:
        """The planner's view of the tree."""
        return self.tree.settings

    @property
    def baseline(self) -> str | None:
        return self.tree.router.baseline

    @property
    def ledger(self) -> Path | None:
        """The ledger file, a relative path taken from the config file's folder."""
        return self.tree.path(self.tree.router.ledger)

    @property
    def budgets(self) -> tuple[Budget, ...]:
        return self.tree.budgets

    @property
    def store_prompts(self) -> bool:
        return self.tree.router.store_prompts

    @property
    def calibration(self) -> Path | None:
        """The quality calibration file (`python -m router calibrate`), relative to the config."""
        return self.tree.path(self.tree.router.calibration)

    @property
    def state(self) -> str:
        """Where shared state lives: "local" or a Redis URL (`[router] state`)."""
        return self.tree.router.state

    @property
    def state_settings(self) -> StateSettings:
        """The `[state]` table, its `directory` taken from the config file's folder."""
        state = self.tree.state
        directory = self.tree.path(state.directory)
        if directory is None or state.directory == str(directory):
            return state
        return state.model_copy(update={"directory": str(directory)})

    @property
    def cache(self) -> bool:
        """`[router] cache = true`: share cached answers through Redis."""
        return self.tree.router.cache

    @property
    def warmup(self) -> bool | Literal["background"]:
        """`[router] warmup`: pay the first call's cost at start-up (see `Router.warmup`)."""
        return self.tree.router.warmup

    @property
    def retry(self) -> RetrySettings:
        return self.tree.retry

    @property
    def cooldown(self) -> CooldownSettings:
        return self.tree.cooldown

    @property
    def timeout(self) -> float:
        return self.tree.router.timeout


def resolve_deployments(
    entries: Sequence[Mapping[str, Any] | DeploymentSpec | Deployment], source: str
) -> tuple[Deployment, ...]:
    """Validate and fill each deployment; names must be unique."""
    out: list[Deployment] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        key = f"deployments[{i}]"
        if isinstance(entry, Deployment):
            check_call_params(entry, source, key)
            dep = entry
        else:
            try:
                spec = (
                    entry
                    if isinstance(entry, DeploymentSpec)
                    else DeploymentSpec.model_validate(entry)
                )
            except ValidationError as exc:
                raise_config_error(source, exc, key, fields_of(DeploymentSpec))
            dep = resolve(spec, source, key)
        if dep.name in seen:
            raise ConfigError(
                source, f"{key}.name", f"{dep.name!r} is used twice; names must be unique"
            )
        seen.add(dep.name)
        out.append(dep)
    return tuple(out)


def baseline_prices(
    baseline: str | None,
    deployments: Sequence[Deployment],
    source: str,
    key: str = "router.baseline",
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
            key,
            f"{baseline!r} is neither a deployment name nor a priced model in litellm's "
            'price map; write e.g. baseline = "gpt-4o"',
        )
    return facts.input_usd_per_token, facts.output_usd_per_token


def compile_config(
    tree: RouterConfig,
    *,
    policy: Policy | Path | None = None,
    rules: Sequence[RuleFn] = (),
    ledger_given: bool = False,
) -> Config:
    """Resolve what `tree` names and run every check `Router(...)` makes. `policy`: a
    Policy object (or a pack file) instead of the tree's `[router] policy`; `rules`:
    custom rules after the pack's; `ledger_given`: a Ledger object stands for
    `[router] ledger`."""
    source = tree.source
    deployments = resolve_deployments(tree.deployments, source)
    if isinstance(policy, Policy):
        pol = (
            Policy.of(policy.name, [*policy.rules, *rules], unscannable=policy.unscannable)
            if rules
            else policy
        )
    else:
        pol = load_policy(
            tree.router.policy if policy is None else policy,
            base=tree.origin.base,
            overrides=tree.router.policy_vars,
            extra_rules=rules,
            source=source,
        )
    key = "router.baseline" if tree.origin.file_terms else "baseline"
    prices = baseline_prices(tree.router.baseline, deployments, source, key)
    parse_budgets(tree.budgets, source)  # a tree made in Python: one budget per counter
    check_wiring(tree, ledger_given=ledger_given)
    return Config(tree=tree, deployments=deployments, policy=pol, baseline_prices=prices)


def load_config(path: str | Path, *, extra_rules: Sequence[RuleFn] = ()) -> Config:
    """Read a config file, its policy pack and deployments: every check a Router makes."""
    return compile_config(load_tree(path), rules=extra_rules)
