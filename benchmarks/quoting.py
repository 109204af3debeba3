"""When may an answer quote a source instead of refusing? Precision and recall of QUOTE_SIMILARITY.

The checks can remove every sentence the model wrote; `rag.ask` then quotes the source most similar
to the question if its similarity reaches QUOTE_SIMILARITY. A quote is right when that source is a
gold paper of an answerable dev question; any quote for an unanswerable, injection or off-library
question (benchmarks/off_library.jsonl) is wrong. No model runs: retrieval only.

Usage: python benchmarks/quoting.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json

from common import ROOT, SHARED, WORK, dev_questions, machine

from rag.ask import QUOTE_SIMILARITY
from rag.evidence import build_sources
from rag.ingest import ingest, open_store
from rag.retrieval import Retriever
from rag.settings import Settings

THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55)


def best_source(question: str, retriever: Retriever, settings: Settings):
    sources = build_sources(question, retriever.search(question), retriever.store, settings)
    return max(sources, key=lambda source: source.similarity, default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(WORK / "sample"))
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    if not open_store(settings).count():
        ingest([SHARED / "data" / "hf_papers_page" / "papers.txt"], settings)
    retriever = Retriever(settings)
    off_library = [json.loads(line) for line in (ROOT / "benchmarks" / "off_library.jsonl").open()]
    answerable = [(row["question"], set(row["gold"])) for row in dev_questions("qa")]
    unanswerable = [(row["question"], set()) for kind in ("unanswerable", "injection") for row in dev_questions(kind)]
    unanswerable += [(row["question"], set()) for row in off_library]
    print(f"machine: {machine()}; {len(answerable)} answerable, {len(unanswerable)} unanswerable questions")
    best = {question: best_source(question, retriever, settings) for question, _ in answerable + unanswerable}
    for threshold in THRESHOLDS:
        quotes = [(best[q], gold) for q, gold in answerable + unanswerable
                  if best[q] is not None and best[q].similarity >= threshold]
        right = sum(source.title in gold for source, gold in quotes)
        quoted_unanswerable = sum(not gold for _, gold in quotes)
        marker = "  <- QUOTE_SIMILARITY" if abs(threshold - QUOTE_SIMILARITY) < 1e-9 else ""
        print(f"similarity >= {threshold:.2f}: precision {right / max(len(quotes), 1):.2f} ({right}/{len(quotes)}), "
              f"recall {right / len(answerable):.2f} ({right}/{len(answerable)}), "
              f"unanswerable quoted {quoted_unanswerable}/{len(unanswerable)}{marker}")


if __name__ == "__main__":
    main()
