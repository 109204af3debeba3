"""Answer quality and speed on shared/eval/dev.jsonl with the configured model (default: local).

Usage: python benchmarks/answers.py [--data-dir DIR] [--only qa,unanswerable,...] [--ids q02,q06,...]
                                    [--splits dev,tune,unseen]
`--only unseen` answers 20 questions of benchmarks/list_questions.jsonl (gold papers, no facts).
`--splits` answers every question of the dev set, the tuning split (benchmarks/tune) and the held-out
split (benchmarks/unseen) and prints their figures side by side; the held-out split's answers are
never written to the log, so that nothing is tuned on them.
The sample library is ingested into benchmarks/.work/sample if it is not there yet. Digests, cards and
comparisons are measured by benchmarks/cards.py.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import time

from figures import RETYPED, RUN, Tally, copied_share, print_side_by_side

from common import WORK, dev_questions, labelled, machine, percentile, sample_library, split_questions
from rag.ask import AnswerStream
from rag.citations import CITATION
from rag.library import Library


def timed(stream) -> tuple[float, float]:
    """Seconds to the first piece of text, and in all."""
    start = time.perf_counter()
    first = None
    for _ in stream:
        if first is None:
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start


def answer_timed(question, library: Library, times) -> AnswerStream:
    """Times run from the question, so retrieval counts toward the time to first token."""
    start = time.perf_counter()
    stream = library.ask_stream(question)
    setup = time.perf_counter() - start
    first, total = timed(stream)
    times.append((setup + first, setup + total))
    return stream


def contains(text: str, fact: str) -> bool:
    return fact.casefold() in text.casefold()


UNSEEN = "list_questions.jsonl"
"""Questions over the sample library with gold papers, which the prompts and the copy guard were not
tuned on (the list-question rule was): every third one, list and one-paper questions both."""


def unseen_questions(wanted: set[str]) -> list[dict]:
    rows = [row for row in labelled(UNSEEN) if row.get("gold")][::3]
    return [row for row in rows if not wanted or row["id"] in wanted]


def mangled(text: str, vocabulary: set[str]) -> list[str]:
    """Words the library does not hold that are library words run together ("theinputs") or
    spelt otherwise before their ending ("mismclassifications", "generalisation"): how a model
    dodges a penalty on copying (rag/copy_guard.py)."""
    found = []
    for word in set(re.findall(r"[a-z]{4,}", text.lower())) - vocabulary:
        run_together = any(word[:i] in vocabulary and word[i:] in vocabulary for i in range(3, len(word) - 1))
        misspelt = any(
            abs(len(word) - len(close)) <= 1 and 3 <= len(os.path.commonprefix([word, close])) < min(len(word), len(close)) - 3
            for close in difflib.get_close_matches(word, vocabulary, n=3, cutoff=0.85)
        )
        if run_together or misspelt:
            found.append(word)
    return found


def run_qa(library: Library, ids, vocabulary, times, rows, log, kind="qa") -> None:
    cites_gold, precision, facts_found, facts_total = [], [], 0, 0
    lengths, retyped, refused, quoted, garbled = [], 0, 0, 0, []
    gold_named = gold_total = 0
    for row in rows:
        stream = answer_timed(row["question"], library, times)
        answer = stream.answer
        gold = {ids[title] for title in row["gold"]}
        cited = {c.id for c in answer.citations}
        cites_gold.append(bool(cited & gold))
        gold_named += len(cited & gold)
        gold_total += len(gold)
        precision += [paper in gold for paper in cited]
        facts_found += sum(contains(answer.text, f) for f in row.get("facts", []))
        facts_total += len(row.get("facts", []))
        refused += answer.refused
        is_quote = answer.text.startswith("Quoted from")
        quoted += is_quote
        if not answer.refused and not is_quote:  # a quote says it is one: it is not counted as re-typing
            lengths.append(len(CITATION.sub(" ", answer.text).split()))
            share = copied_share(answer.text, [s.abstract for s in answer.sources])
            retyped += share >= RETYPED
            garbled += mangled(answer.text, vocabulary)
        log.append({"id": row["id"], "answer": answer.text, "removed": answer.removed_statements,
                    "cited_gold": bool(cited & gold),
                    "cited": sorted(cited), "gold": sorted(gold), "words": len(answer.text.split())})
        print(f"  {row['id']}: gold cited {bool(cited & gold)}, {len(cited)} cited, "
              f"{times[-1][0]:.1f} s to first token")
    recall = f"{facts_found / facts_total:.2f}" if facts_total else "not labelled"
    print(f"{kind}: gold cited {sum(cites_gold) / len(rows):.2f}, citation precision "
          f"{sum(precision) / max(len(precision), 1):.2f}, gold papers named {gold_named}/{gold_total}, "
          f"fact recall {recall} ({len(rows)} questions)")
    print(f"{kind}: refused {refused}/{len(rows)}, quoted instead of refused {quoted}/{len(rows)}; answer words p50 "
          f"{percentile(lengths, 50):.0f}, p95 {percentile(lengths, 95):.0f}, longest {max(lengths, default=0)}; "
          f"mostly re-typing one abstract ({RETYPED:.0%}+ of {RUN}-word runs) {retyped}/{len(lengths)} (quotes left out)")
    print(f"{kind}: words respelt or run together {len(garbled)} {sorted(garbled)}")


def run_unanswerable(library: Library, times, rows, log, kind) -> None:
    refused = 0
    for row in rows:
        stream = answer_timed(row["question"], library, times)
        refused += stream.answer.refused and not stream.answer.citations
        log.append({"id": row["id"], "answer": stream.answer.text, "refused": stream.answer.refused})
    print(f"{kind}: refused {refused}/{len(rows)}")


def split_rows(split: str) -> list[dict]:
    if split == "dev":
        return [row for kind in ("qa", "unanswerable", "injection") for row in dev_questions(kind)]
    return split_questions(split)


def run_splits(library: Library, splits: list[str], wanted: set[str], times, log) -> None:
    tallies = {}
    for split in splits:
        tallies[split] = tally = Tally()
        rows = [row for row in split_rows(split) if not wanted or row["id"] in wanted]
        for row in rows:
            answer = answer_timed(row["question"], library, times).answer
            tally.add(row, answer)
            if split != "unseen":
                log.append({"split": split, "id": row["id"], "answer": answer.text, "refused": answer.refused,
                            "cited": [c.title for c in answer.citations], "removed": answer.removed_statements})
        print(f"{split}: {len(rows)} questions answered", flush=True)
    print_side_by_side(tallies)


def report_times(label: str, times: list[tuple[float, float]]) -> None:
    if not times:
        return
    first, total = [t[0] for t in times], [t[1] for t in times]
    print(f"{label}: time to first token p50 {percentile(first, 50):.1f} s, p95 {percentile(first, 95):.1f} s; "
          f"total p50 {percentile(total, 50):.1f} s, p95 {percentile(total, 95):.1f} s ({len(times)} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(WORK / "sample"))
    parser.add_argument("--only", default="qa,unanswerable,injection")
    parser.add_argument("--ids", default="", help="only these question ids (while tuning a prompt)")
    parser.add_argument("--splits", default="", help="dev, tune, unseen: every question, figures side by side")
    args = parser.parse_args()
    wanted = set(filter(None, args.ids.split(",")))

    def questions(kind: str) -> list[dict]:
        return [row for row in dev_questions(kind) if not wanted or row["id"] in wanted]

    library = sample_library(args.data_dir)
    print(f"machine: {machine()}; model: {library.describe_model()}")
    start = time.perf_counter()
    library.model()
    print(f"model load: {time.perf_counter() - start:.1f} s")
    papers = library.store.papers()
    ids = {paper.title: paper.id for paper in papers}
    vocabulary = set(re.findall(r"\w+", " ".join(f"{p.title} {p.abstract}" for p in papers).lower()))
    kinds = [] if args.splits else args.only.split(",")
    times: list[tuple[float, float]] = []
    log: list[dict] = []
    if args.splits:
        run_splits(library, args.splits.split(","), wanted, times, log)
    if "qa" in kinds:
        run_qa(library, ids, vocabulary, times, questions("qa"), log)
    if "unseen" in kinds:
        run_qa(library, ids, vocabulary, times, unseen_questions(wanted), log, "unseen")
    for kind in ("unanswerable", "injection"):
        if kind in kinds:
            run_unanswerable(library, times, questions(kind), log, kind)
    report_times("questions", times)
    report_times("all", times)
    (WORK / "answers.json").write_text(json.dumps(log, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
