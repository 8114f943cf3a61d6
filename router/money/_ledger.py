"""The ledger: one record per request, and the budget counters, in one SQLite file.

SQLite in WAL mode is the embedded default: several processes may write at once
(each write is one short `BEGIN IMMEDIATE` transaction; writers wait up to
`busy_timeout`), and a transaction that returned is in the file even if the process
is killed the next instant. A record and the budget settlement it carries are
written in the same transaction, so the ledger and the budgets always agree.

What is stored: time, tenant, tags, sensitivity, policy fingerprint, the whole
decision (features with token counts and the prompt's hash, candidates, rejections,
attempts, served-by, cache hit, usage, cost, baseline, budget notes), the request id,
the model that answered, and what a refit of the quality predictor needs: the last user
turn's profile (numbers only, rounded to 4 decimals in its own column) and the digest of
the quality model it was computed for. Prompt text only when the Router was built with
`store_prompts=True`. The `feedback` table holds scores of answers (`Router.feedback`,
the cascade's verdicts): ids, names and numbers.

A file that is not a router ledger (or is corrupt) raises `LedgerError` and is
never written to. An older ledger is upgraded in place when opened, one schema at a
time in one transaction (schema 1 -> 2: new columns and the feedback table; 2 -> 3:
the `cold_start` column); its old records have the new columns empty (NULL).

`Ledger(path, lazy=True)` (what a Router opens) creates a missing file only with its
first write: a dry run (`Router.plan`, `python -m router explain`) leaves no file, and
reading a ledger that does not exist yet (budgets) sees an empty one, zero spend.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from router._effects import Op, Port, blocking, done, run
from router._records import Decision
from router.errors import LedgerError
from router.state import Counters, Limits

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "APPLICATION_ID",
    "FeedbackRow",
    "Ledger",
    "LedgerBudgets",
    "Outcome",
    "Row",
    "row_of",
]

APPLICATION_ID = 0x52544C31  # "RTL1" in the SQLite header: marks a router ledger
SCHEMA_VERSION = 3
_TABLES = frozenset({"records", "spend", "reservations"})
_TABLES_SINCE = {2: frozenset({"feedback"})}

Outcome = Literal["ok", "interrupted", "error", "unservable"]
"""A record's `outcome`. "interrupted": a stream cut after its first chunk, its `error`
saying by what ("StreamInterrupted": the provider; "ClosedByCaller": the caller stopped
reading it); what was delivered is charged, as for "ok"."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    day TEXT NOT NULL,
    tenant TEXT NOT NULL,
    tags TEXT NOT NULL,
    sensitivity TEXT NOT NULL,
    policy_fingerprint TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    served_by TEXT,
    hosting TEXT,
    weights TEXT,
    cache_hit INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    fallbacks INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_micro INTEGER NOT NULL,
    baseline_micro INTEGER,
    budget_changed INTEGER NOT NULL,
    decision TEXT NOT NULL,
    prompt TEXT,
    ticket TEXT,
    counters TEXT,
    {v2_columns},
    {v3_columns}
);
CREATE TABLE IF NOT EXISTS spend (
    budget TEXT NOT NULL,
    window TEXT NOT NULL,
    spent_micro INTEGER NOT NULL,
    PRIMARY KEY (budget, window)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    ticket TEXT NOT NULL,
    budget TEXT NOT NULL,
    window TEXT NOT NULL,
    amount_micro INTEGER NOT NULL,
    expires REAL NOT NULL,
    seen_micro INTEGER NOT NULL
);
-- Settlement happens inside the INSERT of the record: one statement, one transaction.
CREATE TRIGGER IF NOT EXISTS settle AFTER INSERT ON records WHEN NEW.ticket IS NOT NULL
BEGIN
    DELETE FROM reservations WHERE ticket = NEW.ticket;
    INSERT INTO spend (budget, window, spent_micro)
        SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), NEW.cost_micro
        FROM json_each(NEW.counters) WHERE NEW.cost_micro > 0
        ON CONFLICT (budget, window) DO UPDATE SET spent_micro = spent_micro + excluded.spent_micro;
