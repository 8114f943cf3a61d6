"""Serving mechanics behind the Router's four entry points: the ticket (plan + budget
hold), the call parameters, the cache probe and fill, settling usage and cost into the
ledger, and recording failures. The Router facade wires these; this module holds no
policy or planning logic.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.accounting import estimate_usage, response_usage
from router.arguments import call_params, to_request
from router.books import Books, Ticket
from router.budgets import BudgetState
from router.cache import Cache, ResponseCache, is_deterministic
from router.cooldowns import Cooldowns
from router.errors import InvalidRequest, RouterError
from router.executor import RetryPolicy
from router.feedback import new_request_id
from router.ledger import Outcome
from router.models import Deployment, Message, Request
from router.records import Attempt, Decision, Result, Usage, Verification
from router.streaming import Settle

__all__ = ["Serving"]


@dataclass
class Serving:
    """What one Router needs to serve a request, beyond planning it."""

    books: Books
    by_name: Mapping[str, Deployment]
    retry: RetryPolicy
    cooldowns: Cooldowns
    cache: Cache | None
    decide: Callable[[Request, Sequence[BudgetState], str | None], Decision]
    """Plans a request under budgets; the third argument is its request id."""

    def chain(self, timeout: float) -> dict[str, Any]:
        return {"timeout": timeout, "policy": self.retry, "cooldowns": self.cooldowns}

    def settler(self, ticket: Ticket, decision: Decision) -> Settle:
        """What a stream calls once when it ends: usage (estimated from the delivered text
        when the provider sent none), cost and the ledger record."""

        def settle(usage: Usage | None, delivered: str, interrupted: bool) -> Decision:
            used = usage or estimate_usage(decision, delivered)
            outcome: Outcome = "interrupted" if interrupted else "ok"
            return self.books.settle(ticket, decision, used, outcome=outcome)

        return settle

    @contextlib.contextmanager
    def failures(self, ticket: Ticket) -> Iterator[None]:
        """Record a request that ends in a router error, and release what it held.

        Also a request that ends any other way while its calls are out: above all one
        cancelled by its caller (`asyncio.CancelledError`: a client that disconnected, a
        `wait_for` that timed out), which would otherwise leave no record and hold its
        budget reservation until it lapses. It is recorded as an error named after the
        exception, at no cost (like a call that timed out), and the exception goes on."""
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
        except BaseException as exc:
            self.books.fail(ticket, ticket.decision, exc)
            raise

    def use_cache(self, cache: bool | None, call: dict[str, Any]) -> bool:
        """Cache only with a cache configured, and only deterministic requests unless the
        caller says `cache=True` (or keeps a deterministic one out with `cache=False`)."""
        if self.cache is None:
            return False
        return cache if cache is not None else is_deterministic(call)

    def _cache_key(self, decision: Decision, deployment: str, call: dict[str, Any]) -> str:
        return ResponseCache.key(
            decision.features.tenant, decision.policy_fingerprint, deployment, call
        )

    def cache_hit(
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

    def finish(
        self,
        ticket: Ticket,
        call: dict[str, Any],
        outcome: tuple[dict[str, Any], Deployment, tuple[Attempt, ...]],
        use_cache: bool,
        verification: Verification | None = None,
    ) -> Result:
        """Cache the served answer (only it: never a cascade's rejected free answer),
        settle usage and cost, and write the record."""
        response, served, attempts = outcome
        decision = ticket.decision
        if use_cache and self.cache is not None:
            key = self._cache_key(decision, served.name, call)
            self.cache.put(key, decision.features.tenant, response)
        done = dataclasses.replace(
            decision, attempts=attempts, served_by=served.name, verification=verification
        )
        usage = response_usage(decision, response)
        return Result(response, self.books.settle(ticket, done, usage))

    def prepare(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        args: Mapping[str, Any],
        timeout: float,
        hold: Callable[[Decision], int] | None = None,
    ) -> tuple[Ticket, dict[str, Any], list[Deployment]]:
        """The ticket (decision and budget hold), the litellm call parameters, and the
        plan's deployments in order. `hold`: what to reserve on the budgets, when a request
        may make more than one paid call (the cascade)."""
        if args.get("stream"):
            raise InvalidRequest("stream", "leave stream unset; call Router.stream() to stream")
        req, request_id = to_request(messages, args), new_request_id()
        ticket = self.books.open(
            req,
            lambda states: self.decide(req, states, request_id),
            timeout=timeout,
            hold_amount=hold,
        )
        call = call_params(req)
        if ticket.held:  # money is held for this output budget: the provider must keep to it
            call[req.output_field] = ticket.decision.features.max_output_tokens
        return ticket, call, [self.by_name[c.name] for c in ticket.decision.candidates]
