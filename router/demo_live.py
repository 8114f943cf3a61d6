"""`make demo`: start SmolLM2 on this machine and route the sample workload for real.

Paid deployments are called only when their key variable is set; otherwise they show
as unavailable (the executor falls back inside the plan) and the demo still completes.
Cost and baseline come from each decision (`decision.usage`, `decision.cost`): the
reported usage x the serving deployment's price, and the same usage at the baseline's.
"""

from __future__ import annotations

import time
from pathlib import Path

from router._router import Router
from router.config import load_config
from router.demo import SAMPLES
from router.errors import AllDeploymentsFailed, NoEligibleDeployment, RouterError
from router.local import LocalServer
from router.records import MICRO
from router.render import usd

__all__ = ["LIVE_CONFIG", "run"]

LIVE_CONFIG = Path(__file__).parent / "data" / "demo-live.toml"
LEDGER = Path(".router") / "demo-ledger.sqlite"  # in the working directory; each run starts anew
MAX_TOKENS = 48  # keep the tiny model's answers short: the point is the routing


def _router(server: LocalServer, ledger: Path) -> Router:
    cfg = load_config(LIVE_CONFIG)
    deployments = [
        d.model_copy(update={"api_base": server.base_url}) if d.name == "local-smollm2" else d
        for d in cfg.deployments
    ]
    return Router(
        deployments,
        policy=cfg.policy,
        settings=cfg.settings,
        baseline=cfg.baseline,
        ledger=ledger,
    )


def run() -> int:
    print("==> starting SmolLM2-135M-Instruct (llama.cpp) on 127.0.0.1 ...")
    with LocalServer() as server:
        for stale in LEDGER.parent.glob(LEDGER.name + "*"):  # the ledger and its -wal/-shm
            stale.unlink()
        r = _router(server, LEDGER)
        print(f"    ready at {server.base_url}; paid APIs are called only if their key is set\n")
        head = f"{'#':>2}  {'prompt':<28} {'served by':<16} {'ms':>6} {'in/out':>11} {'cost':>10}"
        print(head + "  note")
        print("-" * 118)
        total = base = 0
        served_local = 0
        for i, s in enumerate(SAMPLES, 1):
            options = {"max_tokens": MAX_TOKENS, **s.options}
            options["max_tokens"] = min(options["max_tokens"], MAX_TOKENS)
            start = time.perf_counter()
            try:
                result = r.complete(s.messages, temperature=0, timeout=60, **options)
            except (AllDeploymentsFailed, NoEligibleDeployment) as exc:
                tried = [a for a in getattr(exc, "attempts", ()) if a.outcome != "skipped"]
                every = getattr(exc, "attempts", ())
                first = (tried or list(every))[:1]
                why = first[0].error if first and first[0].error else str(exc)
                note = "unavailable: " + why.replace("environment variable ", "$")
                print(
                    f"{i:>2}  {s.label[:28]:<28} {'(none)':<16} {'':>6} {'':>11} {'':>10}  {note}"
                )
                continue
            ms = (time.perf_counter() - start) * 1000
            d = result.decision
            assert d.usage is not None
            assert d.cost is not None
            p_in, p_out = d.usage.prompt_tokens, d.usage.completion_tokens
            dep = next(x for x in r.deployments if x.name == d.served_by)
            total += d.cost.micro_usd
            base += d.cost.baseline_micro_usd or 0
            served_local += dep.hosting != "api"
            skipped = [a for a in d.attempts if a.outcome not in ("ok", "skipped")] or [
                a for a in d.attempts if a.outcome == "skipped"
            ]
            planned = d.candidates[0].name
            note = (
                f"planned {planned}, unavailable: "
                + skipped[0].error.split(": ", 1)[-1].replace("environment variable ", "$")
                if skipped and skipped[0].error
                else ""
            )
            print(
                f"{i:>2}  {s.label[:28]:<28} {d.served_by or '-':<16} {ms:>6.0f} "
                f"{f'{p_in}/{p_out}':>11} {usd(d.cost.usd):>10}  {note}"
            )
        saved = (base - total) / MICRO
        print(
            f"\n{served_local}/{len(SAMPLES)} answered on this machine; cost {usd(total / MICRO)} "
            f"vs {usd(base / MICRO)} for the same tokens on {r.baseline}: {usd(saved)} saved"
            + (f" ({(base - total) / base:.0%})" if base else "")
        )
        count = r.ledger.count() if r.ledger else 0
        print(f"every request is in the ledger {LEDGER} ({count} records)")
    return 0


def main() -> int:
    try:
        return run()
    except RouterError as exc:
        print(f"router: error: {exc}")
        return 2
