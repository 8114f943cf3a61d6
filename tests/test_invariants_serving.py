"""Property tests for DESIGN.md invariants 1 and 2 at the serving level.

Every deployment is served by one `MockBackend` (router.testing), scripted per
deployment with FaultServer's faults; tests/test_mock_backend.py proves it answers each
fault exactly as litellm does over HTTP from a FaultServer, and test_invariants_state.py
keeps these properties end to end on litellm. The checks read what each deployment
actually RECEIVED (the backend's call log, filtered by a nonce unique to the example),
not only what the decision record says.

Drawn per example: 2-4 deployments of mixed hosting (local, self-hosted, api; the API
ones authenticate with a fake key from an environment variable), some too small for the
request; a policy (the `confidential-local` or `free-first` pack, or `LocalOnly` rules of
random level and hosting) plus random `Deny` rules; the objective; a declared sensitivity
and a prompt that may carry, in the user or the system message, an e-mail address, a
phone number, a card number, an IBAN, an API key or a private key (detected
sensitivity); a fault script per deployment (ok, 429, 500, 503, short hang, hang past the
deadline, connection reset, malformed JSON, context length exceeded, 401, content
filter, the caller's 400, a stream dropped before or after its first chunk); and the
mode: `complete`, `acomplete`, `stream` or `astream`.

1. A request at or above a `local_only` sensitivity never reaches a deployment outside
   that rule's hosting: such a deployment receives not one request, on retries, on
   fallback, on streams, in async, and not from the cache (an answer cached from an API
   for a public request is never served to a confidential request with the same
   messages, while the public request still gets it: the cache did hold it).
   The detected sensitivity is at least what the snippet in the prompt calls for.
2. Fallback never leaves the plan: every attempt and `served_by` are candidates of the
   decision, attempts follow plan order, denied or unable deployments receive nothing,
   and no deployment receives more requests than the attempts recorded for it.

Also: the outcome is a success or one of AllDeploymentsFailed, NoEligibleDeployment,
StreamInterrupted, BadRequest (any other exception fails the test); a success's text
is the answer of the deployment named by `served_by` (a StreamInterrupted's `delivered` a
strict prefix of it); the deployments got the caller's messages and `stream` flag; and,
when no deadline is in play, the attempts are exactly what README's failure table
predicts (retry, fall back, raise, interrupt).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from router import AsyncStream, Attempt, Decision, Router, Stream
from router._models import SENSITIVITY_LEVELS, Hosting, Sensitivity
from router._models import sensitivity_rank as rank
from router.decision._policy import Deny, LocalOnly, Policy, RuleFn
from router.decision._scoring import ObjectiveName
from router.errors import (
    AllDeploymentsFailed,
    BadRequest,
    NoEligibleDeployment,
    RouterError,
    StreamInterrupted,
)
from router.serving._executor import RetryPolicy
from router.state.cache import ResponseCache
from router.testing import (
    Fault,
    MockBackend,
    MockEndpoint,
    bad_request,
    content_filtered,
    context_length_exceeded,
    hang,
    malformed_json,
    ok,
    rate_limited,
    reset,
    server_error,
    stream,
    unauthorized,
)

# An example makes 1-10 in-process calls (well under 1 ms each), one in eight waits out a
# 0.3 s deadline: ~40 ms on average. Each property runs once per mode, so 4 x 20 (4 x 10
# for the cache, three requests each) examples keep the file to seconds.
SERVING = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CACHED = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])

POOL_SIZE = 4
NOWHERE = "http://127.0.0.1:9/v1"  # every deployment's api_base: the mock never connects
KEY_ENV = "ROUTER_TEST_SERVING_INVARIANTS_KEY"
RETRY = RetryPolicy(
    attempts=2, initial_wait=0.001, max_wait=0.005, jitter=0.0, max_retry_after=0.01
)
TIMEOUT = 5.0  # generous: no deadline in play, the attempts are predictable
DEADLINE = 0.3  # with a hang past it somewhere in the scripts
SHORT_HANG = 0.02
LONG_HANG = 2 * DEADLINE

Mode = Literal["complete", "acomplete", "stream", "astream"]
MODES: tuple[Mode, ...] = ("complete", "acomplete", "stream", "astream")
STREAMING: frozenset[Mode] = frozenset({"stream", "astream"})
HOSTINGS: tuple[Hosting, ...] = ("local", "self-hosted", "api")
OWN = Literal["local", "self-hosted"]
OWN_HOSTINGS: tuple[tuple[OWN, ...], ...] = (("local", "self-hosted"), ("local",), ("self-hosted",))
OBJECTIVES: tuple[ObjectiveName, ...] = ("best", "free-first", "cheapest")
PACKS = ("confidential-local", "free-first")
PACK_LOCAL_ONLY: tuple[tuple[Sensitivity, tuple[OWN, ...]], ...] = (
    ("confidential", ("local", "self-hosted")),  # README: "Shipped packs"
)

# What README's detector table says each snippet raises a request to.
SNIPPETS: dict[str, Sensitivity] = {
    "": "public",
    " write to jane.doe@example.com": "internal",
    " call +1 415 555 0132": "internal",
    " card 4111 1111 1111 1111": "confidential",
    " IBAN DE89 3704 0044 0532 0130 00": "confidential",
    " key sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2: "restricted",
    "\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7vQpL2mZ9"
    "\n-----END RSA PRIVATE KEY-----": "restricted",
}


# ---------------------------------------------------------------- faults

FaultName = Literal[
    "ok",
    "rate_limited",
    "server_error",
    "overloaded",
    "hang",
    "hang_past_deadline",
    "reset",
    "malformed_json",
    "context_length_exceeded",
    "unauthorized",
    "content_filtered",
    "bad_request",
    "drop_before_first_chunk",
    "drop_after_first_chunk",
]


def _chunks(answer: str) -> tuple[str, str]:
    return answer[:7], answer[7:]  # "answer " + "from d0-api"


FAULTS: dict[FaultName, Callable[[str], Fault]] = {
    "ok": ok,
    "rate_limited": lambda _: rate_limited(0.01),
    "server_error": lambda _: server_error(500),
    "overloaded": lambda _: server_error(503),
    "hang": lambda answer: dataclasses.replace(hang(SHORT_HANG), text=answer),
    "hang_past_deadline": lambda answer: dataclasses.replace(hang(LONG_HANG), text=answer),
    "reset": lambda _: reset(),
    "malformed_json": lambda _: malformed_json(),
    "context_length_exceeded": lambda _: context_length_exceeded(),
    "unauthorized": lambda _: unauthorized(),
    "content_filtered": lambda _: content_filtered(),
    "bad_request": lambda _: bad_request(),
    # A request without "stream": true gets these as one joined completion.
    "drop_before_first_chunk": lambda answer: stream(_chunks(answer), disconnect_after=0),
    "drop_after_first_chunk": lambda answer: stream(_chunks(answer), disconnect_after=1),
}
DRAWN_FAULTS: tuple[FaultName, ...] = tuple(f for f in FAULTS if f != "hang_past_deadline")

TryOutcome = Literal["ok", "retry", "fallback", "raise", "interrupt"]


def try_outcome(fault: FaultName, streaming: bool) -> TryOutcome | None:
    """What README's failure table says one call meeting `fault` leads to (None: unknown)."""
    if fault in ("ok", "hang"):
        return "ok"
    if fault in ("rate_limited", "server_error", "overloaded", "reset"):
        return "retry"
    if fault == "malformed_json":
        return "retry"  # streaming too: a stream that ends with no output is a failure
    if fault in ("context_length_exceeded", "unauthorized", "content_filtered"):
        return "fallback"
    if fault == "bad_request":
        return "raise"
    if fault == "drop_before_first_chunk":
        return "retry" if streaming else "ok"
    if fault == "drop_after_first_chunk":
        return "interrupt" if streaming else "ok"
    return None  # a hang past the deadline: timing decides


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Spec:
    """One deployment of the example (served by the module's MockBackend, by name)."""

    name: str
    hosting: Hosting
    quality: float
    tiny_window: bool = False

    @property
    def answer(self) -> str:
        return f"answer from {self.name}"

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "model": f"openai/{self.name}",
            "api_base": NOWHERE,
            "hosting": self.hosting,
            "context_window": 16 if self.tiny_window else 8192,
            "quality": self.quality,
        }
        if self.hosting == "api":
            entry |= {
                "weights": "closed",
                "api_key_env": KEY_ENV,
                "input_cost_per_mtok": 0.15,
                "output_cost_per_mtok": 0.6,
            }
        return entry


