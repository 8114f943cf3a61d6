"""Every shipped policy pack in `policies/`, loaded through `router.decision._packs.load_policy`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from factories import deployment, features

from router._models import Deployment, Sensitivity
from router.decision._packs import load_policy
from router.decision._policy import Policy
from router.errors import ConfigError

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
PACKS = sorted(POLICY_DIR.glob("*.toml"))
PACK_IDS = [p.stem for p in PACKS]

LOCAL = deployment("local-qwen", hosting="local", region=None)
SELF_HOSTED = deployment("gpu-llama", hosting="self-hosted", vendor="meta", origin="US")
EU_API = deployment(
    "mistral-large",
    hosting="api",
    weights="open",
    vendor="mistral",
    origin="FR",
    region="eu-west",
    input_usd_per_token=2e-6,
    output_usd_per_token=6e-6,
)
US_API = deployment(
    "gpt-4o",
    hosting="api",
    weights="closed",
    vendor="openai",
    origin="US",
    region="us-east",
    input_usd_per_token=2.5e-6,
    output_usd_per_token=1e-5,
)
NO_REGION_API = US_API.model_copy(update={"name": "mystery-api", "region": None})


def load(name: str, **overrides: Any) -> Policy:
    return load_policy(POLICY_DIR / f"{name}.toml", overrides=overrides or None)


def denied(policy: Policy, dep: Deployment, **feats: Any) -> tuple[str, ...]:
    return policy.denials(features(**feats), dep)


# ---------------------------------------------------------------- every pack


def test_policy_dir_holds_the_shipped_packs() -> None:
    assert {"free-first", "confidential-local", "public-sector", "cost-capped"} <= set(PACK_IDS)


@pytest.mark.parametrize("path", PACKS, ids=PACK_IDS)
def test_pack_loads_with_name_rules_and_fingerprint(path: Path) -> None:
    policy = load_policy(path)
    assert policy.name == path.stem
    assert policy.rules
    assert len(policy.fingerprint) == 16
    assert load_policy(path).fingerprint == policy.fingerprint


@pytest.mark.parametrize("path", PACKS, ids=PACK_IDS)
def test_pack_loads_by_shipped_name(path: Path) -> None:
    by_name = load_policy(path.stem)
    assert (by_name.name, by_name.fingerprint) == (path.stem, load_policy(path).fingerprint)


@pytest.mark.parametrize("path", PACKS, ids=PACK_IDS)
def test_pack_labels_name_a_pack(path: Path) -> None:
    policy = load_policy(path)
    for label, _ in policy.rules:
        pack, _, rest = label.partition("#")
        assert (POLICY_DIR / f"{pack}.toml").is_file(), label
        assert rest.split(" ")[0].isdigit(), label


@pytest.mark.parametrize("path", PACKS, ids=PACK_IDS)
@pytest.mark.parametrize("sensitivity", ["confidential", "restricted"])
def test_pack_keeps_confidential_requests_off_apis(path: Path, sensitivity: Sensitivity) -> None:
    policy = load_policy(path)
    for api in (EU_API, US_API):
        reasons = denied(policy, api, sensitivity=sensitivity)
        assert any("local_only" in r for r in reasons), reasons
    assert denied(policy, LOCAL, sensitivity=sensitivity) == ()


@pytest.mark.parametrize("path", PACKS, ids=PACK_IDS)
def test_pack_lets_a_public_request_reach_a_free_local_model(path: Path) -> None:
    assert denied(load_policy(path), LOCAL) == ()


# ---------------------------------------------------------------- free-first, confidential-local


@pytest.mark.parametrize(
    ("sensitivity", "dep", "ok"),
    [
        ("public", US_API, True),
        ("internal", US_API, True),
        ("confidential", US_API, False),
        ("confidential", SELF_HOSTED, True),
        ("restricted", LOCAL, True),
    ],
    ids=["public-api", "internal-api", "confidential-api", "confidential-self", "restricted-local"],
)
@pytest.mark.parametrize("pack", ["free-first", "confidential-local"])
def test_confidential_stays_on_own_machines(
    pack: str, sensitivity: Sensitivity, dep: Deployment, ok: bool
) -> None:
    reasons = denied(load(pack), dep, sensitivity=sensitivity)
    assert (reasons == ()) is ok


def test_confidential_local_reason_is_the_packs() -> None:
    (reason,) = denied(load("free-first"), US_API, sensitivity="confidential")
    assert reason.startswith("confidential-local#1 local_only: ")
    assert "data stays on your own machines (confidential+ requests stay on local" in reason


# ---------------------------------------------------------------- public-sector


@pytest.mark.parametrize(
    ("dep", "fragment"),
    [
        (EU_API, None),
        (LOCAL, None),
        (SELF_HOSTED.model_copy(update={"region": "us-east"}), None),
        (US_API, "APIs must process data in an allowed region"),
        (NO_REGION_API, "region unknown"),
    ],
    ids=["eu-api", "local-no-region", "self-hosted-us", "us-api", "api-unknown-region"],
)
def test_public_sector_regions(dep: Deployment, fragment: str | None) -> None:
    reasons = denied(load("public-sector"), dep)
    if fragment is None:
        assert reasons == ()
    else:
        assert len(reasons) == 1
        assert reasons[0].startswith("public-sector#1 allow: ")
        assert fragment in reasons[0]


def test_public_sector_allowed_regions_override() -> None:
    policy = load("public-sector", allowed_regions=["us-*"])
    assert denied(policy, US_API) == ()
    assert denied(policy, EU_API) != ()


@pytest.mark.parametrize(
    ("overrides", "dep", "fragment"),
    [
        (
            {"barred_vendors": ["OpenAI"]},
            EU_API.model_copy(update={"vendor": "openai"}),
            "vendor is barred",
        ),
        ({"barred_vendors": ["meta"]}, SELF_HOSTED, "vendor is barred"),
        ({"barred_origins": ["fr"]}, EU_API, "model origin is barred"),
        ({"barred_origins": ["CN"]}, LOCAL.model_copy(update={"origin": None}), "origin unknown"),
        ({"barred_vendors": ["x*"]}, EU_API.model_copy(update={"vendor": None}), "vendor unknown"),
    ],
    ids=[
        "vendor-api",
        "vendor-self-hosted",
        "origin-glob-case",
        "unknown-origin",
        "unknown-vendor",
    ],
)
def test_public_sector_barred_lists(
    overrides: dict[str, Any], dep: Deployment, fragment: str
) -> None:
    reasons = denied(load("public-sector", **overrides), dep)
    assert len(reasons) == 1
    assert fragment in reasons[0]


@pytest.mark.parametrize("field", ["vendor", "origin"])
def test_public_sector_empty_barred_lists_bar_nothing(field: str) -> None:
    unknown = SELF_HOSTED.model_copy(update={field: None})
    assert denied(load("public-sector"), unknown) == ()


@pytest.mark.parametrize(
    ("sensitivity", "dep", "ok"),
    [
        ("public", EU_API.model_copy(update={"weights": "closed"}), True),
        ("internal", EU_API.model_copy(update={"weights": "closed"}), False),
        ("internal", EU_API, True),
        ("internal", SELF_HOSTED.model_copy(update={"weights": "closed"}), False),
    ],
    ids=["public-closed", "internal-closed", "internal-open", "internal-closed-self-hosted"],
)
def test_public_sector_internal_data_only_to_open_weights(
    sensitivity: Sensitivity, dep: Deployment, ok: bool
) -> None:
    reasons = denied(load("public-sector"), dep, sensitivity=sensitivity)
    assert (reasons == ()) is ok
    if not ok:
        assert "internal data only to open-weights models" in reasons[0]


def test_public_sector_collects_every_denial() -> None:
    policy = load("public-sector", barred_vendors=["openai"], barred_origins=["US"])
    labels = [r.split(":")[0] for r in denied(policy, US_API, sensitivity="confidential")]
    assert labels == [
        "confidential-local#1 local_only",
        "public-sector#1 allow",
        "public-sector#2 deny",
        "public-sector#3 deny",
        "public-sector#4 allow",
    ]


# ---------------------------------------------------------------- cost-capped


@pytest.mark.parametrize(
    ("overrides", "max_out", "ok"),
    [
        ({}, 1024, True),
        ({}, 4096, False),
        ({"max_usd_per_request": 0.005}, 1024, False),
        ({"max_usd_per_request": 1.0}, 4096, True),
    ],
    ids=["under-default", "over-default", "under-lowered-cap", "raised-cap"],
)
def test_cost_capped_max_cost_from_var(overrides: dict[str, Any], max_out: int, ok: bool) -> None:
    policy = load("cost-capped", **overrides)
    reasons = denied(policy, US_API, prompt_tokens=100, max_output_tokens=max_out)
    assert (reasons == ()) is ok
    if not ok:
        assert reasons[0].startswith("cost-capped#1 max_cost: estimated cost $")


@pytest.mark.parametrize(
    ("dep", "tags", "ok"),
    [
        (US_API, ["batch"], False),
        (EU_API, ["nightly", "batch"], False),
        (US_API, ["interactive"], True),
        (SELF_HOSTED, ["batch"], True),
        (LOCAL, ["batch"], True),
    ],
    ids=["api-batch", "api-batch-among-tags", "api-other-tag", "self-hosted-batch", "local-batch"],
)
def test_cost_capped_batch_stays_off_apis(dep: Deployment, tags: list[str], ok: bool) -> None:
    reasons = denied(load("cost-capped"), dep, tags=tags)
    assert (reasons == ()) is ok
    if not ok:
        assert "batch work stays on free deployments" in reasons[0]


def test_cost_capped_included_rules_come_first() -> None:
    labels = [label for label, _ in load("cost-capped").rules]
    assert labels == [
        "confidential-local#1 local_only",
        "cost-capped#1 max_cost",
        "cost-capped#2 deny",
    ]


# ---------------------------------------------------------------- includes and vars precedence


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    write(
        tmp_path / "base.toml",
        'name = "base"\n[vars]\nbarred = ["a"]\nkept = ["k"]\n'
        '[[rules]]\nkind = "deny"\nvendor = "${barred}"\n'
        '[[rules]]\nkind = "deny"\norigin = "${kept}"\n',
    )
    return write(
        tmp_path / "top.toml",
        'name = "top"\ninclude = ["base.toml"]\n[vars]\nbarred = ["b"]\n'
        '[[rules]]\nkind = "max_cost"\nusd = 1.0\n',
    )


@pytest.mark.parametrize(
    ("overrides", "barred_vendor", "free_vendor"),
    [(None, "b", "a"), ({"barred": ["c"]}, "c", "b")],
    ids=["including-pack-wins", "overrides-win"],
)
def test_vars_precedence(
    packs: Path, overrides: dict[str, Any] | None, barred_vendor: str, free_vendor: str
) -> None:
    policy = load_policy(packs, overrides=overrides)
    assert denied(policy, deployment(vendor=barred_vendor)) != ()
    assert denied(policy, deployment(vendor=free_vendor)) == ()
    assert denied(policy, deployment(vendor=free_vendor, origin="k")) != ()


def test_included_rules_come_first_and_labels_name_their_pack(packs: Path) -> None:
    policy = load_policy(packs)
    assert policy.name == "top"
    assert [label for label, _ in policy.rules] == ["base#1 deny", "base#2 deny", "top#1 max_cost"]


def test_overrides_change_the_fingerprint(packs: Path) -> None:
    changed = load_policy(packs, overrides={"barred": ["z"]})
    assert load_policy(packs).fingerprint != changed.fingerprint


def test_undefined_var_is_a_config_error(tmp_path: Path) -> None:
    pack = write(tmp_path / "p.toml", 'name = "p"\n[[rules]]\nkind = "deny"\nvendor = "${nope}"\n')
    with pytest.raises(ConfigError, match="undefined variable 'nope'"):
        load_policy(pack)
