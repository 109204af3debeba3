"""An abstract's own sentences, sorted into the aspects a comparison sets side by side.

Abstracts tell their story in one order: the problem, what the paper does, then what it found.
Each sentence scores for each aspect by the phrases that mark it ("we propose", "outperforms")
and by where it stands; the best labelling that keeps that order wins. Nothing is rewritten, so
every cell is the paper's own words, and no model call is needed.
"""

from __future__ import annotations

import re

from rag.quantities import NUMBER
from rag.text import sentences

ORDERED = ("problem", "approach", "results")
"""The aspects in the order abstracts present them."""
LABELS = {
    "problem": "Problem",
    "approach": "Approach",
    "results": "Experiments and results",
    "limitations": "Limitations or open questions",
}
NOT_STATED = "Not stated in the abstract."
MARKERS = {
    "problem": re.compile(
        r"\b(challeng\w*|problems?|however|lacks?|limited|difficult\w*|important|increasingly|widely|"
        r"remains?|suffers?|costly|expensive|needs?)\b", re.I),
    "approach": re.compile(
        r"\b((we|this (paper|work|study|article))\s+(\w+\s+){0,2}(propose|present|introduce|develop|design|build|"
        r"create|describe|study|investigate|consider|analy[sz]e|focus|show how|formulate|offer)\w*|"
        r"in this (paper|work|study)|here,? we|is proposed|are proposed)\b", re.I),
    "results": re.compile(
        r"\b(outperform\w*|achiev\w*|improv\w*|results?|demonstrat\w*|state-of-the-art|surpass\w*|shows? that|"
        r"find that|found|accuracy|faster|better|gains?|experiments?|evaluat\w*|benchmarks?|datasets?)\b|"
        r"\d+(\.\d+)?\s*(%|percent|x\b)", re.I),
}
LIMITATION = re.compile(r"\b(limitations?|future (work|research)|open (questions?|problems?)|remains? (open|unclear))\b", re.I)
MARKER_WEIGHT = {"problem": 1.0, "approach": 2.0, "results": 1.0}
"""A paper saying what it does ("we present X") is the surest marker: it opens the approach even
in an abstract's first sentence, where the problem would otherwise be expected."""
POSITION_WEIGHT = 1.5
"""How much a sentence's place counts against one marker phrase: enough that a results word in an
abstract's opening ("has reached") does not pull the whole abstract into results, too little to
override a sentence that says "we propose". Chosen by reading the sorted sample abstracts."""


def sort_abstract(abstract: str) -> dict[str, str]:
    """Aspect name to the abstract's sentences about it, in their order; NOT_STATED where none."""
    said = sentences(abstract) or [abstract]
    cells: dict[str, list[str]] = {name: [] for name in LABELS}
    for sentence, aspect in zip(said, label_sentences(said)):
        cells[aspect].append(sentence)
    return {name: " ".join(found) or NOT_STATED for name, found in cells.items()}


def richest_result(results: str) -> str:
    """Of an abstract's results (`sort_abstract(abstract)["results"]`), the sentence giving the most
    numbers, or "" when they give none: the figures a reader of a card or digest came for."""
    if results == NOT_STATED or not NUMBER.search(results):
        return ""
    return max(sentences(results), key=lambda sentence: len(NUMBER.findall(sentence)))


def label_sentences(said: list[str]) -> list[str]:
    """Each sentence's aspect; a limitation counts as one only in the abstract's second half."""
    return [
        "limitations" if i > len(said) / 2 and LIMITATION.search(sentence) else aspect
        for i, (sentence, aspect) in enumerate(zip(said, _ordered_labels(said)))
    ]


def _ordered_labels(said: list[str]) -> list[str]:
    """The labelling with the highest total score whose aspects never go back in ORDERED."""
    last = max(len(said) - 1, 1)
    scores = []
    for i, sentence in enumerate(said):
        place = i / last
        row = [MARKER_WEIGHT[name] * bool(MARKERS[name].search(sentence)) for name in ORDERED]
        row[0] += POSITION_WEIGHT * (0.5 - place)
        row[-1] += POSITION_WEIGHT * (place - 0.5)
        scores.append(row)
    # best[k]: the best total for the sentences so far, the last one labelled ORDERED[k]
    best, paths = list(scores[0]), [[k] for k in range(len(ORDERED))]
    for row in scores[1:]:
        previous = [max(range(k + 1), key=best.__getitem__) for k in range(len(ORDERED))]
        best = [best[j] + row[k] for k, j in enumerate(previous)]
        paths = [paths[j] + [k] for k, j in enumerate(previous)]
    winner = max(range(len(ORDERED)), key=best.__getitem__)
    return [ORDERED[k] for k in paths[winner]]
