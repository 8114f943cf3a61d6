"""The measuring instruments of issue 13: `scripts/detection_corpus.py` (seeded recall corpus)
and `scripts/detection_false_positives.py` (false alarms on the shared routing data).

Checked here: the generator is deterministic, its values pass their own checksums, each
transform does what its name says and keeps the value recoverable, and both reports have the
right shape. The recall and false-positive figures themselves are not asserted: they measure
the detectors (see benchmarks/README.md, "Detection: recall corpus and false positives").
"""

from __future__ import annotations

import base64
import json
import random
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import ssn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import _detection_positions as pos  # type: ignore[import-not-found]
import _detection_transforms as tr  # type: ignore[import-not-found]
import _detection_values as dv  # type: ignore[import-not-found]
import detection_corpus as dc  # type: ignore[import-not-found]
import detection_false_positives as fp  # type: ignore[import-not-found]

KINDS = list(dc.FORMATS)
CARD = dv.Sample("payment_card", "visa16", ("4111", "1111", "1111", "1111"), " ", "digits")


def _formats(kind: str) -> list[Any]:
    return list(dc.FORMATS[kind])


def _ids(formats: list[Any]) -> list[str]:
    return [f.name for f in formats]


def _samples(fmt: Any, n: int = 10) -> list[Any]:
    return [fmt.make(random.Random(f"test/{fmt.name}/{i}")) for i in range(n)]


def _key(text: str) -> str:
    return "".join(c for c in text if c.isalnum()).upper()


def _recover(text: str) -> str:
    """What a normalising reader sees: escapes decoded, NFKC, every decimal digit as ASCII,
    format characters (zero-width, BOM, soft hyphen) dropped; letters and digits only."""
    text = text.replace("\\n", "\n")
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(
        str(unicodedata.decimal(c)) if unicodedata.decimal(c, None) is not None else c
        for c in text
        if unicodedata.category(c) != "Cf"
    )
    return _key(text)


# --- values -------------------------------------------------------------------------------------


def test_own_checksums_accept_valid_and_reject_altered_values() -> None:
    assert dv.luhn_ok("4111111111111111")
    assert not dv.luhn_ok("4111111111111112")
    assert dv.iban_ok("DE89 3704 0044 0532 0130 00")
    assert not dv.iban_ok("DE88 3704 0044 0532 0130 00")


@pytest.mark.parametrize("kind", KINDS)
def test_generator_is_deterministic_for_a_seed(kind: str) -> None:
    def cases(seed: int) -> list[tuple[str, str, str]]:
        return [(c.row, c.sample.value, repr(c.built)) for c in dc.cases(kind, seed, 1)]

    first = cases(0)
    assert first == cases(0)
    assert first != cases(1)


@pytest.mark.parametrize("fmt", _formats("payment_card"), ids=_ids(_formats("payment_card")))
def test_cards_pass_luhn(fmt: Any) -> None:
    for s in _samples(fmt):
        digits = "".join(s.groups)
        assert dv.luhn_ok(digits), s.fmt
        assert len(digits) in (14, 15, 16, 19)


@pytest.mark.parametrize("fmt", _formats("iban"), ids=_ids(_formats("iban")))
def test_ibans_pass_mod_97(fmt: Any) -> None:
    for s in _samples(fmt):
        assert dv.iban_ok(s.value)
        assert s.value[:2] == fmt.name[-2:]


_ID_CHECKS = {
    "us-ssn": ssn.is_valid,
    "gb-nino": lambda v: re.fullmatch(r"[A-Z]{2} [0-9]{2} [0-9]{2} [0-9]{2} [A-D]", v),
    "fr-nir": nir.is_valid,
    "de-steuer-id": idnr.is_valid,
    "nl-bsn": bsn.is_valid,
    "in-aadhaar": aadhaar.is_valid,
    "es-dni": dni.is_valid,
    "es-nie": nie.is_valid,
    "it-codice-fiscale": codicefiscale.is_valid,
}


@pytest.mark.parametrize("fmt", _formats("national_id"), ids=_ids(_formats("national_id")))
def test_national_ids_pass_their_check_digits(fmt: Any) -> None:
    for s in _samples(fmt):
        assert _ID_CHECKS[fmt.name](s.value), fmt.name
        assert s.label  # written with the label people use


def test_phones_are_valid_numbers() -> None:
    for fmt in _formats("phone"):
        region = fmt.name.split("-")[1]
        for s in _samples(fmt, 3):
            number = phonenumbers.parse(s.value, region)
            assert phonenumbers.is_valid_number(number), fmt.name


