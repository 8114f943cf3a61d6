"""Behaviour of router.decision._detectors.detect: what counts, what must not, and its
invariants."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router._models import DetectorKind
from router.decision._detectors import detect, warm_up

KINDS: tuple[str, ...] = get_args(DetectorKind)

# Fake credentials are assembled at import time so secret scanners do not flag this file.
RAND = "Ab3dEf7hIj9kLm1nOp2qRs4tUv6wXy8zAb0cDe5fGh"
OPENAI = "sk-" + "proj-" + RAND
OPENAI_LEGACY = "sk-" + RAND[:48]
ANTHROPIC = "sk-" + "ant-api03-" + RAND + RAND
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
GITHUB = "ghp" + "_" + RAND[:36]
GITHUB_PAT = "github" + "_pat_" + "11ABCDEFG0" + RAND + "_" + RAND
GITLAB = "glpat" + "-" + RAND[:20]
SLACK = "xoxb" + "-123456789012-1234567890123-" + RAND[:24]
GOOGLE = "AI" + "za" + "Sy" + RAND[:33]
STRIPE = "sk" + "_live_" + RAND[:24]
HUGGINGFACE = "hf" + "_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
BODY = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi8\nq1w2e3r4t5y6u7i8o9p0AbCdEfGh\n"


def pem(label: str, newline: str = "\n") -> str:
    body = BODY.replace("\n", newline)
    return f"-----BEGIN {label}-----{newline}{body}-----END {label}-----"


def case(kind: str, texts: list[str]) -> list[tuple[str, str]]:
    return [(kind, text) for text in texts]


POSITIVE = [
    *case(
        "email",
        [
            "write to john.doe@example.com today",
            "cc: j.smith+billing@mail.example.co.uk",
            "<a href='mailto:alice@corp.io'>mail</a>",
            "Email:bob_99@sub.domain.org.",
        ],
    ),
    *case(
        "phone",
        [
            "call +1 415 555 2671 today",
            "US office (415) 555-2671",
            "fax 415-555-2671",
            "London 020 7946 0958",
            "Berlin +49 30 901820",
            "tel:+44 20 7946 0958",
            "Paris +33 1 23 45 67 89",
            "mobile +91 98765 43210",
            "+44 (0)20 7946 0958",
        ],
    ),
    *case(
        "payment_card",
        [
            "card 4111 1111 1111 1111 exp 12/27",
            "visa 4111-1111-1111-1111",
            "pan=4111111111111111;",
            "mc 5555 5555 5555 4444",
            "amex 3782 822463 10005",
            "discover 6011 1111 1111 1117",
            "mastercard 2-series 2223003122003222",
        ],
    ),
    *case(
        "iban",
        [
            "IBAN DE89 3704 0044 0532 0130 00 please",
            "pay to GB82WEST12345698765432",
            "GB82 WEST 1234 5698 7654 32",
            "FR14 2004 1010 0505 0001 3M02 606",
            "account NL91ABNA0417164300.",
        ],
    ),
    *case(
        "national_id",
        [
            "SSN 123-45-6789",
            "ssn: 123 45 6789",
            "NINO AB 12 34 56 C",
            "ni number: JG103759A",
            "NIR 2 95 10 99 126 111 93",
            "numéro INSEE : 295109912611193",
            "Steuer-ID: 36 574 261 809",
            "DNI 54362315-K",
            "NIE X2482300W",
            "codice fiscale RCCMNL83S18D969H",
            "BSN: 111222333",
            "Aadhaar number: 2341 2341 2346",
        ],
    ),
    *case(
        "api_key",
        [
            f"OPENAI_API_KEY={OPENAI}",
            f"key {OPENAI_LEGACY}",
            f"x-api-key: {ANTHROPIC}",
            f"aws_access_key_id = {AWS}",
            f"git clone https://{GITHUB}@github.com/org/repo",
            f"GH_TOKEN={GITHUB_PAT}",
            f"gitlab {GITLAB}",
            f"SLACK_BOT_TOKEN='{SLACK}'",
            f"maps key {GOOGLE}",
            f"stripe.api_key = '{STRIPE}'",
            f"Authorization: Bearer {JWT}",
            f"HF_TOKEN={HUGGINGFACE}",
            'api_key = "x9Fq2Lm8Zr4Tp6Wn1Vb3"',
            '{"client_secret": "Zq81mNw4Rt7Yp0Xs3Kd6"}',
            "DB_PASSWORD=Tr0ub4dor3xYz9QwErT",
            "mytool --token 9fQ2mL8zR4tP6wN1vB3k",
        ],
    ),
    *case(
        "private_key",
        [
            pem("RSA PRIVATE KEY"),
            pem("EC PRIVATE KEY"),
            pem("DSA PRIVATE KEY"),
            pem("OPENSSH PRIVATE KEY"),
            pem("ENCRYPTED PRIVATE KEY"),
            pem("PRIVATE KEY"),
            pem("PGP PRIVATE KEY BLOCK").replace("-----\n", "-----\nVersion: GnuPG v2\n\n", 1),
            '{"private_key": "' + pem("PRIVATE KEY", newline="\\n") + '"}',
        ],
    ),
]


@pytest.mark.parametrize(("kind", "text"), POSITIVE, ids=[f"{k}:{t[:32]}" for k, t in POSITIVE])
def test_detects_one_finding_of_its_kind(kind: str, text: str) -> None:
    assert detect(text) == {kind: 1}


PROSE = (
    "We shipped the new onboarding flow last week. Retention improved, but support tickets "
    "about the task-list view doubled, so please summarize the feedback in three bullets."
)
CODE = """
def fetch(client, account_id: str, retries: int = 3) -> dict[str, object]:
    for attempt in range(retries):
        resp = client.get(f"/v1/accounts/{account_id}", timeout=2.5)
        if resp.status_code == 200:
            return resp.json()
    raise RuntimeError("gave up after 3 attempts")
