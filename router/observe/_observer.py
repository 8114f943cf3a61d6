"""One Router's observer, and the watch of one request (metrics and spans).

`Observer.complete(op)` / `Observer.stream(op)` return the pipeline's op unchanged when
nothing observes (no metrics, no tracer provider), else the op driven by a `_Watch`
(`router.observe._hooks.bound`): the request's span is started when the op starts, in
the caller's context (so it is a child of the caller's current span), each provider
call's span when the call goes out, and the request's metrics and span end when the op
ends: at once for a completion, when its settlement op ends for a stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from router._effects import run
from router._records import CLOSED_BY_CALLER
from router.errors import InvalidRequest
from router.observe import _metrics as metrics_module
from router.observe._hooks import Call, Verifying, Watch, bound
from router.observe._tracing import provider_name, server_of, tracer, wire_model

if TYPE_CHECKING:
    from router._effects import Complete, Op
    from router._models import Deployment
    from router._records import Decision, Verification

__all__ = ["Observer"]

T = TypeVar("T")

CANCELLED = frozenset({CLOSED_BY_CALLER, "CancelledError"})
"""The ledger `error`s of a request its caller cut: a stream left after its first chunk
(outcome "interrupted"), a request cancelled before its answer (outcome "error", e.g. a
server's client that disconnected): the `outcome` label "cancelled"."""

INVALID = "invalid"
"""The `outcome` label of a request refused as invalid (`InvalidRequest`) before it was
planned: it has no ledger record and no deployment ("none")."""

_NUMERIC_PARAMS = (
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
)
"""Request parameters that go on a call's span: numbers only (never text: no `stop`)."""


class _Facts:
    """What a deployment's spans say about it, computed once."""

    __slots__ = ("attributes", "model", "name")

    def __init__(self, d: Deployment) -> None:
        self.name = d.name
        self.model = wire_model(d.model)
        provider = provider_name(d.model)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": self.model,
            "gen_ai.provider.name": provider,
            "router.deployment": d.name,
        }
        server = server_of(d.api_base)
        if server is not None:
            attributes["server.address"], attributes["server.port"] = server
        self.attributes = attributes


class Observer(metrics_module.Source):
    """What one Router observes: built from `[router] metrics` and `[router] tracing`."""

    def __init__(
        self,
        *,
        metrics: bool,
        tracing: bool,
        deployments: Sequence[Deployment],
        cooldowns: Any = None,
        budgets: Sequence[Any] = (),
        store: Any = None,
        clock: Callable[[], float] = time.time,
        tenants: Iterable[str] = (),
    ) -> None:
        self.metrics = metrics_module.metrics() if metrics else None
        """The process's metrics when this Router counts (`[router] metrics = true`)."""
        self.tracing = tracing
        """Spans when a tracer provider is configured (`[router] tracing`, default true)."""
        self.facts = {d.name: _Facts(d) for d in deployments}
        self._cooldowns = cooldowns
        self._budgets = tuple(budgets)
        self._store = store
        self._clock = clock
        if self.metrics is not None:
            named = [b.tenant for b in self._budgets if b.tenant is not None and b.tenant != "*"]
            self.name_tenants([*named, *tenants])
            metrics_module.watch_source(self)

    # -- per request ---------------------------------------------------------------

    def watch(self, tenant: object = None) -> _Watch | None:
        """A watch for one request, or None when nothing observes it now. `tenant` is the
        request's `tenant` argument as given: the label of a request refused as invalid,
        which has no decision to take it from."""
        found = tracer() if self.tracing else None
        if found is None and self.metrics is None:
            return None
        return _Watch(self, found, tenant)

    def complete(self, op: Op[T], tenant: object = None) -> Op[T]:
        """`op` (a Pipeline.complete op) observed, or `op` itself when nothing observes."""
        watch = self.watch(tenant)
        return op if watch is None else watch.complete(op)

    def stream(self, op: Op[T], tenant: object = None) -> Op[T]:
        """`op` (a Pipeline.stream op) observed until the stream settles."""
        watch = self.watch(tenant)
        return op if watch is None else watch.stream(op)

    # -- labels and scrape-time gauges -----------------------------------------------

    @staticmethod
    def name_tenants(names: Iterable[str]) -> None:
        """Give these tenants a `tenant` label of their own (the server's key tenants);
        at most `MAX_TENANTS` per process, others are "other"."""
        metrics_module.name_tenants(names)

    def breakers(self) -> Iterable[tuple[str, str, int]]:
        if self._cooldowns is None:
            return []
        out = []
        for name in self.facts:
            state = self._cooldowns.state(name)
            out.append((name, state.state, state.consecutive_failures))
        return out

    def budgets(self) -> Iterable[tuple[tuple[str, str, str, str], float, float]]:
        store = self._store
        if store is None or not self._budgets:
            return []
        now = self._clock()
        asked: dict[str, list[tuple[tuple[str, str, str, str], str, str, int]]] = {}
        for b in self._budgets:
            if b.scope == "organisation":
                who: list[tuple[str, str]] = [("default", "")]
            elif b.tenant == "*":
                who = [(t, t) for t in sorted(metrics_module.named_tenants())]
            else:
                who = [(b.tenant, metrics_module.tenant_label(b.tenant))]
            for tenant, label in who:
                labels = (b.scope, label, b.tag or "", b.period)
                asked.setdefault(tenant, []).append(
                    (labels, b.key(tenant), b.window(now), b.limit_micro)
                )
        out = []
        for tenant, rows in asked.items():
            used = run(store.used_op(tenant, [(key, window) for _, key, window, _ in rows]))
            for (labels, _, _, limit), spent in zip(rows, used, strict=True):
                out.append((labels, (limit - spent) / 1e6, limit / 1e6))
        return out