def test_secrets_have_their_prefixes_and_random_bodies() -> None:
    prefixes = {"openai-proj": "sk-" + "proj-", "aws-key-id": "AK" + "IA", "gitlab": "glpat-"}
    for fmt in _formats("api_key"):
        a, b = _samples(fmt, 2)
        assert a.value != b.value, fmt.name
        assert a.value.startswith(prefixes.get(fmt.name, "")), fmt.name
    for fmt in _formats("private_key"):
        (s,) = _samples(fmt, 1)
        assert s.groups[0].startswith("-----BEGIN ")
        assert s.groups[-1].startswith("-----END ")


# --- transforms -----------------------------------------------------------------------------------


# one sample of every format: the pool each transform is tried on
POOL = [s for kind in KINDS for fmt in dc.FORMATS[kind] for s in _samples(fmt, 1)]


@pytest.mark.parametrize("t", tr.TRANSFORMS, ids=[t.name for t in tr.TRANSFORMS])
def test_every_transform_applies_and_keeps_the_value_recoverable(t: Any) -> None:
    samples = [s for s in POOL if t.applies(s)]
    assert samples, f"{t.name} applies to no format: a dead row"
    rendered = [(s, t.render(s, random.Random(1))) for s in samples]
    assert t.name == "plain" or any(text != s.text for s, text in rendered)
    for s, text in rendered:
        if t.name != "pem:truncated":  # cut short by design
            assert _key(s.value) in _recover(text), (t.name, s.fmt)


@pytest.mark.parametrize("name", list(tr.SEPARATORS))
def test_separator_transforms_join_the_groups_with_their_character(name: str) -> None:
    t = next(t for t in tr.TRANSFORMS if t.name == f"sep:{name}")
    assert t.render(CARD, random.Random(0)) == tr.SEPARATORS[name].join(CARD.groups)


@pytest.mark.parametrize("name", list(tr.INVISIBLES))
def test_invisible_characters_go_inside_the_value(name: str) -> None:
    t = next(t for t in tr.TRANSFORMS if t.name == f"insert:{name}")
    char = tr.INVISIBLES[name]
    rendered = t.render(CARD, random.Random(0))
    assert rendered.count(char) == 1
    assert 0 < rendered.index(char) < len(CARD.text)
    assert rendered.replace(char, "") == CARD.text


@pytest.mark.parametrize("name", list(tr.DIGIT_SCRIPTS))
def test_digit_scripts_replace_every_ascii_digit(name: str) -> None:
    rendered = tr.to_script(CARD.text, name)
    assert not any(c in "0123456789" for c in rendered)
    assert "".join(str(unicodedata.decimal(c)) for c in rendered if c != " ") == CARD.token


def test_json_u_escapes_digits_that_json_decodes_back() -> None:
    rendered = tr.json_u(CARD.text)
    assert "\\u0034\\u0031" in rendered
    assert json.loads(f'"{rendered}"') == CARD.text


def test_case_and_pem_transforms_change_what_they_name() -> None:
    by_name = {t.name: t for t in tr.TRANSFORMS}
    iban = dv.Sample(
        "iban", "iban-DE", ("DE89", "3704", "0044", "0532", "0130", "00"), " ", "alnum"
    )
    assert by_name["case:lower"].render(iban, random.Random(0)) == iban.text.lower()
    (pem,) = _samples(_formats("private_key")[0], 1)
    rng = random.Random(0)
    assert "\n" not in by_name["pem:one-line"].render(pem, rng)
    assert by_name["pem:four-dashes"].render(pem, rng).startswith("----BEGIN")
    assert by_name["case:pem-header-lower"].render(pem, rng).startswith("-----begin ")
    escaped = by_name["pem:json-escaped"].render(pem, rng)
    assert "\\n" in escaped
    assert "\n" not in escaped
    assert "\r\n" in by_name["pem:crlf"].render(pem, rng)


