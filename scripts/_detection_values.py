"""Realistic sensitive values for the detection corpus, one generator per format, seeded.

Each value passes its own validation (Luhn, IBAN mod 97, the national ID's check digit as
python-stdnum computes it, phonenumbers' `is_valid_number`), so a miss is the detector's and
not a bad value. API keys and private keys are in `_detection_secrets`.

A `Sample` keeps the value as written in groups ("4111", "1111", ...) so the transforms can
re-join them with other separators. Free text carries the `label` people write before some
values ("SSN: "); `needs_label` says the value is not recognisable without it (a bare 9-digit
BSN is any number), so fields that hold one token skip those formats.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from faker import Faker
from stdnum import iban as std_iban
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import ssn

from router._models import DetectorKind

Shape = Literal["digits", "alnum", "phone", "email", "token", "assign", "pem"]

B62 = string.ascii_letters + string.digits
B64URL = B62 + "-_"


@dataclass(frozen=True)
class Sample:
    kind: DetectorKind
    fmt: str
    groups: tuple[str, ...]
    sep: str
    shape: Shape
    label: str = ""
    needs_label: bool = False
    written: str = ""  # the value as written when not `sep.join(groups)` ("+1 201-555-0123")

    @property
    def value(self) -> str:
        return self.written or self.sep.join(self.groups)

    @property
    def text(self) -> str:
        return self.label + self.value

    @property
    def token(self) -> str:
        """The value with its whitespace removed, as glued into a name or an id."""
        return "".join(self.value.split())

    @property
    def core(self) -> tuple[int, int]:
        """Where in `text` the identifying part lies: a PEM block's BEGIN line, else the value."""
        start = len(self.label)
        if self.shape == "pem":
            return start, start + self.value.index("\n")
        return start, len(self.text)


@dataclass(frozen=True)
class Format:
    kind: DetectorKind
    name: str
    make: Callable[[random.Random], Sample]


# --- checksums, computed here (not by the code under test) ----------------------------------


def luhn_ok(digits: str) -> bool:
    if not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_ok(value: str) -> bool:
    compact = "".join(value.split()).upper()
    moved = compact[4:] + compact[:4]
    return compact[:2].isalpha() and int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


@functools.cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def faker(locale: str, rng: random.Random) -> Faker:
    """A Faker for `locale`, reseeded from `rng`: the output depends on the seed alone."""
    fake = _faker(locale)
    fake.seed_instance(rng.getrandbits(32))
    return fake


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def until(draw: Callable[[], str], ok: Callable[[str], bool]) -> str:
    for _ in range(10_000):
        value = draw()
        if ok(value):
            return value
    raise RuntimeError("no valid value in 10,000 draws")  # a broken generator, not bad luck


def _split(value: str, sizes: tuple[int, ...]) -> tuple[str, ...]:
    out, i = [], 0
    for n in sizes:
        out.append(value[i : i + n])
        i += n
    if i < len(value):
        out.append(value[i:])
    return tuple(g for g in out if g)


# --- payment cards --------------------------------------------------------------------------
# Left out: Faker's visa13 and jcb15 (prefixes 1800/2131), long retired, and its maestro,
# which has 12 digits. JCB is kept to its real IIN range 3528-3589.
_CARDS: dict[str, tuple[int, ...]] = {
    "visa16": (4, 4, 4, 4),
    "visa19": (4, 4, 4, 4, 3),
    "mastercard": (4, 4, 4, 4),
    "amex": (4, 6, 5),
    "discover": (4, 4, 4, 4),
    "jcb16": (4, 4, 4, 4),
    "diners": (4, 6, 4),
}


def _card_ok(brand: str, digits: str) -> bool:
    return luhn_ok(digits) and (brand != "jcb16" or 3528 <= int(digits[:4]) <= 3589)


def _card(brand: str, rng: random.Random) -> Sample:
    def draw() -> str:
        return faker("en_US", rng).credit_card_number(card_type=brand)

    digits = until(draw, functools.partial(_card_ok, brand))
    return Sample("payment_card", brand, _split(digits, _CARDS[brand]), " ", "digits")


