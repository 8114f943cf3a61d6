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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class RouterSection(_Frozen):
    policy: str = "free-first"
    policy_vars: dict[str, Any] = Field(default_factory=dict)
    objective: ObjectiveName = "free-first"
    mode: Mode = "route"
    quality_target: float = Field(default=0.9, gt=0, le=1)
    paid_share: float = Field(default=PAID_SHARE, ge=0, le=1)
    quality_value_usd: float = Field(default=0.01, ge=0)
    default_max_tokens: int = Field(default=1024, gt=0)
    baseline: str | None = None
    state: str = Field(default="local", pattern=r"^(local|redis://.*|rediss://.*|unix://.*)$")
    cache: StrictBool = False  # TOML has booleans: "yes" is a typo, not True
    ledger: str | None = None
    store_prompts: StrictBool = False
    calibration: str | None = None


class ConfigFile(_Frozen):
    router: RouterSection = Field(default_factory=RouterSection)
    detectors: dict[DetectorKind, Sensitivity] = Field(default_factory=dict)
    cascade: CascadeSettings = Field(default_factory=CascadeSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    deployments: tuple[dict[str, Any], ...] = Field(min_length=1)
    budgets: tuple[dict[str, Any], ...] = ()


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
    return Config(
        source=source,
        deployments=deployments,
        policy=policy,
        settings=settings,
        baseline=settings_in.baseline,
        ledger=None if settings_in.ledger is None else path.parent / settings_in.ledger,
        budgets=parse_budgets(cfg.budgets, source),
        store_prompts=settings_in.store_prompts,
        calibration=None
        if settings_in.calibration is None
        else path.parent / settings_in.calibration,
        state=settings_in.state,
        state_settings=cfg.state
        if cfg.state.directory is None
        else cfg.state.model_copy(update={"directory": str(path.parent / cfg.state.directory)}),
        cache=settings_in.cache,
    )
