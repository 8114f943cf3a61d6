"""Fake secrets for the detection corpus: API keys, tokens, connection strings, assignments
and PEM private keys, each with a random body in its real format (seeded).

The templates are split with "|" so that secret scanners do not flag this file; the bodies
follow the formats detect-secrets and gitleaks document (lengths, alphabets, prefixes).
"""

from __future__ import annotations

import base64
import functools
import random
import re
import string
from collections.abc import Callable

from _detection_values import B62, B64URL, Format, Sample, faker, rand

from router._models import DetectorKind

# --- API keys and secrets ---------------------------------------------------------------------


def _b64(rng: random.Random, n_bytes: int) -> str:
    return base64.b64encode(rng.randbytes(n_bytes)).decode()


def _jwt(rng: random.Random) -> str:
    def part(raw: str) -> str:
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    head = part('{"alg":"HS256","typ":"JWT"}')
    body = part(
        f'{{"sub":"{rng.randrange(10**9)}","name":"{faker("en_US", rng).name()}",'
        f'"iat":{rng.randrange(1_600_000_000, 1_800_000_000)}}}'
    )
    sig = base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
    return f"{head}.{body}.{sig}"


def _password(rng: random.Random) -> str:
    return faker("en_US", rng).password(length=rng.randint(12, 20), special_chars=True)


def _url(scheme: str, rng: random.Random) -> str:
    fake = faker("en_US", rng)
    pw = _password(rng).replace("@", "!").replace("/", "#").replace(":", "%")
    host = (
        f"{fake.domain_word()}.{rng.choice(('internal', 'prod.example.net', 'rds.amazonaws.com'))}"
    )
    return f"{scheme}://{fake.user_name()}:{pw}@{host}:{rng.randint(1025, 65535)}/{fake.word()}"


# Templates: "|" only splits literals (so scanners do not flag this file); {x:N} is N random
# characters of alphabet x, {b64:N} the base64 of N random bytes.
_ALPHABETS = {
    "u": B64URL,
    "a": B62,
    "A": string.ascii_uppercase + string.digits,
    "B": "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
    "L": string.ascii_letters,
    "d": string.digits,
    "s": B62 + "+/",
}
_TEMPLATE_RE = re.compile(r"\{(\w+):(\d+)\}")
_SECRETS: dict[str, str] = {
    "openai-proj": "sk-|proj-{u:74}T3Blbk|FJ{u:74}",
    "openai-legacy": "sk-|{a:20}T3Blbk|FJ{a:20}",
    "anthropic": "sk-|ant-api03-{u:93}AA",
    "aws-key-id": "AK|IA{B:16}",
    "github-classic": "gh|p_{a:36}",
    "github-fine": "github|_pat_{a:22}_{a:59}",
    "gitlab": "gl|pat-{u:20}",
    "slack-bot": "xo|xb-{d:12}-{d:13}-{a:24}",
    "slack-webhook": "https://hooks.slack.com/|services/T{A:8}/B{A:10}/{a:24}",
    "stripe-live": "sk|_live_{a:24}",
    "sendgrid": "S|G.{u:22}.{u:43}",
    "google": "AI|za{u:35}",
    "huggingface": "h|f_{L:34}",
    "azure-account-key": "DefaultEndpointsProtocol=https;AccountName=corpdata{d:4};"
    "Account|Key={b64:64};EndpointSuffix=core.windows.net",
}
_FUNCTIONS: dict[str, Callable[[random.Random], str]] = {
    "jwt": _jwt,
    **{
        f"{s.split('+')[0]}{'-srv' if '+' in s else ''}-url": functools.partial(_url, s)
        for s in ("postgres", "mysql", "mongodb+srv", "redis", "amqp")
    },
}
_ASSIGNMENTS: dict[str, str] = {
    "aws-secret-assign": "aws_secret_access_key = {s:40}",
    "password-assign": 'password = "{pw}"',
    "passwd-assign": "DB_PASSWD={pw}",
    "secret-json": '"client_secret": "{pw}"',
}


def _fill(template: str, rng: random.Random) -> str:
    def one(m: re.Match[str]) -> str:
        name, n = m.group(1), int(m.group(2))
        return _b64(rng, n) if name == "b64" else rand(rng, _ALPHABETS[name], n)

    filled = _TEMPLATE_RE.sub(one, template.replace("|", ""))
    return filled.replace("{pw}", _password(rng)) if "{pw}" in filled else filled


def _secret(name: str, rng: random.Random) -> Sample:
    if name in _ASSIGNMENTS:
        return Sample("api_key", name, (_fill(_ASSIGNMENTS[name], rng),), "", "assign")
    value = _FUNCTIONS[name](rng) if name in _FUNCTIONS else _fill(_SECRETS[name], rng)
    return Sample("api_key", name, (value,), "", "token")


# --- private keys ----------------------------------------------------------------------------
# Real DER openings (PKCS#1 RSA, PKCS#8, SEC1 EC, openssh-key-v1, PKCS#8 encrypted) + random.
_RSA_OID = "300d06092a864886f70d01010105"
_PBES2_OID = "305006092a864886f70d01050d"
_PEMS: dict[str, tuple[str, bytes, int, int]] = {
    "pem-rsa": ("RSA PRIVATE KEY", bytes.fromhex("308204a40201000282010100"), 1180, 64),
    "pem-pkcs8": ("PRIVATE KEY", bytes.fromhex("308204be020100" + _RSA_OID), 1200, 64),
    "pem-ec": ("EC PRIVATE KEY", bytes.fromhex("30770201010420"), 112, 64),
    "pem-openssh": ("OPENSSH PRIVATE KEY", b"openssh-key-v1\x00\x00\x00\x00\x04none", 380, 70),
    "pem-encrypted": ("ENCRYPTED PRIVATE KEY", bytes.fromhex("30820526" + _PBES2_OID), 1280, 64),
}


def _pem(name: str, rng: random.Random) -> Sample:
    label, head, n_random, width = _PEMS[name]
    body = base64.b64encode(head + rng.randbytes(n_random)).decode()
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    groups = (f"-----BEGIN {label}-----", *lines, f"-----END {label}-----")
    return Sample("private_key", name, groups, "\n", "pem")


def secret_formats() -> dict[DetectorKind, tuple[Format, ...]]:
    names = (*_SECRETS, *_FUNCTIONS, *_ASSIGNMENTS)
    return {
        "api_key": tuple(Format("api_key", n, functools.partial(_secret, n)) for n in names),
        "private_key": tuple(Format("private_key", n, functools.partial(_pem, n)) for n in _PEMS),
    }
