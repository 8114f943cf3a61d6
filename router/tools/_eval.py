"""`python -m router eval DATA.csv --out DIR`: score the quality predictor's routing on a
labelled sample and write `metrics.json`, `predictions.csv` and `curve.png` into DIR.

`main(argv)` returns 0, or 2 with one `router: error: ...` line on stderr for a user
error (a missing or malformed file, an unknown model name, an option not built yet).
The summary goes to stdout, the progress bar to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from router.quality.data import DataFormatError, concat_samples, read_labelled_csv
from router.quality.evaluate import evaluate
from router.quality.plot import PlotUnavailable, check_available
from router.quality.predictor import Predictor
from router.quality.result import EvalInputError
from router.quality.trained import (
    CalibrationError,
    TrainedPredictor,
    default_model,
    load_calibration,
)

__all__ = ["main"]

_DESCRIPTION = """\
Score the routing of the per-prompt quality predictor on a labelled sample (RouterBench's
column convention: `prompt`, one quality column per model, optional `<model>|total_cost`)
beside the random router (floor) and the oracle (ceiling). Writes DIR/metrics.json,
DIR/predictions.csv (one row per data row, one column per model) and DIR/curve.png.
The predictor is the shipped one (router/data/quality-model.json; models it never saw get
their family prior plus the prompt's difficulty), calibrated by --calibration CAL.json
(`python -m router calibrate`) when given. --mode cascade also replays the cascade
(free answers first, verified, escalated) from recorded answers."""

_EPILOG = """\
Without --strong/--weak: strong = the best single model by mean quality, weak = the
cheapest model by mean cost (the worst by quality when the file has no cost columns).
Without cost columns (e.g. RouteLLM's MMLU files) the cost is the share of calls to the
strong model and the many-model cost metrics are skipped, with a note.
--mode cascade replays the cascade from the recorded answers (`<model>|model_response`
and `<model>|total_cost` columns needed): ask the free tier (--free, else the best
open-weights model and --agree more for agreement), keep the answer the shipped answer
scorer rates highest, escalate to the strong model below a threshold swept over every
value; metrics.json gains a `cascade` block, curve.png the cascade's curves."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # no usage dump, no SystemExit: main returns 2
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m router eval",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", nargs="+", type=Path, metavar="DATA.csv", help="labelled CSV file(s)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write to")
    p.add_argument(
        "--calibration",
        type=Path,
        metavar="CAL.json",
        help="a calibration file from `python -m router calibrate`",
    )
    p.add_argument("--strong", metavar="M", help="the strong model of the pair")
    p.add_argument("--weak", metavar="M", help="the weak model of the pair")
    p.add_argument(
        "--mode", choices=("route", "cascade"), default="route", help="route (default) or cascade"
    )
    p.add_argument(
        "--free",
        metavar="M[,M...]",
        help="cascade: the free tier, in the order asked (default: chosen, see below)",
    )
    p.add_argument(
        "--agree",
        type=int,
        default=1,
        metavar="N",
        help="cascade: free answers asked besides the first, for agreement (default 1)",
    )
    p.add_argument(
        "--skip-incomplete",
        action="store_true",
        help="skip rows with an empty quality or cost cell (listed in metrics.json)",
    )
    return p


class ProgressBar:
    """`done/total` on one `\\r`-rewritten line on a terminal; a line per 10% otherwise."""

    def __init__(self, stream: TextIO, label: str = "predicting") -> None:
        self._stream = stream
        self._label = label
        self._tty = stream.isatty()
        self._decile = 0

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        text = f"router eval: {self._label} {share:4.0%} ({done}/{total} rows)"
        if self._tty:
            self._stream.write("\r" + text + ("\n" if done >= total else ""))
        elif int(share * 10) > self._decile:
            self._decile = int(share * 10)
            self._stream.write(text + "\n")
        self._stream.flush()


def default_predictor(calibration: Path | None = None) -> Predictor:
    """The predictor `router eval` scores: the shipped trained one, calibrated if asked."""
    model = default_model()
    cal = load_calibration(calibration, model) if calibration is not None else None
    return TrainedPredictor(model, cal)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m router eval ...`: 0, or 2 with one `router: error:` line on stderr."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    try:
        predictor = default_predictor(args.calibration)
    except CalibrationError as exc:
        return _fail(f"--calibration: {exc}")
    if args.out.exists() and not args.out.is_dir():
        return _fail(f"--out: {args.out} is a file, not a folder; give a folder to write to")
    try:
        check_available()
        samples = [
            read_labelled_csv(
                path,
                missing="drop_row" if args.skip_incomplete else "error",
                with_responses=args.mode == "cascade",
            )
            for path in args.data
        ]
        try:
            sample = concat_samples(samples)
        except ValueError as exc:
            return _fail(f"{', '.join(map(str, args.data))}: the files do not match: {exc}")
        result = evaluate(
            sample,
            predictor,
            strong=args.strong,
            weak=args.weak,
            mode=args.mode,
            progress=ProgressBar(sys.stderr),
            free=[m.strip() for m in args.free.split(",") if m.strip()] if args.free else None,
            agree=args.agree,
            verify_progress=ProgressBar(sys.stderr, "verifying"),
        )
        written = result.write(args.out)
    except DataFormatError as exc:
        return _fail(data_error(exc))
    except EvalInputError as exc:
        where = ", ".join(map(str, args.data)) if exc.argument == "data" else f"--{exc.argument}"
        if exc.message.startswith(where):  # the message names the files already
            return _fail(exc.message)
        return _fail(f"{where}: {exc.message}")
    except NotImplementedError as exc:
        return _fail(f"--mode {args.mode}: {exc}")
    except PlotUnavailable as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or args.out}: {exc.strerror or exc}")
    print(summary(result.metrics))
    print("wrote " + ", ".join(str(p) for p in written))
    sys.stdout.flush()
    return 0


def _fail(message: str) -> int:
    print(f"router: error: {message}", file=sys.stderr)
    return 2


def data_error(exc: DataFormatError) -> str:
    """The loader's message, its hint put in the CLI's words."""
    hint = "(pass missing='drop_row' to skip such rows)"
    return str(exc).replace(hint, "(--skip-incomplete skips such rows)")


def summary(metrics: dict[str, Any]) -> str:
    """The figures of `metrics.json` as a short table: router, random, oracle."""
    data, predictor, pair = metrics["data"], metrics["predictor"], metrics["pair"]
    lines = [
        f"{data['rows']} rows ({len(data['skipped_lines'])} skipped), {len(data['models'])} "
        f"models; predictor {predictor['name']} ({len(predictor['models_learned'])} models "
        f"learned, {len(predictor['models_on_prior'])} on their prior)",
        f"strong {pair['strong']} ({pair['chosen']['strong']}), "
        f"weak {pair['weak']} ({pair['chosen']['weak']})",
        f"{'':38}{'router':>10}{'random':>10}{'oracle':>10}",
    ]

    def row(label: str, figures: dict[str, float | None] | None, fmt: str) -> None:
        if figures is not None:
            cells = ["-" if figures[k] is None else format(figures[k], fmt) for k in _KEYS]
            lines.append(f"{label:38}" + "".join(f"{c:>10}" for c in cells))

    row("APGR", pair["apgr"], ".3f")
    row("CPT(50%) share of strong calls", pair["cpt_50"], ".1%")
    row("CPT(80%) share of strong calls", pair["cpt_80"], ".1%")
    many = metrics["many_models"]
    if many is not None:
        best, cheap = many["best_single"], many["cheapest_single"]
        per_k = {k: _per_1k(v) for k, v in many["cost_at_best_single_quality"].items()}
        row(f"$/1k queries at {best['quality']:.3f} (best single)", per_k, ".3f")
        row(
            "  as a share of the best single's cost",
            many["cost_at_best_single_quality_share"],
            ".1%",
        )
        row(f"AIQ (max cost ${many['aiq_max_cost'] * 1000:.3f}/1k)", many["aiq"], ".4f")
        row(f"quality at ${cheap['cost'] * 1000:.3f}/1k (cheapest)",
            many["quality_at_cheapest_cost"], ".4f")  # fmt: skip
        row("highest quality on the curve", many["quality_max"], ".4f")
    cascade = metrics.get("cascade")
    if cascade is not None:
        lines += _cascade_summary(cascade)
    lines += [f"note: {note}" for note in metrics["notes"]]
    return "\n".join(lines)


def _cascade_summary(c: dict[str, Any]) -> list[str]:
    keys = ("cascade", "route+verify", "route", "random", "oracle")
    point = c["operating_point"]
    threshold = "escalate all" if point["threshold"] is None else f"{point['threshold']:.4f}"
    lines = [
        f"cascade: tier {', '.join(c['tier'])} ({c['tier_chosen']}); escalate to {c['strong']}",
        f"  operating point: threshold {threshold}, escalation {point['escalation_rate']:.1%},"
        f" quality {point['quality']:.4f} at ${point['cost'] * 1000:.3f}/1k",
        f"{'':38}" + "".join(f"{k:>13}" for k in keys),
    ]

    def row(label: str, figures: dict[str, float | None], fmt: str, scale: float = 1) -> None:
        values = {k: figures[k] for k in keys}
        cells = ["-" if v is None else format(v * scale, fmt) for v in values.values()]
        lines.append(f"{label:38}" + "".join(f"{x:>13}" for x in cells))

    best = c["best_single"]
    row(f"$/1k at {best['quality']:.3f} ({best['model'][:12]})",
        c["cost_at_best_single_quality"], ".3f", 1000)  # fmt: skip
    row("  as a share of its cost", c["cost_at_best_single_quality_share"], ".1%")
    for share, figures in c["quality_at_share_of_strong_cost"].items():
        row(f"quality at {share} of the strong's cost", figures, ".4f")
    row("AIQ", c["aiq"], ".4f")
    ceiling = c["perfect_verifier"]
    if ceiling["cost_at_best_single_quality"] is not None:
        lines.append(
            f"  with a perfect verifier the cascade would reach {best['quality']:.3f} at "
            f"${ceiling['cost_at_best_single_quality'] * 1000:.3f}/1k "
            f"({ceiling['cost_at_best_single_quality_share']:.1%} of its cost)"
        )
    return lines


_KEYS = ("router", "random", "oracle")


def _per_1k(value: float | None) -> float | None:
    return None if value is None else value * 1000
