"""`python -m router calibrate DATA.csv... --out CAL.json`: fit the quality predictor to
a labelled sample of your own traffic, and optionally set `quality_target` from a goal.

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

from router.quality.calibrate import calibration_json, fit_sample, write_calibration
from router.quality.cli import _fail, _Parser, _UsageError, data_error
from router.quality.data import DataFormatError, concat_samples, read_labelled_csv
from router.quality.trained import Calibration, TrainedPredictor, default_model
from router.quality.tune import tune_target

__all__ = ["main"]

_DESCRIPTION = """\
Fit each model's ability (and its loadings on the predictor's kind directions) from a
labelled sample in RouterBench's column convention: `prompt`, one quality column per
model (0..1 or True/False), optional `<model>|total_cost`. About 100 rows are enough;
model names the predictor never saw are fine. Writes CAL.json."""

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
    p.add_argument("data", nargs="+", type=Path, metavar="DATA.csv", help="labelled CSV file(s)")
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
    if args.out.suffix.lower() in (".csv", ".sqlite", ".db") or args.out in args.data:
        return _fail(f"--out: {args.out} looks like data; write the calibration to a .json file")
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
    lines = [f"{'model':40s} {'rows':>5s} {'acc':>6s} {'log-loss before -> after':>26s}  base"]
    for h in heads:
        lines.append(
            f"{h.model[:40]:40s} {h.rows:5d} {h.accuracy:6.3f} "
            f"{h.log_loss_before:12.4f} -> {h.log_loss_after:.4f}  {h.base}"
        )
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
    text = calibration_json(model, heads, [str(p) for p in args.data], extra)
    try:
        write_calibration(args.out, text)
    except OSError as exc:
        return _fail(f"--out: {exc.filename or args.out}: {exc.strerror or exc}")
    print("\n".join(lines))
    print(f'wrote {args.out}; use it with [router] calibration = "{args.out.name}"')
    return 0
