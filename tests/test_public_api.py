"""The public surface: `__all__` complete, cheap side-effect-free import."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import router
import router.decision._policy
import router.errors


def test_all_names_exist() -> None:
    for module in (router, router.errors, router.decision._policy):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_all_lists_every_public_class_and_function() -> None:
    public = {
        name
        for name, value in vars(router).items()
        if not name.startswith("_")
        and isinstance(value, type | types.FunctionType)
        and getattr(value, "__module__", "").startswith("router")
    }
    assert public <= set(router.__all__)


def test_every_error_is_a_router_error() -> None:
    for name in router.errors.__all__:
        if name == "Disposition":  # what to do with an error, not an error
            continue
        assert issubclass(getattr(router.errors, name), router.errors.RouterError)


def test_import_does_not_import_litellm_or_tiktoken() -> None:
    code = (
        "import sys, json, router;"
        "r = router.Router.from_config('examples/router.toml');"
        "r.plan([{'role': 'user', 'content': 'hi'}]);"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('litellm', 'tiktoken', 'openai', 'httpx'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out) == []
