"""Learning from your own traffic: feedback and the cascade's verdicts in a real ledger,
`python -m router calibrate --ledger`, and `replay --calibration`.

The loop on simulated traffic: two kinds of request (short chat questions and
code-writing requests, many variants of each), a free local deployment and a paid API
(served in process by a MockBackend). The local model is scored above its prior on one
kind and below it on the other; after `calibrate --ledger` the calibrated Router sends more
of the first kind to the local model and less of the second, on requests it never saw.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import router
from router.decision._scoring import default_scorer
from router.errors import ConfigError, InvalidRequest
from router.money._feedback import MIN_REFERENCE, REFERENCE_SIZE, gather, spread
from router.money._ledger import Ledger
from router.quality.calibrate import MIN_ROWS
from router.quality.trained import TrainedPredictor, default_model, rank
from router.serving._executor import RetryPolicy
from router.testing import MockServer, ok, server_error
from router.tools._cli import main

FAST = RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.02, jitter=0.0)
KEY_ENV = "ROUTER_TEST_FEEDBACK_KEY"
REFUSAL = "I'm sorry, but I can't help with that."
TRAFFIC = 40  # requests of each kind recorded in the ledger
HELD_OUT = 30  # requests of each kind the comparison plans (never recorded)

TOPICS = [
    "the weather", "a good book", "coffee", "the weekend", "a birthday gift", "my cat",
    "running shoes", "a film tonight", "green tea", "a short holiday", "houseplants",
    "a picnic", "board games", "a rainy day", "breakfast", "a museum visit",
]  # fmt: skip
CHAT = [
    "What do you think about {}?",
    "Any quick tips on {}?",
    "Can you recommend {}?",
    "Tell me something nice about {}.",
    "How should I pick {}?",
]
TASKS = [
    "parses a CSV file and sums a column", "merges two sorted lists",
    "retries an HTTP request with exponential backoff", "validates an email address",
    "computes a moving average over a list", "reads a JSON config and checks its keys",
]  # fmt: skip
LANGUAGES = ["Python", "TypeScript", "Rust", "Go", "Java"]
CODE = [
    "Write a {0} function that {1}. Include type hints and a unit test.",
    "Implement in {0}: a function that {1}; handle edge cases and explain the complexity.",
    "```{0}\ndef todo():\n    pass\n```\nComplete this {0} code so it {1}, and add tests.",
]


def chat_question(i: int) -> str:
    return CHAT[i % len(CHAT)].format(TOPICS[i // len(CHAT) % len(TOPICS)])


def code_request(i: int) -> str:
    task = TASKS[i // (len(CODE) * len(LANGUAGES)) % len(TASKS)]
    return CODE[i % len(CODE)].format(LANGUAGES[i // len(CODE) % len(LANGUAGES)], task)


KINDS: dict[str, Callable[[int], str]] = {"chat": chat_question, "code": code_request}


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-real-key")


def specs(local: MockServer, api: MockServer) -> list[dict[str, Any]]:
    return [
        {"name": "local", "model": "openai/local-coder", "api_base": local.base_url,
         "context_window": 8192, "quality": 0.6},
        {"name": "api", "model": "openai/big", "api_base": api.base_url, "hosting": "api",
         "weights": "closed", "context_window": 8192, "api_key_env": KEY_ENV,
         "input_cost_per_mtok": 2.5, "output_cost_per_mtok": 10, "quality": 0.9},
    ]  # fmt: skip


CONFIG = """
[router]
quality_target = {target}
{extra}
[[deployments]]
name = "local"
model = "openai/local-coder"
api_base = "{local}"
context_window = 8192
quality = 0.6

