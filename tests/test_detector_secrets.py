"""Secrets people paste: provider keys, connection strings, cloud credentials, private keys in
any PEM variant, and passwords assigned in code or config, however they are wrapped.

Fake credentials are assembled from pieces at run time so secret scanners do not flag this
file. Formats follow the providers' documentation and gitleaks' rules.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from router.decision._detectors import detect

B62 = string.ascii_letters + string.digits
B64 = B62 + "+/"
URLSAFE = B62 + "_-"
HEX = "0123456789abcdef"
UPPER32 = string.ascii_uppercase + "234567"


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def soup(rng: random.Random, n: int) -> str:
    """Random base62 with every character class, as real keys have."""
    while True:
        value = rand(rng, B62, n)
        if any(c.isupper() for c in value) and any(c.isdigit() for c in value):
            return value


def jwt(rng: random.Random) -> str:
    def part(obj: str) -> str:
        return base64.urlsafe_b64encode(obj.encode()).decode().rstrip("=")

    claims = part('{"sub":"' + rand(rng, string.digits, 10) + '","iat":1516239022}')
    return part('{"alg":"HS256","typ":"JWT"}') + "." + claims + "." + rand(rng, URLSAFE, 43)


# name -> a generator of one fresh secret of that format
TOKENS: dict[str, Callable[[random.Random], str]] = {
    "openai project": lambda r: "sk-" + "proj-" + soup(r, 48),
    "openai legacy": lambda r: "sk-" + soup(r, 48),
    "anthropic": lambda r: "sk-" + "ant-api03-" + rand(r, URLSAFE, 93) + "AA",
    "aws access key id": lambda r: "AK" + "IA" + rand(r, UPPER32, 16),
    "github classic": lambda r: "gh" + r.choice("pousr") + "_" + soup(r, 36),
    "github fine-grained": lambda r: "github" + "_pat_" + soup(r, 22) + "_" + soup(r, 59),
    "gitlab pat": lambda r: "gl" + "pat-" + soup(r, 20),
    "gitlab deploy": lambda r: "gl" + "dt-" + soup(r, 20),
    "gitlab runner": lambda r: "gl" + "rt-" + soup(r, 20),
    "gitlab trigger": lambda r: "gl" + "ptt-" + rand(r, HEX, 40),
    "slack bot": lambda r: (
        "xo" + "xb-" + rand(r, "123456789", 12) + "-" + rand(r, "123456789", 13) + "-" + soup(r, 24)
    ),
    "slack user": lambda r: (
        "xo" + "xp-" + "-".join(rand(r, "123456789", 12) for _ in range(3)) + "-" + rand(r, HEX, 32)
    ),
    "slack app": lambda r: (
        "xa"
        + "pp-1-A"
        + rand(r, UPPER32, 10)
        + "-"
        + rand(r, "0123456789", 13)
        + "-"
        + rand(r, HEX, 64)
    ),
    "stripe secret": lambda r: "sk" + "_live_" + soup(r, 24),
    "stripe restricted": lambda r: "rk" + "_live_" + soup(r, 24),
    "stripe webhook": lambda r: "wh" + "sec_" + soup(r, 32),
    "google api key": lambda r: "AI" + "za" + "Sy" + rand(r, URLSAFE, 33),
    "npm": lambda r: "np" + "m_" + soup(r, 36),
    "pypi": lambda r: "py" + "pi-AgEIcHlwaS5vcmc" + rand(r, URLSAFE, 70),
    "huggingface": lambda r: "hf" + "_" + rand(r, string.ascii_letters, 34),
}
WHOLE: dict[str, Callable[[random.Random], str]] = {
    **TOKENS,
    "jwt": jwt,
    "sendgrid": lambda r: "SG" + "." + rand(r, URLSAFE, 22) + "." + rand(r, URLSAFE, 43),
    "slack webhook": lambda r: "https://hooks.slack" + ".com/services/T" + rand(r, UPPER32, 9)
    + "/B" + rand(r, UPPER32, 9) + "/" + soup(r, 24),
}  # fmt: skip
CONTEXTS = [
    "Here is the key: {} - can you see why the call fails?",
    "export API_TOKEN='{}'",
    '{{"headers": {{"Authorization": "Bearer {}"}}}}',
    "config:\n  key: {}\n",
    "curl -H 'X-Api-Key: {}' https://api.example.com",
    'client = Client(key="{}")',
]


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(WHOLE)), context=st.sampled_from(CONTEXTS), seed=st.integers())
def test_secret_formats_are_found(name: str, context: str, seed: int) -> None:
    secret = WHOLE[name](random.Random(seed))
    assert detect(context.format(secret)).get("api_key", 0) >= 1


@settings(max_examples=120, deadline=None)
@given(name=st.sampled_from(sorted(TOKENS)), seed=st.integers(), at=st.floats(0.0, 1.0))
def test_a_zero_width_character_inside_a_key_does_not_hide_it(
    name: str, seed: int, at: float
) -> None:
    secret = TOKENS[name](random.Random(seed))
    cut = 1 + int(at * (len(secret) - 2))
    mark = random.Random(seed).choice(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"])
    assert detect("key " + secret[:cut] + mark + secret[cut:] + " ok") == {"api_key": 1}


@settings(max_examples=120, deadline=None)
@given(name=st.sampled_from(sorted(TOKENS)), seed=st.integers(), at=st.floats(0.0, 1.0))
def test_a_key_wrapped_over_two_lines_is_found(name: str, seed: int, at: float) -> None:
    secret = TOKENS[name](random.Random(seed))
    cut = 1 + int(at * (len(secret) - 2))
    # one of the two lines is a run of 16+ (a 20-character AWS key id cut 10/10 is not read)
    assume(max(cut, len(secret) - cut) >= 16 and cut >= 4)
    text = "my key is " + secret[:cut] + "\n" + secret[cut:] + "\nthanks"
    assert detect(text) == {"api_key": 1}


# --- issue 13 -----------------------------------------------------------------------------
R = "Ab3dEf7hIj9kLm1nOp2qRs4tUv6wXy8zAb0cDe5fGh"
KEY_BODY = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi8q1w2e3r4t5y6u7i8"
BEGIN_RSA = "-----BEGIN RSA " + "PRIVATE KEY-----"
ISSUE = [
    ("pem on one line",
     f"{BEGIN_RSA} {KEY_BODY} x1y2z3w4v5u6t7s8r9q0 -----END RSA PRIVATE KEY-----"),
    ("pem lower-case header",
     "-----begin private " + f"key-----\n{KEY_BODY}\n-----end private key-----"),
    ("pem four dashes",
     "----BEGIN EC PRIVATE " + f"KEY----\n{KEY_BODY}\n----END EC PRIVATE KEY----"),
    ("api key wrapped", "here: " + "sk-" + "proj-" + R[:20] + "\n" + R[20:] + R[:16] + "\nthanks"),
    ("api key with zero-width", "key " + "gh" + "p_" + R[:20] + "\u200b" + R[20:36] + " ok"),
    ("postgres url", "use postgres://" + "app_user:" + "password@db.internal:5432/orders"),
    ("azure AccountKey", "DefaultEndpointsProtocol=https;AccountName=acme;" + "Account" + "Key="
     + (R * 3)[:86] + "==;EndpointSuffix=core.windows.net"),
    ("slack webhook", "post to https://hooks.slack" + ".com/services/T0ABC1234/B0DEF5678/"
     + R[:24]),
    ("sendgrid", "SENDGRID=" + "SG" + "." + R[:22] + "." + (R + R)[:43]),
    ("password with symbols", 'password = "' + "p@ss!w0rd#2024" + '"'),
    ("password shaped like a call", "DB_PASSWD=" + "dgPUAsr(%7*2xK1qb)" + " ok"),
]  # fmt: skip


@pytest.mark.parametrize("text", [t for _, t in ISSUE], ids=[n for n, _ in ISSUE])
def test_issue_secrets_are_found(text: str) -> None:
    found = detect(text)
    assert found.get("api_key", 0) + found.get("private_key", 0) == 1, found


# --- private keys -------------------------------------------------------------------------

LABELS = [
    "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK",
]  # fmt: skip
BODY_STARTS = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MIIEowIBAAKCAQEA", "b3BlbnNzaC1rZXktdjEAAAAA"]


@settings(max_examples=120, deadline=None)
@given(
    label=st.sampled_from(LABELS),
    dashes=st.sampled_from(["-----", "----"]),
    case=st.sampled_from(["upper", "lower", "title"]),
    newline=st.sampled_from(["\n", "\r\n", " ", "\\n", "\\r\\n"]),
    start=st.sampled_from(BODY_STARTS),
    seed=st.integers(),
    wrapper=st.sampled_from(["{}", '{{"private_key": "{}"}}', "key:\n```\n{}\n```", "  {}"]),
)
def test_private_keys_in_any_pem_variant(
    *, label: str, dashes: str, case: str, newline: str, start: str, seed: int, wrapper: str
) -> None:
    rng = random.Random(seed)
    lines = [start + rand(rng, B64, 64 - len(start))] + [rand(rng, B64, 64) for _ in range(3)]
    begin = getattr(f"{dashes}BEGIN {label}{dashes}", case)()
    end = getattr(f"{dashes}END {label}{dashes}", case)()
    block = newline.join([begin, *lines, end])
    assert detect(wrapper.format(block)) == {"private_key": 1}


def test_encrypted_pem_with_armor_headers() -> None:
    block = "\n".join([
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "Proc-Type: 4,ENCRYPTED",
        "DEK-Info: AES-128-CBC,3F17F5316E2BAC89",
        "",
        R + R[:22],
        "-----END RSA PRIVATE KEY-----",
    ])  # fmt: skip
    assert detect(block) == {"private_key": 1}


@pytest.mark.parametrize("body", BODY_STARTS, ids=["pkcs8", "pkcs1", "openssh"])
def test_key_body_without_its_header(body: str) -> None:
    assert detect("the key is " + body + R + "\nplease check") == {"private_key": 1}


# --- connection strings -------------------------------------------------------------------

SCHEMES = ["postgres", "postgresql", "mysql", "mongodb", "mongodb+srv", "redis", "rediss",
           "amqp", "amqps", "https", "ftp"]  # fmt: skip
PASSWORD_CHARS = B62 + "!$*-_.~"


@settings(max_examples=100, deadline=None)
@given(
    scheme=st.sampled_from(SCHEMES), seed=st.integers(), user=st.sampled_from(["", "app", "u-1"])
)
def test_connection_strings_with_a_password(scheme: str, seed: int, user: str) -> None:
    password = rand(random.Random(seed), PASSWORD_CHARS, 12)
    url = f"{scheme}://{user}:{password}@db-1.internal.example.com:5432/app?ssl=true"
    assert detect(f"DATABASE_URL={url}") == {"api_key": 1}


# --- assignments --------------------------------------------------------------------------

NAMES = [
    "password", "passwd", "pwd", "secret", "token", "api_key", "client_secret", "DB_PASSWORD",
    "dbPassword", "clientSecret", "accessToken", "SECRET_KEY", "apiKey",
]  # fmt: skip
SYNTAX = [
    '{} = "{}"', "{}={}", "{}: {}", '"{}": "{}"', "{} => '{}'", "--{}={}", "{}: '{}'",
    'connect({}="{}")', "set {} {}={}",
]  # fmt: skip
SYMBOLS = "!@#$%^&*+=?~"


@st.composite
def passwords(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers()))
    core = list(rand(rng, string.ascii_letters, 6) + rand(rng, string.digits, 2))
    core += [rng.choice(SYMBOLS) for _ in range(draw(st.integers(1, 4)))]
    rng.shuffle(core)
    return rng.choice(string.ascii_letters) + "".join(core)  # "==x" or "$x" would be code


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(NAMES), syntax=st.sampled_from(SYNTAX), value=passwords())
def test_assigned_secrets_with_symbols(name: str, syntax: str, value: str) -> None:
    line = syntax.format(*(["x", name, value] if syntax.startswith("set") else [name, value]))
    assert detect(line).get("api_key", 0) == 1


NOT_SECRETS = [
    ("template ${}", "password: ${DB_PASSWORD}"),
    ("template <>", 'password = "<password>"'),
    ("template {}", "password={password}"),
    ("template {{}}", "password: '{{ vault_password }}'"),
    ("mask", 'password: "********"'),
    ("env lookup", 'password = os.environ["DB_PASSWORD"]'),
    ("config lookup", "SECRET_KEY = settings.SECRET_KEY"),
    ("call", "token = get_token_from_vault2()"),
    ("type annotation", "password: str = Field(min_length=8)"),
    ("json schema", '"password": {"type": "string", "minLength": 8}'),
    ("dictionary word", 'password = "sunshine"'),
    ("word and digits", 'password: "password123"'),
    ("placeholder", 'api_key = "your-api-key-here"'),
    ("tokenizer", 'tokenizer.pad_token = "<|endoftext|>"'),
    ("token count", "max_tokens: 4096, token_budget=12000"),
    ("prose", "Password: must have 12+ characters, one digit and one symbol."),
    ("path", "secret_file: /run/secrets/db_password"),
    ("url template", "postgres://app:${PGPASSWORD}@db/app and mysql://root:***@localhost/x"),
    ("url without password", "https://user@example.com/path and ssh://git@host/repo"),
    ("public key", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
     "-----END PUBLIC KEY-----"),
    ("placeholder pem", "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----"),
    ("filler pem", "-----BEGIN PRIVATE KEY-----\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n"
     "-----END PRIVATE KEY-----"),
    ("sas word", "the sig= parameter and a signature"),
    ("comparison", 'if password == "p@ss!w0rd#2024": pass'),
]  # fmt: skip


@pytest.mark.parametrize("text", [t for _, t in NOT_SECRETS], ids=[n for n, _ in NOT_SECRETS])
def test_placeholders_and_code_are_not_secrets(text: str) -> None:
    assert detect(text) == {}


def test_credentialed_url_is_a_key_not_an_email() -> None:
    assert detect("mongodb+srv://app:" + "Xy7pQ2w9" + "@cluster0.abcde.mongodb.net/db") == {
        "api_key": 1
    }


def test_azure_sas_signature_in_a_url() -> None:
    url = "https://acme.blob.core.windows.net/c/report.pdf?sv=2022-11-02&sr=b&sp=r&sig="
    assert detect(url + R[:40] + "%2B" + R[:3] + "%3D") == {"api_key": 1}


def test_aws_secret_access_key_assignment() -> None:
    assert detect("aws_secret_access_key = " + R[:20] + "/" + R[20:39]) == {"api_key": 1}


# --- wrapped once, anywhere ---------------------------------------------------------------


def _url(rng: random.Random) -> tuple[str, int, int]:
    scheme = rng.choice(["postgres", "mysql", "mongodb+srv", "redis", "amqp"])
    user = rand(rng, string.ascii_lowercase, rng.randint(3, 12))
    password = rand(rng, B62, 8) + rng.choice("!$*-_.~") + rand(rng, B62, 5)
    url = f"{scheme}://{user}:{password}@db-1.internal:5432/app"
    return url, url.index("://") + 3, url.index("@") + 1  # a break anywhere in the userinfo


def _whole(name: str, first: int) -> Callable[[random.Random], tuple[str, int, int]]:
    def make(rng: random.Random) -> tuple[str, int, int]:
        value = WHOLE[name](rng)
        return value, first, len(value) - 1

    return make


def _assigned(head: str, tail: str = "") -> Callable[[random.Random], tuple[str, int, int]]:
    """`head` + a password with symbols + `tail`; a break anywhere in the name or the value
    (the first two characters of the name and the closing quote excepted)."""

    def make(rng: random.Random) -> tuple[str, int, int]:
        value = head + "Kx#9" + soup(rng, 10) + "!" + tail
        return value, 2, len(value) - len(tail)

    return make


# name -> a fresh value, and the first and last index a line break may go before
WRAPPED: dict[str, Callable[[random.Random], tuple[str, int, int]]] = {
    "sendgrid": _whole("sendgrid", 3),
    "slack webhook": _whole("slack webhook", 1),
    "connection url": _url,
    "password assignment": _assigned('password = "', '"'),
    "env assignment": _assigned("DB_PASSWD="),
    "json secret": _assigned('"client_secret": "', '"'),
    "aws secret": _assigned("aws_secret_access_key = "),
}


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(WRAPPED)), seed=st.integers(), at=st.floats(0.0, 1.0))
def test_secrets_wrapped_once_anywhere_are_found(name: str, seed: int, at: float) -> None:
    secret, first, last = WRAPPED[name](random.Random(seed))
    cut = first + int(at * (last - first))
    text = "Here it is: " + secret[:cut] + "\n" + secret[cut:] + " -- thanks"
    assert detect(text) == {"api_key": 1}


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_sendgrid_key_first_then_a_line_break(newline: str) -> None:
    key = WHOLE["sendgrid"](random.Random(3))
    assert detect(key + newline + "Please rotate it.") == {"api_key": 1}


NOT_WRAPPED_SECRETS = [
    ("env, empty value then next key", "DB_PASSWORD=\nDB_HOST=localhost\n"),
    ("yaml mapping under a secret's name", "password:\n  secure: true\n  rotate: 30d\n"),
    ("short value then a command", "PASSWORD=hunter2\ndocker-compose up -d\n"),
    ("value then code", "token = abc\nreturn token\n"),
    ("setext heading", "Password\n========\nChoose a long one."),
    ("url, then an e-mail on the next line", "See https://example.com\nContact:jane@example.org"),
]


@pytest.mark.parametrize(
    "text", [t for _, t in NOT_WRAPPED_SECRETS], ids=[n for n, _ in NOT_WRAPPED_SECRETS]
)
def test_line_breaks_do_not_join_unrelated_lines(text: str) -> None:
    assert "api_key" not in detect(text)
