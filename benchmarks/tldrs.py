"""The rule that sets aside a card's TL;DR for restating the paper's title (`rag.cards.restates_title`):
precision and recall on the default model's TL;DRs of the 87 sample papers, labelled in
benchmarks/tldrs/ (see its README), on the split its threshold was chosen on and on the other. No
model runs.

Usage: python benchmarks/tldrs.py
"""

from __future__ import annotations

from common import labelled, print_rule_figures
from rag.cards import restates_title


def verdicts(name: str) -> tuple[list[bool], list[bool]]:
    rows = labelled(name)
    return [restates_title(row["tldr"], row["paper"]) for row in rows], [row["restates_title"] for row in rows]


if __name__ == "__main__":
    print_rule_figures("TL;DRs", {"tuned": verdicts("tldrs/tune.jsonl"), "held out": verdicts("tldrs/heldout.jsonl")})
