"""The config as one pydantic tree: `RouterConfig`, what `Router(...)` takes.

Each table of a config file is one section of the tree, and each section is defined
once: `[router]` (`RouterSection`), `[retry]` (`RetrySettings`) and `[cooldown]`
(`CooldownSettings`) here; `[cascade]` in `router.decision._verify` (`CascadeSettings`), `[state]`
in `router.state.settings` (`StateSettings`), `[[deployments]]` in `router.decision._catalog`
(`DeploymentSpec`), `[[budgets]]` in `router.decision._budgets` (`Budget`), `[server]` in
`router.decision._server` (`ServerSettings`). Each key's docstring is
its documentation: `scripts/config_reference.py` writes docs/config.md from them.

`Router(...)` takes a tree (`config=`) and keywords named after the tree's fields: a
`[router]` key by its name (`objective="best"`), any other table by its name
(`cascade={...}`, `retry={...}`, `deployments=[...]`), except `[state]`, which is
`state_settings=` (`state=` is `[router] state`). A key added to a section is thus a
keyword at once. `Router.from_config(path)` is `Router(config=RouterConfig.load(path))`.

The planner reads a view of the tree, `Settings` (`RouterConfig.settings`): the
`[router]` keys it uses (declared once, in `PlannerKeys`), the `[cascade]` table and the
detector levels (`[detectors]` over the defaults).

>>> tree = RouterConfig(deployments=[{"name": "gpt-4o", "model": "gpt-4o"}])
>>> tree.router.objective, tree.retry.attempts, tree.settings.quality_target
('free-first', 3, 0.9)
>>> merged(tree, {"objective": "best", "retry": {"attempts": 1}}).settings.objective
'best'
"""

from __future__ import annotations

import dataclasses
import difflib
import random
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    PrivateAttr,
    StrictBool,
    Tag,
    ValidationError,
)

from router._models import Deployment, DetectorKind, Sensitivity
from router._validation import Section, _explain, _key, clean_loc
from router.decision._budgets import Budget, parse_budgets
from router.decision._catalog import DeploymentSpec
from router.decision._features import DEFAULT_DETECTOR_LEVELS
from router.decision._params import MAX_TIMEOUT_S
from router.decision._scoring import ObjectiveName
from router.decision._server import ServerSettings
from router.decision._verify import CascadeSettings
from router.errors import ConfigError, ProviderError
from router.state.settings import StateSettings

__all__ = [
    "PAID_SHARE",
    "PYTHON",
    "CooldownSettings",
    "DeploymentEntry",
    "Mode",
    "Origin",
    "PlannerKeys",
    "RetrySettings",
    "RouterConfig",
    "RouterSection",
    "Settings",
    "config_error",
    "keywords",
    "known_keys",
    "merged",
]

PAID_SHARE = 0.3
"""`free-first` pays for the 30% of requests where paying is predicted to gain the most,
ranked against reference traffic; the rest go to the best free deployment (see
`[router] paid_share`)."""

Mode = Literal["route", "cascade"]
"""How a Router serves a plan: `route` calls it in order (fallback on errors only);
`cascade` asks the best free deployment first and escalates to a paid one when the
verifier doubts the answer (see `router.serving._cascade`)."""


class PlannerKeys(Section):
    """The `[router]` keys the planner reads (declared here once: `RouterSection` and the
    planner's `Settings` both extend this)."""

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


