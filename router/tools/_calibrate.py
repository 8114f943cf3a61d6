"""`python -m router calibrate DATA.csv... --out CAL.json`: fit the quality predictor to
a labelled sample of your own traffic, and optionally set `quality_target` from a goal.
`python -m router calibrate --ledger LEDGER --out CAL.json`: fit it to the scored answers
a ledger holds (`Router.feedback`, the cascade's verdicts; `router.money._feedback`), and take
the encodings ([difficulty, gap]) of the traffic it recorded as the reference on which
`free-first` ranks the gain of paying, so that `paid_share` is a share of the user's own
traffic (`reference`: from `MIN_REFERENCE` requests, at most `REFERENCE_SIZE`).

Point the config at the file (`[router] calibration = "CAL.json"`) or pass
`Router(calibration="CAL.json")`. `main(argv)` returns 0, or 2 with one
`router: error: ...` line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from router.errors import LedgerError
from router.money import MIN_REFERENCE, REFERENCE_SIZE, Gathered, Ledger, gather, spread
from router.quality.calibrate import (
    MIN_ROWS,
    FittedHead,
    calibration_json,
    fit_profiles,
    fit_sample,
    write_calibration,
)
from router.quality.data import DataFormatError, concat_samples, read_labelled_csv
from router.quality.trained import Calibration, TrainedPredictor, default_model
from router.quality.tune import tune_target
from router.tools._eval import _fail, _Parser, _UsageError, data_error

__all__ = ["main"]

_DESCRIPTION = f"""\
Fit each model's ability (and its loadings on the prompt's difficulty and gap, the two
numbers the predictor reduces a prompt to) from a labelled sample in RouterBench's column
convention: `prompt`, one quality column per model (0..1 or True/False), optional
`<model>|total_cost`. About 100 rows are enough; model names the predictor never saw are
fine. From {MIN_REFERENCE} rows up, the sample's prompts (as encodings, no text) also become
the reference traffic free-first's paid_share is a share of. Writes CAL.json.