@dataclass(frozen=True)
class PolicyDraw:
    """A shipped pack or a list of LocalOnly rules, plus Deny rules on deployment names."""

    pack: str | None
    local_only: tuple[tuple[Sensitivity, tuple[OWN, ...]], ...]
    denied: tuple[str, ...] = ()

    def for_router(self) -> tuple[Policy | str, list[RuleFn]]:
        deny: list[RuleFn] = [Deny(name=(n,), reason="barred in this example") for n in self.denied]
        if self.pack is not None:
            return self.pack, deny
        local: list[RuleFn] = [
            LocalOnly(min_sensitivity=level, hosting=hosting) for level, hosting in self.local_only
        ]
        return Policy.of("serving-invariants", [*local, *deny]), []

    def allowed_hosting(self, level: Sensitivity) -> frozenset[Hosting]:
        """Where a request of `level` may go under the policy's local_only rules."""
        allowed: set[Hosting] = set(HOSTINGS)
        for min_level, hosting in self.local_only:
            if rank(level) >= rank(min_level):
                allowed &= set(hosting)
        return frozenset(allowed)


@dataclass(frozen=True)
class Scenario:
    specs: tuple[Spec, ...]
    policy: PolicyDraw
    objective: ObjectiveName
    declared: Sensitivity
    snippet: str
    snippet_in_system: bool
    scripts: tuple[tuple[FaultName, ...], ...]
    mode: Mode

    @property
    def streaming(self) -> bool:
        return self.mode in STREAMING

    @property
    def deadline_in_play(self) -> bool:
        return any("hang_past_deadline" in script for script in self.scripts)

    @property
    def timeout(self) -> float:
        return DEADLINE if self.deadline_in_play else TIMEOUT

    @property
    def expected_level(self) -> Sensitivity:
        """The higher of the declared level and what README says the snippet raises it to."""
        return max(self.declared, SNIPPETS[self.snippet], key=rank)

    def script_of(self, name: str) -> tuple[FaultName, ...]:
        return self.scripts[[s.name for s in self.specs].index(name)]

    def messages(self, nonce: str) -> list[dict[str, str]]:
        ask = f"Summarise the ticket, ref {nonce}."
        if self.snippet_in_system:
            return [
                {"role": "system", "content": f"Context:{self.snippet}"},
                {"role": "user", "content": ask},
            ]
        return [{"role": "user", "content": ask + self.snippet}]


