"""TOML config -> validated values. Every mistake is a ConfigError
naming the file, the key and what to write instead.

Config file::

    [router]
    policy = "free-first"          # a shipped pack name, or a path relative to this file
    policy_vars = { }              # override the pack's [vars]; an unknown name is an error
    objective = "free-first"       # free-first | cheapest | best | utility
    mode = "route"                 # route | cascade (free answer first, verified; see [cascade])
    quality_target = 0.9
    baseline = "gpt-4o"            # a deployment name or a catalog model: what savings compare to

    [detectors]                    # optional: the sensitivity each finding raises a request to
    email = "public"

    [[deployments]]
    name = "local-qwen"
    model = "openai/qwen2.5-7b-instruct"
    ...

Policy packs are loaded by `router.packs`.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from router._validation import fields_of, raise_config_error, read_toml
from router.budgets import Budget, parse_budgets
from router.catalog import DeploymentSpec, lookup, resolve
from router.errors import ConfigError
from router.models import Deployment, DetectorKind, Sensitivity
from router.packs import load_policy
from router.planner import PAID_SHARE, Mode, Settings
from router.policy import Policy, RuleFn
from router.scoring import ObjectiveName
from router.state.settings import StateSettings
from router.verify import CascadeSettings

__all__ = [
    "Config",
    "baseline_prices",
    "load_config",
    "resolve_deployments",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", defer_build=True, use_attribute_docstrings=True
    )


class RouterSection(_Frozen):
    """The `[router]` table: the policy, how the planner chooses, where state is kept."""

    policy: str = "free-first"
    """A shipped policy pack (`python -m router packs` lists them) or a path to a .toml
    pack, relative to the config file."""
    policy_vars: dict[str, Any] = Field(default_factory=dict)
    """Values for the pack's `[vars]`, e.g. `{ allowed_regions = ["eu-*"] }`; a name no
    pack in the chain declares or uses is an error."""
    objective: ObjectiveName = "free-first"
    """How eligible deployments are ordered: free-first, cheapest, best or utility."""
    mode: Mode = "route"
    """`route`: serve the plan's first deployment. `cascade`: answer from the best free
    deployment first and pay only when the verifier doubts the answer (see `[cascade]`)."""
    quality_target: float = Field(default=0.9, gt=0, le=1)
    """A deployment is good enough when its predicted quality is within this share of
    the best eligible one's."""
    paid_share: float = Field(default=PAID_SHARE, ge=0, le=1)
    """`free-first` only: the share of requests it may pay for, those where paying is
    predicted to gain the most (1.0: the quality target decides everything; 0.0: free
    whenever a free deployment is eligible)."""
    quality_value_usd: float = Field(default=0.01, ge=0)
    """`utility` only: what one unit of predicted quality is worth per request, in USD."""
    default_max_tokens: int = Field(default=1024, gt=0)
    """The output budget of a request that does not set max_tokens; costs are estimated
    (and budgets held) for this many output tokens."""
    baseline: str | None = None
    """A deployment name or a priced catalog model (e.g. "gpt-4o") that savings are
    measured against."""
    state: str = Field(default="local", pattern=r"^(local|redis://.*|rediss://.*|unix://.*)$")
    """Where shared state (budgets, breakers, cache) lives: "local" or a Redis URL such as
    "redis://127.0.0.1:6379/0" (needs `pip install 'freefirst-router[redis]'`)."""
    cache: StrictBool = False  # TOML has booleans: "yes" is a typo, not True
    """Share cached answers through Redis; needs a Redis `state`."""
    ledger: str | None = None
    """The SQLite ledger file of requests and spend, relative to the config file; needed
    by `[[budgets]]` unless `state` is Redis."""
    store_prompts: StrictBool = False
    """Also write prompt text into the ledger (off: only hashes and counts)."""
    calibration: str | None = None
    """A calibration file written by `python -m router calibrate`, relative to the config
    file."""
    warmup: StrictBool | Literal["background"] = False
    """Pay the first call's cost (importing litellm: seconds) at start-up: true in
    `Router.from_config`, "background" in a daemon thread; false: in the first request."""


class ConfigFile(_Frozen):
    """A config file: the tables below; only `[[deployments]]` is required."""

    router: RouterSection = Field(default_factory=RouterSection)
    """Policy, objective, mode and where state is kept."""
    detectors: dict[DetectorKind, Sensitivity] = Field(default_factory=dict)
    """The sensitivity each detector's finding raises a request to, e.g. `email = "public"`.
    Kinds: email, phone, payment_card, iban, national_id, api_key, private_key; levels:
    public, internal, confidential, restricted."""
    cascade: CascadeSettings = Field(default_factory=CascadeSettings)
    """How `mode = "cascade"` verifies a free answer before paying."""
    state: StateSettings = Field(default_factory=StateSettings)
    """How shared state behaves, above all when Redis cannot be reached."""
    deployments: tuple[dict[str, Any], ...] = Field(min_length=1)
    """The models the router may use, one `[[deployments]]` table each."""
    budgets: tuple[dict[str, Any], ...] = ()
    """USD limits per tenant (and tag) per day or month, one `[[budgets]]` table each."""


