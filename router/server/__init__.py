"""`python -m router serve`: the OpenAI chat-completions API in front of a `Router`.

Any language's OpenAI client (or curl) points its base URL at the server and sends
`model: "router"` (or a `[[server.models]]` name); each request is planned, served,
budgeted and recorded by the Router as in the library, as the tenant of its API key.
Needs `pip install 'freefirst-router[server]'` (Starlette and uvicorn); `import router`
never loads it.

- `create_app(router)`: the ASGI app (Starlette), for tests or your own ASGI server;
- `serve(config_path, host=, port=, workers=)`: what the command runs (uvicorn);
- `new_key()` / `hash_key(key)`: a client key and its `key_hash` line;
- `STATUS`: every router error's HTTP status and OpenAI error code.

May import: router's public API (the facade, the decision's face, the errors);
router.observe lazily (`GET /metrics`). Only the `serve` command imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router._lazy import face as _face

if TYPE_CHECKING:
    from router.server._app import create_app
    from router.server._errors import STATUS
    from router.server._keys import hash_key, new_key
    from router.server._run import serve

__all__ = ["STATUS", "create_app", "hash_key", "new_key", "serve"]

_LAZY: dict[str, str] = {
    "STATUS": "router.server._errors",
    "create_app": "router.server._app",
    "hash_key": "router.server._keys",
    "new_key": "router.server._keys",
    "serve": "router.server._run",
}
"""Name -> the private module that defines it, imported on first access."""

__getattr__, __dir__ = _face(__name__, _LAZY, __all__)
