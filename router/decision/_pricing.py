"""Cost arithmetic. Pure: prices come from the Deployment, counts from the Features."""

from __future__ import annotations

from router._models import Deployment, Features

__all__ = ["cost_at", "estimate_cost_usd"]


def cost_at(features: Features, input_usd_per_token: float, output_usd_per_token: float) -> float:
    """The most this request can cost at these prices: the prompt plus the whole output
    budget of each of its `n` answers (`max_tokens`, or the configured default)."""
    return (
        features.prompt_tokens * input_usd_per_token
        + features.max_output_total * output_usd_per_token
    )


def estimate_cost_usd(features: Features, deployment: Deployment) -> float:
    """The estimated maximum cost of this request on `deployment` (its images at its own
    image rule)."""
    # The planner and `MaxCost.check_many` inline this expression: keep the three alike.
    return (
        features.prompt_tokens + deployment.image_surplus(features)
    ) * deployment.input_usd_per_token + features.max_output_total * deployment.output_usd_per_token