def rarely() -> st.SearchStrategy[bool]:
    """True about one time in eight (shrinks to False)."""
    return st.sampled_from([False] * 7 + [True])


QUALITY: dict[Hosting, list[float]] = {
    "api": [0.95, 0.9],
    "self-hosted": [0.8, 0.7],
    "local": [0.7, 0.5],
}


@st.composite
def deployment_specs(draw: st.DrawFn, *, api_on_top: bool = False) -> tuple[Spec, ...]:
    """2-4 deployments, at least one API and one you host; for the cache test the APIs are
    the best ones (so a public request goes to one) and every deployment fits the request."""
    n = draw(st.integers(2, POOL_SIZE))
    hostings = list(draw(st.lists(st.sampled_from(HOSTINGS), min_size=n, max_size=n)))
    if "api" not in hostings:
        hostings[draw(st.integers(0, n - 1))] = "api"
    if all(h == "api" for h in hostings):
        hostings[draw(st.integers(0, n - 1))] = draw(st.sampled_from(OWN_HOSTINGS[0]))
    return tuple(
        Spec(
            name=f"d{i}-{hosting}",
            hosting=hosting,
            quality=draw(st.sampled_from(QUALITY[hosting][:1] if api_on_top else QUALITY[hosting])),
            tiny_window=False if api_on_top else draw(rarely()),  # too small: facts reject it
        )
        for i, hosting in enumerate(hostings)
    )


@st.composite
def policy_draws(
    draw: st.DrawFn, names: Sequence[str], *, local_only: bool, max_denied: int
) -> PolicyDraw:
    denied = tuple(draw(st.lists(st.sampled_from(names), unique=True, max_size=max_denied)))
    if draw(st.booleans()):
        return PolicyDraw(draw(st.sampled_from(PACKS)), PACK_LOCAL_ONLY, denied)
    rule = st.tuples(st.sampled_from(SENSITIVITY_LEVELS[1:]), st.sampled_from(OWN_HOSTINGS))
    rules = draw(st.lists(rule, min_size=1 if local_only else 0, max_size=2))
    return PolicyDraw(None, tuple(rules), denied)


