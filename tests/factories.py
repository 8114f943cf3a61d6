"""Small builders for the values tests need: Deployment, Features, Request.

Every builder takes keyword arguments named like the fields they fill and has
defaults that describe an ordinary case (a free local open-weights model, a short
public request), so a test states only what it is about::

    api = deployment("gpt-4o", hosting="api", weights="closed", vendor="openai")
    f = features(sensitivity="confidential")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from router import Router
from router._models import (
    IMAGE_TOKENS,
    Capability,
    Deployment,
    Features,
    Hosting,
    Request,
    Sensitivity,
    Weights,
)
from router.serving._executor import RetryPolicy
from router.testing import FaultServer, MockServer

__all__ = [
    "CallMode",
    "Server",
    "call",
    "deployment",
    "features",
    "fleet",
    "messages",
    "pair_router",
    "request",
]

Server = FaultServer | MockServer
"""A fault server, or its in-process stand-in on a MockBackend (`MockBackend.server()`)."""


def deployment(
    name: str = "local-qwen",
    *,
    model: str | None = None,
    hosting: Hosting = "local",
    weights: Weights = "open",
    vendor: str | None = "alibaba",
    origin: str | None = "CN",
    region: str | None = "eu-west",
    license: str | None = "apache-2.0",
    context_window: int = 32_768,
    max_output_tokens: int | None = None,
    capabilities: Iterable[Capability] = (),
    input_usd_per_token: float = 0.0,
    output_usd_per_token: float = 0.0,
    quality: float = 0.7,
    image_tokens: int = IMAGE_TOKENS,
) -> Deployment:
    """A fully known Deployment; free, local and open unless told otherwise."""
    return Deployment(
        name=name,
        model=model or f"openai/{name}",
        hosting=hosting,
        weights=weights,
        vendor=vendor,
        origin=origin,
        region=region,
        license=license,
        context_window=context_window,
        max_output_tokens=max_output_tokens,
        capabilities=frozenset(capabilities),
        input_usd_per_token=input_usd_per_token,
        output_usd_per_token=output_usd_per_token,
        quality=quality,
        image_tokens=image_tokens,
    )


def fleet() -> tuple[Deployment, ...]:
    """Three typical deployments: a free local model, a cheap self-hosted one, a paid API."""
    return (
        deployment("local-qwen", quality=0.70, capabilities=("tools", "json")),
        deployment(
            "gpu-llama",
            hosting="self-hosted",
            vendor="meta",
            origin="US",
            license="llama3",
            input_usd_per_token=1e-8,
            output_usd_per_token=1e-7,
            quality=0.80,
            capabilities=("tools", "json"),
        ),
        deployment(
            "gpt-4o",
            model="gpt-4o",
            hosting="api",
            weights="closed",
            vendor="openai",
            origin="US",
            region="us-east",
            license="proprietary",
            context_window=128_000,
            max_output_tokens=16_384,
            input_usd_per_token=2.5e-6,
            output_usd_per_token=1e-5,
            quality=0.90,
            capabilities=("tools", "vision", "json", "json_schema"),
        ),
    )


def features(
    *,
    prompt_tokens: int = 100,
    prompt_bytes: int | None = None,
    exact: bool = False,
    max_output_tokens: int = 1024,
    output_budget_source: Literal["request", "default"] = "default",
    capabilities: Iterable[Capability] = (),
    sensitivity: Sensitivity = "public",
    declared_sensitivity: Sensitivity | None = None,
    tenant: str = "default",
    tags: Iterable[str] = (),
) -> Features:
    """Features of a request as the planner sees them; `prompt_bytes` defaults to 4 x tokens."""
    return Features(
        prompt_hash="0" * 64,
        prompt_bytes=prompt_tokens * 4 if prompt_bytes is None else prompt_bytes,
        prompt_tokens=prompt_tokens,
        prompt_tokens_exact=exact,
        max_output_tokens=max_output_tokens,
        output_budget_source=output_budget_source,
        capabilities=tuple(capabilities),
        declared_sensitivity=declared_sensitivity or sensitivity,
        sensitivity=sensitivity,
        tenant=tenant,
        tags=tuple(tags),
    )


def messages(prompt: str = "Say hi", *, images: int = 0) -> list[dict[str, Any]]:
    """One user message; with `images`, its content is a list of parts."""
    if not images:
        return [{"role": "user", "content": prompt}]
    parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    parts += [{"type": "image_url", "image_url": {"url": "data:,"}}] * images
    return [{"role": "user", "content": parts}]


def request(
    prompt: str = "Say hi",
    *,
    images: int = 0,
    tools: Sequence[Mapping[str, Any]] | None = None,
    response_format: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
    tenant: str = "default",
    sensitivity: Sensitivity = "public",
    tags: Iterable[str] = (),
) -> Request:
    """A validated Request holding one user message."""
    return Request.model_validate(
        {
            "messages": messages(prompt, images=images),
            "tools": None if tools is None else tuple(dict(t) for t in tools),
            "response_format": None if response_format is None else dict(response_format),
            "max_tokens": max_tokens,
            "tenant": tenant,
            "sensitivity": sensitivity,
            "tags": tuple(tags),
        }
    )


def pair_router(
    first: Server,
    second: Server,
    *,
    names: tuple[str, str] = ("a", "b"),
    retry: RetryPolicy | None = None,
    **router_options: Any,
) -> Router:
    """Two free local deployments on fault servers (or mock servers: the router then gets
    their MockBackend); `first` is preferred (objective "best")."""
    if isinstance(first, MockServer):
        router_options.setdefault("backend", first.backend)
    return Router(
        deployments=[
            {"name": names[0], "model": "openai/a", "api_base": first.base_url,
             "context_window": 8192, "quality": 0.8},
            {"name": names[1], "model": "openai/b", "api_base": second.base_url,
             "context_window": 8192, "quality": 0.7},
        ],
        objective="best",
        retry=retry or RetryPolicy(),
        **router_options,
    )  # fmt: skip


CallMode = Literal["complete", "acomplete", "stream", "astream"]


def call(r: Router, mode: CallMode, messages: Sequence[Any], args: Mapping[str, Any]) -> None:
    """Serve one request through one of the four entry points, reading streams to the end."""
    if mode == "complete":
        r.complete(messages, **args)
    elif mode == "stream":
        for _ in r.stream(messages, **args):
            pass
    else:

        async def once() -> None:
            if mode == "acomplete":
                await r.acomplete(messages, **args)
            else:
                async for _ in await r.astream(messages, **args):
                    pass

        asyncio.run(once())


def free_and_paid(local: Server, api: Server, key_env: str) -> list[dict[str, Any]]:
    """Two deployment entries on loopback servers: a free local model (quality 0.5) and a
    paid API (quality 0.95, $2.5 / $10 per 1M tokens, its key in `key_env`)."""
    return [
        {"name": "local", "model": "openai/q", "api_base": local.base_url,
         "context_window": 8192, "quality": 0.5},
        {"name": "api", "model": "openai/big", "api_base": api.base_url, "hosting": "api",
         "weights": "closed", "context_window": 8192, "quality": 0.95,
         "api_key_env": key_env, "input_cost_per_mtok": 2.5, "output_cost_per_mtok": 10},
    ]  # fmt: skip


async def max_gap_while(coro: Any) -> tuple[Any, float]:
    """Run `coro` beside a 5 ms ticker; its result and the ticker's longest gap."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    try:
        result = await coro
    finally:
        stop.set()
        await task
    return result, max(gaps)
