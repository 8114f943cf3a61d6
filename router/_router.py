"""The Router facade: wires config, features, policy and planner. No business logic."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

from pydantic import ValidationError

from router.arguments import RequestArgs, to_request
from router.backends import Backend, LiteLLMBackend
from router.books import Books
from router.budgets import Budget, BudgetState, parse_budgets
from router.cache import ResponseCache
from router.catalog import DeploymentSpec
from router.config import baseline_prices, load_config, resolve_deployments
from router.cooldowns import BreakerState, CooldownPolicy, Cooldowns
from router.errors import (
    ConfigError,
    NoEligibleDeployment,
    ProviderTimeout,
)
from router.executor import RetryPolicy, aexecute, execute
from router.ledger import Ledger
from router.models import Deployment, Message, Request
from router.packs import load_policy
from router.planner import Settings, plan
from router.policy import Policy, RuleFn
from router.pricing import cost_at
from router.records import Decision, Result
from router.scoring import ObjectiveName, Scorer, prior_scorer
from router.serving import Serving
from router.streaming import AsyncStream, Stream, aopen_head, open_head

__all__ = ["Router"]

_SOURCE = "Router(...)"


class Router:
    """Routes each request to the cheapest deployment that is allowed, able and good enough.

    >>> import router
    >>> r = router.Router(
    ...     deployments=[
    ...         {"name": "local", "model": "openai/qwen2.5-7b-instruct",
    ...          "api_base": "http://127.0.0.1:8080/v1", "context_window": 32768},
    ...         {"name": "gpt-4o", "model": "gpt-4o", "api_key_env": "OPENAI_API_KEY"},
    ...     ],
    ...     quality_target=0.8,
    ... )
    >>> r.plan([{"role": "user", "content": "Say hi"}]).chosen.name
    'local'
    """

    def __init__(
        self,
        deployments: Sequence[Mapping[str, Any] | DeploymentSpec | Deployment],
        *,
        policy: Policy | str | Path = "free-first",
        rules: Sequence[RuleFn] = (),
        objective: ObjectiveName | None = None,
        quality_target: float | None = None,
        settings: Settings | None = None,
        scorer: Scorer = prior_scorer,
        baseline: str | None = None,
        backend: Backend | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008  (frozen: a shared default is safe)
        cooldown: CooldownPolicy = CooldownPolicy(),  # noqa: B008
        cache: ResponseCache | None = None,
        ledger: Ledger | str | Path | None = None,
        budgets: Sequence[Budget | Mapping[str, Any]] = (),
        store_prompts: bool = False,
    ) -> None:
        self.deployments: tuple[Deployment, ...] = resolve_deployments(deployments, _SOURCE)
        if not self.deployments:
            raise ConfigError(_SOURCE, "deployments", "give at least one deployment")
        if isinstance(policy, Policy):
            if rules:
                policy = Policy.of(policy.name, [*policy.rules, *rules])
            self.policy = policy
        else:
            self.policy = load_policy(policy, extra_rules=rules, source=_SOURCE)
        base = settings or Settings()
        changes: dict[str, Any] = {}
        if objective is not None:
            changes["objective"] = objective
        if quality_target is not None:
            changes["quality_target"] = quality_target
        try:
            self.settings = Settings.model_validate({**base.model_dump(), **changes})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(_SOURCE, str(err["loc"][0]), str(err["msg"])) from None
        self._bound = self.policy.bind(self.deployments)
        self._by_name = {d.name: d for d in self.deployments}
        self.backend: Backend = backend or LiteLLMBackend()
        self.retry = retry
        self.cooldowns = Cooldowns(cooldown)
        self.cache = cache
        self.baseline = baseline
        self.baseline_prices = baseline_prices(baseline, self.deployments, _SOURCE)
        self.scorer = scorer
        self.ledger = ledger if isinstance(ledger, Ledger) or ledger is None else Ledger(ledger)
        parsed = parse_budgets(budgets, _SOURCE)
        if parsed and self.ledger is None:
            raise ConfigError(
                _SOURCE, "budgets", "budgets are kept in the ledger: also pass ledger='PATH'"
            )
        self.books = Books(
            ledger=self.ledger,
            budgets=parsed,
            baseline=self.baseline_prices,
            by_name=self._by_name,
            store_prompts=store_prompts,
        )
        self._serving = Serving(
            books=self.books,
            by_name=self._by_name,
            retry=self.retry,
            cooldowns=self.cooldowns,
            cache=self.cache,
            decide=self._decide,
        )

    @classmethod
    def from_config(cls, path: str | Path, *, rules: Sequence[RuleFn] = ()) -> Router:
        """A Router from a TOML config file (see the README, "Config")."""
        cfg = load_config(path, extra_rules=rules)
        return cls(
            cfg.deployments,
            policy=cfg.policy,
            settings=cfg.settings,
            baseline=cfg.baseline,
            ledger=cfg.ledger,
            budgets=cfg.budgets,
            store_prompts=cfg.store_prompts,
        )

    def request(
        self, messages: Sequence[Mapping[str, Any] | Message], **args: Unpack[RequestArgs]
    ) -> Request:
        """Validate OpenAI-style arguments into a Request, or raise InvalidRequest."""
        return to_request(messages, args)

    def plan(
        self, messages: Sequence[Mapping[str, Any] | Message], **args: Unpack[RequestArgs]
    ) -> Decision:
        """The decision for a request, without calling any model.

        `quality_target` overrides the configured one for this request ("this one
        matters: keep 97% of the best eligible model's predicted quality").

        Raises NoEligibleDeployment (with the full decision attached) when nothing
        may serve it.
        """
        req = to_request(messages, args)
        return self._decide(req, self.books.states(req, self.books.clock()))

    def _decide(self, req: Request, budgets: Sequence[BudgetState] = ()) -> Decision:
        decision = plan(
            req, self.deployments, self._bound, self.settings, self.scorer, budgets=budgets
        )
        if not decision.candidates:
            raise NoEligibleDeployment(decision)
        return decision

    def health(self) -> dict[str, BreakerState]:
        """Each deployment's breaker: closed, open (with seconds until a probe) or half-open."""
        return {d.name: self.cooldowns.state(d.name) for d in self.deployments}

    def baseline_cost_usd(self, decision: Decision) -> float | None:
        """What the request would cost at the baseline's prices (None without a baseline)."""
        if self.baseline_prices is None:
            return None
        return cost_at(decision.features, *self.baseline_prices)

    def complete(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        *,
        timeout: float = 60.0,
        cache: bool | None = None,
        **args: Unpack[RequestArgs],
    ) -> Result:
        """Plan the request and call the plan's deployments in order until one answers.

        Retries and fallback stay inside the plan; `timeout` bounds the whole chain.
        `cache` overrides the rule that only deterministic requests are cached.
        Raises NoEligibleDeployment, the caller's BadRequest, or AllDeploymentsFailed.
        """
        ticket, call, candidates = self._serving.prepare(messages, args, timeout)
        use_cache = self._serving.use_cache(cache, call)
        if use_cache and (hit := self._serving.cache_hit(ticket, call, candidates)) is not None:
            return hit
        with self._serving.failures(ticket):
            outcome = execute(
                candidates,
                lambda d, left: self.backend.complete(d, call, left),
                **self._serving.chain(timeout),
            )
        return self._serving.finish(ticket, call, outcome, use_cache)

    async def acomplete(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        *,
        timeout: float = 60.0,
        cache: bool | None = None,
        **args: Unpack[RequestArgs],
    ) -> Result:
        """`complete` as a coroutine: litellm's async client, asyncio sleeps, no threads."""
        ticket, call, candidates = self._serving.prepare(messages, args, timeout)
        use_cache = self._serving.use_cache(cache, call)
        if use_cache and (hit := self._serving.cache_hit(ticket, call, candidates)) is not None:
            return hit
        with self._serving.failures(ticket):
            outcome = await aexecute(
                candidates,
                lambda d, left: self.backend.acomplete(d, call, left),
                **self._serving.chain(timeout),
            )
        return self._serving.finish(ticket, call, outcome, use_cache)

    def stream(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        *,
        timeout: float = 60.0,
        **args: Unpack[RequestArgs],
    ) -> Stream:
        """Stream the answer. Retries and fallback happen before the first chunk; after it,
        a failure raises StreamInterrupted with the text already delivered. Usage and cost
        are settled when the stream ends, fails or is closed early."""
        ticket, call, candidates = self._serving.prepare(messages, args, timeout)

        def open_stream(
            d: Deployment, left: float
        ) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]]]:
            return open_head(d.name, self.backend.stream(d, call, left))

        with self._serving.failures(ticket):
            (head, rest), served, attempts = execute(
                candidates,
                open_stream,
                **self._serving.chain(timeout),
            )
        started = dataclasses.replace(ticket.decision, attempts=attempts, served_by=served.name)
        return Stream(head, rest, started, self._serving.settler(ticket, started))

    async def astream(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        *,
        timeout: float = 60.0,
        **args: Unpack[RequestArgs],
    ) -> AsyncStream:
        """`stream` as a coroutine: await it, then `async for` over the chunks."""
        ticket, call, candidates = self._serving.prepare(messages, args, timeout)

        async def open_stream(
            d: Deployment, left: float
        ) -> tuple[list[dict[str, Any]], AsyncIterator[dict[str, Any]]]:
            import asyncio  # noqa: PLC0415  (not at `import router`)

            try:
                async with asyncio.timeout(left):  # the exact deadline (see client_timeout)
                    return await aopen_head(d.name, self.backend.astream(d, call, left))
            except TimeoutError:
                raise ProviderTimeout(d.name, "timed out") from None

        with self._serving.failures(ticket):
            (head, rest), served, attempts = await aexecute(
                candidates,
                open_stream,
                **self._serving.chain(timeout),
            )
        started = dataclasses.replace(ticket.decision, attempts=attempts, served_by=served.name)
        return AsyncStream(head, rest, started, self._serving.settler(ticket, started))