@st.composite
def fault_scripts(draw: st.DrawFn, n: int) -> tuple[tuple[FaultName, ...], ...]:
    scripts = [list(draw(st.lists(st.sampled_from(DRAWN_FAULTS), max_size=3))) for _ in range(n)]
    if draw(rarely()):
        script = scripts[draw(st.integers(0, n - 1))]
        script.insert(draw(st.integers(0, len(script))), "hang_past_deadline")
    return tuple(tuple(s) for s in scripts)


@st.composite
def scenarios(draw: st.DrawFn, mode: Mode, *, local_only: bool, max_denied: int) -> Scenario:
    specs = draw(deployment_specs())
    names = [s.name for s in specs]
    return Scenario(
        specs=specs,
        policy=draw(policy_draws(names, local_only=local_only, max_denied=max_denied)),
        objective=draw(st.sampled_from(OBJECTIVES)),
        declared=draw(st.sampled_from(SENSITIVITY_LEVELS)),
        snippet=draw(st.sampled_from(list(SNIPPETS))),
        snippet_in_system=draw(st.booleans()),
        scripts=draw(fault_scripts(len(specs))),
        mode=mode,
    )


# ---------------------------------------------------------------- the backend


@pytest.fixture(scope="module")
def pool() -> Iterator[MockBackend]:
    """One MockBackend for the whole module (a queue per deployment), the fake API key set."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, "sk-test-not-a-real-key")
        backend = MockBackend()
        warm_up(backend)
        yield backend


def warm_up(backend: MockBackend) -> None:
    """Serve once in each mode, a retry included, outside the examples."""
    spec = Spec("warm-up", "local", 0.5)
    r = Router([spec.entry()], retry=RETRY, backend=backend)
    hi = [{"role": "user", "content": "hi"}]
    backend.script(server_error(503), deployment=spec.name)
    assert r.complete(hi).content == "hello"
    assert asyncio.run(r.acomplete(hi)).content == "hello"
    modes: tuple[Mode, ...] = ("stream", "astream")
    for mode in modes:
        assert serve(r, mode, hi, sensitivity="public", timeout=TIMEOUT).text == "hello"
    backend.reset_requests()


def new_nonce() -> str:
    """12 letters (no digits: nothing a detector could take for a number) unique to an example."""
    return "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:12])


def endpoints(backend: MockBackend, sc: Scenario) -> list[MockEndpoint]:
    """The example's deployments as the backend serves them (one queue each)."""
    return [backend.endpoint(spec.name) for spec in sc.specs]


def arm(backend: MockBackend, sc: Scenario) -> None:
    """Script each deployment for this example: its faults, then its own answer."""
    backend.clear()
    for server, spec, script in zip(endpoints(backend, sc), sc.specs, sc.scripts, strict=True):
        server.reset_requests()
        server.default = ok(spec.answer)
        server.script(*(FAULTS[f](spec.answer) for f in script))


def received(server: MockEndpoint, nonce: str) -> list[dict[str, Any]]:
    """The chat requests of this example that `server` received (a late one from an earlier
    example, e.g. after a client-side timeout, carries another nonce)."""
    return [body for body in server.requests if nonce in json.dumps(body)]


def build_router(sc: Scenario, backend: MockBackend, cache: ResponseCache | None = None) -> Router:
    policy, rules = sc.policy.for_router()
    return Router(
        [spec.entry() for spec in sc.specs],
        policy=policy,
        rules=rules,
        objective=sc.objective,
        retry=RETRY,
        cache=cache,
        backend=backend,
    )


# ---------------------------------------------------------------- serving


@dataclass
class Outcome:
    """What the caller saw: the text delivered, the final decision (if any) and the error."""

    text: str | None
    decision: Decision | None
    error: RouterError | None


def _contents(chunk: dict[str, Any]) -> list[str]:
    return [
        content
        for choice in chunk.get("choices") or ()
        if isinstance(content := (choice.get("delta") or {}).get("content"), str)
    ]