END;
{v2_tables}
"""

# Schema 2: what a refit of the quality predictor needs, and feedback on answers.
_V2_COLUMNS = (
    ("request_id", "TEXT"),
    ("model", "TEXT"),
    ("profile", "TEXT"),
    ("quality_model", "TEXT"),
)
_V2_TABLES = """
CREATE INDEX IF NOT EXISTS records_request ON records (request_id);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    request_id TEXT NOT NULL,
    source TEXT NOT NULL,
    deployment TEXT NOT NULL,
    model TEXT NOT NULL,
    score REAL NOT NULL,
    scorer REAL
);
"""
# Schema 3: a request that paid the process's first-call cost (litellm's import...).
_V3_COLUMNS = (("cold_start", "INTEGER"),)
_SCHEMA = _SCHEMA.format(
    v2_columns=",\n    ".join(f"{name} {kind}" for name, kind in _V2_COLUMNS),
    v3_columns=",\n    ".join(f"{name} {kind}" for name, kind in _V3_COLUMNS),
    v2_tables=_V2_TABLES,
)
_MIGRATIONS = {
    1: "".join(f"ALTER TABLE records ADD COLUMN {name} {kind};\n" for name, kind in _V2_COLUMNS)
    + _V2_TABLES,
    2: "".join(f"ALTER TABLE records ADD COLUMN {name} {kind};\n" for name, kind in _V3_COLUMNS),
}
"""Schema version -> the script that brings a ledger of that version to the next one."""

# What is used of each wanted counter: settled spend plus live reservations.
_USED = """
WITH want(budget, window, lim) AS (VALUES {values}),
used AS (
    SELECT w.budget, w.window, w.lim,
        COALESCE((SELECT spent_micro FROM spend s
                  WHERE s.budget = w.budget AND s.window = w.window), 0)
      + COALESCE((SELECT SUM(amount_micro) FROM reservations r
                  WHERE r.budget = w.budget AND r.window = w.window AND r.expires > :now), 0)
        AS u
    FROM want w
)"""

COLUMNS = (
    "ts", "day", "tenant", "tags", "sensitivity", "policy_fingerprint", "outcome", "error",
    "served_by", "hosting", "weights", "cache_hit", "attempts", "fallbacks", "latency_ms",
    "prompt_tokens", "completion_tokens", "cost_micro", "baseline_micro", "budget_changed",
    "decision", "prompt", "ticket", "counters", *(name for name, _ in _V2_COLUMNS),
    *(name for name, _ in _V3_COLUMNS),
)  # fmt: skip
_INSERT = f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class Row(NamedTuple):
    """One ledger record as written (the columns of the `records` table)."""

    ts: float
    day: str
    tenant: str
    tags: str
    sensitivity: str
    policy_fingerprint: str
    outcome: str
    error: str | None
    served_by: str | None
    hosting: str | None
    weights: str | None
    cache_hit: int
    attempts: int
    fallbacks: int
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost_micro: int
    baseline_micro: int | None
    budget_changed: int
    decision: str
    prompt: str | None
    ticket: str | None = None
    """The request's budget ticket: its reservations are released when this row lands."""
    counters: str | None = None
    """JSON [[budget, window], ...]: the counters the cost is added to."""
    request_id: str | None = None
    """`Decision.request_id`: what `Router.feedback` names the request by."""
    model: str | None = None
    """The model string of the deployment that answered (`served_by`)."""
    profile: str | None = None
    """JSON list of the last user turn's profile, rounded to 4 decimals (no text)."""
    quality_model: str | None = None
    """The digest of the quality model the profile was computed for."""
    cold_start: int | None = None
    """1: the request paid the process's first-call cost (it ran before the backend was
    warm: litellm's import, ~2-7 s); 0: it did not; None: written before schema 3."""


class FeedbackRow(NamedTuple):
    """A score of one answer (the `feedback` table): from the application
    (`Router.feedback`, source "user") or from the cascade's verifier ("cascade")."""

    ts: float
    request_id: str
    source: Literal["user", "cascade"]
    deployment: str
    model: str
    score: float
    """1.0 good ... 0.0 bad (a cascade verdict: 1.0 kept, 0.0 doubted)."""
    scorer: float | None = None
    """The cascade's answer-scorer figure, when that check ran."""


