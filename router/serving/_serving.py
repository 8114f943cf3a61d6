"""The serving pipeline: the steps of one request, written once as ops (router._effects).

plan and hold (`Books.open`) -> cache probe -> the attempt loop under the request's
strategy (`Route`: the plan in order; `router.serving._cascade.Cascade`: free first, verified,
escalated when doubted) -> settle and record (`Books.settle`), or record the failure
(`Books.fail`). Every store read or write and every call to a deployment is an effect,
so `Router.complete` and `Router.acomplete` (and the two streams) run this same code,
one through the blocking driver, the other on the event loop without blocking it.
The Router facade wires these; this module holds no policy or planning logic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from router._effects import Blocking, Complete, Op, OpenStream, blocking
from router._models import Deployment, Message, Request
from router._records import Attempt, Decision, Result, Usage, Verification
from router.decision import (
    SERVING_ARGS,
    BudgetState,
    call_params,
    check_timeout,
    max_cost_micro,
    to_request,
)
from router.errors import InvalidRequest, RouterError
from router.money import Books, Outcome, Ticket, estimate_usage, new_request_id, response_usage
from router.serving._backends import Backend
from router.serving._cascade import replay_chunks
from router.serving._executor import Call, Job, RetryPolicy, attempts
from router.serving._streaming import Chunk, Settle
from router.state.cache import Cache, ResponseCache, is_deterministic
from router.state.cooldowns import Cooldowns

__all__ = ["Opened", "Pipeline", "Route", "Strategy"]

T = TypeVar("T")
Response = dict[str, Any]
Served = tuple[T, Deployment, tuple[Attempt, ...], Verification | None]
Head = tuple[list[Chunk], Any]
"""The chunks up to the first with output, and the rest of the stream (an iterator, an
async iterator, or None when the whole answer is in the head)."""


class Strategy(Protocol):
    """How a request's plan is served: chosen once per request (`mode`)."""

    def hold(self, decision: Decision) -> int:
        """The most the request may cost, held on its budgets (0 for a free plan)."""
        ...

    def serve(self, job: Job[T]) -> Op[Served[T]]:
        """Call the job's plan with `job.then(deployment, seconds_left)`."""
        ...


@dataclass
class Route:
    """`mode = "route"`: the plan's deployments in order, with retries, fallback and one
    deadline (`router.serving._executor.attempts`)."""

    retry: RetryPolicy
    cooldowns: Cooldowns
    by_name: Mapping[str, Deployment]

    def hold(self, decision: Decision) -> int:
        f = decision.features
        return max(
            (max_cost_micro(f, self.by_name[c.name]) for c in decision.candidates), default=0
        )

    def serve(self, job: Job[T]) -> Op[Served[T]]:
        plan = [self.by_name[c.name] for c in job.decision.candidates]
        out, served, tried = yield from attempts(
            plan, job.then, timeout=job.timeout, policy=self.retry, cooldowns=self.cooldowns
        )
        return out, served, tried, None


class Warmth(Protocol):
    """Whether the backend's first-call cost is paid (`router._router._Warmth`)."""

    done: bool

    def busy(self) -> bool:
        """A warmup is running in another thread now."""
        ...

    def wait(self) -> None: ...


Opened = tuple[list[Chunk], Any, Decision, Settle]
"""A stream's head, its rest, the decision so far and what settles it at its end."""


