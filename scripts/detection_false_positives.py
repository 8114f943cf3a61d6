"""False alarms of the sensitive-data detectors on ordinary prompts: the shared routing data.

    .venv/bin/python scripts/detection_false_positives.py [--data ../shared/routing-data]
        [--plan] [--answers] [--json PATH]

Every prompt of `routellm-mmlu` (the 57 `responses/mmlu_*.csv`; `contaminated_prompts.jsonl`
repeats five of them and is not read again), `routerbench-train` (the three CSVs, RouterBench's
list-literal prompts joined as `scripts/quality_data.py` does) and `alpacaeval2`
(`preferences.csv`; `responses.csv` holds the same prompts with answers) goes through
`router.decision._detectors.detect`, and with `--plan` also through `Router.plan` as one user
message.
`--answers` adds the models' answers (`M|model_response` columns) as further sources: in a
conversation they come back as assistant messages.

Per source: the share of prompts with any finding, with an e-mail or phone finding
(`internal`), and classed confidential or above (payment_card, iban, national_id ->
confidential; api_key, private_key -> restricted), against the target <= 0.5%. Every prompt
classed confidential or above is listed -- source, row id, kinds and an excerpt around the
finding with the matched characters partly masked -- for a person to judge. The data is read
by path and never copied.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_data import unwrap

from router._models import DetectorKind, sensitivity_rank
from router.decision._detectors import detect
from router.decision._features import DEFAULT_DETECTOR_LEVELS

TARGET = 0.5
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "routing-data"
CONFIDENTIAL = sensitivity_rank("confidential")


@dataclass(frozen=True)
class Prompt:
    source: str
    row: str
    text: str


def _rows(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def mmlu(root: Path) -> Iterator[Prompt]:
    for path in sorted((root / "routellm-mmlu" / "responses").glob("mmlu_*.csv")):
        subject = path.stem.removeprefix("mmlu_")
        for i, row in enumerate(_rows(path)):
            yield Prompt("routellm-mmlu", f"{subject}:{i}", row["prompt"])


def routerbench(root: Path) -> Iterator[Prompt]:
    for path in sorted((root / "routerbench-train").glob("*.csv")):
        for i, row in enumerate(_rows(path)):  # sample ids repeat: the row number is the id
            row_id = f"{path.stem}:{i} ({row['sample_id']})"
            yield Prompt("routerbench-train", row_id, unwrap(row["prompt"]))


def alpacaeval(root: Path) -> Iterator[Prompt]:
    for i, row in enumerate(_rows(root / "alpacaeval2" / "preferences.csv")):
        yield Prompt("alpacaeval2", f"preferences:{i} ({row['dataset']})", row["prompt"])


def answers(root: Path) -> Iterator[Prompt]:
    files = [
        *sorted((root / "routerbench-train").glob("*.csv")),
        root / "alpacaeval2" / "responses.csv",
    ]
    for path in files:
        source = f"{path.parent.name} answers"
        for i, row in enumerate(_rows(path)):
            for col, value in row.items():
                if col and col.endswith("|model_response") and value:
                    yield Prompt(source, f"{path.stem}:{i}:{col.split('|')[0]}", value)


SOURCES = {"routellm-mmlu": mmlu, "routerbench-train": routerbench, "alpacaeval2": alpacaeval}


def level(found: dict[DetectorKind, int]) -> int:
    return max((sensitivity_rank(DEFAULT_DETECTOR_LEVELS[k]) for k in found), default=0)


# --- where a finding is, for the excerpt ------------------------------------------------------


def _has(text: str, kind: DetectorKind) -> bool:
    return detect(text).get(kind, 0) > 0


def locate(text: str, kind: DetectorKind) -> tuple[int, int]:
    """A short span holding a finding of `kind`: the shortest prefix with one (appending
    text never removes a finding), then the latest start that keeps it."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _has(text[:mid], kind) else (mid + 1, hi)
    end = lo if _has(text[:lo], kind) else len(text)
    lo, hi = 0, end
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if _has(text[mid:end], kind) else (lo, mid - 1)
    return lo, end


