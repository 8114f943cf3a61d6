"""Facts about models, and turning a config entry into a fully known Deployment.

Prices, context windows and capabilities come from litellm's bundled price map,
read as JSON without importing litellm (which costs ~2.4 s and may reach the
network). Provenance and a quality prior per model family come from
`router/data/families.toml`. A deployment's own fields override both; what
nobody states and nobody knows is an error, never a silent guess.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import re
import tomllib
from collections.abc import Mapping
from fnmatch import fnmatchcase, translate
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router._models import (
    IMAGE_TOKENS,
    Capability,
    Client,
    CostModel,
    Deployment,
    Hosting,
    Weights,
)
from router.errors import ConfigError, UnknownModelError

__all__ = [
    "LITELLM_PARAMS",
    "LONG_CONTEXT_TOKENS",
    "DeploymentSpec",
    "Family",
    "ModelFacts",
    "check_call_params",
    "families",
    "family_of",
    "image_tokens_of",
    "lookup",
    "models",
    "price_map_path",
    "resolve",
]

LONG_CONTEXT_TOKENS = 32_768
"""A request needs `long_context` above this many tokens; deployments with at least
this window offer it."""

DEFAULT_QUALITY = 0.5
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
_DATA = Path(__file__).parent.parent / "data"

SpecCapability = Literal["tools", "vision", "json", "json_schema"]

# Models whose image rule counts more than the general bound (`router._models.IMAGE_TOKENS`),
# matched on the lower-cased base name, first match wins. OpenAI: gpt-4o-mini's tiles
# (2,833 + 8 tiles x 5,667), the patch models at their multiplier (1,536 patches x 2.46 for
# the nano models, x 1.72 for o4-mini). Gemini: 768-pixel tiles of 258 tokens on an image
# scaled to fit 3,072 pixels (16 tiles).
_IMAGE_TOKENS_BY_MODEL: tuple[tuple[str, int], ...] = (
    ("gpt-4o-mini*", 48_169),
    ("gpt-4.1-nano*", 3_779),
    ("gpt-5-nano*", 3_779),
    ("o4-mini*", 2_642),
    ("gemini*", 4_128),
)


LITELLM_PARAMS = (
    "organization",
    "custom_llm_provider",
    "drop_params",
    "extra_body",
    "reasoning_effort",
    "service_tier",
    "thinking",
    "base_model",
    "deployment_id",
    "vertex_project",
    "vertex_location",
    "aws_region_name",
    "aws_profile_name",
    "aws_role_name",
    "aws_session_name",
    "aws_bedrock_runtime_endpoint",
)
"""The `litellm.completion` keyword arguments a deployment's `litellm_params` may set.
Secrets are not among them: litellm reads the provider's own environment variables."""

_RETRIES = "write attempts = N under [retry] (the router retries; litellm's retries stay off)"
# litellm arguments the router sets itself, and what to write instead
_ROUTER_OWNS = {
    "model": 'write model = "..." on the deployment',
    "messages": "the messages are the request's",
    "api_key": 'write api_key_env = "ENV_VAR_NAME" (never the key itself)',
    "api_base": 'write api_base = "..." on the deployment',
    "base_url": 'write api_base = "..." on the deployment',
    "api_version": 'write api_version = "..." on the deployment',
    "extra_headers": "write extra_headers = { ... } on the deployment (secrets: extra_headers_env)",
    "headers": "write extra_headers = { ... } on the deployment (secrets: extra_headers_env)",
    "timeout": "write timeout = SECONDS under [router], or pass timeout= to the call",
    "request_timeout": "write timeout = SECONDS under [router], or pass timeout= to the call",
    "num_retries": _RETRIES,
    "max_retries": _RETRIES,
    "caching": "write cache = true under [router] (litellm's cache stays off)",
    "stream": "call Router.stream (the router sets stream)",
    "stream_options": "call Router.stream (the router sets stream_options)",
    "fallbacks": "fallback stays inside the plan: add a [[deployments]] table",
    "context_window_fallbacks": "fallback stays inside the plan: add a [[deployments]] table",
    "mock_response": "test with router.testing.FaultServer or a Backend of your own",
}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "credential")


