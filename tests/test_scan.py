"""router.decision._scan: what leaves the machine with a request, as the detectors and bounds see
it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router._models import Message
from router.decision._arguments import call_params, to_request
from router.decision._scan import IMAGE_TOKENS, MESSAGE_FIELDS, SEAM_CHARS, scan

MARK = "zq7marker"


def _scan(messages: list[dict[str, Any]], **args: Any) -> Any:
    return scan(to_request(messages, args))


def _everything(view: Any) -> str:
    return "\n".join((view.text, view.extra, view.alternate))


def test_scan_reads_every_declared_message_field() -> None:
    """scan reads Message's fields by name for speed: a field added to Message must be
    added to scan too (this fails until it is)."""
    assert set(Message.model_fields) == MESSAGE_FIELDS


def _strings_of(value: object) -> list[str]:
    """Every key and scalar of a JSON value, as text."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.extend(map(str, item))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out.append(repr(item))
    return out


_LEAF = st.one_of(
    st.text(alphabet="abcXYZ019 -_", min_size=1, max_size=12),
    st.integers(-(10**18), 10**18),
)
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text("abcdefgh_", min_size=1, max_size=8), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    extra=st.dictionaries(st.text("klmnop_", min_size=1, max_size=6), _JSON, max_size=3),
    params=st.fixed_dictionaries(
        {},
        optional={
            "metadata": st.dictionaries(
                st.text("abc_", min_size=1, max_size=8), st.text("xyz19 ", max_size=10),
                max_size=3,
            ),
            "user": st.text("uvw123", min_size=1, max_size=10),
            "seed": st.integers(0, 10**18),
            "stop": st.lists(st.text("ST0P", min_size=1, max_size=5), min_size=1, max_size=4),
        },
    ),
    name=st.one_of(st.none(), st.text("nam_12", min_size=1, max_size=10)),
)  # fmt: skip
def test_every_string_key_and_number_that_is_sent_is_scanned(
    extra: dict[str, Any], params: dict[str, Any], name: str | None
) -> None:
    """Whatever a caller puts in a message or a pass-through parameter, each of its keys
    and values reaches the detectors, taken from what `call_params` sends."""
    message: dict[str, Any] = {"role": "user", "content": "hello", **extra}
    if name is not None:
        message["name"] = name
    request = to_request([message], params)
    seen = _everything(scan(request))
    sent = call_params(request)
    assert sent["messages"][0] == message  # forwarded as given...
    callers = [*_strings_of(extra), *_strings_of(list(params.values())), *([name] if name else [])]
    for piece in callers:  # ...and every key and value the caller put in it is scanned
        assert piece in seen, piece


def test_media_payloads_are_counted_not_scanned_and_their_other_keys_are_scanned() -> None:
    audio = base64.b64encode(b"\x00\x01" * 2000).decode()
    view = _scan([{"role": "user", "content": [
        {"type": "text", "text": "listen"},
        {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}, "k": MARK},
        {"type": "image_url", "image_url": {"url": f"https://example.com/{MARK}.png"}},
    ]}])  # fmt: skip
    assert view.unscannable == {"audio": 1, "image": 1}
    assert view.images == 1
    assert view.media_tokens == 4000 + IMAGE_TOKENS
    assert audio not in _everything(view)
    assert _everything(view).count(MARK) >= 2  # the extra key's value and the image URL


def test_a_text_file_is_read_and_a_binary_one_is_unscannable() -> None:
    text_file = "data:text/plain;base64," + base64.b64encode(f"note {MARK}".encode()).decode()
    pdf = b"%PDF-1.7\n1 0 obj <</Type /Page>> 2 0 obj <</Type /Pages>> 3 0 obj <</Type/Page>>"
    pdf_file = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
    view = _scan([{"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.txt", "file_data": text_file}},
        {"type": "file", "file": {"filename": "b.pdf", "file_data": pdf_file}},
    ]}])  # fmt: skip
    assert MARK in view.text  # the model reads the text file: so do the detectors
    assert view.unscannable == {"file": 1}
    assert view.media_tokens == len(pdf) + 2 * IMAGE_TOKENS  # its bytes and two pages


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe" + "UTF-16 text".encode("utf-16-le"), "caf\u00e9 ol\u00e9".encode()],
    ids=["utf-16", "utf-8"],
)
def test_text_files_in_other_encodings_are_read(data: bytes) -> None:
    file = "data:text/plain;base64," + base64.b64encode(data).decode()
    view = _scan([{"role": "user", "content": [{"type": "file", "file": {"file_data": file}}]}])
    assert view.unscannable == {}


def test_an_unknown_part_type_is_scanned_and_unscannable() -> None:
    view = _scan([{"role": "user", "content": [{"type": "video_url", "video_url": MARK}]}])
    assert view.unscannable == {"part": 1}
    assert MARK in view.text


def test_a_long_non_payload_string_in_a_media_part_is_still_scanned() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\n" + "A" * 300 + "\n-----END PRIVATE KEY-----"
    view = _scan(
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/a.png"},
                        "note": pem,
                    }
                ],
            }
        ]
    )
    assert pem in _everything(view)


def test_json_in_tool_call_arguments_is_decoded_once() -> None:
    args = json.dumps({"card": "4111"}).replace("4", "\\u0034")
    view = _scan([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}]},
    ])  # fmt: skip
    assert "4111" in view.alternate


@pytest.mark.parametrize(
    ("first", "second", "joined"),
    [
        ("card 4111 11", "11 1111", "4111 1111 1111"),
        ("card 4111 1111", "1111 1111", "4111 1111 1111 1111"),
        ("mail jane", "@example.com", "jane@example.com"),
    ],
)
def test_a_value_cut_between_pieces_is_joined_at_the_seam(
    first: str, second: str, joined: str
) -> None:
    for messages in (
        [{"role": "user", "content": [{"type": "text", "text": first},
                                      {"type": "text", "text": second}]}],
        [{"role": "user", "content": first}, {"role": "user", "content": second}],
    ):  # fmt: skip
        assert joined in _scan(messages).alternate


def test_no_seam_after_a_sentence_and_seams_are_bounded() -> None:
    prose = _scan([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert prose.alternate == ""
    long = _scan([{"role": "user", "content": "x" * 5000}, {"role": "user", "content": "y" * 5000}])
    assert len(long.alternate) <= 4 * SEAM_CHARS + 2


@pytest.mark.parametrize(
    ("name", "found"),
    [("cust_4111111111111111", True), ("alice", False), ("412345678901", False)],
)
def test_digit_runs_glued_into_identifiers_are_scanned_alone(name: str, found: bool) -> None:
    view = _scan([{"role": "user", "content": "hi", "name": name}])
    assert ("4111111111111111" in view.alternate.split("\n")) is found
