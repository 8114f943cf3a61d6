"""National IDs and phone numbers written the way spreadsheets, forms and people write them.

IDs: a label names the number, so after one any separator counts -- tabs, line breaks,
commas, `` - ``, two blanks -- and the checksum decides; a Corsican NIR (department 2A/2B);
a NINO whose pairs are split by tabs or wide blanks. Phones: national numbers without
separators, with dots, slashes or two blanks, an area code in parentheses, an Irish number
of 8 digits, a Vienna number with a 9-digit subscriber.

Values are drawn with valid checksums (python-stdnum's own rules) and valid phone numbers
(phonenumbers' example numbers with random subscribers, kept when `is_valid_number`).
"""

from __future__ import annotations

import random
import string

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from stdnum import verhoeff
from stdnum.de import idnr
from stdnum.es import dni
from stdnum.fr import nir
from stdnum.in_ import aadhaar
from stdnum.nl import bsn
from stdnum.us import ssn

from router.decision._detectors import detect

# --- labelled national IDs ----------------------------------------------------------------


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _ssn(rng: random.Random) -> str:
    while True:
        value = f"{rng.randint(1, 899):03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
        if ssn.is_valid(value):
            return value


def _bsn(rng: random.Random) -> str:
    while True:
        body = _digits(rng, 8)
        for last in string.digits:
            if bsn.is_valid(body + last):
                return body + last


def _idnr(rng: random.Random) -> str:
    while True:
        ten = [str(rng.randint(1, 9)), *rng.sample(string.digits, 8)]
        ten.insert(rng.randint(1, 9), rng.choice(ten))  # one digit twice, as the rules say
        for last in string.digits:
            if idnr.is_valid("".join(ten) + last):
                return "".join(ten) + last


def _aadhaar(rng: random.Random) -> str:
    while True:
        body = str(rng.randint(2, 9)) + _digits(rng, 10)
        value = body + verhoeff.calc_check_digit(body)
        if aadhaar.is_valid(value):
            return value


def _nir(rng: random.Random, corsica: bool = False) -> str:
    department = rng.choice(["2A", "2B"]) if corsica else f"{rng.randint(1, 95):02d}"
    if department == "20":
        department = "21"
    body = (
        f"{rng.randint(1, 2)}{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}"
        f"{department}{rng.randint(1, 990):03d}{rng.randint(1, 999):03d}"
    )
    value = body + nir.calc_check_digits(body)
    assert nir.is_valid(value)
    return value


# kind -> (label, make a value, its groups as usually printed)
LABELLED = {
    "ssn": ("SSN: ", _ssn, (3, 2, 4)),
    "bsn": ("BSN: ", _bsn, (3, 3, 3)),
    "aadhaar": ("Aadhaar: ", _aadhaar, (4, 4, 4)),
    "steuer-id": ("Steuer-ID: ", _idnr, (2, 3, 3, 3)),
    "nir": ("numéro de sécurité sociale ", _nir, (1, 2, 2, 2, 3, 3, 2)),
    "nir-corsica": ("INSEE ", lambda r: _nir(r, corsica=True), (1, 2, 2, 2, 3, 3, 2)),
}
WIDE_SEPARATORS = ["\t", "\n", "\r\n", ",", ", ", " - ", "  ", " ", "", "-", ".", "/"]


def grouped(value: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(value[i : i + n])
        i += n
    return sep.join(out)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(LABELLED)),
    seed=st.integers(),
    sep=st.sampled_from(WIDE_SEPARATORS),
    frame=st.sampled_from(["{} ok", "Name\tID\nJane\t{}\tactive", "({}).", '"{}"']),
)
def test_labelled_ids_with_any_separator_are_found(
    kind: str, seed: int, sep: str, frame: str
) -> None:
    label, make, sizes = LABELLED[kind]
    value = grouped(make(random.Random(seed)), sizes, sep)
    assert detect(frame.format(label + value)) == {"national_id": 1}


