"""Retrieved papers to numbered sources: the abstract sentences that best answer, within a token budget."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.chunking import count_tokens
from rag.citations import SOURCE_TAG
from rag.embeddings import get_embedder
from rag.retrieval import PaperHit
from rag.settings import Settings
from rag.store import Store

SENTENCE_END = re.compile(
    r"(?<!\bal\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])\s+(?=[A-Z0-9(\[\"'“])(?![^\n.!?\[]*\[\d+\]:)|\s*\n\s*"
)
"""A stop followed by a capital, a digit or a citation, but not the stop of 'et al.', 'e.g.' or 'i.e.',
nor one inside a list line's title ("- Is Attention Learnable? A Study [2]: ..."); or a line break."""
GAP = " … "
LIST_ITEM = re.compile(r"^\s*[-*•]\s+")


@dataclass
class Source:
    n: int
    id: str
    title: str
    excerpt: str
    passages: list[str]
    score: float
    similarity: float
    abstract: str = ""
    """The whole abstract, of which the model saw `excerpt`: a name it holds is not made up."""

    def as_dict(self) -> dict:
        return {"n": self.n, "id": self.id, "title": self.title}

    def prompt_block(self) -> str:
        # A paper's text that mimics the prompt's delimiters could close its own <source> block.
        title, excerpt = (SOURCE_TAG.sub("", text) for text in (self.title, self.excerpt))
        return f'<source n="{self.n}">\nTitle: {title}\n{excerpt}\n</source>'


def relevant(hits: list[PaperHit], settings: Settings, several: bool = False) -> list[PaperHit]:
    """Only papers that plausibly bear on the question reach the model; a question that asks for
    several papers keeps the top `list_min_papers` by rank too, since the second paper that fits
    often trails the first by more than the margin (benchmarks/lists.py)."""
    if not hits:
        return []
    best = max(hit.similarity for hit in hits)
    floor = max(settings.min_similarity, best - settings.source_margin)
    least = settings.list_min_papers if several else 0
    return [
        hit for rank, hit in enumerate(hits)
        if hit.similarity >= floor or (rank < least and hit.similarity >= settings.min_similarity)
    ]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def rejoin(said: list[str]) -> str:
    """`sentences` undone: one text again, where a list item keeps its own line."""
    return "".join(("\n" if LIST_ITEM.match(s) else " ") + s for s in said).strip()


def excerpt(question_vector: np.ndarray, abstract_sentences: list[str], vectors: np.ndarray, budget: int) -> str:
    """The most question-like sentences that fit `budget` tokens, kept in the abstract's order."""
    order = np.argsort(-(vectors @ question_vector))
    chosen: list[int] = []
    used = 0
    for index in order:
        cost = count_tokens(abstract_sentences[index])
        if used + cost > budget and chosen:
            continue
        chosen.append(int(index))
        used += cost
        if used >= budget:
            break
    return joined(abstract_sentences, chosen)


def joined(all_sentences: list[str], chosen: list[int]) -> str:
    """The chosen sentences in their original order, with a gap mark where sentences were left out."""
    chosen = sorted(set(chosen))
    parts = []
    for position, index in enumerate(chosen):
        if position:
            parts.append(" " if index == chosen[position - 1] + 1 else GAP)
        parts.append(all_sentences[index])
    return "".join(parts)


def build_sources(
    question: str, hits: list[PaperHit], store: Store, settings: Settings, several: bool = False
) -> list[Source]:
    """The best paper gets twice the others' share of the budget: it is most often the answer."""
    hits = relevant(hits, settings, several)
    if not hits:
        return []
    papers = store.papers_by_id([hit.id for hit in hits])
    per_paper = [sentences(papers[hit.id].abstract) if hit.id in papers else hit.passages for hit in hits]
    embedder = get_embedder(settings)
    flat = [s for group in per_paper for s in group]
    vectors = np.array(embedder.embed([question] + flat))
    question_vector, sentence_vectors = vectors[0], vectors[1:]
    shares = [2] + [1] * (len(hits) - 1)
    sources, offset = [], 0
    for n, (hit, group, share) in enumerate(zip(hits, per_paper, shares), 1):
        budget = settings.context_tokens * share // sum(shares)
        text = excerpt(question_vector, group, sentence_vectors[offset : offset + len(group)], budget)
        offset += len(group)
        abstract = papers[hit.id].abstract if hit.id in papers else " ".join(hit.passages)
        sources.append(Source(n, hit.id, hit.title, text, hit.passages, hit.score, hit.similarity, abstract))
    return sources
