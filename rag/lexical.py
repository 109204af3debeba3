"""The BM25 index (bm25s) over the same chunks as Chroma, kept in the library folder."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.settings import Settings

STALE_MARK = "STALE"
CHUNKS_FILE = "chunks.json"
INDEX_FILE = "params.index.json"
"""Written by bm25s's save; absent when there was nothing to index."""


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def _tokenize(texts: list[str], return_ids: bool):
    import bm25s

    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer(), return_ids=return_ids, show_progress=False
    )


@dataclass
class LexicalIndex:
    """A bm25s index plus, per row, the chunk id, paper id, date and source file it stands for."""

    folder: Path
    retriever: object
    chunk_ids: list[str]
    paper_ids: list[str]
    date_nums: np.ndarray
    sources: np.ndarray

    @classmethod
    def build(cls, folder: Path, chunk_ids: list[str], texts: list[str], metadatas: list[dict]) -> LexicalIndex:
        """Write to a fresh folder and swap it in, so a crash never leaves half an index."""
        import bm25s

        tokenized = _tokenize(texts, return_ids=True) if texts else None
        building = folder.with_name(folder.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        if tokenized and tokenized.vocab:  # chunks of stopwords only leave nothing to index
            retriever = bm25s.BM25()
            retriever.index(tokenized, show_progress=False)
            retriever.save(str(building))
        rows = {
            "chunk_ids": chunk_ids,
            "paper_ids": [m["paper_id"] for m in metadatas],
            "date_nums": [int(m.get("date_num", 0)) for m in metadatas],
            "sources": [m.get("source", "") for m in metadatas],
        }
        (building / CHUNKS_FILE).write_text(json.dumps(rows))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        building.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        return cls.load(folder)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        rows = json.loads((folder / CHUNKS_FILE).read_text())
        retriever = bm25s.BM25.load(str(folder)) if (folder / INDEX_FILE).exists() else None
        return cls(folder, retriever, rows["chunk_ids"], rows["paper_ids"], np.array(rows["date_nums"]),
                   np.array(rows["sources"], dtype=str))

    @staticmethod
    def is_usable(folder: Path, chunk_count: int) -> bool:
        """False after an interrupted write, when Chroma changed behind the index's back, or for an
        index saved before its rows named their source files."""
        if (folder.parent / STALE_MARK).exists() or not (folder / CHUNKS_FILE).exists():
            return False
        rows = json.loads((folder / CHUNKS_FILE).read_text())
        return "sources" in rows and len(rows["chunk_ids"]) == chunk_count

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Rows and scores of the best chunks, best first; `mask` limits which rows may match."""
        if self.retriever is None:
            return []
        vocabulary = self.retriever.vocab_dict
        tokens = [t for t in _tokenize([query], return_ids=False)[0] if t in vocabulary]
        if not tokens:
            return []
        k = min(n, len(self.chunk_ids))
        rows, scores = self.retriever.retrieve(
            [tokens], k=k, show_progress=False, weight_mask=mask, n_threads=0
        )
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if s > 0]


def rebuild(store, settings: Settings) -> LexicalIndex:
    """BM25 rebuilt from what Chroma holds, so the two never disagree for long; a read-only
    library keeps the rebuilt index in its private copy."""
    if store.scratch_dir:
        return LexicalIndex.build(store.scratch_dir / "bm25", *store.all_chunks())
    index = LexicalIndex.build(settings.bm25_dir, *store.all_chunks())
    clear_stale(settings.data_dir)
    return index


def mark_stale(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / STALE_MARK).touch()


def clear_stale(data_dir: Path) -> None:
    (data_dir / STALE_MARK).unlink(missing_ok=True)