def _looks_secret(text: str) -> bool:
    """A value the secret detectors flag (an API key, a private key)."""
    from router.decision._detectors import detect  # noqa: PLC0415  (only configs with such values)

    found = detect(text)
    return bool(found.get("api_key") or found.get("private_key"))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _headers_problem(headers: Mapping[str, str]) -> str | None:
    """What is wrong with `extra_headers` (never quoting a value), else None."""
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            return f"{name!r} is not a header name; write letters, digits and - only"
        credential = any(word in name.lower() for word in _CREDENTIAL_WORDS)
        if credential or _looks_secret(value):
            return (
                f"header {name!r} carries a credential, and secrets are never written in "
                f'config files: write extra_headers_env = {{ "{name}" = "ENV_VAR_NAME" }} '
                "and set that environment variable"
            )
        if any(c in value for c in "\r\n\0"):
            return f"the value of header {name!r} holds a line break; write it on one line"
    return None


def _headers_env_problem(headers: Mapping[str, str]) -> str | None:
    for name, env in headers.items():
        if not _HEADER_NAME.match(name):
            return f"{name!r} is not a header name; write letters, digits and - only"
        if not _ENV_NAME.match(env):
            return (
                f"the value for header {name!r} must name an environment variable, e.g. "
                f'{{ "{name}" = "GATEWAY_KEY" }}; never the secret itself'
            )
    return None


