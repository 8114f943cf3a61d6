"""Model facts: litellm's bundled price map read as JSON, family provenance, and
`resolve` turning a config entry into a fully known Deployment."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from router._models import Capability
from router.decision._catalog import (
    DEFAULT_QUALITY,
    LONG_CONTEXT_TOKENS,
    DeploymentSpec,
    family_of,
    lookup,
    price_map_path,
    resolve,
)
from router.errors import ConfigError, UnknownModelError

SOURCE = "cfg.toml"
KEY = "deployments[3]"
LOOPBACK = "http://127.0.0.1:8080/v1"


@cache
def _price_json() -> dict[str, Any]:
    """litellm's bundled map, found by the test itself (not through router.decision._catalog)."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None
    assert spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    data: dict[str, Any] = json.loads(
        (folder / "model_prices_and_context_window_backup.json").read_text(encoding="utf-8")
    )
    return data


def _spec(**fields: Any) -> DeploymentSpec:
    return DeploymentSpec.model_validate({"name": "d", **fields})


def test_price_map_is_litellms_bundled_file() -> None:
    path = price_map_path()
    assert path is not None
    assert path.name == "model_prices_and_context_window_backup.json"
    assert json.loads(path.read_text(encoding="utf-8")).keys() == _price_json().keys()


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "claude-sonnet-4-5",
        "deepseek/deepseek-chat",
        "gemini/gemini-2.5-flash",
    ],
)
def test_lookup_matches_the_json(model: str) -> None:
    entry = _price_json()[model]
    facts = lookup(model)
    assert facts is not None
    assert facts.key == model
    assert facts.provider == entry["litellm_provider"]
    assert facts.input_usd_per_token == entry["input_cost_per_token"]
    assert facts.output_usd_per_token == entry["output_cost_per_token"]
    assert facts.context_window == entry["max_input_tokens"]
    assert facts.max_output_tokens == entry["max_output_tokens"]
    expected: set[Capability] = set()
    if entry.get("supports_function_calling"):
        expected.add("tools")
    if entry.get("supports_vision"):
        expected.add("vision")
    if entry.get("supports_response_schema"):
        expected |= {"json", "json_schema"}
    assert facts.capabilities == expected


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("openai/gpt-4o", "gpt-4o"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("deepseek/deepseek-chat", "deepseek/deepseek-chat"),  # the prefixed key itself exists
    ],
    ids=["openai-prefix", "anthropic-prefix", "prefixed-key"],
)
def test_lookup_strips_provider_prefix_only_when_needed(model: str, key: str) -> None:
    facts = lookup(model)
    assert facts is not None
    assert facts.key == key


@pytest.mark.parametrize(
    "model", ["acme/frontier-1", "openai/my-finetune-xyz", "no-such-model-anywhere"]
)
def test_lookup_unknown_model_is_none(model: str) -> None:
    assert model not in _price_json()
    assert lookup(model) is None


