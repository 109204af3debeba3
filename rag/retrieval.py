"""Questions to papers: dense and BM25 chunk rankings fused by reciprocal rank, grouped per paper."""

from __future__ import annotations

import datetime
import logging
import math
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from filelock import Timeout

from rag.embeddings import get_embedder
from rag.errors import NotFound, PapersError, TooLarge
from rag.lexical import LexicalIndex, current, rebuild, rebuild_lock
from rag.replies import SearchHit
from rag.settings import Settings
from rag.store import ChunkHit, Store, date_range, open_store
from rag.wording import EMPTY_LIBRARY, no_papers_from

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
OVERSAMPLE = 1.5
"""A filtered dense search asks for this many times the nearest chunks its filter's share of the
library should need, unfiltered, before filtering them itself."""
MAX_NEIGHBOURS = 6000
"""At most this many (36 ms over 24k chunks, where Chroma's filter took 190-350 ms); for a filter that
passes less of the library, Chroma is asked among the chunks it passes."""


PARTIAL_DATE = re.compile(r"\d{4}(-(0[1-9]|1[0-2]))?")


def is_date(text: str) -> bool:
    """A year, a month or a day of the calendar, as papers' dates are written: 2021, 2021-03, 2021-03-16."""
    if PARTIAL_DATE.fullmatch(text):
        return True
    try:
        return len(text) == 10 and bool(datetime.date.fromisoformat(text))
    except ValueError:
        return False


@dataclass(frozen=True)
class Filters:
    """Which papers a search may return: by date (inclusive, partial dates cover their whole year or
    month) and by the file they were read from (its name, as `papers stats` lists it)."""

    date_from: str = ""
    date_to: str = ""
    source: str = ""

    def checked(self) -> Filters:
        """These filters with the source reduced to a file's name (a path names its file), or a
        PapersError for a date that is not one or a range that holds no day."""
        for date in (self.date_from, self.date_to):
            if date and not is_date(date):
                raise PapersError(f"'{date}' is not a year or a date; write a year (2021), a month (2021-03) "
                                  "or a day (2021-03-16).")
        if (bounds := self.date_bounds()) and bounds[0] > bounds[1]:
            raise PapersError(f"The dates hold no day: from {self.date_from} is after to {self.date_to}.")
        return replace(self, source=Path(self.source).name) if self.source else self

    def check_source(self, files: list[str]) -> None:
        """After a search or listing that found nothing: a NotFound, listing `files`, when the source named
        is none of them (asked only then, as the files take a pass over the library to list)."""
        if self.source and self.source not in files:
            raise NotFound(no_papers_from(self.source, files) if files else EMPTY_LIBRARY)

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = []
        if self.source:
            clauses.append({"source": self.source})
        if bounds := self.date_bounds():
            clauses += [{"date_num": {"$gte": bounds[0]}}, {"date_num": {"$lte": bounds[1]}}]
        if len(clauses) > 1:
            return {"$and": clauses}
        return clauses[0] if clauses else None

    @property
    def active(self) -> bool:
        return bool(self.source or self.date_from or self.date_to)

    def lexical_mask(self, index: LexicalIndex) -> np.ndarray | None:
        if not self.active:
            return None
        mask = np.ones(len(index.chunk_ids), dtype=bool)
        if self.source:
            mask &= index.from_source(self.source)
        if bounds := self.date_bounds():
            mask &= (index.date_nums >= bounds[0]) & (index.date_nums <= bounds[1])
        return mask.astype(np.float32)

    def date_bounds(self) -> tuple[int, int] | None:
        """Inclusive date_num range: a partial date_to ("2024", "2024-03") covers its whole
        year or month, and papers without a date (date_num 0) fall outside any date filter."""
        return date_range(self.date_from, self.date_to)


def checked_query(text: str, settings: Settings) -> str:
    """The query stripped, or a PapersError for one that is empty or too long: an empty query would
    list arbitrary papers, and an over-long one could never fit the model's prompt."""
    query = text.strip()
    if not query:
        raise PapersError("The question is empty; type a question or a few words about the papers.")
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as exc:  # e.g. undecodable bytes in a command-line argument
        raise PapersError(f"The question holds a character that is not text at position {exc.start}; "
                          "retype it as plain text.") from None
    if len(query) > settings.max_question_chars:
        raise TooLarge(
            f"The question is too long: {len(query):,} characters, over the limit of "
            f"{settings.max_question_chars:,} (PAPERS_MAX_QUESTION_CHARS). Ask a shorter question."
        )
    return query