_ARRAYS_OF_TABLES = ("deployments", "budgets")


def _table(name: str) -> str:
    return f"[[{name}]]" if name in _ARRAYS_OF_TABLES else f"[{name}]"


def check_top_level(raw: Mapping[str, Any], source: str) -> None:
    """An unknown top-level table or key is an error with a did-you-mean, raised before
    anything else (a misspelt `[[deployment]]` would otherwise read as "no deployments")."""
    known = fields_of(ConfigFile)
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


def check_wiring(cfg: ConfigFile, source: str, base: Path) -> None:
    """What a Router built from this file would refuse, said in the file's terms: the
    same checks `Router(...)` makes on its arguments, so `python -m router check` fails
    for every config that would fail at construction."""
    r = cfg.router
    redis = r.state != "local"
    if cfg.budgets and r.ledger is None and not redis:
        raise ConfigError(
            source,
            "budgets",
            '[[budgets]] needs [router] ledger = "ledger.sqlite" (budgets are counted in '
            'the ledger), or [router] state = "redis://127.0.0.1:6379/0" to count them in Redis',
        )
    if r.cache and not redis:
        raise ConfigError(
            source,
            "router.cache",
            "cache = true shares answers through Redis: also write "
            'state = "redis://127.0.0.1:6379/0" under [router], or remove cache = true',
        )
    if redis and importlib.util.find_spec("redis") is None:
        raise ConfigError(
            source,
            "router.state",
            "Redis state needs redis-py: pip install 'freefirst-router[redis]'",
        )
    if r.ledger is not None and (base / r.ledger).is_dir():
        raise ConfigError(
            source,
            "router.ledger",
            f"{r.ledger!r} is a directory; write a file path, e.g. ledger = "
            f'"{Path(r.ledger) / "ledger.sqlite"}"',
        )
    if r.calibration is not None and not (base / r.calibration).is_file():
        raise ConfigError(
            source,
            "router.calibration",
            f"{r.calibration!r} not found (looked for {base / r.calibration}); write it with "
            "`python -m router calibrate` or remove calibration",
        )


@dataclass(frozen=True)
class Config:
    """A loaded config: deployments with every fact filled, the policy, planner settings."""

    source: str
    deployments: tuple[Deployment, ...]
    policy: Policy
    settings: Settings
    baseline: str | None
    ledger: Path | None = None
    """The ledger file, relative paths taken from the config file's folder."""
    budgets: tuple[Budget, ...] = ()
    store_prompts: bool = False
    calibration: Path | None = None
    """The quality calibration file (`python -m router calibrate`), relative to the config."""
    state: str = "local"
    """Where shared state lives: "local" or a Redis URL (`[router] state`)."""
    state_settings: StateSettings = field(default_factory=StateSettings)
    cache: bool = False
    """`[router] cache = true`: share cached answers through Redis."""
    warmup: bool | Literal["background"] = False
    """`[router] warmup`: pay the first call's cost at start-up (see `Router.warmup`)."""


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
    raw = read_toml(path)
    check_top_level(raw, source)
    try:
        cfg = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        top = str(err["loc"][0]) if err["loc"] else ""
        known = {
            "router": fields_of(RouterSection),
            "detectors": list(ConfigFile.model_fields),
            "cascade": fields_of(CascadeSettings),
            "state": fields_of(StateSettings),
        }.get(top, fields_of(ConfigFile))
        if len(err["loc"]) == 1:
            known = fields_of(ConfigFile)
        raise_config_error(source, exc, "", known)
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
        paid_share=settings_in.paid_share,
        quality_value_usd=settings_in.quality_value_usd,
        default_max_tokens=settings_in.default_max_tokens,
        detector_levels={**Settings().detector_levels, **cfg.detectors},
        mode=settings_in.mode,
        cascade=cfg.cascade,
    )
    budgets = parse_budgets(cfg.budgets, source)
    check_wiring(cfg, source, path.parent)
    return Config(
        source=source,
        deployments=deployments,
        policy=policy,
        settings=settings,
        baseline=settings_in.baseline,
        ledger=None if settings_in.ledger is None else path.parent / settings_in.ledger,
        budgets=budgets,
        store_prompts=settings_in.store_prompts,
        warmup=settings_in.warmup,
        calibration=None
        if settings_in.calibration is None
        else path.parent / settings_in.calibration,
        state=settings_in.state,
        state_settings=cfg.state
        if cfg.state.directory is None
        else cfg.state.model_copy(update={"directory": str(path.parent / cfg.state.directory)}),
        cache=settings_in.cache,
    )
