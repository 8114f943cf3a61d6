"""Decisions as text for people: `explain` output and the demo table. Pure string work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from router._models import Deployment
from router._records import Decision, Rejection

__all__ = [
    "DemoRow",
    "demo_table",
    "deployment_facts",
    "deployments_text",
    "explain_text",
    "grouped_rejections",
    "usd",
]


def usd(value: float | None) -> str:
    """A cost for people: `$0.0123`, `$0.000041`, `free`."""
    if value is None:
        return "-"
    if value == 0:
        return "free"
    return f"${value:.4f}" if value >= 0.001 else f"${value:.6f}"


def _strip_label(reason: str) -> str:
    """'pack#1 kind: text' -> 'text' (the label is in the JSON output, not needed here)."""
    head, sep, tail = reason.partition(": ")
    return tail if sep and "#" in head else reason


def grouped_rejections(rejected: Sequence[Rejection]) -> list[tuple[list[str], str]]:
    """Rejections grouped by their main (first) reason, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for r in rejected:
        groups.setdefault(_strip_label(r.reasons[0]), []).append(r.name)
    return [(names, reason) for reason, names in groups.items()]


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit}" if len(names) > limit else "")


@dataclass(frozen=True)
class QualityWhy:
    """What moved the predicted qualities of one prompt, for `explain` (never stored)."""

    paid_share: float
    harder: Sequence[str] = ()
    """Words of the prompt that raised its predicted difficulty most."""
    easier: Sequence[str] = ()
    priors: Mapping[str, float] = field(default_factory=dict)
    """Per candidate: its quality before the prompt is read (prior or trained mean)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "paid_share": self.paid_share,
            "harder_because_of": list(self.harder),
            "easier_because_of": list(self.easier),
            "quality_before_prompt": dict(self.priors),
        }


def _quality_lines(decision: Decision, why: QualityWhy) -> list[str]:
    pct = decision.gain_percentile
    if pct is None:
        return []
    share = why.paid_share
    band = (
        f"in the top {share:.0%} (paid_share): worth paying for"
        if pct >= 1 - share
        else f"below the top {share:.0%} (paid_share): free first"
    )
    lines = [f"gain of paying: more than on {pct:.0%} of reference traffic, {band}"]
    if why.harder:
        lines.append("  harder because of: " + ", ".join(f'"{w}"' for w in why.harder))
    if why.easier:
        lines.append("  easier because of: " + ", ".join(f'"{w}"' for w in why.easier))
    return lines


def _moved(c: object, why: QualityWhy | None) -> str:
    if why is None:
        return ""
    name, q = getattr(c, "name", ""), float(getattr(c, "quality", 0.0))
    before = why.priors.get(name)
    if before is None or abs(q - before) < 0.005:
        return ""
    word = "harder" if q < before else "easier"
    return f" ({before:.2f} before the prompt, {q - before:+.2f}: {word} than usual)"


def explain_text(
    decision: Decision, baseline_usd: float | None = None, why: QualityWhy | None = None
) -> str:
    f = decision.features
    tokens = f"{f.prompt_tokens:,} tokens" + ("" if f.prompt_tokens_exact else " (estimate)")
    found = ", ".join(f"{d.kind} x{d.count}" for d in f.detections) or "nothing"
    if f.unscannable:
        unread = ", ".join(f"{u.kind} x{u.count}" for u in f.unscannable)
        found += f"; unscannable {unread}: at least {f.unscannable[0].level}"
    output = f"output budget {f.max_output_tokens:,} ({f.output_budget_source})"
    if f.choices > 1:
        output += f" x {f.choices} answers (n)"
    lines = [
        f"policy {decision.policy} ({decision.policy_fingerprint}), objective "
        f"{decision.objective}, quality target {decision.quality_target:g}",
        f"request: {tokens}, {output}, capabilities: {', '.join(f.capabilities) or 'none'}",
        f"sensitivity: {f.sensitivity} (declared {f.declared_sensitivity}; detected {found}), "
        f"tenant {f.tenant}" + (f", tags {', '.join(f.tags)}" if f.tags else ""),
        *(_quality_lines(decision, why) if why is not None else []),
        "",
        "candidates, in order:" if decision.candidates else "candidates: none",
    ]
    width = max((len(c.name) for c in decision.candidates), default=0)
    for i, c in enumerate(decision.candidates, 1):
        lines.append(
            f"  {i}. {c.name:<{width}}  {c.hosting:<11} q={c.quality:.2f}  "
            f"{usd(c.est_cost_usd):>10}  {c.why}{_moved(c, why)}"
        )
    if baseline_usd is not None and decision.chosen is not None:
        lines.append(f"  baseline would cost {usd(baseline_usd)}")
    if decision.rejected:
        lines += ["", "rejected:"]
        width = max(len(r.name) for r in decision.rejected)
        for r in decision.rejected:
            lines.append(f"  {r.name:<{width}}  [{r.stage}] {r.reasons[0]}")
            lines += [f"  {'':<{width}}  [{r.stage}] {more}" for more in r.reasons[1:]]
    return "\n".join(lines)


@dataclass(frozen=True)
class DemoRow:
    label: str
    sensitivity: str
    chosen: str
    est_cost_usd: float | None
    baseline_usd: float | None
    rejected: Sequence[Rejection]
    difficulty: float | None = None
    """How the request's predicted gain of paying ranks (`Decision.gain_percentile`)."""


