"""The catalogue with real parts (real Chroma, the real embedding model): a library searchable before it
is embedded, the embedded share reported, a Chroma-only library migrated, listing pages in SQL, and
replicas that load the BM25 index another process rebuilt instead of rebuilding it."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_library import assert_complete, papers_file, snapshot, store_of
from test_service import client_for

from conftest import arxiv_record, ingest, library_settings, run_cli, sample_papers, write_jsonl
from rag import ingest as ingest_module
from rag import retrieval as retrieval_module
from rag.chunking import chunk_paper
from rag.embeddings import LocalMiniLM
from rag.errors import PapersError
from rag.lexical import LexicalIndex, rebuild_lock
from rag.library import Library
from rag.retrieval import Retriever

pytestmark = pytest.mark.slow

SAMPLE = sample_papers()


def never(*args, **kwargs):
    raise AssertionError("BM25 was rebuilt")


@pytest.fixture
def half_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Twelve papers ingested with the embedding stopped at a batch a seeded RNG picks (of six
    batches of two), so the first ones are embedded and the rest are not."""
    settings = library_settings(tmp_path / "lib", embedding_batch_size=64)
    source, papers = papers_file(tmp_path / "twelve.jsonl", SAMPLE[30:42])
    monkeypatch.setattr(ingest_module, "PAPERS_PER_WRITE", 2)
    stop_at = random.Random(19).randint(2, 5)
    real_embed, calls = LocalMiniLM.embed, []

    def stopping(self, texts):
        calls.append(texts)
        if len(calls) == stop_at:
            raise KeyboardInterrupt
        return real_embed(self, texts)

    with monkeypatch.context() as patch:
        patch.setattr(LocalMiniLM, "embed", stopping)
        with pytest.raises(KeyboardInterrupt):
            ingest([source], settings)
    return settings, source, papers, 2 * (stop_at - 1)


def test_papers_not_embedded_yet_are_found_by_title_and_bm25_and_counted(half_embedded, tmp_path: Path):
    settings, source, papers, embedded = half_embedded
    library = Library(settings)
    assert library.stats().embedded == embedded and library.stats().papers == 12
    page = library.papers(limit=5)
    assert (page.total, page.papers, page.embedded, len(page.items)) == (12, 12, embedded, 5)
    waiting = papers[embedded:]
    for paper in waiting:
        assert library.find(paper.title).id == paper.id
        assert library.search(paper.title, k=1)[0].id == paper.id
    dense = {hit.id for hit in Retriever(settings).search(waiting[0].title, k=12, mode="dense")}
    assert dense == {p.id for p in papers[:embedded]}

    stats = run_cli("--data-dir", str(settings.data_dir), "stats", cwd=tmp_path)
    assert f"embedded:   {embedded} of 12 papers" in stats.stdout, stats.stdout
    with client_for(settings) as client:
        assert client.get("/v1/stats").json()["embedded"] == embedded
        listed = client.get("/v1/papers", params={"limit": 2}).json()
        assert (listed["papers"], listed["embedded"], len(listed["items"])) == (12, embedded, 2)

    assert Library(settings).embed() == 12 - embedded
    assert_complete(settings, papers)
    done = run_cli("--data-dir", str(settings.data_dir), "stats", cwd=tmp_path)
    assert "embedded:" not in done.stdout and "papers:     12\n" in done.stdout


def test_two_processes_embedding_at_once_embed_each_chunk_once(half_embedded, monkeypatch):
    """Two `papers embed` (or an ingest on each of two replicas) at once: one waits for the other."""
    settings, _, papers, embedded = half_embedded
    real_embed, texts = LocalMiniLM.embed, []
    monkeypatch.setattr(LocalMiniLM, "embed", lambda self, batch: texts.extend(batch) or real_embed(self, batch))
    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(lambda _: Library(settings).embed(), range(2)))
    assert sorted(counts) == [0, 12 - embedded]
    assert Counter(texts) == Counter(c.text for p in papers[embedded:] for c in chunk_paper(p, settings))
    assert_complete(settings, papers)


