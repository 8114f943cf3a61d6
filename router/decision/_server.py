"""The `[server]` table of the config: how `python -m router serve` listens, whom it
serves (client keys -> tenants) and which model names clients may send.

Defined in the decision layer with the rest of the tree (`RouterConfig.server`), so one
file configures the library and the server and `python -m router check` checks both; the
server itself (`router.server`, Starlette and uvicorn) is imported only by `serve`.

Keys are never written in clear: a `[[server.keys]]` table names the environment
variable that holds the key (`key_env`), or gives a salted hash of it (`key_hash`,
`sha256:SALT:HEX`, which `python -m router serve --new-key TENANT` prints). Messages
about a key never show its value: a key pasted into `key_hash` by mistake must not end
up in a terminal or a log.

>>> s = ServerSettings(keys=[{"tenant": "acme", "key_env": "ACME_ROUTER_KEY"}])
>>> s.host, s.port, s.keys[0].tenant
('127.0.0.1', 8000, 'acme')
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, model_validator

from router._validation import Section
from router.decision._scoring import ObjectiveName

__all__ = [
    "DEFAULT_MODEL",
    "KEY_HASH",
    "ClientKey",
    "ModelRoute",
    "ServerSettings",
    "is_loopback",
]

DEFAULT_MODEL = "router"
"""The model name that means "the config as it is" (always listed by `GET /v1/models`)."""

KEY_HASH = re.compile(r"^sha256:([0-9a-f]{32,128}):([0-9a-f]{64})$")
"""`sha256:SALT:HEX`: HMAC-SHA256 of the key with the salt (hex, at least 16 bytes)."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}$"


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


class ClientKey(Section):
    """One `[[server.keys]]` table: a client API key and the tenant its requests count
    as. Give the key by `key_env` or `key_hash`, exactly one; several keys may serve one
    tenant (rotation)."""

    tenant: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """The tenant every request with this key is made as: its budgets, policy conditions
    and ledger rows. A request cannot override it (`user` and `metadata` are passed to
    the model, never read as the tenant)."""
    key_env: str | None = None
    """The environment variable holding the key, read when the server starts (a key of
    at least 20 characters; the server refuses to start when it is unset or shorter)."""
    key_hash: str | None = None
    """The key as `sha256:SALT:HEX` (HMAC-SHA256 of the key, keyed by the hex salt);
    `python -m router serve --new-key TENANT` prints a new key and this line. For keys
    generated at random (128 bits or more), as API tokens are stored elsewhere; not for
    passwords people choose."""

    @model_validator(mode="before")
    @classmethod
    def _one_key(cls, data: Any) -> Any:
        # Checked here rather than with field patterns: a field's error would echo the
        # value, and a key pasted into the wrong field must never be shown.
        if not isinstance(data, dict):
            return data
        env, hashed = data.get("key_env"), data.get("key_hash")
        if (env is None) == (hashed is None):
            raise ValueError(
                'give the key exactly one way: key_env = "ENV_VAR_NAME" (the variable holds '
                'the key) or key_hash = "sha256:SALT:HEX" (python -m router serve --new-key '
                "TENANT prints one); never the key itself"
            )
        if env is not None and not (isinstance(env, str) and _ENV_NAME.match(env)):
            raise ValueError(
                'key_env must name an environment variable, e.g. key_env = "ACME_ROUTER_KEY" '
                "(the value is not shown)"
            )
        if hashed is not None and not (isinstance(hashed, str) and KEY_HASH.match(hashed)):
            raise ValueError(
                'key_hash must be "sha256:SALT:HEX" (lower-case hex, a salt of 16+ bytes); '
                "python -m router serve --new-key TENANT prints one (the value is not shown)"
            )
        return data


class ModelRoute(Section):
    """One `[[server.models]]` table: a model name clients may send, and how requests
    sent to it are planned. Keys left out keep the config's value; a route with none
    is an alias of `router`."""

    name: str = Field(pattern=_MODEL_NAME)
    """What clients send as `model`, e.g. "router/best" or "router/free-only"."""
    description: str = ""
    """Shown to clients in `GET /v1/models` (as `description`)."""
    objective: ObjectiveName | None = None
    """The `[router] objective` for requests to this name."""
    policy: str | None = None
    """A policy pack for requests to this name (a shipped pack, or a path relative to
    the config file), instead of `[router] policy`."""
    policy_vars: dict[str, Any] | None = None
    """Values for that pack's `[vars]` (instead of `[router] policy_vars`)."""
    mode: Literal["route", "cascade"] | None = None
    """`route` or `cascade` for requests to this name."""
    quality_target: float | None = Field(default=None, gt=0, le=1)
    """The `[router] quality_target` for requests to this name."""
    paid_share: float | None = Field(default=None, ge=0, le=1)
    """The `[router] paid_share` for requests to this name (0.0: free whenever a free
    deployment is eligible)."""

    def overrides(self) -> dict[str, Any]:
        """The `[router]` keys this route changes, as `Router.variant` keywords."""
        keys = ("objective", "policy", "policy_vars", "mode", "quality_target", "paid_share")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class ServerSettings(Section):
    """The `[server]` table: `python -m router serve` (an OpenAI-compatible HTTP server).
    The command line's `--host`, `--port` and `--workers` override the keys here."""

    host: str = Field(default="127.0.0.1", min_length=1)
    """The address to listen on. Loopback by default; any other address needs client
    keys (`[[server.keys]]`)."""
    port: int = Field(default=8000, ge=1, le=65535)
    """The TCP port to listen on."""
    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes (uvicorn's), each with its own Router built from this file.
    Several share budgets through the ledger on one machine; breakers and the cache
    only with `[router] state = "redis://..."` (or `[state] directory`)."""
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=1024**3)
    """The largest request body accepted, in bytes; a larger one gets 413."""
    read_timeout: float = Field(default=30.0, gt=0, le=3600)
    """Seconds a client has to send the whole request body; a slower one gets 408."""
    auth: Literal["keys", "none"] = "keys"
    """`keys`: every request needs one of `[[server.keys]]` (Authorization: Bearer KEY);
    without any key the server refuses to start. `none`: no key, every request is tenant
    "default"; allowed only on a loopback host."""
    access_log: bool = True
    """Log one line per chat request: method, route, status, tenant and request id
    (never a header, a query string or a body; uvicorn's own access log stays off)."""
    keys: tuple[ClientKey, ...] = ()
    """The client API keys, one `[[server.keys]]` table each."""
    models: tuple[ModelRoute, ...] = ()
    """Model names besides "router", one `[[server.models]]` table each."""

    @model_validator(mode="after")
    def _consistent(self) -> ServerSettings:
        if self.auth == "none" and self.keys:
            raise ValueError(
                'auth = "none" serves without keys, but [[server.keys]] are given: '
                'remove auth = "none" (keys are then required) or the keys'
            )
        if self.auth == "none" and not is_loopback(self.host):
            raise ValueError(
                f'auth = "none" is allowed only on a loopback host, not {self.host!r}: '
                'add [[server.keys]] or write host = "127.0.0.1"'
            )
        seen = {DEFAULT_MODEL}
        for route in self.models:
            if route.name in seen:
                taken = "is built in" if route.name == DEFAULT_MODEL else "is used twice"
                raise ValueError(f"models: {route.name!r} {taken}; give each model a new name")
            seen.add(route.name)
        return self
