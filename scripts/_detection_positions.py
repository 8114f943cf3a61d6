"""Where a value sits in a request: in prose, after a wall of numbers, split across parts or
messages, and in every field a request forwards to the provider.

Each position builds `(messages, params)` for `Router.plan(messages, **params)` around the
sample's plain text. A field that cannot hold a sample skips it by construction (`applies`):
one-token fields (a name, an id, a URL, a file name) take the value with its spaces removed,
so they skip PEM blocks, `key = value` assignments and IDs that need their label to be
recognised; only payment cards go into `seed`, the one integer field.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from _detection_transforms import json_u
from _detection_values import Sample

Messages = list[dict[str, Any]]
Built = tuple[Messages, dict[str, Any]]

SENTENCES = (
    "We moved the quarterly review to the larger meeting room on the third floor.",
    "Please summarise the customer's complaint in three short bullet points.",
    "The shipment left the warehouse late because the carrier changed its schedule.",
    "Could you rewrite this note so that it sounds friendlier and less formal?",
    "Our team agreed to keep the onboarding checklist short and easy to follow.",
    "The landlord asked whether the heating was fixed before the inspection.",
    "I would like a refund, as the order arrived damaged and incomplete.",
    "Translate the paragraph below into plain English for a new employee.",
    "She prefers the morning train because it is quieter and rarely delayed.",
    "The draft contract still needs a clause about early termination.",
    "Let me know if anything else is missing from the application form.",
    "The garden looked wonderful after the rain, with every rose in bloom.",
    "They want the report by Friday, together with a short cover letter.",
    "Thanks again for your help with the migration last week.",
    "Keep the answer brief and avoid technical jargon where possible.",
    "The support ticket was reopened after the customer replied again.",
)


def paragraph(rng: random.Random, n: int = 4) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(n))


def numbers_table(rng: random.Random, size: int = 10_240) -> str:
    """About `size` bytes of amounts, eight to a row: a pasted spreadsheet."""
    rows, length = [], 0
    while length < size:
        row = " ".join(f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}" for _ in range(8))
        rows.append(row)
        length += len(row) + 1
    return "\n".join(rows)


def frame(sample: Sample, rendered: str, rng: random.Random) -> str:
    """The rendered value in the middle of a paragraph (on its own lines for a PEM block)."""
    joint = "\n" if sample.shape == "pem" else " "
    return f"{paragraph(rng, 3)}{joint}{rendered}{joint}{paragraph(rng, 2)}"


def user(content: str | list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "user", "content": content}


def glued(sample: Sample, prefix: str) -> str:
    """The value as part of an identifier: ``cust_4111111111111111``; phone numbers, keys
    and addresses are identifiers already and go in as they are (``+441212291417``)."""
    if sample.shape in ("digits", "alnum"):
        return f"{prefix}_{sample.token}"
    return sample.token


def cut(sample: Sample) -> int:
    start, end = sample.core
    return (start + end) // 2


@dataclass(frozen=True)
class Position:
    name: str
    applies: Callable[[Sample], bool]
    build: Callable[[Sample, random.Random], Built]


def _any(sample: Sample) -> bool:
    return True


def _one_token(sample: Sample) -> bool:
    return sample.shape not in ("pem", "assign") and not sample.needs_label


def _one_line(sample: Sample) -> bool:
    return sample.shape != "pem"


def _card(sample: Sample) -> bool:
    return sample.kind == "payment_card"


def _escapable(sample: Sample) -> bool:
    return sample.shape in ("digits", "alnum", "phone")


def _content(text: str) -> Built:
    return [user(text)], {}


def _split_parts(s: Sample, rng: random.Random) -> Built:
    k, joint = cut(s), "\n" if s.shape == "pem" else " "
    parts = [
        {"type": "text", "text": paragraph(rng, 2) + joint + s.text[:k]},
        {"type": "text", "text": s.text[k:] + joint + paragraph(rng, 2)},
    ]
    return [user(parts)], {}


def _split_messages(s: Sample, rng: random.Random) -> Built:
    k, joint = cut(s), "\n" if s.shape == "pem" else " "
    first = user(paragraph(rng, 2) + joint + s.text[:k])
    return [first, user(s.text[k:] + joint + paragraph(rng, 2))], {}


def _tool_exchange(arguments: str, rng: random.Random, call_id: str = "call_1") -> Messages:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "update_record", "arguments": arguments},
    }
    return [
        user(paragraph(rng, 2)),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": "Record updated."},
    ]


def _tool_args(s: Sample, rng: random.Random) -> Built:
    return _tool_exchange(json.dumps({"note": s.text}, ensure_ascii=False), rng), {}


def _tool_args_escaped(s: Sample, rng: random.Random) -> Built:
    # json.dumps never escapes digits; a caller (or a model) that escapes them is allowed to
    escaped = json.dumps({"note": s.label + "\x00"}, ensure_ascii=False)
    return _tool_exchange(escaped.replace("\\u0000", json_u(s.value)), rng), {}


def _tool_call_id(s: Sample, rng: random.Random) -> Built:
    # the assistant's id stays neutral so only the tool message's field carries the value
    return _tool_exchange("{}", rng, call_id=glued(s, "call")), {}


def _image(s: Sample, rng: random.Random, **extra: Any) -> Built:
    url = extra.pop("url", "https://example.com/x.png")
    image: dict[str, Any] = {"url": url, **extra.pop("in_url", {})}
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": paragraph(rng, 2)},
        {"type": "image_url", "image_url": image, **extra},
    ]
    return [user(parts)], {}


def _file(s: Sample, rng: random.Random, *, name: str | None = None, body: str = "") -> Built:
    data = body or paragraph(rng, 3) + "\n"
    encoded = base64.b64encode(data.encode()).decode()
    file = {"filename": name or "notes.txt", "file_data": f"data:text/plain;base64,{encoded}"}
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": paragraph(rng, 2)},
        {"type": "file", "file": file},
    ]
    return [user(parts)], {}


def _tool_description(s: Sample, rng: random.Random) -> Built:
    fn = {
        "name": "lookup",
        "description": f"Look up the record. Example input: {s.text}",
        "parameters": {"type": "object", "properties": {}},
    }
    return [user(paragraph(rng, 2))], {"tools": [{"type": "function", "function": fn}]}


def _schema_description(s: Sample, rng: random.Random) -> Built:
    schema = {"type": "object", "description": f"Reply about {s.text}", "properties": {}}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    return [user(paragraph(rng, 2))], {"response_format": fmt}


def _param(name: str, value: Callable[[Sample], Any]) -> Callable[[Sample, random.Random], Built]:
    return lambda s, rng: ([user(paragraph(rng, 2))], {name: value(s)})


def _url_query(s: Sample) -> str:
    return "https://example.com/x.png?ref=" + quote(glued(s, "ref"), safe="@+:/=")


POSITIONS: tuple[Position, ...] = (
    Position("content:start", _any, lambda s, r: _content(f"{s.text}\n{paragraph(r)}")),
    Position("content:middle", _any, lambda s, r: _content(frame(s, s.text, r))),
    Position("content:end", _any, lambda s, r: _content(f"{paragraph(r)}\n{s.text}")),
    Position("content:after-10kb-numbers", _any,
             lambda s, r: _content(f"Amounts:\n{numbers_table(r)}\n{s.text}\n{paragraph(r, 2)}")),
    Position("split:two-text-parts", _any, _split_parts),
    Position("split:two-user-messages", _any, _split_messages),
    Position("field:text-part", _any,
             lambda s, r: ([user([{"type": "text", "text": frame(s, s.text, r)}])], {})),
    Position("field:name", _one_token,
             lambda s, r: ([{**user(paragraph(r)), "name": glued(s, "cust")}], {})),
    Position("field:tool_call_id", _one_token, _tool_call_id),
    Position("field:tool-arguments", _any, _tool_args),
    Position("field:tool-arguments-u-escaped", _escapable, _tool_args_escaped),
    Position("field:extra-message-key", _any,
             lambda s, r: ([{**user(paragraph(r)), "x_customer_ref": s.text}], {})),
    Position("field:image-url-query", _one_token, lambda s, r: _image(s, r, url=_url_query(s))),
    Position("field:image-part-extra-key", _any, lambda s, r: _image(s, r, caption=s.text)),
    Position("field:image-url-extra-key", _any,
             lambda s, r: _image(s, r, in_url={"x_note": s.text})),
    Position("field:file-filename", _one_token,
             lambda s, r: _file(s, r, name=glued(s, "statement") + ".txt")),
    Position("field:file-data", _any,
             lambda s, r: _file(s, r, body=f"{paragraph(r, 2)}\n{s.text}\n{paragraph(r, 2)}\n")),
    Position("param:user", _one_line, _param("user", lambda s: s.text)),
    Position("param:metadata-value", _one_line, _param("metadata", lambda s: {"note": s.text})),
    Position("param:metadata-key", _one_line, _param("metadata", lambda s: {s.text: "1"})),
    Position("param:stop", _one_line, _param("stop", lambda s: [s.text])),
    Position("param:seed", _card, _param("seed", lambda s: int(s.token))),
    Position("param:tool-description", _any, _tool_description),
    Position("param:response-format-description", _any, _schema_description),
)  # fmt: skip
