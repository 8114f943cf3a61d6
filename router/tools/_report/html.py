"""`render_html`: one self-contained page (inline CSS and SVG charts, no script, no
network) showing the same figures as the text."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Sequence

from router._records import MICRO
from router.tools._report.text import (
    _GROUP_HEAD,
    _NON_LOCAL,
    _OFFENDER_HEAD,
    YOURS,
    _group_cells,
    _ms,
    _n,
    _offender_rows,
    _p,
    _scope,
    _sent_line,
    _summary_lines,
    compliance_line,
    money,
)
from router.tools._report.values import (
    CONFIDENTIAL_OR_ABOVE,
    UNKNOWN,
    Compliance,
    Report,
    Stats,
    offending_cell,
)

__all__ = ["render_html"]

_HOSTING_COLOURS = {"local": "#2e7d32", "self-hosted": "#1565c0", "api": "#ef6c00"}
_CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;
 color:#1f2328;margin:24px auto;max-width:1180px;padding:0 16px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;
 border-bottom:1px solid #d0d7de;padding-bottom:4px}
.muted{color:#59636e}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}.card span{color:#59636e;font-size:12px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:3px 7px;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
th{background:#f6f8fa;font-weight:600}th.l,td.l{text-align:left}
.scroll{overflow-x:auto}.ok{background:#dafbe1;color:#116329}.bad{background:#ffebe9;color:#a40e26}
.status{padding:10px 14px;border-radius:8px;font-weight:600;margin:10px 0}
svg text{font:12px "DejaVu Sans",Arial,sans-serif;fill:#1f2328}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _nice_max(value: float) -> float:
    """A round axis maximum >= value (1, 2, 2.5 or 5 x a power of ten)."""
    if value <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= value)


def _all_days(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _spend_chart(report: Report) -> str:
    """Spend and baseline per UTC day, as two lines (days without records at $0)."""
    width, height, left, right, top, bottom = 1000, 300, 80, 20, 36, 44
    if not report.by_day or report.first_day is None or report.last_day is None:
        return _empty_chart(width, 120, "no records: nothing to chart")
    by_day = {s.key: s for s in report.by_day}
    days = _all_days(report.first_day, report.last_day)
    spend = [by_day[d].cost_micro if d in by_day else 0 for d in days]
    base = [by_day[d].baseline_micro if d in by_day else 0 for d in days]
    top_value = _nice_max(max(*spend, *base) / MICRO)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w / 2 if len(days) == 1 else plot_w * i / (len(days) - 1))

    def y(micro: int) -> float:
        return top + plot_h * (1 - micro / MICRO / top_value)

    parts = [
        f'<svg id="spend-chart" role="img" viewBox="0 0 {width} {height}" width="100%">'
        f"<title>Spend vs baseline per day</title>"
    ]
    for k in range(6):
        value = top_value * k / 5
        yy = top + plot_h * (1 - k / 5)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'stroke="#eaeef2"/><text x="{left - 8}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{_e(money(round(value * MICRO)))}</text>"
        )
    step = max(1, math.ceil(len(days) / 10))
    for i in range(0, len(days), step):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 18}" text-anchor="middle">'
            f"{_e(days[i][5:] if len(days) > 1 else days[i])}</text>"
        )
    for values, colour, label, dash in (
        (base, "#8c959f", "baseline", ' stroke-dasharray="6 4"'),
        (spend, "#0969da", "spend", ""),
    ):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline class="series-{label}" fill="none" stroke="{colour}" '
            f'stroke-width="2.5"{dash} points="{points}"/>'
        )
        if len(days) <= 62:
            parts += [
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                f"<title>{_e(days[i])} {label} {_e(money(v))}</title></circle>"
                for i, v in enumerate(values)
            ]
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="#8c959f"/>'
        f'<rect x="{left}" y="8" width="14" height="4" fill="#0969da"/>'
        f'<text x="{left + 20}" y="14">spend</text>'
        f'<rect x="{left + 80}" y="8" width="14" height="4" fill="#8c959f"/>'
        f'<text x="{left + 100}" y="14">baseline (same usage on the baseline model)</text>'
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end" class="muted">'
        "UTC day</text></svg>"
    )
    return "".join(parts)


def _share_chart(report: Report) -> str:
    """Each deployment's share of the served requests, one bar each, coloured by hosting."""
    served = [s for s in report.by_deployment if s.served]
    total = sum(s.served for s in served)
    if not total:
        return _empty_chart(1000, 80, "no served requests: nothing to chart")
    width, bar, gap, label_w, top = 1000, 24, 10, 260, 8
    height = top + len(served) * (bar + gap) + 30
    plot_w = width - label_w - 200
    parts = [
        f'<svg id="share-chart" role="img" viewBox="0 0 {width} {height}" width="100%">'
        f"<title>Share of served requests by deployment"
        "</title>"
    ]
    for i, s in enumerate(served):
        yy = top + i * (bar + gap)
        share = s.served / total
        colour = _HOSTING_COLOURS.get(s.hosting or "", "#8c959f")
        parts.append(
            f'<text x="{label_w - 10}" y="{yy + bar * 0.7:.1f}" text-anchor="end">'
            f"{_e(s.key)} ({_e(s.hosting or UNKNOWN)})</text>"
            f'<rect class="bar" x="{label_w}" y="{yy}" width="{max(plot_w * share, 1):.1f}" '
            f'height="{bar}" rx="3" fill="{colour}"><title>{_e(s.key)}: {s.served:,} served'
            f"</title></rect>"
            f'<text x="{label_w + plot_w * share + 8:.1f}" y="{yy + bar * 0.7:.1f}">'
            f"{share * 100:.1f}% ({s.served:,}), spend {_e(money(s.cost_micro))}</text>"
        )
    legend_y = height - 10
    x = label_w
    for kind, colour in _HOSTING_COLOURS.items():
        parts.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 18}" y="{legend_y}">{kind}</text>'
        )
        x += 130
    parts.append("</svg>")
    return "".join(parts)


