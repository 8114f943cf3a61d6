"""`main(argv)`: the command line of the report (`python -m router report ...`): the
arguments, the checks on the `--html` target, and the page written atomically."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from router.errors import InvalidRequest, RouterError
from router.money import Ledger
from router.tools._report.build import build_report, parse_since
from router.tools._report.html import render_html
from router.tools._report.text import render_text

__all__ = ["main"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # no usage dump, no SystemExit: main returns 2
        raise _UsageError(message)


def _since_arg(text: str) -> str:
    try:
        return parse_since(text)
    except InvalidRequest as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m router report",
        description="Requests, spend, savings, latency and compliance from a ledger.",
    )
    p.add_argument(
        "--ledger",
        type=Path,
        default=Path(os.environ.get("ROUTER_LEDGER") or "ledger.sqlite"),
        help="ledger file (default: $ROUTER_LEDGER or ledger.sqlite); only read",
    )
    p.add_argument("--since", type=_since_arg, help="from this UTC day on (YYYY-MM-DD)")
    p.add_argument("--tenant", help="one tenant only")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--html", type=Path, metavar="FILE", help="also write a one-page HTML report")
    p.add_argument(
        "--include-cold-starts",
        action="store_true",
        help="count cold starts (requests that paid the process's first-call cost, "
        "litellm's import) in the latency percentiles; by default they are left out "
        "and shown on their own line",
    )
    return p


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_html_target(target: Path, ledger: Path) -> None:
    """Refuse to write the page over the ledger, its WAL files, a folder or a database,
    or into a folder that does not exist (it is not created: a typo would go unseen)."""
    resolved = target.resolve()
    guarded = {ledger.resolve(), *(Path(f"{ledger.resolve()}{s}") for s in ("-wal", "-shm"))}
    if resolved in guarded or (target.exists() and ledger.exists() and target.samefile(ledger)):
        raise InvalidRequest("--html", f"{target} is the ledger itself; give another file")
    if target.is_dir():
        raise InvalidRequest("--html", f"{target} is a folder; give a file name")
    folder = target.parent
    if not folder.exists():
        raise InvalidRequest(
            "--html", f"cannot write {target}: the folder {folder} does not exist; create it first"
        )
    if not folder.is_dir():
        raise InvalidRequest("--html", f"cannot write {target}: {folder} is not a folder")
    if target.is_file():
        with target.open("rb") as f:
            if f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC:
                raise InvalidRequest(
                    "--html", f"{target} is a SQLite database; refusing to overwrite it"
                )


def _write_atomically(target: Path, text: str) -> None:
    """Write the page next to `target` and rename it over: never a half-written page.
    A failure names `target` (never the temporary file) as an InvalidRequest on --html."""
    try:
        _write_via_temp(target, text)
    except OSError as exc:
        raise InvalidRequest("--html", f"cannot write {target}: {exc.strerror or exc}") from None


def _write_via_temp(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # a page to share, not mkstemp's 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m router report ...`: 0, or 2 with one `router: error:` line on stderr."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"router: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    try:
        if args.html is not None:
            _check_html_target(args.html, args.ledger)
        ledger = Ledger(args.ledger, create=False)
        try:
            report = build_report(
                ledger,
                since=args.since,
                tenant=args.tenant,
                include_cold_starts=args.include_cold_starts,
            )
        finally:
            ledger.close()
        if args.html is not None:  # first: a reader that stops early does not cost the page
            _write_atomically(args.html, render_html(report))
    except InvalidRequest as exc:
        name = exc.field if exc.field.startswith("--") else f"--{exc.field}"
        print(f"router: error: {name}: {exc.message}", file=sys.stderr)
        return 2
    except RouterError as exc:
        print(f"router: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"router: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(report.to_dict(), indent=2) if args.json else render_text(report))
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    if args.html is not None:
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def _silence_stdout() -> None:
    """`report | head`: the reader took what it wanted and left, as Unix tools treat it:
    no message, exit 0. Python's "Note on SIGPIPE": point stdout at /dev/null so the
    flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
