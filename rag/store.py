"""The library's storage behind one module: the catalogue (`rag.catalogue`, SQLite) holds every paper
and chunk and says which are embedded; Chroma holds the vectors, each with its paper's record in
its metadata for filtered dense queries.

Writes go in an order that leaves a usable library wherever they stop: catalogue rows first (the
papers are listed and searchable by title and BM25 at once), then the vectors, then the chunks
marked embedded. A library made before the catalogue existed gets one built from Chroma when it is
first opened."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from rag import chroma_client
from rag.catalogue import AUTHOR_SEPARATOR, Catalogue, date_number, date_range, groups
from rag.chunking import Chunk
from rag.embeddings import embedding_model_id
from rag.errors import PapersError, Unavailable
from rag.paper import Paper
from rag.settings import Settings


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: str
    paper_id: str
    title: str
    passage: str
    distance: float


def _paper_metadata(paper: Paper, chunk: Chunk, n_chunks: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "paper_id": paper.id,
        "title": paper.title,
        "chunk_index": chunk.index,
        "n_chunks": n_chunks,
        "passage": chunk.passage,
        "date": paper.date,
        "date_num": date_number(paper.date),
        "authors": AUTHOR_SEPARATOR.join(paper.authors),
        "source": paper.source_file,
        "content_hash": paper.content_hash,
    }
    if chunk.index == 0:
        metadata |= {
            "abstract": paper.abstract,
            "categories": " ".join(paper.categories),
            "doi": paper.doi,
        }
    return metadata


def paper_from_metadata(metadata: dict[str, Any]) -> Paper:
    authors = metadata.get("authors") or ""
    return Paper(
        id=metadata["paper_id"],
        title=metadata["title"],
        abstract=metadata.get("abstract", ""),
        authors=tuple(authors.split(AUTHOR_SEPARATOR)) if authors else (),
        date=metadata.get("date", ""),
        source_file=metadata.get("source", ""),
        categories=tuple((metadata.get("categories") or "").split()),
        doi=metadata.get("doi", ""),
    )


INDEX_WAITS = (0.5, 1.0, 2.0)
"""Pauses between tries of a query that finds no vector index on disk."""
_INDEX_NOT_ON_DISK = "Nothing found on disk"
_ID_NOT_FOUND = "Error finding id"
"""Chroma's error for a query among ids one of which it does not hold."""

def _exists_read_only(folder: Path) -> bool:
    """An existing Chroma folder whose files this process may not change."""
    database = folder / "chroma.sqlite3"
    writable = os.access(folder, os.W_OK) and (not database.exists() or os.access(database, os.W_OK))
    return folder.is_dir() and not writable



CATALOGUE_FILES = ("catalogue.sqlite", "catalogue.sqlite-wal")
REINDEXING = "reindexing"
"""Catalogue flag: a re-index cleared the vectors and is not finished."""


