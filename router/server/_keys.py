"""Client API keys -> tenants: hashing, and checking a presented key in constant time.

A key is configured by the environment variable that holds it (`key_env`) or by a salted
hash (`key_hash = "sha256:SALT:HEX"`, HMAC-SHA256 of the key keyed by the salt), never in
clear. Why HMAC-SHA256 and not scrypt or PBKDF2: client keys are random tokens of 128+
bits (`new_key()` makes 192), which no dictionary holds, so a slow hash adds nothing but
CPU time on every request (PBKDF2 at a safe work factor costs ~100 ms). GitHub and Stripe
store their API tokens the same way. A person's password would need a slow hash; a
router key is not one, and the docs say so.

Every check costs the same whatever the key presented: environment keys are hashed with a
salt drawn at start-up, so all comparisons are of 32-byte digests (`hmac.compare_digest`),
and every configured key is compared, with no early exit, so the time does not say which
key (or how much of one) matched.

>>> key, line = new_key()
>>> ring = KeyRing([Entry("acme", *parse_hash(line))])
>>> ring.tenant_of(key), ring.tenant_of(key + "x"), ring.tenant_of("")
('acme', None, None)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from router.decision import KEY_HASH, ServerSettings
from router.errors import ConfigError

__all__ = ["MIN_ENV_KEY", "Entry", "KeyRing", "hash_key", "new_key", "parse_hash"]

MIN_ENV_KEY = 20
"""The shortest key an environment variable may hold (characters)."""
_PREFIX = "rk-"


class Entry(NamedTuple):
    """One configured key: its tenant, the salt, and HMAC-SHA256(salt, key)."""

    tenant: str
    salt: bytes
    digest: bytes


def hash_key(key: str, salt: bytes | None = None) -> str:
    """The `key_hash` line of `key`: `sha256:SALT:HEX` (a new 16-byte salt unless given).

    >>> hash_key("rk-example", bytes(16))[:50]
    'sha256:00000000000000000000000000000000:cde2f2576e'
    """
    salt = os.urandom(16) if salt is None else salt
    digest = hmac.new(salt, key.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"sha256:{salt.hex()}:{digest}"


def new_key() -> tuple[str, str]:
    """A new random client key (192 bits) and its `key_hash` line."""
    key = _PREFIX + secrets.token_urlsafe(24)
    return key, hash_key(key)


def parse_hash(line: str) -> tuple[bytes, bytes]:
    """(salt, digest) of a `sha256:SALT:HEX` line; ValueError for anything else."""
    found = KEY_HASH.match(line)
    if found is None:
        raise ValueError("not a sha256:SALT:HEX key hash")
    return bytes.fromhex(found.group(1)), bytes.fromhex(found.group(2))


class KeyRing:
    """The configured keys; `tenant_of(presented)` says whose a key is, or None."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = tuple(entries)

    @classmethod
    def of(cls, settings: ServerSettings, source: str, env: Mapping[str, str]) -> KeyRing:
        """The keys of a `[server]` table, environment keys read from `env` now. A key
        variable unset or too short is a ConfigError naming it (never its value)."""
        entries = []
        for i, key in enumerate(settings.keys):
            if key.key_hash is not None:
                entries.append(Entry(key.tenant, *parse_hash(key.key_hash)))
                continue
            assert key.key_env is not None  # the table's validator: one of the two
            value = env.get(key.key_env, "")
            where = f"server.keys[{i}].key_env"
            if not value:
                raise ConfigError(
                    source, where, f"${key.key_env} is not set; export the client key in it"
                )
            if len(value) < MIN_ENV_KEY:
                raise ConfigError(
                    source,
                    where,
                    f"${key.key_env} holds fewer than {MIN_ENV_KEY} characters; use a random "
                    "key (python -m router serve --new-key TENANT makes one)",
                )
            salt = os.urandom(16)
            digest = hmac.new(salt, value.encode("utf-8"), hashlib.sha256).digest()
            entries.append(Entry(key.tenant, salt, digest))
        return cls(entries)

    def tenant_of(self, presented: str) -> str | None:
        """The tenant of the key presented, or None; the same work for any key."""
        raw = presented.encode("utf-8", errors="surrogateescape")
        found: str | None = None
        for entry in self.entries:
            digest = hmac.new(entry.salt, raw, hashlib.sha256).digest()
            if hmac.compare_digest(digest, entry.digest) and found is None:
                found = entry.tenant
        return found if presented else None
