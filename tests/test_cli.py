"""The `papers` command end to end: real subprocesses (and click's runner for quick reads) over real
libraries; a user's mistake is one `Error: ...` line and exit 1, never a traceback."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import (
    BACKEND_PACKAGES,
    PAPERS_CLI,
    SAMPLE_LIBRARY,
    arxiv_record,
    assert_user_error,
    cli_env,
    free_port,
    packages_imported,
    run_cli,
    sample_papers,
    serving,
    write_jsonl,
)
from rag.cli import main
from rag.embeddings import LOCAL_MODEL_ID
from rag.settings import Settings
from rag.wording import NOTHING_WITHIN_FILTERS

SAMPLE = sample_papers()
Q02 = (
    "Which simulation-plus-RL framework for a Fetch mobile manipulator claims to simulate 54x faster "
    "than Habitat 2.0, and what rearrangement success did its large-scale training reach?"
)

pytestmark = pytest.mark.slow
Q02_GOLD = "Galactic: Scaling End-to-End Reinforcement Learning for Rearrangement at 100k Steps-Per-Second"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """click's runner in a clean environment (no PAPERS_/CHROMA_ variables, no .env)."""
    for name in list(os.environ):
        if name.startswith(("PAPERS_", "CHROMA_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_ingest_list_search_stats_remove_in_subprocesses(tmp_path: Path):
    data_dir = tmp_path / "lib"
    records = [arxiv_record(p, id=f"c-{i}", authors=["Ada Lovelace"], published="2022-02-02")
               for i, p in enumerate(SAMPLE[30:33])]
    source = write_jsonl(tmp_path / "three.jsonl", records + [{"id": "c-x", "title": "No abstract"}])
    cli = lambda *args: run_cli("--data-dir", str(data_dir), *args, cwd=tmp_path)  # noqa: E731

    result = cli("ingest", str(source))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3 added, 0 unchanged, 0 updated, 1 rejected"
    assert "rejected three.jsonl:4: missing or empty abstract" in result.stderr
    assert "Traceback" not in result.stderr

    listed = json.loads(cli("list", "--json").stdout)
    assert [p["id"] for p in listed] == [
        p["id"] for p in sorted(records, key=lambda r: r["title"].casefold())
    ]
    assert all(p["title"] and p["authors"] == ["Ada Lovelace"] and p["date"] == "2022-02-02" for p in listed)
    assert all(p["source"] == "three.jsonl" for p in listed)
    plain = cli("list").stdout.strip().splitlines()
    assert sorted(plain) == sorted(f"{r['id']}\t{r['title']}" for r in records)

    hits = json.loads(cli("search", SAMPLE[31].title, "--json", "-k", "2").stdout)
    assert len(hits) == 2 and hits[0]["id"] == "c-1" and hits[0]["title"] == SAMPLE[31].title
    assert all(set(h) == {"id", "title", "score", "passages"} and h["passages"] for h in hits)
    assert hits[0]["score"] >= hits[1]["score"]

    stats = cli("stats").stdout
    assert f"library:    {data_dir}" in stats
    assert "papers:     3\n" in stats
    assert f"embeddings: {LOCAL_MODEL_ID}" in stats
    assert "files:      three.jsonl" in stats

    removed = cli("remove", "c-1")
    assert removed.returncode == 0 and removed.stdout.strip() == "removed c-1"
    assert "c-1" not in {p["id"] for p in json.loads(cli("list", "--json").stdout)}
    hits = json.loads(cli("search", SAMPLE[31].title, "--json").stdout)
    assert "c-1" not in {h["id"] for h in hits} and len(hits) == 2
    assert "papers:     2\n" in cli("stats").stdout

    assert_user_error(cli("remove", "c-1"), "No paper with id 'c-1'", "papers list")

    again = cli("ingest", str(source))
    assert again.stdout.strip() == "1 added, 2 unchanged, 0 updated, 1 rejected"


def test_search_json_on_the_sample_library(runner: CliRunner, sample_library: Settings):
    result = runner.invoke(main, ["--data-dir", str(sample_library.data_dir), "search", Q02, "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == sample_library.top_k
    assert hits[0]["title"] == Q02_GOLD
    assert len({h["id"] for h in hits}) == len(hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    for hit in hits:
        assert set(hit) == {"id", "title", "score", "passages"}
        assert 1 <= len(hit["passages"]) <= sample_library.passages_per_paper

    three = json.loads(runner.invoke(main, ["--data-dir", str(sample_library.data_dir), "search", Q02,
                                            "--json", "-k", "3"]).stdout)
    assert [h["id"] for h in three] == [h["id"] for h in hits[:3]]

    text = runner.invoke(main, ["--data-dir", str(sample_library.data_dir), "search", Q02]).stdout
    assert text.startswith(f"1. {Q02_GOLD}\n")


def test_search_ask_topic_and_list_take_the_same_filters(runner: CliRunner, sample_library: Settings, tmp_path: Path):
    library = ["--data-dir", str(sample_library.data_dir)]
    by_path = json.loads(runner.invoke(main, [*library, "search", Q02, "--json", "--source",
                                              str(SAMPLE_LIBRARY)]).stdout)
    assert by_path[0]["title"] == Q02_GOLD
    listed = json.loads(runner.invoke(main, [*library, "list", "--json", "--source", "hf_papers.txt"]).stdout)
    assert len(listed) == 87
    undated = runner.invoke(main, [*library, "list", "--json", "--date-from", "2020", "--date-to", "2024-06"])
    assert json.loads(undated.stdout) == []  # the sample's papers have no dates
    for command in ("search", "list"):
        said = runner.invoke(main, [*library, command, *([Q02] if command == "search" else []), "--date-from", "2020"])
        assert said.stdout == f"{NOTHING_WITHIN_FILTERS}\n", said.stdout  # not "is the library empty?"
    for command in ("search", "ask", "topic", "list"):
        assert "--date-from DATE" in runner.invoke(main, [command, "--help"]).stdout
    for command, option, value, message in [
        ("search", "--date-to", "24", "'24' is not a year or a date; write a year (2021)"),
        ("ask", "--source", "zotero.bib", "named 'zotero.bib'; its files: hf_papers.txt"),
        ("topic", "--date-from", "2024-02-30", "'2024-02-30' is not a year or a date"),
    ]:
        assert_user_error(run_cli(*library, command, "kernels", option, value, cwd=tmp_path), message)


def test_listing_and_showing_papers_import_neither_chroma_nor_the_model_backends(sample_library: Settings,
                                                                                 tmp_path: Path):
    """They read the catalogue only, so they start in well under a second instead of several."""
    env = cli_env(PAPERS_DATA_DIR=str(sample_library.data_dir))
    for command in (["list"], ["show", "SortedNet"]):
        assert not packages_imported(*command, cwd=tmp_path, env=env) & BACKEND_PACKAGES, command
    assert "chromadb" in packages_imported("search", "quantization", cwd=tmp_path, env=env)  # the check can fail


@pytest.mark.parametrize("command", ["search", "ask"])
@pytest.mark.parametrize(("query", "fragment"), [("", "is empty"), ("  \t ", "is empty"),
                                                 ("why " * 1001, "too long: 4,003 characters")])
def test_empty_and_overlong_queries_are_refused_alike(sample_library: Settings, tmp_path: Path, command, query, fragment):
    """Before any retrieval or model call: an empty search once listed five arbitrary papers, and a
    20,000-character question failed with advice about PAPERS_TOP_K."""
    result = run_cli("--data-dir", str(sample_library.data_dir), command, query, cwd=tmp_path)
    assert_user_error(result, fragment)


def test_an_empty_library_lists_and_searches_nothing(runner: CliRunner, tmp_path: Path):
    empty = ["--data-dir", str(tmp_path / "empty")]
    assert json.loads(runner.invoke(main, [*empty, "search", "anything", "--json"]).stdout) == []
    assert "No papers found" in runner.invoke(main, [*empty, "search", "anything"]).stdout
    assert json.loads(runner.invoke(main, [*empty, "list", "--json"]).stdout) == []
    assert "papers:     0\n" in runner.invoke(main, [*empty, "stats"]).stdout


def test_papers_data_dir_is_honoured(sample_library: Settings, tmp_path: Path):
    env = cli_env(PAPERS_DATA_DIR=str(sample_library.data_dir))
    stats = run_cli("stats", cwd=tmp_path, env=env)
    assert stats.returncode == 0, stats.stderr
    assert f"library:    {sample_library.data_dir}" in stats.stdout
    assert "papers:     87\n" in stats.stdout
    assert len(json.loads(run_cli("list", "--json", cwd=tmp_path, env=env).stdout)) == 87

    other = cli_env(PAPERS_DATA_DIR=str(tmp_path / "elsewhere"))
    listed = run_cli("--data-dir", str(sample_library.data_dir), "list", "--json", cwd=tmp_path, env=other)
    assert len(json.loads(listed.stdout)) == 87  # --data-dir wins over the variable


@pytest.mark.parametrize(
    "name, content, args, fragments",
    [
        ("missing.jsonl", None, [], ["missing.jsonl", "no such file"]),
        ("empty.txt", b"", [], ["empty.txt", "is empty"]),
        ("binary.dat", bytes(range(256)), [], ["binary.dat", "binary"]),
        ("prose.txt", b"one line of prose", [], ["prose.txt", "cannot tell"]),
        ("good.jsonl", None, ["--format", "docx"], ["unknown --format 'docx'"]),
    ],
)
def test_ingest_mistakes_are_one_line_errors(tmp_path: Path, name, content, args, fragments):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    elif name == "good.jsonl":
        write_jsonl(path, [arxiv_record(SAMPLE[0], id="g")])
    data_dir = tmp_path / "lib"
    result = run_cli("--data-dir", str(data_dir), "ingest", *args, str(path), cwd=tmp_path)
    assert_user_error(result, *fragments)
    assert result.stdout == ""
    assert not data_dir.exists()  # nothing written, not even an empty library


def test_one_bad_path_among_several_is_an_error_and_writes_nothing(runner: CliRunner, tmp_path: Path):
    good = write_jsonl(tmp_path / "good.jsonl", [arxiv_record(SAMPLE[0], id="g")])
    (tmp_path / "empty.txt").write_text("")
    data_dir = tmp_path / "lib"
    result = runner.invoke(main, ["--data-dir", str(data_dir), "ingest", str(good), str(tmp_path / "empty.txt")])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("Error: ") and "empty.txt" in result.stderr
    assert not data_dir.exists()


def test_search_on_a_library_of_another_model_is_an_error(sample_library: Settings, tmp_path: Path):
    env = cli_env(PAPERS_EMBEDDING_BACKEND="openai", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    result = run_cli("--data-dir", str(sample_library.data_dir), "search", "kernels", cwd=tmp_path, env=env)
    assert_user_error(result, "Re-index")


def test_ui_adds_the_sample_to_an_empty_library_serves_on_loopback_and_stops_with_its_command(tmp_path: Path):
    sample = write_jsonl(tmp_path / "sample.jsonl", [arxiv_record(p, id=f"s-{i}") for i, p in enumerate(SAMPLE[:2])])
    env = cli_env(PAPERS_DATA_DIR=str(tmp_path / "lib"), PAPERS_SAMPLE_LIBRARY=str(sample))
    port = free_port()
    health = f"http://127.0.0.1:{port}/_stcore/health"
    command = [str(PAPERS_CLI), "ui", "--port", str(port), "--with-sample"]
    with serving(command, health, tmp_path / "ui.log", "papers ui", cwd=tmp_path, env=env) as server:
        # What the pages need was imported while the server started, not in the first visitor's view.
        assert "pandas/_libs" in Path(f"/proc/{server.pid}/maps").read_text()
    # `papers ui` became the server: stopping the command stopped it, and nothing still listens.
    with pytest.raises(OSError):
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(health, timeout=2)
    log = (tmp_path / "ui.log").read_text()
    assert "2 added" in log and f"Serving on http://127.0.0.1:{port}" in log


def test_show_stats_and_ingest_as_json_on_the_sample_library(runner: CliRunner, sample_library: Settings):
    library = ["--data-dir", str(sample_library.data_dir)]
    shown = json.loads(runner.invoke(main, [*library, "show", "Stitchable Neural Networks", "--json"]).stdout)
    assert set(shown) == {"id", "title", "date", "authors", "source", "doi", "arxiv_id", "abstract"}
    assert shown["title"] == "Stitchable Neural Networks" and shown["abstract"].startswith("The public model zoo")
    text = runner.invoke(main, [*library, "show", shown["id"]]).stdout
    assert text.startswith("Stitchable Neural Networks\n") and shown["abstract"] in text
    near = runner.invoke(main, [*library, "show", "Stichable Neural Network"])
    assert near.exit_code == 1 and "Did you mean" in near.stderr

    stats = json.loads(runner.invoke(main, [*library, "stats", "--json"]).stdout)
    assert stats["papers"] == 87 and stats["embeddings"] == LOCAL_MODEL_ID and stats["library"] == str(sample_library.data_dir)


def test_ingest_json_and_log_level(runner: CliRunner, tmp_path: Path):
    source = write_jsonl(tmp_path / "one.jsonl", [arxiv_record(SAMPLE[5], id="one"), {"id": "bad", "title": "x"}])
    result = run_cli("--data-dir", str(tmp_path / "lib"), "--log-level", "info", "ingest", str(source), "--json",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == ["one"] and report["rejected"] == [{"file": "one.jsonl", "line": 2,
                                                                 "reason": "missing or empty abstract",
                                                                 "kind": "unreadable"}]
    assert "INFO rag.library: ingested" in result.stderr
    bad = runner.invoke(main, ["--log-level", "loud", "stats"])
    assert bad.exit_code == 2 and "'loud' is not one of" in bad.output


def test_topic_needs_a_topic_and_refuses_without_the_model_when_nothing_matches(tmp_path: Path):
    """The topic digest is a command too (it was only in the app and over HTTP)."""
    source = write_jsonl(tmp_path / "one.jsonl", [arxiv_record(SAMPLE[5], id="one")])
    run_cli("--data-dir", str(tmp_path / "lib"), "ingest", str(source), cwd=tmp_path)
    env = cli_env(PAPERS_LOCAL_MODEL_PATH="/nonexistent.gguf")
    result = run_cli("--data-dir", str(tmp_path / "lib"), "topic", "protein folding with AlphaFold", "--json",
                     cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["refused"] is True
    assert_user_error(run_cli("--data-dir", str(tmp_path / "lib"), "topic", "  ", cwd=tmp_path), "empty")


def test_ingest_a_folder_reads_every_papers_file_and_names_the_others(runner: CliRunner, tmp_path: Path):
    from test_folder_readers import mixed_folder

    folder = mixed_folder(tmp_path)
    data_dir = tmp_path / "lib"
    result = runner.invoke(main, ["--data-dir", str(data_dir), "ingest", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [  # each file that gave papers, then the whole
        "  zotero.csl.json (csl_json): 4 added, 0 unchanged, 0 updated, 0 rejected, 1 skipped without an abstract",
        "  zotero_arxiv.bib (bibtex): 9 added, 0 unchanged, 0 updated, 0 rejected",
        "  storage/ABC123/zotero_scopus.ris (ris): 3 added, 0 unchanged, 0 updated, 0 rejected, 2 skipped without "
        "an abstract",
        "  storage/DEF456/pubmed.nbib (pubmed): 3 added, 0 unchanged, 0 updated, 0 rejected, 1 skipped without an "
        "abstract",
        "19 added, 0 unchanged, 0 updated, 0 rejected, 4 skipped without an abstract, 2 files skipped as not papers files",
    ]
    lines = result.stderr.splitlines()
    assert "skipped notes.txt: not a supported papers file (cannot tell what kind of papers file this is)" in lines
    assert any(line.startswith("skipped storage/ABC123/figure.png: not a supported papers file") for line in lines)
    assert any(line.startswith("skipped storage/DEF456/pubmed.nbib:") for line in lines)
    listed = json.loads(runner.invoke(main, ["--data-dir", str(data_dir), "list", "--json"]).stdout)
    assert len(listed) == 19


def test_ingest_a_folder_without_papers_files_is_an_error_and_writes_nothing(runner: CliRunner, tmp_path: Path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "a.png").write_bytes(bytes(range(256)))
    data_dir = tmp_path / "lib"
    result = runner.invoke(main, ["--data-dir", str(data_dir), "ingest", str(folder)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {folder}: none of the 1 files in this folder (a.png) gave papers")
    assert not data_dir.exists()
