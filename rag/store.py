"""Chroma behind one module: chunks with their vectors, and each paper's record on its first chunk."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag import chroma_client
from rag.chunking import Chunk
from rag.embeddings import embedding_model_id
from rag.errors import PapersError, Unavailable
from rag.paper import Paper
from rag.settings import Settings

AUTHOR_SEPARATOR = "; "


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: str
    paper_id: str
    title: str
    passage: str
    distance: float


def date_number(date: str) -> int:
    """ISO date as a sortable integer (2024-03 -> 20240300) so Chroma can filter ranges on it."""
    digits = date.replace("-", "")
    return int(digits.ljust(8, "0")) if digits.isdigit() else 0


def date_bounds(date_from: str, date_to: str) -> tuple[int, int] | None:
    """Inclusive date_num range: a partial date_to ("2024", "2024-03") covers its whole year or
    month, and papers without a date (date_num 0) fall outside any date filter."""
    if not (date_from or date_to):
        return None
    digits = date_to.replace("-", "")
    high = int(digits.ljust(8, "9")) if digits.isdigit() else 99999999
    return max(date_number(date_from), 1), high


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

def _exists_read_only(folder: Path) -> bool:
    """An existing Chroma folder whose files this process may not change."""
    database = folder / "chroma.sqlite3"
    writable = os.access(folder, os.W_OK) and (not database.exists() or os.access(database, os.W_OK))
    return folder.is_dir() and not writable


class Store:
    """The Chroma collection of one library, embedded in the library folder or on a Chroma server.

    A library folder this process cannot write (a shared, mounted folder) is read from a private
    copy of its Chroma files, as Chroma writes to its database even to read it; writes are refused.
    """

    def __init__(self, settings: Settings, embedding_model: str) -> None:
        import chromadb

        self.data_dir = settings.data_dir
        self.read_only = not settings.chroma_host and _exists_read_only(settings.chroma_dir)
        self._snapshot: tempfile.TemporaryDirectory | None = None
        try:
            if settings.chroma_host:
                self._client = chroma_client.http_client(settings.chroma_host, settings.chroma_port,
                                                         settings.chroma_timeout)
            else:
                self._client = chromadb.PersistentClient(
                    path=str(self._local_path(settings)), settings=chromadb.Settings(anonymized_telemetry=False)
                )
            self._collection = self._open_collection(settings.collection, embedding_model)
        except PapersError:
            raise
        except Exception as exc:
            raise Unavailable(chroma_client.open_failure(exc, settings)) from exc
        self.embedding_model = embedding_model
        self.built_with = (self._collection.metadata or {}).get("embedding_model", embedding_model)

    def _local_path(self, settings: Settings) -> Path:
        if not self.read_only:
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
            return settings.chroma_dir
        self._snapshot = tempfile.TemporaryDirectory(prefix="papers-read-only-")
        copy = Path(self._snapshot.name) / "chroma"
        shutil.copytree(settings.chroma_dir, copy, copy_function=shutil.copyfile)  # files: writable
        for folder, _, _ in os.walk(copy):
            os.chmod(folder, 0o700)  # copytree gives folders the originals' read-only modes
        return copy

    @property
    def scratch_dir(self) -> Path | None:
        """Where a read-only library may keep what it builds for itself (its BM25 index)."""
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

    def clear(self) -> None:
        name = self._collection.name
        self._client.delete_collection(name)
        self._collection = self._open_collection(name, self.embedding_model)
        self.built_with = self.embedding_model

    def replace_with(self, staging: Store) -> None:
        """Swap a complete staging collection in under this collection's name."""
        name = self._collection.name
        self._client.delete_collection(name)
        staging._collection.modify(name=name)
        self._collection = staging._collection
        self.built_with = staging.built_with

    def check_embedding_model(self) -> None:
        """Vectors from two models don't compare: refuse rather than return nonsense."""
        if self.count() and self.built_with != self.embedding_model:
            raise PapersError(
                f"This library was indexed with the embedding model '{self.built_with}', but the "
                f"settings select '{self.embedding_model}'. Re-index with `papers reindex`, or set "
                f"PAPERS_EMBEDDING_BACKEND/PAPERS_EMBEDDING_MODEL back to the model that built it."
            )

    def count(self) -> int:
        return self._collection.count()

    def content_hashes(self) -> dict[str, str]:
        """paper id -> content hash of the version stored; written last, so it marks a complete paper."""
        records = self._collection.get(where={"chunk_index": 0}, include=["metadatas"])
        return {m["paper_id"]: m["content_hash"] for m in records["metadatas"]}

    def write(self, items: Iterable[tuple[Paper, list[Chunk], list[list[float]]]]) -> None:
        """Upsert papers so that an interruption at any point leaves a usable library.

        Later chunks go first, then stale chunks of a shortened paper are deleted, and each
        paper's first chunk (which holds its content hash) goes last. A rerun redoes any paper
        whose first chunk did not land.
        """
        items = list(items)
        if items and self.built_with != self.embedding_model and not self.count():
            # An empty collection stamped by another model (e.g. opened under another backend).
            self._collection.modify(metadata={"embedding_model": self.embedding_model})
            self.built_with = self.embedding_model
        rest = [(p, c, e, len(cs)) for p, cs, es in items for c, e in zip(cs, es) if c.index > 0]
        first = [(p, c, e, len(cs)) for p, cs, es in items for c, e in zip(cs, es) if c.index == 0]
        self._upsert(rest)
        for paper, chunks, _ in items:
            self._collection.delete(
                where={"$and": [{"paper_id": paper.id}, {"chunk_index": {"$gte": len(chunks)}}]}
            )
        self._upsert(first)

    def _upsert(self, group: list[tuple[Paper, Chunk, list[float], int]]) -> None:
        if group:
            self._collection.upsert(
                ids=[c.id for _, c, _, _ in group],
                embeddings=[e for _, _, e, _ in group],
                documents=[c.text for _, c, _, _ in group],
                metadatas=[_paper_metadata(p, c, n) for p, c, _, n in group],
            )

    def chunk_ids(self, paper_id: str) -> list[str]:
        """Every chunk of a paper, those of an unfinished write included."""
        return self._collection.get(where={"paper_id": paper_id}, include=[])["ids"]

    def delete(self, chunk_ids: list[str]) -> None:
        self._collection.delete(ids=chunk_ids)

    def papers(self) -> list[Paper]:
        records = self._collection.get(where={"chunk_index": 0}, include=["metadatas"])
        return sorted((paper_from_metadata(m) for m in records["metadatas"]), key=lambda p: p.title.casefold())

    def paper(self, paper_id: str) -> Paper | None:
        return self.papers_by_id([paper_id]).get(paper_id)

    def papers_by_id(self, paper_ids: list[str]) -> dict[str, Paper]:
        return {m["paper_id"]: paper_from_metadata(m) for m in self._metadatas([f"{p}#0" for p in paper_ids])}

    def _metadatas(self, ids: list[str]) -> list[dict[str, Any]]:
        return self._collection.get(ids=ids, include=["metadatas"])["metadatas"] if ids else []

    def passages(self, chunk_ids: list[str]) -> dict[str, str]:
        return {f"{m['paper_id']}#{m['chunk_index']}": m["passage"] for m in self._metadatas(chunk_ids)}

    def titles(self, paper_ids: list[str]) -> dict[str, str]:
        return {m["paper_id"]: m["title"] for m in self._metadatas([f"{p}#0" for p in paper_ids])}

    def all_chunks(self) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Every chunk's id, text and metadata, in pages (Chroma caps a single get)."""
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

    def query(self, embedding: list[float], n: int, where: dict | None = None) -> list[ChunkHit]:
        self.check_embedding_model()
        total = self.count()
        if not total:
            return []
        result = self._query_index(
            query_embeddings=[embedding], n_results=min(n, total), where=where, include=["metadatas", "distances"]
        )
        return [
            ChunkHit(chunk_id, m["paper_id"], m["title"], m["passage"], distance)
            for chunk_id, m, distance in zip(
                result["ids"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    def _query_index(self, **query) -> dict[str, Any]:
        """While another process writes a new library's first papers, Chroma's vector index may be
        missing from disk for a moment: wait a little, then say so rather than fail obscurely."""
        for pause in INDEX_WAITS:
            try:
                return self._collection.query(**query)
            except Exception as exc:
                if _INDEX_NOT_ON_DISK not in str(exc):
                    raise
                failure = exc
            time.sleep(pause)
        raise PapersError(
            f"The library's vector index is not on disk yet ({failure}); another process is probably adding "
            "the first papers to this library. Search again when that ingest has finished."
        ) from failure

    def papers_page(self, query: str = "", offset: int = 0, limit: int | None = None, source: str = "",
                    date_from: str = "", date_to: str = "") -> tuple[list[Paper], int]:
        """One page of the papers by title, and how many match: `query` keeps those whose title, id or
        authors contain it (any case), `source` one file's papers, the dates as `date_bounds` reads them."""
        wanted, bounds = query.strip().casefold(), date_bounds(date_from, date_to)
        found = [
            paper for paper in self.papers()
            if wanted in f"{paper.title}\n{paper.id}\n{' '.join(paper.authors)}".casefold()
            and (not source or paper.source_file == source)
            and (not bounds or bounds[0] <= date_number(paper.date) <= bounds[1])
        ]
        end = None if limit is None else offset + limit
        return found[offset:end], len(found)

    def nearest(self, embedding: list[float], n: int) -> list[tuple[str, float]]:
        """The ids and distances of the `n` chunks nearest `embedding`, nothing else: a query that reads
        no metadata stays cheap when it asks for many (12 ms for 1,000 of 24k chunks)."""
        self.check_embedding_model()
        total = self.count()
        if not total:
            return []
        result = self._query_index(query_embeddings=[embedding], n_results=min(n, total), include=["distances"])
        return list(zip(result["ids"][0], result["distances"][0]))

    def source_files(self) -> list[str]:
        """The names of the files the papers were read from, sorted."""
        return sorted({paper.source_file for paper in self.papers() if paper.source_file})


def open_store(settings: Settings) -> Store:
    """The library's store, stamped with (and checked against) the embedding model the settings select."""
    return Store(settings, embedding_model_id(settings))
