"""Detection on hostile and unusual input: no limit turns a detector off, and escapes are
read (that adding text never hides what was found is a property in test_detectors.py, over
these formats too). Speed is measured in
benchmarks/bench_detector_worst.py (no timing assertions here): these tests check results
on the same kinds of input.
"""

from __future__ import annotations

import random
from urllib.parse import quote

import pytest

from router.decision._detectors import detect

CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
R = "Ab3dEf7hIj9kLm1nOp2qRs4tUv6wXy8zAb0cDe5fGh"
GITHUB = "gh" + "p_" + R[:36]
MB = 1 << 20


def count(kind: str, text: str) -> int:
    return detect(text).get(kind, 0)  # type: ignore[call-overload, no-any-return]


def fill(fragment: str, size: int) -> str:
    return (fragment * (size // len(fragment) + 1))[:size]


# --- one real value among a megabyte of near-misses ---------------------------------------


def test_one_card_among_a_megabyte_of_luhn_failures() -> None:
    misses = fill("4111 1111 1111 1112 ", MB // 2)
    assert count("payment_card", misses + "\n" + CARD + "\n" + misses) == 1


def row(rng: random.Random) -> str:
    return " ".join(
        f"{rng.randrange(10**5)} {rng.randrange(10**3)}.{rng.randrange(100):02d}" for _ in range(6)
    )


def test_one_card_inside_a_megabyte_table_of_numbers() -> None:
    rng = random.Random(3)
    rows = [row(rng) for _ in range(16_000)]
    rows[8_000] = row(rng) + " " + CARD + " " + row(rng)
    assert count("payment_card", "\n".join(rows)) == 1


def test_one_iban_among_a_megabyte_of_iban_heads() -> None:
    misses = fill("DE89AAAAAAAAAAAA ", MB // 2)
    assert count("iban", misses + " " + IBAN + " " + misses) == 1


def test_card_after_a_megabyte_wall_of_digits_and_spaces() -> None:
    assert count("payment_card", "12 34 " * (MB // 6) + CARD) == 1


# --- recall does not fall after adversarial repetitions -----------------------------------

FRAGMENTS = [
    "DE89AAAAAAAAAAAA ", "4111 ", "4111\t", "4111 - ", "0", "1 ", "12 34 ", "+1 ", "-----BEGIN ",
    "@a.", "://a:b@", "sk-", "/sk-", "password=", 'password="', "a:", "\\u0034", "&#52;", "%34",
    "0123456789abcdef", "4111\u00a0", "４１１１ ", "4\u200b", "-",
    # wide separators, labels and line breaks (the readers of labelled IDs and wrapped keys)
    "12\tA", "12,A", "SSN: 000\t00\t0000 ", "AB\t12\t34\t56\tZ ", "0612345670 ",
    "(022) 4548 ", "password=ab\ncd ", "SG.abcdefghij\nklmnopqrstuv.", "://a\n:b@",
]  # fmt: skip
VALUES = [
    ("payment_card", "card " + CARD),
    ("iban", "IBAN " + IBAN),
    ("api_key", "token " + GITHUB),
    ("email", "mail jane.doe@example.com"),
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi8\n"),
    ("national_id", "SSN:\t242\t43\t3880"),
    ("phone", "tel 0612535691"),
]


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_values_after_adversarial_repetitions_are_found(fragment: str) -> None:
    noise = fill(fragment, 64 * 1024)
    for kind, value in VALUES:
        assert count(kind, noise + "\n" + value + "\n") >= 1, kind


# --- limits that used to switch detection off ---------------------------------------------


def test_numbers_around_a_card_do_not_hide_it() -> None:
    numbers = " ".join(str(n) for n in range(10_000, 13_000))  # 18 KB of 5-digit numbers
    assert count("payment_card", numbers + " " + CARD + " " + numbers) == 1


def test_deep_indentation_and_padding() -> None:
    assert count("payment_card", " " * 5000 + CARD + " " * 5000 + "|") == 1
    assert count("iban", "\t" * 200 + IBAN + " " * 500) == 1


def test_walls_of_digits_still_hold_no_identifiers() -> None:
    assert detect("9" * 200_000) == {}
    assert detect("1 " * 100_000) == {}


# --- escaped text -------------------------------------------------------------------------


def u_escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


ESCAPED = [
    ("json \\u digits", '{"card": "' + u_escaped(CARD) + '"}', "payment_card"),
    (
        "json \\u fullwidth",
        '{"card": "' + u_escaped("４１１１ １１１１ １１１１ １１１１") + '"}',
        "payment_card",
    ),
    ("json escaped tabs", '{"row": "' + CARD.replace(" ", "\\t") + '"}', "payment_card"),
    ("python \\x", "s = '" + "".join(f"\\x{ord(c):02x}" for c in CARD) + "'", "payment_card"),
    ("html decimal", "".join(f"&#{ord(c)};" for c in CARD), "payment_card"),
    ("html hex", "".join(f"&#x{ord(c):x};" for c in CARD), "payment_card"),
    ("html nbsp", CARD.replace(" ", "&nbsp;"), "payment_card"),
    ("url %20", "https://img.example.com/x.png?card=" + quote(CARD), "payment_card"),
    ("url iban", "https://pay.example.com/?iban=" + quote(IBAN) + "&x=1", "iban"),
    ("url encoded key", "https://example.com/cb?t=" + quote("token=" + GITHUB), "api_key"),
]


@pytest.mark.parametrize(
    ("text", "kind"), [(t, k) for _, t, k in ESCAPED], ids=[n for n, _, _ in ESCAPED]
)
def test_escaped_values_are_read(text: str, kind: str) -> None:
    assert count(kind, text) == 1


def test_escapes_count_the_larger_view_not_both() -> None:
    text = CARD + " and " + u_escaped(CARD)
    assert count("payment_card", text) == 2  # two in the decoded view, one in the plain
