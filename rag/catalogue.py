"""The library's catalogue: every paper and chunk in one SQLite file (WAL), used only by `rag.store`.

It is the record of which papers the library holds, so listing, paging, titles and BM25 read it
without touching Chroma, and a paper is searchable by title and BM25 as soon as its row is in,
before its chunks are embedded. Each chunk has an `embedded` flag that the store sets once Chroma
holds its vector. A change counter (`version`) goes up with every change to the set of chunks or
their text, so a BM25 index stamped with it tells whether it is current.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag.chunking import Chunk, chunk_text
from rag.paper import Paper

AUTHOR_SEPARATOR = "; "
BUSY_TIMEOUT_MS = 60_000
"""How long a write waits for another process's write to finish."""
_PARAMETERS_PER_QUERY = 900
"""Below SQLite's limit on the `?` of one statement."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS papers (
    id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    title_key TEXT NOT NULL,
    abstract TEXT NOT NULL,
    authors TEXT NOT NULL,
    date TEXT NOT NULL,
    date_num INTEGER NOT NULL,
    source TEXT NOT NULL,
    categories TEXT NOT NULL,
    doi TEXT NOT NULL,
    find_key TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    pending INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS papers_listed ON papers (title_key, id, source, date_num, find_key);
CREATE INDEX IF NOT EXISTS papers_by_source ON papers (source, title_key, id);
CREATE INDEX IF NOT EXISTS papers_by_date ON papers (date_num);
CREATE INDEX IF NOT EXISTS papers_pending ON papers (id) WHERE pending > 0;
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    paper_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    passage TEXT NOT NULL,
    embedded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS chunks_by_paper ON chunks (paper_id, idx);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

PAPER_COLUMNS = "id, title, abstract, authors, date, source, categories, doi"
CHUNK_TEXT = "chunk_text((SELECT title FROM papers WHERE papers.id = chunks.paper_id), passage)"
"""A chunk's text is not stored twice: SQL makes it as `rag.chunking.chunk_text` does, by calling it."""


def date_number(date: str) -> int:
    """ISO date as a sortable integer (2024-03 -> 20240300) so ranges can be filtered on it."""
    digits = date.replace("-", "")
    return int(digits.ljust(8, "0")) if digits.isdigit() else 0


def date_range(date_from: str = "", date_to: str = "") -> tuple[int, int] | None:
    """Inclusive date_num range: a partial date_to ("2024", "2024-03") covers its whole year or
    month, and papers without a date (date_num 0) fall outside any date filter."""
    if not (date_from or date_to):
        return None
    digits = date_to.replace("-", "")
    high = int(digits.ljust(8, "9")) if digits.isdigit() else 99999999
    return max(date_number(date_from), 1), high


def find_key(paper: Paper) -> str:
    """What a listing's search box matches: title, id and authors, case set aside."""
    return f"{paper.title}\n{paper.id}\n{' '.join(paper.authors)}".casefold()


def _paper(row: tuple) -> Paper:
    paper_id, title, abstract, authors, date, source, categories, doi = row
    return Paper(id=paper_id, title=title, abstract=abstract,
                 authors=tuple(authors.split(AUTHOR_SEPARATOR)) if authors else (), date=date,
                 source_file=source, categories=tuple(categories.split()), doi=doi)


def _paper_row(paper: Paper, n_chunks: int, pending: int) -> tuple:
    return (paper.id, paper.content_hash, paper.title, paper.title.casefold(), paper.abstract,
            AUTHOR_SEPARATOR.join(paper.authors), paper.date, date_number(paper.date), paper.source_file,
            " ".join(paper.categories), paper.doi, find_key(paper), n_chunks, pending)


def groups(items: list, size: int = _PARAMETERS_PER_QUERY) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _marks(items: list) -> str:
    return ",".join("?" * len(items))


@dataclass(frozen=True)
class LexicalRows:
    """Every chunk as BM25 indexes it, read in one snapshot with the version it stands for."""

    version: int
    chunk_ids: list[str]
    texts: list[str]
    paper_ids: list[str]
    date_nums: list[int]
    sources: list[str]


