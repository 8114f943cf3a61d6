"""Observability (issue 17, point 4): Prometheus metrics and OpenTelemetry spans.

Real Routers serve known traffic on a MockBackend (and once through litellm and loopback
FaultServers); the metrics are read back from prometheus_client's registry and from
`render_metrics()`'s text, the spans from an in-memory exporter. Metrics are process-wide,
so each test names its own deployments (and tenants) and reads only its own label sets.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import string
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from factories import CallMode, call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from prometheus_client import REGISTRY

import router
from router.errors import AllDeploymentsFailed, NoEligibleDeployment
from router.observe import MAX_TENANTS, OTHER, render_metrics
from router.observe._tracing import provider_name, server_of, tracer, wire_model
from router.serving._executor import RetryPolicy
from router.state.cache import ResponseCache
from router.testing import FaultServer, MockBackend, no_retry_waits, ok, server_error

ROOT = Path(__file__).resolve().parent.parent
ONE_TRY = RetryPolicy(attempts=1, initial_wait=0.0, max_wait=0.0, jitter=0.0)
KEY_ENV = "ROUTER_TEST_OBSERVE_KEY"
HI = [{"role": "user", "content": "Say hi"}]
REFUSAL = "I'm sorry, but I can't help with that."
MODES: tuple[CallMode, ...] = ("complete", "acomplete", "stream", "astream")
_names = itertools.count()


def unique(prefix: str) -> str:
    """A name no other test of this process uses (metrics are process-wide)."""
    return f"{prefix}{os.getpid()}x{next(_names)}"


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-real-key")


def value(name: str, **labels: str) -> float:
    """A sample's value in the registry (0 when the label set has not been seen)."""
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def local(name: str, base: str, quality: float = 0.8) -> dict[str, Any]:
    return {"name": name, "model": f"openai/{name}", "api_base": base,
            "context_window": 8192, "quality": quality}  # fmt: skip


def paid(name: str, base: str, quality: float = 0.95) -> dict[str, Any]:
    """An API at $10 per million tokens, in and out."""
    return {"name": name, "model": f"openai/{name}", "api_base": base, "hosting": "api",
            "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
            "input_cost_per_mtok": 10, "output_cost_per_mtok": 10,
            "quality": quality}  # fmt: skip


def two_local(backend: MockBackend, **options: Any) -> tuple[router.Router, str, str]:
    """Two free local deployments (a preferred), metrics on."""
    a, b = unique("a"), unique("b")
    options.setdefault("retry", ONE_TRY)
    r = router.Router(
        deployments=[local(a, backend.server().base_url, 0.8),
                     local(b, backend.server().base_url, 0.7)],
        objective="best", backend=backend, metrics=True, **options,
    )  # fmt: skip
    return r, a, b


# -- spans: an SDK provider for one test, then the API's proxy again ----------------------


