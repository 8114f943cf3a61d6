"""The compliance check: confidential-or-above data stays on your machines (hosting in
`YOUR_MACHINES`). The SQL that finds the records that left them, and the `Compliance`
value built from the scan's sensitivity x hosting counts."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from router._models import SENSITIVITY_LEVELS
from router.errors import LedgerError
from router.money import Ledger
from router.tools._report.values import (
    CONFIDENTIAL_OR_ABOVE,
    HOSTING_KINDS,
    IN_SERVED,
    NOT_SERVED,
    OFFENDERS_SHOWN,
    UNKNOWN,
    YOUR_MACHINES,
    Compliance,
    Offender,
    offending_cell,
)

__all__ = ["NOT_YOURS", "RISKY", "SUSPECT", "YOURS_SQL", "compliance"]

YOURS_SQL = "(" + ", ".join(f"'{h}'" for h in YOUR_MACHINES) + ")"
"""SQL: the hosting kinds of your machines, for `IN`."""
NOT_YOURS = f"(hosting IS NULL OR hosting NOT IN {YOURS_SQL})"
"""SQL: the record's deployment is not on your machines, or its hosting is unknown."""
_LEVELS_SQL = "(" + ", ".join(f"'{s}'" for s in CONFIDENTIAL_OR_ABOVE) + ")"
RISKY = "fallbacks > 0 OR (outcome = 'error' AND attempts > 0)"
"""SQL: a deployment may have been sent the request without serving it."""
SUSPECT = f"(sensitivity IN {_LEVELS_SQL} AND ({RISKY}) AND NOT ({IN_SERVED} AND {NOT_YOURS}))"
"""SQL: may have been sent to a deployment off your machines that did not serve it:
confidential or above, risky, and not already counted as served off your machines.
Only these records' decision JSON is read."""


def compliance(
    ledger: Ledger,
    scope: tuple[str, list[Any]],
    cells: dict[tuple[str, str], int],
    suspect_ids: list[int],
) -> Compliance:
    """The matrix from `cells` ((sensitivity, hosting column) -> requests), the counts,
    and the first offenders among the records `scope` (a WHERE clause and its arguments)
    selects. `suspect_ids`: the `SUSPECT` records of that scope."""
    extra = [c for c in (UNKNOWN,) if any(col == c for _, col in cells)]
    columns = (*HOSTING_KINDS, *extra, NOT_SERVED)
    levels = list(SENSITIVITY_LEVELS) + sorted({s for s, _ in cells} - set(SENSITIVITY_LEVELS))
    matrix = tuple((s, tuple(cells.get((s, c), 0) for c in columns)) for s in levels)
    served_non_local = sum(n for (s, column), n in cells.items() if offending_cell(s, column))
    offenders: list[Offender] = []
    if served_non_local:
        where, args = scope
        offenders += [
            _offender(row, f"served by {row[5]} ({row[6] or 'unknown hosting'})")
            for row in ledger.query(
                "SELECT id, ts, tenant, sensitivity, outcome, served_by, hosting FROM records"
                f"{where} AND sensitivity IN {_LEVELS_SQL} AND {IN_SERVED} AND {NOT_YOURS} "
                f"ORDER BY id LIMIT {OFFENDERS_SHOWN}",
                args,
            )
        ]
    sent = _sent_non_local(ledger, suspect_ids) if suspect_ids else []
    offenders += [_offender(row, f"sent to {row[7]}, not served by it") for row in sent]
    offenders.sort(key=lambda o: o.id)
    return Compliance(
        columns=columns,
        matrix=matrix,
        served_non_local=served_non_local,
        sent_non_local=len(sent),
        offenders=tuple(offenders[:OFFENDERS_SHOWN]),
    )


def _sent_non_local(ledger: Ledger, ids: list[int]) -> list[tuple[Any, ...]]:
    """Of these records, those that a deployment of their plan not on your machines was
    sent (an attempt that was not skipped) but did not serve: a failed attempt before a
    fallback or before giving up. A candidate without a hosting counts (fail closed)."""
    hosting = "json_extract(c.value, '$.hosting')"
    try:
        return ledger.query(
            "SELECT r.id, r.ts, r.tenant, r.sensitivity, r.outcome, r.served_by, r.hosting, "
            "group_concat(DISTINCT json_extract(a.value, '$.deployment') || ' (' || "
            f"IFNULL({hosting}, 'unknown hosting') || ')') "
            "FROM records AS r, json_each(r.decision, '$.attempts') AS a, "
            "json_each(r.decision, '$.candidates') AS c "
            "WHERE r.id IN (SELECT value FROM json_each(?)) "
            "AND json_extract(a.value, '$.outcome') != 'skipped' "
            "AND json_extract(c.value, '$.name') = json_extract(a.value, '$.deployment') "
            f"AND IFNULL({hosting}, '') NOT IN {YOURS_SQL} "
            "GROUP BY r.id ORDER BY r.id",
            (json.dumps(ids),),
        )
    except sqlite3.OperationalError as exc:  # "malformed JSON": a decision that is not JSON
        raise LedgerError(
            str(ledger.path), f"a record's decision cannot be read ({exc}); nothing was changed"
        ) from None


def _offender(row: Sequence[Any], reason: str) -> Offender:
    rid, ts, tenant, sensitivity, outcome, served_by, hosting = row[:7]
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    return Offender(rid, when, tenant, sensitivity, outcome, served_by, hosting, reason)