_FEEDBACK_COLUMNS = FeedbackRow._fields
_INSERT_FEEDBACK = (
    f"INSERT INTO feedback ({', '.join(_FEEDBACK_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_FEEDBACK_COLUMNS))})"
)


def row_of(
    decision: Decision,
    *,
    ts: float,
    outcome: Outcome,
    latency_ms: float,
    hosting: str | None = None,
    weights: str | None = None,
    error: str | None = None,
    prompt: str | None = None,
    ticket: str | None = None,
    counters: Sequence[tuple[str, str]] = (),
    model: str | None = None,
    quality_model: str | None = None,
) -> Row:
    """The ledger row for a finished request. Pure. `model`: the answering deployment's;
    `quality_model`: the digest the features' profile was computed for."""
    usage, cost = decision.usage, decision.cost
    profile = decision.features.profile
    return Row(
        ts=ts,
        day=time.strftime("%Y-%m-%d", time.gmtime(ts)),
        tenant=decision.features.tenant,
        tags=json.dumps(list(decision.features.tags)),
        sensitivity=decision.features.sensitivity,
        policy_fingerprint=decision.policy_fingerprint,
        outcome=outcome,
        error=error,
        served_by=decision.served_by,
        hosting=hosting,
        weights=weights,
        cache_hit=int(decision.cache_hit),
        attempts=sum(a.outcome != "skipped" for a in decision.attempts),
        fallbacks=sum(a.outcome in ("fallback", "gave up") for a in decision.attempts),
        latency_ms=latency_ms,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        cost_micro=cost.micro_usd if cost else 0,
        baseline_micro=cost.baseline_micro_usd if cost else None,
        budget_changed=int(
            bool(decision.budget_notes) or any(r.stage == "budget" for r in decision.rejected)
        ),
        decision=decision.to_json(),
        prompt=prompt,
        ticket=ticket,
        counters=json.dumps(counters) if counters else None,
        request_id=decision.request_id,
        model=model,
        profile=json.dumps([round(v, 4) for v in profile]) if profile else None,
        quality_model=quality_model if profile else None,
        cold_start=int(decision.cold_start),
    )


def _statements(script: str) -> list[str]:
    """The statements of a schema script (a trigger's body stays whole)."""
    out, current = [], ""
    for line in script.strip().splitlines():
        if line.lstrip().startswith("--"):
            continue
        current += line + "\n"
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out


