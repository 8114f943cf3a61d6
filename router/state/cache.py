"""Response cache on disk (diskcache, values stored as JSON, never pickle). Opt-in.

Key = tenant + policy fingerprint + deployment + the normalised request (messages,
tools, response_format, sampling parameters). The router probes only deployments
of the current plan, in plan order, so a hit always comes from a deployment that is
still eligible for this request now, and the tenant in the key keeps tenants apart.
Only successful answers are stored. The only module that imports diskcache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Protocol

from router._effects import Op, blocking

__all__ = ["Cache", "ResponseCache", "is_deterministic"]


class Cache(Protocol):
    """Where answers are cached: `ResponseCache` (disk) or `RedisCache` (shared)."""

    def get(self, key: str, tenant: str) -> dict[str, Any] | None: ...

    def put(self, key: str, tenant: str, response: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def is_deterministic(params: dict[str, Any]) -> bool:
    """Temperature 0 and a single choice: the same request should get the same answer."""
    return params.get("temperature") == 0 and params.get("n", 1) == 1


class ResponseCache:
    """Answers by (tenant, policy, deployment, request), with a TTL and a size limit."""

    def __init__(
        self,
        directory: str | Path,
        *,
        ttl_seconds: float = 3600.0,
        size_limit_mb: float = 256.0,
    ) -> None:
        import diskcache  # noqa: PLC0415  (lazy: only users who turn the cache on pay for it)

        self.directory = Path(directory)
        self.ttl_seconds = ttl_seconds
        self._cache = diskcache.Cache(
            str(self.directory),
            disk=diskcache.JSONDisk,
            disk_compress_level=1,
            size_limit=int(size_limit_mb * 1024 * 1024),
        )

    @staticmethod
    def key(tenant: str, policy_fingerprint: str, deployment: str, call: dict[str, Any]) -> str:
        """A stable hash of everything that changes the answer (never the text in clear)."""
        blob = json.dumps(
            {"tenant": tenant, "policy": policy_fingerprint, "deployment": deployment,
             "request": call},
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )  # fmt: skip
        return hashlib.blake2b(blob.encode(), digest_size=32).hexdigest()

    def get(self, key: str, tenant: str) -> dict[str, Any] | None:
        entry = self._cache.get(key)
        if not isinstance(entry, dict) or entry.get("tenant") != tenant:
            return None  # the tenant is in the key too; this is a second lock on the door
        response = entry.get("response")
        return response if isinstance(response, dict) else None

    def put(self, key: str, tenant: str, response: dict[str, Any]) -> None:
        self._cache.set(key, {"tenant": tenant, "response": response}, expire=self.ttl_seconds)

    def get_op(self, key: str, tenant: str) -> Op[dict[str, Any] | None]:
        """`get` as an op (router._effects): off the event loop when async."""
        return blocking(lambda: self.get(key, tenant))

    def put_op(self, key: str, tenant: str, response: dict[str, Any]) -> Op[None]:
        return blocking(lambda: self.put(key, tenant, response))

    def close(self) -> None:
        self._cache.close()