def _drained(s: Stream, parts: list[str], error: StreamInterrupted | None) -> Outcome:
    assert s.text == "".join(parts)
    assert s.finished is (error is None)
    return Outcome("".join(parts), s.decision, error)


def _drain(s: Stream) -> Outcome:
    parts: list[str] = []
    try:
        for chunk in s:
            parts += _contents(chunk)
    except StreamInterrupted as exc:
        return _drained(s, parts, exc)
    return _drained(s, parts, None)


async def _adrain(s: AsyncStream) -> Outcome:
    parts: list[str] = []
    try:
        async for chunk in s:
            parts += _contents(chunk)
    except StreamInterrupted as exc:
        return _drained(s, parts, exc)
    return _drained(s, parts, None)


def serve(
    r: Router,
    mode: Mode,
    messages: list[dict[str, str]],
    *,
    sensitivity: Sensitivity,
    timeout: float,
    temperature: float = 0,
) -> Outcome:
    """Call `r` in `mode`; a RouterError is an outcome, any other exception propagates."""

    async def astream() -> Outcome:
        s = await r.astream(
            messages, sensitivity=sensitivity, timeout=timeout, temperature=temperature
        )
        return await _adrain(s)

    try:
        if mode == "complete":
            res = r.complete(
                messages, sensitivity=sensitivity, timeout=timeout, temperature=temperature
            )
            return Outcome(res.content, res.decision, None)
        if mode == "acomplete":
            res = asyncio.run(
                r.acomplete(
                    messages, sensitivity=sensitivity, timeout=timeout, temperature=temperature
                )
            )
            return Outcome(res.content, res.decision, None)
        if mode == "stream":
            return _drain(
                r.stream(
                    messages, sensitivity=sensitivity, timeout=timeout, temperature=temperature
                )
            )
        return asyncio.run(astream())
    except RouterError as exc:
        return Outcome(None, None, exc)


@dataclass
class Observation:
    planned: Decision
    outcome: Outcome
    logs: dict[str, list[dict[str, Any]]]  # deployment name -> requests it received
    messages: list[dict[str, str]]


def observe(
    sc: Scenario,
    r: Router,
    backend: MockBackend,
    nonce: str,
    *,
    sensitivity: Sensitivity | None = None,
) -> Observation:
    messages = sc.messages(nonce)
    level = sc.declared if sensitivity is None else sensitivity
    try:
        planned = r.plan(messages, sensitivity=level, temperature=0)
    except NoEligibleDeployment as exc:
        planned = exc.decision
    outcome = serve(r, sc.mode, messages, sensitivity=level, timeout=sc.timeout)
    logs = {
        spec.name: received(server, nonce)
        for spec, server in zip(sc.specs, endpoints(backend, sc), strict=True)
    }
    return Observation(planned, outcome, logs, messages)


# ---------------------------------------------------------------- checks


def attempts_of(outcome: Outcome) -> tuple[Attempt, ...] | None:
    """The attempts the caller can see (None after BadRequest or NoEligibleDeployment)."""
    if outcome.decision is not None:
        return outcome.decision.attempts
    if isinstance(outcome.error, AllDeploymentsFailed):
        return outcome.error.attempts
    return None


def check_local_only(sc: Scenario, obs: Observation, expected: Sensitivity) -> None:
    """Invariant 1, by what the deployments received."""
    features = obs.planned.features
    assert rank(features.sensitivity) >= rank(expected), (
        f"{expected} request planned as {features.sensitivity}"
    )
    level = max(expected, features.sensitivity, key=rank)
    allowed = sc.policy.allowed_hosting(level)
    hosting = {s.name: s.hosting for s in sc.specs}
    for name, got in obs.logs.items():
        if hosting[name] not in allowed:
            assert got == [], f"{level} request reached {name} ({hosting[name]}) {len(got)} times"
    assert all(c.hosting in allowed for c in obs.planned.candidates)
    served = obs.outcome.decision.served_by if obs.outcome.decision else None
    assert served is None or hosting[served] in allowed