# --- IBANs ---------------------------------------------------------------------------------
_IBAN_LOCALES = (
    "de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL", "nl_BE", "pl_PL", "de_AT", "de_CH",
    "pt_PT", "fi_FI", "no_NO", "da_DK", "cs_CZ", "sk_SK", "tr_TR", "ro_RO", "en_IE", "el_GR",
    "uk_UA", "az_AZ", "pt_BR",
)  # fmt: skip


def _iban(locale: str, rng: random.Random) -> Sample:
    def draw() -> str:
        return str(faker(locale, rng).iban())

    value = until(draw, lambda v: iban_ok(v) and std_iban.is_valid(v))
    return Sample("iban", f"iban-{locale[-2:]}", _split(value, (4,) * 9), " ", "alnum")


# --- national IDs ----------------------------------------------------------------------------


def _ssn(rng: random.Random) -> Sample:
    value = until(lambda: str(faker("en_US", rng).ssn()), ssn.is_valid)
    return Sample("national_id", "us-ssn", tuple(value.split("-")), "-", "digits", "SSN: ")


_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"
_NINO_NEVER = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def _nino(rng: random.Random) -> Sample:
    # Faker's en_GB ssn() draws unissued prefixes (ZZ) and suffixes past D: built here
    prefix = until(
        lambda: rng.choice(_NINO_FIRST) + rng.choice(_NINO_SECOND),
        lambda p: p not in _NINO_NEVER,
    )
    pairs = tuple(f"{rng.randrange(100):02d}" for _ in range(3))
    groups = (prefix, *pairs, rng.choice("ABCD"))
    return Sample("national_id", "gb-nino", groups, " ", "alnum", "NI number ")


def _nir(rng: random.Random) -> Sample:
    value = until(lambda: str(faker("fr_FR", rng).ssn()), nir.is_valid)
    groups = _split(value, (1, 2, 2, 2, 3, 3, 2))
    return Sample("national_id", "fr-nir", groups, " ", "digits", "numéro de sécurité sociale ")


def _idnr(rng: random.Random) -> Sample:
    value = until(lambda: str(rng.randint(1, 9)) + rand(rng, string.digits, 10), idnr.is_valid)
    groups = _split(value, (2, 3, 3, 3))
    return Sample("national_id", "de-steuer-id", groups, " ", "digits", "Steuer-ID: ", True)


def _bsn(rng: random.Random) -> Sample:
    value = until(lambda: str(faker("nl_NL", rng).ssn()), bsn.is_valid)
    return Sample("national_id", "nl-bsn", _split(value, (3, 3, 3)), "", "digits", "BSN: ", True)


def _aadhaar(rng: random.Random) -> Sample:
    value = until(lambda: str(faker("en_IN", rng).aadhaar_id()), aadhaar.is_valid)
    groups = _split(value, (4, 4, 4))
    return Sample("national_id", "in-aadhaar", groups, " ", "digits", "Aadhaar: ", True)


def _dni(rng: random.Random) -> Sample:
    value = until(lambda: str(faker("es_ES", rng).nif()), dni.is_valid)
    return Sample("national_id", "es-dni", (value[:8], value[8:]), "", "alnum", "DNI ")


def _nie(rng: random.Random) -> Sample:
    value = until(lambda: str(faker("es_ES", rng).nie()), nie.is_valid)
    return Sample("national_id", "es-nie", (value,), "", "alnum", "NIE ")


def _cf(rng: random.Random) -> Sample:
    value = until(lambda: str(faker("it_IT", rng).ssn()), codicefiscale.is_valid)
    return Sample("national_id", "it-codice-fiscale", (value,), "", "alnum", "codice fiscale ")


# --- e-mails ---------------------------------------------------------------------------------
_EMAIL_LOCALES = ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL")
_EMAIL_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-@")


