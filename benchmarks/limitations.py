"""The rule that picks a card's limitation cell (`rag.cards.states_a_limitation`): precision and recall
on the labelled sentences of benchmarks/limitations/ (the second halves of abstracts), on the split it
was tuned on (the sample library's 87 abstracts) and on the held-out split (SciFact and arXiv abstracts,
labelled by someone who had not seen the rule; see its README). No model runs.

Usage: python benchmarks/limitations.py
"""

from __future__ import annotations

from common import labelled
from rag.cards import states_a_limitation


def report(split: str, rows: list[dict]) -> None:
    said = [states_a_limitation(row["sentence"]) for row in rows]
    truth = [row["limitation"] for row in rows]
    hits = sum(s and t for s, t in zip(said, truth))
    chosen, actual = sum(said), sum(truth)
    precision = hits / chosen if chosen else float("nan")
    print(f"{split:9} {len(rows):>9} {actual:>10} {chosen:>7} {precision:>10.2f} {hits / actual:>7.2f}")


def main() -> None:
    print(f"{'split':9} {'sentences':>9} {'labelled':>10} {'chosen':>7} {'precision':>10} {'recall':>7}")
    report("tuned", labelled("limitations/tune.jsonl"))
    report("held out", labelled("limitations/heldout.jsonl"))


if __name__ == "__main__":
    main()
