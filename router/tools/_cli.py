"""`python -m router explain | check | catalog | packs | demo | local | serve | replay | report |
eval | calibrate`, and `python -m router --version`.

User errors (bad config, bad arguments) print one line to stderr and exit 2;
"nothing may serve this request" prints the decision and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import signal
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from router._models import SENSITIVITY_LEVELS, Deployment
from router._records import Decision
from router._router import Router
from router.decision import (
    Config,
    ModelFacts,
    builtin_policies,
    default_scorer,
    describe_pack,
    families,
    family_of,
    load_config,
    load_policy,
    models,
)
from router.errors import ConfigError, NoEligibleDeployment, RouterError
from router.tools import _calibrate as calibrate_cli
from router.tools import _demo_live as demo_live
from router.tools import _eval as quality_cli
from router.tools import _replay as replay
from router.tools import _report as report
from router.tools._demo import DEMO_CONFIG, SAMPLES
from router.tools._local import LocalServer
from router.tools._render import (
    DemoRow,
    QualityWhy,
    demo_table,
    deployment_facts,
    deployments_text,
    explain_text,
    usd,
)

__all__ = ["main"]

_SERVE = "python -m router serve"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one clear line and exit 2, never a traceback
        # Always "router: error:", also from a subcommand's parser ("python -m router explain").
        self.exit(2, f"router: error: {message}\n")


def _sha256(text: str) -> str:
    digest = text.strip().lower().removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError(f"{text!r} is not a SHA-256 (64 hexadecimal digits)")
    return digest


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of tokens")
    return value


def version() -> str:
    """This package's version: the installed distribution's, else pyproject.toml's (a
    checkout run without installing), else "unknown"."""
    try:
        return importlib.metadata.version("freefirst-router")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        with (Path(__file__).resolve().parent.parent.parent / "pyproject.toml").open("rb") as f:
            found = tomllib.load(f).get("project", {}).get("version")
    except (OSError, tomllib.TOMLDecodeError):
        found = None
    return found if isinstance(found, str) else "unknown"


class _Version(argparse.Action):
    """`--version`: the version is looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"router {version()}")
        parser.exit(0)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (1-64)")
    return value


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m router", description="Plan LLM requests: free first, paid by exception."
    )
    p.add_argument("--version", action=_Version, help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ex = sub.add_parser("explain", help="print the routing decision for one prompt")
    ex.add_argument("prompt", help="the user message ('-' reads stdin)")
    ex.add_argument("--config", type=Path, help="config file (default: the built-in demo set)")
    ex.add_argument("--json", action="store_true", help="print JSON instead of text")
    ex.add_argument("--sensitivity", choices=SENSITIVITY_LEVELS, default="public")
    ex.add_argument("--tenant", default="default")
    ex.add_argument("--tag", action="append", default=[], dest="tags", help="repeatable")
    ex.add_argument(
        "--max-tokens", type=_positive_int, help="output budget (default: from the config)"
    )
    ex.add_argument("--system", help="a system message to put first")

    ch = sub.add_parser("check", help="validate a config file or a policy pack")
    ch.add_argument("file", type=Path)
    ch.add_argument("--json", action="store_true", help="print JSON instead of text")

    ca = sub.add_parser(
        "catalog",
        help="models the catalog knows: prices, context window, capabilities, provenance",
        description="Chat models of litellm's price map (prices in USD per 1M tokens) and "
        "the model families that give vendor, origin, weights, licence and a quality prior. "
        "Without MODEL-GLOB: the families only.",
    )
    ca.add_argument(
        "pattern",
        nargs="?",
        metavar="MODEL-GLOB",
        help="e.g. 'gpt-4o*', 'deepseek/*' or '*' for all (case-insensitive)",
    )
    ca.add_argument("--json", action="store_true", help="print JSON instead of text")

    pk = sub.add_parser(
        "packs",
        help="the shipped policy packs, their rules and variables",
        description="Without NAME: each shipped pack with its description and variables. "
        "With NAME: its rules in order (includes expanded) and its variables' defaults.",
    )
    pk.add_argument("name", nargs="?", metavar="NAME", help="a shipped pack, e.g. public-sector")
    pk.add_argument("--json", action="store_true", help="print JSON instead of text")

    lo = sub.add_parser("local", help="serve a GGUF model on 127.0.0.1 until Ctrl-C")
    lo.add_argument("--model", type=Path, help="GGUF file (default: SmolLM2-135M-Instruct)")
    lo.add_argument("--port", type=_port, help="port 1-65535 (default: a free one)")
    lo.add_argument(
        "--sha256",
        type=_sha256,
        metavar="HEX",
        help="the file's expected SHA-256; a mismatch is refused (built in for the default)",
    )
    lo.add_argument(
        "--allow-unverified",
        action="store_true",
        help="serve a --model file that has no --sha256 (refused otherwise)",
    )

    sv = sub.add_parser(
        "serve",
        help="serve the OpenAI chat API over HTTP (127.0.0.1:8000 unless told otherwise)",
        description="An OpenAI-compatible server (POST /v1/chat/completions, GET /v1/models, "
        "/health, /ready, /metrics) in front of the Router the config describes; its "
        "[server] table holds the client keys, their tenants and the model names. Needs "
        "pip install 'freefirst-router[server]'.",
    )
    sv.add_argument("--config", type=Path, help="config file (with a [server] table)")
    sv.add_argument("--host", help="address to listen on (default: [server] host, 127.0.0.1)")
    sv.add_argument("--port", type=_port, help="port 1-65535 (default: [server] port, 8000)")
    sv.add_argument(
        "--workers", type=_workers, help="worker processes (default: [server] workers, 1)"
    )
    sv.add_argument(
        "--new-key",
        metavar="TENANT",
        help="print a new random client key for TENANT and its [[server.keys]] table, and exit",
    )

    sub.add_parser(
        "report",
        help="requests, spend, savings, latency and compliance from a ledger",
        add_help=False,  # `python -m router report -h` is the report's own help
        prefix_chars="\0",  # every argument goes to router.tools._report.main as it is
    ).add_argument("args", nargs=argparse.REMAINDER)

    sub.add_parser(
        "eval",
        help="score the quality predictor's routing on a labelled CSV sample",
        add_help=False,  # `python -m router eval -h` is the evaluation's own help
        prefix_chars="\0",  # every argument goes to router.tools._eval.main as it is
    ).add_argument("args", nargs=argparse.REMAINDER)

    sub.add_parser(
        "calibrate",
        help="fit the quality predictor to a labelled sample of your traffic",
        add_help=False,  # `python -m router calibrate -h` is the calibration's own help
        prefix_chars="\0",  # every argument goes to router.tools._calibrate.main
    ).add_argument("args", nargs=argparse.REMAINDER)

    rp = sub.add_parser("replay", help="estimate what another config would do on a ledger")
    rp.add_argument("--ledger", type=Path, required=True, help="the ledger file to replay")
    rp.add_argument("--config", type=Path, required=True, help="the config to try")
    rp.add_argument("--json", action="store_true", help="print JSON instead of text")
    rp.add_argument(
        "--calibration",
        type=Path,
        metavar="CAL.json",
        help="also compare the trained predictor with and without this calibration",
    )

    de = sub.add_parser("demo", help="route the built-in sample workload and print a table")
    de.add_argument("--config", type=Path, help="config file (default: the built-in demo set)")
    de.add_argument("--live", action="store_true", help="start SmolLM2 locally and answer for real")
    de.add_argument(
        "--no-answers",
        action="store_true",
        help="with --live: leave out the answer column (the start of each answer)",
    )
    return p


def _router(config: Path | None) -> Router:
    return Router.from_config(config or DEMO_CONFIG)


def _explain(args: argparse.Namespace) -> int:
    r = _router(args.config)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    messages = [{"role": "user", "content": prompt}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    code = 0
    try:
        decision = r.plan(
            messages,
            max_tokens=args.max_tokens,
            tenant=args.tenant,
            sensitivity=args.sensitivity,
            tags=args.tags,
        )
    except NoEligibleDeployment as exc:
        decision, code = exc.decision, 1
    baseline = r.baseline_cost_usd(decision)
    why = _quality_why(r, prompt, decision)
    if args.json:
        doc = {**decision.summary(), "baseline_cost_usd": baseline}
        if why is not None:
            doc["quality_why"] = why.to_dict()
        doc["deployments"] = {d.name: deployment_facts(d) for d in r.deployments}
        print(json.dumps(doc, indent=2))
    else:
        print(explain_text(decision, baseline, why))
        print("\ndeployments:")
        print(deployments_text(r.deployments))
    return code


def _quality_why(r: Router, prompt: str, decision: Decision) -> QualityWhy | None:
    """What moved this prompt's predicted qualities, when the scorer can say (the
    shipped predictor can; a custom scorer or the priors cannot)."""
    explain = getattr(r.scorer, "why", None)
    if explain is None or decision.gain_percentile is None:
        return None
    by_name = {d.name: d for d in r.deployments}
    chosen = [by_name[c.name] for c in decision.candidates]
    harder, easier, typical = explain(prompt, chosen)
    priors = {d.name: q for d, q in zip(chosen, typical, strict=True)}
    return QualityWhy(r.settings.paid_share, harder, easier, priors)


def _check(args: argparse.Namespace) -> int:
    path: Path = args.file
    if path.suffix == ".toml" and path.is_file() and _looks_like_pack(path):
        pol = load_policy(path)
        print(f"ok: policy pack {pol.name!r} ({pol.fingerprint}), {len(pol.rules)} rules:")
        for label, _ in pol.rules:
            print(f"  {label}")
        return 0
    cfg = load_config(path)  # every check a Router makes of its arguments, in TOML terms
    if cfg.calibration is not None:
        default_scorer(cfg.calibration)  # read as the Router would: a bad file fails here
    warnings = _closed_weights_warnings(cfg.deployments, cfg.source)
    if args.json:
        print(json.dumps(_check_doc(cfg, warnings), indent=2))
    else:
        print(
            f"ok: {len(cfg.deployments)} deployments, policy {cfg.policy.name!r} "
            f"({cfg.policy.fingerprint}, {len(cfg.policy.rules)} rules), "
            f"objective {cfg.settings.objective}"
        )
        print(deployments_text(cfg.deployments))
    for line in warnings:
        print(f"router: warning: {line}", file=sys.stderr)
    return 0


def _check_doc(cfg: Config, warnings: Sequence[str]) -> dict[str, Any]:
    return {
        "ok": True,
        "config": cfg.source,
        "policy": cfg.policy.name,
        "policy_fingerprint": cfg.policy.fingerprint,
        "rules": [label for label, _ in cfg.policy.rules],
        "objective": cfg.settings.objective,
        "mode": cfg.settings.mode,
        "deployments": {d.name: deployment_facts(d) for d in cfg.deployments},
        "warnings": list(warnings),
    }


def _closed_weights_warnings(deployments: Sequence[Deployment], source: str) -> list[str]:
    """One line per deployment of closed weights declared local or self-hosted: the
    policy then lets confidential requests reach it, which is only right if the weights
    really run on your machines (under licence), not behind a proxy to the vendor."""
    return [
        f"{source}: deployments[{i}]: {d.name!r} has closed weights ({d.model}) but "
        f'hosting = "{d.hosting}", so confidential requests may be sent to it; '
        "that is right only if you run these weights yourself under licence (then ignore "
        'this line); if it is a vendor\'s API behind a proxy or gateway, write hosting = "api"'
        for i, d in enumerate(deployments)
        if d.weights == "closed" and d.hosting != "api"
    ]


def _looks_like_pack(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        return False  # load_config reports the problem with the file named
    return "deployments" not in raw and ("rules" in raw or "include" in raw)


def _catalog(args: argparse.Namespace) -> int:
    fams = families()
    found = models(args.pattern) if args.pattern else []
    if args.json:
        doc: dict[str, Any] = {"families": [f.model_dump(mode="json") for f in fams]}
        if args.pattern:
            doc["models"] = [_model_doc(m) for m in found]
        print(json.dumps(doc, indent=2))
        return 0
    if not args.pattern:
        print(f"{len(fams)} model families (router/data/families.toml):")
        print(f"  {'vendor':<12} {'origin':<6} {'weights':<7} {'license':<22} quality  models")
        for f in fams:
            print(
                f"  {f.vendor:<12} {f.origin:<6} {f.weights:<7} {f.license:<22} "
                f"{f.quality:7.2f}  {', '.join(f.match)}"
            )
        print(
            f"\n{len(models())} chat models in litellm's price map; list some with "
            "python -m router catalog 'gpt-4o*' (or '*' for all)"
        )
        return 0
    if not found:
        print(f"no chat model of litellm's price map matches {args.pattern!r}")
        return 1
    print(
        f"{len(found)} models matching {args.pattern!r} (USD per 1M tokens; a catalog model "
        "is an API unless its deployment says otherwise; region is set per deployment):"
    )
    width = max(len(m.key) for m in found)
    print(
        f"  {'model':<{width}}  {'provider':<14} {'input':>9} {'output':>9} {'context':>9}  "
        f"{'capabilities':<29} {'vendor':<10} {'origin':<6} weights"
    )
    for m in found:
        fam = family_of(m.key)
        caps = ",".join(sorted(m.capabilities)) or "-"
        print(
            f"  {m.key:<{width}}  {(m.provider or '-'):<14} {_per_mtok(m.input_usd_per_token):>9} "
            f"{_per_mtok(m.output_usd_per_token):>9} "
            f"{(f'{m.context_window:,}' if m.context_window else '-'):>9}  {caps:<29} "
            f"{(fam.vendor if fam else '-'):<10} {(fam.origin if fam else '-'):<6} "
            f"{fam.weights if fam else '-'}"
        )
    return 0


def _per_mtok(usd_per_token: float | None) -> str:
    if usd_per_token is None:
        return "-"
    return usd(usd_per_token * 1e6)


def _model_doc(m: ModelFacts) -> dict[str, Any]:
    fam = family_of(m.key)
    per_mtok = [
        None if p is None else round(p * 1e6, 6)
        for p in (m.input_usd_per_token, m.output_usd_per_token)
    ]
    return {
        "model": m.key,
        "provider": m.provider,
        "input_usd_per_mtok": per_mtok[0],
        "output_usd_per_mtok": per_mtok[1],
        "context_window": m.context_window,
        "max_output_tokens": m.max_output_tokens,
        "capabilities": sorted(m.capabilities),
        "family": list(fam.match) if fam else None,
        "vendor": fam.vendor if fam else None,
        "origin": fam.origin if fam else None,
        "weights": fam.weights if fam else None,
        "license": fam.license if fam else None,
        "quality_prior": fam.quality if fam else None,
        "hosting": "api",
        "region": None,
    }


def _packs(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else builtin_policies()
    packs = [describe_pack(n) for n in names]
    if args.json:
        print(json.dumps(packs[0] if args.name else packs, indent=2))
        return 0
    for i, pack in enumerate(packs):
        if i:
            print()
        print(f"{pack['name']}: {pack['description']}")
        if pack["include"]:
            print(f"  includes {', '.join(pack['include'])}")
        print(f"  unscannable content counts as {pack['unscannable']}")
        if pack["vars"]:
            print("  variables (override in the config: [router] policy_vars = { NAME = ... }):")
            for name, value in pack["vars"].items():
                print(f"    {name} = {json.dumps(value)}")
        if args.name:
            print("  rules, in order:")
            for rule in pack["rules"]:
                fields = ", ".join(
                    f"{k} = {json.dumps(v)}" for k, v in rule.items() if k not in {"label", "from"}
                )
                print(f"    {rule['label']} ({rule['from']}): {fields}")
        else:
            n = len(pack["rules"])
            print(f"  {n} rule{'s' * (n != 1)}: python -m router packs {pack['name']}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.live:
        return demo_live.run(answers=not args.no_answers)
    r = _router(args.config)
    rows: list[DemoRow] = []
    decisions: list[Decision | None] = []
    for s in SAMPLES:
        try:
            d: Decision = r.plan(s.messages, **s.options)
            chosen = d.chosen.name if d.chosen else "-"
            rows.append(
                DemoRow(
                    s.label, d.features.sensitivity, chosen,
                    d.chosen.est_cost_usd if d.chosen else None,
                    r.baseline_cost_usd(d), d.rejected, d.gain_percentile,
                )
            )  # fmt: skip
            decisions.append(d)
        except NoEligibleDeployment as exc:
            d = exc.decision
            rows.append(
                DemoRow(
                    s.label, d.features.sensitivity, "(none)", None, None, d.rejected,
                    d.gain_percentile,
                )
            )  # fmt: skip
            decisions.append(None)
    names = ", ".join(d.name for d in r.deployments)
    print(f"Routing {len(SAMPLES)} sample prompts over {len(r.deployments)} deployments:")
    print(f"  {names}")
    print(
        f"policy {r.policy.name}, objective {r.settings.objective}, "
        f"quality target {r.settings.quality_target:g}, paid share {r.settings.paid_share:g} "
        "(paid only where paying is predicted to gain more than on "
        f"{1 - r.settings.paid_share:.0%} of reference traffic); no model is called (dry run)\n"
    )
    print(demo_table(rows))
    _summary(r, rows, decisions)
    return 0


def _summary(r: Router, rows: Sequence[DemoRow], decisions: Sequence[Decision | None]) -> None:
    served = [d for d in decisions if d is not None and d.chosen is not None]
    local = sum(1 for d in served if d.chosen and d.chosen.hosting != "api")
    free = sum(1 for d in served if d.chosen and d.chosen.est_cost_usd == 0)
    cost = sum(row.est_cost_usd or 0.0 for row in rows)
    base = sum(row.baseline_usd or 0.0 for row in rows)
    print(
        f"\n{len(served)}/{len(rows)} requests have a plan; {free} go to a free deployment, "
        f"{local} stay on machines you control."
    )
    if r.baseline is not None and base > 0:
        saved = base - cost
        print(
            f"estimated maximum cost {usd(cost)} vs {usd(base)} if all went to "
            f"{r.baseline}: {usd(saved)} saved ({saved / base:.0%}). Estimates use the "
            "output budget; real usage is lower."
        )


def _local(args: argparse.Namespace) -> int:
    with LocalServer(
        args.model, port=args.port, sha256=args.sha256, allow_unverified=args.allow_unverified
    ) as server:
        check = "verified" if server.verified else "UNVERIFIED"
        print(f"serving {server.model_path.name} at {server.base_url} (Ctrl-C stops it)")
        print(f"sha256 {server.sha256} ({check})")
        print("deployment entry for your config:")
        for key, value in server.deployment().items():
            print(f"  {key} = {json.dumps(value)}")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.new_key is not None:
        from router.server import new_key  # noqa: PLC0415  (no server extra needed)

        tenant = args.new_key
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", tenant):
            raise ConfigError(_SERVE, "--new-key", "a tenant is 1-64 letters, digits, . _ -")
        key, line = new_key()
        print(f"client key for {tenant} (shown once; give it to the client, keep no copy):")
        print(f"  {key}")
        print("add to the config:")
        print(f'  [[server.keys]]\n  tenant = "{tenant}"\n  key_hash = "{line}"')
        return 0
    if args.config is None:
        raise ConfigError(_SERVE, "--config", "give the config file: --config router.toml")
    try:
        from router.server import serve  # noqa: PLC0415  (Starlette and uvicorn: only here)

        run = serve
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in ("starlette", "uvicorn"):
            raise
        raise ConfigError(
            _SERVE, "", f"the server needs {missing}: pip install 'freefirst-router[server]'"
        ) from None
    return run(args.config, host=args.host, port=args.port, workers=args.workers)


def _report(args: argparse.Namespace) -> int:
    return report.main(args.args)


def _eval(args: argparse.Namespace) -> int:
    return quality_cli.main(args.args)


def _calibrate(args: argparse.Namespace) -> int:
    return calibrate_cli.main(args.args)


def _replay(args: argparse.Namespace) -> int:
    return replay.run(args.ledger, args.config, as_json=args.json, calibration=args.calibration)


_COMMANDS = {
    "explain": _explain,
    "check": _check,
    "catalog": _catalog,
    "packs": _packs,
    "demo": _demo,
    "local": _local,
    "serve": _serve,
    "replay": _replay,
    "report": _report,
    "eval": _eval,
    "calibrate": _calibrate,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe surfaces here, not at interpreter exit
        return code
    except RouterError as exc:
        print(f"router: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `python -m router demo | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