# --- positions ------------------------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    """Every string a request carries, in order (file payloads decoded; ints as digits;
    dict keys that are not field names, i.e. not identifiers)."""
    if isinstance(value, dict):
        return [
            s
            for k, v in value.items()
            if k not in ("type", "role")
            for s in ([] if k.isidentifier() else [k]) + _strings(v)
        ]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, str) and value.startswith("data:text/plain;base64,"):
        return [base64.b64decode(value.split(",", 1)[1]).decode()]
    return [str(value)] if isinstance(value, str | int) else []


@pytest.mark.parametrize("p", pos.POSITIONS, ids=[p.name for p in pos.POSITIONS])
def test_every_position_carries_the_value(p: Any) -> None:
    assert p.applies(CARD)
    built = p.build(CARD, random.Random(0))
    assert _key(CARD.value) in _recover("".join(_strings(built)))


def test_one_token_fields_skip_what_they_cannot_hold() -> None:
    by_name = {p.name: p for p in pos.POSITIONS}
    (pem,) = _samples(_formats("private_key")[0], 1)
    bsn_sample = next(f for f in _formats("national_id") if f.name == "nl-bsn").make(
        random.Random(0)
    )
    assert not by_name["field:name"].applies(pem)
    assert not by_name["field:name"].applies(bsn_sample)  # a bare 9-digit number is no BSN
    assert not by_name["param:seed"].applies(bsn_sample)
    assert by_name["param:user"].applies(bsn_sample)


# --- the corpus report ----------------------------------------------------------------------------


def test_a_small_run_returns_per_kind_figures(tmp_path: Path) -> None:
    out = tmp_path / "corpus.json"
    rc = dc.main(["--per-cell", "1", "--kinds", "payment_card", "api_key", "--json", str(out)])
    figures = json.loads(out.read_text())
    assert rc == 0  # a report, unless --check
    assert set(figures["kinds"]) == {"payment_card", "api_key"}
    card = figures["kinds"]["payment_card"]
    assert {"plain", "sep:nbsp", "digits:fullwidth"} <= set(card["transforms"])
    assert {"split:two-text-parts", "param:seed", "field:tool_call_id"} <= set(card["positions"])
    rows = [*card["transforms"].values(), *card["positions"].values()]
    assert card["cases"] == sum(r["cases"] for r in rows) == len(rows)
    assert card["cases"] == sum(f["cases"] for f in card["formats"].values())
    assert 0 <= card["recall"] <= 100
    assert card["pass"] == (card["recall"] >= dc.TARGET)
    assert set(figures["controls_flagged"]) == {p.name for p in pos.POSITIONS}


def test_check_fails_exactly_when_a_kind_is_under_target(tmp_path: Path) -> None:
    out = tmp_path / "corpus.json"
    rc = dc.main(["--per-cell", "1", "--kinds", "email", "--json", str(out), "--check"])
    assert rc == (0 if json.loads(out.read_text())["kinds"]["email"]["pass"] else 1)


def test_examples_are_masked() -> None:
    shown = dc.masked(CARD)
    assert shown.startswith("'4111'")
    assert CARD.value not in shown
    assert "1111 1111" not in shown


# --- the false-positive report --------------------------------------------------------------------

# The counts the data's README gives for each source.
SOURCE_SIZES = {"routellm-mmlu": 14042, "routerbench-train": 2225, "alpacaeval2": 804}


@pytest.mark.skipif(
    not Path(fp.DEFAULT_DATA).is_dir(),
    reason="../shared/routing-data is absent (as in test_answers)",
)
@pytest.mark.parametrize("source", list(fp.SOURCES))
def test_every_shared_data_source_parses(source: str) -> None:
    prompts = list(fp.SOURCES[source](fp.DEFAULT_DATA))
    assert len(prompts) == SOURCE_SIZES[source]
    assert all(p.text.strip() and p.source == source for p in prompts)
    assert len({p.row for p in prompts}) == len(prompts)
    assert not any(p.text.startswith("['") for p in prompts)  # RouterBench lists unwrapped


def test_flagged_prompts_are_listed_with_a_masked_excerpt() -> None:
    card = "4111 1111 1111 1111"
    prompts = [
        fp.Prompt("s", "r1", f"Refund the order paid with {card} by Friday, please."),
        fp.Prompt("s", "r2", "Reply to jane.roe@example.com about the delivery."),
        fp.Prompt("s", "r3", "Name three rivers that flow through more than one country."),
    ]
    s = fp.run(iter(prompts))["s"]
    assert (s.prompts, s.any, s.internal, s.confidential) == (3, 2, 1, 1)
    (flag,) = s.flagged
    assert (flag["row"], flag["kinds"]) == ("r1", "payment_card")
    assert "[4111 11" in flag["excerpt"]
    assert card not in flag["excerpt"]


def test_mask_keeps_the_start_and_the_last_two_characters() -> None:
    assert fp.mask("4111 1111 1111 1111") == "4111 11•• •••• ••11"


def test_missing_data_folder_is_an_error_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fp.main(["--data", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