"""

NEGATIVE = [
    ("prose", PROSE),
    ("python code", CODE),
    ("iso date", "deployed on 2024-05-13 at 14:30:00 UTC"),
    ("other dates", "from 13/05/2024 to 05.06.2024, week 2024-W20"),
    ("times", "at 09:15:30.123456 and 23:59"),
    ("versions", "upgrade 1.2.3.4 to v10.0.19041.1234, python 3.11.7"),
    ("uuid", "request 550e8400-e29b-41d4-a716-446655440000 failed"),
    ("git sha", "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it"),
    ("short sha", "see 9fceb02 and 1234567"),
    ("prices", "costs $1,299.99 or EUR 2 499,00 (was 1499.00)"),
    ("order numbers", "Order #123456789, ORD-2024-000123, invoice 1002003004"),
    ("ip address", "ping 192.168.100.200 and 10.0.0.1"),
    ("timestamps", "ts=1715600000 ms=1715600000000 ns=1715600000000000000"),
    ("luhn invalid card", "card 4111 1111 1111 1112"),
    ("random 16 digits", "ref 1234 5678 9012 3456"),
    ("bad iban checksum", "IBAN DE88 3704 0044 0532 0130 00"),
    ("invalid ssn area", "code 666-12-3456 and 000-12-3456"),
    ("unlabelled 9 digits", "ticket 111222333"),
    ("unlabelled aadhaar", "ref 2341 2341 2346"),
    ("unlabelled idnr", "id 36574261809"),
    ("nino bad prefix", "code GB 12 34 56 A and QQ 12 34 56 C"),
    ("sk in words", "the task-list and risk-assessment, sk-learn is a library"),
    ("decorator", "@dataclass(frozen=True)\nclass A: ..."),
    ("retina image", "icon@2x.png and logo@3x.jpg"),
    ("scp remote", "git@github.com:org/repo.git"),
    ("matmul", "y = W@x.transpose(0, 1)"),
    ("npm scope", "npm i @types/node@20.11.5"),
    ("short password", "password = hunter2"),
    ("identifier value", "token = get_token_from_vault2()"),
    ("token counts", "max_tokens = 4096000000000000"),
    ("public key", pem("PUBLIC KEY")),
    ("placeholder key", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----"),
    ("certificate", pem("CERTIFICATE")),
    ("phone-like math", "x = 12345678 + 87654321"),
    ("empty", ""),
]


@pytest.mark.parametrize("text", [t for _, t in NEGATIVE], ids=[n for n, _ in NEGATIVE])
def test_ignores_ordinary_text(text: str) -> None:
    assert detect(text) == {}


MIXED = (
    "Customer: jane.doe@example.com (backup jane@work.example.org), phone +1 415 555 2671.\n"
    "Paid with 4111 1111 1111 1111 and then 5555-5555-5555-4444.\n"
    "Refund to DE89 3704 0044 0532 0130 00; SSN 123-45-6789.\n"
    f"Use {AWS} and {GITHUB} for the deploy.\n" + pem("OPENSSH PRIVATE KEY")
)


def test_counts_every_finding_in_mixed_text() -> None:
    assert detect(MIXED) == {
        "email": 2,
        "phone": 1,
        "payment_card": 2,
        "iban": 1,
        "national_id": 1,
        "api_key": 2,
        "private_key": 1,
    }


def test_repeated_findings_are_counted_each_time() -> None:
    assert detect("a@example.com, b@example.com, c@example.com") == {"email": 3}


def test_numbers_in_one_list_are_counted_separately() -> None:
    text = "call +44 20 7946 0958 / +1 415 555 2671, cards 4111 1111 1111 1111 5555555555554444"
    assert detect(text) == {"phone": 2, "payment_card": 2}


def test_keys_follow_detector_kind_order() -> None:
    assert list(detect(MIXED)) == list(KINDS)


def test_result_holds_counts_never_matched_text() -> None:
    result = detect(MIXED)
    assert all(type(count) is int for count in result.values())
    assert "jane.doe" not in repr(result)
    assert AWS not in repr(result)


def test_token_inside_assignment_counts_once() -> None:
    assert detect(f'OPENAI_API_KEY="{OPENAI}"') == {"api_key": 1}


def test_labelled_ids_need_the_label_close_by() -> None:
    far = "BSN" + " filler" * 10 + " 111222333"
    assert detect(far) == {}
    assert detect("BSN 111222333") == {"national_id": 1}


def test_non_ascii_text_keeps_offsets_aligned() -> None:
    text = "Grüße an José — 電話 +49 30 901820, e-mail josé@example.com ✓ jose@example.com"
    assert detect(text) == {"email": 1, "phone": 1}


def test_walls_of_digits_hold_no_identifiers() -> None:
    assert detect("9" * 20_000) == {}
    assert detect("12 34 " * 2_000) == {}


def test_warm_up_imports_validators_without_changing_results() -> None:
    warm_up()
    assert detect("card 4111 1111 1111 1111") == {"payment_card": 1}


# --- properties ---------------------------------------------------------------------------

FRAGMENTS = [
    "john.doe@example.com",
    "+44 20 7946 0958",
    "(415) 555-2671",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "123-45-6789",
    "AB 12 34 56 C",
    "BSN: 111222333",
    AWS,
    JWT,
    'api_key = "x9Fq2Lm8Zr4Tp6Wn1Vb3"',
    pem("RSA PRIVATE KEY"),
    "-----BEGIN RSA PRIVATE KEY-----",
    "2024-05-13",
    " ",
    "@",
    "-",
    "0",
    # real-world formatting and the issue-13 formats (Unicode spaces, escapes, secrets)
    "4111\u00a01111\u00a01111\u00a01111",
    "de89-3704-0044-0532-0130-00",
    GITHUB,
    "postgres://app:S3cr3t!x@db/app",
    'password = "p@ss!w0rd#2024"',
    "-----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "\u200b",
    "\u00a0",
    "\n",
    "=",
    ":",
    "\\u0034",
    "%20",
    "&#52;",
]
texts = st.lists(st.one_of(st.text(max_size=40), st.sampled_from(FRAGMENTS)), max_size=8).map(
    "".join
)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_never_raises_and_returns_positive_counts_of_known_kinds(text: str) -> None:
    result = detect(text)
    assert set(result) <= set(KINDS)
    assert all(type(n) is int and n > 0 for n in result.values())


@settings(max_examples=300, deadline=None)
@given(texts, texts)
def test_appending_a_line_never_removes_a_finding(a: str, b: str) -> None:
    before = detect(a)
    after = detect(a + "\n" + b)
    assert all(after.get(kind, 0) >= n for kind, n in before.items())