def test_a_reindex_stopped_part_way_is_finished_by_running_it_again(half_embedded, monkeypatch):
    settings, source, papers, _ = half_embedded
    Library(settings).embed()
    before = snapshot(settings)
    real_embed, calls = LocalMiniLM.embed, []

    def stopping(self, texts):
        calls.append(texts)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_embed(self, texts)

    with monkeypatch.context() as patch:
        patch.setattr(ingest_module, "PAPERS_PER_WRITE", 2)
        patch.setattr(LocalMiniLM, "embed", stopping)
        with pytest.raises(KeyboardInterrupt):
            Library(settings).reindex()
    assert store_of(settings).embedded_share() == (4, 12)
    embedded_again: list[str] = []
    monkeypatch.setattr(LocalMiniLM, "embed", lambda self, texts: embedded_again.extend(texts) or real_embed(self, texts))
    assert Library(settings).reindex() == 12
    assert sorted(embedded_again) == sorted(c.text for p in papers[4:] for c in chunk_paper(p, settings))
    assert_complete(settings, papers)
    assert snapshot(settings) == before


def test_a_library_made_before_the_catalogue_is_migrated_from_chroma(tmp_path: Path, monkeypatch):
    """A Chroma-only library (as earlier versions wrote it), one paper half written (its first chunk,
    written last, missing): the complete papers are listed and searchable, and ingesting the file
    again adds the half-written one, embedding only the chunk Chroma lacks."""
    settings = library_settings(tmp_path / "lib")
    source, papers = papers_file(tmp_path / "five.jsonl", SAMPLE[50:55])
    half = next(p for p in papers if len(chunk_paper(p, settings)) > 1)
    ingest([source], settings)
    before = snapshot(settings)
    store_of(settings)._collection.delete(ids=[f"{half.id}#0"])
    shutil.rmtree(settings.bm25_dir)
    for name in ("catalogue.sqlite", "catalogue.sqlite-wal", "catalogue.sqlite-shm"):
        (settings.data_dir / name).unlink(missing_ok=True)

    complete = [p for p in papers if p is not half]
    store = store_of(settings)
    assert sorted(p.id for p in store.papers()) == sorted(p.id for p in complete)
    assert store.content_hashes() == {p.id: p.content_hash for p in complete}
    assert store.embedded_share() == (4, 4)
    assert store_of(settings).version() == store.version()  # migrated once, not on every open
    for paper in complete:
        for mode in ("hybrid", "bm25", "dense"):
            assert Retriever(settings).search(paper.title, k=1, mode=mode)[0].id == paper.id

    embedded: list[str] = []
    real_embed = LocalMiniLM.embed
    monkeypatch.setattr(LocalMiniLM, "embed", lambda self, texts: embedded.extend(texts) or real_embed(self, texts))
    assert ingest([source], settings).summary() == "1 added, 4 unchanged, 0 updated, 0 rejected"
    assert embedded == [chunk_paper(half, settings)[0].text]
    assert_complete(settings, papers)
    assert snapshot(settings) == before


