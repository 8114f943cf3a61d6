"""Per-prompt quality predictors: the interface `router eval` (and later the planner) uses.

A `Predictor` says, for each prompt and each model name, the quality it expects the
model's answer to have, in [0, 1] (for 0/1 labels: the probability of a good answer).
`models` are the names it learned from data; any other name still gets a number, the
model's prior, so a predictor never refuses a model it has not seen.

`PriorPredictor` is the fallback until a trained predictor ships: one constant per
model, whatever the prompt. The constant is the one the planner already uses for a
deployment without a `quality` field: the prior of the model's family in
`router/data/families.toml` (matched by `router.decision._catalog.family_of` on the lower-cased
base name, after the last "/"), or `DEFAULT_QUALITY` (0.5, `router.decision._catalog`) when no
family matches. A constant per model cannot tell prompts apart, so on a strong/weak pair
it routes like the random router (APGR 0.5): it is the floor a trained predictor beats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from router.decision import DEFAULT_QUALITY, family_of

__all__ = ["DEFAULT_QUALITY", "Predictor", "PriorPredictor", "prior_quality"]


@runtime_checkable
class Predictor(Protocol):
    """Predicted quality, per prompt and per model, in [0, 1]."""

    @property
    def models(self) -> Sequence[str]:
        """The model names learned from data (others get their prior)."""
        ...

    def predict(self, prompts: Sequence[str], models: Sequence[str]) -> list[list[float]]:
        """One row per prompt, one value per model in the order of `models`."""
        ...


def prior_quality(model: str) -> float:
    """The family prior of a model name (`families.toml`), or `DEFAULT_QUALITY` (0.5).

    >>> prior_quality("gpt-4-1106-preview"), prior_quality("no-such-model")
    (0.88, 0.5)
    """
    family = family_of(model)
    return family.quality if family is not None else DEFAULT_QUALITY


class PriorPredictor:
    """One constant per model: `priors[model]` if given, else `prior_quality(model)`.

    >>> PriorPredictor({"mine": 0.3}).predict(["a", "b"], ["mine", "gpt-4-1106-preview"])
    [[0.3, 0.88], [0.3, 0.88]]
    """

    def __init__(self, priors: Mapping[str, float] | None = None) -> None:
        self._priors = dict(priors or {})
        for model, value in self._priors.items():
            if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
                raise ValueError(f"prior for {model!r} must be a number in [0, 1], got {value!r}")

    @property
    def models(self) -> tuple[str, ...]:
        """Only the names given explicitly: everything else is a family prior."""
        return tuple(self._priors)

    def prior(self, model: str) -> float:
        value = self._priors.get(model)
        return float(value) if value is not None else prior_quality(model)

    def predict(self, prompts: Sequence[str], models: Sequence[str]) -> list[list[float]]:
        row = [self.prior(m) for m in models]
        return [list(row) for _ in prompts]

    def __repr__(self) -> str:
        return f"PriorPredictor({self._priors!r})" if self._priors else "PriorPredictor()"