def _params_problem(params: Mapping[str, Any]) -> str | None:
    for key, value in params.items():
        if key in _ROUTER_OWNS:
            return f"{key!r} is the router's to set: {_ROUTER_OWNS[key]}"
        if key not in LITELLM_PARAMS:
            close = difflib.get_close_matches(key, LITELLM_PARAMS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            return (
                f"{key!r} is not passed to litellm from a config; {hint}"
                f"allowed: {', '.join(LITELLM_PARAMS)}"
            )
        if any(_looks_secret(s) for s in _strings(value)) or any(
            word in s.lower() for s in _strings(value) for word in ("api_key", "secret")
        ):
            return (
                f"{key!r} carries a credential, and secrets are never written in config "
                "files: litellm reads each provider's key from its environment variable"
            )
    return None


def call_params_problem(
    extra_headers: Mapping[str, str],
    extra_headers_env: Mapping[str, str],
    litellm_params: Mapping[str, Any],
) -> tuple[str, str] | None:
    """(key, what to write) for the first problem with what a deployment adds to each
    litellm call, or None."""
    for key, problem in (
        ("extra_headers", _headers_problem(extra_headers)),
        ("extra_headers_env", _headers_env_problem(extra_headers_env)),
        ("litellm_params", _params_problem(litellm_params)),
    ):
        if problem is not None:
            return key, problem
    return None


def check_call_params(deployment: Deployment, source: str, key: str) -> None:
    """`call_params_problem` for a Deployment made in Python, as a ConfigError."""
    found = call_params_problem(
        deployment.extra_headers, deployment.extra_headers_env, deployment.litellm_params
    )
    if found is not None:
        raise ConfigError(source, f"{key}.{found[0]}", found[1])


class DeploymentSpec(BaseModel):
    """A deployment as written in the config: everything optional that the catalog can fill."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@/+-]+$")
    """Unique name of this deployment: what decisions, the ledger and policy rules say."""
    model: str = Field(min_length=1)
    """The litellm model string, e.g. "gpt-4o", "deepseek/deepseek-chat" or
    "openai/qwen2.5-7b-instruct" for an OpenAI-compatible server
    (`python -m router catalog GLOB` lists the known ones)."""
    api_base: str | None = None
    """The server's URL, e.g. "http://127.0.0.1:8080/v1"; a loopback address means
    hosting = "local" for open weights."""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The environment variable holding the API key, e.g. "OPENAI_API_KEY" (never the
    key itself)."""
    hosting: Hosting | None = None
    """Where it runs: "local", "self-hosted" or "api". Default: "api" for closed weights
    and catalog models, "local" for a loopback api_base."""
    weights: Weights | None = None
    """"open" or "closed". Default: from the model's family (`python -m router catalog`)."""
    vendor: str | None = None
    """Who made the model, e.g. "meta". Default: from the model's family."""
    origin: str | None = None
    """The country the model comes from, e.g. "US". Default: from the model's family."""
    region: str | None = None
    """Where the deployment processes data, e.g. "eu-west"; an allow rule on region denies
    a deployment that does not state it."""
    license: str | None = None
    """The model's licence, e.g. "apache-2.0". Default: from the model's family."""
    context_window: int | None = Field(default=None, gt=0)
    """Tokens the model reads (prompt and output). Default: from litellm's price map;
    required for a model it does not know."""
    max_output_tokens: int | None = Field(default=None, gt=0)
    """The most tokens one answer may have. Default: from litellm's price map."""
    capabilities: tuple[SpecCapability, ...] | None = None
    """What it can do, from "tools", "vision", "json", "json_schema" (long_context follows
    from the window). Default: from litellm's price map, else none."""
    input_cost_per_mtok: float | None = Field(default=None, ge=0)
    """USD per 1M input tokens. Default: from litellm's price map; free when not an API."""
    output_cost_per_mtok: float | None = Field(default=None, ge=0)
    """USD per 1M output tokens; give both prices or neither."""
    cost_model: CostModel | None = None
    """What running it yourself costs, turned into a per-token price:
    `{ usd_per_hour = 2.0, output_tokens_per_second = 40 }` (instead of the two prices)."""
    quality: float | None = Field(default=None, ge=0, le=1)
    """A quality prior between 0 and 1. Default: the family's prior, else 0.5."""
    image_tokens: int | None = Field(default=None, gt=0)
    """The most input tokens one image may count as. Default: the model's rule if known."""
    api_version: str | None = Field(default=None, min_length=1)
    """The API version the provider wants, e.g. "2024-10-21" for Azure OpenAI (passed to
    litellm as `api_version`)."""
    extra_headers: dict[str, str] = Field(default_factory=dict)
    """HTTP headers sent with every call, e.g. `{ "OpenAI-Beta" = "assistants=v2" }`.
    Nothing secret: a header whose name or value looks like a credential is refused
    (write it in `extra_headers_env`)."""
    extra_headers_env: dict[str, str] = Field(default_factory=dict)
    """HTTP headers whose values are read from environment variables when a call is made,
    e.g. `{ "X-Gateway-Key" = "GATEWAY_KEY" }` (the variable's name, never the secret)."""
    litellm_params: dict[str, Any] = Field(default_factory=dict)
    """Further `litellm.completion` arguments this deployment needs, e.g.
    `{ vertex_project = "my-project", vertex_location = "europe-west4" }`, from an
    allow-list (`LITELLM_PARAMS`); a request's own parameter wins over the one here. What
    the router sets itself (model, messages, api_key, api_base, timeout, retries,
    caching, stream) is refused with what to write instead."""

    client: Literal["auto", "litellm", "direct"] = "auto"
    """How calls are made. "direct": the router speaks the OpenAI chat-completions HTTP API
    to `api_base` itself, for OpenAI-compatible servers (llama.cpp, vLLM, Ollama, TGI, LM
    Studio): about a tenth of litellm's CPU per call, the same errors and retries.
    "litellm": through litellm, which knows every provider and reports a paid API's cost.
    "auto" (the default): direct for a local or self-hosted `openai/...` model with an
    `api_base` and no `api_version` or `litellm_params`, litellm for everything else."""

    def resolved_client(self, hosting: Hosting) -> Client:
        """The client "auto" stands for at this `hosting` (see `client`)."""
        if self.client != "auto":
            return self.client
        plain = self.api_version is None and not self.litellm_params
        own = hosting != "api" and self.model.startswith("openai/") and bool(self.api_base)
        return "direct" if own and plain else "litellm"

    @model_validator(mode="after")
    def _direct(self) -> DeploymentSpec:
        if self.client != "direct":
            return self
        if not self.api_base:
            raise ValueError(
                'client = "direct" needs api_base = "http://host:port/v1" (the OpenAI-'
                'compatible server); or write client = "litellm"'
            )
        if self.api_version is not None or self.litellm_params:
            raise ValueError(
                'client = "direct" sends no api_version or litellm_params: remove them, '
                'or write client = "litellm"'
            )
        return self

    @field_validator("extra_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        problem = _headers_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("extra_headers_env")
    @classmethod
    def _headers_env(cls, value: dict[str, str]) -> dict[str, str]:
        problem = _headers_env_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("litellm_params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = _params_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class ModelFacts(BaseModel):
    """What litellm's price map says about one model."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    key: str
    provider: str | None
    input_usd_per_token: float | None
    output_usd_per_token: float | None
    context_window: int | None
    max_output_tokens: int | None
    capabilities: frozenset[Capability]


class Family(BaseModel):
    """Provenance and quality prior for a family of models (`router/data/families.toml`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    match: tuple[str, ...]
    vendor: str
    weights: Weights
    origin: str
    license: str
    quality: float = Field(ge=0, le=1)


@functools.cache
def price_map_path() -> Path | None:
    """Where litellm's bundled price map lies, found without importing litellm (once)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)))
    path = path / "model_prices_and_context_window_backup.json"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=4)
def _price_map(path: Path | None) -> Mapping[str, Mapping[str, Any]]:
    if path is None:
        return {}
    with path.open("rb") as f:
        data: dict[str, Any] = json.load(f)
    return {k: v for k, v in data.items() if isinstance(v, dict) and k != "sample_spec"}


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and value >= 0 else None


def lookup(model: str, path: Path | None = None) -> ModelFacts | None:
    """Facts for a litellm model string (`gpt-4o`, `deepseek/deepseek-chat`...), or None."""
    table = _price_map(path if path is not None else price_map_path())
    entry = table.get(model)
    if entry is not None:
        return _facts(model, entry)
    # "openai/gpt-4o" is the map's "gpt-4o" only if that entry is OpenAI's own: another
    # provider's "gpt-4o" has other prices.
    provider, _, rest = model.partition("/")
    entry = table.get(rest) if rest else None
    if entry is not None and entry.get("litellm_provider") == provider:
        return _facts(rest, entry)
    return None


def _facts(key: str, entry: Mapping[str, Any]) -> ModelFacts:
    caps: set[Capability] = set()
    if entry.get("supports_function_calling"):
        caps.add("tools")
    if entry.get("supports_vision"):
        caps.add("vision")
    if entry.get("supports_response_schema"):
        caps.update(("json", "json_schema"))
    provider = entry.get("litellm_provider")
    return ModelFacts(
        key=key,
        provider=provider if isinstance(provider, str) else None,
        input_usd_per_token=_float_or_none(entry.get("input_cost_per_token")),
        output_usd_per_token=_float_or_none(entry.get("output_cost_per_token")),
        context_window=_int_or_none(entry.get("max_input_tokens"))
        or _int_or_none(entry.get("max_tokens")),
        max_output_tokens=_int_or_none(entry.get("max_output_tokens")),
        capabilities=frozenset(caps),
    )


@functools.lru_cache(maxsize=1)
def _families() -> tuple[tuple[re.Pattern[str], Family], ...]:
    with (_DATA / "families.toml").open("rb") as f:
        raw = tomllib.load(f)
    out = []
    for entry in raw["family"]:
        family = Family.model_validate(entry)
        pattern = re.compile("|".join(translate(g) for g in family.match))
        out.append((pattern, family))
    return tuple(out)


def families() -> tuple[Family, ...]:
    """Every model family of `router/data/families.toml`, in file order."""
    return tuple(f for _, f in _families())


_CHAT_MODES = {"chat", "completion", "responses"}


def models(pattern: str = "*", path: Path | None = None) -> list[ModelFacts]:
    """The chat models of litellm's price map whose name (`gpt-4o`) or provider-qualified
    name (`openai/gpt-4o`) matches the glob `pattern`, case-insensitive, sorted by name.
    Embedding, image and audio models are left out: the router plans chat requests."""
    glob = pattern.lower()
    out = []
    for key, entry in _price_map(path if path is not None else price_map_path()).items():
        if entry.get("mode", "chat") not in _CHAT_MODES:
            continue
        provider = entry.get("litellm_provider")
        names = [key.lower()]
        if isinstance(provider, str) and not key.startswith(f"{provider}/"):
            names.append(f"{provider}/{key}".lower())
        if any(fnmatchcase(n, glob) for n in names):
            out.append(_facts(key, entry))
    return sorted(out, key=lambda f: f.key)


def family_of(model: str) -> Family | None:
    """The family a model string belongs to, matched on its lower-cased base name."""
    base = model.rsplit("/", 1)[-1].lower()
    for pattern, family in _families():
        if pattern.match(base):
            return family
    return None


def _infer_hosting(
    spec: DeploymentSpec, facts: ModelFacts | None, family: Family | None
) -> Hosting | None:
    """Where a deployment runs when its entry does not say (`hosting` unset).

    Closed weights are an API whatever the address: nobody but the vendor runs them, so
    `http://127.0.0.1:4000` in front of `gpt-4o` is a proxy (LiteLLM, a corporate
    gateway), not a local model, and confidential data sent there leaves your machines.
    Otherwise a loopback `api_base` is local, a known model without one is an API, and
    anything else is unknown (the caller asks the user to write `hosting`)."""
    if spec.hosting is not None:
        return spec.hosting
    weights = spec.weights or (family.weights if family else None)
    if weights == "closed":
        return "api"
    if spec.api_base is not None:
        host = urlparse(spec.api_base).hostname or ""
        return "local" if host in _LOOPBACK else None
    return "api" if facts is not None else None


def resolve(spec: DeploymentSpec, source: str, key: str) -> Deployment:
    """Fill a deployment's facts from the catalog; raise ConfigError naming what to write.

    `source` is the config file (for messages), `key` the entry's path, e.g. `deployments[2]`.
    """
    facts = lookup(spec.model)
    family = family_of(spec.model)

    hosting = _infer_hosting(spec, facts, family)
    weights = spec.weights or (family.weights if family else None)
    context_window = spec.context_window or (facts.context_window if facts else None)
    prices = None if hosting is None else _prices(spec, facts, hosting, source, key)
    missing = _missing(
        spec,
        facts,
        hosting=hosting,
        weights=weights,
        context_window=context_window,
        prices=prices,
    )
    if missing:
        _raise_missing(spec, facts, source, key, missing)
    if hosting is None or context_window is None or prices is None:  # pragma: no cover
        raise AssertionError("_missing lists every unknown fact")
    weights = weights or "open"  # a model you run yourself, of no known family
    in_price, out_price, price_source = prices

    if spec.capabilities is not None:
        caps: set[Capability] = set(spec.capabilities)
        if "json_schema" in caps:
            caps.add("json")
    else:
        caps = set(facts.capabilities) if facts else set()
    if context_window >= LONG_CONTEXT_TOKENS:
        caps.add("long_context")

    if spec.quality is not None:
        quality, quality_source = spec.quality, "deployment"
    elif family is not None:
        quality, quality_source = family.quality, "family prior"
    else:
        quality, quality_source = DEFAULT_QUALITY, "default (unknown family: set quality)"

    return Deployment(
        name=spec.name,
        model=spec.model,
        api_base=spec.api_base,
        api_key_env=spec.api_key_env,
        hosting=hosting,
        weights=weights,
        vendor=spec.vendor or (family.vendor if family else None),
        origin=spec.origin or (family.origin if family else None),
        region=spec.region,
        license=spec.license or (family.license if family else None),
        context_window=context_window,
        max_output_tokens=spec.max_output_tokens or (facts.max_output_tokens if facts else None),
        capabilities=frozenset(caps),
        input_usd_per_token=in_price,
        output_usd_per_token=out_price,
        price_source=price_source,
        quality=quality,
        quality_source=quality_source,
        image_tokens=spec.image_tokens or image_tokens_of(spec.model),
        api_version=spec.api_version,
        extra_headers=spec.extra_headers,
        extra_headers_env=spec.extra_headers_env,
        litellm_params=spec.litellm_params,
        client=spec.resolved_client(hosting),
    )


def image_tokens_of(model: str) -> int:
    """The most one image can count as input tokens on `model` (see the table above)."""
    base = model.rsplit("/", 1)[-1].lower()
    for pattern, tokens in _IMAGE_TOKENS_BY_MODEL:
        if fnmatchcase(base, pattern):
            return tokens
    return IMAGE_TOKENS


def _prices(
    spec: DeploymentSpec, facts: ModelFacts | None, hosting: Hosting, source: str, key: str
) -> tuple[float, float, str] | None:
    """(input, output) USD per token and where they come from; None for an API model
    nobody prices (the caller asks for them with whatever else is missing)."""
    if spec.cost_model is not None:
        if spec.input_cost_per_mtok is not None or spec.output_cost_per_mtok is not None:
            raise ConfigError(
                source,
                f"{key}.cost_model",
                "give either cost_model or input/output_cost_per_mtok, not both",
            )
        inp, out = spec.cost_model.usd_per_token()
        return inp, out, "cost model"
    if spec.input_cost_per_mtok is not None or spec.output_cost_per_mtok is not None:
        if spec.input_cost_per_mtok is None or spec.output_cost_per_mtok is None:
            missing = "input" if spec.input_cost_per_mtok is None else "output"
            raise ConfigError(
                source,
                f"{key}.{missing}_cost_per_mtok",
                "give both input_cost_per_mtok and output_cost_per_mtok (USD per 1M tokens)",
            )
        return spec.input_cost_per_mtok / 1e6, spec.output_cost_per_mtok / 1e6, "deployment"
    if hosting != "api":
        # A model you run yourself costs no API fee; state a cost_model to count GPU time.
        return 0.0, 0.0, "free (no cost_model stated)"
    if facts is None or facts.input_usd_per_token is None or facts.output_usd_per_token is None:
        return None
    return facts.input_usd_per_token, facts.output_usd_per_token, "catalog"


# What to write for each fact the catalog cannot fill (`resolve` reports them all at once).
_WRITE = {
    "hosting": 'write hosting = "local", "self-hosted" or "api"',
    "weights": 'write weights = "open" or "closed"',
    "context_window": "write context_window = <tokens> (e.g. 32768)",
    "input_cost_per_mtok": (
        "write input_cost_per_mtok = <USD> and output_cost_per_mtok = <USD> "
        "(per 1M tokens, e.g. 0.5 and 1.5)"
    ),
}


def _missing(
    spec: DeploymentSpec,
    facts: ModelFacts | None,
    *,
    hosting: Hosting | None,
    weights: Weights | None,
    context_window: int | None,
    prices: tuple[float, float, str] | None,
) -> list[str]:
    """The keys a deployment must state because nobody knows them, in the order to write."""
    missing = []
    if hosting is None:
        missing.append("hosting")
    if weights is None and hosting == "api":
        missing.append("weights")
    if context_window is None:
        missing.append("context_window")
    if hosting == "api" and prices is None:
        missing.append("input_cost_per_mtok")
    return missing


def _raise_missing(
    spec: DeploymentSpec, facts: ModelFacts | None, source: str, key: str, missing: list[str]
) -> NoReturn:
    """One error for every missing fact: `key` names the first, the message all of them."""
    fixes = [_WRITE[m] for m in missing]
    if missing[0] == "hosting":
        why = f"cannot tell where {spec.name!r} runs"
        needs = []  # what an API would need besides: unknown until hosting is known
        if spec.weights is None and family_of(spec.model) is None:
            needs.append('weights = "open" or "closed"')
        if (facts is None or facts.input_usd_per_token is None) and (
            spec.cost_model is None and spec.input_cost_per_mtok is None
        ):
            needs.append("input_cost_per_mtok = <USD> and output_cost_per_mtok = <USD>")
        if needs:
            fixes.append(f'if hosting = "api", also write {" and ".join(needs)}')
    elif facts is None:
        why = f"model {spec.model!r} is not in litellm's price map"
    else:
        why = f"litellm's price map does not say everything needed about {spec.model!r}"
    count = f"{len(missing)} keys are missing from {key}: " if len(missing) > 1 else ""
    unknown = facts is None or {"context_window", "input_cost_per_mtok"} & set(missing)
    error = UnknownModelError if unknown else ConfigError
    raise error(source, f"{key}.{missing[0]}", f"{why}; {count}{'; '.join(fixes)}")