class _VerifySpan(Verifying):
    __slots__ = ("span", "watch")

    def __init__(self, watch: _Watch, span: Any) -> None:
        self.watch, self.span = watch, span

    def done(self, record: Verification) -> None:
        span = self.span
        span.set_attribute("router.verify.first", record.first or "")
        if record.score is not None:
            span.set_attribute("router.verify.score", record.score)
            span.set_attribute("router.verify.passed", record.score >= record.threshold)
        span.set_attribute("router.verify.threshold", record.threshold)
        span.set_attribute("router.verify.samples", record.samples)
        for name, score in record.checks:
            span.set_attribute(f"router.verify.check.{name}", score)
        span.end()
        if self.watch.verify is self:
            self.watch.verify, self.watch.verify_ctx = None, None


class _Watch(Watch):
    """The watch of one request: its timing, its record, its spans."""

    __slots__ = (
        "ctx",
        "decision",
        "finished",
        "head_overhead",
        "observer",
        "outcome",
        "provider_s",
        "recorded_error",
        "span",
        "started",
        "tenant",
        "tracer",
        "tries",
        "verify",
        "verify_ctx",
        "waited_s",
    )

    def __init__(self, observer: Observer, tracer: Any, tenant: object = None) -> None:
        self.observer = observer
        self.tracer = tracer
        self.tenant = tenant
        self.started = 0.0
        self.provider_s = 0.0
        self.waited_s = 0.0
        self.head_overhead = 0.0
        self.decision: Decision | None = None
        self.outcome: str | None = None
        self.recorded_error: str | None = None
        self.finished = False
        self.span: Any = None
        self.ctx: Any = None
        self.verify: _VerifySpan | None = None
        self.verify_ctx: Any = None
        self.tries: dict[str, int] = {}

    # -- the two ops -------------------------------------------------------------------

    def complete(self, op: Op[Any]) -> Op[Any]:
        self._start(stream=False)
        try:
            result = yield from bound(op, self)
        except BaseException as exc:
            self._finish(None, exc, self._overhead())
            raise
        self._finish(result.decision, None, self._overhead())
        return result

    def stream(self, op: Op[Any]) -> Op[Any]:
        self._start(stream=True)
        try:
            head, rest, decision, settle = yield from bound(op, self)
        except BaseException as exc:
            self._finish(None, exc, self._overhead())
            raise
        self.head_overhead = self._overhead()

        def settled(usage: Any, delivered: str, cut: str | None) -> Op[Decision]:
            return self._settling(settle(usage, delivered, cut))

        return head, rest, decision, settled

    def _settling(self, op: Op[Decision]) -> Op[Decision]:
        started = time.perf_counter()
        try:
            decision: Decision = yield from bound(op, self)
        except BaseException as exc:
            self._finish(None, exc, self.head_overhead + time.perf_counter() - started)
            raise
        self._finish(decision, None, self.head_overhead + time.perf_counter() - started)
        return decision

    def _overhead(self) -> float:
        spent = time.perf_counter() - self.started
        return max(0.0, spent - self.provider_s - self.waited_s)

    # -- hooks (router.observe._hooks.Watch) --------------------------------------------

    def recorded(self, decision: Decision, outcome: str, error: str | None = None) -> None:
        self.decision, self.outcome, self.recorded_error = decision, outcome, error

    def verifying(self, first: str) -> Verifying:
        if self.tracer is None:
            return super().verifying(first)
        from opentelemetry import trace  # noqa: PLC0415  (loaded: a tracer exists)

        span = self.tracer.start_span(
            "router verify",
            context=self.ctx,
            kind=trace.SpanKind.INTERNAL,
            attributes={"router.verify.first": first},
        )
        self.verify = _VerifySpan(self, span)
        self.verify_ctx = trace.set_span_in_context(span)
        return self.verify

    def call_started(self, effect: Complete, nested: bool) -> Call | None:
        if self.tracer is None:
            return None
        from opentelemetry import trace  # noqa: PLC0415

        d = effect.deployment
        facts = self.observer.facts.get(d.name) or _Facts(d)
        tries = self.tries[d.name] = self.tries.get(d.name, 0) + 1
        attributes = {**facts.attributes, "router.try": tries}
        if nested:
            attributes["router.cascade.sample"] = True
        params = effect.params
        for name, key in _NUMERIC_PARAMS:
            value = params.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[key] = value
        span: Call = self.tracer.start_span(
            f"chat {facts.model}",
            context=self.verify_ctx or self.ctx,
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
        )
        return span

    def entered(self, call: Call | None) -> object:
        if call is None:
            return None
        from opentelemetry import context, trace  # noqa: PLC0415  (loaded: a span exists)

        return context.attach(trace.set_span_in_context(call))  # type: ignore[arg-type]

    def left(self, token: object) -> None:
        if token is not None:
            from opentelemetry import context  # noqa: PLC0415

            context.detach(token)  # type: ignore[arg-type]

    def call_ended(
        self,
        call: Call | None,
        effect: Complete,
        seconds: float,
        *,
        result: Any,
        error: BaseException | None,
        nested: bool,
    ) -> None:
        if not nested:
            self.provider_s += seconds
        if call is None:
            return
        span: Any = call
        if error is not None:
            _failed(span, error)
            disposition = getattr(error, "disposition", None)
            if disposition is not None:
                span.set_attribute("router.attempt.outcome", disposition.name.lower())
        else:
            span.set_attributes(_answered(result))
        span.end()

    def waited(self, seconds: float, nested: bool) -> None:
        if not nested:
            self.waited_s += seconds

    def gathered(self, seconds: float) -> None:
        self.provider_s += seconds

    # -- start and finish ----------------------------------------------------------------

    def _start(self, *, stream: bool) -> None:
        self.started = time.perf_counter()
        if self.tracer is None:
            return
        from opentelemetry import trace  # noqa: PLC0415

        self.span = self.tracer.start_span(
            "router chat",
            kind=trace.SpanKind.INTERNAL,
            attributes={"gen_ai.operation.name": "chat", "router.stream": stream},
        )
        self.ctx = trace.set_span_in_context(self.span)

    def _finish(self, final: Decision | None, error: BaseException | None, overhead: float) -> None:
        if self.finished:
            return
        self.finished = True
        elapsed = time.perf_counter() - self.started
        decision = self.decision or final
        recorded = self.outcome
        outcome = None if recorded is None else _outcome(decision, recorded, self.recorded_error)
        if outcome is None and isinstance(error, InvalidRequest):  # refused before planning
            outcome = INVALID
        m = self.observer.metrics
        if m is not None and decision is not None and outcome is not None:
            _count(m, decision, outcome, elapsed, overhead)
        elif m is not None and outcome == INVALID:
            m.child(m.requests, _tenant_label(self.tenant), "none", INVALID).inc()
        if self.span is not None:
            if self.verify is not None:  # the verifier raised: end its span too
                self.verify.span.end()
                self.verify = None
            _request_attributes(self.span, self.observer, decision, outcome, overhead)
            if error is not None:
                _failed(self.span, error)
            self.span.end()


