"""Issue 16, point 3: one config model.

The config is one pydantic tree (`router.decision._settings.RouterConfig`): `Router(...)` takes it,
`Router.from_config` only loads a file into it, every key of it is also a keyword, the
planner's `Settings` is a view of it; `[retry]`, `[cooldown]` and `[router] timeout` are
in TOML; deployments carry `api_version`, extra headers (secrets by environment variable)
and allow-listed litellm parameters, which reach the wire."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from pydantic import BaseModel

import router
from router._models import Deployment
from router.decision._config import load_config
from router.decision._planner import Settings as PlannerSettings
from router.decision._settings import (
    CooldownSettings,
    PlannerKeys,
    RetrySettings,
    RouterConfig,
    RouterSection,
    Settings,
    keywords,
)
from router.errors import AllDeploymentsFailed, ConfigError, ProviderUnavailable
from router.serving._executor import RetryPolicy
from router.state.cooldowns import CooldownPolicy
from router.testing import FaultServer
from router.testing import faultserver as faultserver_module
from router.tools._cli import main

HI = [{"role": "user", "content": "hi"}]
LOCAL = {
    "name": "local",
    "model": "openai/local-model",
    "api_base": "http://127.0.0.1:9/v1",
    "context_window": 8192,
}
LOCAL_TOML = """
[[deployments]]
name = "local"
model = "openai/local-model"
api_base = "http://127.0.0.1:9/v1"
context_window = 8192
"""


def _config(folder: Path, text: str) -> Path:
    path = folder / "router.toml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


class Flaky:
    """A backend that fails (retryably) `failures` times, then answers; it records the
    time each call was given."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.timeouts: list[float] = []

    def complete(self, d: Deployment, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.calls += 1
        self.timeouts.append(timeout)
        if self.calls <= self.failures:
            raise ProviderUnavailable(d.name, "server error", status=500)
        message = {"role": "assistant", "content": "ok"}
        usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage}  # fmt: skip

    async def acomplete(
        self, d: Deployment, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        return self.complete(d, params, timeout)

    def stream(
        self, d: Deployment, params: dict[str, Any], timeout: float
    ) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def astream(
        self, d: Deployment, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError


# -- one tree ------------------------------------------------------------------------


def test_the_file_is_the_tree_and_from_config_is_the_constructor(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        """
        [router]
        objective = "cheapest"
        quality_target = 0.8
        timeout = 12.5
        [retry]
        attempts = 1
        initial_wait = 0.05
        [cooldown]
        threshold = 2
        seconds = 7
        [cascade]
        threshold = 0.7
        [detectors]
        email = "public"
        """
        + LOCAL_TOML,
    )
    tree = RouterConfig.load(path)
    assert tree.source == str(path)
    assert (tree.router.objective, tree.router.timeout) == ("cheapest", 12.5)
    assert tree.retry == RetrySettings(attempts=1, initial_wait=0.05)
    assert tree.cooldown == CooldownSettings(threshold=2, seconds=7)
    for r in (router.Router.from_config(path), router.Router(config=tree)):
        assert r.config == tree
        assert r.settings == tree.settings
        assert r.timeout == 12.5
        assert (r.retry.attempts, r.retry.initial_wait) == (1, 0.05)
        assert r.cooldowns.policy.threshold == 2
        assert r.cooldowns.policy.seconds == 7
        assert r.settings.cascade.threshold == 0.7
        assert r.settings.detector_levels["email"] == "public"
    assert load_config(path).tree == tree  # what `check` compiles


def test_a_keyword_overrides_the_tree_and_keeps_the_rest(tmp_path: Path) -> None:
    path = _config(tmp_path, "[router]\nquality_target = 0.8\n[retry]\nattempts = 1\n" + LOCAL_TOML)
    r = router.Router.from_config(path, objective="best", retry={"max_wait": 1.0}, timeout=5)
    assert r.settings.objective == "best"
    assert r.settings.quality_target == 0.8  # from the file
    assert (r.retry.attempts, r.retry.max_wait) == (1, 1.0)  # a table is laid over the file's
    assert r.timeout == 5
    again = router.Router(config=RouterConfig.load(path), objective="best", timeout=5,
                          retry={"max_wait": 1.0})  # fmt: skip
    assert again.config == r.config


def test_every_key_of_every_section_is_a_keyword() -> None:
    """A field added to a section is a `Router(...)` keyword with no second spelling."""
    where = keywords()
    for name, field in RouterSection.model_fields.items():
        assert where[name] == ("router", name)
        default = field.get_default(call_default_factory=True)
        r = router.Router([LOCAL], backend=Flaky(), **{name: default})
        assert getattr(r.config.router, name) == default
    for table in RouterConfig.model_fields:
        if table == "router":
            continue
        keyword = "state_settings" if table == "state" else table
        assert where[keyword] == (table,)
        section = getattr(RouterConfig(deployments=[LOCAL]), table)
        if isinstance(section, BaseModel):
            for key in type(section).model_fields:
                value = getattr(section, key)
                given: dict[str, Any] = {keyword: {key: value}}
                r = router.Router([LOCAL], backend=Flaky(), **given)
                assert getattr(getattr(r.config, table), key) == value


def test_a_mapping_config_is_read_like_a_file() -> None:
    r = router.Router(config={"router": {"objective": "best"}, "deployments": [LOCAL]})
    assert r.settings.objective == "best"
    with pytest.raises(ConfigError) as caught:
        router.Router(config={"router": {"objectiv": "best"}, "deployments": [LOCAL]})
    assert caught.value.source == "Router(config=...)"
    assert caught.value.key == "router.objectiv"
    assert "did you mean 'objective'?" in str(caught.value)


# -- errors name the keyword, or the file's key ------------------------------------------

KEYWORD_ERRORS = [
    ({"objectiv": "best"}, "objectiv", "did you mean 'objective'?"),
    ({"retries": {"attempts": 2}}, "retries", "did you mean 'retry'?"),
    ({"retry": {"attempts": 0}}, "retry.attempts", "greater than or equal to 1"),
    ({"cooldown": {"treshold": 2}}, "cooldown.treshold", "did you mean 'threshold'?"),
    ({"state_settings": {"timeout_ms": -1}}, "state_settings.timeout_ms", "greater than 0"),
    ({"timeout": 0}, "timeout", "greater than 0"),
    ({"objective": "fastest"}, "objective", "'free-first', 'cheapest', 'best' or 'utility'"),
    ({"detectors": {"emial": "public"}}, "detectors.emial", "'email', 'phone'"),
    ({"cascade": {"threshold": 2}}, "cascade.threshold", "less than or equal to 1"),
    ({"deployments": []}, "deployments", "give at least one deployment"),
    ({"deployments": [{**LOCAL, "contex_window": 1}]}, "deployments[0].contex_window",
     "did you mean 'context_window'?"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "key", "words"), KEYWORD_ERRORS, ids=[k for _, k, _ in KEYWORD_ERRORS]
)
def test_a_bad_keyword_names_itself(kwargs: dict[str, Any], key: str, words: str) -> None:
    args = {"deployments": [LOCAL], **kwargs}
    with pytest.raises(ConfigError) as caught:
        router.Router(**args)
    assert caught.value.source == "Router(...)"
    assert caught.value.key == key
    assert words in str(caught.value)


FILE_ERRORS = [
    ("[retry]\nattempts = 0\n", "retry.attempts", "greater than or equal to 1"),
    ("[retry]\ninitial_wait = inf\n", "retry.initial_wait", "finite number"),
    ("[cooldown]\ntreshold = 2\n", "cooldown.treshold", "did you mean 'threshold'?"),
    ("[router]\ntimeout = 0\n", "router.timeout", "greater than 0"),
    ("[retyr]\nattempts = 2\n", "retyr", "did you mean 'retry'? write [retry]"),
    ("timeout = 5\n", "timeout", "belongs in the [router] table"),
]  # fmt: skip


@pytest.mark.parametrize(("head", "key", "words"), FILE_ERRORS, ids=[k for _, k, _ in FILE_ERRORS])
def test_a_bad_new_table_names_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: str, key: str, words: str
) -> None:
    path = _config(tmp_path, head + LOCAL_TOML)
    with pytest.raises(ConfigError) as caught:
        router.Router.from_config(path)
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert words in str(caught.value)
    assert main(["check", str(path)]) == 2
    assert capsys.readouterr().err == f"router: error: {caught.value}\n"


def test_check_accepts_the_new_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "[router]\ntimeout = 30\n[retry]\nattempts = 2\n[cooldown]\nthreshold = 3\n"
    path = _config(tmp_path, text + LOCAL_TOML + 'api_version = "2024-10-21"\n')
    assert main(["check", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


# -- the planner's settings are a view -------------------------------------------------


def test_settings_is_a_view_of_the_tree_not_a_second_declaration() -> None:
    assert PlannerSettings is Settings
    assert issubclass(Settings, PlannerKeys)
    assert issubclass(RouterSection, PlannerKeys)
    assert set(Settings.model_fields) - set(PlannerKeys.model_fields) == {
        "cascade", "detector_levels"
    }  # fmt: skip
    tree = RouterConfig(
        deployments=[LOCAL], router={"paid_share": 0.1}, detectors={"iban": "public"}
    )
    view = tree.settings
    assert view.paid_share == 0.1
    assert view.cascade is tree.cascade
    assert view.detector_levels["iban"] == "public"
    assert view.detector_levels["email"] == "internal"  # the default, kept


def test_settings_still_work_as_a_keyword() -> None:
    r = router.Router([LOCAL], settings=Settings(objective="best"), quality_target=0.5)
    assert (r.settings.objective, r.settings.quality_target) == ("best", 0.5)


# -- retry and cooldown: the policies are the tables, by their older names -------------------


def test_retry_and_cooldown_policies_are_the_tables() -> None:
    assert RetryPolicy is RetrySettings
    assert CooldownPolicy is CooldownSettings
    r = router.Router([LOCAL], retry=RetryPolicy(attempts=2), cooldown=CooldownPolicy(seconds=9))
    assert r.config.retry == RetrySettings(attempts=2)
    assert r.config.cooldown == CooldownSettings(seconds=9)
    assert r.retry == RetryPolicy(attempts=2)


def test_the_retry_table_decides_how_often_a_deployment_is_tried(tmp_path: Path) -> None:
    text = "[retry]\nattempts = {n}\ninitial_wait = 0\njitter = 0\n[cooldown]\nthreshold = 1\n"
    once = Flaky(failures=1)
    r = router.Router.from_config(_config(tmp_path, text.format(n=1) + LOCAL_TOML), backend=once)
    with pytest.raises(AllDeploymentsFailed):
        r.complete(HI)
    assert once.calls == 1
    assert r.health()["local"].state == "open"  # [cooldown] threshold = 1
    twice = Flaky(failures=1)
    r = router.Router.from_config(_config(tmp_path, text.format(n=2) + LOCAL_TOML), backend=twice)
    assert r.complete(HI).decision.served_by == "local"
    assert twice.calls == 2


def test_the_router_timeout_is_the_default_of_a_request(tmp_path: Path) -> None:
    backend = Flaky()
    r = router.Router.from_config(
        _config(tmp_path, "[router]\ntimeout = 7.5\n" + LOCAL_TOML), backend=backend
    )
    r.complete(HI)
    r.complete(HI, timeout=2.0)
    assert 7.0 < backend.timeouts[0] <= 7.5
    assert backend.timeouts[1] <= 2.0


# -- deployments: api_version, headers, litellm parameters --------------------------------

SECRET = "sk-proj-Zq81TESTSECRETvalue0000abcdefghij"

DEPLOYMENT_ERRORS = [
    ({"litellm_params": {"api_key": "x"}}, "litellm_params", "api_key_env"),
    ({"litellm_params": {"timeout": 5}}, "litellm_params", "timeout = SECONDS under [router]"),
    ({"litellm_params": {"num_retries": 3}}, "litellm_params", "attempts = N under [retry]"),
    ({"litellm_params": {"caching": True}}, "litellm_params", "cache = true under [router]"),
    ({"litellm_params": {"api_version": "1"}}, "litellm_params", 'write api_version = "..."'),
    ({"litellm_params": {"vertx_project": "p"}}, "litellm_params",
     "did you mean 'vertex_project'?"),
    ({"litellm_params": {"extra_body": {"api_key": SECRET}}}, "litellm_params", "credential"),
    ({"extra_headers": {"Authorization": f"Bearer {SECRET}"}}, "extra_headers",
     'write extra_headers_env = { "Authorization" = "ENV_VAR_NAME" }'),
    ({"extra_headers": {"X-Team": f"Bearer {SECRET}"}}, "extra_headers", "extra_headers_env"),
    ({"extra_headers": {"X Bad": "v"}}, "extra_headers", "not a header name"),
    ({"extra_headers": {"X-Team": "a\r\nX-Evil: 1"}}, "extra_headers", "line break"),
    ({"extra_headers_env": {"X-Gateway-Key": SECRET}}, "extra_headers_env",
     "must name an environment variable"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    DEPLOYMENT_ERRORS,
    ids=[str(i) for i in range(len(DEPLOYMENT_ERRORS))],
)
def test_what_a_deployment_adds_to_each_call_is_validated(
    extra: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        router.Router([{**LOCAL, **extra}])
    assert caught.value.key == f"deployments[0].{key}"
    assert words in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


def test_a_deployment_made_in_python_is_checked_the_same_way() -> None:
    spec = router.DeploymentSpec.model_validate(LOCAL)
    dep = (
        router.Router([spec])
        .deployments[0]
        .model_copy(update={"litellm_params": {"max_retries": 4}})
    )
    with pytest.raises(ConfigError) as caught:
        router.Router([dep])
    assert caught.value.key == "deployments[0].litellm_params"


def test_toml_deployment_keys_reach_the_deployment(tmp_path: Path) -> None:
    text = LOCAL_TOML + dedent(
        """
        api_version = "2024-10-21"
        extra_headers = { "X-Team" = "search" }
        extra_headers_env = { "X-Gateway-Key" = "GATEWAY_KEY" }
        litellm_params = { drop_params = true, extra_body = { top_k = 20 } }
        """
    )
    (dep,) = load_config(_config(tmp_path, text)).deployments
    assert dep.api_version == "2024-10-21"
    assert dep.extra_headers == {"X-Team": "search"}
    assert dep.extra_headers_env == {"X-Gateway-Key": "GATEWAY_KEY"}
    assert dep.litellm_params == {"drop_params": True, "extra_body": {"top_k": 20}}


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str]]]:
    """FaultServer keeps each request's JSON body; this also keeps its path (with the
    query string) and headers, and serves Azure's path as the OpenAI one."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Recording(faultserver_module._Handler):
        def do_POST(self) -> None:
            seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            if "/chat/completions" in self.path:
                self.path = "/v1/chat/completions"
            super().do_POST()

    monkeypatch.setattr(faultserver_module, "_Handler", Recording)
    return seen


@pytest.mark.parametrize("model", ["openai/local-model", "azure/local-model"])
def test_headers_api_version_and_params_arrive_on_the_wire(
    recording: list[tuple[str, dict[str, str]]], monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    monkeypatch.setenv("ROUTER_TEST_GATEWAY_KEY", "gw-value-0123")
    with FaultServer() as server:
        dep = {
            **LOCAL,
            "model": model,
            "api_base": server.base_url,
            "hosting": "local",
            "weights": "open",
            "api_version": "2024-10-21",
            "extra_headers": {"X-Team": "search"},
            "extra_headers_env": {"X-Gateway-Key": "ROUTER_TEST_GATEWAY_KEY"},
            "litellm_params": {"extra_body": {"top_k": 20}},
        }
        r = router.Router([dep])
        result = r.complete(HI)
        body = server.requests[-1]
    path, headers = recording[-1]
    assert result.decision.served_by == "local"
    assert headers["x-team"] == "search"
    assert headers["x-gateway-key"] == "gw-value-0123"
    assert body["top_k"] == 20
    if model.startswith("azure/"):
        assert "api-version=2024-10-21" in path
    assert "gw-value-0123" not in json.dumps(result.decision.summary())


def test_a_header_variable_that_is_not_set_is_missing_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ROUTER_TEST_UNSET_KEY", raising=False)
    dep = {**LOCAL, "extra_headers_env": {"X-Gateway-Key": "ROUTER_TEST_UNSET_KEY"}}
    with pytest.raises(AllDeploymentsFailed) as caught:
        router.Router([dep]).complete(HI)
    (attempt,) = caught.value.attempts
    assert "ROUTER_TEST_UNSET_KEY" in str(attempt.error)
    assert "X-Gateway-Key" in str(attempt.error)
    assert "missing credentials" in str(attempt.error)
