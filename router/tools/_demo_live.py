"""`make demo`: start SmolLM2 on this machine and route the sample workload for real.

Paid deployments are called only when their key variable is set; otherwise they show
as unavailable (the executor falls back inside the plan) and the demo still completes.
Cost and baseline come from each decision (`decision.usage`, `decision.cost`): the
reported usage x the serving deployment's price, and the same usage at the baseline's.

Each row shows the start of the answer (`ANSWER_CHARS` characters, on one line; `run(
answers=False)` leaves the column out) and, when a deployment of the plan did not serve,
the cause each one gave as the router recorded it (`$DEEPSEEK_API_KEY is not set`, a
timeout, "cooling down after failures (last: ...)"), never a summary of it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from router._records import MICRO, Attempt, Result
from router._router import Router
from router.decision import load_config
from router.errors import AllDeploymentsFailed, NoEligibleDeployment, RouterError
from router.tools._demo import SAMPLES, Sample
from router.tools._local import LocalServer
from router.tools._render import usd

__all__ = ["ANSWER_CHARS", "LIVE_CONFIG", "one_line", "route_samples", "run"]

LIVE_CONFIG = Path(__file__).parent.parent / "data" / "demo-live.toml"
LEDGER = Path(".router") / "demo-ledger.sqlite"  # in the working directory; each run starts anew
MAX_TOKENS = 48  # keep the tiny model's answers short: the point is the routing
ANSWER_CHARS = 80  # each answer is shown on its row, on one line, cut to this many characters


def _router(base_url: str, ledger: Path | None) -> Router:
    """The live demo's Router: LIVE_CONFIG with the local model at `base_url`."""
    cfg = load_config(LIVE_CONFIG)
    deployments = [
        d.model_copy(update={"api_base": base_url}) if d.name == "local-smollm2" else d
        for d in cfg.deployments
    ]
    return Router(
        deployments,
        policy=cfg.policy,
        settings=cfg.settings,
        baseline=cfg.baseline,
        ledger=ledger,
    )


def run(*, answers: bool = True) -> int:
    """Start SmolLM2, route SAMPLES through it for real and print one row per request
    (with the start of its answer unless `answers=False`)."""
    print("==> starting SmolLM2-135M-Instruct (llama.cpp) on 127.0.0.1 ...")
    with LocalServer() as server:
        for stale in LEDGER.parent.glob(LEDGER.name + "*"):  # the ledger and its -wal/-shm
            stale.unlink()
        r = _router(server.base_url, LEDGER)
        print(f"    ready at {server.base_url}; paid APIs are called only if their key is set\n")
        route_samples(r, SAMPLES, answers=answers)
        count = r.ledger.count() if r.ledger else 0
        print(f"every request is in the ledger {LEDGER} ({count} records)")
    return 0


def route_samples(r: Router, samples: Sequence[Sample], *, answers: bool = True) -> None:
    """Send each sample through `r` and print its row: who served it, how long it took,
    tokens, cost, the start of the answer (`answers`) and, when a deployment of the plan
    could not serve, the cause each such deployment gave, as the router recorded it."""
    answer_head = f"  {'answer':<{ANSWER_CHARS}}" if answers else ""
    head = f"{'#':>2}  {'prompt':<28} {'served by':<16} {'ms':>6} {'in/out':>11} {'cost':>10}"
    print(f"{head}{answer_head}  note")
    print("-" * (len(head) + len(answer_head) + 30))
    total = base = 0
    served_local = 0
    for i, s in enumerate(samples, 1):
        options = {"max_tokens": MAX_TOKENS, **s.options}
        options["max_tokens"] = min(options["max_tokens"], MAX_TOKENS)
        start = time.perf_counter()
        try:
            result = r.complete(s.messages, temperature=0, timeout=60, **options)
        except (AllDeploymentsFailed, NoEligibleDeployment) as exc:
            causes = _causes(getattr(exc, "attempts", ()))
            note = "unavailable: " + (_summary(causes, None) or _cause(str(exc)))
            blank = f"  {'':<{ANSWER_CHARS}}" if answers else ""
            print(
                f"{i:>2}  {s.label[:28]:<28} {'(none)':<16} {'':>6} {'':>11} {'':>10}"
                f"{blank}  {note}"
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
        planned = d.candidates[0].name
        causes = _causes(d.attempts)
        note = f"planned {planned}, unavailable: {_summary(causes, planned)}" if causes else ""
        shown = f"  {one_line(_answer_text(result), ANSWER_CHARS):<{ANSWER_CHARS}}"
        print(
            f"{i:>2}  {s.label[:28]:<28} {d.served_by or '-':<16} {ms:>6.0f} "
            f"{f'{p_in}/{p_out}':>11} {usd(d.cost.usd):>10}"
            + (shown if answers else "")
            + (f"  {note}" if note else "")
        )
    saved = (base - total) / MICRO
    print(
        f"\n{served_local}/{len(samples)} answered on this machine; cost {usd(total / MICRO)} "
        f"vs {usd(base / MICRO)} for the same tokens on {r.baseline}: {usd(saved)} saved"
        + (f" ({(base - total) / base:.0%})" if base else "")
    )


def one_line(text: str, limit: int = ANSWER_CHARS) -> str:
    """`text` on one line (runs of whitespace, newlines included, become one space),
    cut to `limit` characters with "..." when longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def _answer_text(result: Result) -> str:
    """The answer's text, or the tool calls it asked for, or "(empty answer)"."""
    if result.content:
        return result.content
    choices = result.response.get("choices") or [{}]
    calls = (choices[0].get("message") or {}).get("tool_calls") or []
    names = [str((c.get("function") or {}).get("name")) for c in calls if isinstance(c, dict)]
    return f"(tool call: {', '.join(names)})" if names else "(empty answer)"


def _causes(attempts: Sequence[Attempt]) -> dict[str, str]:
    """Why each deployment of the plan that did not serve did not: the last error it gave
    (a skip says why too: "cooling down after failures (last: ...)"), in plan order; the
    ones that were called before the ones skipped without a call."""
    called: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for a in attempts:
        if a.error and a.outcome not in ("ok", "sample", "rejected"):
            (skipped if a.outcome == "skipped" else called)[a.deployment] = _cause(
                a.error, a.deployment
            )
    return called | {name: why for name, why in skipped.items() if name not in called}


def _summary(causes: dict[str, str], planned: str | None) -> str:
    """One cause, as recorded: the planned deployment's (said without its name, the row
    names it), else the first one's; how many more did not serve follows."""
    if not causes:
        return ""
    name = planned if planned in causes else next(iter(causes))
    first = causes[name] if name == planned else f"{name}: {causes[name]}"
    more = len(causes) - 1
    return first + (f"; {more} more unavailable too" if more else "")


def _cause(error: str, deployment: str | None = None) -> str:
    """An attempt's error as the row shows it: without the deployment's name in front
    (the row says it) and "$VAR" for an environment variable; the cause itself kept."""
    if deployment is not None:
        error = error.removeprefix(f"{deployment}: ")
    error = error.replace("missing credentials: ", "")
    return error.replace("environment variable ", "$")


def main() -> int:
    try:
        return run()
    except RouterError as exc:
        print(f"router: error: {exc}", file=sys.stderr)
        return 2
