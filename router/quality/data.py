"""Labelled samples in RouterBench's column convention, read with the stdlib `csv` module.

The convention (RouterBench, Hu et al. 2024; also RouteLLM's MMLU response files): one row
per prompt, a `prompt` column, one quality column named by each model, and optionally
`<model>|total_cost` (USD for that query) and `<model>|model_response` (the answer text).

- Quality cells are numbers from 0 to 1 (`0.0`, `1`, `0.75`, ...) or `True`/`False` (any
  case), as in RouteLLM's MMLU files, read as 1.0/0.0. A number outside 0..1 (`5`, `-3`:
  a score on another scale) is an error, not clipped.
- Cost cells are finite numbers >= 0.
- Model names are discovered from the header: every column that is not `prompt`, not a
  `<model>|<suffix>` column and not one of `METADATA_COLUMNS` (the unnamed index column
  pandas writes, `sample_id`, `eval_name`, `oracle_model_to_route_to`). Pass `models=` to
  read only some columns (the other plain columns are then ignored).
- Malformed input raises `DataFormatError` (a `ValueError`) naming the file, the line
  where the record starts and the column: a missing `prompt` column, a duplicated column,
  a suffix column without its model, an unknown suffix, a row with the wrong number of
  fields, a cell that does not parse. An empty quality or cost cell is an error too,
  unless `missing="drop_row"`, which skips the row and records its line in
  `LabelledSample.dropped_lines` (RouterBench's `arc_challenge_train.csv` has 20 such
  rows).

The header layout and the cell parsers live in `router.quality._csvlayout`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from router.quality._csvlayout import (
    COST_SUFFIX,
    METADATA_COLUMNS,
    PROMPT_COLUMN,
    RESPONSE_SUFFIX,
    DataFormatError,
    MissingPolicy,
    _Layout,
    _parse_cost,
    _parse_quality,
)

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = [
    "COST_SUFFIX",
    "METADATA_COLUMNS",
    "PROMPT_COLUMN",
    "RESPONSE_SUFFIX",
    "DataFormatError",
    "LabelledSample",
    "MissingPolicy",
    "concat_samples",
    "read_labelled_csv",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class LabelledSample:
    """Per-prompt outcomes of several models, column by column.

    `quality[m][i]` is model m's quality on prompt i; `cost[m][i]` its cost in USD (only
    for the models whose file had a `|total_cost` column); `responses[m][i]` its answer
    (only for models with a `|model_response` column). `sources` are the files read;
    `dropped_lines` the (file, line) of rows skipped under `missing="drop_row"`.
    """

    models: tuple[str, ...]
    prompts: tuple[str, ...]
    quality: Mapping[str, tuple[float, ...]]
    cost: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    responses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    dropped_lines: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("a labelled sample needs at least one model")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"duplicate model names: {self.models}")
        n = len(self.prompts)
        if set(self.quality) != set(self.models):
            raise ValueError("quality must have exactly one column per model")
        for kind, columns in (
            ("quality", self.quality),
            ("cost", self.cost),
            ("responses", self.responses),
        ):
            for model, values in columns.items():
                if model not in self.models:
                    raise ValueError(f"{kind} column for unknown model {model!r}")
                if len(values) != n:
                    raise ValueError(
                        f"{kind} column {model!r} has {len(values)} values for {n} prompts"
                    )

    def __len__(self) -> int:
        return len(self.prompts)

    def quality_rows(self, models: Sequence[str] | None = None) -> list[list[float]]:
        """Row-major qualities: one list per prompt, in the order of `models` (default all)."""
        names = self._names(models)
        columns = [self.quality[m] for m in names]
        return [[column[i] for column in columns] for i in range(len(self))]

    def cost_rows(self, models: Sequence[str] | None = None) -> list[list[float]]:
        """Row-major costs: one list per prompt, in the order of `models` (default all)."""
        names = self._names(models)
        lacking = [m for m in names if m not in self.cost]
        if lacking:
            raise ValueError(f"no `<model>|{COST_SUFFIX}` column for {lacking}")
        columns = [self.cost[m] for m in names]
        return [[column[i] for column in columns] for i in range(len(self))]

    def mean_quality(self, model: str) -> float:
        """Mean quality of one model over the sample (its accuracy for 0/1 labels)."""
        return math.fsum(self.quality[model]) / len(self)

    def mean_cost(self, model: str) -> float:
        """Mean cost per query of one model over the sample, in USD."""
        if model not in self.cost:
            raise ValueError(f"no `{model}|{COST_SUFFIX}` column")
        return math.fsum(self.cost[model]) / len(self)

    def without_prompts(self, prompts: Collection[str]) -> LabelledSample:
        """A copy without every row whose prompt is in `prompts` (RouteLLM's decontamination:
        `all_data[~all_data["prompt"].isin(contaminated_prompts)]`)."""
        drop = set(prompts)
        keep = [i for i, p in enumerate(self.prompts) if p not in drop]
        if not keep:
            raise ValueError("removing these prompts leaves no rows")

        def take(values: tuple[_T, ...]) -> tuple[_T, ...]:
            return tuple(values[i] for i in keep)

        return LabelledSample(
            models=self.models,
            prompts=take(self.prompts),
            quality={m: take(v) for m, v in self.quality.items()},
            cost={m: take(v) for m, v in self.cost.items()},
            responses={m: take(v) for m, v in self.responses.items()},
            sources=self.sources,
            dropped_lines=self.dropped_lines,
        )

    def _names(self, models: Sequence[str] | None) -> Sequence[str]:
        if models is None:
            return self.models
        unknown = [m for m in models if m not in self.quality]
        if unknown:
            raise ValueError(f"unknown models {unknown}; the sample has {list(self.models)}")
        return models


def read_labelled_csv(
    path: str | Path,
    *,
    models: Sequence[str] | None = None,
    missing: MissingPolicy = "error",
    with_responses: bool = True,
) -> LabelledSample:
    """Read one CSV file in RouterBench's column convention (see the module docstring).

    `models` restricts (and orders) the model columns read; by default every plain column
    that is not `prompt` or metadata is a model, in header order. `missing` says what an
    empty quality or cost cell does: raise (`"error"`) or skip its row (`"drop_row"`).
    `with_responses=False` skips the `|model_response` text.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "s.csv")
    ...     with open(p, "w", encoding="utf-8") as f:
    ...         _ = f.write("prompt,weak,strong,strong|total_cost\\nq1,True,False,0.5\\n")
    ...     s = read_labelled_csv(p)
    >>> s.models, s.quality["weak"], s.cost["strong"], dict(s.cost).get("weak")
    (('weak', 'strong'), (1.0,), (0.5,), None)
    """
    name = str(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise DataFormatError(name, f"cannot open: {error.strerror or error}") from error
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise DataFormatError(name, "empty file: no header row")
            layout = _Layout.from_header(name, header, models)
            return _read_rows(name, reader, layout, missing, with_responses)
        except csv.Error as error:
            raise DataFormatError(
                name,
                f"not valid CSV: {error} (a cell longer than csv.field_size_limit() "
                f"= {csv.field_size_limit()} characters also lands here)",
                line=reader.line_num,
            ) from error
        except UnicodeDecodeError as error:
            raise DataFormatError(name, f"not UTF-8 text: {error}") from error


def concat_samples(samples: Sequence[LabelledSample]) -> LabelledSample:
    """Stack samples with the same models (same order) and the same cost/response columns."""
    if not samples:
        raise ValueError("concat_samples needs at least one sample")
    first = samples[0]
    for other in samples[1:]:
        if other.models != first.models:
            raise ValueError(f"models differ: {first.models} vs {other.models}")
        if set(other.cost) != set(first.cost) or set(other.responses) != set(first.responses):
            raise ValueError("samples differ in which models have cost or response columns")

    def stack(columns: Sequence[tuple[_T, ...]]) -> tuple[_T, ...]:
        return tuple(value for column in columns for value in column)

    return LabelledSample(
        models=first.models,
        prompts=stack([s.prompts for s in samples]),
        quality={m: stack([s.quality[m] for s in samples]) for m in first.models},
        cost={m: stack([s.cost[m] for s in samples]) for m in first.cost},
        responses={m: stack([s.responses[m] for s in samples]) for m in first.responses},
        sources=tuple(src for s in samples for src in s.sources),
        dropped_lines=tuple(d for s in samples for d in s.dropped_lines),
    )


def _read_rows(
    path: str,
    reader: CsvReader,
    layout: _Layout,
    missing: MissingPolicy,
    with_responses: bool,
) -> LabelledSample:
    prompts: list[str] = []
    quality: dict[str, list[float]] = {m: [] for m in layout.models}
    cost: dict[str, list[float]] = {m: [] for m in layout.cost}
    responses: dict[str, list[str]] = {m: [] for m in layout.responses} if with_responses else {}
    dropped: list[tuple[str, int]] = []
    end = reader.line_num
    for row in reader:
        line, end = end + 1, reader.line_num
        if not row:
            continue  # a blank line, as csv.DictReader skips it
        if len(row) != layout.width:
            raise DataFormatError(
                path, f"expected {layout.width} fields, found {len(row)}", line=line
            )
        parsed_quality: list[float] = []
        parsed_cost: dict[str, float] = {}
        blank = False
        for model, index in zip(layout.models, layout.quality, strict=True):
            value = _parse_quality(path, line, model, row[index], missing)
            if value is None:
                blank = True
                break
            if not 0.0 <= value <= 1.0:
                raise DataFormatError(
                    path,
                    f"quality {row[index].strip()!r} is outside 0..1: a quality cell is a "
                    "number from 0 (wrong) to 1 (right), or True/False",
                    line=line,
                    column=model,
                )
            parsed_quality.append(value)
        if not blank:
            for model, index in layout.cost.items():
                value = _parse_cost(path, line, f"{model}|{COST_SUFFIX}", row[index], missing)
                if value is None:
                    blank = True
                    break
                parsed_cost[model] = value
        if blank:
            dropped.append((path, line))
            continue
        prompts.append(row[layout.prompt])
        for model, value in zip(layout.models, parsed_quality, strict=True):
            quality[model].append(value)
        for model, value in parsed_cost.items():
            cost[model].append(value)
        for model, values in responses.items():
            values.append(row[layout.responses[model]])
    if not prompts:
        raise DataFormatError(path, "no data rows" + (" left" if dropped else ""))
    return LabelledSample(
        models=layout.models,
        prompts=tuple(prompts),
        quality={m: tuple(v) for m, v in quality.items()},
        cost={m: tuple(v) for m, v in cost.items()},
        responses={m: tuple(v) for m, v in responses.items()},
        sources=(path,),
        dropped_lines=tuple(dropped),
    )
