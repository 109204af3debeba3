"""The rule that sets aside a card's TL;DR for restating the paper's title (`rag.cards.restates_title`):
precision and recall on the default model's TL;DRs of the 87 sample papers, labelled in
benchmarks/tldrs/ (see its README), on the split its threshold was chosen on and on the other. No
model runs.

Usage: python benchmarks/tldrs.py
"""

from __future__ import annotations

from common import judged, print_rule_figures
from rag.cards import restates_title


def judge(row: dict) -> bool:
    return restates_title(row["tldr"], row["paper"])


if __name__ == "__main__":
    print_rule_figures("TL;DRs", {"tuned": judged("tldrs/tune.jsonl", judge, "restates_title"),
                                   "held out": judged("tldrs/heldout.jsonl", judge, "restates_title")})
