"""Local shared state: breakers on disk, seen by every process of the machine."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import router
from router.errors import BadRequest, ProviderUnavailable
from router.state.cooldowns import CooldownPolicy
from router.state.local import DiskCooldowns

FAULT = ProviderUnavailable("api", "503")

OPEN_IN_CHILD = """
import sys
from router.state.cooldowns import CooldownPolicy
from router.errors import ProviderUnavailable
from router.state.local import DiskCooldowns
c = DiskCooldowns(sys.argv[1], CooldownPolicy(threshold=2, seconds=30))
for _ in range(2):
    c.failure("api", ProviderUnavailable("api", "503"))
print(c.state("api").state)
"""


def test_a_breaker_opened_in_another_process_benches_the_deployment(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", OPEN_IN_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "open"
    here = DiskCooldowns(tmp_path, CooldownPolicy(threshold=2, seconds=30))
    assert not here.allow("api")
    assert here.state("api").state == "open"
    assert here.allow("other")  # other deployments are untouched


def test_half_open_admits_one_probe_across_instances(tmp_path: Path) -> None:
    policy = CooldownPolicy(threshold=1, seconds=0.05)
    a, b = DiskCooldowns(tmp_path, policy), DiskCooldowns(tmp_path, policy)
    a.failure("api", FAULT)
    assert not b.allow("api")
    time.sleep(0.1)
    assert a.allow("api")  # the one probe
    assert not b.allow("api")  # the probe is out
    a.success("api")
    assert b.allow("api")
    assert b.state("api").state == "closed"


def test_request_specific_failures_do_not_count(tmp_path: Path) -> None:
    c = DiskCooldowns(tmp_path, CooldownPolicy(threshold=1, seconds=30))
    c.failure("api", BadRequest("api", "your request is malformed"))
    assert c.allow("api")


@pytest.mark.parametrize("relative", [True, False])
def test_the_config_directory_is_relative_to_the_config(tmp_path: Path, relative: bool) -> None:
    folder = "breakers" if relative else str(tmp_path / "abs")
    cfg = tmp_path / "router.toml"
    cfg.write_text(
        f'[router]\nstate = "local"\n[state]\ndirectory = "{folder}"\n'
        '[[deployments]]\nname = "m"\nmodel = "gpt-4o-mini"\napi_key_env = "K"\n',
        encoding="utf-8",
    )
    r = router.Router.from_config(cfg)
    assert isinstance(r.cooldowns, DiskCooldowns)
    expected = tmp_path / "breakers" if relative else tmp_path / "abs"
    assert (expected / "breakers").is_dir()
