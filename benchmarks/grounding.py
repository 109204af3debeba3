"""How well the grounding checker tells supported sentences from unsupported ones, on the labelled
cases of benchmarks/grounding_cases.jsonl (the default model's own sentences and hand-made hard
cases; the checker was tuned on them) and, side by side, of benchmarks/grounding_heldout.jsonl (the
model's sentences answering the tuning split's two-part and number questions, and hand-made cases
over the same abstracts, labelled by someone who had not read the checker; never tuned on, so its
misses are not listed). Runs rag.grounding.supported, the decision `ground` removes sentences by.

Targets (issue 8): supported sentences wrongly removed <= 5%, unsupported sentences caught >= 90%.

Usage: python benchmarks/grounding.py [--cases benchmarks/grounding_cases.jsonl]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from common import ROOT, machine
from rag.grounding import supported

CASES = ROOT / "benchmarks" / "grounding_cases.jsonl"
HELD_OUT = ROOT / "benchmarks" / "grounding_heldout.jsonl"


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def share(k: int, n: int) -> str:
    return f"{k}/{n} = {k / n:.1%}" if n else "0/0"


def figures(cases: list[dict], kept: dict[str, bool]) -> tuple[str, str]:
    """Wrongly removed among the supported, caught among the unsupported."""
    good = [c for c in cases if c["supported"]]
    bad = [c for c in cases if not c["supported"]]
    return share(sum(not kept[c["id"]] for c in good), len(good)), share(sum(not kept[c["id"]] for c in bad), len(bad))


def report(label: str, cases: list[dict], show: bool) -> None:
    start = time.perf_counter()
    kept = {c["id"]: supported(c["sentence"], c["source"], c["question"]) for c in cases}
    elapsed = time.perf_counter() - start
    print(f"\n{label}: {len(cases)} cases ({sum(c['supported'] for c in cases)} supported), checked in {elapsed:.2f} s")
    removed, caught = figures(cases, kept)
    print(f"supported sentences wrongly removed: {removed}")
    print(f"unsupported sentences caught: {caught}")
    for key in ("origin", "category"):
        groups: dict[str, list[dict]] = defaultdict(list)
        for case in cases:
            groups[case[key]].append(case)
        print(f"by {key}: {'':14} {'wrongly removed':>18} {'caught':>18}")
        for name, group in sorted(groups.items()):
            print(f"  {name:28} {figures(group, kept)[0]:>18} {figures(group, kept)[1]:>18}")
    misses = [c for c in cases if kept[c["id"]] != c["supported"]]
    print(f"misses: {len(misses)}")
    for case in misses if show else ():
        verdict = "wrongly removed" if case["supported"] else "not caught"
        print(f"  {case['id']:10} {verdict:15} {case['category']:20} {case['sentence'][:110]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=Path, help="one labelled file instead of the tuned and held-out sets")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.cases:
        report(str(args.cases), load(args.cases), show=True)
        return
    report(f"tuned on ({CASES.name})", load(CASES), show=True)
    report(f"held out ({HELD_OUT.name}, misses not listed)", load(HELD_OUT), show=False)


if __name__ == "__main__":
    main()
