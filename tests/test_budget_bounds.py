"""Budgets and context windows count everything a request can be billed for (issue 13,
point 4): `n` answers, the larger of `max_tokens` / `max_completion_tokens` (one bound,
sent as held), and the bytes of every part (files, images, audio).

The API is a loopback FaultServer that bills the most the request allows: one token per
byte of every text and payload it received, the documented bound per image, and the
whole output bound sent for every one of the `n` answers. A hard budget must hold
against it for any combination of parameters and parts, in every call mode.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import CallMode, call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import Router
from router._models import IMAGE_TOKENS
from router.decision._budgets import max_cost_micro
from router.decision._catalog import image_tokens_of
from router.errors import NoEligibleDeployment
from router.serving._executor import RetryPolicy
from router.testing import FaultServer, ok_billed

KEY_ENV = "ROUTER_TEST_BUDGET_BOUNDS_KEY"
IN_PER_MTOK, OUT_PER_MTOK = 2.5, 10.0


def _payload_bytes(value: str) -> int:
    body = value.partition(",")[2] if value.startswith("data:") else value
    return len(base64.b64decode(body))


def worst_case_bill(body: dict[str, Any]) -> tuple[int, int]:
    """What a provider billing at the bounds of this request would charge: one token per
    byte read, the most the model's image rule counts per image, the full output bound for
    each of `n` answers."""
    prompt = 3
    for message in body["messages"]:
        prompt += 4 + len(message["role"])
        content = message.get("content")
        parts: list[dict[str, Any]] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        )
        for part in parts:
            kind = part["type"]
            if kind == "text":
                prompt += len(part["text"].encode())
            elif kind == "image_url":
                prompt += image_tokens_of(body["model"])  # the model's own image rule
            elif kind == "input_audio":
                prompt += _payload_bytes(part["input_audio"]["data"])
            elif kind == "file":
                prompt += _payload_bytes(part["file"]["file_data"])
    fields = {"max_tokens", "max_completion_tokens"} & set(body)
    assert len(fields) == 1, f"one output bound must be sent, got {sorted(fields)}"
    return prompt, int(body.get("n") or 1) * int(body[fields.pop()])


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    monkeypatch.setenv(KEY_ENV, "sk-test")
    with FaultServer(default=ok_billed(worst_case_bill, "paid")) as server:
        yield server


def _router(
    api: FaultServer,
    tmp_path: Path,
    usd: float,
    window: int = 1_000_000,
    model: str = "openai/big",
) -> Router:
    """One paid API on the fault server: `openai/big` at $2.5/$10 per Mtok, or a catalog
    model at its catalog prices (gpt-4o-mini: its image rule counts 48,169 tokens)."""
    pack = tmp_path / "open.toml"
    pack.write_text('name = "open"\nunscannable = "public"\n')  # let media reach the API
    entry: dict[str, Any] = {
        "name": "api", "model": model, "api_base": api.base_url, "hosting": "api",
        "weights": "closed", "context_window": window, "api_key_env": KEY_ENV,
        "capabilities": ["vision", "tools", "json"],
    }  # fmt: skip
    if model == "openai/big":
        entry |= {"input_cost_per_mtok": IN_PER_MTOK, "output_cost_per_mtok": OUT_PER_MTOK}
    return Router(
        deployments=[entry],
        policy=pack,
        ledger=tmp_path / "ledger.sqlite",
        budgets=[{"tenant": "*", "period": "day", "usd": usd, "mode": "hard"}],
        retry=RetryPolicy(attempts=1),
    )  # fmt: skip


def _spent_micro(r: Router) -> int:
    assert r.ledger is not None
    return int(r.ledger.query("SELECT COALESCE(SUM(spent_micro), 0) FROM spend")[0][0])


HI = [{"role": "user", "content": "Write a limerick about ledgers."}]


def test_n_answers_are_held(api: FaultServer, tmp_path: Path) -> None:
    """`n=50` with a $0.01/day hard budget spent $0.05: the hold ignored `n`."""
    r = _router(api, tmp_path, usd=0.01)
    served = 0
    for _ in range(5):
        try:
            r.complete(HI, n=50, max_tokens=10)
            served += 1
        except NoEligibleDeployment:
            break
    assert served >= 1
    assert api.requests[0]["n"] == 50
    assert _spent_micro(r) <= 10_000


def test_a_big_file_part_is_held_at_its_size_and_checked_against_the_window(
    api: FaultServer, tmp_path: Path
) -> None:
    """A 400 KB file part was held as a 36-byte prompt (hold $0.001, billed $0.10) and
    skipped the context-window check."""
    data = base64.b64encode(b"%PDF-1.7\n" + bytes(range(256)) * 1600).decode()
    part = {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:;base64,{data}"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "summarise"}, part]}]
    r = _router(api, tmp_path, usd=5.0)
    d = r.plan(messages, max_tokens=10)
    assert d.features.prompt_bytes >= 400_000
    assert d.candidates[0].est_cost_usd >= 0.001
    (tmp_path / "small").mkdir()
    small = _router(api, tmp_path / "small", usd=5.0, window=128_000)
    with pytest.raises(NoEligibleDeployment, match="context window"):
        small.plan(messages, max_tokens=10)


def test_the_bound_sent_is_the_bound_held(api: FaultServer, tmp_path: Path) -> None:
    """`max_completion_tokens=100000` was forwarded beside a held `max_tokens=10`."""
    r = _router(api, tmp_path, usd=5.0)
    result = r.complete(HI, max_tokens=10, max_completion_tokens=100_000)
    sent = api.requests[-1]
    assert sent["max_completion_tokens"] == 100_000
    assert "max_tokens" not in sent
    assert result.decision.features.max_output_tokens == 100_000


# ---------------------------------------------------------------- the property

_TEXT = st.text(alphabet="abc xyz\n", min_size=1, max_size=60)
_PARTS = st.lists(
    st.one_of(
        _TEXT.map(lambda t: {"type": "text", "text": t}),
        st.just({"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}),
        st.binary(min_size=1, max_size=3000).map(
            lambda b: {"type": "input_audio",
                       "input_audio": {"data": base64.b64encode(b).decode(), "format": "wav"}}
        ),
        st.binary(min_size=1, max_size=3000).map(
            lambda b: {"type": "file", "file": {
                "filename": "f.bin",
                "file_data": "data:;base64," + base64.b64encode(b"\x00" + b).decode()}}
        ),
        _TEXT.map(
            lambda t: {"type": "file", "file": {
                "filename": "f.txt",
                "file_data": "data:text/plain;base64," + base64.b64encode(t.encode()).decode()}}
        ),
    ),
    min_size=1,
    max_size=4,
)  # fmt: skip
_BOUND = st.one_of(st.none(), st.integers(1, 4000))


@st.composite
def calls(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    content = draw(st.one_of(_TEXT, _PARTS))
    args: dict[str, Any] = {}
    for name in ("max_tokens", "max_completion_tokens"):
        if (bound := draw(_BOUND)) is not None:
            args[name] = bound
    if draw(st.booleans()):
        args["n"] = draw(st.integers(1, 60))
    return [{"role": "user", "content": content}], args


PROPERTY = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("mode", ["complete", "acomplete", "stream", "astream"])
@PROPERTY
@given(
    batch=st.lists(calls(), min_size=3, max_size=8),
    where=st.tuples(st.sampled_from([0.002, 0.02]), st.sampled_from(["openai/big", "gpt-4o-mini"])),
)
def test_a_hard_budget_holds_for_any_parameters_and_parts(
    api: FaultServer,
    tmp_path_factory: pytest.TempPathFactory,
    mode: CallMode,
    batch: list[tuple[list[dict[str, Any]], dict[str, Any]]],
    where: tuple[float, str],
) -> None:
    """`where`: the day's hard budget in USD and the API's model."""
    usd, model = where
    r = _router(api, tmp_path_factory.mktemp("b"), usd=usd, model=model)
    for messages, args in batch:
        try:
            call(r, mode, messages, args)
        except NoEligibleDeployment:
            continue  # the budget (or the window) said no: nothing was sent
    assert _spent_micro(r) <= round(usd * 1_000_000)


def test_images_are_held_and_fitted_at_the_models_own_rule(
    api: FaultServer, tmp_path: Path
) -> None:
    """gpt-4o-mini counts an image at up to 48,169 tokens (its tiles at 33x gpt-4o's rate):
    held at 2,500 tokens, a hard budget would be overspent ~19x by each image."""
    photo = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, photo]}]
    r = _router(api, tmp_path, usd=1.0, model="gpt-4o-mini", window=128_000)
    d = r.plan(messages, max_tokens=10)
    api_deployment = r.deployments[0]
    assert api_deployment.image_tokens == 48_169
    assert d.features.images == 1
    assert api_deployment.image_surplus(d.features) == 48_169 - IMAGE_TOKENS
    mini_usd = (d.features.prompt_tokens + 48_169 - IMAGE_TOKENS) * 0.15e-6 + 10 * 0.6e-6
    assert d.candidates[0].est_cost_usd == pytest.approx(mini_usd)
    with pytest.raises(NoEligibleDeployment, match="context window"):
        r.plan(messages + [messages[0]] * 2, max_tokens=10)  # three images: 144,507 tokens
    result = r.complete(messages, max_tokens=10)
    billed = result.decision.usage.prompt_tokens if result.decision.usage else 0
    assert billed >= 48_169
    assert _spent_micro(r) <= max_cost_micro(d.features, api_deployment)
