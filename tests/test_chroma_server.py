"""Chroma's client-server mode for real: a `chroma run` server on a free loopback port holds the chunks
(CHROMA_HOST/CHROMA_PORT); an unreachable server is a plain error naming those settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import (
    arxiv_record,
    assert_user_error,
    cli_env,
    free_port,
    ingest,
    library_settings,
    run_cli,
    sample_papers,
    write_jsonl,
)
from rag.embeddings import LOCAL_MODEL_ID, LocalMiniLM, get_embedder
from rag.errors import PapersError
from rag.library import Library
from rag.retrieval import Retriever
from rag.store import Store

pytestmark = pytest.mark.slow

SAMPLE = sample_papers()


def test_ingest_search_list_and_remove_through_a_server(chroma_server, tmp_path: Path, monkeypatch):
    host, port, server_data = chroma_server
    settings = library_settings(tmp_path / "lib", chroma_host=host, chroma_port=port, collection="served")
    records = [arxiv_record(p, id=f"s-{i}", published="2024-01-0{i + 1}") for i, p in enumerate(SAMPLE[40:43])]
    source = write_jsonl(tmp_path / "three.jsonl", records)
    assert Retriever(settings).search("anything", mode="dense") == []  # the server's empty collection

    assert ingest([source], settings).summary() == "3 added, 0 unchanged, 0 updated, 0 rejected"
    assert not settings.chroma_dir.exists()  # the chunks live on the server
    assert (server_data / "chroma.sqlite3").is_file()

    store = Store(settings, LOCAL_MODEL_ID)
    assert sorted(p.id for p in store.papers()) == ["s-0", "s-1", "s-2"]
    assert store.paper("s-1").abstract == SAMPLE[41].abstract
    retriever = Retriever(settings)
    for mode in ("hybrid", "dense", "bm25"):
        hits = retriever.search(SAMPLE[41].title, k=3, mode=mode)
        assert hits[0].id == "s-1" and hits[0].title == SAMPLE[41].title, mode

    calls = []
    real_embed = LocalMiniLM.embed
    monkeypatch.setattr(LocalMiniLM, "embed", lambda self, texts: calls.append(texts) or real_embed(self, texts))
    assert ingest([source], settings).summary() == "0 added, 3 unchanged, 0 updated, 0 rejected"
    assert calls == []

    chunk_ids = store.lexical_rows().chunk_ids
    Library(settings).remove("s-2")
    assert sorted(p.id for p in Store(settings, LOCAL_MODEL_ID).papers()) == ["s-0", "s-1"]
    # asked among chunks one of which the server no longer holds, its filter decides
    embedding = get_embedder(settings).embed([SAMPLE[41].title])[0]
    hits = Store(settings, LOCAL_MODEL_ID).query(embedding, 10, {"paper_id": "s-1"}, among=chunk_ids)
    assert {hit.paper_id for hit in hits} == {"s-1"}

    # Another machine's library folder, same server: the papers are there and BM25 is rebuilt.
    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "elsewhere"})
    assert Retriever(elsewhere).search(SAMPLE[40].title, k=1, mode="bm25")[0].id == "s-0"

    env = cli_env(CHROMA_HOST=host, CHROMA_PORT=str(port), PAPERS_COLLECTION="served")
    stats = run_cli("--data-dir", str(tmp_path / "lib"), "stats", cwd=tmp_path, env=env)
    assert stats.returncode == 0, stats.stderr
    assert f"library:    Chroma server {host}:{port}" in stats.stdout
    assert "papers:     2\n" in stats.stdout


def test_collections_on_one_server_are_separate(chroma_server, tmp_path: Path):
    host, port, _ = chroma_server
    settings = library_settings(tmp_path / "lib", chroma_host=host, chroma_port=port, collection="other")
    source = write_jsonl(tmp_path / "one.jsonl", [arxiv_record(SAMPLE[50], id="o-1")])
    assert ingest([source], settings).summary() == "1 added, 0 unchanged, 0 updated, 0 rejected"
    assert [p.id for p in Store(settings, LOCAL_MODEL_ID).papers()] == ["o-1"]


def test_an_unreachable_server_is_a_plain_error(tmp_path: Path):
    port = free_port()  # nothing listens there
    settings = library_settings(tmp_path / "lib", chroma_host="127.0.0.1", chroma_port=port)
    with pytest.raises(PapersError, match=rf"127\.0\.0\.1:{port} \(CHROMA_HOST/CHROMA_PORT\)"):
        Store(settings, LOCAL_MODEL_ID)
    source = write_jsonl(tmp_path / "one.jsonl", [arxiv_record(SAMPLE[0], id="u-1")])
    with pytest.raises(PapersError, match="CHROMA_HOST/CHROMA_PORT"):
        ingest([source], settings)

    env = cli_env(CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(port))
    for args in (["list"], ["search", "kernels"], ["ingest", str(source)]):
        result = run_cli("--data-dir", str(tmp_path / "lib"), *args, cwd=tmp_path, env=env)
        assert_user_error(result, "CHROMA_HOST/CHROMA_PORT", f"127.0.0.1:{port}")
