"""What leaves the machine with a request, as the detectors and the token bounds see it.

Invariant 0: every byte that is forwarded to a provider is scanned, or the request's
sensitivity is raised as if it were not safe. So this walks the same Request that
`router.decision._arguments.call_params` turns into the provider call: every field of every message
(the declared ones by name, `MESSAGE_FIELDS`, which a test keeps equal to `Message`'s
fields; every extra one a caller adds, generically), every key of every content part, and
every pass-through parameter of any type (a number such as `seed` is scanned as its
digits). Pure: no I/O.

Parts are read by their type:
- `text` (and `refusal`): text the model reads;
- images, audio and files carry a payload (a `data:` URL or base64): a file whose payload
  decodes to text is read like text; every other payload cannot be scanned and is
  counted as `unscannable` (the policy pack says what sensitivity that implies); every
  other key of the part (an image URL's query string, a filename) is scanned;
- a part of a type the router does not know: all its strings are scanned, and it is
  `unscannable` too (its meaning to the provider is unknown).

A value split between two text pieces (parts or messages) is found by scanning the
seams: the end of one piece joined to the start of the next.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import unquote_to_bytes

from router._models import IMAGE_TOKENS, Request, UnscannableKind

__all__ = ["IMAGE_TOKENS", "MESSAGE_FIELDS", "SEAM_CHARS", "Scan", "scan"]

MESSAGE_FIELDS: Final = frozenset({"role", "content", "name", "tool_call_id", "tool_calls"})
"""The declared fields of `router._models.Message` that `scan` reads by name."""
SEAM_CHARS: Final = 256
"""How far around each seam between two text pieces the joined view reaches."""

_IMAGE_TYPES: Final = frozenset({"image_url", "input_image", "image"})
_AUDIO_TYPES: Final = frozenset({"input_audio", "audio"})
_FILE_TYPES: Final = frozenset({"file", "input_file", "document"})
_TEXT_KEYS: Final = {
    "text": "text",
    "input_text": "text",
    "refusal": "refusal",
    "thinking": "thinking",
}
_PAYLOAD_MIN: Final = 256  # a base64 string this long inside a media part is its payload
_B64_RE: Final = re.compile(r"[A-Za-z0-9+/=_\-\r\n]+")
_PAYLOAD_KEYS: Final = frozenset({"url", "data", "file_data", "image_url", "input_audio"})
"""The keys that hold a media part's payload (OpenAI's and Anthropic's shapes)."""
_PDF_PAGE_RE: Final = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_DIGIT_RUN_RE: Final = re.compile(r"[0-9]{12,}")
_SENTENCE_END: Final = frozenset(".!?;)]}")
_ID_CHARS: Final = 256  # identifiers and short values: where glued digits are looked for


class Scan(NamedTuple):
    """A request as the model reads it (`text`), what else leaves with it (`extra`), and the
    media the detectors cannot read."""

    text: str
    """What the model reads, in order: roles, names, content, decoded text files, and the
    JSON of tool calls, tools and the response format. Tokens are counted on it."""
    extra: str
    """Forwarded but not prompt: the pass-through parameters, as JSON."""
    alternate: str
    """Other renderings of forwarded text, scanned besides `text` and `extra`: the raw
    keys, strings and numbers inside JSON-encoded fields and parameters (and JSON decoded
    from strings such as tool-call arguments), and the seams between text pieces.
    Findings here are merged by kind (the larger count), not added."""
    media_tokens: int
    """An upper bound on the tokens of payloads the model sees but `text` lacks."""
    images: int
    unscannable: dict[UnscannableKind, int]
    uses_tools: bool


class _Walk:
    __slots__ = ("alternate", "extra", "images", "media_tokens", "seams", "text", "unscannable")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.extra: list[str] = []
        self.alternate: list[str] = []
        self.seams: list[str] = []
        self.media_tokens = 0
        self.images = 0
        self.unscannable: dict[UnscannableKind, int] = {}

    def flag(self, kind: UnscannableKind) -> None:
        self.unscannable[kind] = self.unscannable.get(kind, 0) + 1

    def structured(self, key: str, value: object) -> None:
        """A JSON-shaped value the model reads: its JSON for tokens; its raw strings (and
        JSON found inside strings) as an alternate view for the detectors."""
        self.text.append(_dumps({key: value}))
        _strings(value, self.alternate, decode_json=True)

    def piece(self, text: str) -> None:
        """A text piece of the conversation: read by the model, and a seam with the last."""
        self.text.append(text)
        self.seams.append(text)