[[deployments]]
name = "api"
model = "openai/big"
api_base = "{api}"
hosting = "api"
weights = "closed"
api_key_env = "{key}"
context_window = 8192
input_cost_per_mtok = 2.5
output_cost_per_mtok = 10
quality = 0.9
"""


def ratio(r: router.Router, text: str) -> float:
    """The local model's predicted quality over the API's, as planned."""
    q = {c.name: c.quality for c in r.plan(user(text)).candidates}
    return q["local"] / q["api"]


def local_share(r: router.Router, prompts: Sequence[str]) -> float:
    chosen = [r.plan(user(p)).chosen for p in prompts]
    return sum(c is not None and c.name == "local" for c in chosen) / len(prompts)


def held_out(kind: str) -> list[str]:
    return [KINDS[kind](i) for i in range(TRAFFIC, TRAFFIC + HELD_OUT)]


def roles(r: router.Router) -> tuple[str, str, float]:
    """(better, worse, quality_target): the local model is scored above its prior on the
    kind where the prior rates it lower against the API, below it on the other; the target
    is the median ratio of all the traffic, so before feedback each kind has room to move
    (whatever the predictor's profile makes of the two kinds)."""
    ratios = {k: sorted(ratio(r, gen(i)) for i in range(TRAFFIC)) for k, gen in KINDS.items()}
    better, worse = sorted(KINDS, key=lambda k: ratios[k][TRAFFIC // 2])
    pooled = sorted(ratios[better] + ratios[worse])
    return better, worse, pooled[len(pooled) // 2]


def record_traffic(
    local: MockServer,
    api: MockServer,
    ledger: Path,
    better: str,
    source: Literal["feedback", "cascade"],
) -> int:
    """Serve the traffic, scoring the local model's answers: good on `better`, bad on the
    other kind. "feedback": every answer is served locally (a trial) and the application
    gives a thumbs up or down; "cascade": the local model answers first and refuses on
    the bad kind, so the verifier escalates it (its verdict is the only feedback)."""
    r = router.Router(
        specs(local, api),
        backend=local.backend,
        objective="cheapest",  # a trial: the free deployment serves (or answers) first
        ledger=ledger,
        retry=FAST,
        mode="cascade" if source == "cascade" else "route",
        cascade={"threshold": 0.5},
    )
    served = 0
    for i in range(TRAFFIC):
        for kind, gen in KINDS.items():
            good = kind == better
            local.script(ok("Here you go: ..." if good or source == "feedback" else REFUSAL))
            result = r.complete(user(gen(i)))
            assert result.decision.request_id is not None
            if source == "feedback":
                assert result.decision.served_by == "local"
                r.feedback(result.decision.request_id, good)
            served += 1
    return served


def calibrate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["calibrate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("source", ["feedback", "cascade"])
def test_feedback_moves_each_kind_toward_the_deployment_that_is_good_at_it(
    mock_servers: tuple[MockServer, MockServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: Literal["feedback", "cascade"],
) -> None:
    local, api = mock_servers
    before = router.Router(specs(local, api), backend=local.backend)
    better, worse, target = roles(before)
    before = router.Router(specs(local, api), backend=local.backend, quality_target=target)
    ledger, cal = tmp_path / "ledger.sqlite", tmp_path / "cal.json"
    served = record_traffic(local, api, ledger, better, source)

    code, out, err = calibrate(capsys, "--ledger", str(ledger), "--out", str(cal))
    assert code == 0, err
    assert "openai/local-coder" in out
    fitted = json.loads(cal.read_text())
    assert fitted["quality_model"] == default_model().digest
    assert fitted["models"]["openai/local-coder"]["rows"] == 2 * TRAFFIC
    assert "openai/big" not in fitted["models"]  # no feedback on the API's answers

    after = router.Router(
        specs(local, api), backend=local.backend, quality_target=target, calibration=cal
    )
    shares = {
        kind: (local_share(before, held_out(kind)), local_share(after, held_out(kind)))
        for kind in KINDS
    }
    assert shares[better][1] > shares[better][0], shares
    assert shares[worse][1] < shares[worse][0], shares
    assert local.requests, "the traffic reached the local server"

    config = tmp_path / "router.toml"
    config.write_text(
        CONFIG.format(target=target, local=local.base_url, api=api.base_url, key=KEY_ENV, extra="")
    )
    argv = ["replay", "--ledger", str(ledger), "--config", str(config), "--json"]
    assert main([*argv, "--calibration", str(cal)]) == 0
    report = json.loads(capsys.readouterr().out)
    compared = report["calibration"]
    assert compared["rescored"] == report["requests"] == served
    assert compared["changed"] > 0
    assert sum(compared["share_before"].values()) == pytest.approx(1)
    assert sum(compared["share_after"].values()) == pytest.approx(1)


def test_replay_shows_spend_and_shares_before_and_after_a_calibration(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A calibration that makes the local model excellent everywhere moves every request to
    it: the spend falls to 0 and the text names both shares."""
    local, api = mock_servers
    ledger = tmp_path / "ledger.sqlite"
    # paid_share=1.0: the bar alone decides (these easy questions would go free first).
    r = router.Router(
        specs(local, api),
        backend=local.backend,
        quality_target=0.99,
        paid_share=1.0,
        ledger=ledger,
        retry=FAST,
    )
    for i in range(5):
        assert r.complete(user(chat_question(i))).decision.served_by == "api"
    head = {"base": "shared", "ability": 8.0, "kinds": [], "rows": 50, "accuracy": 1.0,
            "log_loss_before": 0.7, "log_loss_after": 0.1}  # fmt: skip
    cal = tmp_path / "cal.json"
    cal.write_text(
        json.dumps(
            {
                "schema": "router-calibration/1",
                "quality_model": default_model().digest,
                "models": {"openai/local-coder": head},
            }
        )
    )
    config = tmp_path / "router.toml"
    config.write_text(
        CONFIG.format(
            target=0.9,
            local=local.base_url,
            api=api.base_url,
            key=KEY_ENV,
            extra="paid_share = 1.0  # the bar alone decides, as when the traffic was served\n",
        )
    )
    argv = ["replay", "--ledger", str(ledger), "--config", str(config)]
    assert main([*argv, "--calibration", str(cal), "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)["calibration"]
    assert compared["spend_before_usd"] > 0
    assert compared["spend_after_usd"] == 0
    assert compared["share_before"] == {"api": 1.0, "local": 0.0}
    assert compared["share_after"] == {"api": 0.0, "local": 1.0}
    assert compared["changed"] == 5
    assert main([*argv, "--calibration", str(cal)]) == 0
    text = capsys.readouterr().out
    assert "would change          5 requests" in text
    assert "local                         0.0%    100.0%" in text
    assert main(argv) == 0  # without --calibration: the report as before, no comparison
    assert "with the calibration" not in capsys.readouterr().out


# -- Router.feedback ---------------------------------------------------------------------


def feedback_rows(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]


def records_dump(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT * FROM records ORDER BY id"))


@pytest.fixture
def served(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> tuple[router.Router, router.Result, Path]:
    local, api = mock_servers
    path = tmp_path / "ledger.sqlite"
    r = router.Router(
        specs(local, api), backend=local.backend, quality_target=0.5, ledger=path, retry=FAST
    )
    return r, r.complete(user("What is a good name for a bakery?")), path


def test_feedback_appends_a_row_about_the_deployment_that_served(
    served: tuple[router.Router, router.Result, Path],
) -> None:
    r, result, path = served
    rid = result.decision.request_id
    assert rid is not None
    record = records_dump(path)
    r.feedback(rid, True)
    r.feedback(rid, 0.25)
    rows = feedback_rows(path)
    assert [(f["source"], f["deployment"], f["model"], f["score"]) for f in rows] == [
        ("user", "local", "openai/local-coder", 1.0),
        ("user", "local", "openai/local-coder", 0.25),
    ]
    assert {f["request_id"] for f in rows} == {rid}
    assert records_dump(path) == record  # the record itself is never rewritten


@pytest.mark.parametrize("score", ["good", 1.5, -0.1, math.nan, None, [1], 2])
def test_a_score_that_is_not_a_thumb_or_a_share_says_what_to_pass(
    served: tuple[router.Router, router.Result, Path], score: Any
) -> None:
    r, result, path = served
    with pytest.raises(InvalidRequest) as err:
        r.feedback(result.decision.request_id or "", score)
    assert err.value.field == "score"
    assert "True or False" in str(err.value)
    assert "0 to 1" in str(err.value)
    assert feedback_rows(path) == []


def test_an_unknown_or_malformed_request_id_says_what_to_pass(
    served: tuple[router.Router, router.Result, Path],
) -> None:
    r, _, path = served
    with pytest.raises(InvalidRequest) as err:
        r.feedback("0" * 24, True)
    assert err.value.field == "request_id"
    assert "result.decision.request_id" in str(err.value)
    secret = "my password is hunter2, please summarise"
    with pytest.raises(InvalidRequest) as err:
        r.feedback(secret, True)
    assert "24 hex digits" in str(err.value)
    assert "hunter2" not in str(err.value)  # whatever was passed is not echoed
    assert feedback_rows(path) == []


def test_a_request_that_got_no_answer_cannot_be_scored(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    local, api = mock_servers
    r = router.Router(
        specs(local, api)[:1], backend=local.backend, ledger=tmp_path / "l.sqlite", retry=FAST
    )
    local.script(server_error())
    with pytest.raises(router.errors.AllDeploymentsFailed):
        r.complete(user("hello"))
    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        (rid,) = conn.execute("SELECT request_id FROM records").fetchone()
    with pytest.raises(InvalidRequest, match="got no answer"):
        r.feedback(rid, True)


def test_feedback_needs_a_ledger(mock_servers: tuple[MockServer, MockServer]) -> None:
    r = router.Router(specs(*mock_servers), backend=mock_servers[0].backend)
    with pytest.raises(ConfigError) as err:
        r.feedback("0" * 24, True)
    assert err.value.key == "ledger"
    assert "ledger='PATH'" in str(err.value)


def test_a_dry_run_has_no_request_id(mock_servers: tuple[MockServer, MockServer]) -> None:
    assert (
        router.Router(specs(*mock_servers), backend=mock_servers[0].backend)
        .plan(user("hi"))
        .request_id
        is None
    )


# -- the cascade's verdicts --------------------------------------------------------------


def test_the_cascade_records_its_verdict_on_the_free_answer(
    mock_servers: tuple[MockServer, MockServer], tmp_path: Path
) -> None:
    local, api = mock_servers
    path = tmp_path / "ledger.sqlite"
    r = router.Router(
        specs(local, api),
        backend=local.backend,
        quality_target=0.5,
        ledger=path,
        retry=FAST,
        mode="cascade",
        answer_scorer=lambda prompt, answer: 0.8 if "Paris" in answer else 0.1,
        cascade={"threshold": 0.5},
    )
    local.script(ok("Paris."), ok("Lyon, I think."))
    kept = r.complete(user("Capital of France?"))
    doubted = r.complete(user("Capital of France, again?"))
    assert (kept.decision.served_by, doubted.decision.served_by) == ("local", "api")
    rows = feedback_rows(path)
    assert [(f["request_id"], f["source"], f["deployment"], f["score"]) for f in rows] == [
        (kept.decision.request_id, "cascade", "local", 1.0),
        (doubted.decision.request_id, "cascade", "local", 0.0),
    ]
    assert [f["scorer"] for f in rows] == [pytest.approx(0.8), pytest.approx(0.1)]
    assert {f["model"] for f in rows} == {"openai/local-coder"}


def test_routed_requests_leave_no_verdict(
    served: tuple[router.Router, router.Result, Path],
) -> None:
    assert feedback_rows(served[2]) == []


# -- calibrate --ledger: what it refuses, and why ----------------------------------------


def scored_ledger(
    mock_servers: tuple[MockServer, MockServer], path: Path, answers: int, **options: Any
) -> router.Router:
    r = router.Router(
        specs(*mock_servers),
        backend=mock_servers[0].backend,
        objective="cheapest",
        ledger=path,
        retry=FAST,
        **options,
    )
    for i in range(answers):
        result = r.complete(user(chat_question(i)))
        r.feedback(result.decision.request_id or "", i % 2 == 0)
    return r


def refused(capsys: pytest.CaptureFixture[str], ledger: Path, folder: Path) -> str:
    """`calibrate --ledger` that must fail: exit 2, no CAL.json; its message."""
    out = folder / "cal.json"
    code, _, err = calibrate(capsys, "--ledger", str(ledger), "--out", str(out))
    assert code == 2
    assert not out.exists()
    return err


def test_calibrate_needs_an_existing_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.sqlite"
    assert "no such ledger file" in refused(capsys, missing, tmp_path)
    assert not missing.exists()


def test_calibrate_says_how_to_get_feedback_when_there_is_none(
    served: tuple[router.Router, router.Result, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys, served[2], tmp_path)
    assert "no feedback" in err
    assert "Router.feedback(result.decision.request_id" in err
    assert f"nor a reference traffic (1 of the {MIN_REFERENCE} requests" in err


def test_calibrate_refuses_rows_recorded_under_another_quality_model(
    mock_servers: tuple[MockServer, MockServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "ledger.sqlite"
    scored_ledger(mock_servers, path, MIN_ROWS)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET quality_model = 'sha256:0123456789abcdef'")
    err = refused(capsys, path, tmp_path)
    assert f"{MIN_ROWS} were recorded under quality model sha256:0123456789abcdef" in err
    assert default_model().digest in err


def test_calibrate_skips_models_with_too_few_answers_and_says_so(
    mock_servers: tuple[MockServer, MockServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "ledger.sqlite"
    scored_ledger(mock_servers, path, MIN_ROWS - 1)
    err = refused(capsys, path, tmp_path)
    assert f"openai/local-coder ({MIN_ROWS - 1} scored answers, {MIN_ROWS} needed)" in err


def test_calibrate_skips_answers_recorded_without_a_profile(
    mock_servers: tuple[MockServer, MockServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "ledger.sqlite"
    scored_ledger(mock_servers, path, 3, scorer=router.decision._scoring.prior_scorer)
    assert "3 were recorded without a profile" in refused(capsys, path, tmp_path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["data.csv"], "not both"),
        (["--max-paid-share", "0.2"], "--max-paid-share: only with a labelled CSV"),
        (["--free", "m"], "--free: only with a labelled CSV"),
    ],
)
def test_ledger_mode_and_csv_options_are_exclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["--ledger", str(tmp_path / "l.sqlite"), "--out", str(tmp_path / "c.json"), *extra]
    code, _, err = calibrate(capsys, *argv)
    assert code == 2
    assert message in err


def test_calibrate_needs_a_csv_or_a_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = calibrate(capsys, "--out", str(tmp_path / "c.json"))
    assert code == 2
    assert "DATA.csv" in err
    assert "--ledger LEDGER" in err


def test_the_last_application_score_wins_over_the_cascade_verdict(
    mock_servers: tuple[MockServer, MockServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each kept answer has a verdict (1.0) and then a thumbs down: the fit sees only the
    thumbs, so the model's accuracy in CAL.json is 0."""
    local, api = mock_servers
    path, out = tmp_path / "ledger.sqlite", tmp_path / "c.json"
    r = router.Router(specs(local, api), backend=local.backend, objective="cheapest",
                      ledger=path, retry=FAST, mode="cascade",
                      cascade={"threshold": 0.5})  # fmt: skip
    for i in range(MIN_ROWS):
        result = r.complete(user(chat_question(i)))
        assert result.decision.served_by == "local"
        r.feedback(result.decision.request_id or "", True)
        r.feedback(result.decision.request_id or "", False)
    assert len(feedback_rows(path)) == 3 * MIN_ROWS
    code, _, err = calibrate(capsys, "--ledger", str(path), "--out", str(out))
    assert code == 0, err
    head = json.loads(out.read_text())["models"]["openai/local-coder"]
    assert (head["rows"], head["accuracy"]) == (MIN_ROWS, 0.0)


# -- calibrate --ledger: the reference traffic -------------------------------------------


@given(st.lists(st.integers(), max_size=2000), st.integers(2, 700))
def test_spread_keeps_all_rows_or_an_even_deterministic_subsample(rows: list[int], n: int) -> None:
    got = spread(rows, n)
    if len(rows) <= n:
        assert got == rows
        return
    assert len(got) == n
    assert (got[0], got[-1]) == (rows[0], rows[-1])
    at = [round(i * (len(rows) - 1) / (n - 1)) for i in range(n)]
    assert got == [rows[i] for i in at]
    assert at == sorted(set(at))  # in record order, no row twice
    assert spread(rows, n) == got


def traffic(i: int) -> str:
    return chat_question(i) if i % 2 else code_request(i)


def test_calibrate_writes_the_recorded_traffic_as_the_reference(
    mock_servers: tuple[MockServer, MockServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """70 requests: 60 recorded under this quality model (5 of them scored), 6 under
    another one, 4 without a profile (the prior scorer). The reference is made of the 60,
    whether scored or not; too few scores for a head is not a refusal when there is a
    reference, and the Router then places requests in the user's own traffic."""
    path, cal = tmp_path / "ledger.sqlite", tmp_path / "cal.json"
    r = router.Router(
        specs(*mock_servers),
        backend=mock_servers[0].backend,
        objective="cheapest",
        ledger=path,
        retry=FAST,
    )
    sent = [traffic(i) for i in range(66)]
    for i, text in enumerate(sent):
        result = r.complete(user(text))
        if i < 5:
            r.feedback(result.decision.request_id or "", True)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE records SET quality_model = 'sha256:0123456789abcdef' WHERE id IN "
            "(SELECT id FROM records ORDER BY id DESC LIMIT 6)"
        )
    prior = router.Router(specs(*mock_servers), backend=mock_servers[0].backend,
                          objective="cheapest", ledger=path, retry=FAST,
                          scorer=router.decision._scoring.prior_scorer)  # fmt: skip
    for i in range(4):
        prior.complete(user(traffic(i)))

    code, out, err = calibrate(capsys, "--ledger", str(path), "--out", str(cal))
    assert code == 0, err
    assert "reference traffic: 60 recorded requests (all of their encodings)" in out
    assert "fitted no model: no model has 20 scored answers yet" in err
    assert f"skipped openai/local-coder (5 scored answers, {MIN_ROWS} needed)" in err
    doc = json.loads(cal.read_text())
    assert doc["models"] == {}
    assert doc["reference_requests"] == 60
    model = default_model()
    # The encodings as recorded, in record order: [difficulty, gap] per request.
    assert doc["reference"] == [list(model.encode(text)) for text in sent[:60]]
    for word in ("weekend", "birthday", "Python", "sorted lists"):
        assert word not in cal.read_text()  # numbers, not the prompts

    scorer = default_scorer(cal)
    assert isinstance(scorer, TrainedPredictor)
    assert scorer.reference == tuple(map(tuple, doc["reference"]))
    assert scorer.reference != model.reference
    routed = router.Router(specs(*mock_servers), backend=mock_servers[0].backend, calibration=cal)
    assert isinstance(routed.scorer, TrainedPredictor)
    assert routed.scorer.reference == scorer.reference
    # The Router ranks the gain of paying among the same two deployments' gains on the
    # user's 60 encodings, not on the training prompts'.
    free, paid = routed.deployments
    decision = routed.plan(user(traffic(100)))
    features = decision.features
    quality = {c.name: c.quality for c in decision.candidates}
    gain = quality["api"] - quality["local"]
    on = [features.model_copy(update={"profile": tuple(e)}) for e in doc["reference"]]
    gains = sorted(q[1] - q[0] for q in (scorer(f, [free, paid]) for f in on))
    assert decision.gain_percentile == pytest.approx(rank(gain, gains), abs=1e-4)
    shipped = TrainedPredictor(model).gain_percentile(features, free, paid, gain)
    assert scorer.gain_percentile(features, free, paid, gain) != pytest.approx(shipped)


def test_calibrate_keeps_at_most_600_recorded_encodings_evenly_spaced(
    mock_servers: tuple[MockServer, MockServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """701 requests with a profile (copies of one real record, each with its own numbers)
    and 5 with a malformed one: the reference is 600 of the 701, evenly spaced in record
    order (the first and the last included); the malformed ones are not counted."""
    path, cal = tmp_path / "ledger.sqlite", tmp_path / "cal.json"
    router.Router(
        specs(*mock_servers), backend=mock_servers[0].backend, ledger=path, retry=FAST
    ).complete(user(chat_question(0)))
    profiles = [[round(i / 1000, 4), round(-i / 2000, 4)] for i in range(700)]
    malformed = ["[1.0]", '["a", 1.0]', "[true, 1.0]", "[NaN, 1.0]", "not json"]
    with sqlite3.connect(path) as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(records)") if c[1] != "id"]
        copy = (
            f"INSERT INTO records ({', '.join(columns)}) SELECT "
            + ", ".join("?" if c == "profile" else c for c in columns)
            + " FROM records WHERE id = 1"
        )
        for i, profile in enumerate(profiles):
            conn.execute(copy, (json.dumps(profile),))
            if i % 140 == 0:
                conn.execute(copy, (malformed[i // 140],))
        (first,) = conn.execute("SELECT profile FROM records WHERE id = 1").fetchone()
    recorded = [json.loads(first), *profiles]
    assert len(recorded) == REFERENCE_SIZE + 101

    found = gather(Ledger(path, create=False), default_model().digest)
    assert found.recorded == [tuple(p) for p in recorded]
    assert found.reference is not None
    assert len(found.reference) == REFERENCE_SIZE
    assert found.reference == [tuple(p) for p in spread(recorded)]
    assert (found.reference[0], found.reference[-1]) == (tuple(recorded[0]), (0.699, -0.3495))

    code, out, err = calibrate(capsys, "--ledger", str(path), "--out", str(cal))
    assert code == 0, err
    assert "reference traffic: 701 recorded requests (600 of their encodings, evenly" in out
    doc = json.loads(cal.read_text())
    assert doc["reference_requests"] == 701
    assert doc["reference"] == [list(p) for p in found.reference]
    scorer = default_scorer(cal)
    assert isinstance(scorer, TrainedPredictor)
    assert len(scorer.reference) == REFERENCE_SIZE


def test_calibrate_leaves_the_reference_out_below_the_minimum_and_says_so(
    mock_servers: tuple[MockServer, MockServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, cal = tmp_path / "ledger.sqlite", tmp_path / "cal.json"
    scored_ledger(mock_servers, path, MIN_ROWS)
    code, out, err = calibrate(capsys, "--ledger", str(path), "--out", str(cal))
    assert code == 0, err
    assert (
        f"reference traffic: {MIN_ROWS} recorded requests, fewer than {MIN_REFERENCE}: "
        "paid_share stays a share of the training prompts"
    ) in out
    doc = json.loads(cal.read_text())
    assert "reference" not in doc
    assert set(doc["models"]) == {"openai/local-coder"}
    scorer = default_scorer(cal)
    assert isinstance(scorer, TrainedPredictor)
    assert scorer.reference == default_model().reference