def _reset_tracing_globals() -> None:
    """What opentelemetry-test-utils' `reset_trace_globals` does: no provider set."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    trace._PROXY_TRACER_PROVIDER = trace.ProxyTracerProvider()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_tracing_globals()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        _reset_tracing_globals()
        provider.shutdown()


def by_name(finished: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def everything_in(finished: Sequence[ReadableSpan]) -> str:
    """Every name, attribute key and value and event of the spans, as one text."""
    parts: list[str] = []
    for s in finished:
        parts.append(s.name)
        parts += [f"{k}={v!r}" for k, v in (s.attributes or {}).items()]
        for e in s.events:
            parts.append(e.name)
            parts += [f"{k}={v!r}" for k, v in (e.attributes or {}).items()]
        if s.status.description:
            parts.append(s.status.description)
    return "\n".join(parts)


# -- metrics after known traffic ---------------------------------------------------------


def test_a_success_counts_one_request_its_tokens_and_latency() -> None:
    backend = MockBackend(default=ok("hello", prompt_tokens=11, completion_tokens=4))
    r, a, _ = two_local(backend)
    result = r.complete(HI)
    assert result.decision.served_by == a
    assert value("router_requests_total", tenant="default", deployment=a, outcome="ok") == 1
    assert value("router_attempts_total", deployment=a, outcome="ok") == 1
    assert value("router_tokens_total", deployment=a, kind="input") == 11
    assert value("router_tokens_total", deployment=a, kind="output") == 4
    assert value("router_request_duration_seconds_count", deployment=a) == 1
    assert value("router_overhead_seconds_count", deployment=a) == 1
    duration = value("router_request_duration_seconds_sum", deployment=a)
    overhead = value("router_overhead_seconds_sum", deployment=a)
    assert 0 < overhead <= duration


def test_a_fallback_after_a_500_counts_the_failed_attempt_and_the_serving_deployment() -> None:
    backend = MockBackend(default=ok())
    r, a, b = two_local(backend)
    backend.script(server_error(500), deployment=a)
    result = r.complete(HI)
    assert [(x.deployment, x.outcome) for x in result.decision.attempts] == [
        (a, "gave up"),
        (b, "ok"),
    ]
    assert value("router_requests_total", tenant="default", deployment=b, outcome="ok") == 1
    assert value("router_requests_total", tenant="default", deployment=a, outcome="ok") == 0
    assert value("router_attempts_total", deployment=a, outcome="gave up") == 1
    assert value("router_attempts_total", deployment=b, outcome="ok") == 1


def test_every_deployment_failing_counts_an_error_served_by_none() -> None:
    backend = MockBackend(default=server_error(503))
    r, a, b = two_local(backend)
    before = value("router_requests_total", tenant="default", deployment="none", outcome="error")
    with pytest.raises(AllDeploymentsFailed):
        r.complete(HI)
    after = value("router_requests_total", tenant="default", deployment="none", outcome="error")
    assert after - before == 1
    assert value("router_attempts_total", deployment=a, outcome="gave up") == 1
    assert value("router_attempts_total", deployment=b, outcome="gave up") == 1


def test_a_budget_refusal_is_counted_and_the_budget_gauge_shows_what_is_left(
    tmp_path: Path,
) -> None:
    backend = MockBackend(default=ok("paid answer", prompt_tokens=100, completion_tokens=50))
    api = unique("api")
    tenant, broke = unique("acme"), unique("broke")
    r = router.Router(
        deployments=[paid(api, backend.server().base_url)],
        backend=backend,
        ledger=tmp_path / "ledger.sqlite",
        budgets=[
            {"tenant": tenant, "period": "day", "usd": 1.0},
            {"tenant": broke, "period": "day", "usd": 0.000001},
        ],
        metrics=True,
    )
    served = r.complete(HI, tenant=tenant, max_tokens=100)
    assert served.decision.cost is not None
    assert served.decision.cost.micro_usd == 1500  # 150 tokens at $10/M
    with pytest.raises(NoEligibleDeployment):
        r.complete(HI, tenant=broke, max_tokens=100)
    assert value("router_requests_total", tenant=tenant, deployment=api, outcome="ok") == 1
    assert (
        value("router_requests_total", tenant=broke, deployment="none", outcome="budget_exhausted")
        == 1
    )
    assert value("router_cost_usd_total", tenant=tenant, deployment=api) == pytest.approx(0.0015)
    body, content_type = render_metrics()
    assert content_type.startswith("text/plain")
    labels = {"scope": "tenant", "tenant": tenant, "tag": "", "period": "day"}
    assert value("router_budget_limit_usd", **labels) == pytest.approx(1.0)
    assert value("router_budget_remaining_usd", **labels) == pytest.approx(1.0 - 0.0015)
    line = f'router_budget_remaining_usd{{period="day",scope="tenant",tag="",tenant="{tenant}"}}'
    assert line in body.decode()


def test_cost_baseline_and_savings_add_up_to_the_decisions() -> None:
    backend = MockBackend(default=ok("x", prompt_tokens=1000, completion_tokens=500))
    api = unique("api")
    tenant = unique("t")
    r = router.Router(
        deployments=[paid(api, backend.server().base_url)],
        backend=backend,
        baseline="gpt-4o",  # $2.5 / $10 per M: 1000 in + 500 out = $0.0075
        metrics=True,
    )
    r.observer.name_tenants([tenant])
    costs = [r.complete(HI, tenant=tenant).decision.cost for _ in range(3)]
    assert all(c is not None for c in costs)
    cost = sum(c.usd for c in costs if c is not None)
    baseline = sum(c.baseline_usd or 0 for c in costs if c is not None)
    assert cost == pytest.approx(3 * 0.015)  # 1500 tokens at $10/M, three times
    assert value("router_cost_usd_total", tenant=tenant, deployment=api) == pytest.approx(cost)
    assert value("router_baseline_cost_usd_total", tenant=tenant, deployment=api) == (
        pytest.approx(baseline)
    )
    assert value("router_savings_usd", tenant=tenant, deployment=api) == pytest.approx(
        baseline - cost
    )  # negative: this API costs more than the baseline


def test_a_cache_hit_is_counted_as_such(tmp_path: Path) -> None:
    backend = MockBackend(default=ok("cached"))
    r, a, _ = two_local(backend, cache=ResponseCache(tmp_path / "cache"))
    first = r.complete(HI, temperature=0)
    second = r.complete(HI, temperature=0)
    assert (first.decision.cache_hit, second.decision.cache_hit) == (False, True)
    assert value("router_requests_total", tenant="default", deployment=a, outcome="ok") == 1
    assert value("router_requests_total", tenant="default", deployment=a, outcome="cache_hit") == 1
    assert value("router_attempts_total", deployment=a, outcome="ok") == 1  # one call in all


def cascade_router(backend: MockBackend, **options: Any) -> tuple[router.Router, str, str]:
    free, api = unique("free"), unique("api")
    r = router.Router(
        deployments=[local(free, backend.server().base_url, 0.6),
                     paid(api, backend.server().base_url, 0.95)],
        backend=backend, mode="cascade", quality_target=0.5, retry=ONE_TRY, metrics=True,
        **options,
    )  # fmt: skip
    return r, free, api


def test_the_cascade_counts_kept_and_escalated_verdicts_and_both_calls_cost() -> None:
    backend = MockBackend()
    r, free, api = cascade_router(backend)
    backend.script(ok("Paris."), ok(REFUSAL), deployment=free)
    backend.script(ok("Paris", prompt_tokens=100, completion_tokens=50), deployment=api)
    kept = r.complete(HI)
    escalated = r.complete(HI)
    assert (kept.decision.served_by, escalated.decision.served_by) == (free, api)
    before_kept = value("router_cascade_total", verdict="kept")
    assert before_kept >= 1
    assert value("router_requests_total", tenant="default", deployment=free, outcome="ok") == 1
    assert value("router_requests_total", tenant="default", deployment=api, outcome="ok") == 1
    assert value("router_attempts_total", deployment=free, outcome="rejected") == 1
    assert value("router_cost_usd_total", tenant="default", deployment=api) == pytest.approx(0.0015)
    # the verdict counter is shared by every cascading Router of the process: one more of each
    r.complete(HI)  # the default answer "hello" passes the checks: kept
    assert value("router_cascade_total", verdict="kept") == before_kept + 1


def test_a_stream_is_counted_once_when_it_settles_and_an_interrupted_one_as_interrupted() -> None:
    from router.testing import stream as streamed  # noqa: PLC0415

    backend = MockBackend(default=ok())
    r, a, _ = two_local(backend)
    s = r.stream(HI)
    assert value("router_requests_total", tenant="default", deployment=a, outcome="ok") == 0
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in s if c["choices"])
    assert value("router_requests_total", tenant="default", deployment=a, outcome="ok") == 1
    backend.script(streamed(("one ", "two ", "three"), disconnect_after=1), deployment=a)
    with pytest.raises(router.StreamInterrupted):
        for _ in r.stream(HI):
            pass
    assert (
        value("router_requests_total", tenant="default", deployment=a, outcome="interrupted") == 1
    )


@pytest.mark.parametrize("mode", MODES)
def test_a_request_refused_as_invalid_is_counted_as_invalid(mode: CallMode) -> None:
    """`InvalidRequest` is raised before planning (no decision, no ledger record): it is
    counted under its tenant's label (as any request's: named, or "other"), deployment
    "none" and outcome "invalid", once per request, through every entry point."""
    backend = MockBackend(default=ok())
    r, a, _ = two_local(backend)
    named = unique("t")
    r.observer.name_tenants([named])

    def invalid(tenant: str) -> float:
        return value("router_requests_total", tenant=tenant, deployment="none", outcome="invalid")

    before = {t: invalid(t) for t in (named, "default", OTHER)}
    for args in ({"tenant": named, "temperature": 5}, {"max_tokens": -1}, {"timeout": -1}):
        with pytest.raises(router.InvalidRequest):
            call(r, mode, HI, args)
    with pytest.raises(router.InvalidRequest):
        call(r, mode, [], {"tenant": unique("stranger")})  # no messages; a tenant not named
    assert invalid(named) == before[named] + 1
    assert invalid("default") == before["default"] + 2
    assert invalid(OTHER) == before[OTHER] + 1
    assert backend.calls == []  # refused before any call
    call(r, mode, HI, {"tenant": named})  # a valid one is counted as it always was
    assert value("router_requests_total", tenant=named, deployment=a, outcome="ok") == 1
    assert invalid(named) == before[named] + 1


def test_an_invalid_request_span_says_invalid(spans: InMemorySpanExporter) -> None:
    backend = MockBackend(default=ok())
    r, _, _ = two_local(backend)
    with pytest.raises(router.InvalidRequest):
        r.complete(HI, temperature=5)
    (span,) = by_name(spans.get_finished_spans(), "router chat")
    assert span.attributes is not None
    assert span.attributes["router.outcome"] == "invalid"
    assert span.attributes["error.type"] == "InvalidRequest"


def test_a_request_its_caller_cuts_is_counted_as_cancelled_not_as_a_failure() -> None:
    """A stream closed after its first chunk (ledger: interrupted, ClosedByCaller) and a
    request cancelled before its answer (ledger: error, CancelledError) are "cancelled":
    an alert on provider failures must not fire when users press stop."""
    from router.testing import hang  # noqa: PLC0415
    from router.testing import stream as streamed  # noqa: PLC0415

    backend = MockBackend(default=ok())
    r, a, _ = two_local(backend)
    outcomes = ("ok", "interrupted", "error", "cancelled")

    def counted() -> dict[tuple[str, str], float]:  # "none" is shared: compare deltas
        return {
            (d, o): value("router_requests_total", tenant="default", deployment=d, outcome=o)
            for d in (a, "none")
            for o in outcomes
        }

    before = counted()
    backend.script(streamed(("one ", "two ", "three")), hang(5), deployment=a)
    s = r.stream(HI)
    next(iter(s))
    s.close()

    async def cancelled() -> None:
        task = asyncio.ensure_future(r.acomplete(HI))
        await asyncio.sleep(0.2)  # the call is out, hanging
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    after = counted()
    grew = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    assert grew == {(a, "cancelled"): 1, ("none", "cancelled"): 1}  # the call served by none


def test_overhead_leaves_out_the_provider_call_and_the_retry_waits() -> None:
    from router.testing import hang  # noqa: PLC0415

    backend = MockBackend(default=ok())
    r, a, _ = two_local(backend, retry=RetryPolicy(attempts=2, initial_wait=0.2, jitter=0.0))
    backend.script(server_error(503), hang(0.3), deployment=a)
    result = r.complete(HI)
    assert [x.outcome for x in result.decision.attempts] == ["retry", "ok"]
    duration = value("router_request_duration_seconds_sum", deployment=a)
    overhead = value("router_overhead_seconds_sum", deployment=a)
    assert duration >= 0.5  # a 0.2 s backoff and a 0.3 s answer
    assert overhead < 0.1


def test_an_open_breaker_shows_in_the_breaker_gauge() -> None:
    backend = MockBackend(default=ok())
    r, a, b = two_local(backend, cooldown={"threshold": 1, "seconds": 60})
    backend.script(server_error(503), deployment=a)
    assert r.complete(HI).decision.served_by == b
    render_metrics()
    assert value("router_breaker_state", deployment=a) == 2  # open
    assert value("router_breaker_failures", deployment=a) == 1
    assert value("router_breaker_state", deployment=b) == 0  # closed
    assert r.complete(HI).decision.attempts[0].outcome == "skipped"
    assert value("router_attempts_total", deployment=a, outcome="skipped") == 1


def test_metrics_and_tracing_are_off_unless_asked_and_cost_nothing() -> None:
    backend = MockBackend(default=ok())
    a = unique("quiet")
    r = router.Router(deployments=[local(a, backend.server().base_url)], backend=backend)
    assert r.observer.metrics is None
    assert r.observer.watch() is None  # no metrics, no tracer provider: the op is not wrapped
    op = r._pipeline.complete(HI, {})
    assert r.observer.complete(op) is op
    op.close()
    r.complete(HI)
    assert value("router_requests_total", tenant="default", deployment=a, outcome="ok") == 0


# -- bounded labels, no prompt text ------------------------------------------------------

_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def label_values(body: str, metric: str, label: str) -> set[str]:
    found: set[str] = set()
    for line in body.splitlines():
        if line.startswith(metric + "{"):
            found |= {v for k, v in _LABEL.findall(line) if k == label}
    return found


TENANTS = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S")),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None)
@given(tenants=st.lists(TENANTS, min_size=1, max_size=30))
def test_tenant_labels_stay_bounded_whatever_tenants_call(tenants: list[str]) -> None:
    backend = MockBackend(default=ok())
    named = unique("named")
    r, a, _ = two_local(backend)
    r.observer.name_tenants([named])
    for tenant in [*tenants, named]:
        r.complete(HI, tenant=tenant)
    body = render_metrics()[0].decode()
    seen = label_values(body, "router_requests_total", "tenant")
    from router.observe._metrics import named_tenants  # noqa: PLC0415

    allowed = set(named_tenants()) | {OTHER}
    assert seen <= allowed
    assert len(allowed) <= MAX_TENANTS + 1
    assert named in seen
    unnamed = [t for t in tenants if t not in allowed]
    assert value("router_requests_total", tenant=OTHER, deployment=a, outcome="ok") == len(unnamed)


def test_the_tenant_cap_holds_when_more_tenants_are_named() -> None:
    from router.observe._metrics import named_tenants  # noqa: PLC0415

    router.observe.name_tenants(unique("many") for _ in range(3 * MAX_TENANTS))
    assert len(named_tenants()) == MAX_TENANTS


PROMPTS = st.text(alphabet=string.ascii_letters + string.digits + " ", min_size=8, max_size=60).map(
    lambda text: f"Qz{text}Jx"  # never a substring of a metric or attribute name by chance
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prompt=PROMPTS, answer=PROMPTS, mode=st.sampled_from(MODES))
def test_no_prompt_or_answer_text_reaches_metrics_or_spans(
    spans: InMemorySpanExporter, prompt: str, answer: str, mode: CallMode
) -> None:
    spans.clear()
    backend = MockBackend(default=ok(answer))
    r, free, _ = cascade_router(backend, cascade={"samples": 1})
    backend.script(ok(REFUSAL), deployment=free)  # doubted: escalates, both answers seen
    call(r, mode, [{"role": "user", "content": prompt}], {"tenant": prompt[:12]})
    body = render_metrics()[0].decode()
    text = everything_in(spans.get_finished_spans())
    assert by_name(spans.get_finished_spans(), "router chat")
    for secret in (prompt, answer, prompt[:12], "sk-test-not-a-real-key"):
        assert secret not in body
        assert secret not in text.replace(f"router.tenant={prompt[:12]!r}", "")


# -- spans ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_request_is_one_span_with_a_child_per_attempt_under_the_callers_span(
    spans: InMemorySpanExporter, mode: CallMode
) -> None:
    backend = MockBackend(default=ok("hello", prompt_tokens=9, completion_tokens=2))
    r, a, b = _two_traced(backend)
    backend.script(server_error(500), deployment=a)
    app = trace.get_tracer("app")
    with app.start_as_current_span("app request"):
        call(r, mode, HI, {})
    finished = spans.get_finished_spans()
    (outer,) = by_name(finished, "app request")
    (root,) = by_name(finished, "router chat")
    calls = [s for s in finished if s.name.startswith("chat ")]
    assert parent_id(root) == span_id(outer)
    assert outer.context is not None
    assert {s.context.trace_id for s in finished if s.context} == {outer.context.trace_id}
    assert [s.name for s in calls] == [f"chat {a}", f"chat {b}"]
    assert all(parent_id(s) == span_id(root) for s in calls)
    assert all(s.kind == trace.SpanKind.CLIENT for s in calls)
    failed, served = calls
    assert failed.attributes is not None
    assert served.attributes is not None
    assert root.attributes is not None
    assert failed.attributes["error.type"] == "ProviderUnavailable"
    assert failed.status.status_code == trace.StatusCode.ERROR
    assert served.attributes["gen_ai.operation.name"] == "chat"
    assert served.attributes["gen_ai.request.model"] == b
    assert served.attributes["gen_ai.response.model"] == b
    assert served.attributes["gen_ai.provider.name"] == "openai"
    assert served.attributes["server.address"] == "127.0.0.1"
    assert "error.type" not in served.attributes
    assert root.attributes["router.served_by"] == b
    assert root.attributes["router.outcome"] == "ok"
    assert root.attributes["router.stream"] == (mode in ("stream", "astream"))
    assert root.attributes["gen_ai.usage.input_tokens"] == 9
    assert root.attributes["gen_ai.usage.output_tokens"] == 2
    assert root.attributes["router.overhead_ms"] >= 0  # type: ignore[operator]
    if mode in ("complete", "acomplete"):  # a stream's head carries no usage yet
        assert served.attributes["gen_ai.usage.input_tokens"] == 9
        assert served.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    # the root ends after its children
    assert all(s.end_time is not None and root.end_time is not None for s in calls)
    assert max(s.end_time or 0 for s in calls) <= (root.end_time or 0)


class _SeesSpans(MockBackend):
    """MockBackend noting the span current when each call starts (what an instrumented
    HTTP client or a propagator inside the call would take as its parent)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen: list[int] = []

    def _note(self) -> None:
        self.seen.append(trace.get_current_span().get_span_context().span_id)

    def complete(self, *args: Any, **kwargs: Any) -> Any:
        self._note()
        return super().complete(*args, **kwargs)

    async def acomplete(self, *args: Any, **kwargs: Any) -> Any:
        self._note()
        return await super().acomplete(*args, **kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        self._note()
        return super().stream(*args, **kwargs)

    def astream(self, *args: Any, **kwargs: Any) -> Any:
        self._note()
        return super().astream(*args, **kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_each_attempts_span_is_current_while_its_call_runs(
    spans: InMemorySpanExporter, mode: CallMode
) -> None:
    backend = _SeesSpans(default=ok("hello"))
    r, a, _ = _two_traced(backend)
    backend.script(server_error(500), deployment=a)
    call(r, mode, HI, {})
    calls = [s for s in spans.get_finished_spans() if s.name.startswith("chat ")]
    assert len(calls) == 2
    assert backend.seen == [span_id(s) for s in calls]
    assert trace.get_current_span() is trace.INVALID_SPAN  # and none is left current


def _two_traced(backend: MockBackend) -> tuple[router.Router, str, str]:
    a, b = unique("a"), unique("b")
    r = router.Router(
        deployments=[local(a, backend.server().base_url, 0.8),
                     local(b, backend.server().base_url, 0.7)],
        objective="best", backend=backend, retry=ONE_TRY,
    )  # fmt: skip
    return r, a, b


@pytest.mark.parametrize("mode", ["complete", "acomplete"])
def test_the_cascade_verification_is_a_span_with_its_samples_under_it(
    spans: InMemorySpanExporter, mode: CallMode
) -> None:
    backend = MockBackend()
    r, free, api = cascade_router(backend, cascade={"samples": 2})
    backend.script(ok("Paris."), ok("Paris."), ok("Lyon."), deployment=free)
    backend.script(ok("Paris"), deployment=api)
    call(r, mode, HI, {})
    finished = spans.get_finished_spans()
    (root,) = by_name(finished, "router chat")
    (verify,) = by_name(finished, "router verify")
    assert parent_id(verify) == span_id(root)
    firsts = [s for s in by_name(finished, f"chat {free}") if parent_id(s) == span_id(root)]
    samples = [s for s in by_name(finished, f"chat {free}") if parent_id(s) == span_id(verify)]
    assert len(firsts) == 1
    assert len(samples) == 2
    assert all((s.attributes or {}).get("router.cascade.sample") is True for s in samples)
    attributes = verify.attributes or {}
    assert attributes["router.verify.first"] == free
    assert attributes["router.verify.samples"] == 2
    assert "router.verify.score" in attributes
    assert 0 <= attributes["router.verify.check.agreement"] <= 1  # type: ignore[operator]
    escalated = (root.attributes or {})["router.cascade.escalated"]
    assert escalated == bool(by_name(finished, f"chat {api}"))


def test_tracing_false_makes_no_span_even_with_a_provider(spans: InMemorySpanExporter) -> None:
    backend = MockBackend(default=ok())
    a = unique("off")
    r = router.Router(
        deployments=[local(a, backend.server().base_url)], backend=backend, tracing=False
    )
    assert tracer() is not None
    r.complete(HI)
    assert spans.get_finished_spans() == ()


def test_no_tracer_provider_means_no_tracer() -> None:
    _reset_tracing_globals()
    assert tracer() is None


def test_attribute_helpers_never_leak_credentials_of_an_api_base() -> None:
    assert server_of("https://user:secret@api.example.com/v1") == ("api.example.com", 443)
    assert server_of("http://127.0.0.1:8080/v1") == ("127.0.0.1", 8080)
    assert server_of(None) is None
    assert (wire_model("openai/qwen2.5"), provider_name("openai/qwen2.5")) == ("qwen2.5", "openai")
    assert (wire_model("gpt-4o"), provider_name("gpt-4o")) == ("gpt-4o", "openai")
    assert provider_name("anthropic/claude-3-5-sonnet") == "anthropic"
    assert provider_name("bedrock/meta.llama3") == "aws.bedrock"


# -- through litellm and loopback FaultServers ----------------------------------------------


def test_through_litellm_a_fallback_after_a_500_is_measured_and_traced(
    servers: tuple[FaultServer, FaultServer], spans: InMemorySpanExporter
) -> None:
    first, second = servers
    a, b = unique("a"), unique("b")
    r = router.Router(
        deployments=[local(a, first.base_url, 0.8), local(b, second.base_url, 0.7)],
        objective="best", retry=ONE_TRY, metrics=True,
    )  # fmt: skip
    first.script(server_error(500))
    with no_retry_waits():
        result = r.complete(HI)
    assert result.decision.served_by == b
    assert len(first.requests) == 1
    assert value("router_requests_total", tenant="default", deployment=b, outcome="ok") == 1
    assert value("router_attempts_total", deployment=a, outcome="gave up") == 1
    finished = spans.get_finished_spans()
    (failed,) = by_name(finished, f"chat {a}")
    (served,) = by_name(finished, f"chat {b}")
    assert (failed.attributes or {})["server.port"] == server_of(first.base_url)[1]  # type: ignore[index]
    assert (served.attributes or {})["server.port"] == server_of(second.base_url)[1]  # type: ignore[index]
    assert (served.attributes or {})["gen_ai.usage.input_tokens"] == 7
    assert (failed.attributes or {})["error.type"] == "ProviderUnavailable"


# -- processes -------------------------------------------------------------------------------


def run_python(code: str, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


SERVE_THREE = """
    import json, sys
    {block}
    import router
    from router.testing import MockBackend, ok
    backend = MockBackend(default=ok())
    r = router.Router(
        deployments=[{{"name": "mp", "model": "openai/mp", "api_base": "http://127.0.0.1:9/v1",
                      "context_window": 8192}}],
        backend=backend, metrics={metrics})
    for _ in range(3):
        r.complete([{{"role": "user", "content": "hi"}}])
    loaded = sorted(m for m in ("opentelemetry", "opentelemetry.trace", "prometheus_client")
                    if sys.modules.get(m) is not None)
    print(json.dumps({{"loaded": loaded, "watch": r.observer.watch() is not None}}))
"""


def test_without_opentelemetry_everything_is_a_no_op() -> None:
    block = 'sys.modules["opentelemetry"] = None; sys.modules["opentelemetry.trace"] = None'
    out = json.loads(run_python(SERVE_THREE.format(block=block, metrics=False)))
    assert out == {"loaded": [], "watch": False}


def test_import_router_and_a_plain_router_load_neither_library() -> None:
    out = json.loads(run_python(SERVE_THREE.format(block="", metrics=False)))
    assert out == {"loaded": [], "watch": False}


def test_metrics_without_prometheus_client_is_a_config_error_naming_the_extra() -> None:
    out = run_python(
        """
        import sys
        sys.modules["prometheus_client"] = None
        import router
        try:
            router.Router(deployments=[{"name": "x", "model": "openai/x",
                          "api_base": "http://127.0.0.1:9/v1", "context_window": 8192}],
                          metrics=True)
        except router.ConfigError as exc:
            print(exc)
        """
    )
    assert "freefirst-router[metrics]" in out


def test_several_worker_processes_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        out = json.loads(run_python(SERVE_THREE.format(block="", metrics=True), env))
        assert out["watch"] is True
    body = run_python(
        """
        import sys
        from router.observe import render_metrics
        body, content_type = render_metrics()
        sys.stdout.write(body.decode())
        """,
        env,
    )
    line = 'router_requests_total{deployment="mp",outcome="ok",tenant="default"} 6.0'
    assert line in body.splitlines()
    assert 'router_request_duration_seconds_count{deployment="mp"} 6.0' in body.splitlines()


def test_concurrent_async_requests_each_get_their_own_span_tree(
    spans: InMemorySpanExporter,
) -> None:
    backend = MockBackend(default=ok())
    r, a, b = _two_traced(backend)
    backend.script(*[server_error(500)] * 5, deployment=a)

    async def many() -> None:
        await asyncio.gather(*(r.acomplete(HI) for _ in range(10)))

    asyncio.run(many())
    finished = spans.get_finished_spans()
    roots = by_name(finished, "router chat")
    assert len(roots) == 10
    root_ids = {span_id(s) for s in roots}
    calls = [s for s in finished if s.name.startswith("chat ")]
    assert len(calls) == 15  # 5 failed on a, then b; 5 served by a
    assert {parent_id(s) for s in calls} <= root_ids
    for root in roots:
        mine = [s for s in calls if parent_id(s) == span_id(root)]
        assert mine[-1].name in (f"chat {a}", f"chat {b}")
        assert (root.attributes or {})["router.served_by"] == mine[-1].name.removeprefix("chat ")
