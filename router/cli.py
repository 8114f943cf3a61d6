"""`python -m router explain | check | demo | local | replay | report | eval | calibrate`.

User errors (bad config, bad arguments) print one line to stderr and exit 2;
"nothing may serve this request" prints the decision and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from router import demo_live, replay, report
from router._router import Router
from router.config import load_config
from router.demo import DEMO_CONFIG, SAMPLES
from router.errors import NoEligibleDeployment, RouterError
from router.local import LocalServer
from router.models import SENSITIVITY_LEVELS, Deployment
from router.packs import load_policy
from router.quality import calibrate_cli
from router.quality import cli as quality_cli
from router.records import Decision
from router.render import DemoRow, QualityWhy, demo_table, explain_text, usd

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one clear line and exit 2, never a traceback
        # Always "router: error:", also from a subcommand's parser ("router explain").
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


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="router", description="Plan LLM requests: free first, paid by exception.")
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

    lo = sub.add_parser("local", help="serve a GGUF model on 127.0.0.1 until Ctrl-C")
    lo.add_argument("--model", type=Path, help="GGUF file (default: SmolLM2-135M-Instruct)")
    lo.add_argument("--port", type=_positive_int, help="port (default: a free one)")
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

    sub.add_parser(
        "report",
        help="requests, spend, savings, latency and compliance from a ledger",
        add_help=False,  # `router report -h` is the report's own help
        prefix_chars="\0",  # every argument goes to router.report.main as it is
    ).add_argument("args", nargs=argparse.REMAINDER)

    sub.add_parser(
        "eval",
        help="score the quality predictor's routing on a labelled CSV sample",
        add_help=False,  # `router eval -h` is the evaluation's own help
        prefix_chars="\0",  # every argument goes to router.quality.cli.main as it is
    ).add_argument("args", nargs=argparse.REMAINDER)

    sub.add_parser(
        "calibrate",
        help="fit the quality predictor to a labelled sample of your traffic",
        add_help=False,  # `router calibrate -h` is the calibration's own help
        prefix_chars="\0",  # every argument goes to router.quality.calibrate_cli.main
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
        print(json.dumps(doc, indent=2))
    else:
        print(explain_text(decision, baseline, why))
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
    cfg = load_config(path)
    print(
        f"ok: {len(cfg.deployments)} deployments, policy {cfg.policy.name!r} "
        f"({cfg.policy.fingerprint}, {len(cfg.policy.rules)} rules), "
        f"objective {cfg.settings.objective}"
    )
    for d in cfg.deployments:
        print(
            f"  {d.name:<24} {d.hosting:<11} {d.weights:<6} ctx {d.context_window:>9,}  "
            f"in {usd(d.input_usd_per_token * 1e6)}/M  out {usd(d.output_usd_per_token * 1e6)}/M"
            f"  q={d.quality:.2f} ({d.quality_source})"
        )
    for line in _closed_weights_warnings(cfg.deployments, cfg.source):
        print(f"router: warning: {line}", file=sys.stderr)
    return 0


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


def _demo(args: argparse.Namespace) -> int:
    if args.live:
        return demo_live.run()
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
    "demo": _demo,
    "local": _local,
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
