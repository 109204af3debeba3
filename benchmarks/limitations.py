"""The rule that picks a card's limitation cell (`rag.cards.states_a_limitation`): precision and recall
on the labelled sentences of benchmarks/limitations/ (the second halves of abstracts), on the split it
was tuned on (the sample library's 87 abstracts) and on the held-out split (SciFact and arXiv abstracts,
labelled by someone who had not seen the rule; see its README). No model runs.

Usage: python benchmarks/limitations.py
"""

from __future__ import annotations

from common import labelled, print_rule_figures
from rag.cards import states_a_limitation


def verdicts(name: str) -> tuple[list[bool], list[bool]]:
    rows = labelled(name)
    return [states_a_limitation(row["sentence"]) for row in rows], [row["limitation"] for row in rows]


if __name__ == "__main__":
    print_rule_figures("sentences", {"tuned": verdicts("limitations/tune.jsonl"),
                                     "held out": verdicts("limitations/heldout.jsonl")})
