"""What `router eval` hands back and writes: `EvalResult` and its `write`, which puts
`metrics.json`, `predictions.csv` and `curve.png` into a folder, each file atomically.

`Curves` holds what `curve.png` draws on one axis; `EvalInputError` is a user error in
the evaluation's arguments (raised here for `--out`, and by `evaluate`). The figures
themselves are computed by `router.quality.evaluate`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.quality.metrics import Point

__all__ = ["OUTPUT_FILES", "Curves", "EvalInputError", "EvalResult"]

OUTPUT_FILES = ("metrics.json", "predictions.csv", "curve.png")


class EvalInputError(ValueError):
    """A user error in the evaluation's arguments; `argument` names it ("strong", "out")."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {message}")
        self.message = message


@dataclass(frozen=True)
class Curves:
    """What `curve.png` draws on one axis: three curves and the single models."""

    x_label: str
    router: list[Point]
    random: list[Point]
    oracle: list[Point]
    singles: dict[str, Point]  # models placed on this axis
    levels: dict[str, float] = field(default_factory=dict)  # models with no place on it
    extra: dict[str, list[Point]] = field(default_factory=dict)  # e.g. the cascade's curves


@dataclass(frozen=True)
class EvalResult:
    """`metrics` is JSON-ready (the keys of `metrics.json`); `predictions[i][j]` is the
    predicted quality of `models[j]` on prompt i."""

    metrics: dict[str, Any]
    models: tuple[str, ...]
    predictions: list[list[float]]
    pair: Curves | None
    many: Curves | None

    def write(self, directory: str | Path) -> list[Path]:
        """Write the three files into `directory` (created if needed), each atomically."""
        from router.quality.plot import render_png  # noqa: PLC0415 (matplotlib is optional)

        out = Path(directory)
        if out.exists() and not out.is_dir():
            raise EvalInputError("out", f"{out} is a file, not a folder; give a folder to write to")
        targets = [out / name for name in OUTPUT_FILES]
        for target in targets:
            if target.is_dir():
                raise EvalInputError("out", f"{target} is a folder; cannot write the file there")
        png = render_png(self)  # before any file is written: a missing matplotlib writes none
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(self.models)
        writer.writerows([repr(v) for v in row] for row in self.predictions)
        out.mkdir(parents=True, exist_ok=True)
        _write_atomically(targets[0], (json.dumps(self.metrics, indent=2) + "\n").encode())
        _write_atomically(targets[1], table.getvalue().encode())
        _write_atomically(targets[2], png)
        return targets


def _write_atomically(target: Path, data: bytes) -> None:
    """Write next to `target`, then rename over it: never a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # an ordinary file, not mkstemp's 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
