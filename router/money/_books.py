"""The books of a Router: budgets before the call, cost and the ledger record after it.

Each step is an op (router._effects): the store's reads and writes are its effects.
`open` reads the budgets a request counts against, plans with them, and reserves the
request's maximum cost on them (re-planning if another request took the money first).
`settle` prices the usage, writes the ledger record and releases the reservation with
the actual cost, in one transaction. `fail` records a request that got no answer.
Without a ledger, nothing is written and budgets are not allowed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from router._effects import Op
from router._models import Deployment, Request
from router._records import Decision, Usage
from router.decision import Budget, BudgetState, applicable
from router.errors import NoEligibleDeployment
from router.money._accounting import account
from router.money._feedback import verdicts
from router.money._ledger import Ledger, LedgerBudgets, Outcome, row_of
from router.observe import current as observed
from router.state import BudgetStore, StateSettings, StateUnavailable, collecting, note

__all__ = ["Books", "Ticket"]

_RETRIES = 3  # re-plans when a concurrent request took the budget between read and reserve
HOLD_MARGIN = 60.0  # seconds a reservation outlives the request's deadline (killed process)


class Ticket(NamedTuple):
    """An open request: its decision, when it started, what it holds on which budgets."""

    decision: Decision
    ts: float
    started: float
    counters: tuple[tuple[str, str], ...]
    token: str | None
    """Names the request's reservations; set when budgets apply."""
    held: bool
    """Money is held: the call must carry `max_tokens` for the bound to hold."""
    prompt: str | None
    notes: list[str] | None = None
    """What the request saw of shared state (`Decision.shared_state`), as it happens."""
    tenant: str = "default"


_CLOSED = "shared state unavailable: budgets failed closed (paid deployments left out)"
_OPEN = "shared state unavailable: budgets not checked (budgets_when_unavailable = open)"