def scan(request: Request) -> Scan:
    """Walk everything `router.decision._arguments.call_params(request)` would forward."""
    w = _Walk()
    text, seams = w.text, w.seams
    uses_tools = bool(request.tools)
    for msg in request.messages:
        # The fields of MESSAGE_FIELDS one by one (a test keeps that set equal to
        # Message's declared fields), then every extra field a caller added.
        role = msg.role
        text.append(role)
        content = msg.content
        if isinstance(content, str):
            text.append(content)
            seams.append(content)
        elif content is not None:
            _parts(content, w)
        for value in (msg.name, msg.tool_call_id):
            if value is not None:
                text.append(value)
                _unglued(value, w.alternate)
        if msg.tool_calls is not None:
            uses_tools = True
            w.structured("tool_calls", msg.tool_calls)
        elif role == "tool":
            uses_tools = True
        extra = msg.__pydantic_extra__  # model_extra, without the property's cost
        if extra:
            for key, value in extra.items():
                w.structured(key, value)
    if request.tools:
        w.structured("tools", list(request.tools))
    if request.response_format:
        w.structured("response_format", request.response_format)
    if request.params:
        w.extra.append(_dumps(request.params))
        _strings(request.params, w.alternate, decode_json=True)
    alternate = w.alternate
    if len(seams) > 1:
        alternate += _seams(seams)
    return Scan._make(  # _make: a named tuple's constructor costs several times more
        (
            "\n".join(text),
            "\n".join(w.extra) if w.extra else "",
            "\n".join(alternate) if alternate else "",
            w.media_tokens,
            w.images,
            w.unscannable,
            uses_tools,
        )
    )


def _parts(parts: list[dict[str, Any]], w: _Walk) -> None:
    """Read content parts into `w`."""
    for part in parts:
        kind = part["type"]
        text_key = _TEXT_KEYS.get(kind)
        if text_key is not None and isinstance(part.get(text_key), str):
            w.piece(part[text_key])
            rest = {k: v for k, v in part.items() if k not in ("type", text_key)}
            if rest:
                w.structured("part", rest)
        elif kind in _IMAGE_TYPES:
            w.images += 1
            w.media_tokens += IMAGE_TOKENS
            w.flag("image")
            _media(part, w, decode_text=False, count_bytes=False)
        elif kind in _AUDIO_TYPES:
            w.flag("audio")
            _media(part, w, decode_text=False)
        elif kind in _FILE_TYPES:
            if not _media(part, w, decode_text=True):
                w.flag("file")
        else:
            w.flag("part")
            w.structured("part", part)


def _media(
    part: Mapping[str, Any], w: _Walk, *, decode_text: bool, count_bytes: bool = True
) -> bool:
    """Scan a media part's strings except its payloads. A payload counts its decoded size
    as tokens (`count_bytes`; a PDF also one image per page), or, with `decode_text`, is
    read as text when it is a text file. Returns True when every payload was read as text
    (a part without any payload, e.g. an image URL, is False)."""
    payloads: list[str] = []
    _strings(part, w.extra, decode_json=False, payloads=payloads)  # URLs, filenames, formats
    readable = bool(payloads)
    for payload in payloads:
        data = _decode(payload)
        text = _as_text(data) if decode_text and data is not None else None
        if text is not None:
            w.text.append(text)
            continue
        readable = False
        if count_bytes:
            size = len(data) if data is not None else len(payload)
            pdf = data is not None and data.startswith(b"%PDF")
            pages = len(_PDF_PAGE_RE.findall(data)) if pdf and data is not None else 0
            w.media_tokens += size + pages * IMAGE_TOKENS
    return readable


def _is_payload(value: str) -> bool:
    if value.startswith("data:"):
        return True
    return len(value) >= _PAYLOAD_MIN and _B64_RE.fullmatch(value) is not None


