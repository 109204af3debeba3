"""The rule that picks a card's limitation cell (`rag.cards.states_a_limitation`): precision and recall
on the labelled sentences of benchmarks/limitations/ (the second halves of abstracts), on the split it
was tuned on (the sample library's 87 abstracts) and on the held-out split (SciFact and arXiv abstracts,
labelled by someone who had not seen the rule; see its README). No model runs.

Usage: python benchmarks/limitations.py
"""

from __future__ import annotations

from common import judged, print_rule_figures
from rag.cards import states_a_limitation


def judge(row: dict) -> bool:
    return states_a_limitation(row["sentence"])


if __name__ == "__main__":
    print_rule_figures("sentences", {"tuned": judged("limitations/tune.jsonl", judge, "limitation"),
                                     "held out": judged("limitations/heldout.jsonl", judge, "limitation")})
