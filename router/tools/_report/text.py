"""`render_text`: the report as aligned text tables, and the wording both views share
(money, percentages, the summary lines, the compliance lines)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from router.tools._report.values import YOUR_MACHINES, Compliance, Latency, Report, Stats

__all__ = ["cold_start_line", "compliance_line", "money", "render_text"]


def money(micro: int) -> str:
    """Micro-dollars for people: cents from a dollar up (`$1,234.57`), two significant
    digits below (`$0.34`, `$0.017`, `$0.0075`, `$0.000001`), `$0` for nothing; rounded
    half up. The exact integers are in the JSON."""
    if micro == 0:
        return "$0"
    sign, usd = ("-" if micro < 0 else ""), Decimal(abs(micro)).scaleb(-6)
    decimals = 2 if usd >= Decimal("0.995") else max(2, 1 - math.floor(math.log10(usd)))
    shown = f"{usd.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP):,f}"
    if decimals > 2:  # "0.0100" -> "0.01", "0.0000010" -> "0.000001"
        shown = shown.rstrip("0")
        shown += "0" * max(0, 2 - len(shown.partition(".")[2]))
    return f"{sign}${shown}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _n(value: int) -> str:
    return f"{value:,}"


YOURS = " or ".join(YOUR_MACHINES)
"""How "your machines" is spelled out for people: "local or self-hosted"."""


def _scope(report: Report) -> str:
    span = f"{report.first_day} .. {report.last_day}" if report.first_day else "no records"
    since = f" since {report.since}" if report.since else ""
    who = f"tenant {report.tenant}" if report.tenant else "all tenants"
    return f"{span}{since}, {who}"


def _latency_over(lat: Latency) -> str:
    if not lat.cold_starts:
        return "served requests"
    return "served requests" if lat.cold_starts_included else "warm served requests"


def cold_start_line(lat: Latency) -> str:
    """The cold starts (requests that paid the process's first-call cost), apart from the
    percentiles or, with --include-cold-starts, in them."""
    where = "counted in" if lat.cold_starts_included else "left out of"
    return f"{_n(lat.cold_starts)} (p50 {_ms(lat.cold_p50_ms)}), {where} the latency percentiles"


def _summary_lines(report: Report) -> list[tuple[str, str]]:
    t, lat = report.total, report.latency
    saved = (
        f"saved {money(t.saved_micro)} ({_p(t.saved_pct)})"
        if t.priced
        else "saved - (no baseline configured)"
    )
    unpriced = max(t.served - t.priced, 0)  # only answered requests have a baseline
    return [
        (
            "requests",
            f"{_n(t.requests)}: served {_n(t.served)}, errors {_n(t.errors)}, "
            f"unservable {_n(t.unservable)}, interrupted {_n(t.interrupted)}",
        ),
        (
            "spend",
            f"{money(t.cost_micro)} vs baseline {money(t.baseline_micro)}: {saved}"
            + (f"; {_n(unpriced)} served without a baseline" if t.priced and unpriced else ""),
        ),
        (
            "free / local",
            f"{_p(t.free_pct)} of served requests cost $0; "
            f"{_p(t.local_pct)} were served by local deployments",
        ),
        (
            "your machines",
            f"{_p(t.on_your_machines_pct)} of served requests were served on your machines "
            f"({YOURS})",
        ),
        ("cache hits", f"{_p(t.cache_hit_pct)} of served requests ({_n(t.cache_hits)})"),
        (
            "fallbacks",
            f"{_n(t.fallbacks)} fallback attempts in {_n(t.with_fallback)} requests",
        ),
        (
            "latency",
            f"p50 {_ms(lat.p50_ms)}, p90 {_ms(lat.p90_ms)}, p99 {_ms(lat.p99_ms)}, "
            f"max {_ms(lat.max_ms)} ({_latency_over(lat)})",
        ),
        *([("cold starts", cold_start_line(lat))] if lat.cold_starts else []),
        ("tokens", f"{_n(t.prompt_tokens)} prompt, {_n(t.completion_tokens)} completion"),
    ]


_GROUP_HEAD = (
    "requests", "served", "errors", "unserv.", "fallbacks", "cache", "spend", "baseline",
    "saved", "saved%", "free", "local", "yours", "mean latency",
)  # fmt: skip
"""Columns of the tenant, deployment and day tables ("yours": on your machines)."""


def _group_cells(s: Stats) -> list[str]:
    return [
        _n(s.requests), _n(s.served), _n(s.errors), _n(s.unservable), _n(s.fallbacks),
        _p(s.cache_hit_pct), money(s.cost_micro), money(s.baseline_micro),
        money(s.saved_micro), _p(s.saved_pct), _p(s.free_pct), _p(s.local_pct),
        _p(s.on_your_machines_pct), _ms(s.mean_latency_ms),
    ]  # fmt: skip


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned columns: the first `left` columns to the left, numbers to the right."""
    widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return ["  " + line(head), "  " + "-" * (sum(widths) + 2 * (len(widths) - 1))] + [
        "  " + line(r) for r in rows
    ]


def compliance_line(report: Report) -> str:
    n = report.compliance.served_non_local
    return f"confidential-or-above requests served by non-local deployments: {n}"


def _sent_line(report: Report) -> str:
    n = report.compliance.sent_non_local
    return (
        "confidential-or-above requests sent to a non-local deployment that did not serve "
        f"them: {n}"
    )


_NON_LOCAL = f"non-local = not on your machines: hosting other than {YOURS}, or unknown"

_OFFENDER_HEAD = ("id", "time (UTC)", "tenant", "sensitivity", "outcome", "deployment", "why")


def _offender_rows(c: Compliance) -> list[list[str]]:
    return [
        [str(o.id), o.time, o.tenant, o.sensitivity, o.outcome, o.served_by or "-", o.reason]
        for o in c.offenders
    ]


def render_text(report: Report) -> str:
    """The report as aligned text tables (what `python -m router report` prints)."""
    out = [f"router report: {report.ledger}", f"  {_scope(report)}; generated {report.generated}"]
    out.append("")
    out += [f"  {label:<13} {text}" for label, text in _summary_lines(report)]
    sections: list[tuple[str, str, Sequence[Stats], bool]] = [
        ("by tenant", "tenant", report.by_tenant, False),
        ("by deployment", "deployment", report.by_deployment, True),
        ("by day (UTC)", "day", report.by_day, False),
    ]
    for title, key, groups, hosted in sections:
        out += ["", title]
        head = [key, *(["hosting"] if hosted else []), *_GROUP_HEAD]
        rows = [[g.key, *([g.hosting or "-"] if hosted else []), *_group_cells(g)] for g in groups]
        out += _table(head, rows, left=2 if hosted else 1) if rows else ["  (no records)"]
    c = report.compliance
    out += ["", "compliance: requests by sensitivity x hosting of the deployment that served them"]
    out += _table(["sensitivity", *c.columns], [[s, *map(_n, row)] for s, row in c.matrix])
    out += [
        "",
        f"{compliance_line(report)}{'' if c.served_non_local == 0 else '  <-- MUST BE 0'}",
        f"{_sent_line(report)}{'' if c.sent_non_local == 0 else '  <-- MUST BE 0'}",
        f"  ({_NON_LOCAL})",
    ]
    if c.offenders:
        total = c.served_non_local + c.sent_non_local
        shown = len(c.offenders)
        out += ["", f"offending records ({shown} of {total} shown; no prompt text):"]
        out += _table(
            _OFFENDER_HEAD,
            _offender_rows(c),
            left=7,
        )
    return "\n".join(out)
