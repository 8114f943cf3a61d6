"""The Router facade: wires config, features, policy and planner. No business logic."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Unpack
from urllib.parse import urlsplit

from router._effects import arun, run
from router._models import Deployment, Message, Request
from router._records import Decision, Result
from router.decision import (
    AnswerScorerFn,
    Budget,
    BudgetState,
    CascadeSettings,
    CompleteArgs,
    CooldownSettings,
    DeploymentSpec,
    Mode,
    Origin,
    Policy,
    RequestArgs,
    RetrySettings,
    RouterConfig,
    RuleFn,
    Scorer,
    Settings,
    StreamArgs,
    compile_config,
    cost_at,
    default_scorer,
    merged,
    plan,
    to_request,
    tree_of,
)
from router.errors import (
    ConfigError,
    NoEligibleDeployment,
    RouterError,
)
from router.money import Books, Ledger, profile_digest, record_feedback
from router.observe import Observer
from router.serving import (
    AsyncStream,
    Backend,
    Cascade,
    LiteLLMBackend,
    Pipeline,
    RetryPolicy,
    Route,
    Stream,
)
from router.state import StateSettings, is_redis_url
from router.state.cache import Cache
from router.state.cooldowns import BreakerState, CooldownPolicy, Cooldowns

__all__ = ["Router"]

if TYPE_CHECKING:
    from router.state.redis_state import RedisState

_SOURCE = "Router(...)"
_VARIANT_KEYS = frozenset(
    {"objective", "policy", "policy_vars", "mode", "quality_target", "paid_share"}
)
"""The `[router]` keys `Router.variant` may change: how a request is planned, not how it is
served or recorded."""
_MODES: tuple[Mode, ...] = ("route", "cascade")
_log = logging.getLogger("router")

Warmup = bool | Literal["background"]
"""`Router(warmup=...)`: False (default) pays the first-call cost in the first request;
True pays it in the constructor; "background" in a daemon thread started by it."""


class _Warmth:
    """Whether a backend's first-call cost has been paid in this process, and the lock a
    warmup holds while it pays it (a request that arrives meanwhile waits on it)."""

    def __init__(self, *, done: bool = False) -> None:
        self.done = done
        self.lock = threading.Lock()

    def wait(self) -> None:
        """Block while a warmup (in any thread) is running; return at once otherwise."""
        if not self.done and self.lock.locked():
            with self.lock:
                pass

    def busy(self) -> bool:
        """A warmup holds the lock now (a request waits for it, off the event loop)."""
        return self.lock.locked()

    def after_fork(self) -> None:
        """A forked child does not inherit the thread that held the lock."""
        self.lock = threading.Lock()


_LITELLM_WARMTH = _Warmth()
"""litellm is imported once per process: every Router on a LiteLLMBackend shares this."""
os.register_at_fork(after_in_child=_LITELLM_WARMTH.after_fork)

_LITELLM_CALLBACKS = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "input_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "_async_input_callback",
)


def _warm_litellm() -> None:
    """What the first call through `LiteLLMBackend` loads, loaded now, offline: litellm
    itself (configured as the backend configures it), the code its first completion runs
    (one `mock_response` call: nothing is sent; skipped when the application registered
    litellm callbacks, which would log it) and the HTTP client's modules."""
    from router.serving import _litellm  # noqa: PLC0415  (the backend's own import)

    lm = _litellm()
    if not any(getattr(lm, name, None) for name in _LITELLM_CALLBACKS):
        lm.completion(
            model="openai/router-warmup",
            messages=[{"role": "user", "content": "warmup"}],
            mock_response="ok",
            api_key="sk-no-key-needed",
            num_retries=0,
            max_retries=0,
            caching=False,
        )
    for name in ("httpcore", "h11"):
        with contextlib.suppress(ImportError):  # another transport: the first call loads it
            importlib.import_module(name)


