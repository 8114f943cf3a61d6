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
from router.quality.predictor import Predictor, PriorPredictor
from router.quality.result import EvalInputError

__all__ = ["main"]

_DESCRIPTION = """\
Score the routing of the per-prompt quality predictor on a labelled sample (RouterBench's
column convention: `prompt`, one quality column per model, optional `<model>|total_cost`)
beside the random router (floor) and the oracle (ceiling). Writes DIR/metrics.json,
DIR/predictions.csv (one row per data row, one column per model) and DIR/curve.png.
Until the trained predictor ships, the predictor is each model's family prior (a constant
per model: it routes like the random router)."""

_EPILOG = """\
Without --strong/--weak: strong = the best single model by mean quality, weak = the
cheapest model by mean cost (the worst by quality when the file has no cost columns).
Without cost columns (e.g. RouteLLM's MMLU files) the cost is the share of calls to the
strong model and the many-model cost metrics are skipped, with a note.
--mode cascade is not built yet: cascade evaluation arrives with the cascade.
--calibration is not built yet: calibration files arrive with `router calibrate`."""


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
    p.add_argument("--calibration", type=Path, metavar="CAL.json", help="(not built yet)")
    p.add_argument("--strong", metavar="M", help="the strong model of the pair")
    p.add_argument("--weak", metavar="M", help="the weak model of the pair")
    p.add_argument(
        "--mode", choices=("route", "cascade"), default="route", help="(cascade: not built yet)"
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


def default_predictor() -> Predictor:
    """The predictor `router eval` scores: the family priors until the trained one ships."""
    return PriorPredictor()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m router eval ...`: 0, or 2 with one `router: error:` line on stderr."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.calibration is not None:
        return _fail(
            "--calibration: calibration files arrive with `router calibrate`, which is not "
            "built yet; run without --calibration"
        )
    if args.out.exists() and not args.out.is_dir():
        return _fail(f"--out: {args.out} is a file, not a folder; give a folder to write to")
    try:
        check_available()
        samples = [
            read_labelled_csv(
                path,
                missing="drop_row" if args.skip_incomplete else "error",
                with_responses=False,
            )
            for path in args.data
        ]
        try:
            sample = concat_samples(samples)
        except ValueError as exc:
            return _fail(f"{', '.join(map(str, args.data))}: the files do not match: {exc}")
        result = evaluate(
            sample,
            default_predictor(),
            strong=args.strong,
            weak=args.weak,
            mode=args.mode,
            progress=ProgressBar(sys.stderr),
        )
        written = result.write(args.out)
    except DataFormatError as exc:
        hint = "(pass missing='drop_row' to skip such rows)"
        return _fail(str(exc).replace(hint, "(--skip-incomplete skips such rows)"))
    except EvalInputError as exc:
        where = ", ".join(map(str, args.data)) if exc.argument == "data" else f"--{exc.argument}"
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
    lines += [f"note: {note}" for note in metrics["notes"]]
    return "\n".join(lines)


_KEYS = ("router", "random", "oracle")


def _per_1k(value: float | None) -> float | None:
    return None if value is None else value * 1000