# -- what goes into metrics and spans ---------------------------------------------------


def _outcome(decision: Decision | None, recorded: str, error: str | None) -> str:
    """The `outcome` label: the ledger's outcome, with a cache hit, a budget refusal and
    a request its caller cut ("cache_hit", "budget_exhausted", "cancelled") told apart:
    an alert on provider failures must not fire when users press stop."""
    if error in CANCELLED:
        return "cancelled"
    if decision is None:
        return recorded
    if recorded == "ok" and decision.cache_hit:
        return "cache_hit"
    if recorded == "unservable" and any(r.stage == "budget" for r in decision.rejected):
        return "budget_exhausted"
    return recorded


def _tenant_label(tenant: object) -> str:
    """The label of a tenant argument as given (absent: "default", as a request's)."""
    if tenant is None:
        return metrics_module.tenant_label("default")
    return metrics_module.tenant_label(tenant) if isinstance(tenant, str) else metrics_module.OTHER


def _count(
    m: metrics_module.Metrics, decision: Decision, outcome: str, elapsed: float, overhead: float
) -> None:
    tenant = metrics_module.tenant_label(decision.features.tenant)
    served = decision.served_by or "none"
    child = m.child
    child(m.requests, tenant, served, outcome).inc()
    for a in decision.attempts:
        child(m.attempts, a.deployment, a.outcome).inc()
    child(m.duration, served).observe(elapsed)
    child(m.overhead, served).observe(overhead)
    cost = decision.cost
    if cost is not None:
        if cost.micro_usd:
            child(m.cost, tenant, served).inc(cost.usd)
        if cost.baseline_micro_usd is not None:
            if cost.baseline_micro_usd:
                child(m.baseline, tenant, served).inc(cost.baseline_micro_usd / 1e6)
            saved = cost.baseline_micro_usd - cost.micro_usd
            if saved:
                child(m.savings, tenant, served).inc(saved / 1e6)
    usage = decision.usage
    if usage is not None and decision.served_by is not None:
        child(m.tokens, served, "input").inc(usage.prompt_tokens)
        child(m.tokens, served, "output").inc(usage.completion_tokens)
    v = decision.verification
    if v is not None:
        verdict = "escalated" if v.escalated else "unverified" if v.first is None else "kept"
        child(m.cascade, verdict).inc()


