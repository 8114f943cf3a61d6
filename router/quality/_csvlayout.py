"""The header layout and cell parsing behind `read_labelled_csv` (see `router.quality.data`).

The column names of RouterBench's convention, `DataFormatError`, `_Layout` (where each
field lives in a header, checked: no duplicated column, a `prompt` column, every suffix
column known and naming a model) and the parsers of one quality or cost cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COST_SUFFIX",
    "METADATA_COLUMNS",
    "PROMPT_COLUMN",
    "RESPONSE_SUFFIX",
    "DataFormatError",
    "MissingPolicy",
]

PROMPT_COLUMN = "prompt"
COST_SUFFIX = "total_cost"
RESPONSE_SUFFIX = "model_response"
METADATA_COLUMNS = frozenset({"", "sample_id", "eval_name", "oracle_model_to_route_to"})
MissingPolicy = Literal["error", "drop_row"]

_BOOLEANS = {"true": 1.0, "false": 0.0}


class DataFormatError(ValueError):
    """A labelled CSV file that does not follow the convention: says where and why."""

    def __init__(
        self, path: str, message: str, *, line: int | None = None, column: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class _Layout:
    """Where each field lives in the header."""

    width: int
    prompt: int
    models: tuple[str, ...]
    quality: tuple[int, ...]
    cost: dict[str, int]
    responses: dict[str, int]

    @classmethod
    def from_header(cls, path: str, header: list[str], wanted: Sequence[str] | None) -> _Layout:
        seen: dict[str, int] = {}
        for index, column in enumerate(header):
            if column in seen:
                raise DataFormatError(path, "duplicated column", line=1, column=column)
            seen[column] = index
        if PROMPT_COLUMN not in seen:
            raise DataFormatError(path, f"no {PROMPT_COLUMN!r} column; header is {header}", line=1)
        plain = [
            c for c in header if "|" not in c and c != PROMPT_COLUMN and c not in METADATA_COLUMNS
        ]
        if wanted is not None:
            absent = [m for m in wanted if m not in plain]
            if absent:
                raise DataFormatError(
                    path, f"no quality column for {absent}; model columns are {plain}", line=1
                )
            if len(set(wanted)) != len(wanted):
                raise DataFormatError(path, f"models listed twice in {list(wanted)}", line=1)
            plain = list(wanted)
        if not plain:
            raise DataFormatError(path, "no model quality column in the header", line=1)
        cost: dict[str, int] = {}
        responses: dict[str, int] = {}
        for index, column in enumerate(header):
            if "|" not in column:
                continue
            model, _, suffix = column.rpartition("|")
            if suffix not in (COST_SUFFIX, RESPONSE_SUFFIX):
                raise DataFormatError(
                    path,
                    f"unknown suffix {suffix!r}: expected `<model>|{COST_SUFFIX}` or "
                    f"`<model>|{RESPONSE_SUFFIX}`",
                    line=1,
                    column=column,
                )
            if model not in seen:
                raise DataFormatError(
                    path, f"no quality column {model!r} for this column", line=1, column=column
                )
            if model in plain:
                (cost if suffix == COST_SUFFIX else responses)[model] = index
        return cls(
            width=len(header),
            prompt=seen[PROMPT_COLUMN],
            models=tuple(plain),
            quality=tuple(seen[m] for m in plain),
            cost=cost,
            responses=responses,
        )


def _parse_quality(
    path: str, line: int, column: str, text: str, missing: MissingPolicy
) -> float | None:
    cell = text.strip()
    if not cell:
        _refuse_blank(path, line, column, missing)
        return None
    boolean = _BOOLEANS.get(cell.lower())
    if boolean is not None:
        return boolean
    value = _number(cell)
    if value is None:
        raise DataFormatError(
            path, f"quality {text!r} is not a number or True/False", line=line, column=column
        )
    return value


def _parse_cost(
    path: str, line: int, column: str, text: str, missing: MissingPolicy
) -> float | None:
    cell = text.strip()
    if not cell:
        _refuse_blank(path, line, column, missing)
        return None
    value = _number(cell)
    if value is None or value < 0:
        raise DataFormatError(
            path, f"cost {text!r} is not a finite number >= 0", line=line, column=column
        )
    return value


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _refuse_blank(path: str, line: int, column: str, missing: MissingPolicy) -> None:
    if missing == "drop_row":
        return
    raise DataFormatError(
        path, "empty cell (pass missing='drop_row' to skip such rows)", line=line, column=column
    )