def test_lookup_reads_an_explicit_map_defensively(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    table = {
        "sample_spec": {"input_cost_per_token": 0.0, "max_input_tokens": 10},
        "not-a-dict": "ignored",
        "old-model": {"max_tokens": 4096, "input_cost_per_token": -1, "output_cost_per_token": 0},
        "json-only": {"max_input_tokens": "lots", "supports_response_schema": True},
    }
    path.write_text(json.dumps(table), encoding="utf-8")
    assert lookup("sample_spec", path) is None
    assert lookup("not-a-dict", path) is None
    old = lookup("old-model", path)
    assert old is not None
    assert (old.context_window, old.input_usd_per_token, old.output_usd_per_token) == (
        4096,
        None,
        0.0,
    )
    only = lookup("json-only", path)
    assert only is not None
    assert only.context_window is None
    assert only.capabilities == {"json", "json_schema"}


# (model, vendor, weights, origin, license, quality prior)
FAMILIES = [
    ("gpt-4o", "openai", "closed", "US", "proprietary", 0.90),
    ("anthropic/claude-sonnet-4-5", "anthropic", "closed", "US", "proprietary", 0.93),
    ("deepseek/deepseek-chat", "deepseek", "open", "CN", "mit", 0.90),
    ("openai/qwen2.5-7b-instruct", "alibaba", "open", "CN", "apache-2.0", 0.74),
    ("meta-llama/Llama-3.3-70B-Instruct", "meta", "open", "US", "llama3", 0.84),
    ("mistral/mistral-large-latest", "mistral", "closed", "FR", "proprietary", 0.90),
    ("mistral/mistral-small-latest", "mistral", "open", "FR", "apache-2.0", 0.80),
    ("gemma-3-27b-it", "google", "open", "US", "gemma", 0.80),
    ("openai/SmolLM2-135M-Instruct", "huggingface", "open", "US", "apache-2.0", 0.20),
    ("gpt-oss-20b", "openai", "open", "US", "apache-2.0", 0.83),
]


@pytest.mark.parametrize(
    ("model", "vendor", "weights", "origin", "license", "quality"),
    FAMILIES,
    ids=[f[0] for f in FAMILIES],
)
def test_family_provenance(
    model: str, *, vendor: str, weights: str, origin: str, license: str, quality: float
) -> None:
    family = family_of(model)
    assert family is not None
    assert (family.vendor, family.weights, family.origin, family.license) == (
        vendor,
        weights,
        origin,
        license,
    )
    assert family.quality == pytest.approx(quality)


@pytest.mark.parametrize(
    ("model", "quality", "not_this_one"),
    [
        ("gpt-4o-mini", 0.84, "gpt-4o* (0.90)"),
        ("gpt-4.1-nano", 0.76, "gpt-4.1* (0.90)"),
        ("claude-3-5-haiku-20241022", 0.86, "claude* (0.78)"),
        ("deepseek-r1-distill-llama-70b", 0.80, "meta *llama*70b* (0.84)"),
        ("deepseek-reasoner", 0.93, "deepseek* (0.90)"),
        ("qwen2.5-72b-instruct", 0.88, "nothing more specific"),
    ],
    ids=["gpt-4o-mini", "gpt-4.1-nano", "claude-haiku", "r1-distill", "reasoner", "qwen-72b"],
)
def test_family_first_match_wins(model: str, quality: float, not_this_one: str) -> None:
    family = family_of(model)
    assert family is not None, not_this_one
    assert family.quality == pytest.approx(quality), not_this_one


@pytest.mark.parametrize("model", ["openai/my-model", "acme/frontier-1", "bert-base"])
def test_family_unknown_is_none(model: str) -> None:
    assert family_of(model) is None


@pytest.mark.parametrize(
    ("fields", "hosting"),
    [
        ({"model": "openai/x", "api_base": LOOPBACK, "context_window": 4096}, "local"),
        ({"model": "openai/x", "api_base": "http://localhost:1/v1", "context_window": 1}, "local"),
        ({"model": "gpt-4o"}, "api"),
        ({"model": "gpt-4o", "hosting": "self-hosted", "api_base": "http://gpu/v1"}, "self-hosted"),
        ({"model": "openai/x", "api_base": LOOPBACK, "hosting": "api", "context_window": 1,
          "weights": "closed", "input_cost_per_mtok": 1, "output_cost_per_mtok": 2}, "api"),
    ],
    ids=["loopback", "localhost", "known-api-model", "stated-self-hosted", "stated-wins"],
)  # fmt: skip
def test_resolve_infers_hosting(fields: dict[str, Any], hosting: str) -> None:
    assert resolve(_spec(**fields), SOURCE, KEY).hosting == hosting


@pytest.mark.parametrize(
    "fields",
    [
        {"model": "openai/x", "context_window": 4096},
        {"model": "openai/x", "api_base": "http://gpu-1.internal:8000/v1", "context_window": 1},
    ],
    ids=["unknown-no-api-base", "unknown-remote-api-base"],
)
def test_resolve_without_hosting_asks_for_it(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(_spec(**fields), SOURCE, KEY)
    assert info.value.key == f"{KEY}.hosting"
    assert str(info.value).startswith(f"{SOURCE}: {KEY}.hosting: ")
    assert 'write hosting = "local", "self-hosted" or "api"' in str(info.value)


@pytest.mark.parametrize(
    ("cost_model", "per_input", "per_output"),
    [
        ({"usd_per_hour": 3.6, "output_tokens_per_second": 100}, 3.6 / 3600 / 1000, 1e-5),
        (
            {"usd_per_hour": 7.2, "output_tokens_per_second": 50, "input_tokens_per_second": 400},
            7.2 / 3600 / 400,
            7.2 / 3600 / 50,
        ),
        ({"usd_per_hour": 0, "output_tokens_per_second": 10}, 0.0, 0.0),
    ],
    ids=["input-defaults-to-10x", "input-stated", "free-machine"],
)
def test_resolve_cost_model_gives_per_token_prices(
    cost_model: dict[str, float], per_input: float, per_output: float
) -> None:
    spec = _spec(
        model="openai/x", hosting="self-hosted", context_window=8192, cost_model=cost_model
    )
    d = resolve(spec, SOURCE, KEY)
    assert d.input_usd_per_token == pytest.approx(per_input)
    assert d.output_usd_per_token == pytest.approx(per_output)
    assert d.price_source == "cost model"


@pytest.mark.parametrize("hosting", ["local", "self-hosted"])
def test_resolve_own_hosting_without_cost_model_is_free(hosting: str) -> None:
    spec = _spec(model="openai/qwen2.5-7b-instruct", hosting=hosting, context_window=32768)
    d = resolve(spec, SOURCE, KEY)
    assert d.is_free
    assert d.price_source.startswith("free")


@pytest.mark.parametrize(
    "model", ["gpt-4o", "acme/frontier-1"], ids=["overrides-catalog", "unknown"]
)
def test_resolve_explicit_prices_per_mtok(model: str) -> None:
    spec = _spec(
        model=model,
        hosting="api",
        weights="closed",
        context_window=8192,
        input_cost_per_mtok=0.5,
        output_cost_per_mtok=1.5,
    )
    d = resolve(spec, SOURCE, KEY)
    assert (d.input_usd_per_token, d.output_usd_per_token) == pytest.approx((5e-7, 1.5e-6))
    assert d.price_source == "deployment"


@pytest.mark.parametrize(
    ("given", "missing"),
    [({"input_cost_per_mtok": 1.0}, "output"), ({"output_cost_per_mtok": 1.0}, "input")],
    ids=["only-input", "only-output"],
)
def test_resolve_half_a_price_names_the_other_half(given: dict[str, float], missing: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(_spec(model="gpt-4o", **given), SOURCE, KEY)
    assert info.value.key == f"{KEY}.{missing}_cost_per_mtok"


def test_resolve_api_model_prices_from_catalog() -> None:
    entry = _price_json()["gpt-4o"]
    d = resolve(_spec(model="gpt-4o"), SOURCE, KEY)
    assert d.input_usd_per_token == entry["input_cost_per_token"]
    assert d.output_usd_per_token == entry["output_cost_per_token"]
    assert d.context_window == entry["max_input_tokens"]
    assert d.price_source == "catalog"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"model": "gpt-4o"}, {"tools", "vision", "json", "json_schema", "long_context"}),
        ({"model": "gpt-4o", "capabilities": ["tools"]}, {"tools", "long_context"}),
        ({"model": "gpt-4o", "capabilities": []}, {"long_context"}),
        ({"model": "openai/x", "api_base": LOOPBACK, "context_window": 8192}, set()),
        (
            {"model": "openai/x", "api_base": LOOPBACK, "context_window": 8192,
             "capabilities": ["json_schema"]},
            {"json", "json_schema"},
        ),
    ],
    ids=["from-map", "stated-replaces-map", "stated-none", "unknown-none", "schema-implies-json"],
)  # fmt: skip
def test_resolve_capabilities(fields: dict[str, Any], expected: set[str]) -> None:
    assert resolve(_spec(**fields), SOURCE, KEY).capabilities == expected


