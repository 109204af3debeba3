"""The briefing: topics grouped from the vectors already stored, each paper in exactly one, 4 to 12 of
them, the same every time; and `papers brief`, POST /v1/brief and the MCP tool `brief` giving the
issue's JSON. Grouping is checked on the sample library's 87 papers without a model; whole briefings
on a small library of two files, whose cards and labels SmolLM2 writes once for the module."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import (
    PAPERS_CLI,
    PROJECT_DIR,
    SHORT_PAPERS,
    arxiv_record,
    as_env,
    cli_env,
    ingest,
    library_settings,
    run_cli,
    sample_papers,
    small_model,
    write_jsonl,
)
from rag import clusters
from rag.briefing import (
    LABEL_WORDS,
    MAX_TOPICS,
    MIN_TOPICS,
    brief,
    checked_label,
    distinctive_words,
    topic_counts,
)
from rag.errors import NotFound
from rag.library import Library
from rag.replies import as_json
from rag.service import create_app
from rag.settings import Settings
from rag.store import open_store

SHORT_IDS = {paper["id"] for paper in SHORT_PAPERS}
PROMPTS = PROJECT_DIR / "prompts"
"""This checkout's prompts, also for the `papers` processes (an installed package may hold others)."""


def test_the_sample_listing_falls_into_4_to_12_groups_the_same_each_time(sample_library: Settings):
    vectors = open_store(sample_library).paper_vectors()
    assert set(vectors) == {paper.id for paper in sample_papers()}
    assert all(abs(np.linalg.norm(vector) - 1) < 1e-6 for vector in vectors.values())
    ids = sorted(vectors)
    groups = clusters.best_grouping(np.array([vectors[i] for i in ids]), topic_counts(len(ids)))
    assert MIN_TOPICS <= len(set(groups)) <= MAX_TOPICS and len(groups) == len(ids)
    again = clusters.best_grouping(np.array([vectors[i] for i in ids]), topic_counts(len(ids)))
    assert (again == groups).all()  # one seed: the same points in the same order give the same groups


def test_topic_counts_stay_within_4_to_12_and_the_papers():
    assert [list(topic_counts(n)) for n in (1, 3, 4, 14)] == [[1], [3], [4], [4]]
    assert topic_counts(15) == range(4, 6) and topic_counts(87) == range(4, 13) and topic_counts(5000) == range(4, 13)


def test_a_label_is_2_to_6_new_words_that_name_only_what_the_papers_do():
    text = "TinyFormer runs transformers on microcontrollers. LeafCount counts leaves."
    assert checked_label(' "Topic: transformers on microcontrollers." ', text, []) == "Transformers on microcontrollers"
    assert checked_label("transformers", text, []) == ""
    assert checked_label("one two three four five six seven", text, []) == ""
    assert checked_label("Transformers on microcontrollers", text, ["transformers on Microcontrollers"]) == ""
    assert checked_label("BERT on microcontrollers", text, []) == ""  # a name the papers do not hold
    assert checked_label("Neural networks", "neural networks for leaves", [], {"neural", "network"}) == ""
    fallback = distinctive_words(["leaf counting greenhouse leaf photos", "transformers microcontrollers"], 0)
    assert fallback.startswith("Leaf") and len(fallback.split()) in LABEL_WORDS


