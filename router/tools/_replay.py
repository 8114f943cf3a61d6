"""`python -m router replay`: what would another config have cost on recorded traffic?

Every ledger record holds the request's features (token counts, capabilities,
sensitivity, tenant, tags; never the prompt). Replay re-plans each one under the new
config, in time order, without calling any model and without prompt text, and
compares with what was recorded.

What is estimated, and how:
- the first candidate of the new plan is assumed to answer (no failures, no fallback);
- it is assumed to use the same tokens as the recorded call (requests that got no
  answer: the recorded prompt estimate and the whole output budget);
- the new config's budgets are simulated in memory with these estimated costs, from
  zero at the start of the ledger;
- features are as recorded: detectors and the output budget of the old config; the
  quality target is the new config's (a per-request override is not recorded).

Qualities are the deployments' priors (`prior_scorer`). With a calibration file
(`--calibration CAL.json`, from `python -m router calibrate`) each request is also
planned by the trained predictor from its recorded profile, with the config's own
calibration and with the new one, and the two are compared: spend, each deployment's
share of the requests, and how many requests change deployment. A request whose profile
was recorded under another quality model (or none) is planned on priors in both.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from router._models import Deployment, Features
from router._records import MICRO, Decision, Usage
from router.decision import (
    Budget,
    BudgetState,
    Config,
    Scorer,
    applicable,
    baseline_prices,
    default_scorer,
    load_config,
    plan_features,
    prior_scorer,
)
from router.errors import LedgerError
from router.money import Ledger, Row, price_micro

__all__ = ["CalibrationReplay", "ReplayReport", "render_text", "replay", "run"]

UNSERVABLE = "(unservable)"


@dataclass
class ReplayReport:
    """Recorded traffic against the same traffic planned under another config."""

    config: str
    requests: int = 0
    recorded_micro: int = 0
    estimated_micro: int = 0
    baseline_micro: int = 0
    moved: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(recorded served_by or "(none)", new first choice or "(unservable)") -> count."""
    unservable_reasons: Counter[str] = field(default_factory=Counter)
    calibration: CalibrationReplay | None = None

    @property
    def changed(self) -> int:
        return sum(n for (old, new), n in self.moved.items() if old != new)

    @property
    def unservable(self) -> int:
        return sum(n for (_, new), n in self.moved.items() if new == UNSERVABLE)

    def to_dict(self) -> dict[str, Any]:
        saved = self.baseline_micro - self.estimated_micro
        return {
            "config": self.config,
            "requests": self.requests,
            "recorded_spend_usd": self.recorded_micro / MICRO,
            "estimated_spend_usd": self.estimated_micro / MICRO,
            "estimated_baseline_usd": self.baseline_micro / MICRO,
            "estimated_saved_usd": saved / MICRO,
            "estimated_saved_pct": (100 * saved / self.baseline_micro)
            if self.baseline_micro
            else None,
            "moved": self.changed,
            "unservable": self.unservable,
            "moves": [
                {"from": old, "to": new, "requests": n}
                for (old, new), n in sorted(self.moved.items(), key=lambda kv: -kv[1])
            ],
            "unservable_reasons": dict(self.unservable_reasons.most_common(10)),
            "estimated": "first candidate answers, same tokens as recorded, budgets simulated",
            **({"calibration": self.calibration.to_dict()} if self.calibration else {}),
        }


@dataclass
class CalibrationReplay:
    """The same requests planned by the trained predictor from their recorded profiles:
    with the config's calibration (before) and with a new one (after)."""

    calibration: str
    rescored: int = 0
    """Requests with a profile recorded under this quality model."""
    before_micro: int = 0
    after_micro: int = 0
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    """First choice (or "(unservable)") -> requests."""
    changed: int = 0

    def to_dict(self) -> dict[str, Any]:
        total = sum(self.before.values()) or 1
        names = sorted(self.before.keys() | self.after.keys())
        return {
            "file": self.calibration,
            "rescored": self.rescored,
            "spend_before_usd": self.before_micro / MICRO,
            "spend_after_usd": self.after_micro / MICRO,
            "share_before": {n: self.before[n] / total for n in names},
            "share_after": {n: self.after[n] / total for n in names},
            "changed": self.changed,
        }