def test_a_second_retriever_loads_the_index_the_writer_rebuilt(tmp_path: Path, monkeypatch):
    """Two processes on one library folder, as two retrievers: the one that ingests rebuilds BM25;
    the other loads that index when the catalogue's version changes, keeps its own while a writer
    holds the lock, and rebuilds only when nobody else will (a writer killed before rebuilding)."""
    settings = library_settings(tmp_path / "lib")
    first, _ = papers_file(tmp_path / "first.jsonl", SAMPLE[60:62], prefix="a")
    second, added = papers_file(tmp_path / "second.jsonl", SAMPLE[62:64], prefix="b")
    ingest([first], settings)
    reader = Retriever(settings)
    assert reader.search(SAMPLE[60].title, k=1, mode="bm25")[0].id == "a-00"

    ingest([second], settings)
    with monkeypatch.context() as patch:
        patch.setattr(retrieval_module, "rebuild", never)
        assert reader.search(added[1].title, k=1, mode="bm25")[0].id == "b-01"
    assert reader.lexical().version == store_of(settings).version()

    writer = store_of(settings)
    third, late = papers_file(tmp_path / "third.jsonl", SAMPLE[64:65], prefix="c")
    held = rebuild_lock(writer, settings)
    with held:  # another process writing: it has the lock until its index is rebuilt
        writer.add([(paper, chunk_paper(paper, settings)) for paper in late])
        with monkeypatch.context() as patch:
            patch.setattr(retrieval_module, "rebuild", never)
            assert [h.id for h in reader.search(late[0].title, k=1, mode="bm25")] != ["c-00"]  # the old index
    # That writer died before rebuilding: the lock is free, so the reader rebuilds.
    assert reader.search(late[0].title, k=1, mode="bm25")[0].id == "c-00"
    assert LexicalIndex.stamp(settings.bm25_dir) == writer.version()


def test_pages_of_papers_are_sorted_filtered_and_counted_in_sql(tmp_path: Path):
    settings = library_settings(tmp_path / "lib")
    rows = [("z-1", "zebra Finches", "2021-03-15", "Ada Lovelace"), ("a-1", "Apples", "2019-05-01", "Alan Turing"),
            ("m-1", "mango trees", "", "Grace Hopper"), ("b-1", "Bananas of 2021", "2021-12-31", "Ada Byron")]
    one = write_jsonl(tmp_path / "one.jsonl", [arxiv_record(id=i, title=t, abstract=f"{t} are studied here at length.",
                                                            authors=a, **({"published": d} if d else {}))
                                               for i, t, d, a in rows[:3]])
    two = write_jsonl(tmp_path / "two.jsonl", [arxiv_record(id=rows[3][0], title=rows[3][1], published=rows[3][2],
                                                            abstract="Bananas grow in bunches.", authors=rows[3][3])])
    ingest([one, two], settings)
    store = store_of(settings)

    def ids(**filters) -> tuple[list[str], int]:
        found, total = store.papers_page(**filters)
        return [p.id for p in found], total

    assert ids() == (["a-1", "b-1", "m-1", "z-1"], 4)
    assert ids(offset=1, limit=2) == (["b-1", "m-1"], 4)
    assert ids(query="ADA") == (["b-1", "z-1"], 2)  # authors
    assert ids(query="M-1") == (["m-1"], 1)  # id
    assert ids(query="finch") == (["z-1"], 1)  # title
    assert ids(source="two.jsonl") == (["b-1"], 1)
    assert ids(date_from="2021") == (["b-1", "z-1"], 2)
    assert ids(date_from="2021-03", date_to="2021-03") == (["z-1"], 1)
    assert ids(date_to="2020") == (["a-1"], 1)  # the undated paper falls outside any date filter
    assert ids(query="a", source="one.jsonl", date_from="2020", limit=1) == (["z-1"], 1)
    assert store.source_files() == ["one.jsonl", "two.jsonl"]
    assert [p.id for p in store.papers()] == ["a-1", "b-1", "m-1", "z-1"]


def test_an_embedding_failure_says_the_papers_are_in_and_how_to_finish(tmp_path: Path, monkeypatch):
    settings = library_settings(tmp_path / "lib")
    source, papers = papers_file(tmp_path / "two.jsonl", SAMPLE[70:72])

    def failing(self, texts):
        raise PapersError("The embeddings server failed (APIConnectionError).")

    monkeypatch.setattr(LocalMiniLM, "embed", failing)
    with pytest.raises(PapersError, match=r"^2 added, .*found by title and BM25.*APIConnectionError.*papers embed"):
        ingest([source], settings)
    assert [h.id for h in Retriever(settings).search(papers[1].title, k=1, mode="bm25")] == ["p-01"]
    assert store_of(settings).embedded_share() == (0, 2)
