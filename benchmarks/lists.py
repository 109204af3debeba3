"""Questions that ask for several papers: how well they are recognised, and which papers they are given.

1. `asks_for_several` (rag/intent.py) against the labels of benchmarks/list_questions.jsonl, two
   sets written by someone who had not seen the rule, and the dev questions ("Which papers ..." ones
   are lists). Each set was held out until its first measurement, then tuned on: the first held-out set
   gave precision 0.83, recall 0.40, the second 0.94, 0.64 (issue 8 session notes, README). Then the
   questions of benchmarks/tune/set1.jsonl (tuned on) and the newest set of benchmarks/unseen/ (held out,
   printed in aggregate only), whose `list` kind is the label.
   Then `question_parts` (rag/intent.py), a question asking several things whose parts are set out
   for the model, against the `parts` label of the same two splits.
2. For the list questions with gold papers, the precision and recall of the papers that reach the
   model, for the shipped `list_min_papers` and `source_margin` and for the values around them; then,
   as shipped, for the list questions of the tuning split and of the held-out split.

No model runs. Usage: python benchmarks/lists.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
from functools import cache

from common import WORK, dev_questions, labelled, machine, sample_library, split_questions
from rag.evidence import relevant
from rag.intent import asks_for_several, question_parts

MIN_PAPERS = (0, 1, 2, 3)
MARGINS = (0.1, 0.15, 0.2)


def several_parts(question: str) -> bool:
    return len(question_parts(question)) > 1


def detection(label: str, rows: list[tuple[str, bool]], show: bool = True, rule=asks_for_several,
              what: str = "asking for several papers") -> None:
    said = [(rule(question), wanted) for question, wanted in rows]
    hits = sum(s and w for s, w in said)
    precision = hits / max(sum(s for s, _ in said), 1)
    recall = hits / max(sum(w for _, w in said), 1)
    print(f"recognised as {what}, {label}: precision {precision:.2f}, recall {recall:.2f} "
          f"({sum(w for _, w in said)} of {len(rows)} are)")
    for question, wanted in rows if show else ():
        if rule(question) != wanted:
            print(f"  {'missed' if wanted else 'wrongly'}: {question}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(WORK / "sample"))
    args = parser.parse_args()
    library = sample_library(args.data_dir)
    settings = library.settings
    print(f"machine: {machine()}")
    tuned = labelled("list_questions.jsonl")
    dev = [(row["question"], row["question"].lower().startswith("which papers"), set(row["gold"]))
           for row in dev_questions("qa")]
    detection("tuned set", [(row["question"], row["list"]) for row in tuned])
    for held_out in ("list_questions_heldout.jsonl", "list_questions_heldout2.jsonl"):
        detection(held_out, [(row["question"], row["list"]) for row in labelled(held_out)])
    detection("dev", [(question, wanted) for question, wanted, _ in dev])
    for split in ("tune", "unseen"):
        rows = [(row["question"], row["kind"] == "list") for row in split_questions(split)]
        detection(f"{split} split", rows, show=split == "tune")
    for split in ("tune", "unseen"):
        rows = [(row["question"], row.get("parts", 1) > 1) for row in split_questions(split)]
        detection(f"{split} split", rows, show=split == "tune", rule=several_parts, what="asking several things")

    lists = [(row["question"], set(row["gold"])) for row in tuned if row["list"]]
    lists += [(question, gold) for question, wanted, gold in dev if wanted]
    print(f"papers given to the model for {len(lists)} list questions with gold papers (top_k {settings.top_k}):")
    for least in MIN_PAPERS:
        for margin in MARGINS:
            varied = settings.model_copy(update={"list_min_papers": least, "source_margin": margin})
            shipped = " (shipped)" if (least, margin) == (settings.list_min_papers, settings.source_margin) else ""
            print(f"  list_min_papers {least}, source_margin {margin:.2f}: {given(library, lists, varied)}{shipped}")
    for split in ("tune", "unseen"):
        rows = [(row["question"], set(row["gold"])) for row in split_questions(split) if row["kind"] == "list"]
        print(f"papers given to the {len(rows)} list questions of the {split} split, as shipped: "
              f"{given(library, rows, settings)}")


def given(library, lists: list[tuple[str, set[str]]], settings) -> str:
    """Precision and recall of the papers a list question's model is given, against its gold papers."""
    picked = [({hit.title for hit in relevant(search(library, q), settings, several=True)}, gold) for q, gold in lists]
    right = sum(len(titles & gold) for titles, gold in picked)
    precision = right / max(sum(len(titles) for titles, _ in picked), 1)
    return f"precision {precision:.2f}, recall {right / sum(len(gold) for _, gold in picked):.2f}"


@cache
def search(library, question: str) -> list:
    return library.retriever.search(question)


if __name__ == "__main__":
    main()