def _features(row: Row, index: int) -> tuple[Features, Usage | None]:
    try:
        data = json.loads(row.decision)
        features = Features.model_validate(data["features"])
        raw = data.get("usage")
        usage = Usage(raw["prompt_tokens"], raw["completion_tokens"], "provider") if raw else None
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        why = f"record {index}: unreadable decision ({type(exc).__name__})"
        raise LedgerError("", why) from None
    return features, usage


class _Planner:
    """Plans recorded features under one config and scorer, simulating its budgets."""

    def __init__(self, config: Config, scorer: Scorer) -> None:
        self.config, self.scorer = config, scorer
        self.bound = config.policy.bind(config.deployments)
        self.by_name = {d.name: d for d in config.deployments}
        self.spent: Counter[tuple[str, str]] = Counter()

    def choose(
        self, features: Features, used: Usage, ts: float
    ) -> tuple[Deployment | None, int, Decision]:
        """The new first choice (None: unservable), its estimated cost, the decision."""
        config = self.config
        states = _states(config.budgets, features, ts, self.spent)
        decision = plan_features(
            features,
            config.deployments,
            self.bound,
            config.settings,
            self.scorer,
            target=config.settings.quality_target,
            budgets=states,
        )
        if not decision.candidates:
            return None, 0, decision
        chosen = self.by_name[decision.candidates[0].name]
        cost = price_micro(used, chosen.input_usd_per_token, chosen.output_usd_per_token)
        for s in states:
            self.spent[(s.key, s.window)] += cost
        return chosen, cost, decision


class _Comparison:
    """Before/after planners for `--calibration`, and their tally."""

    def __init__(self, config: Config, calibration: Path) -> None:
        from router.quality.trained import default_model  # noqa: PLC0415

        self.digest = default_model().digest
        self.before = _Planner(config, default_scorer(config.calibration))
        self.after = _Planner(config, default_scorer(calibration))
        self.report = CalibrationReplay(str(calibration))

    def add(self, row: Row, features: Features, used: Usage) -> None:
        profile = _profile(row, self.digest)
        self.report.rescored += bool(profile)
        features = features.model_copy(update={"profile": profile})
        old, old_cost, _ = self.before.choose(features, used, row.ts)
        new, new_cost, _ = self.after.choose(features, used, row.ts)
        before, after = (d.name if d else UNSERVABLE for d in (old, new))
        self.report.before_micro += old_cost
        self.report.after_micro += new_cost
        self.report.before[before] += 1
        self.report.after[after] += 1
        self.report.changed += before != after


def _profile(row: Row, digest: str) -> tuple[float, ...]:
    """The recorded profile, when it was recorded under this quality model."""
    if row.profile is None or row.quality_model != digest:
        return ()
    return tuple(float(v) for v in json.loads(row.profile))


def replay(
    rows: Iterable[Row],
    config: Config,
    *,
    progress: Callable[[int], None] | None = None,
    calibration: Path | None = None,
) -> ReplayReport:
    """Re-plan every recorded request under `config` (and, with `calibration`, compare the
    trained predictor with and without it). Pure over the rows it is given."""
    report = ReplayReport(config=config.source)
    planner = _Planner(config, prior_scorer)
    compare = _Comparison(config, calibration) if calibration is not None else None
    baseline = baseline_prices(config.baseline, config.deployments, config.source)
    for i, row in enumerate(rows):
        if progress is not None and i and i % 10_000 == 0:
            progress(i)
        features, usage = _features(row, i)
        used = usage or Usage(features.prompt_tokens, features.max_output_tokens, "estimate")
        chosen, cost, decision = planner.choose(features, used, row.ts)
        if compare is not None:
            compare.add(row, features, used)
        old = row.served_by or "(none)"
        report.requests += 1
        report.recorded_micro += row.cost_micro
        if baseline is not None:
            report.baseline_micro += price_micro(used, *baseline)
        if chosen is None:
            report.moved[(old, UNSERVABLE)] += 1
            for r in decision.rejected:
                for reason in r.reasons[:1]:
                    report.unservable_reasons[reason.split(":")[0]] += 1
            continue
        report.estimated_micro += cost
        report.moved[(old, chosen.name)] += 1
    report.calibration = compare.report if compare is not None else None
    return report