@pytest.mark.parametrize(
    ("window", "long"),
    [(LONG_CONTEXT_TOKENS - 1, False), (LONG_CONTEXT_TOKENS, True), (1_000_000, True)],
    ids=["just-below", "at-threshold", "huge"],
)
def test_resolve_long_context_from_window(window: int, long: bool) -> None:
    spec = _spec(model="openai/x", api_base=LOOPBACK, context_window=window)
    assert ("long_context" in resolve(spec, SOURCE, KEY).capabilities) == long


@pytest.mark.parametrize(
    ("fields", "quality", "source"),
    [
        ({"model": "gpt-4o", "quality": 0.61}, 0.61, "deployment"),
        ({"model": "gpt-4o"}, 0.90, "family prior"),
        ({"model": "openai/x", "api_base": LOOPBACK, "context_window": 8192}, DEFAULT_QUALITY,
         "default (unknown family: set quality)"),
    ],
    ids=["stated", "family-prior", "default"],
)  # fmt: skip
def test_resolve_quality_and_its_source(
    fields: dict[str, Any], quality: float, source: str
) -> None:
    d = resolve(_spec(**fields), SOURCE, KEY)
    assert d.quality == pytest.approx(quality)
    assert d.quality_source == source


def test_resolve_provenance_from_family_and_overrides() -> None:
    base = resolve(_spec(model="deepseek/deepseek-chat"), SOURCE, KEY)
    assert (base.vendor, base.weights, base.origin, base.license) == (
        "deepseek",
        "open",
        "CN",
        "mit",
    )
    own = resolve(
        _spec(model="deepseek/deepseek-chat", vendor="acme", origin="DE", license="custom"),
        SOURCE,
        KEY,
    )
    assert (own.vendor, own.origin, own.license) == ("acme", "DE", "custom")