def _request_attributes(
    span: Any, observer: Observer, decision: Decision | None, outcome: str | None, overhead: float
) -> None:
    attributes: dict[str, Any] = {"router.overhead_ms": overhead * 1000}
    if outcome is not None:
        attributes["router.outcome"] = outcome
    if decision is None:
        span.set_attributes(attributes)
        return
    f = decision.features
    attributes |= {
        "router.tenant": f.tenant,
        "router.sensitivity": f.sensitivity,
        "router.policy": decision.policy,
        "router.candidates": [c.name for c in decision.candidates],
    }
    if decision.cache_hit:
        attributes["router.cache_hit"] = True
    if decision.cold_start:
        attributes["router.cold_start"] = True
    if decision.request_id is not None:
        attributes["router.request_id"] = decision.request_id
    served = decision.served_by
    if served is not None:
        attributes["router.served_by"] = served
        facts = observer.facts.get(served)
        if facts is not None:
            attributes["gen_ai.response.model"] = facts.model
            attributes["gen_ai.provider.name"] = facts.attributes["gen_ai.provider.name"]
    usage = decision.usage
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
    cost = decision.cost
    if cost is not None:
        attributes["router.cost_usd"] = cost.usd
        if cost.saved_usd is not None:
            attributes["router.saved_usd"] = cost.saved_usd
    v = decision.verification
    if v is not None:
        attributes["router.cascade.escalated"] = v.escalated
        if v.score is not None:
            attributes["router.cascade.score"] = v.score
    skipped = [a.deployment for a in decision.attempts if a.outcome == "skipped"]
    if skipped:
        attributes["router.skipped"] = skipped
    span.set_attributes(attributes)


def _answered(result: Any) -> dict[str, Any]:
    """A call's response attributes: from the response dict, or a stream's first chunk."""
    first: Mapping[str, Any] | None = None
    if isinstance(result, dict):
        first = result
    elif isinstance(result, tuple) and result and isinstance(result[0], list) and result[0]:
        first = result[0][0] if isinstance(result[0][0], dict) else None
    attributes: dict[str, Any] = {"router.attempt.outcome": "ok"}
    if first is None:
        return attributes
    model, rid = first.get("model"), first.get("id")
    if isinstance(model, str):
        attributes["gen_ai.response.model"] = model
    if isinstance(rid, str):
        attributes["gen_ai.response.id"] = rid
    reasons = [
        c["finish_reason"]
        for c in first.get("choices") or ()
        if isinstance(c, dict) and isinstance(c.get("finish_reason"), str)
    ]
    if reasons:
        attributes["gen_ai.response.finish_reasons"] = reasons
    usage = first.get("usage")
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int):
            attributes["gen_ai.usage.input_tokens"] = prompt
        if isinstance(completion, int):
            attributes["gen_ai.usage.output_tokens"] = completion
    return attributes


def _failed(span: Any, error: BaseException) -> None:
    """error.type and an ERROR status naming the exception's class (never its message)."""
    from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415

    name = type(error).__name__
    span.set_attribute("error.type", name)
    span.set_status(Status(StatusCode.ERROR, name))