@pytest.fixture(scope="module")
def small_library(small_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Two files: the two short papers, and the four sample papers with the shortest abstracts; briefed
    once here, so the cards and labels the other tests read are cached."""
    folder = tmp_path_factory.mktemp("briefing")
    settings = library_settings(folder / "library", **small_model(
        small_model_path, cache_dir=folder / "cache", max_answer_tokens=32, prompts_dir=PROMPTS))
    shortest = sorted(sample_papers(), key=lambda paper: len(paper.abstract))[:4]
    four = write_jsonl(folder / "four.jsonl", [arxiv_record(paper, id=paper.id) for paper in shortest])
    report = ingest([write_jsonl(folder / "short.jsonl", SHORT_PAPERS), four], settings)
    assert len(report.added) == 6, report.summary()
    return settings


def briefed_ids(briefing: dict) -> list[str]:
    return [paper["id"] for topic in briefing["topics"] for paper in topic["papers"]]


def assert_contract(briefing: dict) -> None:
    """Exactly the issue's JSON: {"topics": [{"label", "papers": [{"id", "title", "tldr"}]}]}."""
    assert set(briefing) == {"topics"}
    for topic in briefing["topics"]:
        assert set(topic) == {"label", "papers"} and topic["label"].strip() and topic["papers"]
        assert all(set(paper) == {"id", "title", "tldr"} and paper["tldr"].strip() for paper in topic["papers"])


@pytest.mark.slow
def test_every_paper_is_in_exactly_one_of_4_topics_the_same_each_time(small_library: Settings):
    library = Library(small_library)
    steps: list[tuple[int, int]] = []
    briefing = library.brief(progress=lambda done, total: steps.append((done, total)))
    ids = briefed_ids(as_json(briefing))
    assert sorted(ids) == sorted(paper.id for paper in library.store.papers())  # each once, none left out
    assert len(briefing.topics) == MIN_TOPICS
    assert all(len(topic.label.split()) in LABEL_WORDS for topic in briefing.topics)
    assert len({topic.label.casefold() for topic in briefing.topics}) == len(briefing.topics)
    assert steps[-1] == (6 + MIN_TOPICS, 6 + MIN_TOPICS) and len(steps) == 6 + MIN_TOPICS
    papers = library.store.papers()
    vectors = library.store.paper_vectors()
    assert brief(papers[::-1], vectors, library.model, small_library) == briefing  # whatever the order given
    assert len({(p.x, p.y) for t in briefing.topics for p in t.papers}) == 6  # each paper its own point on the map
    assert_contract(as_json(briefing))  # the map's coordinates are not sent


@pytest.mark.slow
def test_a_source_file_briefs_only_its_papers(small_library: Settings):
    library = Library(small_library)
    by_name = library.brief("short.jsonl")
    assert sorted(briefed_ids(as_json(by_name))) == sorted(SHORT_IDS)
    assert len(by_name.topics) == 2  # fewer than 4 papers: a topic each
    assert library.brief("/somewhere/else/short.jsonl") == by_name  # a path names its file
    with pytest.raises(NotFound, match="four.jsonl, short.jsonl"):
        library.brief("nothing.jsonl")


@pytest.mark.slow
def test_the_cli_prints_markdown_or_the_json_contract(small_library: Settings, tmp_path: Path):
    env = cli_env(**as_env({"data_dir": small_library.data_dir, "llm_backend": "local",
                            "local_model_path": small_library.local_model_path, "local_threads": 1,
                            "cache_dir": small_library.cache_dir, "max_answer_tokens": 32, "prompts_dir": PROMPTS}))
    result = run_cli("brief", "--source", "short.jsonl", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    briefing = json.loads(result.stdout)
    assert_contract(briefing)
    assert sorted(briefed_ids(briefing)) == sorted(SHORT_IDS)
    shown = run_cli("brief", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert sum(line.startswith("## ") for line in lines) == MIN_TOPICS
    tiny = next(line for line in lines if SHORT_PAPERS[0]["title"] in line)
    assert tiny.startswith(f"- **{SHORT_PAPERS[0]['title']}** — ") and tiny.endswith(f"[{SHORT_PAPERS[0]['id']}]")
    missing = run_cli("brief", "--source", "nothing.jsonl", cwd=tmp_path, env=env)
    assert missing.returncode == 1 and missing.stderr.startswith("Error: No papers in the library were read")


@pytest.mark.slow
def test_post_brief_gives_the_contract_and_refuses_what_it_cannot_brief(small_library: Settings):
    with TestClient(create_app(Library(small_library)), base_url="http://127.0.0.1:8000") as client:
        reply = client.post("/v1/brief", json={"source": "short.jsonl"})
        assert reply.status_code == 200, reply.text
        assert_contract(reply.json())
        assert sorted(briefed_ids(reply.json())) == sorted(SHORT_IDS)
        assert sorted(briefed_ids(client.post("/v1/brief", json={}).json())) == sorted(
            p.id for p in Library(small_library).store.papers())
        assert client.post("/v1/brief", json={"source": "nothing.jsonl"}).status_code == 404
        assert client.post("/v1/brief", json={"source": ""}).status_code == 422
        schema = client.get("/openapi.json").json()
        assert "x" not in schema["components"]["schemas"]["BriefPaper"]["properties"]


@pytest.mark.slow
def test_the_mcp_tool_brief_gives_the_contract(small_library: Settings, tmp_path: Path):
    settings = {"data_dir": small_library.data_dir, "llm_backend": "local", "local_threads": 1,
                "local_model_path": small_library.local_model_path, "cache_dir": small_library.cache_dir,
                "max_answer_tokens": 32, "prompts_dir": PROMPTS}
    server = StdioServerParameters(command=str(PAPERS_CLI), args=["mcp"], env=cli_env(**as_env(settings)), cwd=tmp_path)

    async def session_run():
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tool = next(t for t in (await session.list_tools()).tools if t.name == "brief")
            return tool, await session.call_tool("brief", {"source": "short.jsonl"}), \
                await session.call_tool("brief", {"source": "nothing.jsonl"})

    tool, result, missing = asyncio.run(session_run())
    assert tool.description and set(tool.output_schema["properties"]) == {"topics"}
    assert not result.is_error and result.structured_content == json.loads(result.content[0].text)
    assert_contract(result.structured_content)
    assert sorted(briefed_ids(result.structured_content)) == sorted(SHORT_IDS)
    assert missing.is_error and "No papers in the library were read" in missing.content[0].text
