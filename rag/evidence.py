"""Retrieved papers to numbered sources: the abstract sentences that best answer, within a token budget."""

from __future__ import annotations

import numpy as np

from rag.chunking import count_tokens
from rag.citations import SOURCE_TAG
from rag.embeddings import get_embedder
from rag.replies import SearchHit, Source
from rag.settings import Settings
from rag.store import Store
from rag.text import joined, sentences


def prompt_block(source: Source) -> str:
    # A paper's text that mimics the prompt's delimiters could close its own <source> block.
    title, excerpt = (SOURCE_TAG.sub("", text) for text in (source.title, source.excerpt))
    return f'<source n="{source.n}">\nTitle: {title}\n{excerpt}\n</source>'


def relevant(hits: list[SearchHit], settings: Settings, several: bool = False) -> list[SearchHit]:
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


def build_sources(
    question: str, hits: list[SearchHit], store: Store, settings: Settings, several: bool = False
) -> list[Source]:
    """The best paper gets twice the others' share of the budget: it is most often the answer."""
    hits = relevant(hits, settings, several)
    if not hits:
        return []
    papers = store.papers_by_id([hit.id for hit in hits])
    per_paper = [sentences(papers[hit.id].abstract) if hit.id in papers else hit.passages for hit in hits]
    flat = [s for group in per_paper for s in group]
    vectors = np.array(get_embedder(settings).embed([question] + flat))
    question_vector, sentence_vectors = vectors[0], vectors[1:]
    shares = [2] + [1] * (len(hits) - 1)
    sources, offset = [], 0
    for n, (hit, group, share) in enumerate(zip(hits, per_paper, shares), 1):
        budget = settings.context_tokens * share // sum(shares)
        text = excerpt(question_vector, group, sentence_vectors[offset : offset + len(group)], budget)
        offset += len(group)
        abstract = papers[hit.id].abstract if hit.id in papers else " ".join(hit.passages)
        sources.append(Source(n=n, id=hit.id, title=hit.title, excerpt=text, passages=hit.passages,
                              score=hit.score, similarity=hit.similarity, abstract=abstract))
    return sources
