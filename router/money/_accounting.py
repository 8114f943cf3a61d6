"""Usage and cost of a served request. Pure arithmetic over values, no I/O.

Cost = the tokens the call used x the serving deployment's price (API prices from the
catalog, self-hosted deployments from their cost model). Baseline cost = the same
usage priced at the baseline model: the honest counterfactual of "what would this
have cost on the model we used to pay for". Both are integer micro-dollars so that
sums over a ledger are exact.

>>> from router._records import Usage
>>> usage = Usage(prompt_tokens=1000, completion_tokens=200, source="provider")
>>> price_micro(usage, 2.5e-6, 1e-5)   # gpt-4o: 1000 x $2.50/M + 200 x $10/M
4500
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from router._models import Deployment
from router._records import MICRO, Cost, Decision, Usage, response_text
from router.decision import estimate_tokens

REPORTED_SANE = (0.1, 1.0)
"""A reported cost is used when it lies within these multiples of usage x price: cached-
token discounts lower it, a wrong model mapping moves it further. Never above the price:
budgets hold money at the deployment's price, so a settled cost above it could overspend
a hard budget (a deployment priced below litellm's list price, e.g. a negotiated rate,
would settle at the list price); the configured price is what you said you pay."""

__all__ = ["account", "estimate_usage", "price_micro", "response_usage", "usage_of"]


def price_micro(usage: Usage, input_usd_per_token: float, output_usd_per_token: float) -> int:
    """What `usage` costs at these prices, in micro-dollars (rounded to the nearest)."""
    usd = usage.prompt_tokens * input_usd_per_token + usage.completion_tokens * (
        output_usd_per_token
    )
    return round(usd * MICRO)


def usage_of(response: Mapping[str, Any]) -> Usage | None:
    """The usage an OpenAI-shaped response or final stream chunk reports, if any."""
    raw = response.get("usage")
    if not isinstance(raw, Mapping):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    if prompt < 0 or completion < 0:
        return None
    cost = raw.get("cost")
    reported = float(cost) if isinstance(cost, int | float) and cost >= 0 else None
    return Usage(prompt, completion, "provider", reported)


def estimate_usage(decision: Decision, delivered: str) -> Usage:
    """Usage when the provider sent none (a stream stopped early): the prompt as the
    planner counted it, and the delivered text by the same estimate."""
    raw = delivered.encode("utf-8", errors="surrogatepass")
    return Usage(decision.features.prompt_tokens, estimate_tokens(delivered, raw), "estimate")


def response_usage(decision: Decision, response: Mapping[str, Any]) -> Usage:
    """The response's reported usage, or an estimate from its text when it has none."""
    return usage_of(response) or estimate_usage(decision, response_text(response) or "")


def account(
    decision: Decision,
    served: Deployment,
    usage: Usage,
    baseline: tuple[float, float] | None,
    *,
    cache_hit: bool = False,
) -> Decision:
    """The decision with its usage and cost filled in.

    Cost is usage x the served deployment's price; for an API deployment, the cost the
    provider or litellm reported is used instead when it is sane (0.1x-1x of that: it
    knows cached-token discounts; never more than the price the budget hold used).
    Deployments you host are always priced by their cost model. A cache hit cost nothing
    now; its baseline is what the answer would have cost at the baseline's prices."""
    base = None if baseline is None else price_micro(usage, *baseline)
    if cache_hit:
        return dataclasses.replace(decision, usage=usage, cost=Cost(0, base))
    priced = price_micro(usage, served.input_usd_per_token, served.output_usd_per_token)
    reported = usage.reported_usd
    if served.hosting == "api" and reported is not None and priced > 0:
        micro = round(reported * MICRO)
        if priced * REPORTED_SANE[0] <= micro <= priced * REPORTED_SANE[1]:
            return dataclasses.replace(decision, usage=usage, cost=Cost(micro, base, "reported"))
    return dataclasses.replace(decision, usage=usage, cost=Cost(priced, base))