class RouterSection(PlannerKeys):
    """The `[router]` table: the policy, how the planner chooses, where state is kept."""

    policy: str = "free-first"
    """A shipped policy pack (`python -m router packs` lists them) or a path to a .toml
    pack, relative to the config file."""
    policy_vars: dict[str, Any] = Field(default_factory=dict)
    """Values for the pack's `[vars]`, e.g. `{ allowed_regions = ["eu-*"] }`; a name no
    pack in the chain declares or uses is an error."""
    baseline: str | None = None
    """A deployment name or a priced catalog model (e.g. "gpt-4o") that savings are
    measured against."""
    timeout: float = Field(default=60.0, gt=0, le=MAX_TIMEOUT_S)
    """Seconds one request may take in all, retries and fallback included, when the call
    does not pass `timeout=`."""
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
    metrics: StrictBool = False
    """Count requests, latency, overhead, cost, savings, breakers and budgets as Prometheus
    metrics (needs `pip install 'freefirst-router[metrics]'`); `router.observe.
    render_metrics()` renders them for a `/metrics` endpoint. Labels never hold prompt
    text, keys or request ids; tenants not named in `[[budgets]]` are counted as "other"."""
    tracing: StrictBool = True
    """OpenTelemetry spans (GenAI conventions) for each request, provider call and cascade
    verification, when opentelemetry-api is installed and the application set a tracer
    provider; false: never. Spans carry no prompt or answer text."""


class RetrySettings(Section):
    """The `[retry]` table: how hard one deployment is tried before the plan's next one.

    Only errors that may pass are retried (rate limits, timeouts, 5xx, dropped
    connections); the request's `timeout` bounds every try and wait together."""

    attempts: int = Field(default=3, ge=1)
    """Tries of one deployment, the first included, before falling back to the next
    deployment of the plan (1: no retry)."""
    initial_wait: float = Field(default=0.2, ge=0)
    """Seconds before the second try; each further wait doubles (exponential backoff)."""
    max_wait: float = Field(default=5.0, ge=0)
    """The longest wait between two tries, in seconds."""
    jitter: float = Field(default=0.2, ge=0, le=1)
    """A random share added to each wait (0.2: up to 20% longer), so that many clients do
    not retry in step."""
    max_retry_after: float = Field(default=30.0, ge=0)
    """The longest a provider's Retry-After is waited for, in seconds (a longer one is cut
    to this)."""

    def wait(self, tries: int, exc: ProviderError, rng: random.Random) -> float:
        """Seconds before try `tries + 1`: the provider's Retry-After (capped), else the
        exponential backoff with jitter."""
        if exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        backoff = min(self.max_wait, self.initial_wait * 2.0 ** (tries - 1))
        return float(backoff + rng.uniform(0, self.jitter * backoff))


class CooldownSettings(Section):
    """The `[cooldown]` table: when a failing deployment is benched (its breaker opens),
    and for how long."""

    threshold: int = Field(default=5, ge=1)
    """Consecutive failures that say the deployment is unhealthy (timeouts, rate limits,
    5xx, unreachable; not a bad request, nor missing or rejected credentials) that open
    its breaker."""
    seconds: float = Field(default=30.0, gt=0)
    """How long an open breaker benches the deployment; then one request probes it
    (half-open) and its answer closes or reopens the breaker."""


