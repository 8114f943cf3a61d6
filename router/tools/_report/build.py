"""`build_report`: one read of the ledger into a `Report`: the scan, the sums, latency
(the compliance counts come from the same scan; `compliance` turns them into a verdict).

Speed: one scan aggregates every record into a small TEMP table keyed by (day, tenant,
deployment, hosting, sensitivity, outcome) with integer sums (an upsert per record: a
hash aggregate, where SQLite's GROUP BY would sort all the records first); the totals
and every breakdown are GROUP BYs over that table. A second scan reads the served
requests' latencies (sorted in Python for the percentiles) and the ids of the few records
whose decision JSON the compliance check must read. One read transaction, the file
read through mmap. 1,000,000 records take about 4 s in a 2 GB ledger, 5.5 s in a 4 GB
one, on 2 cores (benchmarks/bench_report.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import math
import re
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from router.errors import InvalidRequest, LedgerError
from router.money import Ledger
from router.tools._report.compliance import RISKY, SUSPECT, YOURS_SQL, compliance
from router.tools._report.values import (
    CONFIDENTIAL_OR_ABOVE,
    IN_SERVED,
    NOT_SERVED,
    SUMMED,
    UNKNOWN,
    Latency,
    Report,
    Stats,
)

__all__ = ["build_report", "parse_since"]

_KNOWN_TENANTS_SHOWN = 10
_MMAP_BYTES = 1 << 31  # read the ledger through mmap: a full scan is ~2x faster
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_since(value: str) -> str:
    """`value` if it is a UTC day written YYYY-MM-DD, else InvalidRequest naming `since`."""
    if _DATE.fullmatch(value):
        try:
            dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise InvalidRequest(
        "since", f"{value!r} is not a date; write YYYY-MM-DD (a UTC day, e.g. 2025-01-31)"
    )


_CUBE = "temp.router_report_cube"
_CUBE_KEYS = ("day", "tenant", "served_by", "hosting", "sensitivity", "outcome")
# Summed per cube cell: (column, expression over one record).
_CUBE_SUMS = (
    ("requests", "1"),
    ("cache_hits", "cache_hit"),
    ("fallbacks", "fallbacks"),
    ("with_fallback", "fallbacks > 0"),
    ("free", "cost_micro = 0"),
    ("cost_micro", "cost_micro"),
    ("baseline_micro", "IFNULL(baseline_micro, 0)"),
    ("priced", "baseline_micro IS NOT NULL"),
    ("priced_cost_micro", "CASE WHEN baseline_micro IS NULL THEN 0 ELSE cost_micro END"),
    ("latency_ms", "latency_ms"),
    ("prompt_tokens", "prompt_tokens"),
    ("completion_tokens", "completion_tokens"),
    ("risky", RISKY),  # confidential-or-above and risky: look for SUSPECT records
)


def _where(
    since: str | None, tenant: str | None, *more: str, table: str = ""
) -> tuple[str, list[Any]]:
    """The WHERE clause selecting the report's records (`table`: "r." in a join)."""
    clauses, args = [*more, "true"], []
    if since is not None:
        clauses.append(f"{table}day >= ?")
        args.append(since)
    if tenant is not None:
        clauses.append(f"{table}tenant = ?")
        args.append(tenant)
    return " WHERE " + " AND ".join(clauses), args