def check_within_plan(sc: Scenario, obs: Observation) -> None:
    """Invariant 2, serving half: nothing outside the plan is called, attempts in plan order."""
    candidates = [c.name for c in obs.planned.candidates]
    for name, got in obs.logs.items():
        if name not in candidates:
            assert got == [], f"{name} is not in the plan but received {len(got)} requests"
        for body in got:
            assert body["messages"] == obs.messages
            assert bool(body.get("stream")) is sc.streaming
    outcome = obs.outcome
    if outcome.decision is not None:
        assert outcome.decision.candidates == obs.planned.candidates
        assert outcome.decision.served_by in candidates
    if isinstance(outcome.error, NoEligibleDeployment):
        assert candidates == []
        assert outcome.error.decision.candidates == ()
    if isinstance(outcome.error, BadRequest):
        last = candidates.index(outcome.error.deployment)
        assert all(obs.logs[n] == [] for n in candidates[last + 1 :])
    attempts = attempts_of(outcome)
    if attempts is None:
        return
    assert all(a.deployment in candidates for a in attempts)
    order = [candidates.index(a.deployment) for a in attempts]
    assert order == sorted(order), f"attempts left plan order: {attempts}"
    for name in candidates:
        tries = sum(1 for a in attempts if a.deployment == name and a.outcome != "skipped")
        assert len(obs.logs[name]) <= tries, f"{name}: calls the decision does not record"
        if not sc.deadline_in_play:  # no request can time out before the server logs it
            assert len(obs.logs[name]) == tries


def check_outcome(sc: Scenario, obs: Observation) -> None:
    """A typed outcome, and a text that comes from the server `served_by` names."""
    outcome = obs.outcome
    if outcome.error is not None and not isinstance(outcome.error, StreamInterrupted):
        assert isinstance(outcome.error, AllDeploymentsFailed | NoEligibleDeployment | BadRequest)
        assert isinstance(outcome.error, NoEligibleDeployment) is (not obs.planned.candidates)
        return
    assert outcome.decision is not None
    served = outcome.decision.served_by
    assert served is not None
    answer = next(s.answer for s in sc.specs if s.name == served)
    if not outcome.decision.cache_hit:
        assert obs.logs[served], f"{served} is said to have served but received nothing"
    if isinstance(outcome.error, StreamInterrupted):
        assert sc.streaming
        assert outcome.error.deployment == served
        assert outcome.error.delivered == outcome.text
        assert outcome.text
        assert answer.startswith(outcome.text)
        assert outcome.text != answer
    else:
        assert outcome.text == answer


def check_predicted(sc: Scenario, obs: Observation) -> None:
    """Without a deadline in play, the attempts are what README's failure table says."""
    candidates = [c.name for c in obs.planned.candidates]
    if sc.deadline_in_play or not candidates:
        return
    expected: list[tuple[str, str]] = []
    end: TryOutcome = "fallback"
    for name in candidates:
        queue = list(sc.script_of(name))
        for tries in range(1, RETRY.attempts + 1):
            step = try_outcome(queue.pop(0) if queue else "ok", sc.streaming)
            if step is None:
                return
            end = step
            if step == "retry":
                expected.append((name, "retry" if tries < RETRY.attempts else "gave up"))
                continue
            expected.append((name, "ok" if step == "interrupt" else step))
            break
        if end in ("ok", "interrupt", "raise"):
            break
    outcome = obs.outcome
    if end == "raise":
        assert isinstance(outcome.error, BadRequest)
        assert outcome.error.deployment == expected[-1][0]
        return
    if end in ("ok", "interrupt"):
        if end == "interrupt":
            assert isinstance(outcome.error, StreamInterrupted)
        else:
            assert outcome.error is None
        assert outcome.decision is not None
        assert outcome.decision.served_by == expected[-1][0]
    else:
        assert isinstance(outcome.error, AllDeploymentsFailed)
        assert "every deployment in the plan failed" in str(outcome.error)
    attempts = attempts_of(outcome)
    assert attempts is not None
    assert [(a.deployment, a.outcome) for a in attempts] == expected
    event("attempts predicted")


def check_all(sc: Scenario, obs: Observation, expected_level: Sensitivity) -> None:
    error = obs.outcome.error
    event(f"{sc.mode}: {'success' if error is None else type(error).__name__}")
    called = {s.hosting for s in sc.specs if obs.logs[s.name]}
    event(f"hosting called: {', '.join(sorted(called)) or 'none'}")
    event(f"level {max(expected_level, obs.planned.features.sensitivity, key=rank)}")
    check_local_only(sc, obs, expected_level)
    check_within_plan(sc, obs)
    check_outcome(sc, obs)
    check_predicted(sc, obs)


