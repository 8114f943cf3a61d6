"""The shared routing data, loaded and split the one way every quality script uses.

Read by path (default `../shared/routing-data`); nothing is copied into the repo. The
held-out rows can be written as CSV files in RouterBench's column convention under
`.router/quality/` (git-ignored), so `python -m router eval` measures the shipped
predictor on exactly the rows its training never saw.

The split (stdlib only, seed 0, reproducible on any machine):
- MMLU (RouteLLM's 57 `responses/mmlu_<subject>.csv`, less the 5 contaminated prompts):
  per subject, in sorted subject order, one `random.Random(0)` stream shuffles the row
  indices and holds out the first round(20%).
- RouterBench (`arc_challenge_train.csv`, `mbpp_train.csv`, `winograde_train.csv`; the
  20 arc-challenge rows with an empty quality cell skipped): the same, per file, with
  its own `random.Random(0)` stream, files in sorted order.
RouteLLM's MMLU files name Mixtral-8x7B-Instruct by its HF id; RouterBench calls the same
model `mistralai/mixtral-8x7b-chat`: the loader renames it so both share one ability.
RouterBench stores each prompt as a Python list literal of strings; the loader joins the
parts with a blank line, which is what a caller would send.
"""

from __future__ import annotations

import ast
import csv
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from router.quality.data import LabelledSample, read_labelled_csv

SEED = 0
HOLDOUT = 0.2
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/mixtral-8x7b-chat"
MMLU_RENAME = {"mistralai/Mixtral-8x7B-Instruct-v0.1": WEAK}
ALPACA_RENAME = {"Mixtral-8x7B-Instruct-v0.1_concise": WEAK}
SOURCES = ("mmlu", "routerbench", "alpaca")
"""The three sources, in the order every table lists them."""
DEFAULT_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "routing-data"
HELDOUT_DIR = Path(__file__).resolve().parent.parent / ".router" / "quality"


@dataclass(frozen=True)
class Part:
    """One file's rows, with its group name and which rows are held out."""

    group: str  # "mmlu/<subject>", "routerbench/<file stem>" or "alpaca/<dataset>"
    sample: LabelledSample
    test: tuple[bool, ...]


def unwrap(prompt: str) -> str:
    """RouterBench's list-literal prompts as the text a caller would send."""
    if prompt.startswith("[") and prompt.endswith("]"):
        try:
            parts = ast.literal_eval(prompt)
        except (ValueError, SyntaxError):
            return prompt
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return "\n\n".join(parts)
    return prompt


def holdout(n: int, rng: random.Random, frac: float = HOLDOUT) -> tuple[bool, ...]:
    idx = list(range(n))
    rng.shuffle(idx)
    test = [False] * n
    for i in idx[: round(frac * n)]:
        test[i] = True
    return tuple(test)


def _renamed(s: LabelledSample, rename: dict[str, str], prompts: Sequence[str]) -> LabelledSample:
    def name(m: str) -> str:
        return rename.get(m, m)

    return LabelledSample(
        models=tuple(name(m) for m in s.models),
        prompts=tuple(prompts),
        quality={name(m): v for m, v in s.quality.items()},
        cost={name(m): v for m, v in s.cost.items()},
        responses={name(m): v for m, v in s.responses.items()},
        sources=s.sources,
        dropped_lines=s.dropped_lines,
    )