def _check_tenant(ledger: Ledger, tenant: str) -> None:
    if ledger.query("SELECT 1 FROM records WHERE tenant = ? LIMIT 1", (tenant,)):
        return
    known = [r[0] for r in ledger.query("SELECT DISTINCT tenant FROM records LIMIT 1001")]
    if not known:
        raise InvalidRequest("tenant", f"{tenant!r}: the ledger has no records at all")
    shown = ", ".join(known[:_KNOWN_TENANTS_SHOWN])
    if len(known) > _KNOWN_TENANTS_SHOWN:
        more = "1,000+" if len(known) > 1000 else str(len(known) - _KNOWN_TENANTS_SHOWN)
        shown += f" and {more} more"
    close = difflib.get_close_matches(tenant, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise InvalidRequest(
        "tenant", f"no records for tenant {tenant!r} in this ledger{hint}; known tenants: {shown}"
    )


def build_report(
    ledger: Ledger,
    *,
    since: str | None,
    tenant: str | None,
    now: float | None = None,
    include_cold_starts: bool = False,
) -> Report:
    """The report over the ledger's records from UTC day `since` (YYYY-MM-DD) on, for one
    `tenant` or all. The latency percentiles leave out cold starts (requests that paid the
    process's first-call cost) unless `include_cold_starts`; they are counted apart.
    Raises InvalidRequest for a malformed `since` or a tenant the ledger has never seen
    (the message lists the known ones), LedgerError for a damaged file.
    Only reads the ledger (the aggregates go to a TEMP table of this connection)."""
    if since is not None:
        since = parse_since(since)
    previous_mmap = ledger.query("PRAGMA mmap_size")
    ledger.query(f"PRAGMA mmap_size={_MMAP_BYTES}")
    ledger.query("BEGIN")  # one snapshot: a writer in another process cannot skew the sums
    try:
        if tenant is not None:
            _check_tenant(ledger, tenant)
        report = _build(ledger, since, tenant, include_cold_starts)
    except sqlite3.DatabaseError as exc:  # a damaged page past the header
        raise LedgerError(
            str(ledger.path), f"cannot be read ({exc}); nothing was changed"
        ) from None
    finally:
        _end(ledger, f"PRAGMA mmap_size={previous_mmap[0][0] if previous_mmap else 0}")
    when = time.time() if now is None else now
    return dataclasses.replace(report, generated=_utc(when))


def _end(ledger: Ledger, restore: str) -> None:
    """Drop the cube, end the read transaction, restore the mmap setting: best effort, so
    that a damaged file's error is the one the caller sees."""
    for sql in (f"DROP TABLE IF EXISTS {_CUBE}", "COMMIT", "ROLLBACK", restore):
        with contextlib.suppress(sqlite3.Error):  # ROLLBACK: only if COMMIT failed
            ledger.query(sql)


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _cube(ledger: Ledger, since: str | None, tenant: str | None) -> None:
    """Sums per (tenant, day, served_by, hosting, sensitivity, outcome), in one pass.

    SQLite's GROUP BY sorts every record first (~2 s per million here, per query); an
    upsert into a small keyed TEMP table aggregates as it scans, like a hash aggregate,
    so every breakdown of the report comes from this one scan."""
    keys = ", ".join(f"{k} TEXT NOT NULL" for k in _CUBE_KEYS)
    sums = ", ".join(f"{c} NOT NULL" for c, _ in _CUBE_SUMS)
    ledger.query(f"DROP TABLE IF EXISTS {_CUBE}")
    ledger.query(f"CREATE TABLE {_CUBE} ({keys}, {sums}, PRIMARY KEY ({', '.join(_CUBE_KEYS)}))")
    where, args = _where(since, tenant)
    ledger.query(
        f"INSERT INTO {_CUBE} SELECT day, tenant, IFNULL(served_by, ''), IFNULL(hosting, ''), "
        f"sensitivity, outcome, {', '.join(e for _, e in _CUBE_SUMS)} FROM records{where} "
        "ON CONFLICT DO UPDATE SET "
        + ", ".join(f"{c} = {c} + excluded.{c}" for c, _ in _CUBE_SUMS),
        args,
    )


def _served_only(column: str) -> str:
    return f"SUM(CASE WHEN {IN_SERVED} THEN {column} ELSE 0 END)"


# Over the cube (hosting '' = none recorded): one column per summed Stats field, in
# `SUMMED` order.
_ROLLUP = ", ".join(
    (
        "SUM(requests)",
        _served_only("requests"),
        "SUM(CASE WHEN outcome = 'error' THEN requests ELSE 0 END)",
        "SUM(CASE WHEN outcome = 'unservable' THEN requests ELSE 0 END)",
        "SUM(CASE WHEN outcome = 'interrupted' THEN requests ELSE 0 END)",
        "SUM(fallbacks)",
        "SUM(with_fallback)",
        _served_only("cache_hits"),
        _served_only("free"),
        _served_only("CASE WHEN hosting = 'local' THEN requests ELSE 0 END"),
        _served_only(f"CASE WHEN hosting IN {YOURS_SQL} THEN requests ELSE 0 END"),
        "SUM(cost_micro)",
        "SUM(baseline_micro)",
        "SUM(priced)",
        "SUM(priced_cost_micro)",
        f"TOTAL(CASE WHEN {IN_SERVED} THEN latency_ms ELSE 0 END)",
        "SUM(prompt_tokens)",
        "SUM(completion_tokens)",
    )
)


def _stats(key: str, values: Sequence[Any], hosting: str | None = None) -> Stats:
    sums = {f: 0 if v is None else v for f, v in zip(SUMMED, values, strict=True)}
    return Stats(key, hosting=hosting, **sums)


def _build(ledger: Ledger, since: str | None, tenant: str | None, include_cold: bool) -> Report:
    _cube(ledger, since, tenant)

    def rollup(keys: str) -> list[tuple[Any, ...]]:
        return ledger.query(
            f"SELECT {keys}, {_ROLLUP} FROM {_CUBE} GROUP BY {keys} ORDER BY {keys}"
        )

    total = _stats("all", ledger.query(f"SELECT {_ROLLUP} FROM {_CUBE}")[0])
    by_tenant = sorted(
        (_stats(name, values) for name, *values in rollup("tenant")),
        key=lambda s: (-s.requests, s.key),
    )
    by_day = [_stats(day, values) for day, *values in rollup("day")]  # in day order
    by_deployment = sorted(
        (
            _stats(name or f"({NOT_SERVED})", values, hosting or "-")
            for name, hosting, *values in rollup("served_by, hosting")
        ),
        key=lambda s: (s.served == 0, -s.served, -s.requests, s.key, s.hosting or ""),
    )
    column = (
        f"CASE WHEN NOT ({IN_SERVED}) THEN '{NOT_SERVED}' "
        f"WHEN hosting = '' THEN '{UNKNOWN}' ELSE hosting END"
    )
    cells: dict[tuple[str, str], int] = {}
    risky: dict[str, int] = {}
    for sensitivity, col, n, r in ledger.query(
        f"SELECT sensitivity, {column}, SUM(requests), SUM(risky) FROM {_CUBE} GROUP BY 1, 2"
    ):
        cells[sensitivity, col] = n
        risky[sensitivity] = risky.get(sensitivity, 0) + r
    suspects = any(risky.get(level, 0) for level in CONFIDENTIAL_OR_ABOVE)
    latencies, suspect_ids = _second_pass(ledger, since, tenant, suspects)
    return Report(
        ledger=str(ledger.path),
        since=since,
        tenant=tenant,
        generated="",
        first_day=by_day[0].key if by_day else None,
        last_day=by_day[-1].key if by_day else None,
        total=total,
        latency=_latency(latencies, include_cold),
        by_tenant=tuple(by_tenant),
        by_deployment=tuple(by_deployment),
        by_day=tuple(by_day),
        compliance=compliance(ledger, _where(since, tenant), cells, suspect_ids),
    )


_COLD = "COALESCE(cold_start, 0)"
"""SQL: the record paid the process's first-call cost (NULL, before schema 3: warm)."""


def _second_pass(
    ledger: Ledger, since: str | None, tenant: str | None, suspects: bool
) -> tuple[list[tuple[float, bool]], list[int]]:
    """The served requests' (latency, cold start) and, when the cube counted any, the ids
    of the suspect records, in one scan."""
    if not suspects:
        where, args = _where(since, tenant, IN_SERVED)
        rows = ledger.query(f"SELECT latency_ms, {_COLD} FROM records{where}", args)
        return [(ms, bool(cold)) for ms, cold in rows], []
    where, args = _where(since, tenant, f"({IN_SERVED} OR {SUSPECT})")
    rows = ledger.query(
        f"SELECT CASE WHEN {IN_SERVED} THEN latency_ms END, {_COLD}, "
        f"CASE WHEN {SUSPECT} THEN id END FROM records{where}",
        args,
    )
    return (
        [(r[0], bool(r[1])) for r in rows if r[0] is not None],
        [r[2] for r in rows if r[2] is not None],
    )


def _latency(rows: list[tuple[float, bool]], include_cold: bool) -> Latency:
    """The percentiles over the warm requests (all of them if `include_cold`), and the
    cold starts counted apart with their own median."""
    cold = [ms for ms, is_cold in rows if is_cold]
    kept = [ms for ms, is_cold in rows if include_cold or not is_cold]
    return _percentiles(kept)._replace(
        cold_starts=len(cold),
        cold_p50_ms=_percentiles(cold).p50_ms,
        cold_starts_included=include_cold,
    )


def _percentiles(latencies: list[float]) -> Latency:
    """p50/p90/p99 by nearest rank: the smallest value with at least p% of values <= it."""
    values = sorted(latencies)
    n = len(values)
    if not n:
        return Latency(0, None, None, None, None)

    def rank(p: float) -> float:
        return values[max(0, math.ceil(p / 100 * n) - 1)]

    return Latency(n, rank(50), rank(90), rank(99), values[-1])
