"""OpenTelemetry spans, when the application configured a tracer provider.

Tracing is on only when `opentelemetry.trace` is already imported (an application that
set a provider has imported it) and its global provider is a real one (not the API's
proxy or no-op provider). So `import router` never imports OpenTelemetry, a process
without it pays one dictionary lookup per request, and a provider set after the Router
was built is used from the next request on.

Span names and attributes follow OpenTelemetry's GenAI semantic conventions (client
inference spans, development status, as of semconv 1.37-1.41):

- the request: `router chat` (INTERNAL), `gen_ai.operation.name = "chat"`, and at its end
  `gen_ai.response.model`, `gen_ai.provider.name`, `gen_ai.usage.input_tokens` /
  `output_tokens` of the served answer, with `router.*` attributes (tenant, outcome,
  served_by, cost, savings, sensitivity, request id, ...);
- each provider call: `chat {model}` (CLIENT), a child of the request (of the
  verification for a cascade's samples): `gen_ai.request.model`, `gen_ai.provider.name`
  (which replaced `gen_ai.system` in semconv 1.37), `server.address` / `server.port`,
  the request's `max_tokens` / `temperature` / `top_p`, and at its end `gen_ai.response.model`,
  `gen_ai.response.id`, `gen_ai.response.finish_reasons`, the usage, or `error.type`;
- the cascade's verification: `router verify` (INTERNAL), score, threshold, checks.

Never in a span: prompt or answer text, message contents, keys, headers, error messages.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

__all__ = ["PROVIDERS", "provider_name", "server_of", "tracer", "wire_model"]

_cached: tuple[Any, Any] = (None, None)  # (provider, its tracer or None)

PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
}
"""litellm's provider prefixes -> the convention's well-known `gen_ai.provider.name`."""


def tracer() -> Any:
    """The router's tracer, or None when no tracer provider is configured."""
    global _cached  # noqa: PLW0603
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    cached_provider, cached = _cached
    if provider is cached_provider:
        return cached
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        found = None
    else:
        version = getattr(sys.modules.get("router"), "__version__", None)
        found = provider.get_tracer("router", version)
    _cached = (provider, found)
    return found


def wire_model(model: str) -> str:
    """The model name the provider sees (litellm's `provider/` prefix removed)."""
    prefix, slash, rest = model.partition("/")
    if slash and (prefix in PROVIDERS or prefix in _OTHER_PREFIXES):
        return rest
    return model


_OTHER_PREFIXES = frozenset({"ollama", "ollama_chat", "hosted_vllm", "together_ai", "openrouter"})


def provider_name(model: str) -> str:
    """`gen_ai.provider.name` for a litellm model string."""
    prefix, slash, _ = model.partition("/")
    if slash:
        return PROVIDERS.get(prefix, prefix)
    lowered = model.lower()
    if lowered.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    if lowered.startswith("claude"):
        return "anthropic"
    if lowered.startswith("gemini"):
        return "gcp.gemini"
    if lowered.startswith(("mistral", "codestral")):
        return "mistral_ai"
    return "openai"  # litellm's default for a bare model name


def server_of(api_base: str | None) -> tuple[str, int] | None:
    """(host, port) of a deployment's `api_base`: never its user, password or path."""
    if not api_base:
        return None
    try:
        parts = urlsplit(api_base)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host, port or (443 if parts.scheme == "https" else 80)
