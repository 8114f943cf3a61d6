"""The Router facade: wires config, features, policy and planner. No business logic."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

from pydantic import ValidationError

from router.accounting import estimate_usage, response_usage
from router.arguments import RequestArgs, call_params, to_request
from router.backends import Backend, LiteLLMBackend
from router.books import Books, Ticket
from router.budgets import Budget, BudgetState, parse_budgets
from router.cache import ResponseCache, is_deterministic
from router.catalog import DeploymentSpec
from router.config import baseline_prices, load_config, resolve_deployments
from router.cooldowns import BreakerState, CooldownPolicy, Cooldowns
from router.errors import (
    ConfigError,
    InvalidRequest,
    NoEligibleDeployment,
    RouterError,
)
from router.executor import RetryPolicy, aexecute, execute
from router.ledger import Ledger, Outcome
from router.models import Deployment, Message, Request
from router.packs import load_policy
from router.planner import Settings, plan
from router.policy import Policy, RuleFn
from router.pricing import cost_at
from router.records import Attempt, Decision, Result, Usage
from router.scoring import ObjectiveName, Scorer, prior_scorer
from router.streaming import AsyncStream, Settle, Stream, aopen_head, open_head

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
        ticket, call, candidates = self._prepare(messages, args, timeout)
        use_cache = self._use_cache(cache, call)
        if use_cache and (hit := self._cache_hit(ticket, call, candidates)) is not None:
            return hit
        with self._failures(ticket):
            outcome = execute(
                candidates,
                lambda d, left: self.backend.complete(d, call, left),
                **self._chain(timeout),
            )
        return self._finish(ticket, call, outcome, use_cache)

    async def acomplete(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        *,
        timeout: float = 60.0,
        cache: bool | None = None,
        **args: Unpack[RequestArgs],
    ) -> Result:
        """`complete` as a coroutine: litellm's async client, asyncio sleeps, no threads."""
        ticket, call, candidates = self._prepare(messages, args, timeout)
        use_cache = self._use_cache(cache, call)
        if use_cache and (hit := self._cache_hit(ticket, call, candidates)) is not None:
            return hit
        with self._failures(ticket):
            outcome = await aexecute(
                candidates,
                lambda d, left: self.backend.acomplete(d, call, left),
                **self._chain(timeout),
            )
        return self._finish(ticket, call, outcome, use_cache)

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
        ticket, call, candidates = self._prepare(messages, args, timeout)

        def open_stream(
            d: Deployment, left: float
        ) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]]]:
            return open_head(d.name, self.backend.stream(d, call, left))

        with self._failures(ticket):
            (head, rest), served, attempts = execute(
                candidates,
                open_stream,
                **self._chain(timeout),
            )
        started = dataclasses.replace(ticket.decision, attempts=attempts, served_by=served.name)
        return Stream(head, rest, started, self._settler(ticket, started))

    async def astream(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        *,
        timeout: float = 60.0,
        **args: Unpack[RequestArgs],
    ) -> AsyncStream:
        """`stream` as a coroutine: await it, then `async for` over the chunks."""
        ticket, call, candidates = self._prepare(messages, args, timeout)

        async def open_stream(
            d: Deployment, left: float
        ) -> tuple[list[dict[str, Any]], AsyncIterator[dict[str, Any]]]:
            return await aopen_head(d.name, self.backend.astream(d, call, left))

        with self._failures(ticket):
            (head, rest), served, attempts = await aexecute(
                candidates,
                open_stream,
                **self._chain(timeout),
            )
        started = dataclasses.replace(ticket.decision, attempts=attempts, served_by=served.name)
        return AsyncStream(head, rest, started, self._settler(ticket, started))

    def _chain(self, timeout: float) -> dict[str, Any]:
        return {"timeout": timeout, "policy": self.retry, "cooldowns": self.cooldowns}

    def _settler(self, ticket: Ticket, decision: Decision) -> Settle:
        """What a stream calls once when it ends: usage (estimated from the delivered text
        when the provider sent none), cost and the ledger record."""

        def settle(usage: Usage | None, delivered: str, interrupted: bool) -> Decision:
            used = usage or estimate_usage(decision, delivered)
            outcome: Outcome = "interrupted" if interrupted else "ok"
            return self.books.settle(ticket, decision, used, outcome=outcome)

        return settle

    @contextlib.contextmanager
    def _failures(self, ticket: Ticket) -> Iterator[None]:
        """Record a request that ends in a router error, and release what it held."""
        try:
            yield
        except RouterError as exc:
            attempts = getattr(exc, "attempts", None)
            failed = (
                dataclasses.replace(ticket.decision, attempts=tuple(attempts))
                if attempts
                else ticket.decision
            )
            self.books.fail(ticket, failed, exc)
            raise

    def _use_cache(self, cache: bool | None, call: dict[str, Any]) -> bool:
        """Cache only with a cache configured, and only deterministic requests unless the
        caller says `cache=True` (or keeps a deterministic one out with `cache=False`)."""
        if self.cache is None:
            return False
        return cache if cache is not None else is_deterministic(call)

    def _cache_key(self, decision: Decision, deployment: str, call: dict[str, Any]) -> str:
        return ResponseCache.key(
            decision.features.tenant, decision.policy_fingerprint, deployment, call
        )

    def _cache_hit(
        self, ticket: Ticket, call: dict[str, Any], candidates: Sequence[Deployment]
    ) -> Result | None:
        """The first cached answer among the plan's deployments (all eligible now)."""
        assert self.cache is not None
        decision = ticket.decision
        tenant = decision.features.tenant
        for d in candidates:
            response = self.cache.get(self._cache_key(decision, d.name, call), tenant)
            if response is not None:
                hit = dataclasses.replace(decision, served_by=d.name, cache_hit=True)
                usage = response_usage(decision, response)
                return Result(response, self.books.settle(ticket, hit, usage, cache_hit=True))
        return None

    def _finish(
        self,
        ticket: Ticket,
        call: dict[str, Any],
        outcome: tuple[dict[str, Any], Deployment, tuple[Attempt, ...]],
        use_cache: bool,
    ) -> Result:
        response, served, attempts = outcome
        decision = ticket.decision
        if use_cache and self.cache is not None:
            key = self._cache_key(decision, served.name, call)
            self.cache.put(key, decision.features.tenant, response)
        done = dataclasses.replace(decision, attempts=attempts, served_by=served.name)
        usage = response_usage(decision, response)
        return Result(response, self.books.settle(ticket, done, usage))

    def _prepare(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        args: Mapping[str, Any],
        timeout: float,
    ) -> tuple[Ticket, dict[str, Any], list[Deployment]]:
        """The ticket (decision and budget hold), the litellm call parameters, and the
        plan's deployments in order."""
        if args.get("stream"):
            raise InvalidRequest("stream", "leave stream unset; call Router.stream() to stream")
        req = to_request(messages, args)
        ticket = self.books.open(req, lambda states: self._decide(req, states), timeout=timeout)
        call = call_params(req, args)
        if ticket.held:  # money is held for this output budget: the provider must keep to it
            call["max_tokens"] = ticket.decision.features.max_output_tokens
        return ticket, call, [self._by_name[c.name] for c in ticket.decision.candidates]