class Retriever:
    """Holds the open store and BM25 index so repeated questions pay for neither again.

    Searches run on several threads at once: one of them loads a changed BM25 index while the
    others wait for it. A change to the library (by this process or another sharing its folder) is
    noticed by the catalogue's version: the process that wrote it rebuilds the shared index once,
    under a file lock, and the others load it, keeping the index they have until it is ready.
    """

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store: Store = store or open_store(settings)
        self._lexical: LexicalIndex | None = None
        self._lexical_lock = threading.Lock()
        self._writers = 0
        self._row_of: tuple[LexicalIndex | None, dict[str, int]] = (None, {})

    def lexical(self) -> LexicalIndex:
        with self._lexical_lock:
            if self._writers and self._lexical is not None:
                return self._lexical
            version = self.store.version()
            if self._lexical is None or self._lexical.version != version:
                self._lexical = current(self.store, self.settings, version) or self._rebuilt_elsewhere_or_here()
            return self._lexical

    def _rebuilt_elsewhere_or_here(self) -> LexicalIndex:
        """While another process holds the lock (it writes, then rebuilds), keep the index in hand;
        with none, wait for that process's index. Rebuild only when nobody else is at it (the writer
        was killed, or the library was made before its index was stamped)."""
        lock = rebuild_lock(self.store, self.settings)
        try:
            lock.acquire(timeout=0 if self._lexical is not None else -1)
        except Timeout:
            return self._lexical
        try:
            return current(self.store, self.settings, self.store.version()) or rebuild(self.store, self.settings)
        finally:
            lock.release()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around this process's writes to the library: searches meanwhile use the index as it was,
        other processes sharing the folder keep theirs, and the index is rebuilt once, at the end.
        Interrupted (Ctrl-C), the index is left as it was, for the next search to rebuild."""
        with self._lexical_lock:
            self._writers += 1
        lock = rebuild_lock(self.store, self.settings)
        lock.acquire()
        rebuilt = None
        try:
            yield
            rebuilt = rebuild(self.store, self.settings)
        except Exception:
            rebuilt = rebuild(self.store, self.settings)
            raise
        finally:
            lock.release()
            with self._lexical_lock:
                self._writers -= 1
                self._lexical = rebuilt or self._lexical

    def search(
        self, query: str, k: int | None = None, filters: Filters = Filters(), mode: Mode = "hybrid"
    ) -> list[SearchHit]:
        query = checked_query(query, self.settings)
        k = k or self.settings.top_k
        n = self.settings.candidates
        rankings: list[list[tuple[str, str, str] | None]] = []
        similarity: dict[str, float] = {}
        if mode == "dense" and (waiting := self.store.pending_papers()):
            log.warning("%d papers are not embedded yet: dense search leaves them out until `papers embed` "
                        "has embedded them.", waiting)
        index = self.lexical()
        mask = filters.lexical_mask(index)  # for both rankings: one pass over every row of the index
        if mode in ("hybrid", "dense"):
            self.store.check_embedding_model()  # before the query costs an embedding call
            embedding = get_embedder(self.settings).embed([query])[0]
            hits = self._dense_hits(embedding, n, filters, index, mask)
            rankings.append([(h.chunk_id, h.paper_id, h.passage) for h in hits])
            similarity = {h.chunk_id: 1.0 - h.distance for h in hits}
        if mode in ("hybrid", "bm25"):
            lexical = self._lexical_ranking(query, n, index, mask)
            rankings.append(lexical)
            if mode == "hybrid" and (waiting := self.store.unembedded([chunk_id for chunk_id, _, _ in lexical])):
                # A chunk without a vector yet stands in the dense ranking at its BM25 rank, so that
                # it is not outranked for lacking one while the library is being embedded.
                waiting -= similarity.keys()
                rankings.append([entry if entry[0] in waiting else None for entry in lexical])
        return self._fuse(rankings, similarity, k)

    def _dense_hits(self, embedding: list[float], n: int, filters: Filters, index: LexicalIndex,
                    mask: np.ndarray | None) -> list[ChunkHit]:
        """The `n` chunks nearest `embedding` that the filters pass.

        Chroma's own filter reads its metadata on every query (190 ms for a year range over 24k chunks,
        1.5 s for a file and a year over 224k, against 12 ms for the 1,000 nearest chunks unfiltered).
        So unless a filter passes too little of the library, the nearest chunks are asked for
        unfiltered, enough of them for `n` to pass, and filtered here by the BM25 index's rows, which
        know each chunk's paper, date and file; when too few passed, Chroma is asked among the chunks
        those rows pass, by id. `mask` is the filters' over `index`'s rows.
        """
        if mask is None:
            return self.store.query(embedding, n)
        passed = int(mask.sum())
        wanted = math.ceil(n * len(mask) / passed * OVERSAMPLE) if passed else MAX_NEIGHBOURS + 1
        if wanted <= MAX_NEIGHBOURS:
            rows = self._rows(index)
            candidates = self.store.nearest(embedding, wanted)
            # -1 for a chunk the index does not hold yet (another process has not rebuilt it): the
            # mask's extra last row, which passes nothing.
            at = np.array([rows.get(chunk_id, -1) for chunk_id, _ in candidates], dtype=np.int64)
            passing = np.append(mask, 0)[at] > 0
            nearest = [candidate for candidate, passed in zip(candidates, passing) if passed]
            if len(nearest) >= n or wanted >= self.store.vector_count():
                passages = self.store.passages([chunk_id for chunk_id, _ in nearest[:n]])
                return [ChunkHit(chunk_id, index.paper_ids[rows[chunk_id]], "", passages[chunk_id], distance)
                        for chunk_id, distance in nearest[:n] if chunk_id in passages]
        passing = [index.chunk_ids[row] for row in np.flatnonzero(mask)]
        return self.store.query(embedding, n, filters.chroma_where(), among=passing)

    def _rows(self, index: LexicalIndex) -> dict[str, int]:
        """Chunk id -> the index's row, made once per index."""
        with self._lexical_lock:
            if self._row_of[0] is not index:
                self._row_of = (index, {chunk_id: row for row, chunk_id in enumerate(index.chunk_ids)})
            return self._row_of[1]

    def _lexical_ranking(self, query: str, n: int, index: LexicalIndex,
                         mask: np.ndarray | None) -> list[tuple[str, str, str]]:
        rows = index.search(query, n, mask)
        chunk_ids = [index.chunk_ids[row] for row, _ in rows]
        passages = self.store.passages(chunk_ids)
        # An index another process has not rebuilt yet may hold chunks the library no longer has.
        return [(cid, index.paper_ids[row], passages[cid]) for cid, (row, _) in zip(chunk_ids, rows) if cid in passages]

    def _fuse(
        self, rankings: list[list[tuple[str, str, str] | None]], similarity: dict[str, float], k: int
    ) -> list[SearchHit]:
        """Reciprocal rank fusion per chunk (None holds a rank no chunk takes); a paper scores as its
        best chunk.

        Each paper also keeps its best dense cosine similarity, an absolute measure of how well
        it matches, which tells "nothing relevant" apart from "the best of a close race".
        """
        fused: dict[str, float] = defaultdict(float)
        owner: dict[str, tuple[str, str]] = {}
        for ranking in rankings:
            for rank, entry in enumerate(ranking):
                if entry is None:
                    continue
                chunk_id, paper_id, passage = entry
                fused[chunk_id] += 1.0 / (self.settings.rrf_k + rank + 1)
                owner[chunk_id] = (paper_id, passage)
        papers: dict[str, SearchHit] = {}
        # A paper is in the library while the catalogue holds it: vectors of one being removed,
        # or replaced, stay out.
        titles = self.store.titles(list({paper_id for paper_id, _ in owner.values()}))
        for chunk_id in sorted(fused, key=fused.get, reverse=True):
            paper_id, passage = owner[chunk_id]
            if paper_id not in titles:
                continue
            hit = papers.get(paper_id)
            if hit is None:
                if len(papers) == k:
                    continue
                hit = papers[paper_id] = SearchHit(id=paper_id, title="", score=round(fused[chunk_id], 6), passages=[])
            if len(hit.passages) < self.settings.passages_per_paper:
                hit.passages.append(passage)
            hit.similarity = max(hit.similarity, similarity.get(chunk_id, 0.0))
        for hit in papers.values():
            hit.title = titles[hit.id]
        return list(papers.values())