# ---------------------------------------------------------------- the properties


def run(pool: MockBackend, sc: Scenario) -> Observation:
    """One example: arm the deployments, build the router, serve once, check everything."""
    arm(pool, sc)
    obs = observe(sc, build_router(sc, pool), pool, new_nonce())
    check_all(sc, obs, sc.expected_level)
    return obs


@pytest.mark.parametrize("mode", MODES)
@SERVING
@given(data=st.data())
def test_local_only_requests_never_reach_a_server_outside_the_rule(
    pool: MockBackend, mode: Mode, data: st.DataObject
) -> None:
    sc = data.draw(scenarios(mode, local_only=True, max_denied=1), label="scenario")
    run(pool, sc)  # check_local_only is the point; check_all runs it with the rest


@pytest.mark.parametrize("mode", MODES)
@SERVING
@given(data=st.data())
def test_fallback_never_leaves_the_plan_and_denied_servers_receive_nothing(
    pool: MockBackend, mode: Mode, data: st.DataObject
) -> None:
    sc = data.draw(scenarios(mode, local_only=False, max_denied=2), label="scenario")
    obs = run(pool, sc)
    denied = set(sc.policy.denied)
    assert not denied & {c.name for c in obs.planned.candidates}
    assert all(obs.logs[name] == [] for name in denied)


@st.composite
def cache_scenarios(draw: st.DrawFn, mode: Mode) -> tuple[Scenario, Sensitivity]:
    """(scenario, sensitivity of the second request): the first request is public and
    goes to an API; the second has the same messages at a level the policy keeps local."""
    specs = draw(deployment_specs(api_on_top=True))
    policy = draw(policy_draws([s.name for s in specs], local_only=True, max_denied=0))
    threshold = min((level for level, _ in policy.local_only), key=rank)
    below = [s for s, level in SNIPPETS.items() if rank(level) < rank(threshold)]
    at_or_above = [lvl for lvl in SENSITIVITY_LEVELS if rank(lvl) >= rank(threshold)]
    sc = Scenario(
        specs=specs,
        policy=policy,
        objective="best",
        declared="public",
        snippet=draw(st.sampled_from(below)),
        snippet_in_system=draw(st.booleans()),
        scripts=draw(fault_scripts(len(specs))),
        mode=mode,
    )
    return sc, draw(st.sampled_from(at_or_above))


@pytest.mark.parametrize("mode", MODES)
@CACHED
@given(data=st.data())
def test_a_cached_api_answer_is_never_served_to_a_local_only_request(
    pool: MockBackend, cache_root: Path, mode: Mode, data: st.DataObject
) -> None:
    sc, level = data.draw(cache_scenarios(mode), label="scenario")
    servers = pool
    apis = {s.name for s in sc.specs if s.hosting == "api"}
    nonce = new_nonce()
    cache = ResponseCache(cache_root / nonce, ttl_seconds=60)
    try:
        r = build_router(sc, servers, cache)
        clean = dataclasses.replace(sc, scripts=tuple(() for _ in sc.specs), mode="complete")
        arm(servers, clean)
        first = observe(clean, r, servers, nonce, sensitivity="public")
        public = first.outcome.decision
        assert public is not None, first.outcome.error
        assert public.served_by in apis  # so the API's answer is in the cache now
        assert not public.cache_hit

        arm(servers, sc)
        second = observe(sc, r, servers, nonce, sensitivity=level)
        check_all(sc, second, max(level, SNIPPETS[sc.snippet], key=rank))
        assert all(second.logs[name] == [] for name in apis)
        if second.outcome.decision is not None:
            assert second.outcome.decision.served_by not in apis
            assert not second.outcome.decision.cache_hit  # only the API's entry exists
            assert second.outcome.text not in {s.answer for s in sc.specs if s.name in apis}

        arm(servers, clean)
        again = observe(clean, r, servers, nonce, sensitivity="public")
        assert again.outcome.decision is not None, again.outcome.error
        assert again.outcome.decision.cache_hit  # the entry was there all along
        assert again.outcome.decision.served_by == public.served_by
        assert again.outcome.text == first.outcome.text
        assert all(got == [] for got in again.logs.values())
    finally:
        cache.close()


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serving-cache")