def _shared_start(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share ("retries", "retry": 4)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _deployment_kind(value: object) -> str:
    return "resolved" if isinstance(value, Deployment) else "spec"


DeploymentEntry = Annotated[
    Annotated[DeploymentSpec, Tag("spec")] | Annotated[Deployment, Tag("resolved")],
    Discriminator(_deployment_kind),
]
"""A `[[deployments]]` table, or (from Python) a Deployment whose facts are all known."""
_TAGS = ("spec", "resolved")


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a tree comes from: what errors name, and the folder relative paths in it
    (ledger, calibration, a policy pack, `[state] directory`) are taken from."""

    source: str = "Router(...)"
    """The config file (or "Router(...)") every ConfigError names."""
    base: Path | None = None
    """The config file's folder; None: the working directory."""
    file_terms: bool = False
    """Errors say what to write in TOML (`[router] ledger = ...`), not in Python."""


PYTHON = Origin()
"""A tree made in Python (`Router(...)`, `RouterConfig(...)`)."""


class RouterConfig(Section):
    """A config file: the tables below; only `[[deployments]]` is required."""

    router: RouterSection = Field(default_factory=RouterSection)
    """Policy, objective, mode, the default timeout and where state is kept."""
    detectors: dict[DetectorKind, Sensitivity] = Field(default_factory=dict)
    """The sensitivity each detector's finding raises a request to, e.g. `email = "public"`.
    Kinds: email, phone, payment_card, iban, national_id, api_key, private_key; levels:
    public, internal, confidential, restricted."""
    cascade: CascadeSettings = Field(default_factory=CascadeSettings)
    """How `mode = "cascade"` verifies a free answer before paying."""
    state: StateSettings = Field(default_factory=StateSettings)
    """How shared state behaves, above all when Redis cannot be reached."""
    retry: RetrySettings = Field(default_factory=RetrySettings)
    """How often one deployment is tried, and how long between tries, before falling back."""
    cooldown: CooldownSettings = Field(default_factory=CooldownSettings)
    """When a failing deployment is benched, and for how long."""
    deployments: tuple[DeploymentEntry, ...] = Field(min_length=1)
    """The models the router may use, one `[[deployments]]` table each."""
    budgets: tuple[Budget, ...] = ()
    """USD limits per tenant (and tag) per day or month, one `[[budgets]]` table each."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    """`python -m router serve`: where it listens, client keys and their tenants, the
    model names clients may send."""

    _origin: Origin = PrivateAttr(default=PYTHON)

    @classmethod
    def load(cls, path: str | Path) -> RouterConfig:
        """Read a TOML config file into a tree (`router.decision._config.load_tree`): every mistake
        is a ConfigError naming the file, the key and what to write."""
        from router.decision._config import load_tree  # noqa: PLC0415  (config imports this module)

        return load_tree(path)

    @property
    def origin(self) -> Origin:
        return self._origin

    @property
    def source(self) -> str:
        """What errors name: the config file, or "Router(...)"."""
        return self._origin.source

    def with_origin(self, origin: Origin) -> RouterConfig:
        tree = self.model_copy()
        tree._origin = origin
        return tree

    def path(self, value: str | None) -> Path | None:
        """A path of the tree, relative ones taken from the config file's folder."""
        if value is None:
            return None
        base = self._origin.base
        return Path(value) if base is None else base / value

    @property
    def settings(self) -> Settings:
        """The planner's view of the tree."""
        return Settings.of(self)


class Settings(PlannerKeys):
    """The planner's view of a `RouterConfig` (`RouterConfig.settings`): the `[router]`
    keys it reads, how the plan is served (`mode`, the `[cascade]` table) and the
    sensitivity each detector's finding raises a request to (`[detectors]` over
    `router.decision._features.DEFAULT_DETECTOR_LEVELS`)."""

    cascade: CascadeSettings = Field(default_factory=CascadeSettings)
    """The `[cascade]` table."""
    detector_levels: Mapping[DetectorKind, Sensitivity] = Field(
        default_factory=lambda: dict(DEFAULT_DETECTOR_LEVELS)
    )
    """Every detector kind's level: `[detectors]` over the defaults."""

    @classmethod
    def of(cls, tree: RouterConfig) -> Settings:
        keys = {name: getattr(tree.router, name) for name in PlannerKeys.model_fields}
        levels = {**DEFAULT_DETECTOR_LEVELS, **tree.detectors}
        return cls(**keys, cascade=tree.cascade, detector_levels=levels)

    def as_keywords(self) -> dict[str, Any]:
        """This view as `Router(...)` keywords (how `Router(settings=...)` is applied)."""
        keys = {name: getattr(self, name) for name in PlannerKeys.model_fields}
        return {**keys, "cascade": self.cascade, "detectors": dict(self.detector_levels)}


# -- Router(...) keywords -------------------------------------------------------------

_SECTION_KEYWORD = {"state": "state_settings"}
"""The `[state]` table's keyword: `state=` is `[router] state` (kept from before the tree)."""


def keywords() -> dict[str, tuple[str, ...]]:
    """Every keyword `Router(...)` takes for the tree -> where it goes: `("router", key)`
    for a `[router]` key, `(table,)` for any other table."""
    out: dict[str, tuple[str, ...]] = {
        name: ("router", name) for name in RouterSection.model_fields
    }
    for name in RouterConfig.model_fields:
        if name != "router":
            out[_SECTION_KEYWORD.get(name, name)] = (name,)
    return out


def _fields(model: BaseModel) -> dict[str, Any]:
    """A model's fields as they are (nested models stay models: nothing re-validates)."""
    return {name: getattr(model, name) for name in type(model).model_fields}


def _section(current: object, value: object, kind: object) -> object:
    """A table given as a keyword: a mapping is laid over the current table, a model of
    the table's own type replaces it, another object with the same attribute names (a
    `RetryPolicy`, a `CooldownPolicy`) is read by attribute."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        if isinstance(value, kind):
            return value
        base = _fields(current) if isinstance(current, BaseModel) else {}
        if isinstance(value, Mapping):
            return {**base, **value}
        if isinstance(value, BaseModel) or dataclasses.is_dataclass(value):
            given = {n: getattr(value, n) for n in kind.model_fields if hasattr(value, n)}
            return {**base, **given}
        return value
    if isinstance(value, Mapping) and isinstance(current, Mapping):
        return {**current, **value}
    return value


def merged(tree: RouterConfig | None, overrides: Mapping[str, Any]) -> RouterConfig:
    """`tree` (None: every default) with `Router(...)` keywords laid over it, validated;
    a mistake is a ConfigError naming the keyword (source "Router(...)")."""
    where = keywords()
    for name in overrides:
        if name not in where:
            close = sorted(  # of the close names, the one sharing the longest start
                difflib.get_close_matches(name, where, n=3),
                key=lambda known: -_shared_start(name, known),
            )
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(where))}"
            raise ConfigError(PYTHON.source, name, f"unknown keyword; {hint}")
    data: dict[str, Any] = {} if tree is None else _fields(tree)
    router: dict[str, Any] = {} if tree is None else _fields(tree.router)
    for name, value in overrides.items():
        path = where[name]
        plain = str(value) if isinstance(value, PurePath) else value
        if path[0] == "router":
            router[path[1]] = plain
        elif path[0] == "budgets" and isinstance(plain, list | tuple):
            data["budgets"] = parse_budgets(plain, PYTHON.source)  # budgets[i].key
        else:
            kind = RouterConfig.model_fields[path[0]].annotation
            data[path[0]] = _section(data.get(path[0]), plain, kind)
    data["router"] = router
    try:
        out = RouterConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, PYTHON) from None
    return out if tree is None else out.with_origin(tree.origin)


# -- errors -----------------------------------------------------------------------------


def _model_of(annotation: object) -> type[BaseModel] | None:
    """The model a field holds (in a tuple or a union: the first; `DeploymentSpec` for a
    `DeploymentEntry`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def known_keys(loc: tuple[int | str, ...] | list[int | str]) -> list[str]:
    """The keys that could stand where the last part of `loc` stands (for did-you-mean)."""
    model: type[BaseModel] = RouterConfig
    for part in loc[:-1]:
        if isinstance(part, int) or part in _TAGS:
            continue
        field = model.model_fields.get(part)
        inner = None if field is None else _model_of(field.annotation)
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _loc(err: Any) -> list[int | str]:
    loc = clean_loc(err)
    if len(loc) > 2 and loc[0] == "deployments" and loc[2] in _TAGS:
        del loc[2]
    return loc


def config_error(exc: ValidationError, origin: Origin) -> ConfigError:
    """The first error of `exc` as a ConfigError in the origin's terms: the TOML key
    (`router.objective`, `state.timeout_ms`) or the `Router(...)` keyword (`objective`,
    `state_settings.timeout_ms`)."""
    err = exc.errors()[0]
    loc = _loc(err)
    message = _explain({**err, "loc": tuple(loc)}, known_keys(loc))
    if not origin.file_terms and loc:
        if loc == ["deployments"] and err["type"] in ("missing", "too_short"):
            message = "give at least one deployment"
        if loc[0] == "router" and len(loc) > 1:
            loc = loc[1:]
        elif isinstance(loc[0], str):
            loc = [_SECTION_KEYWORD.get(loc[0], loc[0]), *loc[1:]]
    return ConfigError(origin.source, _key(loc), message)
