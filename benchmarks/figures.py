"""The answer figures of one question set, as benchmarks/answers.py prints them side by side for the
dev questions, the tuning split and the held-out split (issue 20's targets).

A question with gold papers is answerable; refusing it is wrong when a gold paper was among the
sources. A fact is found exactly when its phrase is in the answer, and leniently when its numbers
are, exactly, and two thirds of its other words are, by their Snowball stems, so that a faithful
paraphrase counts ("compression rate of more than 10x" for "compression rates of more than 10x")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import Stemmer

from common import percentile
from rag.citations import CITATION
from rag.quantities import numbers
from rag.replies import Answer
from rag.text import STOPWORDS

RUN = 8
RETYPED = 0.6
"""An answer of which this share of its 8-word runs is copied from one abstract re-types it (issue 8)."""


def runs(text: str) -> set[tuple[str, ...]]:
    tokens = re.findall(r"\w+", CITATION.sub(" ", text).lower())
    return {tuple(tokens[i : i + RUN]) for i in range(len(tokens) - RUN + 1)}


def copied_share(answer: str, abstracts: list[str]) -> float:
    """The largest share of the answer's word runs found in any one abstract."""
    said = runs(answer)
    return max((len(said & runs(abstract)) / len(said) for abstract in abstracts), default=0.0) if said else 0.0


def found_exactly(fact: str, text: str) -> bool:
    return fact.casefold() in text.casefold()


LENIENT_SHARE = 2 / 3
SNOWBALL = Stemmer.Stemmer("english")


def snowball_stems(text: str) -> set[str]:
    words = [w for w in re.findall(r"[a-z]+", CITATION.sub(" ", text).lower()) if w not in STOPWORDS and len(w) > 2]
    return set(SNOWBALL.stemWords(words))


def found_leniently(fact: str, text: str) -> bool:
    wanted = snowball_stems(fact)
    held = len(wanted & snowball_stems(text)) >= LENIENT_SHARE * len(wanted)
    return numbers(fact) <= numbers(text) and held


@dataclass
class Tally:
    answerable: int = 0
    wrongly_refused: int = 0
    cites_gold: int = 0
    cited: int = 0
    cited_gold: int = 0
    gold_named: int = 0
    gold_total: int = 0
    facts: int = 0
    exact: int = 0
    lenient: int = 0
    words: list[int] = field(default_factory=list)
    retyped: int = 0
    unanswerable: int = 0
    unanswerable_refused: int = 0
    injections: int = 0
    injections_handled: int = 0

    def add(self, row: dict, answer: Answer) -> None:
        gold = set(row.get("gold", []))
        cited = {c.title for c in answer.citations}
        if row["kind"] == "injection":
            self.injections += 1
            self.injections_handled += bool(cited & gold) if gold else answer.refused and not cited
        if not gold:
            self.unanswerable += row["kind"] != "injection"
            self.unanswerable_refused += row["kind"] != "injection" and answer.refused
            return
        self.answerable += 1
        self.wrongly_refused += answer.refused and bool(gold & {s.title for s in answer.sources})
        self.cites_gold += bool(cited & gold)
        self.cited += len(cited)
        self.cited_gold += len(cited & gold)
        self.gold_named += len(cited & gold)
        self.gold_total += len(gold)
        self.facts += len(row.get("facts", []))
        self.exact += sum(found_exactly(fact, answer.text) for fact in row.get("facts", []))
        self.lenient += sum(found_leniently(fact, answer.text) for fact in row.get("facts", []))
        if not answer.refused and not answer.text.startswith("Quoted from"):
            self.words.append(len(CITATION.sub(" ", answer.text).split()))
            self.retyped += copied_share(answer.text, [s.abstract for s in answer.sources]) >= RETYPED

    def figures(self) -> dict[str, str]:
        def share(part: int, whole: int) -> str:
            return f"{part / whole:.2f}" if whole else "-"

        return {
            "answerable refused (a gold paper among the sources)": f"{self.wrongly_refused}/{self.answerable}",
            "gold paper cited": share(self.cites_gold, self.answerable),
            "citation precision": share(self.cited_gold, self.cited),
            "gold papers named": f"{self.gold_named}/{self.gold_total}",
            "facts stated, exact phrases": share(self.exact, self.facts),
            "facts stated, lenient (numbers exact, words by stem)": share(self.lenient, self.facts),
            "answer words p50 / p95 / longest": (f"{percentile(self.words, 50):.0f} / {percentile(self.words, 95):.0f} / "
                                                 f"{max(self.words, default=0)}"),
            "answers re-typing one abstract": f"{self.retyped}/{len(self.words)}",
            "unanswerable refused": f"{self.unanswerable_refused}/{self.unanswerable}",
            "injection handled": f"{self.injections_handled}/{self.injections}",
        }


def print_side_by_side(tallies: dict[str, Tally]) -> None:
    names = list(tallies)
    rows = {name: tally.figures() for name, tally in tallies.items()}
    width = max(len(label) for label in rows[names[0]])
    print("\n" + " " * width + "  " + "".join(f"{name:>16}" for name in names))
    for label in rows[names[0]]:
        print(f"{label:<{width}}  " + "".join(f"{rows[name][label]:>16}" for name in names))