def _empty_chart(width: int, height: int, text: str) -> str:
    return (
        f'<svg role="img" viewBox="0 0 {width} {height}" width="100%">'
        f'<text x="{width / 2}" y="{height / 2}" '
        f'text-anchor="middle">{_e(text)}</text></svg>'
    )


def _html_table(head: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """A table: the first `left` columns to the left; no header row when `head` is empty."""
    th = "".join(
        f'<th class="l">{_e(h)}</th>' if i < left else f"<th>{_e(h)}</th>"
        for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="l">{_e(c)}</td>' if i < left else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    header = f"<tr>{th}</tr>" if head else ""
    return f'<div class="scroll"><table>{header}{body}</table></div>'


def _compliance_table(c: Compliance) -> str:
    """Sensitivity x hosting; a non-zero cell that breaks the rule is marked "bad"."""
    head = "".join(
        f'<th class="l">{_e(h)}</th>' if i == 0 else f"<th>{_e(h)}</th>"
        for i, h in enumerate(["sensitivity", *c.columns])
    )
    body = "".join(
        f'<tr><td class="l">{_e(s)}</td>'
        + "".join(
            f'<td class="bad">{_n(n)}</td>' if n and offending_cell(s, col) else f"<td>{_n(n)}</td>"
            for col, n in zip(c.columns, row, strict=True)
        )
        + "</tr>"
        for s, row in c.matrix
    )
    return f'<div class="scroll"><table id="compliance-table"><tr>{head}</tr>{body}</table></div>'


def render_html(report: Report) -> str:
    """One self-contained page: inline CSS, inline SVG charts, no script, no network."""
    t, c = report.total, report.compliance
    cards = [
        (_n(t.requests), "requests"),
        (money(t.cost_micro), "spend"),
        (money(t.baseline_micro), "baseline"),
        (f"{money(t.saved_micro)} ({_p(t.saved_pct)})", "saved"),
        (_p(t.free_pct), "served free ($0)"),
        (_p(t.local_pct), "served locally"),
        (_p(t.on_your_machines_pct), f"on your machines ({YOURS})"),
        (_p(t.cache_hit_pct), "cache hits"),
        (f"{_n(t.errors)} / {_n(t.fallbacks)}", "errors / fallbacks"),
        (_ms(report.latency.p50_ms), f"p50 latency (p99 {_ms(report.latency.p99_ms)})"),
    ]
    sections = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>router report: {_e(_scope(report))}</title><style>{_CSS}</style></head><body>",
        f'<h1>router report</h1><div class="muted">{_e(report.ledger)}: {_e(_scope(report))}; '
        f"generated {_e(report.generated)}</div>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in cards)
        + "</div>",
        '<div class="status {cls}" id="compliance-line">{line}</div>'.format(
            cls="ok" if c.served_non_local == 0 else "bad", line=_e(compliance_line(report))
        ),
        "<h2>Spend vs baseline per day</h2>",
        _spend_chart(report),
        "<h2>Share of served requests by deployment</h2>",
        _share_chart(report),
        "<h2>Summary</h2>",
        _html_table([], _summary_lines(report), left=2),
    ]
    groups: list[tuple[str, str, Sequence[Stats], bool]] = [
        ("By tenant", "tenant", report.by_tenant, False),
        ("By deployment", "deployment", report.by_deployment, True),
        ("By day (UTC)", "day", report.by_day, False),
    ]
    for title, key, rows, hosted in groups:
        head = [key, *(["hosting"] if hosted else []), *_GROUP_HEAD]
        sections.append(f"<h2>{_e(title)}</h2>")
        sections.append(
            _html_table(
                head,
                [[g.key, *([g.hosting or "-"] if hosted else []), *_group_cells(g)] for g in rows],
                left=2 if hosted else 1,
            )
        )
    sections += [
        "<h2>Compliance</h2>",
        '<p class="muted">Requests by sensitivity level and the hosting of the deployment that '
        "served them. Confidential-or-above: "
        f"{_e(', '.join(CONFIDENTIAL_OR_ABOVE))}; {_e(_NON_LOCAL)}.</p>",
        _compliance_table(c),
        '<div class="status {cls}">{line}</div>'.format(
            cls="ok" if c.served_non_local == 0 else "bad", line=_e(compliance_line(report))
        ),
        '<div class="status {cls}">{line}</div>'.format(
            cls="ok" if c.sent_non_local == 0 else "bad", line=_e(_sent_line(report))
        ),
    ]
    if c.offenders:
        sections.append(
            f"<h2>Offending records ({len(c.offenders)} of "
            f"{c.served_non_local + c.sent_non_local} shown)</h2>"
        )
        sections.append(
            _html_table(
                _OFFENDER_HEAD,
                _offender_rows(c),
                left=7,
            )
        )
    sections.append(
        '<p class="muted">Definitions: served = answered (ok or interrupted stream); free = '
        f"cost $0; local = hosting local; yours = on your machines, hosting {_e(YOURS)}; "
        "saved = baseline - spend over records with a "
        "baseline; latency percentiles are nearest-rank over served requests"
        + (
            ""
            if report.latency.cold_starts_included or not report.latency.cold_starts
            else ", leaving out cold starts (requests that paid the process's first-call "
            "cost: litellm's import)"
        )
        + ".</p></body></html>"
    )
    return "\n".join(sections) + "\n"