WIDE_CASES = [
    ("ssn, tabs", "SSN:\t242\t43\t3880"),
    ("ssn, a column", "SSN:\n242\n43\n3880\n"),
    ("bsn, commas", "BSN: 083,154,929"),
    ("aadhaar, spaced dashes", "Aadhaar: 4648 - 4327 - 7904"),
    ("steuer-id, line breaks", "Steuer-ID:\n86\n878\n023\n599"),
    ("nir, corsica compact", "numéro de sécurité sociale 149082A00412622"),
    ("nir, corsica lower case", "NIR 1 49 08 2a 004 126 22"),
    ("dni, two blanks", "DNI 95955492  K"),
    ("dni, line break", "DNI 50506307\nD"),
    ("dni, dotted", "DNI 54.362.315-K"),
    ("nino, tabs", "NI number HM\t74\t57\t60\tB"),
    ("nino, two blanks", "NI number HM  74  57  60  B"),
    ("nino, spaced dashes", "ni number hm - 74 - 57 - 60 - b"),
    ("nino, one pair per line", "HM\n74\n57\n60\nB\n"),
    ("label with words between", "SSN of the new customer: 242 43 3880"),
    ("nir, corsica compact without a label", "ref 149082A00412622 ok"),
    ("nir, corsica in a file name", "statement_149082A00412622.txt"),
]


@pytest.mark.parametrize("text", [t for _, t in WIDE_CASES], ids=[n for n, _ in WIDE_CASES])
def test_ids_with_wide_separators(text: str) -> None:
    assert detect(text) == {"national_id": 1}


NINO_FIRST, NINO_SECOND = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"