class Ledger:
    """A ledger file. Open one per process; it is safe from several threads and processes.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ledger.sqlite"
    >>> Ledger(path).count()
    0

    `lazy=True`: a missing file (and its folder) is created by the first write, not
    now; until then reads see an empty ledger (no records, zero spend) and nothing is
    created on disk. A file that exists is checked (and upgraded) now either way, and a
    path whose folder could not be created is refused now.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        busy_timeout: float = 10.0,
        lazy: bool = False,
    ):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._open_lock = threading.Lock()
        self._empty: sqlite3.Connection | None = None
        self._ready = False
        """The file exists and has been checked (or created) as a router ledger."""
        self._writer = _Writer(self)
        if self.path.is_dir():
            raise LedgerError(
                str(self.path), "is a directory; give a file path, e.g. DIR/ledger.sqlite"
            )
        if not self.path.exists():
            if not create:
                raise LedgerError(str(self.path), "no such ledger file; check --ledger")
            if lazy:
                _check_folder(self.path)
                return
            self._make_folder()
        self._check_and_create(create)
        self._ready = True

    def _make_folder(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                str(self.path),
                f"cannot create its folder ({exc.strerror or exc}); give a path in a "
                "writable folder",
            ) from None

    def _ensure(self) -> None:
        """Before a write: a lazy ledger's file is created (or, when another process made
        it meanwhile, checked) now."""
        if self._ready:
            return
        with self._open_lock:
            if self._ready:
                return
            if not self.path.exists():
                self._make_folder()
            self._check_and_create(True)
            self._ready = True

    def _reader(self) -> sqlite3.Connection:
        """The connection reads go through: the file's, or, while a lazy ledger's file does
        not exist yet, an empty ledger in memory (nothing is created on disk)."""
        if self._ready or self.path.exists():
            self._ensure()  # a file another process created: checked before it is read
            return self._conn
        with self._open_lock:
            if self._empty is None:
                empty = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                for statement in _statements(_SCHEMA):
                    empty.execute(statement)
                self._empty = empty
            return self._empty

    # -- connection ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database
        # is locked" at once (no busy wait) when processes open the file at the same moment:
        # try again until the busy timeout passes.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    conn.close()
                    raise
                time.sleep(0.005)
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a killed process
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        """One connection per thread and per process (a forked child opens its own)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = self._connect()
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _check_and_create(self, create: bool) -> None:
        where = str(self.path)
        try:
            probe = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            try:
                probe.execute("BEGIN")  # one snapshot: the marks and the tables together
                app_id = probe.execute("PRAGMA application_id").fetchone()[0]
                version = probe.execute("PRAGMA user_version").fetchone()[0]
                tables = {
                    r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                probe.execute("ROLLBACK")
            finally:
                probe.close()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(
                where, f"not a readable SQLite ledger ({exc}); nothing was changed"
            ) from None
        if app_id == APPLICATION_ID:
            # Checked on the read-only probe, before our own connection switches the
            # journal mode: a ledger this router cannot read is left byte for byte.
            if version != SCHEMA_VERSION and version not in _MIGRATIONS:
                newer = version > SCHEMA_VERSION
                raise LedgerError(
                    where,
                    f"ledger schema {version}, this router reads {SCHEMA_VERSION}; "
                    + (
                        "it was written by a newer router: upgrade router or give a new path"
                        if newer
                        else "give a new path"
                    )
                    + ", nothing was changed",
                )
            required = _TABLES.union(*(t for v, t in _TABLES_SINCE.items() if v <= version))
            missing = sorted(required - tables)
            if missing:
                raise LedgerError(
                    where,
                    f"a damaged router ledger (missing table {', '.join(missing)}); restore "
                    "it from a backup or give a new path, nothing was changed",
                )
            if version != SCHEMA_VERSION:
                self._migrate()
            return
        if app_id != 0 or tables:
            raise LedgerError(
                where,
                "not a router ledger (another application's SQLite file); "
                "give a new path, nothing was changed",
            )
        if not create:
            raise LedgerError(where, "an empty file, not a router ledger; check --ledger")
        self._create()

    def _create(self) -> None:
        """Create the schema in one transaction, so another process opening the file at the
        same moment sees either nothing or a whole ledger (never the marks without tables)."""
        with self._transaction() as conn:
            if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                for statement in _statements(_SCHEMA):
                    conn.execute(statement)

    def _migrate(self) -> None:
        """Bring an older ledger to this schema, one version at a time, in one transaction
        (a process that opened it at the same moment finds the work done)."""
        try:
            with self._transaction() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                while version in _MIGRATIONS:
                    for statement in _statements(_MIGRATIONS[version]):
                        if not _has_column(conn, statement):
                            conn.execute(statement)
                    version += 1
                conn.execute(f"PRAGMA user_version={version}")
        except sqlite3.DatabaseError as exc:
            raise LedgerError(
                str(self.path),
                f"this ledger needs an upgrade to schema {SCHEMA_VERSION} and it failed "
                f"({exc}); make the file writable or give a new path, nothing was changed",
            ) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- budgets ---------------------------------------------------------------------

    def used(self, counters: Sequence[tuple[str, str]], now: float) -> list[int]:
        """Settled spend plus live reservations, in micro-dollars, per (budget, window)."""
        if not counters:
            return []
        values = ", ".join("(?, ?, 0)" for _ in counters)
        args: list[Any] = [v for pair in counters for v in pair]
        sql = _USED.format(values=values) + " SELECT u FROM used"
        return [u for (u,) in self._reader().execute(sql.replace(":now", "?"), [*args, now])]

    def reserve(
        self, ticket: str, counters: Limits, amount_micro: int, *, now: float, hold_seconds: float
    ) -> list[int] | None:
        """Hold `amount_micro` on every (budget, window, limit) counter, or on none (None)
        when one of them would go over its limit. One statement: atomic across processes.
        Returns what each counter had used before this hold, in the order given."""
        self._ensure()
        return _Reserve(ticket, counters, amount_micro, now, hold_seconds).apply(self._conn)

    # -- records ---------------------------------------------------------------------

    def write(self, row: Row, feedback: Sequence[FeedbackRow] = ()) -> None:
        """Append one record (and the feedback on its answers, in the same transaction).
        When it carries a ticket, the same statement adds its cost to its budget counters
        and releases its reservations: all or nothing."""
        self._ensure()
        if not feedback:
            self._conn.execute(_INSERT, row)
            return
        with self._transaction() as conn:
            _Append(row, tuple(feedback)).apply(conn)

    def write_op(self, row: Row, feedback: Sequence[FeedbackRow] = ()) -> Op[None]:
        """`write` as an op (router._effects). Blocking (`run`): inline, as `write`. On the
        event loop (`arun`): queued for the ledger's writer thread, which commits every row
        queued at that moment in one transaction (group commit); the op ends when its row
        is committed, so a record is in the file before the call returns, as with `write`."""
        yield Port(self._writer, _Append(row, tuple(feedback)))

    def add_feedback(self, row: FeedbackRow) -> None:
        """Append one feedback row (the request's record is never rewritten)."""
        self._ensure()
        self._conn.execute(_INSERT_FEEDBACK, row)

    def answer_of(self, request_id: str) -> tuple[str | None, str | None] | None:
        """(served_by, model) of the request's record, or None when no record has this id."""
        found = (
            self._reader()
            .execute(
                "SELECT served_by, model FROM records WHERE request_id = ? LIMIT 1", (request_id,)
            )
            .fetchone()
        )
        return None if found is None else (found[0], found[1])

    def count(self) -> int:
        """How many records the ledger holds."""
        return int(self._reader().execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def rows(self, *, since: str | None = None, tenant: str | None = None) -> Iterator[Row]:
        """Records in time order, optionally from a UTC day (YYYY-MM-DD) and for a tenant."""
        where, args = _filters(since, tenant)
        cur = self._reader().execute(
            f"SELECT {', '.join(COLUMNS)} FROM records{where} ORDER BY id", args
        )
        for values in cur:
            yield Row._make(values)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL query over the ledger (reports use it)."""
        return list(self._reader().execute(sql, args))

    def close(self) -> None:
        """Close this thread's connection (the writer thread closes its own when idle)."""
        self._drop_connection()
        self._writer.stop()
        if self._empty is not None:
            self._empty.close()
            self._empty = None

    def _drop_connection(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Append(NamedTuple):
    """A record and its feedback rows."""

    row: Row
    feedback: tuple[FeedbackRow, ...]

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute(_INSERT, self.row)
        if self.feedback:
            conn.executemany(_INSERT_FEEDBACK, self.feedback)

    def inline(self, ledger: Ledger) -> None:
        ledger.write(self.row, self.feedback)


class _Reserve(NamedTuple):
    """A budget hold: one INSERT that checks every counter and holds on all or none."""

    ticket: str
    counters: Limits
    amount_micro: int
    now: float
    hold_seconds: float

    def apply(self, conn: sqlite3.Connection) -> list[int] | None:
        counters, amount = self.counters, self.amount_micro
        values = ", ".join("(?, ?, ?)" for _ in counters)
        args: list[Any] = [v for triple in counters for v in triple]
        sql = (
            "INSERT INTO reservations (ticket, budget, window, amount_micro, expires, seen_micro)"
            + _USED.format(values=values).replace(":now", "?")
            + " SELECT ?, budget, window, ?, ?, u FROM used"
            " WHERE NOT EXISTS (SELECT 1 FROM used WHERE u + ? > lim)"
            " RETURNING budget, window, seen_micro"
        )
        expires = self.now + self.hold_seconds
        rows = conn.execute(sql, [*args, self.now, self.ticket, amount, expires, amount]).fetchall()
        if len(rows) != len(counters):
            return None
        seen = {(b, w): u for b, w, u in rows}
        return [seen[(b, w)] for b, w, _ in counters]

    def inline(self, ledger: Ledger) -> list[int] | None:
        return ledger.reserve(
            self.ticket,
            self.counters,
            self.amount_micro,
            now=self.now,
            hold_seconds=self.hold_seconds,
        )


class _Release(NamedTuple):
    """Drop a ticket's holds (a hold whose request will write no record)."""

    ticket: str

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM reservations WHERE ticket = ?", (self.ticket,))

    def inline(self, ledger: Ledger) -> None:
        ledger._ensure()
        self.apply(ledger._conn)


_Write = _Append | _Reserve | _Release
_Outcome = tuple[bool, Any]  # (True, result) or (False, the exception)
_IDLE_SECONDS = 2.0  # the writer thread ends after this long without work (a new one starts)
_BATCH = 128
"""Writes per transaction at the most: answering a thousand callers at once would wake a
thousand tasks in one turn of their loop. With 1,000 concurrent (hold + record) pairs on
one loop, 128 kept the throughput of unbounded batches (18 transactions instead of 6)."""


class _Job(NamedTuple):
    request: _Write
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[Any] | None = None
    """Who waits for the outcome (None: nobody, see `_Writer.post`)."""


class _Writer:
    """The ledger's writes from event loops (a `router._effects.PortHandler`).

    `run` writes inline in the calling thread. `arun` queues the write for one thread,
    which takes everything queued, commits it in one transaction (group commit: under load
    many rows share a commit, and no event loop waits on SQLite or its lock), then resolves
    each caller's future on its own loop (one `call_soon_threadsafe` per loop and batch).
    A caller is answered only after the commit, so what SECURITY.md promises of `write`
    holds (in the file before the call returns, also if the process is killed next).

    A batch that fails because of the file (locked past the busy timeout, full, read-only)
    fails every caller in it; any other error (one row's) has each write retried alone, so
    only its own caller sees it. The thread ends after `_IDLE_SECONDS` without work and
    starts again with the next write; a forked child starts its own."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._jobs: list[_Job] = []
        self._running = False
        self._stopping = False
        self.transactions = 0
        """Transactions committed by the writer thread (observable: group commit)."""
        self.written = 0
        """Writes it committed."""

    def run(self, request: _Write) -> Any:
        return request.inline(self._ledger)

    async def arun(self, request: _Write) -> Any:
        import asyncio  # noqa: PLC0415  (loaded already when a coroutine runs)

        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._submit(_Job(request, loop, future))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The write is queued and lands whatever happens: let the cancellation through
            # once it has, so the caller's clean-up never races its own record.
            future.add_done_callback(_retrieved)
            await asyncio.wait((future,))
            raise

    def post(self, request: _Write) -> None:
        """Queue a write nobody waits for (it lands with the next batch)."""
        self._submit(_Job(request))

    def _submit(self, job: _Job) -> None:
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._reset()
        with self._cond:
            self._jobs.append(job)
            if self._running:
                self._cond.notify()
                return
            self._running = True
        threading.Thread(target=self._drain, name="router-ledger-writer", daemon=True).start()

    def stop(self) -> None:
        """Let the thread end now if it has nothing to do (`Ledger.close`)."""
        with self._cond:
            if self._running:
                self._stopping = True
                self._cond.notify()

    def _drain(self) -> None:
        try:
            while True:
                with self._cond:
                    if not self._jobs and not self._stopping:
                        self._cond.wait(_IDLE_SECONDS)
                    if not self._jobs:
                        self._running = self._stopping = False
                        return
                    jobs, self._jobs = self._jobs[:_BATCH], self._jobs[_BATCH:]
                self._answer(jobs, self._commit(jobs))
        finally:
            self._ledger._drop_connection()

    def _commit(self, jobs: list[_Job]) -> list[_Outcome]:
        ledger = self._ledger
        try:
            ledger._ensure()
            with ledger._transaction() as conn:
                results = [job.request.apply(conn) for job in jobs]
        except sqlite3.OperationalError as exc:  # the file's trouble: every write in it
            return [(False, exc)] * len(jobs)
        except Exception:  # one write's own error: each alone, so only its caller sees it
            return [self._alone(job.request) for job in jobs]
        self.transactions += 1
        self.written += len(jobs)
        return [(True, result) for result in results]

    def _alone(self, request: _Write) -> _Outcome:
        ledger = self._ledger
        try:
            ledger._ensure()
            with ledger._transaction() as conn:
                result = request.apply(conn)
        except Exception as exc:
            return False, exc
        self.transactions += 1
        self.written += 1
        return True, result

    @staticmethod
    def _answer(jobs: list[_Job], outcomes: list[_Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.loop is not None and job.future is not None:
                by_loop.setdefault(job.loop, []).append((job.future, outcome))
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, answers)


def _resolve(answers: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    """On the callers' loop: each future gets its write's outcome."""
    for future, (ok, value) in answers:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Marks an error nobody awaits any more as seen (no "never retrieved" log)."""
    if not future.cancelled():
        future.exception()


def _check_folder(path: Path) -> None:
    """Refuse now a path whose folder could not be created or written later (the check
    `Ledger` makes by creating the folder, made without creating anything)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        problem = "Not a directory"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = "Permission denied"
    else:
        return
    raise LedgerError(
        str(path), f"cannot create its folder ({problem}); give a path in a writable folder"
    )


def _has_column(conn: sqlite3.Connection, statement: str) -> bool:
    """Is `statement` an ADD COLUMN whose column the table already has (a file upgraded
    halfway by hand)? Such a statement is skipped, so an upgrade can be finished."""
    words = statement.split()
    if [w.upper() for w in words[:2] + words[3:5]] != ["ALTER", "TABLE", "ADD", "COLUMN"]:
        return False
    table, column = words[2], words[5]
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def _filters(since: str | None, tenant: str | None) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if since is not None:
        clauses.append("day >= ?")
        args.append(since)
    if tenant is not None:
        clauses.append("tenant = ?")
        args.append(tenant)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


class LedgerBudgets:
    """The ledger as a `router.state.BudgetStore`: counters in its `spend` and
    `reservations` tables; a record written with the request's ticket settles it."""

    settles_with_record = True

    def __init__(self, ledger: Ledger, clock: Callable[[], float]) -> None:
        self.ledger = ledger
        self.clock = clock

    def used(self, tenant: str, counters: Counters) -> list[int]:
        return self.ledger.used(counters, self.clock())

    def reserve(
        self, tenant: str, token: str, limits: Limits, amount_micro: int, *, hold_seconds: float
    ) -> list[int] | None:
        return run(self.reserve_op(tenant, token, limits, amount_micro, hold_seconds=hold_seconds))

    def settle(self, tenant: str, token: str, counters: Counters, cost_micro: int) -> None:
        run(self.settle_op(tenant, token, counters, cost_micro))

    def used_op(self, tenant: str, counters: Counters) -> Op[list[int]]:
        """A read: in a worker thread on the event loop (WAL readers never wait for the
        writer)."""
        return blocking(lambda: self.used(tenant, counters))

    def reserve_op(
        self, tenant: str, token: str, limits: Limits, amount_micro: int, *, hold_seconds: float
    ) -> Op[list[int] | None]:
        """One atomic statement; on the event loop it goes through the ledger's writer
        thread with the records (see `_Writer`), inline when blocking."""
        hold = _Reserve(token, limits, amount_micro, self.clock(), hold_seconds)
        try:
            seen: list[int] | None = yield Port(self.ledger._writer, hold)
        except BaseException:
            # The hold failed, or the op was left at it (closed, or a cancellation thrown
            # in): no record will carry this ticket, so drop whatever it holds now, as
            # RedisBudgets does, rather than leave it until it lapses.
            self.ledger._writer.post(_Release(token))
            raise
        return seen

    def settle_op(self, tenant: str, token: str, counters: Counters, cost_micro: int) -> Op[None]:
        return done(None)  # the record's INSERT settles (trigger `settle`)
