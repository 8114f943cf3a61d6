"""The cascade through real parts: a Router in mode "cascade" serving from loopback fault
servers through litellm's real HTTP stack. A good free answer is kept (the paid server
hears nothing); a refusal, an empty answer, invalid JSON, low log-probabilities, samples
that disagree or a low answer score escalate to the paid deployment (exactly one call);
a confidential request never escalates outside the plan; both calls' cost and latency
reach the ledger; budgets hold the cascade's worst case; streams are verified first."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from factories import deployment, features

import router
from router._records import Attempt
from router.decision._budgets import max_cost_micro
from router.errors import AllDeploymentsFailed, InvalidRequest
from router.quality.answers import AnswerScorer
from router.serving._cascade import escalation_targets, hold_micro, in_free_tier
from router.serving._executor import RetryPolicy
from router.testing import FaultServer, bad_request, ok, ok_with_logprobs, server_error

FAST = RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.02, jitter=0.0)
HI = [{"role": "user", "content": "What is the capital of France?"}]
KEY_ENV = "ROUTER_TEST_CASCADE_KEY"
REFUSAL = "I'm sorry, but I can't help with that."
JSON_OBJECT = {"type": "json_object"}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "schema": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}},
        },
    },
}


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-real-key")


def entries(local: FaultServer, api: FaultServer, **local_extra: Any) -> list[dict[str, Any]]:
    """A free local model the plan tries first and a paid API at $10/M in and out."""
    caps = ["json", "json_schema"]
    return [
        {"name": "local", "model": "openai/l", "api_base": local.base_url,
         "context_window": 8192, "quality": 0.6, "capabilities": caps, **local_extra},
        {"name": "api", "model": "openai/x", "api_base": api.base_url, "hosting": "api",
         "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
         "input_cost_per_mtok": 10, "output_cost_per_mtok": 10, "quality": 0.95,
         "capabilities": caps},
    ]  # fmt: skip


def cascade_router(local: FaultServer, api: FaultServer, **options: Any) -> router.Router:
    local_extra = options.pop("local_extra", {})
    options.setdefault("mode", "cascade")
    return router.Router(
        deployments=entries(local, api, **local_extra),
        quality_target=0.5,  # local (0.6 / 0.95 of the best) meets it: the plan is [local, api]
        retry=FAST,
        **options,
    )


def outcomes(decision: router.Decision) -> list[tuple[str, str]]:
    return [(a.deployment, a.outcome) for a in decision.attempts]


def records(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM records ORDER BY id")]


# -- pure parts ----------------------------------------------------------------------


def test_free_tier_targets_and_hold_are_plain_functions_of_the_plan() -> None:
    local = deployment("local")
    gpu = deployment("gpu", hosting="self-hosted", input_usd_per_token=1e-6,
                     output_usd_per_token=1e-6)  # fmt: skip
    api = deployment("api", hosting="api", weights="closed", input_usd_per_token=1e-5,
                     output_usd_per_token=1e-5)  # fmt: skip
    free_api = deployment("free-api", hosting="api", weights="closed")
    assert [in_free_tier(d) for d in (local, gpu, api, free_api)] == [True, True, False, True]
    tried = [Attempt("local", 1, "ok", None, 1.0), Attempt("gpu", 0, "skipped", "cool", 0.0)]
    assert [d.name for d in escalation_targets([local, gpu, api, free_api], tried)] == [
        "gpu",
        "api",
    ]
    f = features(prompt_tokens=100, max_output_tokens=100)  # 400 bytes held as 400+ tokens
    single = {d.name: max_cost_micro(f, d) for d in (gpu, api)}
    assert hold_micro(f, [local, api], samples=0) == single["api"]
    assert hold_micro(f, [local, free_api], samples=3) == 0
    assert hold_micro(f, [gpu, api], samples=2) == 3 * single["gpu"] + single["api"]
    assert hold_micro(f, [api], samples=2) == single["api"]


# -- keep or escalate ----------------------------------------------------------------


def test_a_good_free_answer_is_kept_and_the_paid_server_hears_nothing(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    local.script(ok_with_logprobs("Paris.", [-0.05, -0.1]))
    result = cascade_router(local, api).complete(HI)
    assert result.content == "Paris."
    assert api.requests == []
    d = result.decision
    assert d.served_by == "local"
    assert outcomes(d) == [("local", "ok")]
    v = d.verification
    assert v is not None
    assert (v.first, v.escalated, v.threshold) == ("local", False, 0.5)
    assert v.score == pytest.approx(math.exp(-0.075))
    assert dict(v.checks) == {"empty": 1.0, "refusal": 1.0, "logprobs": v.score}
    assert "kept the free answer" in v.reason
    assert local.requests[0]["logprobs"] is True  # asked of the local server...
    assert not result.response["choices"][0].get("logprobs")  # ...not passed to the caller
    assert d.cost is not None
    assert d.cost.micro_usd == 0


@pytest.mark.parametrize(
    ("answer", "args", "check"),
    [
        (REFUSAL, {}, "refusal"),
        ("", {}, "empty"),
        ('{"city": "Paris"', {"response_format": JSON_OBJECT}, "json"),
        ('{"town": "Paris"}', {"response_format": SCHEMA}, "json"),
    ],
    ids=["refusal", "empty", "invalid-json", "schema-mismatch"],
)
def test_a_doubtful_free_answer_escalates_to_exactly_one_paid_call(
    servers: tuple[FaultServer, FaultServer], answer: str, args: dict[str, Any], check: str
) -> None:
    local, api = servers
    local.script(ok(answer))
    api.script(ok('{"city": "Paris"}', prompt_tokens=100, completion_tokens=50))
    result = cascade_router(local, api).complete(HI, **args)
    assert result.content == '{"city": "Paris"}'
    assert len(local.requests) == 1
    assert len(api.requests) == 1
    assert "logprobs" not in api.requests[0]  # only deployments you host are asked
    d = result.decision
    assert d.served_by == "api"
    assert outcomes(d) == [("local", "rejected"), ("api", "ok")]
    v = d.verification
    assert v is not None
    assert (v.first, v.escalated, v.score) == ("local", True, 0.0)
    assert dict(v.checks)[check] == 0.0
    assert v.reason.startswith("score 0.00 < threshold 0.5 (")
    assert v.reason.endswith("escalated to api")
    assert d.usage is not None
    assert (d.usage.prompt_tokens, d.usage.completion_tokens) == (100, 50)  # the served answer's
    assert d.cost is not None
    assert d.cost.micro_usd == 1500


def test_a_confidential_request_never_escalates_to_an_api_and_the_record_says_why(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    local.script(ok(REFUSAL))
    result = cascade_router(local, api).complete(HI, sensitivity="confidential")
    assert result.content == REFUSAL  # the only answer policy allows
    assert api.requests == []
    d = result.decision
    assert [c.name for c in d.candidates] == ["local"]
    assert d.served_by == "local"
    assert outcomes(d) == [("local", "ok")]
    v = d.verification
    assert v is not None
    assert (v.escalated, v.score) == (False, 0.0)
    assert "escalation not allowed" in v.reason
    assert "api (policy:" in v.reason
    assert v.reason.endswith("kept the free answer")


def test_low_logprobs_escalate_and_high_ones_are_kept(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    r = cascade_router(local, api, cascade={"threshold": 0.4})
    local.script(
        ok_with_logprobs("Lyon, I think.", [-2.0, -1.5, -2.5]), ok_with_logprobs("Paris.", [-0.3])
    )
    api.script(ok("Paris."))
    unsure = r.complete(HI)
    sure = r.complete(HI)
    assert unsure.decision.served_by == "api"
    v = unsure.decision.verification
    assert v is not None
    assert v.score == pytest.approx(math.exp(-2.0))
    assert dict(v.checks)["logprobs"] == pytest.approx(math.exp(-2.0))
    assert sure.decision.served_by == "local"
    assert len(api.requests) == 1


def test_logprobs_are_asked_only_when_configured_and_kept_when_the_caller_asked(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    local.script(ok_with_logprobs("Paris.", [-0.1]), ok_with_logprobs("Paris.", [-0.1]))
    off = cascade_router(local, api, cascade={"logprobs": False}).complete(HI)
    assert "logprobs" not in local.requests[0]
    assert off.decision.verification is not None
    assert "logprobs" not in dict(off.decision.verification.checks)
    asked = cascade_router(local, api).complete(HI, logprobs=True)
    assert asked.response["choices"][0]["logprobs"]["content"][0]["logprob"] == -0.1


def test_a_server_that_refuses_logprobs_is_asked_again_without(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    local.script(bad_request("logprobs is not supported"), ok("Paris."))
    result = cascade_router(local, api).complete(HI)
    assert result.content == "Paris."
    assert [("logprobs" in body) for body in local.requests] == [True, False]
    assert api.requests == []


def test_samples_that_agree_keep_the_answer_and_samples_that_disagree_escalate(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    r = cascade_router(local, api, cascade={"samples": 2, "logprobs": False})
    local.script(ok("Paris"), ok("paris."), ok("PARIS"))
    agreed = r.complete(HI, temperature=0)
    assert agreed.decision.served_by == "local"
    assert outcomes(agreed.decision) == [("local", "ok"), ("local", "sample"), ("local", "sample")]
    assert [body.get("temperature") for body in local.requests] == [0, 0.7, 0.7]
    v = agreed.decision.verification
    assert v is not None
    assert (v.samples, dict(v.checks)["agreement"]) == (2, 1.0)
    local.reset_requests()
    local.script(ok("Paris"), ok("Lyon"), ok("Marseille"))
    api.script(ok("Paris."))
    doubted = r.complete(HI)
    assert doubted.decision.served_by == "api"
    assert outcomes(doubted.decision)[-1] == ("api", "ok")
    assert len(local.requests) == 3
    assert len(api.requests) == 1


def tier_router(
    local: FaultServer, api: FaultServer, other: FaultServer, samples: int, **options: Any
) -> router.Router:
    """Two free local models (the plan asks `local`, then `local-2` on `other`) and the API;
    agreement samples drawn from the tier."""
    second = {"name": "local-2", "model": "openai/m", "api_base": other.base_url,
              "context_window": 8192, "quality": 0.55,
              "capabilities": ["json", "json_schema"]}  # fmt: skip
    return router.Router(
        deployments=[*entries(local, api), second],
        quality_target=0.5,
        retry=FAST,
        mode="cascade",
        cascade={"samples": samples, "samples_from": "tier", "logprobs": False},
        **options,
    )


def test_samples_from_the_tier_ask_the_other_free_models(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    """`samples_from = "tier"`: the extra answer comes from the plan's next free model, at
    the request's own settings; agreement keeps the answer, disagreement escalates."""
    local, api = servers
    with FaultServer() as other:
        r = tier_router(local, api, other, 1)
        assert [c.name for c in r.plan(HI).candidates] == ["local", "local-2", "api"]
        local.script(ok("Paris"))
        other.script(ok("paris."))
        agreed = r.complete(HI, temperature=0.2)
        assert agreed.decision.served_by == "local"
        assert outcomes(agreed.decision) == [("local", "ok"), ("local-2", "sample")]
        assert other.requests[0]["temperature"] == 0.2  # not sample_temperature
        v = agreed.decision.verification
        assert v is not None
        assert (v.samples, dict(v.checks)["agreement"]) == (1, 1.0)
        local.script(ok("Paris"))
        other.script(ok("Lyon"))
        api.script(ok("Paris."))
        doubted = r.complete(HI)
        assert doubted.decision.served_by == "api"
        assert [len(local.requests), len(other.requests), len(api.requests)] == [2, 2, 1]

        async def two_samples() -> router.Decision:
            r2 = tier_router(local, api, other, 2)
            local.script(ok("Paris"))
            other.script(ok("Paris"), ok("Paris!"))  # one other free model: asked twice
            return (await r2.acomplete(HI)).decision

        d = asyncio.run(two_samples())
        assert d.served_by == "local"
        assert outcomes(d) == [("local", "ok"), ("local-2", "sample"), ("local-2", "sample")]
        assert len(other.requests) == 4