def test_resolve_unknown_local_model_defaults_to_open_weights() -> None:
    spec = _spec(model="openai/x", api_base=LOOPBACK, context_window=8192)
    assert resolve(spec, SOURCE, KEY).weights == "open"


def test_resolve_unknown_api_model_asks_for_weights() -> None:
    spec = _spec(model="acme/frontier-1", hosting="api", context_window=8192)
    with pytest.raises(ConfigError) as info:
        resolve(spec, SOURCE, KEY)
    assert info.value.key == f"{KEY}.weights"
    assert 'write weights = "open" or "closed"' in str(info.value)


def test_resolve_unknown_model_without_window_is_unknown_model_error() -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve(_spec(model="openai/x", api_base=LOOPBACK), SOURCE, KEY)
    assert info.value.key == f"{KEY}.context_window"


def test_lookup_does_not_import_litellm() -> None:
    code = (
        "import sys\n"
        "from router.decision._catalog import lookup\n"
        "facts = lookup('gpt-4o')\n"
        "assert facts is not None and facts.context_window\n"
        "print(sorted(m for m in sys.modules if m == 'litellm' or m.startswith('litellm.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("openai/gpt-4o", "gpt-4o"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("groq/gpt-4o", None),  # another provider's gpt-4o: not OpenAI's prices
        ("mycorp/gpt-4o-mini", None),
    ],
    ids=["own-provider", "anthropic-prefix", "other-provider", "unknown-prefix"],
)
def test_provider_prefix_is_stripped_only_for_the_entrys_own_provider(
    model: str, key: str | None
) -> None:
    facts = lookup(model)
    assert (facts.key if facts else None) == key
