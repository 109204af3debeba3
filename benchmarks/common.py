"""What the benchmark scripts share: where shared data lives, the sample library, timing,
percentiles, labelled sets, dev questions."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Callable
from pathlib import Path

from rag.library import Library
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PAPERS_SHARED_DIR", ROOT.parent / "shared"))
WORK = ROOT / "benchmarks" / ".work"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


def labelled(name: str) -> list[dict]:
    """The rows of one of the labelled sets kept in benchmarks/ (JSON lines)."""
    path = ROOT / "benchmarks" / name
    return [json.loads(line) for line in path.open() if line.strip()]


def judged(name: str, judge: Callable[[dict], bool], label: str) -> tuple[list[bool], list[bool]]:
    """A rule's verdicts on a labelled file's rows, and the rows' labels, for `print_rule_figures`."""
    rows = labelled(name)
    return [judge(row) for row in rows], [row[label] for row in rows]


def print_rule_figures(what: str, splits: dict[str, tuple[list[bool], list[bool]]]) -> None:
    """A labelled rule's table: per split, the items, those labelled true, those the rule chose, and
    its precision and recall; `splits` maps a split's name to (the rule's verdicts, the labels)."""
    print(f"{'split':9} {what:>9} {'labelled':>10} {'chosen':>7} {'precision':>10} {'recall':>7}")
    for split, (said, truth) in splits.items():
        hits = sum(s and t for s, t in zip(said, truth))
        chosen, actual = sum(said), sum(truth)
        precision = hits / chosen if chosen else float("nan")
        print(f"{split:9} {len(said):>9} {actual:>10} {chosen:>7} {precision:>10.2f} {hits / actual:>7.2f}")


SPLITS = {"tune": "tune/set1.jsonl", "unseen": "unseen/set4.jsonl"}
"""Question sets written blind over the sample library: rules may be tuned on `tune`; `unseen`, the
newest held-out set, is only ever reported in aggregate (benchmarks/unseen/README.md says what of
each set has been seen; set1's figures for the pre-model refusal no longer are blind)."""


def split_questions(split: str) -> list[dict]:
    """The questions of one split, each with `kind`, `question`, `gold` (titles) and `facts`."""
    return labelled(SPLITS[split])


def dev_questions(kind: str) -> list[dict]:
    rows = [json.loads(line) for line in (SHARED / "eval" / "dev.jsonl").read_text().splitlines() if line.strip()]
    return [row for row in rows if row["kind"] == kind]


def sample_library(data_dir: str) -> Library:
    """The library a benchmark runs on; the sample listing page is ingested into it the first time."""
    library = Library(Settings(data_dir=data_dir))
    if not library.store.count():
        library.ingest([SHARED / "data" / "hf_papers_page" / "papers.txt"])
    return library