def _email(style: str, rng: random.Random) -> Sample:
    def draw() -> str:
        fake = faker(rng.choice(_EMAIL_LOCALES), rng)
        if style == "free":
            return str(fake.free_email())
        if style == "company":
            return str(fake.company_email())
        user, domain = str(fake.user_name()), str(fake.domain_name())
        if style == "tagged":
            return f"{user}+{fake.word()}@{domain}"
        return f"{fake.first_name()}.{fake.last_name()}@mail.{domain}".lower()

    value = until(draw, lambda v: set(v) <= _EMAIL_CHARS and v.count("@") == 1)
    return Sample("email", f"email-{style}", (value,), "", "email")


# --- phones ----------------------------------------------------------------------------------
_PHONE_REGIONS = (
    "US", "CA", "GB", "DE", "FR", "NL", "BE", "AT", "CH", "IT", "ES", "IE", "AU", "IN", "BR",
    "JP", "MX", "PL", "SE",
)  # fmt: skip
# National formats only where the detectors claim them (NANP and the trunk-0 countries in
# router/decision/_detectors/phones.py): elsewhere a national number without a label is just digits.
_NATIONAL_REGIONS = ("US", "CA", "GB", "DE", "FR", "NL", "BE", "AT", "CH", "IE", "AU", "IT")
_PHONE_FORMATS = {
    "e164": phonenumbers.PhoneNumberFormat.E164,
    "intl": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    "national": phonenumbers.PhoneNumberFormat.NATIONAL,
}
_TYPES = {
    "mobile": phonenumbers.PhoneNumberType.MOBILE,
    "fixed": phonenumbers.PhoneNumberType.FIXED_LINE,
}


def _phone(region: str, kind: str, style: str, rng: random.Random) -> Sample:
    example = phonenumbers.example_number_for_type(region, _TYPES[kind])
    if example is None:
        raise RuntimeError(f"phonenumbers has no {region} {kind} example")
    national = str(example.national_number)
    keep = max(2, len(national) - 6)  # keep the area / mobile prefix, draw the subscriber
    for _ in range(1000):
        number = phonenumbers.PhoneNumber()
        number.merge_from(example)
        number.national_number = int(
            national[:keep] + rand(rng, string.digits, len(national) - keep)
        )
        if phonenumbers.is_valid_number(number):
            break
    else:
        raise RuntimeError(f"no valid {region} {kind} number")
    written = phonenumbers.format_number(number, _PHONE_FORMATS[style])
    groups = tuple(written.replace("-", " ").split())
    fmt = f"phone-{region}-{kind}-{style}"
    return Sample("phone", fmt, groups, " ", "phone", written=written)


def _phone_formats() -> list[Format]:
    out = []
    for region in _PHONE_REGIONS:
        for kind in _TYPES:
            for style in _PHONE_FORMATS:
                if style == "national" and region not in _NATIONAL_REGIONS:
                    continue
                probe = _phone(region, kind, style, random.Random(0))
                trunk = probe.value.lstrip("(").startswith("0") or region in ("US", "CA")
                if style == "national" and not trunk:
                    continue  # no trunk prefix written (Italian mobiles): not self-identifying
                make = functools.partial(_phone, region, kind, style)
                out.append(Format("phone", probe.fmt, make))
    return out


def pii_formats() -> dict[DetectorKind, tuple[Format, ...]]:
    """Every PII format, per kind, in the order of `router._models.DetectorKind`."""
    national = {
        "us-ssn": _ssn,
        "gb-nino": _nino,
        "fr-nir": _nir,
        "de-steuer-id": _idnr,
        "nl-bsn": _bsn,
        "in-aadhaar": _aadhaar,
        "es-dni": _dni,
        "es-nie": _nie,
        "it-codice-fiscale": _cf,
    }
    return {
        "payment_card": tuple(
            Format("payment_card", b, functools.partial(_card, b)) for b in _CARDS
        ),
        "iban": tuple(
            Format("iban", f"iban-{loc[-2:]}", functools.partial(_iban, loc))
            for loc in _IBAN_LOCALES
        ),
        "national_id": tuple(Format("national_id", n, m) for n, m in national.items()),
        "email": tuple(
            Format("email", f"email-{s}", functools.partial(_email, s))
            for s in ("free", "company", "tagged", "dotted")
        ),
        "phone": tuple(_phone_formats()),
    }
