"""Every byte that is forwarded is scanned, or the request fails closed (issue 13, point 3).

Each case is one the issue found reaching a paid API on main: a loopback "local" and a
loopback "api" FaultServer, `objective="best"` (the API wins whenever policy allows),
the shipped free-first pack (confidential stays local; unscannable content counts as
confidential). The check reads what the API server RECEIVED: not one request. A control
request without the value goes to the API, so the setup is not local-only by accident.
Only the public API is used, so the file runs against any version of the library.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from router import Router
from router.serving._executor import RetryPolicy
from router.testing import FaultServer, ok

KEY_ENV = "ROUTER_TEST_FORWARDED_KEY"
CARD = "4111 1111 1111 1111"
CARD_DIGITS = "4111111111111111"
IBAN = "DE89370400440532013000"


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Router, FaultServer, FaultServer]]:
    monkeypatch.setenv(KEY_ENV, "sk-test")
    with (
        FaultServer(default=ok("local answer")) as local,
        FaultServer(default=ok("paid answer")) as api,
    ):
        r = Router(
            deployments=[
                {"name": "local", "model": "openai/q", "api_base": local.base_url,
                 "context_window": 200_000, "quality": 0.6,
                 "capabilities": ["tools", "vision", "json"]},
                {"name": "api", "model": "openai/big", "api_base": api.base_url,
                 "hosting": "api", "weights": "closed", "context_window": 200_000,
                 "quality": 0.9, "api_key_env": KEY_ENV, "input_cost_per_mtok": 2.5,
                 "output_cost_per_mtok": 10, "capabilities": ["tools", "vision", "json"]},
            ],
            objective="best",
            retry=RetryPolicy(attempts=1),
        )  # fmt: skip
        yield r, local, api


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _tool_turn(arguments: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
    ]  # fmt: skip


TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]

# (id, messages, extra arguments): each carried the value to the API on main.
CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("tool-call-id", [{"role": "user", "content": "look it up"},
                      {"role": "tool", "tool_call_id": f"call {CARD}", "content": "done"}],
     {"tools": TOOLS}),
    ("image-url-query", [{"role": "user", "content": [
        {"type": "text", "text": "what is in this picture?"},
        {"type": "image_url", "image_url": {
            "url": f"https://example.com/x.png?iban={IBAN}&card={CARD_DIGITS}"}}]}], {}),
    ("image-part-extra-key", [{"role": "user", "content": [
        {"type": "text", "text": "describe it"},
        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"},
         "note": f"customer card {CARD}"}]}], {}),
    ("file-part-text", [{"role": "user", "content": [
        {"type": "text", "text": "summarise the attachment"},
        {"type": "file", "file": {"filename": "notes.txt",
                                  "file_data": "data:text/plain;base64,"
                                  + _b64(f"Refund to card {CARD} today.\n")}}]}], {}),
    ("file-part-filename", [{"role": "user", "content": [
        {"type": "text", "text": "summarise the attachment"},
        {"type": "file", "file": {"filename": f"card {CARD}.txt",
                                  "file_data": "data:text/plain;base64," + _b64("hello")}}]}],
     {}),
    ("input-audio", [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": _b64("RIFF....WAVEfmt "),
                                                "format": "wav"}}]}], {}),
    ("binary-file", [{"role": "user", "content": [
        {"type": "text", "text": "read this"},
        {"type": "file", "file": {"filename": "scan.pdf",
                                  "file_data": "data:application/pdf;base64,"
                                  + base64.b64encode(b"%PDF-1.7\x00\x01\x02binary").decode()}}]}],
     {}),
    ("seed-number", [{"role": "user", "content": "pick a number"}], {"seed": 4111111111111111}),
    ("split-across-parts", [{"role": "user", "content": [
        {"type": "text", "text": "card 4111 1111 11"},
        {"type": "text", "text": "11 1111 1111 please refund"}]}], {}),
    ("split-across-messages", [
        {"role": "user", "content": "my card is 4111 1111"},
        {"role": "user", "content": "1111 1111, refund it"}], {}),
    ("unicode-escaped-tool-arguments", _tool_turn(arguments=json.dumps(
        {"card": CARD}, ensure_ascii=True).replace("4", "\\u0034")), {"tools": TOOLS}),
    ("card-glued-in-name", [{"role": "user", "content": "hi",
                             "name": f"cust_{CARD_DIGITS}"}], {}),
    ("metadata-key", [{"role": "user", "content": "hi"}],  # held on main too: a guard
     {"metadata": {f"k {CARD}": "v"}}),
    ("user-param", [{"role": "user", "content": "hi"}], {"user": f"cust_{CARD_DIGITS}"}),
    ("unknown-part-type", [{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}]}], {}),
]  # fmt: skip


@pytest.mark.parametrize(("messages", "args"), [pytest.param(m, a, id=i) for i, m, a in CASES])
def test_a_value_in_any_forwarded_field_keeps_the_request_local(
    pair: tuple[Router, FaultServer, FaultServer],
    messages: list[dict[str, Any]],
    args: dict[str, Any],
) -> None:
    r, local, api = pair
    assert r.complete([{"role": "user", "content": "hi"}]).content == "paid answer"  # control
    api.reset_requests()
    result = r.complete(messages, **args)
    assert result.content == "local answer"
    assert api.requests == [], "the API received the request"
    assert len(local.requests) == 1
    assert result.decision.features.sensitivity in ("confidential", "restricted")


def test_the_record_says_when_the_unscannable_floor_applied(
    pair: tuple[Router, FaultServer, FaultServer],
) -> None:
    r, _, _ = pair
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    d = r.plan([{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}])
    assert d.features.detections == ()
    floors = {u.kind: (u.count, u.level) for u in d.features.unscannable}
    assert floors == {"image": (1, "confidential")}
    assert d.features.sensitivity == "confidential"
    assert [c.name for c in d.candidates] == ["local"]
    as_json = d.to_dict()["features"]["unscannable"]
    assert as_json == [{"kind": "image", "count": 1, "level": "confidential"}]


def test_a_file_id_the_router_cannot_read_is_refused(
    pair: tuple[Router, FaultServer, FaultServer],
) -> None:
    from router.errors import InvalidRequest  # noqa: PLC0415

    r, local, api = pair
    part = {"type": "file", "file": {"file_id": "file-abc123"}}
    with pytest.raises(InvalidRequest, match="file_data"):
        r.complete([{"role": "user", "content": [part]}])
    assert local.requests == []
    assert api.requests == []
