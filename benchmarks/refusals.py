"""The two rules that decide, without the model, between answering, quoting and refusing.

1. A question naming something no shown source mentions is refused (`asked_names_no_source_holds`).
2. When the checks remove every sentence the model wrote, the source most similar to the question
   is quoted if its similarity reaches QUOTE_SIMILARITY (otherwise the answer is a refusal).

Labelled set: the answerable dev questions with their gold papers (shared/eval/dev.jsonl), against
its unanswerable and injection questions and benchmarks/off_library.jsonl. A refusal of an
answerable question is wrong; a quote is right when the quoted paper is gold. No model runs.

Usage: python benchmarks/refusals.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse

from common import WORK, dev_questions, labelled, machine, sample_library
from rag.checks import QUOTE_SIMILARITY, asked_names_no_source_holds
from rag.evidence import build_sources

THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(WORK / "sample"))
    args = parser.parse_args()
    library = sample_library(args.data_dir)
    settings, retriever = library.settings, library.retriever
    off_library = labelled("off_library.jsonl")
    answerable = [(row["question"], set(row["gold"])) for row in dev_questions("qa")]
    unanswerable = [(row["question"], set()) for kind in ("unanswerable", "injection") for row in dev_questions(kind)]
    unanswerable += [(row["question"], set()) for row in off_library]
    print(f"machine: {machine()}; {len(answerable)} answerable, {len(unanswerable)} unanswerable questions")
    sources = {q: build_sources(q, retriever.search(q), retriever.store, settings) for q, _ in answerable + unanswerable}

    def refused(question: str) -> bool:
        return not sources[question] or bool(asked_names_no_source_holds(question, sources[question]))

    wrongly = [q for q, _ in answerable if refused(q)]
    caught = [q for q, _ in unanswerable if refused(q)]
    print(f"refused before the model (no source, or an asked name no source holds): answerable {len(wrongly)}/"
          f"{len(answerable)} (wrongly), unanswerable {len(caught)}/{len(unanswerable)}")
    for question in wrongly:
        print(f"  wrongly refused: {question}")

    best = {q: max(found, key=lambda s: s.similarity, default=None) for q, found in sources.items()}
    for threshold in THRESHOLDS:
        quotes = [(best[q], gold) for q, gold in answerable + unanswerable
                  if not refused(q) and best[q] is not None and best[q].similarity >= threshold]
        right = sum(source.title in gold for source, gold in quotes)
        quoted_unanswerable = sum(not gold for _, gold in quotes)
        marker = "  <- QUOTE_SIMILARITY" if abs(threshold - QUOTE_SIMILARITY) < 1e-9 else ""
        print(f"quote at similarity >= {threshold:.2f}: precision {right / max(len(quotes), 1):.2f} ({right}/{len(quotes)}), "
              f"recall {right / len(answerable):.2f} ({right}/{len(answerable)}), "
              f"unanswerable that could be quoted {quoted_unanswerable}/{len(unanswerable)}{marker}")


if __name__ == "__main__":
    main()
