"""Recall of the sensitive-data detectors on a seeded corpus, per kind, transform and position.

    .venv/bin/python scripts/detection_corpus.py [--seed 0] [--per-cell 100] [--json PATH]
        [--examples 3] [--check]

Realistic values (valid checksums; `_detection_values`, `_detection_secrets`) x transforms
(`_detection_transforms`) x positions in a request (`_detection_positions`). Every case is a
real request through `Router.plan` (a local and an API deployment; plan calls no model), and
the finding is read from the decision's features:
- a transform case (the value in the middle of a prose paragraph) is detected when a
  detection of the expected kind is present;
- a position case is detected when the request's sensitivity, as its detections set it,
  reaches the kind's level (`router.decision._features.DEFAULT_DETECTOR_LEVELS`). The floor a policy
  puts on unscannable content (an image makes a request confidential under `free-first`) is
  left out: it would count every image-part case as found without reading the part.
A request the router refuses (`InvalidRequest`) sends nothing: it is counted as `refused`
and as held. Controls (each position holding a harmless word) must stay `public`: a flagged
control would make that position's recall meaningless, so they are reported.

Each (kind, row) cell gets `--per-cell` cases, the formats taken in turn. The report never
prints a value: undetected examples show the kind, format, row and the first 4 characters.
Exit 0 (a report) unless `--check`, then 1 when any kind is under the target.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _detection_positions import POSITIONS, Built, frame
from _detection_secrets import secret_formats
from _detection_transforms import TRANSFORMS
from _detection_values import Format, Sample, pii_formats

import router
from router._models import DetectorKind, Features, sensitivity_rank
from router.decision._features import DEFAULT_DETECTOR_LEVELS
from router.errors import InvalidRequest, NoEligibleDeployment

TARGET = 99.5
FORMATS: dict[DetectorKind, tuple[Format, ...]] = {**pii_formats(), **secret_formats()}
Section = Literal["transform", "position"]


def make_router() -> router.Router:
    """One local and one API deployment; `plan` never calls either."""
    local = {
        "name": "local",
        "model": "openai/qwen2.5-7b-instruct",
        "api_base": "http://127.0.0.1:9/v1",
        "context_window": 131072,
        "capabilities": ["tools", "vision", "json", "json_schema"],
    }
    api = {"name": "api", "model": "gpt-4o", "api_key_env": "DETECTION_CORPUS_UNUSED_KEY"}
    return router.Router(deployments=[local, api])


def features(r: router.Router, built: Built) -> Features | None:
    """The decision's features, or None when the router refused the request."""
    messages, params = built
    try:
        return r.plan(messages, **params).features
    except NoEligibleDeployment as exc:
        return exc.decision.features
    except InvalidRequest:
        return None


@dataclass(frozen=True)
class Case:
    kind: DetectorKind
    section: Section
    row: str
    sample: Sample
    built: Built


@dataclass
class Tally:
    cases: int = 0
    detected: int = 0
    refused: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def held(self) -> int:
        return self.detected + self.refused

    @property
    def recall(self) -> float:
        return 100.0 * self.held / self.cases if self.cases else 100.0

    def figures(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "detected": self.detected,
            "refused": self.refused,
            "recall": round(self.recall, 3),
        }


def masked(sample: Sample) -> str:
    head = sample.value[:4].replace("\n", " ")
    return f"{head!r}... ({len(sample.value)} chars)"


@functools.cache
def _probe(fmt: Format) -> Sample:
    """One sample of the format: what a transform or position applies to is per format."""
    return fmt.make(random.Random(f"probe/{fmt.name}"))


def _usable(fmts: Sequence[Format], ok: Callable[[Sample], bool]) -> list[Format]:
    return [f for f in fmts if ok(_probe(f))]


def _draws(
    fmts: Sequence[Format], applies: Callable[[Sample], bool], cell: str, per_cell: int
) -> Iterator[tuple[Sample, random.Random]]:
    """`per_cell` samples of the formats a transform or position applies to, in turn, with
    the cell's own seeded generator (which the caller goes on drawing from)."""
    usable = _usable(fmts, applies)
    rng = random.Random(cell)
    rng.shuffle(usable)
    for i in range(per_cell if usable else 0):
        yield usable[i % len(usable)].make(rng), rng


def cases(kind: DetectorKind, seed: int, per_cell: int) -> Iterator[Case]:
    """The kind's cases: every applicable transform, then every applicable position."""
    fmts = FORMATS[kind]
    for t in TRANSFORMS:
        for sample, rng in _draws(fmts, t.applies, f"{seed}/{kind}/{t.name}", per_cell):
            text = frame(sample, t.render(sample, rng), rng)
            yield Case(kind, "transform", t.name, sample, ([{"role": "user", "content": text}], {}))
    for p in POSITIONS:
        for sample, rng in _draws(fmts, p.applies, f"{seed}/{kind}/{p.name}", per_cell):
            yield Case(kind, "position", p.name, sample, p.build(sample, rng))


def detected(case: Case, feats: Features) -> bool:
    if case.section == "transform":
        return any(d.kind == case.kind for d in feats.detections)
    reached = max((sensitivity_rank(d.level) for d in feats.detections), default=0)
    return reached >= sensitivity_rank(DEFAULT_DETECTOR_LEVELS[case.kind])


@dataclass
class KindReport:
    total: Tally = field(default_factory=Tally)
    rows: dict[tuple[Section, str], Tally] = field(default_factory=dict)
    formats: dict[str, Tally] = field(default_factory=dict)