def mask(span: str) -> str:
    """Letters and digits past the first ~40% (and before the last two) become dots."""
    at = [i for i, c in enumerate(span) if c.isalnum()]
    show = set(at[: max(2, len(at) * 2 // 5)]) | (set(at[-2:]) if len(at) > 8 else set())
    return "".join(c if i in show or not c.isalnum() else "•" for i, c in enumerate(span))


_TOKEN_RE = re.compile(r"[A-Za-z0-9+/_-]{12,}")


def _mask_tokens(context: str) -> str:
    # the rest of a key or a PEM body runs on past the span that proved the finding
    return _TOKEN_RE.sub(lambda m: m.group()[:4] + "•" * (len(m.group()) - 4), context)


def excerpt(text: str, kind: DetectorKind, context: int = 50) -> str:
    """The finding in brackets, partly masked, with `context` characters either side."""
    start, end = locate(text, kind)
    before = _mask_tokens(text[max(0, start - context) : start])
    shown = before + "[" + mask(text[start:end]) + "]" + _mask_tokens(text[end : end + context])
    return " ".join(shown.split())


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Stats:
    prompts: int = 0
    any: int = 0
    internal: int = 0  # an e-mail or phone finding
    confidential: int = 0  # classed confidential or above
    planned_confidential: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    flagged: list[dict[str, str]] = field(default_factory=list)

    def share(self, n: int) -> float:
        return 100.0 * n / self.prompts if self.prompts else 0.0

    @property
    def passes(self) -> bool:
        return self.share(self.confidential) <= TARGET

    def figures(self, with_plan: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompts": self.prompts,
            "any": self.any,
            "internal": self.internal,
            "confidential": self.confidential,
            "confidential_share": round(self.share(self.confidential), 4),
            "pass": self.passes,
            "kinds": dict(self.kinds),
        }
        if with_plan:
            out["planned_confidential"] = self.planned_confidential
        return out


def run(prompts: Iterator[Prompt], planner: Any = None) -> dict[str, Stats]:
    stats: dict[str, Stats] = {}
    for p in prompts:
        s = stats.setdefault(p.source, Stats())
        s.prompts += 1
        found = detect(p.text)
        s.any += bool(found)
        s.internal += bool({"email", "phone"} & set(found))
        s.kinds.update(found.keys())
        if level(found) >= CONFIDENTIAL:
            s.confidential += 1
            kinds = [k for k in found if level({k: 1}) >= CONFIDENTIAL]
            flag = {"source": p.source, "row": p.row, "kinds": ", ".join(kinds)}
            s.flagged.append({**flag, "excerpt": excerpt(p.text, kinds[0])})
        if planner is not None:
            sens = planner([{"role": "user", "content": p.text}])
            s.planned_confidential += sensitivity_rank(sens) >= CONFIDENTIAL
    return stats


def _plan_sensitivity() -> Any:
    from detection_corpus import make_router  # noqa: PLC0415  (only with --plan: it imports faker)

    from router.errors import NoEligibleDeployment  # noqa: PLC0415

    r = make_router()

    def sensitivity(messages: list[dict[str, Any]]) -> str:
        try:
            return r.plan(messages).features.sensitivity
        except NoEligibleDeployment as exc:
            return exc.decision.features.sensitivity

    return sensitivity


def report(stats: dict[str, Stats], took: float, with_plan: bool) -> None:
    print(f"False positives: confidential or above, target <= {TARGET}% of prompts per source")
    columns = ("any finding", "email/phone", "confidential+")
    head = f"{'source':<28}{'prompts':>8}" + "".join(f"{c:>17}" for c in columns)
    print(head + ("  plan conf.+" if with_plan else "") + "  verdict")
    for name, s in stats.items():
        cells = "".join(
            f"{f'{s.share(n):.2f}% ({n})':>17}" for n in (s.any, s.internal, s.confidential)
        )
        planned = f"{s.planned_confidential:>13}" if with_plan else ""
        print(f"{name:<28}{s.prompts:>8}{cells}{planned}  {'PASS' if s.passes else 'MISS'}")
    print("\nprompts with a finding, per kind:")
    for name, s in stats.items():
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.kinds.items())) or "none"
        print(f"  {name:<26} {kinds}")
    flagged = [f for s in stats.values() for f in s.flagged]
    print(f"\nflagged confidential or above: {len(flagged)} (matched characters partly masked)")
    for f in flagged:
        print(f"  {f['source']} | {f['row']} | {f['kinds']}\n      {f['excerpt']}")
    print(f"\ntook {took:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the routing-data folder")
    ap.add_argument("--plan", action="store_true", help="also run Router.plan on each prompt")
    ap.add_argument("--answers", action="store_true", help="also scan the models' answers")
    ap.add_argument("--json", type=Path, help="write the figures and flagged rows here")
    args = ap.parse_args(argv)
    if not (args.data / "README.md").is_file():
        print(f"--data: no routing data at {args.data}; give its folder", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def prompts() -> Iterator[Prompt]:
        for load in SOURCES.values():
            yield from load(args.data)
        if args.answers:
            yield from answers(args.data)

    stats = run(prompts(), _plan_sensitivity() if args.plan else None)
    took = time.perf_counter() - started
    report(stats, took, args.plan)
    if args.json:
        figures = {
            "target": TARGET,
            "seconds": round(took, 2),
            "sources": {name: s.figures(args.plan) for name, s in stats.items()},
            "flagged": [f for s in stats.values() for f in s.flagged],
        }
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