@settings(max_examples=60, deadline=None)
@given(
    first=st.sampled_from(NINO_FIRST),
    second=st.sampled_from(NINO_SECOND),
    pairs=st.lists(st.integers(0, 99), min_size=3, max_size=3),
    suffix=st.sampled_from("ABCDabcd"),
    sep=st.sampled_from(["\t", "\n", "\r\n", "  ", " - ", " ", "", ".", "-"]),
)
def test_ninos_with_any_separator_are_found(
    first: str, second: str, pairs: list[int], suffix: str, sep: str
) -> None:
    prefix = first + second
    assume(prefix not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"))  # never issued
    nino = sep.join([prefix, *(f"{p:02d}" for p in pairs), suffix])
    assert detect(f"NI number {nino} ok") == {"national_id": 1}


def test_dni_with_a_label_and_any_separator() -> None:
    rng = random.Random(4)
    for sep in WIDE_SEPARATORS:
        body = _digits(rng, 8)
        value = body + dni.calc_check_digit(body)
        assert detect(f"DNI {value[:8]}{sep}{value[8]} ok") == {"national_id": 1}, repr(sep)


NOT_IDS = [
    ("unlabelled groups in a table", "Qty\tA\tB\n242\t43\t3880\n083\t154\t929"),
    ("unlabelled column", "242\n43\n3880\n"),
    ("social security amounts", "Social Security paid out 123,456,789 dollars in 2019"),
    ("amount after a label", "Social security spending: 1,234,567,890.50 EUR"),
    ("bad checksum", "BSN:\t111\t222\t334"),
    ("label too far away", "SSN " + "x" * 60 + " 242\t43\t3880"),
    ("label then a short number", "social security number 1 and 2"),
    ("thousands in a list", "Totals: 10,000, 20,000, 30,000 and 40,000"),
    ("nino letters, unissued prefix", "GB\t12\t34\t56\tA"),
    ("dni shape without a label", "row 95955492\tK\t12"),
]


@pytest.mark.parametrize("text", [t for _, t in NOT_IDS], ids=[n for n, _ in NOT_IDS])
def test_not_national_ids(text: str) -> None:
    assert "national_id" not in detect(text)


# --- phones -------------------------------------------------------------------------------
# The regions whose national numbers the detector claims (NANP and the trunk-0 countries).
TRUNK_REGIONS = ["GB", "DE", "FR", "NL", "BE", "AT", "CH", "IE", "AU", "IT"]
TYPES = [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]


def phone_number(region: str, kind: int, rng: random.Random) -> phonenumbers.PhoneNumber:
    """phonenumbers' example with a random subscriber, valid as phonenumbers says."""
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None, f"phonenumbers has no {region} example"
    national = str(example.national_number)
    keep = max(2, len(national) - 6)
    for _ in range(1000):
        number = phonenumbers.PhoneNumber()
        number.merge_from(example)
        number.national_number = int(national[:keep] + _digits(rng, len(national) - keep))
        if phonenumbers.is_valid_number(number):
            return number
    raise AssertionError(f"no valid {region} number")  # a broken example, not bad luck


@settings(max_examples=150, deadline=None)
@given(
    region=st.sampled_from([*TRUNK_REGIONS, "US", "CA"]),
    kind=st.sampled_from(TYPES),
    seed=st.integers(),
    sep=st.sampled_from(["", " ", "  ", "-", ".", "/", "\u00a0"]),
    frame=st.sampled_from(["call {} today", "{}", "Tel.: {}.", "({})", '"{}"']),
)
def test_national_numbers_with_any_separator_are_found(
    region: str, kind: int, seed: int, sep: str, frame: str
) -> None:
    number = phone_number(region, kind, random.Random(seed))
    written = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    # no trunk prefix written (Italian mobiles): not self-identifying
    assume(written.lstrip("(").startswith("0") or region in ("US", "CA"))
    text = frame.format(sep.join(written.replace("-", " ").split()))
    assert detect(text) == {"phone": 1}


@settings(max_examples=80, deadline=None)
@given(
    region=st.sampled_from([*TRUNK_REGIONS, "US", "ES", "SE", "PL", "JP"]),
    kind=st.sampled_from(TYPES),
    seed=st.integers(),
    sep=st.sampled_from(["", " ", "  ", "-", ".", "/"]),
)
def test_international_numbers_with_any_separator_are_found(
    region: str, kind: int, seed: int, sep: str
) -> None:
    number = phone_number(region, kind, random.Random(seed))
    written = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    assert detect("call " + sep.join(written.replace("-", " ").split()) + " now") == {"phone": 1}


PHONE_CASES = [
    ("vienna, 9-digit subscriber", "Tel. 01 234664005"),
    ("irish area code in parentheses", "ring (022) 45485 after six"),
    ("irish, no space", "ring (022)45485"),
    ("french, unseparated", "portable 0612535691"),
    ("british mobile, unseparated", "mobile 07400086401"),
    ("belgian, dashes (not a date)", "GSM 0450-66-71-06"),
    ("belgian, slashes", "tel 012/55/07/03"),
    ("german mobile, slash", "Handy 01512/3263431"),
    ("french, two blanks", "06  12  77  90  64"),
    ("nanp, parentheses and dashes", "(201)-591-9225"),
    ("nanp, parentheses and dots", "(506).270.4124"),
    ("nanp, parentheses unseparated", "(506)2301286"),
    ("international, slashes", "+33/1/23/95/04/22"),
    ("international, two blanks", "+39  312  313  5274"),
]


@pytest.mark.parametrize("text", [t for _, t in PHONE_CASES], ids=[n for n, _ in PHONE_CASES])
def test_phones_in_other_formats(text: str) -> None:
    assert detect(text) == {"phone": 1}


NOT_PHONES = [
    ("digit sequence", "digits = '0123456789'"),
    ("isbn-10", "ISBN 0198526636 and ISBN: 0198526636"),
    ("zero-padded id", "id 0000123456 and #0001234567"),
    ("glued to a word", "build0612535691 and 0612535691x"),
    ("in a longer run", "0612535691 2024 11"),
    ("decimal", "pi is 3.0612535691"),
    ("dates", "from 01/02/2024 to 05.06.2024, on 2020-02-13-14 and 01.02.2023 12:30"),
    ("dates in a table", "| 01/01/2022 | 12/31/2022 | 03/15/2022 |"),
    ("ip addresses", "ip 010.123.045.067 and 010.000.010.001"),
    ("version", "v01.2.3 and 0.12.3"),
    ("octal modes", "chmod 0755 then 0644"),
    ("short parenthesised", "(02) 1234"),
]


@pytest.mark.parametrize("text", [t for _, t in NOT_PHONES], ids=[n for n, _ in NOT_PHONES])
def test_not_phones(text: str) -> None:
    assert "phone" not in detect(text)