def run_kind(
    r: router.Router, kind: DetectorKind, seed: int, per_cell: int, examples: int
) -> KindReport:
    rep = KindReport()
    for case in cases(kind, seed, per_cell):
        feats = features(r, case.built)
        tallies = (
            rep.total,
            rep.rows.setdefault((case.section, case.row), Tally()),
            rep.formats.setdefault(case.sample.fmt, Tally()),
        )
        refused, hit = feats is None, feats is not None and detected(case, feats)
        for tally in tallies:
            tally.cases += 1
            tally.refused += refused
            tally.detected += hit
        row = tallies[1]
        if not (hit or refused) and len(row.misses) < examples:
            row.misses.append(f"{case.sample.fmt}: {masked(case.sample)}")
    return rep


def controls(r: router.Router, seed: int) -> dict[str, int]:
    """Positions holding a harmless number (a year): in how many did a detector fire?"""
    harmless = Sample("payment_card", "control", ("2024",), "", "digits")
    flagged: dict[str, int] = {}
    for p in POSITIONS:
        rng = random.Random(f"{seed}/control/{p.name}")
        feats = features(r, p.build(harmless, rng))
        flagged[p.name] = int(feats is not None and bool(feats.detections))
    return flagged


def _row_line(name: str, t: Tally) -> str:
    mark = "" if t.held == t.cases else "  <"
    refused = f"{t.refused:>8}" if t.refused else " " * 8
    return f"  {name:<36}{t.cases:>7}{t.detected:>9}{refused}{t.recall:>8.1f}%{mark}"


def print_kind(kind: DetectorKind, rep: KindReport, all_formats: bool) -> None:
    verdict = "PASS" if rep.total.recall >= TARGET else "MISS"
    print(
        f"\n== {kind}: recall {rep.total.recall:.2f}% ({rep.total.held}/{rep.total.cases}) "
        f"{verdict} (target >= {TARGET}%)"
    )

    def header(section: str) -> str:
        return f"  {section:<36}{'cases':>7}{'detected':>9}{'refused':>8}{'recall':>9}"

    for section in ("transform", "position"):
        print(header(section))
        for (sec, name), t in rep.rows.items():
            if sec == section:
                print(_row_line(name, t))
    shown = {n: t for n, t in rep.formats.items() if all_formats or t.held < t.cases}
    print(header("format") + ("" if all_formats else "   (only formats with misses)"))
    for name, t in sorted(shown.items()):
        print(_row_line(name, t))
    hidden = len(rep.formats) - len(shown)
    if hidden:
        print(f"  ... {hidden} more formats at 100%")
    misses = [(n, m) for (_, n), t in rep.rows.items() for m in t.misses]
    if misses:
        print("  undetected examples (masked):")
        for name, m in misses:
            print(f"    {name:<36} {m}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-cell", type=int, default=100, help="cases per (kind, row) cell")
    ap.add_argument("--examples", type=int, default=3, help="undetected examples per cell")
    ap.add_argument("--kinds", nargs="*", choices=list(FORMATS), default=list(FORMATS))
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    ap.add_argument("--check", action="store_true", help="exit 1 when a kind is under target")
    args = ap.parse_args(argv)
    r = make_router()
    started = time.perf_counter()
    reports: dict[DetectorKind, KindReport] = {}
    for kind in args.kinds:
        reports[kind] = run_kind(r, kind, args.seed, args.per_cell, args.examples)
        took = time.perf_counter() - started
        print(f"[{took:6.1f}s] {kind}: {reports[kind].total.cases} cases", file=sys.stderr)
    flagged = controls(r, args.seed)
    print(
        f"Detection corpus: seed {args.seed}, {args.per_cell} cases per cell, "
        f"{sum(rep.total.cases for rep in reports.values())} cases, "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(
        f"controls (a harmless number in each position) flagged: {sum(flagged.values())} "
        f"of {len(flagged)}" + "".join(f"; {p}" for p, n in flagged.items() if n)
    )
    for kind, rep in reports.items():
        print_kind(kind, rep, all_formats=len(FORMATS[kind]) <= 30)
    print("\nsummary")
    for kind, rep in reports.items():
        verdict = "PASS" if rep.total.recall >= TARGET else "MISS"
        print(f"  {kind:<14}{rep.total.cases:>7} cases {rep.total.recall:>8.2f}%  {verdict}")
    if args.json:
        args.json.write_text(json.dumps(_figures(args, reports, flagged), indent=2) + "\n")
    failing = any(rep.total.recall < TARGET for rep in reports.values())
    return 1 if args.check and failing else 0


def _figures(
    args: argparse.Namespace, reports: dict[DetectorKind, KindReport], flagged: dict[str, int]
) -> dict[str, Any]:
    return {
        "seed": args.seed,
        "per_cell": args.per_cell,
        "target": TARGET,
        "controls_flagged": flagged,
        "kinds": {
            kind: {
                **rep.total.figures(),
                "pass": rep.total.recall >= TARGET,
                "transforms": {
                    n: t.figures() for (s, n), t in rep.rows.items() if s == "transform"
                },
                "positions": {n: t.figures() for (s, n), t in rep.rows.items() if s == "position"},
                "formats": {n: t.figures() for n, t in sorted(rep.formats.items())},
                "undetected_examples": {n: t.misses for (_, n), t in rep.rows.items() if t.misses},
            }
            for kind, rep in reports.items()
        },
    }


if __name__ == "__main__":
    sys.exit(main())
