"""Sentences of abstracts and answers: split, rejoined and excerpted the same way everywhere.

Pure text: the checkers (`grounding`, `aspects`) and the prompt builder (`evidence`) share it
without importing storage or models."""

from __future__ import annotations

import re

from rag.citations import CITATION

SENTENCE_END = re.compile(
    r"(?<!\bal\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])\s+(?=[A-Z0-9(\[\"'“])(?![^\n.!?\[]*\[\d+\]:)|\s*\n\s*|\s+…\s+"
)
"""A stop followed by a capital, a digit or a citation, but not the stop of 'et al.', 'e.g.' or 'i.e.',
nor one inside a list line's title ("- Is Attention Learnable? A Study [2]: ..."); a line break; or the
gap between two passages of an excerpt (`GAP`), whose sentences a claim must not be read across."""
GAP = " … "
"""Marks sentences left out between two shown ones."""
LIST_ITEM = re.compile(r"^\s*[-*•]\s+")
CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=\()|\s+-+\s+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def rejoin(said: list[str]) -> str:
    """`sentences` undone: one text again, where a list item keeps its own line."""
    return "".join(("\n" if LIST_ITEM.match(s) else " ") + s for s in said).strip()


def joined(all_sentences: list[str], chosen: list[int]) -> str:
    """The chosen sentences in their original order, with a gap mark where sentences were left out."""
    chosen = sorted(set(chosen))
    parts = []
    for position, index in enumerate(chosen):
        if position:
            parts.append(" " if index == chosen[position - 1] + 1 else GAP)
        parts.append(all_sentences[index])
    return "".join(parts)


def clipped(text: str, max_words: int) -> str:
    """At most `max_words` words: the first sentence, then its clauses up to the limit, then words
    with an ellipsis."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text.split()) <= max_words:
        return text
    text = (sentences(text) or [text])[0]
    if len(text.split()) <= max_words:
        return text
    kept = ""
    for clause in CLAUSE_END.split(text):
        longer = f"{kept} {clause}".strip()
        if len(longer.split()) > max_words:
            break
        kept = longer
    if kept and len(kept.split()) >= max_words // 2:
        return kept.rstrip(",;:") + "…"
    return " ".join(text.split()[:max_words]).rstrip(",;:") + "…"


def word_count(text: str) -> int:
    return len(text.split())


WORD = re.compile(r"[a-z][a-z0-9-]{2,}")
STOPWORDS = frozenset(
    "the and for with that this from are was were which what how does did has have its their "
    "into than then also can such these those our using used use based paper papers study show "
    "shows proposed propose presents present new".split()
)
STEM = re.compile(r"(?:ations?|ions?|ings?|ed|ies|es|s|ly)$")


def words(text: str) -> set[str]:
    """Content words, lower-cased."""
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def stems(text: str) -> set[str]:
    """Content words cut to a crude stem, so that "detected" meets "detection" and "tracks" "tracked"."""
    tokens = re.findall(r"[a-z][a-z0-9]+", CITATION.sub(" ", text).lower())
    return {STEM.sub("", token) if len(token) > 5 else token for token in tokens if token not in STOPWORDS and len(token) > 2}