def _states(
    budgets: Sequence[Budget], features: Features, ts: float, spent: Counter[tuple[str, str]]
) -> list[BudgetState]:
    out = []
    for b in applicable(budgets, features.tenant, features.tags):
        key, window = b.key(features.tenant), b.window(ts)
        out.append(BudgetState(b, features.tenant, key, window, spent[(key, window)]))
    return out


def render_text(report: ReplayReport) -> str:
    d = report.to_dict()
    pct = d["estimated_saved_pct"]
    lines = [
        f"replay of {d['requests']:,} recorded requests under {d['config']}",
        f"  recorded spend        ${d['recorded_spend_usd']:,.6f}",
        f"  estimated spend       ${d['estimated_spend_usd']:,.6f}",
        f"  estimated baseline    ${d['estimated_baseline_usd']:,.6f}",
        f"  estimated saved       ${d['estimated_saved_usd']:,.6f}"
        + (f" ({pct:.1f}%)" if pct is not None else ""),
        f"  would move            {d['moved']:,} requests to another deployment",
        f"  would be unservable   {d['unservable']:,}",
        "",
        f"  {'recorded':<24} {'under the new config':<24} {'requests':>9}",
    ]
    lines += [f"  {m['from']:<24} {m['to']:<24} {m['requests']:>9,}" for m in d["moves"]]
    if d["unservable_reasons"]:
        lines += ["", "  why unservable (first reason per deployment):"]
        lines += [f"  {n:>9,}  {why}" for why, n in d["unservable_reasons"].items()]
    if report.calibration is not None:
        lines += _calibration_lines(report.calibration, report.requests)
    lines += [
        "",
        "  Estimated: the new first choice is assumed to answer with the recorded token",
        "  counts; budgets are simulated from zero; no model was called.",
    ]
    return "\n".join(lines)


def _calibration_lines(cal: CalibrationReplay, requests: int) -> list[str]:
    d = cal.to_dict()
    lines = [
        "",
        f"  with the calibration {d['file']} (trained predictor, {d['rescored']:,} of "
        f"{requests:,} requests re-scored from their recorded profile)",
        f"  estimated spend       ${d['spend_before_usd']:,.6f} -> ${d['spend_after_usd']:,.6f}",
        f"  would change          {d['changed']:,} requests to another deployment",
        "",
        f"  {'first choice':<24} {'before':>9} {'after':>9}",
    ]
    lines += [
        f"  {name:<24} {share:>9.1%} {d['share_after'][name]:>9.1%}"
        for name, share in d["share_before"].items()
    ]
    return lines


def run(
    ledger_path: Path,
    config_path: Path,
    *,
    as_json: bool = False,
    calibration: Path | None = None,
) -> int:
    """The CLI command: print the replay (progress on stderr). Raises RouterError."""
    config = load_config(config_path)
    ledger = Ledger(ledger_path, create=False)
    total = ledger.count()

    def progress(done: int) -> None:
        print(f"  replayed {done:,}/{total:,}", file=sys.stderr, flush=True)

    try:
        report = replay(ledger.rows(), config, progress=progress, calibration=calibration)
    except LedgerError as exc:
        raise LedgerError(str(ledger_path), exc.message) from None
    print(json.dumps(report.to_dict(), indent=2) if as_json else render_text(report))
    return 0