class Books:
    """Budgets, cost and the ledger for one Router."""

    def __init__(
        self,
        *,
        ledger: Ledger | None,
        budgets: Sequence[Budget],
        baseline: tuple[float, float] | None,
        by_name: Mapping[str, Deployment],
        store_prompts: bool = False,
        clock: Callable[[], float] = time.time,
        shared: BudgetStore | None = None,
        state_settings: StateSettings | None = None,
        quality_model: str | None = None,
    ) -> None:
        self.store: BudgetStore | None = shared or (
            LedgerBudgets(ledger, clock) if ledger is not None else None
        )
        """Where the budget counters live: Redis when shared, else the ledger."""
        self.state_settings = state_settings or StateSettings()
        self.ledger = ledger
        self.budgets = tuple(budgets)
        self.baseline = baseline
        self.by_name = by_name
        self.store_prompts = store_prompts
        self.clock = clock
        self.quality_model = quality_model
        """The digest recorded with each profile (`router.money._feedback.profile_digest`)."""

    def states(self, request: Request, now: float) -> Op[list[BudgetState]]:
        """The budgets `request` counts against, with what is used of each now."""
        unread = self._unread(request, now)
        if not unread:
            return []
        assert self.store is not None  # budgets apply only with a store
        try:
            used = yield from self.store.used_op(
                request.tenant, [(s.key, s.window) for s in unread]
            )
        except StateUnavailable:
            return self._unavailable(unread)
        return [s._replace(used_micro=u) for s, u in zip(unread, used, strict=True)]

    def _unavailable(self, states: list[BudgetState]) -> list[BudgetState]:
        """The budgets as planned without their store: spent (closed) or ignored (open)."""
        if self.state_settings.budgets_when_unavailable == "open":
            note(_OPEN)
            return []
        note(_CLOSED)
        return [s._replace(used_micro=s.budget.limit_micro) for s in states]

    def _unread(self, request: Request, now: float) -> list[BudgetState]:
        """The budgets `request` counts against, their counters not read (used = 0)."""
        if self.store is None:
            return []
        tenant = request.tenant
        return [
            BudgetState(b, tenant, b.key(tenant), b.window(now), 0)
            for b in applicable(self.budgets, tenant, request.tags)
        ]

    def open(
        self,
        request: Request,
        decide: Callable[[Sequence[BudgetState]], Decision],
        *,
        timeout: float,
        hold_amount: Callable[[Decision], int],
    ) -> Op[Ticket]:
        """Plan under the budgets and hold the request's maximum cost on them.

        Optimistic: the first plan assumes the budgets have room, and the reservation (one
        atomic statement) checks it and returns what was used. Only when it fails (or a
        soft budget has passed a step) is the plan made again with the real counters.

        What is held is `hold_amount(decision)`, the serving strategy's figure: the most one
        call to a candidate may cost (`router.serving.Route.hold`), or more when the request
        may make several paid calls (the cascade: a free answer, its samples and one
        escalation; `router.serving._cascade.hold_micro`). It must be 0 for a plan of
        zero-price deployments (the last re-plan relies on it).
        """
        started, now = time.perf_counter(), self.clock()
        prompt = self._prompt(request)
        notes, tenant = collecting(), request.tenant
        states = self._unread(request, now)
        known = False  # do `states` hold the real counters yet?
        for attempt in range(_RETRIES + 1):
            if attempt == _RETRIES:  # still racing: plan as if every budget were spent
                states = [s._replace(used_micro=s.budget.limit_micro) for s in states]
            try:
                decision = decide(states)
            except NoEligibleDeployment as exc:
                unheld = Ticket(exc.decision, now, started, (), None, False, prompt, notes, tenant)
                recorded = yield from self._record(
                    unheld, exc.decision, "unservable", "NoEligibleDeployment"
                )
                if recorded.shared_state == exc.decision.shared_state:
                    raise
                # the error says what the record says: budgets failed closed, not spent
                raise NoEligibleDeployment(recorded) from None
            if not states:
                return Ticket(decision, now, started, (), None, False, prompt, notes, tenant)
            counters = tuple((s.key, s.window) for s in states)
            token = os.urandom(12).hex()
            amount = hold_amount(decision)
            if amount == 0:  # a free plan: no budget can change it
                return Ticket(decision, now, started, counters, token, False, prompt, notes, tenant)
            limits = [(s.key, s.window, s.budget.limit_micro) for s in states]
            hold = timeout + HOLD_MARGIN
            assert self.store is not None  # budgets apply only with a store
            try:
                seen = yield from self.store.reserve_op(
                    tenant, token, limits, amount, hold_seconds=hold
                )
            except StateUnavailable:
                states, known = self._unavailable(states), True
                if not states:  # open: serve as planned, nothing held
                    return Ticket(decision, now, started, (), None, False, prompt, notes, tenant)
                continue  # closed: plan again with every budget spent (free only)
            if seen is not None:
                real = [s._replace(used_micro=u) for s, u in zip(states, seen, strict=True)]
                if not known and any(_stepped(s) for s in real):
                    decision = decide(real)  # same candidates, relaxed target: fits the hold
                return Ticket(decision, now, started, counters, token, True, prompt, notes, tenant)
            states, known = (yield from self.states(request, now)), True
        raise AssertionError("unreachable: the last plan holds no paid deployment")

    def settle(
        self,
        ticket: Ticket,
        decision: Decision,
        usage: Usage,
        *,
        cache_hit: bool = False,
        outcome: Outcome = "ok",
        error: str | None = None,
    ) -> Op[Decision]:
        """Price the usage, write the record, release the hold with the actual cost.
        `outcome="interrupted"`: a stream cut after delivering part of an answer; `error`
        says what cut it ("StreamInterrupted": the provider; "ClosedByCaller": the
        caller stopped reading it; default "StreamInterrupted").

        A cascade's calls that did not deliver the answer (a rejected free answer, its
        samples) are added to the cost: `decision.verification.extra_micro`. The baseline
        stays the served answer's usage at the baseline's prices (one call)."""
        served = self.by_name[decision.served_by or ""]
        done = account(decision, served, usage, self.baseline, cache_hit=cache_hit)
        extra = done.verification.extra_micro if done.verification else 0
        if extra and done.cost is not None:
            done = dataclasses.replace(
                done, cost=done.cost._replace(micro_usd=done.cost.micro_usd + extra)
            )
        if outcome == "interrupted" and error is None:
            error = "StreamInterrupted"
        return (yield from self._record(ticket, done, outcome, error, served))

    def fail(self, ticket: Ticket, decision: Decision, error: BaseException) -> Op[Decision]:
        """Record a request that got no answer (a RouterError, or the caller's
        cancellation) and release what it held."""
        return (yield from self._record(ticket, decision, "error", type(error).__name__))

    def _record(
        self,
        ticket: Ticket,
        decision: Decision,
        outcome: Outcome,
        error: str | None,
        served: Deployment | None = None,
    ) -> Op[Decision]:
        """Write the request's ledger row; its ticket settles and releases its holds (in
        the ledger's own statement, or by one script on Redis)."""
        store = self.store
        local = store is None or store.settles_with_record
        if store is not None and not local and ticket.held and ticket.token is not None:
            cost = decision.cost.micro_usd if decision.cost is not None else 0
            yield from store.settle_op(ticket.tenant, ticket.token, ticket.counters, cost)
        if ticket.notes:  # after settling, which may have queued: the record says so
            decision = dataclasses.replace(decision, shared_state=tuple(ticket.notes))
        observed().recorded(decision, outcome, error)  # metrics and spans (router.observe)
        if self.ledger is None:
            return decision
        row = row_of(
            decision,
            ts=ticket.ts,
            outcome=outcome,
            latency_ms=(time.perf_counter() - ticket.started) * 1000,
            error=error,
            hosting=served.hosting if served else None,
            weights=served.weights if served else None,
            prompt=ticket.prompt,
            ticket=ticket.token if local else None,
            counters=ticket.counters if local else (),
            model=served.model if served else None,
            quality_model=self.quality_model,
        )
        yield from self.ledger.write_op(row, verdicts(decision, self.by_name, ts=ticket.ts))
        return decision

    def _prompt(self, request: Request) -> str | None:
        if not self.store_prompts or self.ledger is None:
            return None
        return json.dumps([m.model_dump(exclude_none=True) for m in request.messages])


def _stepped(state: BudgetState) -> bool:
    """A soft budget past its first step: the plan must relax the quality target."""
    budget = state.budget
    return budget.mode == "soft" and bool(budget.steps) and state.share_used >= budget.steps[0][0]