def _warm_shared() -> None:
    """The router's own lazy loads a first request may need: the cl100k encoding (prompts
    near a context window are counted exactly)."""
    try:
        from router.decision import _encoding  # noqa: PLC0415

        _encoding()
    except Exception as exc:  # only prompts near a window need it; they report it
        _log.debug("warmup: the cl100k encoding did not load (%s)", type(exc).__name__)


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

    `mode="cascade"` (or `[router] mode = "cascade"`) serves each request from the best
    free deployment first and escalates to a paid one of the plan only when the
    verifier doubts the answer (`router.serving._cascade`; settings: `cascade=` or `[cascade]`;
    a trained scorer of answers: `answer_scorer=`).

    The first call of a process imports litellm (seconds): `warmup="background"` starts
    that in a daemon thread at construction (`warmup=True`: in the constructor), or call
    `warmup()` when it suits you. A request served before the router was warm is marked
    `decision.cold_start` (and in the ledger's `cold_start` column).
    """

    def __init__(
        self,
        deployments: Sequence[Mapping[str, Any] | DeploymentSpec | Deployment] | None = None,
        *,
        config: RouterConfig | Mapping[str, Any] | None = None,
        policy: Policy | str | Path | None = None,
        rules: Sequence[RuleFn] = (),
        settings: Settings | None = None,
        scorer: Scorer | None = None,
        backend: Backend | None = None,
        retry: RetrySettings | RetryPolicy | Mapping[str, Any] | None = None,
        cooldown: CooldownSettings | CooldownPolicy | Mapping[str, Any] | None = None,
        cache: Cache | bool | None = None,
        ledger: Ledger | str | Path | None = None,
        budgets: Sequence[Budget | Mapping[str, Any]] | None = None,
        cascade: CascadeSettings | Mapping[str, Any] | None = None,
        answer_scorer: AnswerScorerFn | None = None,
        state_settings: StateSettings | Mapping[str, Any] | None = None,
        warmup: Warmup | None = None,
        **options: Any,
    ) -> None:
        """`config` is the config tree (`RouterConfig`, or `RouterConfig.load(path)`), or
        its content as a mapping shaped like the TOML file. Every other keyword that names
        a field of the tree overrides the tree's value (`router.decision._settings.keywords()` lists
        them): a `[router]` key by its name (`objective="best"`, `timeout=30`), a table by
        its name (`retry={"attempts": 1}`, `cascade=CascadeSettings(...)`, `detectors=`),
        `[state]` as `state_settings=`; a mapping is laid over the table, a model replaces
        it. `settings=` (the planner's `Settings`) sets the keys it holds. Objects stay
        arguments: a `Policy` (or a pack's `Path`) and custom `rules`, `scorer`, `backend`,
        `answer_scorer`, a `Ledger` or `Cache` instance. Mistakes are ConfigErrors naming
        the keyword (or the file's key) and what to write."""
        given = {
            "deployments": deployments,
            "policy": policy if isinstance(policy, str) else None,
            "retry": retry,
            "cooldown": cooldown,
            "cache": cache if isinstance(cache, bool) else None,
            "ledger": ledger if isinstance(ledger, str | Path) else None,
            "budgets": budgets,
            "cascade": cascade,
            "state_settings": state_settings,
            "warmup": warmup,
        }
        overrides = {
            **({} if settings is None else settings.as_keywords()),
            **{name: value for name, value in given.items() if value is not None},
            **options,
        }
        self.config: RouterConfig = merged(_tree(config), overrides)
        """The config tree this Router was built from (its keywords laid over `config`)."""
        tree = self.config
        compiled = compile_config(
            tree,
            policy=policy if isinstance(policy, Policy | Path) else None,
            rules=rules,
            ledger_given=isinstance(ledger, Ledger),
        )
        self.deployments: tuple[Deployment, ...] = compiled.deployments
        self.policy = compiled.policy
        self.settings: Settings = tree.settings
        self.timeout = tree.router.timeout
        """Seconds a request may take in all when the call passes no `timeout`."""
        self._bound = self.policy.bind(self.deployments)
        self._by_name = {d.name: d for d in self.deployments}
        self.backend: Backend = backend or LiteLLMBackend()
        self.retry = tree.retry
        breaker = tree.cooldown
        self.state_settings = compiled.state_settings
        self.shared = _open_state(tree.router.state, self.state_settings, breaker)
        self.cooldowns = _cooldowns(self.shared, self.state_settings, breaker)
        given_cache = None if cache is None or isinstance(cache, bool) else cache
        self.cache = _cache(given_cache or tree.router.cache, self.shared)
        self.baseline = tree.router.baseline
        self.baseline_prices = compiled.baseline_prices
        self.scorer: Scorer = scorer if scorer is not None else default_scorer(compiled.calibration)
        # lazy: the file is created by the first record, never by a dry run (plan, explain)
        self.ledger = (
            ledger
            if isinstance(ledger, Ledger)
            else None
            if compiled.ledger is None
            else Ledger(compiled.ledger, lazy=True)
        )
        self.books = Books(
            ledger=self.ledger,
            budgets=tree.budgets,
            baseline=self.baseline_prices,
            by_name=self._by_name,
            store_prompts=tree.router.store_prompts,
            shared=self.shared.budgets if self.shared else None,
            state_settings=self.state_settings,
            quality_model=profile_digest(self.scorer),
        )
        if answer_scorer is None and self.settings.cascade.answer_scorer:
            from router.quality.answers import default_answer_scorer  # noqa: PLC0415

            answer_scorer = default_answer_scorer()
        self.answer_scorer = answer_scorer
        self._start_warmup(tree.router.warmup)
        self._pipeline = self._build_pipeline()
        self.observer = Observer(
            metrics=tree.router.metrics,
            tracing=tree.router.tracing,
            deployments=self.deployments,
            cooldowns=self.cooldowns,
            budgets=tree.budgets,
            store=self.books.store,
            clock=self.books.clock,
            tenants=[k.tenant for k in getattr(getattr(tree, "server", None), "keys", ())],
        )
        """Metrics and spans of this Router's requests (`router.observe`)."""

    def _build_pipeline(self) -> Pipeline:
        """The serving pipeline, with one strategy per mode (chosen once per request)."""
        route = Route(retry=self.retry, cooldowns=self.cooldowns, by_name=self._by_name)
        cascade = Cascade(
            backend=self.backend,
            settings=self.settings.cascade,
            retry=self.retry,
            cooldowns=self.cooldowns,
            by_name=self._by_name,
            scorer=self.answer_scorer,
        )
        return Pipeline(
            books=self.books,
            by_name=self._by_name,
            backend=self.backend,
            cache=self.cache,
            strategies={"route": route, "cascade": cascade},
            default_mode=self.settings.mode,
            warmth=self._warmth,
            default_timeout=self.timeout,
            decide=self._decide,
        )

    def _start_warmup(self, warmup: Warmup) -> None:
        if warmup not in (False, True, "background"):
            raise ConfigError(
                _SOURCE, "warmup", "write False, True (warm now) or 'background' (a thread)"
            )
        self._warmth = _warmth_of(self.backend, self.deployments)
        self._planned_once = False
        self.warmup_thread: threading.Thread | None = None
        """The background warmup (`warmup="background"`), while and after it runs."""
        self.warmup_error: BaseException | None = None
        """What a background warmup raised (the first request then pays the cost)."""
        if warmup == "background":
            self.warmup_thread = threading.Thread(
                target=self._warmup_in_background, name="router-warmup", daemon=True
            )
            self.warmup_thread.start()
        elif warmup:
            self.warmup()

    def warmup(self) -> float:
        """Pay the first-call cost now rather than in the first request's latency: import
        litellm and what its first completion loads (the backend's `warmup()` for another
        backend that has one), the cl100k encoding, and plan one tiny request
        (pydantic builds its validators on first use). Nothing is sent to any deployment
        and nothing is written to the ledger.

        Idempotent and thread-safe: a second call, or one while another warmup runs (a
        background one), waits for it instead of loading twice; so does a request that
        arrives during a warmup. Returns the seconds this call took (~0 once warm).
        `Router(..., warmup="background")` runs it in a daemon thread at construction.
        """
        started = time.perf_counter()
        warmth = self._warmth
        with warmth.lock:
            if not warmth.done:
                hook = getattr(self.backend, "warmup", None)
                if callable(hook):
                    hook()
                elif isinstance(self.backend, LiteLLMBackend):
                    if self._warmth is _LITELLM_WARMTH:
                        _warm_litellm()
                    if any(d.client == "direct" for d in self.deployments):
                        _warm_direct()
                _warm_shared()
                warmth.done = True
            if self.shared is not None:  # redis.asyncio, which the first coroutine would load
                self.shared.warmup()
            if not self._planned_once:
                with contextlib.suppress(RouterError):  # a policy that serves no such request
                    self._decide(self.request([{"role": "user", "content": "warmup"}]))
                self._planned_once = True
        return time.perf_counter() - started

    def _warmup_in_background(self) -> None:
        try:
            self.warmup()
        except Exception as exc:  # the first request pays the cost (and meets the error)
            self.warmup_error = exc
            _log.warning("router warmup failed (%s); the first request pays its cost", exc)

    @property
    def warm(self) -> bool:
        """True once the backend's first-call cost is paid in this process (by `warmup()` or
        by a request); requests served before that are marked `decision.cold_start`."""
        return self._warmth.done

    @classmethod
    def from_config(
        cls,
        path: str | Path,
        *,
        rules: Sequence[RuleFn] = (),
        answer_scorer: AnswerScorerFn | None = None,
        warmup: Warmup | None = None,
        **options: Any,
    ) -> Router:
        """A Router from a TOML config file (see docs/config.md): the file is read into the
        tree and handed to the constructor, `Router(config=RouterConfig.load(path), ...)`.
        Keywords are `Router(...)`'s (objects such as `backend=`, or keys that override
        the file's); `warmup` as in `Router(...)`: True warms before returning,
        "background" in a daemon thread (default: the file's `[router] warmup`)."""
        return cls(
            config=RouterConfig.load(path),
            rules=rules,
            answer_scorer=answer_scorer,
            warmup=warmup,
            **options,
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
        return self._decide(req, run(self.books.states(req, self.books.clock())))

    def _decide(
        self, req: Request, budgets: Sequence[BudgetState] = (), request_id: str | None = None
    ) -> Decision:
        decision = plan(
            req, self.deployments, self._bound, self.settings, self.scorer, budgets=budgets
        )
        if request_id is not None:  # a request to serve (not a dry run): cold before warmup
            decision = dataclasses.replace(
                decision, request_id=request_id, cold_start=not self._warmth.done
            )
        if not decision.candidates:
            raise NoEligibleDeployment(decision)
        return decision

    def feedback(self, request_id: str, score: bool | float) -> None:
        """Record how good a served answer was, for `python -m router calibrate --ledger`.

        `request_id` is `result.decision.request_id` (a stream's `decision.request_id`,
        once it has ended); `score` is True / False (thumbs up / down) or a number from 0
        (bad) to 1 (good). It is appended to the ledger as a feedback row about the
        deployment that served the answer; the request's record is not rewritten.
        Raises ConfigError without a ledger, InvalidRequest for another score or an id
        the ledger does not hold (or a request that got no answer).
        """
        if self.ledger is None:
            raise ConfigError(
                _SOURCE, "ledger", "feedback is kept in the ledger: also pass ledger='PATH'"
            )
        record_feedback(self.ledger, request_id, score, ts=self.books.clock())

    def health(self) -> dict[str, BreakerState]:
        """Each deployment's breaker: closed, open (with seconds until a probe) or half-open."""
        return {d.name: self.cooldowns.state(d.name) for d in self.deployments}

    def readiness(self, timeout: float = 0.5) -> dict[str, Any]:
        """Whether this Router can serve now, as JSON-ready data (`GET /ready` of
        `python -m router serve`). Blocking: up to `timeout` seconds per check.

        - `state`: the shared state's backend ("local" or "redis") and whether it answers
          (a Redis PING);
        - `deployments`: each one's breaker (`health()`), and for a deployment on machines
          you control (`hosting` local or self-hosted, with an `api_base`) whether its
          port accepts a connection (`reachable`; None for an API, which is not probed);
        - `ready`: the state answers and at least one deployment has a closed or
          half-open breaker and is not known to be unreachable.
        """
        reachable, detail = True, None
        if self.shared is not None:  # "local" state is this process's: nothing to ask
            try:  # blocking, bounded by [state] timeout_ms
                self.shared.ping()
            except Exception as exc:  # any failure: not reachable (the cause's type says which)
                reachable, detail = False, type(exc.__cause__ or exc).__name__
        deployments: dict[str, dict[str, Any]] = {}
        for d, breaker in zip(self.deployments, self.health().values(), strict=True):
            up = None if d.hosting == "api" or not d.api_base else _accepts(d.api_base, timeout)
            deployments[d.name] = {
                "hosting": d.hosting,
                "breaker": breaker.state,
                "retry_in_seconds": round(breaker.retry_in_seconds, 3),
                "reachable": up,
            }
        usable = any(
            v["breaker"] != "open" and v["reachable"] is not False for v in deployments.values()
        )
        return {
            "ready": reachable and usable,
            "state": {
                "backend": "local" if self.shared is None else "redis",
                "reachable": reachable,
                "error": detail,
            },
            "deployments": deployments,
        }

    def variant(self, **keys: Any) -> Router:
        """A Router that plans with other `[router]` keys (`objective`, `policy`,
        `policy_vars`, `mode`, `quality_target`, `paid_share`) and shares everything
        else with this one: deployments, backend, breakers, budgets and ledger, cache,
        shared state, warmth. `python -m router serve` builds one per `[[server.models]]`
        route, so a breaker one route opens benches the deployment for all of them and
        every route spends from the same budgets.

        A new `policy` is loaded from the config tree's folder; the custom `rules=` given
        to this Router are not carried over to it. Raises ConfigError naming the keyword.
        """
        for name in keys:
            if name not in _VARIANT_KEYS:
                raise ConfigError(
                    _SOURCE,
                    name,
                    f"a variant changes only {', '.join(sorted(_VARIANT_KEYS))}; build a "
                    "Router for anything else",
                )
        clone = copy.copy(self)
        clone.config = merged(self.config, keys)
        clone.settings = clone.config.settings
        if "policy" in keys or "policy_vars" in keys:
            clone.policy = compile_config(clone.config, ledger_given=True).policy
            clone._bound = clone.policy.bind(clone.deployments)
        clone._pipeline = clone._build_pipeline()
        return clone

    def baseline_cost_usd(self, decision: Decision) -> float | None:
        """What the request would cost at the baseline's prices (None without a baseline)."""
        if self.baseline_prices is None:
            return None
        return cost_at(decision.features, *self.baseline_prices)

    def complete(
        self, messages: Sequence[Mapping[str, Any] | Message], **args: Unpack[CompleteArgs]
    ) -> Result:
        """Plan the request and call the plan's deployments in order until one answers.

        Retries and fallback stay inside the plan; `timeout` (seconds, default 60) bounds
        the whole chain. `cache` overrides the rule that only deterministic requests are
        cached. `mode` overrides the Router's: "cascade" asks the best free deployment
        first and escalates to a paid one of the plan only when the verifier doubts the
        answer (`decision.verification` says what it did; see `router.serving._cascade`).
        Raises NoEligibleDeployment, the caller's BadRequest, or AllDeploymentsFailed.
        """
        op = self._pipeline.complete(messages, args)
        return run(self.observer.complete(op, args.get("tenant")))

    async def acomplete(
        self, messages: Sequence[Mapping[str, Any] | Message], **args: Unpack[CompleteArgs]
    ) -> Result:
        """`complete` as a coroutine: the same steps (`router.serving._serving`), with litellm's
        async
        client, Redis's asyncio client, and file and database work off the event loop."""
        op = self._pipeline.complete(messages, args)
        return await arun(self.observer.complete(op, args.get("tenant")))

    def stream(
        self, messages: Sequence[Mapping[str, Any] | Message], **args: Unpack[StreamArgs]
    ) -> Stream:
        """Stream the answer. Retries and fallback happen before the first chunk; after it,
        a failure raises StreamInterrupted with the text already delivered. Usage and cost
        are settled when the stream ends, fails or is closed early.

        In cascade mode the free answer is not streamed as it is generated: it is
        buffered and verified first (no unverified text ever reaches the caller), then
        replayed as chunks, or the paid deployment it escalates to streams live. The
        first chunk thus waits for the whole free answer; `mode="route"` streams at once.
        """
        op = self._pipeline.stream(messages, args)
        return Stream(*run(self.observer.stream(op, args.get("tenant"))))

    async def astream(
        self, messages: Sequence[Mapping[str, Any] | Message], **args: Unpack[StreamArgs]
    ) -> AsyncStream:
        """`stream` as a coroutine: await it, then `async for` over the chunks (in cascade
        mode, the free answer is verified before its first chunk, as in `stream`)."""
        op = self._pipeline.stream(messages, args)
        return AsyncStream(*await arun(self.observer.stream(op, args.get("tenant"))))


def _accepts(api_base: str, timeout: float) -> bool:
    """Whether the host:port of `api_base` accepts a TCP connection within `timeout`."""
    parts = urlsplit(api_base)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _warmth_of(backend: Backend, deployments: Sequence[Deployment]) -> _Warmth:
    """The warm state a Router on `backend` shares: litellm's is process-wide (a Router
    whose deployments all use the direct client never loads litellm, and has its own); a
    backend with its own `warmup()` has its own; any other has no first-call cost."""
    if isinstance(backend, LiteLLMBackend):
        if any(d.client == "litellm" for d in deployments):
            return _LITELLM_WARMTH
        return _Warmth()
    return _Warmth(done=not callable(getattr(backend, "warmup", None)))


def _warm_direct() -> None:
    """What the direct client's first calls load: aiohttp and httpx."""
    for name in ("aiohttp", "httpx"):
        importlib.import_module(name)


def _tree(config: RouterConfig | Mapping[str, Any] | None) -> RouterConfig | None:
    """`Router(config=...)`: a tree as it is; a mapping is read as a config file's content."""
    if config is None or isinstance(config, RouterConfig):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(
            _SOURCE, "config", "give a RouterConfig (RouterConfig.load(PATH)) or a mapping"
        )
    return tree_of(config, Origin(source="Router(config=...)", file_terms=True))


def _open_state(url: str, settings: StateSettings, cooldown: CooldownPolicy) -> RedisState | None:
    """None for "local"; the Redis parts for a redis:// URL (redis-py is imported here)."""
    if url == "local":
        return None
    if not is_redis_url(url):
        raise ConfigError(
            _SOURCE, "state", f"{url!r}: write 'local' or a Redis URL like redis://127.0.0.1:6379/0"
        )
    try:
        from router.state.redis_state import RedisState  # noqa: PLC0415
    except ImportError:
        raise ConfigError(
            _SOURCE, "state", "Redis state needs redis-py: pip install 'freefirst-router[redis]'"
        ) from None
    return RedisState(url, settings, cooldown)


def _cache(cache: Cache | bool | None, shared: RedisState | None) -> Cache | None:
    """`cache=True` means the shared state's cache (Redis); a cache object is used as is."""
    if cache is True:
        if shared is None:
            raise ConfigError(
                _SOURCE,
                "cache",
                "cache=True shares answers through Redis (state='redis://...'); on one "
                "machine pass cache=ResponseCache('DIR')",
            )
        return shared.cache
    return cache or None


def _cooldowns(
    shared: RedisState | None, settings: StateSettings, policy: CooldownPolicy
) -> Cooldowns:
    """Redis breakers, or this machine's on disk (`[state] directory`), or in memory."""
    if shared is not None:
        return shared.cooldowns
    if settings.directory is not None:
        from router.state.local import DiskCooldowns  # noqa: PLC0415

        return DiskCooldowns(settings.directory, policy)
    return Cooldowns(policy)
