"""Wrappers around python-stdnum and phonenumbers, each imported on first use."""

from __future__ import annotations

import functools
import importlib
from typing import Any, Final

from router.decision._detectors._shared import _NON_DIGITS

# --- phone numbers (phonenumbers, imported on first use) ----------------------------------


def _valid_national(value: str, countries: tuple[int, ...], *, shortest: int = 9) -> bool:
    digits = value.translate(_NON_DIGITS)
    if countries == (1,):
        return _is_valid_phone(1, digits[-10:])
    if not shortest <= len(digits) <= 12:
        return False
    # Italian numbers keep their leading zero; everywhere else it is the trunk prefix
    return any(_is_valid_phone(cc, digits if cc == 39 else digits[1:]) for cc in countries)


@functools.lru_cache(maxsize=4096)
def _is_valid_phone(cc: int, national: str) -> bool:
    """phonenumbers' own validity check, on a number built directly (skipping its parser).

    Cached: it costs 10-40 us (a NANP number is tried against each NANP region), and a list
    or a hostile repetition asks about the same numbers again."""
    import phonenumbers  # noqa: PLC0415

    if not national.isdigit() or len(national) > 17:
        return False
    number = phonenumbers.PhoneNumber(country_code=cc, national_number=int(national))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros and len(national) > 1:  # as parse() records it, e.g. Italian 06 ...
        number.italian_leading_zero = True
        number.number_of_leading_zeros = min(zeros, len(national) - 1)
    return bool(phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number))


# --- validators (python-stdnum, imported on first use) ------------------------------------


def _plausible_iin(d: str) -> bool:
    """Does the number's issuer prefix (IIN) issue cards of this length?"""
    n, p2, p3, p4 = len(d), int(d[:2]), int(d[:3]), int(d[:4])
    if d[0] == "4":  # Visa (13-digit cards are long gone)
        return n in (16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p2 == 36 or 300 <= p3 <= 305 or p4 == 3095 or p2 in (38, 39):  # Diners Club
        return 14 <= n <= 19
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763):  # Maestro
        return 13 <= n <= 19
    # Discover, JCB, UnionPay, Mir
    return 16 <= n <= 19 and (
        p4 == 6011 or 644 <= p3 <= 649 or p2 in (62, 65) or 3528 <= p4 <= 3589 or 2200 <= p4 <= 2204
    )


@functools.cache
def _stdnum(module: str) -> Any:
    return importlib.import_module(f"stdnum.{module}")


def _stdnum_valid(module: str, value: str) -> bool:
    """python-stdnum's `is_valid` of `stdnum.<module>`, the module imported on first use."""
    return bool(_stdnum(module).is_valid(value))


_valid_ssn = functools.partial(_stdnum_valid, "us.ssn")
_valid_nir = functools.partial(_stdnum_valid, "fr.nir")
_valid_idnr = functools.partial(_stdnum_valid, "de.idnr")
_valid_bsn = functools.partial(_stdnum_valid, "nl.bsn")
_valid_aadhaar = functools.partial(_stdnum_valid, "in_.aadhaar")
_valid_dni = functools.partial(_stdnum_valid, "es.dni")
_valid_nie = functools.partial(_stdnum_valid, "es.nie")
_valid_cf = functools.partial(_stdnum_valid, "it.codicefiscale")


def _valid_nino(value: str) -> bool:
    return True  # no check digit exists; the regex already enforces the allocation rules


_LABELLED_VALIDATORS: Final = {
    "ssn": _valid_ssn,
    "bsn": _valid_bsn,
    "aadhaar": _valid_aadhaar,
    "idnr": _valid_idnr,
    "nir": _valid_nir,
    "dni": _valid_dni,
}