@dataclass
class Pipeline:
    """What one Router needs to serve a request, beyond planning it."""

    books: Books
    by_name: Mapping[str, Deployment]
    backend: Backend
    cache: Cache | None
    strategies: Mapping[str, Strategy]
    default_mode: str
    warmth: Warmth
    default_timeout: float
    decide: Callable[[Request, Sequence[BudgetState], str | None], Decision]
    """Plans a request under budgets; the third argument is its request id."""

    # -- the two requests ------------------------------------------------------------

    def complete(
        self, messages: Sequence[Mapping[str, Any] | Message], args: Mapping[str, Any]
    ) -> Op[Result]:
        """A whole answer: `Router.complete` and `Router.acomplete` (`CompleteArgs`)."""
        args, (timeout, mode, cache) = self._serving_args(args)
        strategy = self._strategy(mode)
        if cache is not None and not isinstance(cache, bool):
            raise InvalidRequest(
                "cache", "write True, False or None (None: cache deterministic requests)"
            )
        ticket, call = yield from self._open(messages, args, timeout, strategy)
        use_cache = self.cache is not None and (
            cache if cache is not None else is_deterministic(call)
        )
        if use_cache and (hit := (yield from self._cache_hit(ticket, call))) is not None:
            return hit
        response, served, tried, verification = yield from self._served(
            ticket, call, timeout, strategy, then=self._completion(call), keep=lambda r: r
        )
        decision = ticket.decision
        if use_cache:  # only the served answer: never a cascade's rejected free answer
            yield from self._cache_put(
                self._cache_key(decision, served.name, call), decision, response
            )
        done = dataclasses.replace(
            decision, attempts=tried, served_by=served.name, verification=verification
        )
        usage = response_usage(decision, response)
        return Result(response, (yield from self.books.settle(ticket, done, usage)))

    def stream(
        self, messages: Sequence[Mapping[str, Any] | Message], args: Mapping[str, Any]
    ) -> Op[Opened]:
        """A stream opened up to its first chunk with output: `Router.stream`/`astream`
        (`StreamArgs`). In cascade mode a kept free answer comes whole in the head."""
        if "cache" in args:
            raise InvalidRequest("cache", "streams are not cached: leave cache unset")
        args, (timeout, mode, _) = self._serving_args(args)
        strategy = self._strategy(mode)
        ticket, call = yield from self._open(messages, args, timeout, strategy)
        (head, rest), served, tried, verification = yield from self._served(
            ticket, call, timeout, strategy, then=self._opening(call), keep=_replayed
        )
        started = dataclasses.replace(
            ticket.decision, attempts=tried, served_by=served.name, verification=verification
        )
        return head, rest, started, self._settler(ticket, started)

    # -- the steps -------------------------------------------------------------------

    def _serving_args(
        self, args: Mapping[str, Any]
    ) -> tuple[dict[str, Any], tuple[float, str | None, Any]]:
        """The request's own arguments, and how to serve it: timeout, mode, cache."""
        rest = {k: v for k, v in args.items() if k not in SERVING_ARGS}
        timeout = check_timeout(args.get("timeout", self.default_timeout))
        return rest, (timeout, args.get("mode"), args.get("cache"))

    def _strategy(self, mode: str | None) -> Strategy:
        found = self.strategies.get(mode or self.default_mode)
        if found is None:
            raise InvalidRequest("mode", "write 'route' or 'cascade'")
        return found

    def _open(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        args: Mapping[str, Any],
        timeout: float,
        strategy: Strategy,
    ) -> Op[tuple[Ticket, dict[str, Any]]]:
        """The ticket (decision and budget hold) and the litellm call parameters."""
        if args.get("stream"):
            raise InvalidRequest("stream", "leave stream unset; call Router.stream() to stream")
        req, request_id = to_request(messages, args), new_request_id()
        ticket = yield from self.books.open(
            req,
            lambda states: self.decide(req, states, request_id),
            timeout=timeout,
            hold_amount=strategy.hold,
        )
        call = call_params(req)
        if ticket.held:  # money is held for this output budget: the provider must keep to it
            call[req.output_field] = ticket.decision.features.max_output_tokens
        return ticket, call

    def _served(
        self,
        ticket: Ticket,
        call: dict[str, Any],
        timeout: float,
        strategy: Strategy,
        *,
        then: Call[T],
        keep: Callable[[Response], T],
    ) -> Op[Served[T]]:
        """The attempt loop under `strategy`. A request that ends in a router error is
        recorded and releases what it held; so does one that ends any other way while
        its calls are out, above all one cancelled by its caller (`asyncio.
        CancelledError`: a client that disconnected, a `wait_for` that timed out),
        recorded as an error named after the exception, at no cost."""
        try:
            if not self.warmth.done and self.warmth.busy():
                # a warmup is running: wait for it rather than load twice (the wait counts
                # in the record's latency, before the chain's own timeout starts)
                yield Blocking(self.warmth.wait)
            return (yield from strategy.serve(Job(ticket.decision, call, timeout, then, keep)))
        except GeneratorExit:
            raise
        except RouterError as exc:
            exc.request_id = ticket.decision.request_id
            tried = getattr(exc, "attempts", None)
            failed = (
                dataclasses.replace(ticket.decision, attempts=tuple(tried))
                if tried
                else ticket.decision
            )
            yield from self.books.fail(ticket, failed, exc)
            raise
        except BaseException as exc:
            yield from self.books.fail(ticket, ticket.decision, exc)
            raise

    def _completion(self, call: dict[str, Any]) -> Call[Response]:
        def once(d: Deployment, left: float) -> Op[Response]:
            try:
                response: Response = yield Complete(self.backend, d, call, left)
            finally:  # once a call returns (or fails), the backend is warm
                self.warmth.done = True
            return response

        return once

    def _opening(self, call: dict[str, Any]) -> Call[Head]:
        def once(d: Deployment, left: float) -> Op[Head]:
            try:
                head: Head = yield OpenStream(self.backend, d, call, left)
            finally:
                self.warmth.done = True
            return head

        return once

    def _settler(self, ticket: Ticket, decision: Decision) -> Settle:
        """What a stream runs once when it ends: usage (estimated from the delivered text
        when the provider sent none), cost and the ledger record. A stream cut before its
        end (`cut`: by the provider, "StreamInterrupted", or by its caller,
        "ClosedByCaller") is recorded as interrupted, with the cut as its error, and is
        charged for what was delivered all the same."""

        def settle(usage: Usage | None, delivered: str, cut: str | None) -> Op[Decision]:
            used = usage or estimate_usage(decision, delivered)
            outcome: Outcome = "ok" if cut is None else "interrupted"
            return self.books.settle(ticket, decision, used, outcome=outcome, error=cut)

        return settle

    # -- the cache -------------------------------------------------------------------

    def _cache_key(self, decision: Decision, deployment: str, call: dict[str, Any]) -> str:
        return ResponseCache.key(
            decision.features.tenant, decision.policy_fingerprint, deployment, call
        )

    def _cache_hit(self, ticket: Ticket, call: dict[str, Any]) -> Op[Result | None]:
        """The first cached answer among the plan's deployments (all eligible now)."""
        decision = ticket.decision
        tenant = decision.features.tenant
        for c in decision.candidates:
            key = self._cache_key(decision, c.name, call)
            response = yield from self._cache_get(key, tenant)
            if response is not None:
                hit = dataclasses.replace(decision, served_by=c.name, cache_hit=True)
                usage = response_usage(decision, response)
                settled = yield from self.books.settle(ticket, hit, usage, cache_hit=True)
                return Result(response, settled)
        return None

    def _cache_get(self, key: str, tenant: str) -> Op[Response | None]:
        cache = self.cache
        assert cache is not None
        get_op = getattr(cache, "get_op", None)  # a cache of the caller's own may lack ops
        found: Response | None = yield from (
            get_op(key, tenant) if get_op else blocking(lambda: cache.get(key, tenant))
        )
        return found

    def _cache_put(self, key: str, decision: Decision, response: Response) -> Op[None]:
        cache, tenant = self.cache, decision.features.tenant
        assert cache is not None
        put_op = getattr(cache, "put_op", None)
        yield from (
            put_op(key, tenant, response)
            if put_op
            else blocking(lambda: cache.put(key, tenant, response))
        )


def _replayed(answer: Response) -> Head:
    """A complete answer as a stream's head, with nothing after it."""
    return replay_chunks(answer), None
