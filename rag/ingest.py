"""Files to a library: read, skip what is already there, chunk, embed, store, re-index BM25."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rag.chunking import chunk_paper
from rag.embeddings import embedding_model_id, get_embedder
from rag.lexical import LexicalIndex, clear_stale, mark_stale
from rag.paper import Paper
from rag.readers import Rejection, read_papers
from rag.settings import Settings
from rag.store import Store

PAPERS_PER_WRITE = 32

Progress = Callable[[int, int], None]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.unchanged)} unchanged, "
            f"{len(self.updated)} updated, {len(self.rejected)} rejected"
        )


def open_store(settings: Settings) -> Store:
    return Store(settings, embedding_model_id(settings))


def refresh_lexical_index(store: Store, settings: Settings) -> LexicalIndex:
    """Rebuild BM25 from what Chroma holds, so the two never disagree for long; a read-only
    library keeps the rebuilt index in its private copy."""
    if store.scratch_dir:
        return LexicalIndex.build(store.scratch_dir / "bm25", *store.all_chunks())
    index = LexicalIndex.build(settings.bm25_dir, *store.all_chunks())
    clear_stale(settings.data_dir)
    return index


def ingest(
    paths: list[Path],
    settings: Settings,
    format: str | None = None,
    progress: Progress | None = None,
    keep_partial: bool = False,
) -> IngestReport:
    """Every file is read before anything is written: a bad file leaves the library as it was.

    A file whose records are mostly rejected counts as bad, unless `keep_partial`.
    """
    report = IngestReport()
    papers: dict[str, Paper] = {}
    for path in paths:
        result = read_papers(Path(path), format, keep_partial)
        report.rejected += result.rejected
        for paper in result.papers:
            if paper.id in papers:
                first = papers[paper.id].source
                report.rejected.append(
                    Rejection(paper.source, 0, f"duplicate id '{paper.id}' (already read from {first})")
                )
            else:
                papers[paper.id] = paper

    store = open_store(settings)
    store.check_writable()
    store.check_embedding_model()
    stored = store.content_hashes()
    todo: list[Paper] = []
    for paper in papers.values():
        if stored.get(paper.id) == paper.content_hash:
            report.unchanged.append(paper.id)
        else:
            todo.append(paper)
            (report.updated if paper.id in stored else report.added).append(paper.id)
    if progress:
        progress(0, len(todo))
    if not todo and LexicalIndex.is_usable(settings.bm25_dir, store.count()):
        return report

    mark_stale(settings.data_dir)
    _write_papers(todo, store, settings, progress)
    refresh_lexical_index(store, settings)
    return report


def _write_papers(todo: list[Paper], store: Store, settings: Settings, progress: Progress | None) -> None:
    embedder = get_embedder(settings)
    for start in range(0, len(todo), PAPERS_PER_WRITE):
        batch = todo[start : start + PAPERS_PER_WRITE]
        chunked = [(paper, chunk_paper(paper, settings)) for paper in batch]
        texts = [chunk.text for _, chunks in chunked for chunk in chunks]
        vectors = _embed(embedder, texts, settings.embedding_batch_size)
        items, offset = [], 0
        for paper, chunks in chunked:
            items.append((paper, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        store.write(items)
        if progress:
            progress(start + len(batch), len(todo))


def _embed(embedder, texts: list[str], batch_size: int) -> list[list[float]]:
    """Similar lengths share a batch, so little time goes to padding."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors: list[list[float]] = [[] for _ in texts]
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        for row, vector in zip(rows, embedder.embed([texts[i] for i in rows])):
            vectors[row] = vector
    return vectors


def remove(paper_id: str, settings: Settings) -> bool:
    store = open_store(settings)
    store.check_writable()
    mark_stale(settings.data_dir)
    removed = store.remove(paper_id)
    refresh_lexical_index(store, settings)
    return removed


def reindex(settings: Settings, progress: Progress | None = None) -> int:
    """Re-embed every stored paper with the embedding model the settings select.

    The new vectors go to a staging collection that replaces the old one only when complete;
    after an interruption, running it again finishes the job.
    """
    library = open_store(settings)
    library.check_writable()
    staging = open_store(settings.model_copy(update={"collection": f"{settings.collection}-reindex"}))
    papers = library.papers()
    if papers:
        staging.clear()
        if progress:
            progress(0, len(papers))
        _write_papers(papers, staging, settings, progress)
    mark_stale(settings.data_dir)
    library.replace_with(staging)
    refresh_lexical_index(open_store(settings), settings)
    return len(open_store(settings).papers())
