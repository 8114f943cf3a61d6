"""What the catalog infers that a deployment's entry does not say. Where it runs: closed
weights are an API whatever the address (a LiteLLM proxy or a corporate gateway on
127.0.0.1 or 10.x still sends the data to the vendor); open or unknown models on loopback
are local. And how many tokens one image can count there (gpt-4o-mini, Gemini...)."""

from __future__ import annotations

from typing import Any

import pytest

import router
from router.decision._catalog import DeploymentSpec, resolve

SOURCE = "cfg.toml"
KEY = "deployments[0]"

# Where people put a proxy or gateway in front of a paid API.
ADDRESSES = [
    "http://127.0.0.1:4000",
    "http://localhost:4000/v1",
    "http://[::1]:4000/v1",
    "http://0.0.0.0:4000",
    "http://10.1.2.3:8000/v1",
    "http://172.16.0.1/v1",
    "http://192.168.1.10:4000",
    "http://[fd00::1]:4000/v1",
    "http://169.254.10.10/v1",
    "http://llm-gateway.internal/v1",
    "https://proxy.example.com/v1",
]
ADDRESS_IDS = [
    "loopback", "localhost", "ipv6-loopback", "any", "10/8", "172.16/12", "192.168/16",
    "fc00::/7", "link-local", "internal-name", "remote",
]  # fmt: skip


def _resolve(**fields: Any) -> str:
    return resolve(DeploymentSpec.model_validate({"name": "d", **fields}), SOURCE, KEY).hosting


@pytest.mark.parametrize("api_base", ADDRESSES, ids=ADDRESS_IDS)
@pytest.mark.parametrize(
    "model", ["gpt-4o", "openai/gpt-4o", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"]
)
def test_closed_family_behind_any_address_is_an_api(model: str, api_base: str) -> None:
    assert _resolve(model=model, api_base=api_base) == "api"


@pytest.mark.parametrize("api_base", ["http://127.0.0.1:4000", "http://10.0.0.7/v1"])
def test_weights_closed_stated_on_the_deployment_is_an_api(api_base: str) -> None:
    fields = {"context_window": 8192, "input_cost_per_mtok": 1, "output_cost_per_mtok": 2}
    assert _resolve(model="openai/x", api_base=api_base, weights="closed", **fields) == "api"


@pytest.mark.parametrize(
    ("model", "api_base"),
    [
        ("openai/qwen2.5-7b-instruct", "http://127.0.0.1:11434/v1"),
        ("openai/SmolLM2-135M-Instruct", "http://localhost:8080/v1"),
        ("openai/my-own-model", "http://127.0.0.1:8080/v1"),
        ("openai/gpt-oss-20b", "http://127.0.0.1:8000/v1"),
    ],
    ids=[
        "open-family",
        "open-family-localhost",
        "unknown-family",
        "open-weights-of-a-closed-vendor",
    ],
)
def test_open_or_unknown_model_on_loopback_stays_local(model: str, api_base: str) -> None:
    assert _resolve(model=model, api_base=api_base, context_window=8192) == "local"


@pytest.mark.parametrize("hosting", ["local", "self-hosted"])
def test_explicit_hosting_of_a_closed_model_is_respected(hosting: str) -> None:
    assert _resolve(model="gpt-4o", api_base="http://127.0.0.1:4000", hosting=hosting) == hosting


def test_confidential_request_is_not_planned_onto_a_proxied_closed_model() -> None:
    r = router.Router(
        deployments=[
            {"name": "proxy-gpt-4o", "model": "gpt-4o", "api_base": "http://127.0.0.1:4000"},
            {"name": "local", "model": "openai/qwen2.5-7b-instruct",
             "api_base": "http://127.0.0.1:11434/v1", "context_window": 32768},
        ],
        objective="best",
    )  # fmt: skip
    messages = [{"role": "user", "content": "Summarise the board minutes."}]
    public = r.plan(messages).chosen
    assert public is not None
    assert public.name == "proxy-gpt-4o"  # the objective prefers it when policy allows
    decision = r.plan(messages, sensitivity="confidential")
    assert [c.name for c in decision.candidates] == ["local"]
    assert [x.name for x in decision.rejected] == ["proxy-gpt-4o"]


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("gpt-4o-mini", 48_169),
        ("openai/gpt-4o-mini-2024-07-18", 48_169),
        ("gpt-4.1-nano", 3_779),
        ("o4-mini", 2_642),
        ("gemini/gemini-2.5-pro", 4_128),
        ("gpt-4o", 2_500),
        ("claude-sonnet-4-5", 2_500),
        ("openai/qwen2.5-7b-instruct", 2_500),
    ],
)
# --- the most one image counts, by the model's image rule ---------------------------------


def test_a_models_image_rule_sets_its_image_tokens(model: str, tokens: int) -> None:
    spec = DeploymentSpec(
        name="d", model=model, hosting="api", weights="closed", context_window=8192,
        input_cost_per_mtok=1, output_cost_per_mtok=1,
    )  # fmt: skip
    assert resolve(spec, SOURCE, KEY).image_tokens == tokens


def test_a_deployment_states_its_own_image_tokens() -> None:
    spec = DeploymentSpec(name="d", model="openai/vlm", hosting="local", context_window=8192,
                          image_tokens=576)  # fmt: skip
    assert resolve(spec, SOURCE, KEY).image_tokens == 576