class Catalogue:
    """One SQLite file; a connection per thread, as sqlite3's connections are not shared safely."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.create_function("chunk_text", 2, chunk_text, deterministic=True)
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """All or nothing; a write takes the lock up front so two writers queue instead of failing."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- state -----------------------------------------------------------------------------------

    def _meta(self, db: sqlite3.Connection, key: str) -> int | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: int) -> None:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
                   (key, value, value))

    def _bump(self, db: sqlite3.Connection) -> None:
        self._set_meta(db, "version", (self._meta(db, "version") or 0) + 1)

    def version(self) -> int:
        return self._meta(self._db(), "version") or 0

    def flag(self, key: str) -> bool:
        return bool(self._meta(self._db(), key))

    def set_flag(self, key: str, on: bool) -> None:
        with self._transaction() as db:
            self._set_meta(db, key, int(on))

    # --- writes ----------------------------------------------------------------------------------

    def migrate(self, read_old: Callable[[], Iterable[tuple[Paper, list[Chunk]]]]) -> bool:
        """Fill a new catalogue once from what `read_old()` gives: (paper, chunks) pairs already
        embedded. Done inside one write, so two processes opening the same old library at once
        migrate it once. False when it was done before."""
        with self._transaction() as db:
            if self._meta(db, "migrated"):
                return False
            papers = list(read_old())
            self._write(db, papers, embedded=True)
            self._set_meta(db, "migrated", 1)
            return True

    def add(self, papers: list[tuple[Paper, list[Chunk]]]) -> None:
        """Papers with their chunks, not embedded yet; a paper's earlier chunks are replaced."""
        with self._transaction() as db:
            self._write(db, papers, embedded=False)

    def _write(self, db: sqlite3.Connection, papers: list[tuple[Paper, list[Chunk]]], embedded: bool) -> None:
        ids = [paper.id for paper, _ in papers]
        for group in groups(ids):
            db.execute(f"DELETE FROM chunks WHERE paper_id IN ({_marks(group)})", group)
        db.executemany("INSERT OR REPLACE INTO papers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (_paper_row(p, len(cs), 0 if embedded else len(cs)) for p, cs in papers))
        db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?)",
                       ((c.id, c.paper_id, c.index, c.passage, int(embedded)) for _, cs in papers for c in cs))
        if papers:
            self._bump(db)

    def remove(self, paper_id: str) -> bool:
        with self._transaction() as db:
            removed = db.execute("DELETE FROM papers WHERE id = ?", (paper_id,)).rowcount
            db.execute("DELETE FROM chunks WHERE paper_id = ?", (paper_id,))
            if removed:
                self._bump(db)
        return bool(removed)

    def mark_embedded(self, chunks: Iterable[Chunk]) -> None:
        """Only a chunk whose text is still the one embedded: a paper changed meanwhile stays pending."""
        chunks = list(chunks)
        with self._transaction() as db:
            db.executemany(f"UPDATE chunks SET embedded = 1 WHERE id = ? AND {CHUNK_TEXT} = ?",
                           ((c.id, c.text) for c in chunks))
            self._recount(db, sorted({c.paper_id for c in chunks}))

    def mark_pending(self, paper_ids: list[str] | None = None) -> None:
        """The chunks of these papers (all papers when None) to be embedded again."""
        with self._transaction() as db:
            if paper_ids is None:
                db.execute("UPDATE chunks SET embedded = 0")
                db.execute("UPDATE papers SET pending = n_chunks")
            for group in groups(paper_ids or []):
                db.execute(f"UPDATE chunks SET embedded = 0 WHERE paper_id IN ({_marks(group)})", group)
                db.execute(f"UPDATE papers SET pending = n_chunks WHERE id IN ({_marks(group)})", group)

    @staticmethod
    def _recount(db: sqlite3.Connection, paper_ids: list[str]) -> None:
        for group in groups(paper_ids):
            db.execute(f"UPDATE papers SET pending = (SELECT count(*) FROM chunks WHERE chunks.paper_id = papers.id "
                       f"AND embedded = 0) WHERE id IN ({_marks(group)})", group)

    # --- reads -----------------------------------------------------------------------------------

    def count_chunks(self) -> int:
        return self._db().execute("SELECT count(*) FROM chunks").fetchone()[0]

    def count_papers(self) -> tuple[int, int]:
        """(papers, papers with every chunk embedded)."""
        db = self._db()
        total = db.execute("SELECT count(*) FROM papers").fetchone()[0]
        pending = db.execute("SELECT count(*) FROM papers WHERE pending > 0").fetchone()[0]  # its own index
        return total, total - pending

    def content_hashes(self) -> dict[str, str]:
        return dict(self._db().execute("SELECT id, content_hash FROM papers"))

    def papers(self) -> list[Paper]:
        rows = self._db().execute(f"SELECT {PAPER_COLUMNS} FROM papers ORDER BY title_key, id")
        return [_paper(row) for row in rows]

    def papers_by_id(self, paper_ids: list[str]) -> dict[str, Paper]:
        found: dict[str, Paper] = {}
        for group in groups(list(dict.fromkeys(paper_ids))):
            rows = self._db().execute(f"SELECT {PAPER_COLUMNS} FROM papers WHERE id IN ({_marks(group)})", group)
            found |= {row[0]: _paper(row) for row in rows}
        return found

    def titled(self, title: str) -> list[Paper]:
        """The papers of exactly this title, case set aside."""
        rows = self._db().execute(f"SELECT {PAPER_COLUMNS} FROM papers WHERE title_key = ? ORDER BY id",
                                  (title.casefold(),))
        return [_paper(row) for row in rows]

    def titles(self, paper_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for group in groups(list(dict.fromkeys(paper_ids))):
            found |= dict(self._db().execute(f"SELECT id, title FROM papers WHERE id IN ({_marks(group)})", group))
        return found

    def passages(self, chunk_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for group in groups(list(dict.fromkeys(chunk_ids))):
            found |= dict(self._db().execute(f"SELECT id, passage FROM chunks WHERE id IN ({_marks(group)})", group))
        return found

    def unembedded(self, chunk_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for group in groups(list(dict.fromkeys(chunk_ids))):
            rows = self._db().execute(f"SELECT id FROM chunks WHERE embedded = 0 AND id IN ({_marks(group)})", group)
            found |= {row[0] for row in rows}
        return found

    def page(self, query: str, offset: int, limit: int | None, source: str,
             dates: tuple[int, int] | None) -> tuple[list[Paper], int]:
        """Papers by title (casefold), filtered in SQL; the page and how many match in all."""
        clauses, values = [], []
        if query:
            clauses.append("instr(find_key, ?) > 0")
            values.append(query.casefold())
        if source:
            clauses.append("source = ?")
            values.append(source)
        if dates:
            clauses.append("date_num BETWEEN ? AND ?")
            values += list(dates)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        db = self._db()
        total = db.execute(f"SELECT count(*) FROM papers {where}", values).fetchone()[0]
        rows = db.execute(f"SELECT {PAPER_COLUMNS} FROM papers {where} ORDER BY title_key, id LIMIT ? OFFSET ?",
                          [*values, -1 if limit is None else limit, offset])
        return [_paper(row) for row in rows], total

    def source_files(self) -> list[str]:
        return [row[0] for row in self._db().execute("SELECT DISTINCT source FROM papers WHERE source != '' "
                                                     "ORDER BY source")]

    def pending(self, max_papers: int) -> list[tuple[Paper, int, list[Chunk]]]:
        """The next papers with chunks to embed: (paper, its number of chunks, the chunks to embed)."""
        db = self._db()
        rows = db.execute(f"SELECT {PAPER_COLUMNS}, n_chunks FROM papers WHERE pending > 0 ORDER BY id LIMIT ?",
                          (max_papers,)).fetchall()
        papers = {row[0]: (_paper(row[:-1]), row[-1], []) for row in rows}
        for group in groups(list(papers)):
            for chunk_id, paper_id, index, text, passage in db.execute(
                    f"SELECT id, paper_id, idx, {CHUNK_TEXT}, passage FROM chunks WHERE embedded = 0 "
                    f"AND paper_id IN ({_marks(group)}) ORDER BY paper_id, idx", group):
                papers[paper_id][2].append(Chunk(chunk_id, paper_id, index, text, passage))
        return list(papers.values())

    def lexical_rows(self) -> LexicalRows:
        with self._transaction(write=False) as db:
            version = self._meta(db, "version") or 0
            rows = db.execute("SELECT chunks.id, chunk_text(title, passage), paper_id, date_num, source FROM chunks "
                              "JOIN papers ON papers.id = chunks.paper_id ORDER BY chunks.rowid").fetchall()
        return LexicalRows(version, *(list(column) for column in zip(*rows))) if rows else LexicalRows(
            version, [], [], [], [], [])