def load(root: Path = DEFAULT_ROOT) -> list[Part]:
    """Every part of the shared data, MMLU subjects first, each with its held-out rows."""
    if not root.is_dir():
        raise SystemExit(f"no routing data at {root}: pass --data PATH/TO/routing-data")
    contaminated = set()
    with open(root / "routellm-mmlu" / "contaminated_prompts.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                contaminated.add(json.loads(line)["eval_prompt"])
    parts: list[Part] = []
    rng = random.Random(SEED)
    for path in sorted((root / "routellm-mmlu" / "responses").glob("mmlu_*.csv")):
        s = read_labelled_csv(path)
        if contaminated & set(s.prompts):
            s = s.without_prompts(contaminated)
        s = _renamed(s, MMLU_RENAME, s.prompts)
        parts.append(Part("mmlu/" + path.stem[len("mmlu_") :], s, holdout(len(s), rng)))
    rng = random.Random(SEED)
    for path in sorted((root / "routerbench-train").glob("*.csv")):
        s = read_labelled_csv(path, missing="drop_row")
        s = _renamed(s, {}, [unwrap(p) for p in s.prompts])
        parts.append(Part("routerbench/" + path.stem, s, holdout(len(s), rng)))
    return parts


def load_all(root: Path = DEFAULT_ROOT) -> list[Part]:
    """`load` and AlpacaEval 2: the three sources of the leave-one-source-out protocol."""
    return load(root) + load_alpaca(root)


def load_alpaca(root: Path = DEFAULT_ROOT) -> list[Part]:
    """AlpacaEval 2's chat instructions, one part per `dataset`, with its held-out rows
    (not part of `load`: the shipped predictor and answer scorer are trained without it).

    The split (`alpacaeval2/preferences.csv`, 804 chat instructions): per `dataset`
    (helpful_base, koala, oasst, selfinstruct, vicuna, sorted), the same 80/20 draw with one
    `random.Random(0)` stream. A model's quality on a prompt is the judge's probability
    that its answer beats GPT-4-turbo's (`gpt-4-1106-preview`, 0.5 by construction); the
    six models with an unjudged cell (1-3 of 804) are left out.
    `Mixtral-8x7B-Instruct-v0.1_concise` is renamed to the Mixtral name above, so the three
    sources share GPT-4 and Mixtral.
    """
    path = root / "alpacaeval2" / "preferences.csv"
    if not path.is_file():
        raise SystemExit(f"no AlpacaEval data at {path}: pass --data PATH/TO/routing-data")
    csv.field_size_limit(1 << 26)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    judged = [m for m in header[2:] if "|" not in m and all(row[m] != "" for row in rows)]
    models = tuple(ALPACA_RENAME.get(m, m) for m in judged)
    parts: list[Part] = []
    rng = random.Random(SEED)
    for dataset in sorted({row["dataset"] for row in rows}):
        mine = [row for row in rows if row["dataset"] == dataset]
        s = LabelledSample(
            models=models,
            prompts=tuple(row["prompt"] for row in mine),
            quality={ALPACA_RENAME.get(m, m): tuple(float(row[m]) for row in mine) for m in judged},
            sources=(str(path),),
        )
        parts.append(Part("alpaca/" + dataset, s, holdout(len(s), rng)))
    return parts


def source_of(part: Part) -> str:
    """ "mmlu", "routerbench" or "alpaca"."""
    return part.group.split("/", 1)[0]


def take(s: LabelledSample, rows: Sequence[int]) -> LabelledSample:
    def pick(values: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(values[i] for i in rows)

    return LabelledSample(
        models=s.models,
        prompts=tuple(s.prompts[i] for i in rows),
        quality={m: tuple(v[i] for i in rows) for m, v in s.quality.items()},
        cost={m: tuple(v[i] for i in rows) for m, v in s.cost.items()},
        responses={m: tuple(v[i] for i in rows) for m, v in s.responses.items()},
        sources=s.sources,
    )


def split(part: Part, held_out: bool) -> LabelledSample:
    return take(part.sample, [i for i, t in enumerate(part.test) if t == held_out])


def write_csv(samples: Sequence[LabelledSample], path: Path) -> Path:
    """Rows of samples with the same models, in RouterBench's column convention."""
    models = samples[0].models
    with_cost = [m for m in models if all(m in s.cost for s in samples)]
    with_resp = [m for m in models if all(m in s.responses for s in samples)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "prompt",
                *models,
                *(f"{m}|total_cost" for m in with_cost),
                *(f"{m}|model_response" for m in with_resp),
            ]
        )
        for s in samples:
            for i, p in enumerate(s.prompts):
                w.writerow(
                    [
                        p,
                        *(repr(s.quality[m][i]) for m in models),
                        *(repr(s.cost[m][i]) for m in with_cost),
                        *(s.responses[m][i] for m in with_resp),
                    ]
                )
    return path


def write_heldout(parts: Sequence[Part], directory: Path = HELDOUT_DIR) -> list[Path]:
    """`mmlu-heldout.csv` (GPT-4 vs Mixtral), `routerbench-heldout.csv` (11 models) and,
    when `parts` hold AlpacaEval, `alpaca-heldout.csv` (its judged models)."""
    out = []
    for source in SOURCES:
        rows = [split(p, True) for p in parts if source_of(p) == source]
        if rows:
            out.append(write_csv(rows, directory / f"{source}-heldout.csv"))
    return out
