"""The built-in sample workload and deployment set that `make demo` routes.

Prompts are realistic: chit-chat, code, maths, writing, prompts carrying personal
data and secrets, one using tools, one with an image, one asking for a JSON
schema, one too long for small models and one the caller marks confidential.
The card, IBAN and key below are public test values, not real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEMO_CONFIG", "SAMPLES", "Sample"]

DEMO_CONFIG = Path(__file__).parent.parent / "data" / "demo.toml"


@dataclass(frozen=True)
class Sample:
    label: str
    messages: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)


def _user(text: str, **options: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return [{"role": "user", "content": text}], options


_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

_INVOICE_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "invoice",
        "schema": {
            "type": "object",
            "properties": {"vendor": {"type": "string"}, "total": {"type": "number"}},
            "required": ["vendor", "total"],
        },
    },
}

_TRANSCRIPT_LINE = (
    "Speaker {a}: we went through the quarterly roadmap again and agreed that the "
    "migration work should land before the new onboarding flow, because support "
    "volume keeps rising and the old system cannot take the extra load.\n"
)


def _long_transcript() -> str:
    names = ["Ana", "Ben", "Chen", "Dara", "Eli"]
    lines = [_TRANSCRIPT_LINE.format(a=names[i % len(names)]) for i in range(900)]
    return "Summarise the decisions in this meeting transcript:\n\n" + "".join(lines)


_RAW: list[tuple[str, tuple[list[dict[str, Any]], dict[str, Any]]]] = [
    ("chit-chat: greeting", _user("Hi! How is your day going?")),
    ("chit-chat: joke", _user("Tell me a short joke about penguins.")),
    ("chit-chat: puppy name", _user("What's a good name for a golden retriever puppy?")),
    (
        "chat: multi-turn",
        (
            [
                {"role": "user", "content": "I'm planning a weekend in Lisbon."},
                {"role": "assistant", "content": "Lovely! What do you enjoy most?"},
                {"role": "user", "content": "Food and old neighbourhoods. Any tips?"},
            ],
            {},
        ),
    ),
    (
        "code: palindrome",
        _user("Write a Python function that checks whether a string is a palindrome."),
    ),
    (
        "code: js bug",
        _user(
            "Why does this print undefined?\n```js\nconst f = () => { x: 1 };\n"
            "console.log(f().x);\n```"
        ),
    ),
    (
        "code: sql refactor",
        _user(
            "Refactor this query to use a CTE:\nSELECT name FROM users WHERE id IN "
            "(SELECT user_id FROM orders WHERE total > 100);"
        ),
    ),
    (
        "code: rate limiter (hard)",
        _user(
            "Design a distributed rate limiter for an API gateway serving 50k requests "
            "per second across three regions. Compare token bucket and sliding window, "
            "discuss consistency trade-offs, and give pseudocode.",
            quality_target=0.95,  # the caller says this one matters
        ),
    ),
    ("maths: derivative", _user("What is the derivative of x^3 * sin(x)?")),
    (
        "maths: word problem",
        _user(
            "A train leaves at 3 pm at 80 km/h; a second leaves the same station at "
            "4 pm at 100 km/h on the same track. When does the second catch up?"
        ),
    ),
    (
        "maths: proof (must be right)",
        _user("Prove that the square root of 2 is irrational.", quality_target=0.95),
    ),
    (
        "knowledge: history",
        _user("Summarise the causes of the French Revolution in five bullet points."),
    ),
    (
        "writing: translate",
        _user("Translate 'Where is the train station?' into German, French and Spanish."),
    ),
    (
        "writing: decline email",
        _user("Draft a polite email declining a meeting invitation for Thursday."),
    ),
    (
        "writing: long story",
        _user("Write a 2,000-word short story about a lighthouse keeper.", max_tokens=4000),
    ),
    (
        "system prompt + question",
        (
            [
                {"role": "system", "content": "You are a concise assistant for a bakery."},
                {"role": "user", "content": "Which of our breads are vegan?"},
            ],
            {},
        ),
    ),
    ("explain: entanglement", _user("Explain quantum entanglement to a 10-year-old.")),
    (
        "PII: email + card",
        _user(
            "Please update billing for jane.doe@example.com, card 4111 1111 1111 1111, "
            "expiry 12/29."
        ),
    ),
    ("PII: e-mail only", _user("Forward the meeting notes to bob.smith@example.org please.")),
    ("PII: phone", _user("Call the customer back on +44 20 7946 0958 about the refund.")),
    (
        "PII: IBAN",
        _user("Set up a transfer of 250 EUR to DE89 3704 0044 0532 0130 00 for the rent."),
    ),
    (
        "secret: API key",
        _user(
            "Why does this fail? client = OpenAI(api_key='sk-proj-"
            "Xk29fLq8Zr4Tn7Vb1Wc6Yd3Hs5Jm0PaQe2RtUgKi8Lo')"
        ),
    ),
    (
        "declared confidential",
        _user(
            "Summarise the board minutes on the planned acquisition.",
            sensitivity="confidential",
        ),
    ),
    ("tools: weather", _user("What's the weather in Paris right now?", tools=[_WEATHER_TOOL])),
    (
        "json schema: invoice",
        _user(
            "Extract vendor and total: 'ACME Corp - total due 1,250.00 USD'",
            response_format=_INVOICE_SCHEMA,
        ),
    ),
    (
        "vision: photo",
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ],
                }
            ],
            {},
        ),
    ),
    ("long: 40k-token transcript", _user(_long_transcript())),
    (
        "batch: tagged",
        _user("Classify this review as positive or negative: 'Great value!'", tags=["batch"]),
    ),
    (
        "tenant: finance team",
        _user("Explain what EBITDA means in one paragraph.", tenant="finance"),
    ),
    (
        "restricted: private key",
        _user(
            "Is this key format right?\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
            "-----END OPENSSH PRIVATE KEY-----"
        ),
    ),
]

SAMPLES: tuple[Sample, ...] = tuple(
    Sample(label=label, messages=msgs, options=opts) for label, (msgs, opts) in _RAW
)