Or, with --ledger LEDGER instead of CSV files: from the answers scored in a ledger
(Router.feedback and the cascade's verdicts), one model at a time, each with at least
{MIN_ROWS} scored answers; and, from at least {MIN_REFERENCE} requests the ledger recorded
(scored or not), the reference traffic: their encodings (difficulty, gap; up to
{REFERENCE_SIZE}, evenly spaced), on which free-first ranks the gain of paying, so that its
paid_share is a share of your traffic (numbers only, no text)."""

_EPILOG = """\
Goals (optional, one of): --max-paid-share 0.2 ("at most 20% of requests to paid
models") or --keep-quality 0.95 ("keep 95% of the strong model's quality", strong = the
best model of the sample unless --strong). The suggested quality_target is printed and
stored in CAL.json; set it in [router] quality_target. Free models: --free M..., else
those whose family has open weights."""


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1 (e.g. 0.2)")
    return value


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m router calibrate",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", nargs="*", type=Path, metavar="DATA.csv", help="labelled CSV file(s)")
    p.add_argument(
        "--ledger", type=Path, metavar="LEDGER", help="learn from the feedback in a ledger"
    )
    p.add_argument("--out", type=Path, required=True, metavar="CAL.json", help="file to write")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--max-paid-share", type=_share, metavar="SHARE")
    goal.add_argument("--keep-quality", type=_share, metavar="SHARE")
    p.add_argument("--strong", metavar="MODEL", help="the model --keep-quality refers to")
    p.add_argument("--free", nargs="+", metavar="MODEL", help="the sample's free models")
    p.add_argument(
        "--skip-incomplete", action="store_true", help="skip rows with an empty quality cell"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.out.is_dir():
        return _fail(f"--out: {args.out} is a folder; give a file name such as CAL.json")
    if args.out.suffix.lower() in (".csv", ".sqlite", ".db") or args.out in (
        *args.data,
        args.ledger,
    ):
        return _fail(f"--out: {args.out} looks like data; write the calibration to a .json file")
    if args.ledger is not None:
        return _from_ledger(args)
    if not args.data:
        return _fail("give labelled DATA.csv file(s), or --ledger LEDGER to learn from feedback")
    return _from_csv(args)


def _from_csv(args: argparse.Namespace) -> int:
    try:
        samples = [
            read_labelled_csv(
                path, missing="drop_row" if args.skip_incomplete else "error", with_responses=False
            )
            for path in args.data
        ]
        sample = concat_samples(samples)
    except DataFormatError as exc:
        return _fail(data_error(exc))
    except ValueError as exc:
        return _fail(f"{', '.join(map(str, args.data))}: the files do not match: {exc}")
    except OSError as exc:
        return _fail(f"{exc.filename}: {exc.strerror or exc}")
    for flag, names in (
        ("--free", args.free or []),
        ("--strong", [args.strong] if args.strong else []),
    ):
        if unknown := [m for m in names if m not in sample.models]:
            return _fail(
                f"{flag}: {unknown} are not model columns of the sample {list(sample.models)}"
            )
    model = default_model()
    print(f"fitting {len(sample.models)} models on {len(sample)} rows", file=sys.stderr)
    try:
        heads = fit_sample(model, sample)
    except ValueError as exc:
        return _fail(f"{', '.join(map(str, args.data))}: {exc}")
    extra: dict[str, Any] = {}
    lines = _table(heads)
    if args.max_paid_share is not None or args.keep_quality is not None:
        cal = Calibration(
            {
                h.model: model.calibrated_head(h.model, h.base, h.ability, h.kinds, "calibration")
                for h in heads
            },
            model.digest,
            str(args.out),
        )
        try:
            tuned = tune_target(
                TrainedPredictor(model, cal),
                sample,
                max_paid_share=args.max_paid_share,
                keep_quality=args.keep_quality,
                strong=args.strong,
                free=args.free,
            )
        except ValueError as exc:
            return _fail(str(exc))
        extra = {
            "suggested_quality_target": round(tuned.quality_target, 4),
            "goal": tuned.as_dict(),
        }
        lines.append(
            f"goal: {tuned.goal} -> quality_target = {tuned.quality_target:.4f} "
            f"(on this sample: {tuned.paid_share:.1%} to paid models, quality "
            f"{tuned.quality:.3f} vs {tuned.strong} {tuned.strong_quality:.3f})"
        )
        lines.append(f"set it in your config: [router] quality_target = {tuned.quality_target:.4f}")
    # The sample's own prompts are the user's traffic: the reference free-first ranks the
    # gain of paying on, so the refitted heads are ranked among prompts like these.
    encodings = [list(model.encode(p)) for p in sample.prompts]
    if len(encodings) >= MIN_REFERENCE:
        extra["reference"] = spread(encodings)
        extra["reference_requests"] = len(encodings)
        lines.append(
            f"reference traffic: the sample's {len(encodings)} prompts (as encodings, no text): "
            "paid_share is a share of your traffic"
        )
    else:
        lines.append(
            f"reference traffic: {len(encodings)} prompts, fewer than {MIN_REFERENCE}: "
            "paid_share stays a share of the training prompts"
        )
    text = calibration_json(model, heads, [str(p) for p in args.data], extra)
    return _write(args.out, text, lines)


def _table(heads: Sequence[FittedHead]) -> list[str]:
    lines = [f"{'model':40s} {'rows':>5s} {'acc':>6s} {'log-loss before -> after':>26s}  base"]
    for h in heads:
        lines.append(
            f"{h.model[:40]:40s} {h.rows:5d} {h.accuracy:6.3f} "
            f"{h.log_loss_before:12.4f} -> {h.log_loss_after:.4f}  {h.base}"
        )
    return lines


def _write(out: Path, text: str, lines: Sequence[str]) -> int:
    try:
        write_calibration(out, text)
    except OSError as exc:
        return _fail(f"--out: {exc.filename or out}: {exc.strerror or exc}")
    print("\n".join(lines))
    print(f'wrote {out}; use it with [router] calibration = "{out.name}"')
    return 0


_CSV_ONLY = ("max_paid_share", "keep_quality", "strong", "free", "skip_incomplete")


def _from_ledger(args: argparse.Namespace) -> int:
    """Fit one head per model that has at least MIN_ROWS scored answers in the ledger."""
    if args.data:
        return _fail("give labelled DATA.csv file(s) or --ledger LEDGER, not both")
    if given := [name for name in _CSV_ONLY if getattr(args, name) not in (None, False)]:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        return _fail(
            f"{flags}: only with a labelled CSV (each row scores every model); with --ledger "
            "each answer scores one model: leave it out"
        )
    try:
        found = gather(Ledger(args.ledger, create=False), default_model().digest)
    except LedgerError as exc:
        return _fail(f"--ledger: {exc}")
    where = str(args.ledger)
    model, heads, skipped = default_model(), [], []
    unused = _unused(found)
    for name in sorted(found.scores):
        n = len(found.scores[name])
        if n < MIN_ROWS:
            skipped.append(f"{name} ({n} scored answers, {MIN_ROWS} needed)")
            continue
        heads.append(fit_profiles(model, name, found.profiles[name], found.scores[name]))
    if not found.feedback:
        problem = (
            "no feedback in this ledger; score answers with "
            "Router.feedback(result.decision.request_id, score) or serve with "
            'mode="cascade", then calibrate again'
        )
    elif not found.usable:
        problem = f"none of its {found.feedback} scored answers can be used: {unused}"
    elif not heads:
        problem = f"no model has {MIN_ROWS} scored answers yet: {'; '.join(skipped)}"
    else:
        problem = ""
    reference, recorded = found.reference, len(found.recorded)
    if problem and reference is None:
        return _fail(
            f"{where}: {problem}; nor a reference traffic ({recorded} of the "
            f"{MIN_REFERENCE} requests recorded under this quality model it needs)"
        )
    if heads:
        print(f"fitted {len(heads)} models on {found.usable} scored answers", file=sys.stderr)
    else:
        print(f"fitted no model: {problem}", file=sys.stderr)
    for why in ([unused] if unused and found.usable else []) + [f"skipped {s}" for s in skipped]:
        print(f"  {why}", file=sys.stderr)
    extra: dict[str, Any] = {
        "feedback": {"answers": found.feedback, "used": found.usable, "skipped": skipped}
    }
    lines = (
        _table(heads)
        if heads
        else ["no model fitted (see above): its predictions stay uncalibrated"]
    )
    if reference is not None:
        extra["reference"] = [list(pair) for pair in reference]
        extra["reference_requests"] = recorded
        kept = (
            "all of their encodings"
            if len(reference) == recorded
            else f"{len(reference)} of their encodings, evenly spaced"
        )
        lines.append(
            f"reference traffic: {recorded} recorded requests ({kept}): "
            "paid_share is a share of your traffic"
        )
    else:
        lines.append(
            f"reference traffic: {recorded} recorded requests, fewer than {MIN_REFERENCE}: "
            "paid_share stays a share of the training prompts"
        )
    text = calibration_json(model, heads, [where], extra)
    return _write(args.out, text, lines)


def _unused(found: Gathered) -> str:
    """Why some scored answers cannot be used, or "" when all can."""
    parts = []
    if found.no_profile:
        parts.append(
            f"{found.no_profile} were recorded without a profile (the Router's scorer reads "
            "none: the default scorer does)"
        )
    for digest, n in found.other_models.items():
        parts.append(
            f"{n} were recorded under quality model {digest}, this router's is "
            f"{default_model().digest}: their profiles mean something else; record new "
            "traffic with this router"
        )
    return "; ".join(parts)