def _decode(payload: str) -> bytes | None:
    """The bytes of a `data:` URL or a base64 string, or None when it is neither."""
    head, comma, body = payload.partition(",") if payload.startswith("data:") else ("", "", "")
    if comma and ";base64" not in head:
        return unquote_to_bytes(body)
    try:
        return base64.b64decode(body if comma else payload, altchars=None, validate=False)
    except (binascii.Error, ValueError):
        return None


def _as_text(data: bytes) -> str | None:
    """`data` as text when it is a text file (UTF-8 or UTF-16 with a BOM, no NULs, almost
    no control characters); None for binary content (and for a PDF, whose pages the
    provider renders whatever text it holds)."""
    if data.startswith(b"%PDF"):
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    else:
        if b"\x00" in data:
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f")
    return text if controls <= len(text) // 100 else None


def _strings(
    value: object,
    out: list[str],
    *,
    decode_json: bool,
    payloads: list[str] | None = None,
) -> None:
    """Append every key and scalar inside `value` (numbers as their digits) to `out`.
    With `payloads`, a media payload (a `data:` URL or base64, under a payload key such as
    `url` or `file_data`) goes there instead; any other string is scanned. With
    `decode_json`, a string holding a JSON object or array is walked once more, decoded
    (tool-call arguments are JSON in a string; `\\u0034` escapes the digit 4)."""
    stack: list[tuple[object, bool, str]] = [(value, decode_json, "")]
    while stack:
        item, again, key = stack.pop()
        if isinstance(item, str):
            if payloads is not None and key in _PAYLOAD_KEYS and _is_payload(item):
                out.append(item.partition(",")[0] if item.startswith("data:") else "")
                payloads.append(item)
                continue
            out.append(item)
            if len(item) <= _ID_CHARS:
                _unglued(item, out)
            if again and item[:1] in "{[" and ("\\" in item or '"' in item):
                with contextlib.suppress(ValueError, RecursionError):
                    stack.append((json.loads(item), False, key))
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            out.append(repr(item))
        elif isinstance(item, Mapping):
            for k, v in item.items():
                name = str(k)
                out.append(name)
                _unglued(name, out)
                stack.append((v, again, name))
        elif isinstance(item, list | tuple):
            stack.extend((v, again, key) for v in reversed(item))


def _unglued(value: str, out: list[str]) -> None:
    """An identifier's parts on their own (`cust_4111111111111111`, `statement_AB123456C.txt`,
    `id4111111111111111`): the detectors rightly skip values glued to words in prose
    (hashes, ids), but in a name, an id, a key or a short value such a part is the value."""
    if len(value) < 9:
        return
    if "_" in value or "." in value:
        out.append(value.replace("_", " ").replace(".", " "))
    if (runs := _DIGIT_RUN_RE.findall(value)) and runs != [value]:
        out.append(" ".join(runs))


def _seams(pieces: list[str]) -> list[str]:
    """The end of each text piece joined to the start of the next, up to SEAM_CHARS on
    each side: without a separator (a value cut in the middle between parts or messages)
    and with a space (cut between two of its groups). Only where a value could go on
    across the cut: both sides end in a letter, digit or in-value separator."""
    out = []
    for i in range(1, len(pieces)):
        a, b = pieces[i - 1], pieces[i]
        first = b[:1]
        if (
            a[-1:] in _SENTENCE_END
            and not a[-2:-1].isdigit()
            and (first.isspace() or first.isupper())
        ):
            continue  # prose: a sentence ends, the next starts; nothing goes on across
        end, start = len(a), 0
        while end and a[end - 1].isspace():
            end -= 1
        while start < len(b) and b[start].isspace():
            start += 1
        head = b[start : start + 1]
        if head and (_open(a[max(end - 2, 0) : end]) or (start == 0 and not head.isupper())):
            tail, head = a[-SEAM_CHARS:], b[:SEAM_CHARS]
            out.append(f"{tail}{head}\n{tail} {head}")
    return out


def _open(end: str) -> bool:
    """Could a value go on across this end (the last two characters of a piece)?
    Everything but nothing at all and sentence punctuation after a word: `4111-`,
    `jane@`, `password = "hun`, `AccountKey=` all go on; `jane.` and `pa)` go on only into
    a piece glued to them that does not start a sentence (checked by the caller)."""
    if not end:
        return False
    return end[-1] not in _SENTENCE_END or (len(end) > 1 and end[-2].isdigit())


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