def test_the_answer_scorer_compares_with_the_other_free_models(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    """With samples from the tier, the trained-style scorer scores the kept answer again
    with the other free model's answer: agreeing letters raise it, disagreeing sink it."""
    local, api = servers
    scorer = AnswerScorer({"has_others": -2.0, "agree_choice": 4.0})  # alone: sigmoid(0)
    mc = [{"role": "user", "content": "Which is larger?\nA) 2\nB) 3\nAnswer:"}]
    with FaultServer() as other:
        r = tier_router(local, api, other, 1, answer_scorer=scorer)
        local.script(ok("B"), ok("B"))
        other.script(ok("B"), ok("A"))
        api.script(ok("B"))
        kept = r.complete(mc).decision
        v = kept.verification
        assert v is not None
        assert kept.served_by == "local"
        assert dict(v.checks)["scorer"] == pytest.approx(1 / (1 + math.exp(-2)))
        doubted = r.complete(mc).decision
        w = doubted.verification
        assert w is not None
        assert dict(w.checks)["scorer"] == pytest.approx(1 / (1 + math.exp(2)))
        assert doubted.served_by == "api"
        # "same" samples are not other models' answers: the first figure stays.
        same = router.Router(
            deployments=entries(local, api),
            quality_target=0.5,
            retry=FAST,
            mode="cascade",
            answer_scorer=scorer,
            cascade={"samples": 1, "logprobs": False},
        )
        local.script(ok("B"), ok("B"))
        u = same.complete(mc).decision.verification
        assert u is not None
        assert dict(u.checks)["scorer"] == 0.5


def test_a_refusal_is_not_sampled(servers: tuple[FaultServer, FaultServer]) -> None:
    local, api = servers
    local.script(ok(REFUSAL))
    result = cascade_router(local, api, cascade={"samples": 3}).complete(HI)
    assert len(local.requests) == 1  # already below the threshold: no money on samples
    assert result.decision.served_by == "api"


def test_the_answer_scorer_hook_decides_with_the_other_checks(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    seen: list[tuple[str, str]] = []

    def scorer(prompt: str, text: str) -> float:
        seen.append((prompt, text))
        return 0.9 if text == "Paris." else 0.1

    r = cascade_router(local, api, answer_scorer=scorer)
    local.script(ok("Paris."), ok("Lyon."))
    assert r.complete(HI).decision.served_by == "local"
    assert r.complete(HI).decision.served_by == "api"
    assert seen == [(HI[0]["content"], "Paris."), (HI[0]["content"], "Lyon.")]


# -- failures ------------------------------------------------------------------------


def test_a_failed_free_deployment_falls_back_inside_the_plan_unverified(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    local.script(server_error(503))
    api.script(ok("from the api"))
    result = cascade_router(local, api).complete(HI)
    assert result.content == "from the api"
    assert outcomes(result.decision) == [("local", "gave up"), ("api", "ok")]
    v = result.decision.verification
    assert v is not None
    assert (v.first, v.score, v.escalated) == (None, None, False)
    assert "every free deployment failed" in v.reason


def test_a_failed_escalation_serves_the_free_answer(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    local.script(ok(REFUSAL))
    api.script(server_error(500))
    result = cascade_router(local, api).complete(HI)
    assert result.content == REFUSAL
    assert result.decision.served_by == "local"
    assert outcomes(result.decision) == [("local", "ok"), ("api", "gave up")]
    v = result.decision.verification
    assert v is not None
    assert not v.escalated
    assert "escalation failed (AllDeploymentsFailed)" in v.reason


def test_everything_failing_raises_with_every_attempt(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    local.script(server_error(503))
    api.script(server_error(503))
    with pytest.raises(AllDeploymentsFailed) as caught:
        cascade_router(local, api).complete(HI)
    assert [a.deployment for a in caught.value.attempts] == ["local", "api"]


def test_a_plan_without_a_free_deployment_is_routed_plainly(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    api.script(ok(REFUSAL))
    r = router.Router(deployments=entries(local, api)[1:], mode="cascade", retry=FAST)
    result = r.complete(HI)
    assert result.content == REFUSAL
    assert result.decision.verification is not None
    assert "no free deployment in the plan" in result.decision.verification.reason
    assert len(api.requests) == 1


# -- modes and configuration ---------------------------------------------------------


def test_mode_is_chosen_per_router_and_per_request(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    local.script(ok(REFUSAL), ok(REFUSAL), ok(REFUSAL))
    api.script(ok("paid"))
    routed = cascade_router(local, api, mode="route")
    assert routed.settings.mode == "route"
    plain = routed.complete(HI)
    assert (plain.decision.served_by, plain.decision.verification) == ("local", None)
    assert routed.complete(HI, mode="cascade").decision.served_by == "api"
    cascading = cascade_router(local, api)
    assert cascading.complete(HI, mode="route").decision.verification is None
    assert len(api.requests) == 1
    with pytest.raises(InvalidRequest, match="mode"):
        cascading.complete(HI, mode="sometimes")  # type: ignore[arg-type]


def test_config_sets_mode_and_cascade_and_names_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "router.toml"
    body = """
[[deployments]]
name = "local"
model = "openai/l"
api_base = "http://127.0.0.1:9/v1"
context_window = 8192
"""
    path.write_text('[router]\nmode = "cascade"\n[cascade]\nthreshold = 0.8\nsamples = 2\n' + body)
    r = router.Router.from_config(path)
    assert r.settings.mode == "cascade"
    assert (r.settings.cascade.threshold, r.settings.cascade.samples) == (0.8, 2)
    cases = {
        "[cascade]\nthreshold = 1.5\n": "cascade.threshold",
        "[cascade]\ntreshold = 0.5\n": "cascade.treshold",
        '[router]\nmode = "cascading"\n': "router.mode",
    }
    for head, key in cases.items():
        path.write_text(head + body)
        with pytest.raises(router.ConfigError) as caught:
            router.Router.from_config(path)
        assert caught.value.key == key
    path.write_text("[cascade]\ntreshold = 0.5\n" + body)
    with pytest.raises(router.ConfigError, match="did you mean 'threshold'"):
        router.Router.from_config(path)
    with pytest.raises(router.ConfigError) as caught:
        router.Router(deployments=[{"name": "l", "model": "openai/l", "api_base":
                      "http://127.0.0.1:9/v1", "context_window": 8192}],
                      cascade={"threshold": 2})  # fmt: skip
    assert caught.value.key == "cascade.threshold"


# -- honest accounting ---------------------------------------------------------------


def test_the_ledger_records_both_calls_cost_and_latency(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path
) -> None:
    local, api = servers
    path = tmp_path / "ledger.sqlite"
    # a self-hosted GPU at $1/M in and out: its free-tier answer costs money too
    r = cascade_router(
        local,
        api,
        local_extra={"hosting": "self-hosted", "input_cost_per_mtok": 1, "output_cost_per_mtok": 1},
        ledger=path,
        baseline="api",
    )
    local.script(ok(REFUSAL, prompt_tokens=1000, completion_tokens=500))  # 1500 micro-$
    api.script(ok("Paris.", prompt_tokens=100, completion_tokens=50))  # 1500 micro-$
    result = r.complete(HI)
    (rec,) = records(path)
    assert rec["served_by"] == "api"
    assert rec["cost_micro"] == 3000  # both calls
    assert rec["baseline_micro"] == 1500  # one call of the baseline for the served usage
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (100, 50)
    assert rec["attempts"] == 2
    assert rec["fallbacks"] == 0
    stored = json.loads(rec["decision"])
    assert stored == json.loads(json.dumps(result.decision.to_dict()))
    v = stored["verification"]
    assert (v["first"], v["escalated"], v["first_cost_micro"]) == ("local", True, 1500)
    assert v["first_usage"]["prompt_tokens"] == 1000
    assert v["checks"]["refusal"] == 0.0
    assert [a["outcome"] for a in stored["attempts"]] == ["rejected", "ok"]
    assert all(a["latency_ms"] > 0 for a in stored["attempts"])
    assert 0 < v["first_latency_ms"] <= rec["latency_ms"]
    assert stored["attempts"][0]["latency_ms"] <= v["first_latency_ms"]
    assert result.decision.cost is not None
    assert result.decision.cost.saved_usd == pytest.approx(-0.0015)


def test_a_kept_answer_costs_its_own_call_plus_its_samples(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path
) -> None:
    local, api = servers
    path = tmp_path / "ledger.sqlite"
    r = cascade_router(
        local,
        api,
        local_extra={"hosting": "self-hosted", "input_cost_per_mtok": 1, "output_cost_per_mtok": 1},
        ledger=path,
        cascade={"samples": 2},
    )
    local.script(*[ok("Paris", prompt_tokens=100, completion_tokens=100)] * 3)  # 200 micro-$ each
    r.complete(HI)
    (rec,) = records(path)
    assert (rec["served_by"], rec["cost_micro"], rec["attempts"]) == ("local", 600, 3)
    v = json.loads(rec["decision"])["verification"]
    assert (v["escalated"], v["samples"], v["samples_cost_micro"]) == (False, 2, 400)
    assert api.requests == []


def test_escalations_stay_inside_a_hard_budget(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path
) -> None:
    local, api = servers
    path = tmp_path / "ledger.sqlite"
    r = cascade_router(
        local,
        api,
        ledger=path,
        budgets=[{"tenant": "acme", "period": "day", "usd": 0.005, "mode": "hard"}],
    )
    local.script(*[ok(REFUSAL)] * 6)
    api.script(*[ok("Paris.", prompt_tokens=50, completion_tokens=100)] * 6)  # 1500 micro-$
    served = [r.complete(HI, tenant="acme", max_tokens=100).decision for _ in range(6)]
    assert [d.served_by for d in served] == ["api"] * 3 + ["local"] * 3
    assert len(api.requests) == 3
    assert all(body["max_tokens"] == 100 for body in api.requests + local.requests)
    last = served[-1].verification
    assert last is not None
    assert "escalation not allowed" in last.reason
    assert "api (budget:" in last.reason
    spent = sum(rec["cost_micro"] for rec in records(path))
    assert spent == 3 * 1500
    assert spent <= 5000  # the budget
    assert r.ledger is not None
    assert r.ledger.query("SELECT COUNT(*) FROM reservations") == [(0,)]


def test_the_budget_hold_covers_the_free_answer_its_samples_and_one_escalation(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path
) -> None:
    local, api = servers
    path = tmp_path / "ledger.sqlite"
    held: list[int] = []

    def peek(prompt: str, text: str) -> float:  # runs mid-request, while the hold is live
        with sqlite3.connect(path) as conn:
            held.append(conn.execute("SELECT SUM(amount_micro) FROM reservations").fetchone()[0])
        return 1.0

    r = cascade_router(
        local,
        api,
        local_extra={"hosting": "self-hosted", "input_cost_per_mtok": 1, "output_cost_per_mtok": 1},
        ledger=path,
        budgets=[{"tenant": "*", "period": "day", "usd": 1.0}],
        cascade={"samples": 2},
        answer_scorer=peek,
    )
    local.script(*[ok("Paris")] * 3)
    result = r.complete(HI, max_tokens=100)
    gpu, paid = (r.deployments[0], r.deployments[1])
    f = result.decision.features
    assert held == [3 * max_cost_micro(f, gpu) + max_cost_micro(f, paid)]
    assert held[0] > max_cost_micro(f, paid)  # more than one call's worth


def test_an_escalated_answer_is_cached_not_the_rejected_one(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path
) -> None:
    local, api = servers
    local.script(ok(REFUSAL))
    api.script(ok("Paris."))
    r = cascade_router(local, api, cache=router.ResponseCache(tmp_path / "cache"))
    first = r.complete(HI, temperature=0)
    again = r.complete(HI, temperature=0)
    assert (first.content, again.content) == ("Paris.", "Paris.")
    assert (again.decision.cache_hit, again.decision.served_by) == (True, "api")
    assert (len(local.requests), len(api.requests)) == (1, 1)


# -- async and streams ---------------------------------------------------------------


def test_acomplete_keeps_and_escalates_like_complete(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path
) -> None:
    local, api = servers
    path = tmp_path / "ledger.sqlite"
    r = cascade_router(local, api, ledger=path, cascade={"samples": 2})
    local.script(ok("Paris"), ok("Paris"), ok("paris"), ok(REFUSAL))
    api.script(ok("Paris.", prompt_tokens=100, completion_tokens=50))

    async def both() -> tuple[router.Result, router.Result]:
        return await r.acomplete(HI), await r.acomplete(HI)

    kept, escalated = asyncio.run(both())
    assert kept.decision.served_by == "local"
    assert outcomes(kept.decision) == [("local", "ok"), ("local", "sample"), ("local", "sample")]
    assert escalated.decision.served_by == "api"
    assert outcomes(escalated.decision) == [("local", "rejected"), ("api", "ok")]
    assert len(api.requests) == 1
    assert [rec["cost_micro"] for rec in records(path)] == [0, 1500]
    stored = json.loads(records(path)[1]["decision"])["verification"]
    assert stored["escalated"] is True


def test_a_stream_replays_a_verified_free_answer_and_streams_an_escalation(
    servers: tuple[FaultServer, FaultServer], tmp_path: Path
) -> None:
    local, api = servers
    path = tmp_path / "ledger.sqlite"
    r = cascade_router(local, api, ledger=path)
    local.script(ok("Paris is the capital."), ok(REFUSAL))
    api.script(ok("Paris, from the API.", prompt_tokens=100, completion_tokens=50))
    kept = r.stream(HI)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in kept if c["choices"]) == (
        "Paris is the capital."
    )
    assert kept.decision.served_by == "local"
    assert kept.decision.usage is not None
    assert kept.decision.usage.source == "provider"
    escalated = r.stream(HI)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in escalated if c["choices"])
    assert text == "Paris, from the API."  # the refusal never reached the caller
    assert REFUSAL not in escalated.text
    assert api.requests[0]["stream"] is True
    assert "stream" not in local.requests[1]  # the free answer is buffered, then verified
    assert escalated.decision.verification is not None
    assert escalated.decision.verification.escalated
    assert [rec["served_by"] for rec in records(path)] == ["local", "api"]
    assert records(path)[1]["cost_micro"] == 1500


def test_astream_verifies_before_the_first_chunk(
    servers: tuple[FaultServer, FaultServer],
) -> None:
    local, api = servers
    r = cascade_router(local, api)
    local.script(ok(""), ok("Paris."))
    api.script(ok("Paris, from the API."))

    async def read(s: router.AsyncStream) -> str:
        return "".join(
            [c["choices"][0]["delta"].get("content") or "" async for c in s if c["choices"]]
        )

    async def both() -> tuple[str, str, router.AsyncStream]:
        first = await r.astream(HI)
        second = await r.astream(HI)
        return await read(first), await read(second), second

    escalated, kept, stream = asyncio.run(both())
    assert escalated == "Paris, from the API."
    assert kept == "Paris."
    assert stream.decision.served_by == "local"
    assert len(api.requests) == 1
