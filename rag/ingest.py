"""Files to a library: read, merge what is one paper, skip what is already there, chunk, store
(searchable by title and BM25 at once), then embed in batches.

Every file is read before anything is written, so a bad file leaves the library as it was. The
papers go into the catalogue in one write and BM25 is rebuilt, so they are searchable within
seconds; embedding follows in batches that an interruption at any point leaves resumable: the
next ingest or `papers embed` embeds what is pending, nothing twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from rag.chunking import Chunk, chunk_paper
from rag.embeddings import get_embedder
from rag.identity import Identities, filled
from rag.paper import Paper
from rag.readers import read_papers
from rag.replies import FileOutcome, IngestReport, Rejection
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.store import Store

PAPERS_PER_WRITE = 32

Progress = Callable[[int, int], None]


Outcome = Literal["added", "updated", "unchanged", "merged"]


@dataclass
class Reading:
    """Every file's papers, read before anything is written."""

    papers: list[Paper] = field(default_factory=list)
    """One per paper however many files hold it (`rag.identity`)."""
    rejected: list[Rejection] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    """Each file that gave papers, by name as its Rejections give it, with the format it was read as."""
    origin: dict[str, str] = field(default_factory=dict)
    """Each paper's id and the file it was first read from: the file it counts for."""
    merged: list[tuple[str, str]] = field(default_factory=list)
    """(id, file): a record in `file` was merged into the paper `id`, read before it (from an earlier
    file or earlier in the same one)."""

    def report(self, outcomes: Sequence[tuple[Outcome, str, str]]) -> IngestReport:
        """The report of `(outcome, paper id, file)` events: the ids of each outcome, and each file's
        counts of them beside its skipped and rejected records."""
        events = list(dict.fromkeys(outcomes))
        files = {name: FileOutcome(file=name, format=fmt) for name, fmt in self.formats.items()}
        for rejection in self.rejected:
            outcome = files.setdefault(rejection.file, FileOutcome(file=rejection.file, format=""))
            outcome.no_abstract += rejection.kind == "no_abstract"
            outcome.rejected += rejection.kind == "unreadable"
        for kind, _, name in events:
            setattr(files[name], kind, getattr(files[name], kind) + 1)
        ids = {kind: list(dict.fromkeys(id for k, id, _ in events if k == kind)) for kind in get_args(Outcome)}
        return IngestReport(**ids, rejected=self.rejected, files=list(files.values()))


def read_all(paths: list[Path], format: str | None, keep_partial: bool,
             names: Sequence[str] | None = None) -> Reading:
    """Every file's papers, one per paper however many files hold it (`rag.identity`), the later
    records of a paper merged into the first. A file whose records are mostly rejected counts as
    bad (a PapersError), unless `keep_partial`. `names` are the files' names for messages."""
    reading = Reading()
    papers: dict[str, Paper] = {}
    known = Identities()
    for path, name in zip(paths, names or [None] * len(paths)):
        result = read_papers(Path(path), format, keep_partial, name)
        reading.rejected += result.rejected
        for file in result.files:
            reading.formats[file.name] = file.format
            for paper in file.papers:
                if earlier := known.find(paper):
                    paper = filled(earlier, paper)
                    reading.merged.append((paper.id, file.name))
                else:
                    reading.origin[paper.id] = file.name
                papers[paper.id] = paper
                known.add(paper)
    reading.papers = list(papers.values())
    return reading


def add(reading: Reading, retriever: Retriever) -> IngestReport:
    """Write the papers that are new or changed to the catalogue and rebuild BM25, so they are all
    searchable; `embed_pending` embeds them.

    A paper the library holds from another file (same id, DOI or title) is merged into it; one
    read again from its own file replaces it when its record changed, keeping what other files
    filled in."""
    outcomes: list[tuple[Outcome, str, str]] = [("merged", id, file) for id, file in reading.merged]
    store, settings = retriever.store, retriever.settings
    store.check_writable()
    store.check_embedding_model()
    stored = store.content_hashes()
    library = Identities(store.papers()) if reading.papers else Identities()
    todo: list[Paper] = []
    for paper in reading.papers:
        file = reading.origin[paper.id]
        if stored.get(paper.id) == paper.content_hash:
            outcomes.append(("unchanged", paper.id, file))
            continue
        earlier = library.find(paper)
        if earlier is None:
            todo.append(paper)
            outcomes.append(("added", paper.id, file))
            continue
        own = earlier.id == paper.id and earlier.source_file == paper.source_file
        combined = filled(paper, earlier) if own else filled(earlier, paper)
        changed = combined.content_hash != stored.get(earlier.id)
        if changed:
            todo.append(combined)
        if not own:
            outcomes.append(("merged", earlier.id, file))
        else:
            outcomes.append(("updated" if changed else "unchanged", paper.id, file))
    if todo:
        chunked = chunk_all(todo, settings)
        with retriever.writing():
            store.add(chunked)
    else:
        retriever.lexical()  # an index left stale by an interrupted run is rebuilt now, not at the first search
    return reading.report(outcomes)


def chunk_all(papers: list[Paper], settings: Settings) -> list[tuple[Paper, list[Chunk]]]:
    """Every paper with its chunks, cut on every core: tiktoken counts tokens without the GIL."""
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        return list(zip(papers, pool.map(lambda paper: chunk_paper(paper, settings), papers)))


def embed_pending(store: Store, settings: Settings, progress: Progress | None = None) -> int:
    """Embed every chunk not embedded yet, a batch of papers at a time; returns how many papers.

    Each batch's vectors go to Chroma before its chunks are marked embedded; a chunk whose vector
    Chroma already holds for the same text (the previous run stopped between the two) is marked
    without being embedded again. One process embeds a library at a time: another waits, then
    finds little or nothing left."""
    if not store.pending_papers():
        return 0
    store.check_writable()
    store.check_embedding_model()
    embedder = get_embedder(settings)
    done = 0
    with store.embedding():
        total = store.pending_papers()
        if progress:
            progress(0, total)
        while batch := store.pending(PAPERS_PER_WRITE):
            chunks = [chunk for _, _, chunks in batch for chunk in chunks]
            held = store.held_vectors(chunks)
            known = {chunk.id for chunk in held}
            todo = [(paper, n, chunk) for paper, n, chunks in batch for chunk in chunks if chunk.id not in known]
            vectors = embedder.embed([chunk.text for _, _, chunk in todo])
            store.save_vectors([(paper, n, chunk, vector) for (paper, n, chunk), vector in zip(todo, vectors)], held)
            done += len(batch)
            if progress:
                progress(min(done, total), total)
    return done


def remove(paper_id: str, retriever: Retriever) -> bool:
    """False when the library holds no such paper."""
    store = retriever.store
    store.check_writable()
    if store.paper(paper_id) is None:
        store.remove(paper_id)  # vectors a write stopped before the catalogue may have left
        return False
    with retriever.writing():
        return store.remove(paper_id)


def reindex(retriever: Retriever, progress: Progress | None = None) -> int:
    """Re-embed every paper with the embedding model the settings select.

    The old vectors go first; meanwhile the papers are found by title and BM25, and by meaning as
    they are embedded again. Interrupted, running it again (or `papers embed`) finishes the job
    without embedding anything twice."""
    store, settings = retriever.store, retriever.settings
    store.check_writable()
    store.start_reindex()
    embed_pending(store, settings, progress)
    store.finish_reindex()
    return store.embedded_share()[1]
