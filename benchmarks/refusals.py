"""The two rules that decide, without the model, between answering, quoting and refusing.

1. A question naming something no shown source mentions is refused (`asked_names_no_source_holds`).
2. When the checks remove every sentence the model wrote, the source most similar to the question
   is quoted if its similarity reaches QUOTE_SIMILARITY (otherwise the answer is a refusal).

Labelled sets, side by side: `tuned` is what the rules were tuned on (the dev questions, the
off-library questions in benchmarks/off_library.jsonl and benchmarks/tune/set1.jsonl); `unseen` is
the newest set of benchmarks/unseen/, printed in aggregate only. A question with gold papers is answerable,
and refusing it is wrong; a quote is right when the quoted paper is gold. No model runs.

Usage: python benchmarks/refusals.py [--data-dir DIR] [--show-tuned]
"""

from __future__ import annotations

import argparse

from common import WORK, dev_questions, labelled, machine, sample_library, split_questions
from rag.checks import QUOTE_SIMILARITY, asked_names_no_source_holds
from rag.evidence import build_sources

THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55)
Question = tuple[str, set[str]]


def tuned_set() -> list[Question]:
    rows = [row for kind in ("qa", "unanswerable", "injection") for row in dev_questions(kind)]
    rows += labelled("off_library.jsonl") + split_questions("tune")
    return [(row["question"], set(row.get("gold", []))) for row in rows]


def unseen_set() -> list[Question]:
    return [(row["question"], set(row["gold"])) for row in split_questions("unseen")]


def measure(name: str, questions: list[Question], library, show: bool) -> None:
    settings, retriever = library.settings, library.retriever
    sources = {q: build_sources(q, retriever.search(q), retriever.store, settings) for q, _ in questions}
    unheard = {q: asked_names_no_source_holds(q, found) if found else ["(no source)"] for q, found in sources.items()}
    answerable = [(q, gold) for q, gold in questions if gold]
    unanswerable = [(q, gold) for q, gold in questions if not gold]
    wrongly = [(q, gold) for q, gold in answerable if unheard[q]]
    shown = [q for q, gold in wrongly if gold & {s.title for s in sources[q]}]
    caught = [q for q, _ in unanswerable if unheard[q]]
    print(f"{name}: refused before the model: answerable {len(wrongly)}/{len(answerable)} (wrongly; "
          f"{len(shown)} with a gold paper among the sources), unanswerable {len(caught)}/{len(unanswerable)}")
    if show:
        for question, _ in wrongly:
            print(f"  wrongly refused ({', '.join(unheard[question])}): {question}")
        for question, _ in unanswerable:
            print(f"  {'caught' if unheard[question] else 'passed to the model'} "
                  f"({', '.join(unheard[question]) or '-'}): {question}")
    best = {q: max(found, key=lambda s: s.similarity, default=None) for q, found in sources.items()}
    for threshold in THRESHOLDS:
        quotes = [(best[q], gold) for q, gold in questions
                  if not unheard[q] and best[q] is not None and best[q].similarity >= threshold]
        right = sum(source.title in gold for source, gold in quotes)
        quoted_unanswerable = sum(not gold for _, gold in quotes)
        marker = "  <- QUOTE_SIMILARITY" if abs(threshold - QUOTE_SIMILARITY) < 1e-9 else ""
        print(f"{name}: quote at similarity >= {threshold:.2f}: precision {right / max(len(quotes), 1):.2f} "
              f"({right}/{len(quotes)}), recall {right / len(answerable):.2f} ({right}/{len(answerable)}), "
              f"unanswerable that could be quoted {quoted_unanswerable}/{len(unanswerable)}{marker}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(WORK / "sample"))
    parser.add_argument("--show-tuned", action="store_true", help="each tuned question's outcome (never unseen)")
    args = parser.parse_args()
    library = sample_library(args.data_dir)
    print(f"machine: {machine()}")
    measure("tuned", tuned_set(), library, args.show_tuned)
    measure("unseen", unseen_set(), library, show=False)


if __name__ == "__main__":
    main()