def demo_table(rows: Sequence[DemoRow]) -> str:
    head = (
        f"{'#':>2}  {'prompt':<28} {'sensitivity':<12} {'gain rank':>11}  {'chosen':<18} "
        f"{'est. cost':>10}"
    )
    out = [head + "  main reason for each rejection", "-" * 133]
    for i, row in enumerate(rows, 1):
        groups = grouped_rejections(row.rejected)
        first = f"{_names(groups[0][0])}: {groups[0][1]}" if groups else "-"
        pct = "-" if row.difficulty is None else f"{row.difficulty:.0%}"
        out.append(
            f"{i:>2}  {row.label[:28]:<28} {row.sensitivity:<12} {pct:>11}  {row.chosen[:18]:<18} "
            f"{usd(row.est_cost_usd):>10}  {first}"
        )
        out += [f"{'':>88}{_names(names)}: {reason}" for names, reason in groups[1:]]
    return "\n".join(out)


def deployment_facts(d: Deployment) -> dict[str, object]:
    """What `check` and `explain` show about a deployment: provenance (vendor, origin,
    region, hosting, weights, licence), prices per 1M tokens, window and capabilities."""
    return {
        "model": d.model,
        "vendor": d.vendor,
        "origin": d.origin,
        "region": d.region,
        "hosting": d.hosting,
        "weights": d.weights,
        "license": d.license,
        "context_window": d.context_window,
        "input_usd_per_mtok": round(d.input_usd_per_token * 1e6, 6),
        "output_usd_per_mtok": round(d.output_usd_per_token * 1e6, 6),
        "price_source": d.price_source,
        "capabilities": sorted(d.capabilities),
        "quality": d.quality,
        "quality_source": d.quality_source,
    }


def _per_m(usd_per_token: float) -> str:
    text = usd(usd_per_token * 1e6)
    return text if text == "free" else f"{text}/M"


def deployments_text(deployments: Sequence[Deployment], indent: str = "  ") -> str:
    """One aligned line per deployment, its name first: where it runs and whose it is
    (vendor, origin, region: `?` where nobody stated it, which fails an allow rule on
    it), context window, prices per 1M tokens and quality."""
    rows = [
        (
            (d.name, d.hosting, d.weights),
            (("vendor", d.vendor or "?"), ("origin", d.origin or "?"),
             ("region", d.region or "?")),
            (("ctx", f"{d.context_window:,}"), ("in", _per_m(d.input_usd_per_token)),
             ("out", _per_m(d.output_usd_per_token))),
            f"q={d.quality:.2f} ({d.quality_source})",
        )
        for d in deployments
    ]  # fmt: skip

    def width(cells: Sequence[Sequence[str]], i: int) -> int:
        return max((len(c[i]) for c in cells), default=0)

    lines = []
    for plain, named, numbers, quality in rows:
        cells = [c.ljust(width([r[0] for r in rows], i)) for i, c in enumerate(plain)]
        cells += [
            f"{label} {value.ljust(width([[v for _, v in r[1]] for r in rows], i))}"
            for i, (label, value) in enumerate(named)
        ]
        cells += [
            f"{label} {value.rjust(width([[v for _, v in r[2]] for r in rows], i))}"
            for i, (label, value) in enumerate(numbers)
        ]
        lines.append(indent + "  ".join([*cells, quality]))
    return "\n".join(lines)
