"""The key terms a card lists (`rag.terms.key_terms`): precision and recall against terms labelled by
hand in benchmarks/terms/ (see its README), on sample-library abstracts the rule was written against
and on arXiv abstracts held out. A term found matches a labelled one when either holds the other
(case aside): "Classification-by-Components (CBC)" matches "Classification-by-Components". No model runs.

Usage: python benchmarks/terms.py [--show]
"""

from __future__ import annotations

import argparse

from common import labelled
from rag.terms import key_terms


def matches(term: str, other: str) -> bool:
    return term.lower() in other.lower() or other.lower() in term.lower()


def measure(name: str, show: bool) -> tuple[float, float, int, int]:
    found_right = found_all = labelled_found = labelled_all = 0
    for row in labelled(name):
        found, wanted = key_terms(row["abstract"]), row["terms"]
        right = [t for t in found if any(matches(t, w) for w in wanted)]
        hit = [w for w in wanted if any(matches(t, w) for t in found)]
        found_right, found_all = found_right + len(right), found_all + len(found)
        labelled_found, labelled_all = labelled_found + len(hit), labelled_all + len(wanted)
        if show:
            print(f"{row['title'][:70]}\n  wrong: {[t for t in found if t not in right]}\n"
                  f"  missed: {[w for w in wanted if w not in hit]}")
    return found_right / max(found_all, 1), labelled_found / max(labelled_all, 1), found_all, labelled_all


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="each tuned abstract's wrong and missed terms")
    show = parser.parse_args().show
    print(f"{'split':9} {'found':>6} {'labelled':>9} {'precision':>10} {'recall':>7}")
    for split, name in (("tuned", "terms/tune.jsonl"), ("held out", "terms/heldout.jsonl")):
        precision, recall, found, wanted = measure(name, show and split == "tuned")
        print(f"{split:9} {found:>6} {wanted:>9} {precision:>10.2f} {recall:>7.2f}")