class Store:
    """One library: its catalogue in the library folder, its vectors in a Chroma collection embedded
    in the library folder or on a Chroma server (the catalogue stays in the library folder, which
    replicas of a service share).

    A library folder this process cannot write (a shared, mounted folder) is read from a private
    copy of its files, as Chroma and SQLite's WAL write even to read; writes are refused.
    """

    def __init__(self, settings: Settings, embedding_model: str) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.embedding_model = embedding_model
        self.read_only = not settings.chroma_host and _exists_read_only(settings.chroma_dir)
        self._snapshot: tempfile.TemporaryDirectory | None = None
        if self.read_only:
            self._snapshot = tempfile.TemporaryDirectory(prefix="papers-read-only-")
            for name in CATALOGUE_FILES:
                if (settings.data_dir / name).exists():
                    shutil.copyfile(settings.data_dir / name, Path(self._snapshot.name) / name)
        self._vectors_lock = threading.Lock()
        self._vectors: Any = None
        self.catalogue = self._open_catalogue(settings)

    @property
    def _collection(self):
        return self.open_vectors()

    def open_vectors(self):
        """Chroma's collection, opened on first use: listing, paging and reading cached cards need only
        the catalogue, and Chroma takes over a second to import and open. A server opens it before it
        says it is ready."""
        if self._vectors is None:
            with self._vectors_lock:
                if self._vectors is None:
                    self._vectors = self._open_vectors()
        return self._vectors

    def _open_vectors(self):
        import chromadb

        settings = self.settings
        try:
            if settings.chroma_host:
                self._client = chroma_client.http_client(settings.chroma_host, settings.chroma_port,
                                                         settings.chroma_timeout)
            else:
                self._client = chromadb.PersistentClient(
                    path=str(self._local_path(settings)), settings=chromadb.Settings(anonymized_telemetry=False)
                )
            collection = self._open_collection(settings.collection, self.embedding_model)
        except PapersError:
            raise
        except Exception as exc:
            raise Unavailable(chroma_client.open_failure(exc, settings)) from exc
        self._built_with = (collection.metadata or {}).get("embedding_model", self.embedding_model)
        return collection

    @property
    def built_with(self) -> str:
        """The embedding model the library's vectors were made by."""
        self.open_vectors()
        return self._built_with

    def _local_path(self, settings: Settings) -> Path:
        if not self.read_only:
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
            return settings.chroma_dir
        copy = Path(self._snapshot.name) / "chroma"
        shutil.copytree(settings.chroma_dir, copy, copy_function=shutil.copyfile)  # files: writable
        for folder, _, _ in os.walk(copy):
            os.chmod(folder, 0o700)  # copytree gives folders the originals' read-only modes
        return copy

    def _open_catalogue(self, settings: Settings) -> Catalogue:
        """The catalogue, built from Chroma the first time a library made before it is opened."""
        folder = self.scratch_dir or settings.data_dir
        folder.mkdir(parents=True, exist_ok=True)
        try:
            catalogue = Catalogue(folder / CATALOGUE_FILES[0])
            if not catalogue.flag("migrated"):
                catalogue.migrate(self._papers_in_chroma)
        except sqlite3.Error as exc:
            raise Unavailable(f"Could not open the library's catalogue {folder / CATALOGUE_FILES[0]}: {exc}. "
                              "Move it aside: it is rebuilt from Chroma's papers when the library is "
                              "next opened (papers not embedded yet are then lost: ingest their files "
                              "again).") from exc
        return catalogue

    def _papers_in_chroma(self) -> Iterator[tuple[Paper, list[Chunk]]]:
        """The complete papers of a Chroma-only library: those whose first chunk (written last,
        with the paper's record) landed, with all the chunks it counts. A new library has none."""
        if not self.settings.chroma_host and not (self.settings.chroma_dir / "chroma.sqlite3").exists():
            return
        ids, texts, metadatas = self.all_chunks()
        chunks: dict[str, dict[int, Chunk]] = defaultdict(dict)
        for chunk_id, text, metadata in zip(ids, texts, metadatas):
            index = metadata["chunk_index"]
            chunks[metadata["paper_id"]][index] = Chunk(chunk_id, metadata["paper_id"], index, text,
                                                        metadata["passage"])
        for metadata in metadatas:
            if metadata["chunk_index"] == 0:
                held = chunks[metadata["paper_id"]]
                wanted = [held.get(index) for index in range(metadata["n_chunks"])]
                if all(wanted):
                    yield paper_from_metadata(metadata), wanted

    @property
    def scratch_dir(self) -> Path | None:
        """Where a read-only library keeps what it builds for itself (its catalogue and BM25 index)."""
        return Path(self._snapshot.name) if self._snapshot else None

    def check_writable(self) -> None:
        if self.read_only:
            raise PapersError(
                f"The library folder {self.data_dir} is read-only, so papers cannot be added, removed or "
                "re-indexed (searching, listing and asking still work). Use a folder you can write "
                "(PAPERS_DATA_DIR or --data-dir), e.g. a copy of this one."
            )

    def _open_collection(self, name: str, embedding_model: str):
        return self._client.get_or_create_collection(
            name,
            metadata={"embedding_model": embedding_model},
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )

    def check_embedding_model(self) -> None:
        """Vectors from two models don't compare: refuse rather than return nonsense. Chroma's count
        (18 ms at 224k vectors) is asked only when the models differ."""
        if self.built_with != self.embedding_model and self.vector_count():
            raise PapersError(
                f"This library was indexed with the embedding model '{self.built_with}', but the "
                f"settings select '{self.embedding_model}'. Re-index with `papers reindex`, or set "
                f"PAPERS_EMBEDDING_BACKEND/PAPERS_EMBEDDING_MODEL back to the model that built it."
            )

    # --- the catalogue: what the library holds ------------------------------------------------------

    def count(self) -> int:
        """Chunks in the library, embedded or not."""
        return self.catalogue.count_chunks()

    def vector_count(self) -> int:
        return self._collection.count()

    def version(self) -> int:
        """Goes up with every change to the library's chunks: what a BM25 index is stamped with."""
        return self.catalogue.version()

    def embedded_share(self) -> tuple[int, int]:
        """(papers whose every chunk is embedded, papers)."""
        papers, embedded = self.catalogue.count_papers()
        return embedded, papers

    def content_hashes(self) -> dict[str, str]:
        """paper id -> content hash of the version stored."""
        return self.catalogue.content_hashes()

    def papers(self) -> list[Paper]:
        """Every paper, by title (casefold)."""
        return self.catalogue.papers()

    def papers_page(self, query: str = "", offset: int = 0, limit: int | None = None, source: str = "",
                    date_from: str = "", date_to: str = "") -> tuple[list[Paper], int]:
        """Papers by title (casefold) whose title, id or authors contain `query` (any case), read
        from the file `source`, dated within `date_from`..`date_to` (inclusive, partial dates; an
        undated paper falls outside any date filter): the page and the number matching in all."""
        return self.catalogue.page(query.strip(), offset, limit, source, date_range(date_from, date_to))

    def source_files(self) -> list[str]:
        return self.catalogue.source_files()

    def paper(self, paper_id: str) -> Paper | None:
        return self.papers_by_id([paper_id]).get(paper_id)

    def titled(self, title: str) -> list[Paper]:
        """The papers of exactly this title, case set aside, by id."""
        return self.catalogue.titled(title)

    def papers_by_id(self, paper_ids: list[str]) -> dict[str, Paper]:
        return self.catalogue.papers_by_id(paper_ids)

    def passages(self, chunk_ids: list[str]) -> dict[str, str]:
        return self.catalogue.passages(chunk_ids)

    def titles(self, paper_ids: list[str]) -> dict[str, str]:
        return self.catalogue.titles(paper_ids)

    def lexical_rows(self):
        return self.catalogue.lexical_rows()

    # --- writes ----------------------------------------------------------------------------------

    def add(self, papers: list[tuple[Paper, list[Chunk]]]) -> None:
        """New and changed papers with their chunks, searchable by title and BM25 once this returns;
        `ingest.embed_pending` gives them vectors. A changed paper's old vectors go first, so none
        stands for text the paper no longer has; its chunks are marked pending before, so that
        wherever this stops, the catalogue never calls a chunk embedded that Chroma lacks."""
        changed = list(self.catalogue.titles([paper.id for paper, _ in papers]))
        if changed:
            self.catalogue.mark_pending(changed)
            for group in groups(changed, 500):
                self._collection.delete(where={"paper_id": {"$in": group}})
        self.catalogue.add(papers)

    def pending(self, max_papers: int) -> list[tuple[Paper, int, list[Chunk]]]:
        """The next papers with chunks to embed: (paper, its number of chunks, those chunks)."""
        return self.catalogue.pending(max_papers)

    def unembedded(self, chunk_ids: list[str]) -> set[str]:
        """Those of these chunks that have no vector yet."""
        return self.catalogue.unembedded(chunk_ids)

    def pending_papers(self) -> int:
        embedded, papers = self.embedded_share()
        return papers - embedded

    def embedding(self) -> FileLock:
        """Held while a process embeds this library's pending chunks: another one waits for it and
        then finds them embedded, instead of embedding the same chunks at the same time."""
        return FileLock(self.data_dir / "embedding.lock")

    def held_vectors(self, chunks: list[Chunk]) -> list[Chunk]:
        """The chunks Chroma already holds a vector of for the same text (an embedding interrupted
        after Chroma took a batch, before the catalogue marked it)."""
        if not chunks:
            return []
        held = self._collection.get(ids=[c.id for c in chunks], include=["documents"])
        documents = dict(zip(held["ids"], held["documents"]))
        return [c for c in chunks if documents.get(c.id) == c.text]

    def save_vectors(self, items: list[tuple[Paper, int, Chunk, list[float]]], held: list[Chunk]) -> None:
        """Vectors into Chroma, then their chunks (and those `held` already) marked embedded."""
        if items and self.built_with != self.embedding_model and not self.vector_count():
            # An empty collection stamped by another model (e.g. opened under another backend).
            self._collection.modify(metadata={"embedding_model": self.embedding_model})
            self._built_with = self.embedding_model
        if items:
            self._collection.upsert(
                ids=[c.id for _, _, c, _ in items],
                embeddings=[v for _, _, _, v in items],
                documents=[c.text for _, _, c, _ in items],
                metadatas=[_paper_metadata(p, c, n) for p, n, c, _ in items],
            )
        self.catalogue.mark_embedded([c for _, _, c, _ in items] + held)

    def remove(self, paper_id: str) -> bool:
        """Chroma's vectors first, then the catalogue's rows; False when the library holds no such paper."""
        self._collection.delete(where={"paper_id": paper_id})
        return self.catalogue.remove(paper_id)

    def start_reindex(self) -> None:
        """Every chunk to be embedded again by the model the settings select, into a new collection.
        Run again after an interruption, the vectors already made are kept."""
        if not self.catalogue.flag(REINDEXING):
            name = self._collection.name
            self._client.delete_collection(name)
            self._vectors = self._open_collection(name, self.embedding_model)
            self._built_with = self.embedding_model
            self.catalogue.set_flag(REINDEXING, True)
        self.catalogue.mark_pending()

    def finish_reindex(self) -> None:
        self.catalogue.set_flag(REINDEXING, False)

    # --- Chroma: the vectors -----------------------------------------------------------------------

    def all_chunks(self) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Every vector's chunk id, text and metadata, in pages (Chroma caps a single get)."""
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        page = 5000
        while True:
            batch = self._collection.get(
                include=["documents", "metadatas"], limit=page, offset=len(ids)
            )
            ids += batch["ids"]
            texts += batch["documents"]
            metadatas += batch["metadatas"]
            if len(batch["ids"]) < page:
                return ids, texts, metadatas

    def paper_vectors(self, source: str | None = None) -> dict[str, np.ndarray]:
        """paper id -> the mean of its chunks' vectors, of unit length: one point per paper, from the
        vectors already stored (nothing is embedded again). `source` keeps one file's papers."""
        self.check_embedding_model()
        sums: dict[str, np.ndarray] = {}
        page, seen = 5000, 0
        while True:
            batch = self._collection.get(where={"source": source} if source else None,
                                         include=["embeddings", "metadatas"], limit=page, offset=seen)
            for metadata, vector in zip(batch["metadatas"], batch["embeddings"]):
                paper_id = metadata["paper_id"]
                sums[paper_id] = sums.get(paper_id, 0) + np.asarray(vector, dtype=np.float64)
            seen += len(batch["ids"])
            if len(batch["ids"]) < page:
                break
        return {paper_id: total / (np.linalg.norm(total) or 1.0) for paper_id, total in sums.items()}

    def query(self, embedding: list[float], n: int, where: dict | None = None,
              among: list[str] | None = None) -> list[ChunkHit]:
        """The `n` chunks nearest `embedding` that `where` passes. `among`, when given, names the chunks
        `where` passes, and Chroma is asked among those embedded by id instead of reading its metadata
        to filter (70 ms against 1.5 s over 224k chunks, for the same chunks); should Chroma lack one
        still (a paper being removed meanwhile), `where` decides."""
        include = ["metadatas", "distances"]
        found = None
        if among is not None:
            waiting = self.unembedded(among)
            embedded = [chunk_id for chunk_id in among if chunk_id not in waiting]
            if not embedded:
                return []
            try:
                found = self._query_index(embedding, n, None, include, embedded)
            except Exception as exc:
                if _ID_NOT_FOUND not in str(exc):
                    raise
        if found is None:
            found = self._query_index(embedding, n, where, include)
        return [ChunkHit(chunk_id, m["paper_id"], m["title"], m["passage"], distance)
                for chunk_id, m, distance in zip(found["ids"], found["metadatas"], found["distances"])]

    def _query_index(self, embedding: list[float], n: int, where: dict | None, include: list[str],
                     ids: list[str] | None = None) -> dict[str, list]:
        """The ids and `include`d lists of the `n` chunks nearest `embedding` (fewer in a smaller
        library, none without vectors: Chroma answers both without its count, which costs more than
        the query). While another process writes a new library's first papers, Chroma's vector
        index may be missing from disk for a moment: wait a little, then say so rather than fail obscurely."""
        self.check_embedding_model()
        for pause in INDEX_WAITS:
            try:
                result = self._collection.query(query_embeddings=[embedding], n_results=n, where=where, ids=ids,
                                                include=include)
                return {key: result[key][0] for key in ("ids", *include)}
            except Exception as exc:
                if _INDEX_NOT_ON_DISK not in str(exc):
                    raise
                failure = exc
            time.sleep(pause)
        raise PapersError(
            f"The library's vector index is not on disk yet ({failure}); another process is probably adding "
            "the first papers to this library. Search again when that ingest has finished."
        ) from failure

    def nearest(self, embedding: list[float], n: int) -> list[tuple[str, float]]:
        """The ids and distances of the `n` chunks nearest `embedding`, nothing else: a query that reads
        no metadata stays cheap when it asks for many (12 ms for 1,000 of 24k chunks)."""
        found = self._query_index(embedding, n, None, ["distances"])
        return list(zip(found["ids"], found["distances"]))


def open_store(settings: Settings) -> Store:
    """The library's store, stamped with (and checked against) the embedding model the settings select."""
    return Store(settings, embedding_model_id(settings))
