"""`router.local`: `router.local.LocalServer()` (README, SECURITY.md).

The code is in `router.tools._local`; this module re-exports its `__all__`.
"""

# A public path kept by scripts/relayout.py (issue 16).

from router.tools._local import (
    DEFAULT_ALIAS,
    DEFAULT_MODEL_SHA256,
    LocalModelError,
    LocalServer,
    default_model_path,
    file_sha256,
    verify_model,
)

__all__ = [
    "DEFAULT_ALIAS",
    "DEFAULT_MODEL_SHA256",
    "LocalModelError",
    "LocalServer",
    "default_model_path",
    "file_sha256",
    "verify_model",
]
