"""MCP with the SDK's own clients: over stdio, spawning `papers mcp` on the sample library, and over
streamable HTTP, through the `papers serve` app under uvicorn. Tools reply with the CLI's
`--json` objects, as text and as structured content that their output schemas describe; a user's
mistake is a tool error carrying the message, never a traceback."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from conftest import (
    CARD_LEAF,
    CARD_TINY,
    PAPERS_CLI,
    SHORT_PAPERS,
    ScriptedModel,
    as_env,
    cli_env,
    copy_library,
    free_port,
    ingest,
    small_model,
    write_jsonl,
)
from rag.library import Library
from rag.mcp_server import HTTP_PATH
from rag.replies import as_json
from rag.service import create_app
from rag.settings import Settings

pytestmark = pytest.mark.slow

TOOLS = {"search_papers", "ask", "topic", "digest", "card", "compare", "brief", "get_paper", "list_papers", "stats"}
QUERY = "Kolmogorov-Arnold networks with learnable activation functions"
QUESTION = "How much faster than Habitat 2.0 does Galactic simulate a Fetch robot?"
TINY, LEAF = SHORT_PAPERS
DIGEST = "TinyFormer runs transformers on microcontrollers with 91% accuracy on keyword spotting and 8x less energy."
RELATION = json.dumps({"in_common": "Both are small models.", "difference": "Transformers against a CNN."})
TOPIC = "TinyFormer runs transformers on microcontrollers with 256 KB of memory [1]."


async def call(session: ClientSession, tool: str, **arguments):
    """The tool's JSON reply, or its error text for a call that failed; the structured content is
    the same value (a list wrapped as {"result": [...]})."""
    result = await session.call_tool(tool, arguments)
    assert len(result.content) == 1, result.content
    text = result.content[0].text
    if result.is_error:
        return "error", text
    value = json.loads(text)
    assert result.structured_content == (value if isinstance(value, dict) else {"result": value})
    return value


def assert_tool_error(reply, *fragments: str) -> None:
    assert reply[0] == "error", reply
    assert "Traceback" not in reply[1]
    for fragment in fragments:
        assert fragment in reply[1], reply[1]


def test_stdio_client_lists_tools_searches_lists_and_asks(sample_library: Settings, small_model_path: Path, tmp_path: Path):
    settings = small_model(small_model_path, cache_dir=tmp_path / "cache", max_answer_tokens=32)
    server = StdioServerParameters(
        command=str(PAPERS_CLI), args=["--data-dir", str(sample_library.data_dir), "mcp"],
        env=cli_env(**as_env(settings)), cwd=tmp_path,
    )

    async def session_run() -> dict:
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            return {
                "tools": {tool.name: tool for tool in tools},
                "search": await call(session, "search_papers", query=QUERY, k=3),
                "list": await call(session, "list_papers"),
                "empty": await call(session, "search_papers", query="   "),
                "k0": await call(session, "search_papers", query=QUERY, k=0),
                "filtered": await call(session, "search_papers", query=QUERY, k=3, source="hf_papers.txt",
                                       date_from="2020"),
                "bad_source": await call(session, "list_papers", source="nothing.csv"),
                "near_miss": await call(session, "digest", paper="Stichable Neural Network"),
                "ask": await call(session, "ask", question=QUESTION),
            }

    replies = asyncio.run(session_run())

    assert set(replies["tools"]) == TOOLS
    assert replies["tools"]["compare"].input_schema["required"] == ["a", "b"]
    assert all(tool.description for tool in replies["tools"].values())

    # the very objects `papers search --json` and `papers list --json` print
    library = Library(sample_library)
    assert replies["search"] == as_json(library.search(QUERY, 3))
    assert "Kolmogorov-Arnold" in replies["search"][0]["title"]
    assert replies["list"] == as_json(library.papers().items)
    assert replies["tools"]["ask"].output_schema["properties"]["refused"]["type"] == "boolean"
    assert "excerpt" not in json.dumps(replies["tools"]["ask"].output_schema)
    assert len(replies["list"]) == 87 and set(replies["list"][0]) == {"id", "title", "date", "authors", "source", "doi", "arxiv_id"}

    assert_tool_error(replies["empty"], "The question is empty")
    assert_tool_error(replies["k0"], "greater than or equal to 1")
    assert replies["filtered"] == []  # the sample's papers have no dates
    assert_tool_error(replies["bad_source"], "named 'nothing.csv'; its files: hf_papers.txt")
    assert set(replies["tools"]["search_papers"].input_schema["properties"]) == {"query", "k", "source", "date_from",
                                                                                  "date_to"}
    assert_tool_error(replies["near_miss"], "Did you mean", "Stitchable Neural Networks")

    answer = replies["ask"]
    assert set(answer) == {"answer", "citations", "sources", "removed_statements", "removed_citations", "refused"}
    assert answer["answer"].strip()
    assert any(source["title"].startswith("Galactic:") for source in answer["sources"])
    numbers = {source["n"] for source in answer["sources"]}
    assert all(citation["n"] in numbers for citation in answer["citations"])


@contextmanager
def uvicorn_server(app, port: int) -> Iterator[None]:
    """`app` served by uvicorn on a loopback port in a thread, with its lifespan, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 600
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.1)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(15)


def test_streamable_http_client_calls_the_tools_mounted_at_mcp(
    sample_library: Settings, small_model_path: Path, tmp_path: Path
):
    library = copy_library(sample_library, tmp_path / "library", **small_model(small_model_path, max_answer_tokens=32))
    assert len(ingest([write_jsonl(tmp_path / "short.jsonl", SHORT_PAPERS)], library).added) == 2
    port = free_port()
    model = ScriptedModel(responses=[DIGEST, CARD_TINY, CARD_LEAF, RELATION, TOPIC])
    app = create_app(Library(library, model))
    gate = app.state.generation.gate

    async def while_the_model_is_full(session: ClientSession) -> dict:
        """Every place at the model taken (as REST asks would): model tools are refused, searches are not."""
        for _ in range(gate.limit):
            gate.enter()
        try:
            return {"busy": await call(session, "ask", question="What is LeafCount?"),
                    "search": await call(session, "search_papers", query="leaf counting", k=1)}
        finally:
            for _ in range(gate.limit):
                gate.leave()

    async def session_run() -> dict:
        async with streamable_http_client(f"http://127.0.0.1:{port}{HTTP_PATH}") as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            return {
                "full": await while_the_model_is_full(session),
                "tools": {tool.name for tool in (await session.list_tools()).tools},
                "search": await call(session, "search_papers", query="microcontrollers keyword spotting", k=2),
                "digest": await call(session, "digest", paper=TINY["title"]),
                "compare": await call(session, "compare", a=TINY["id"], b=LEAF["title"]),
                "card": await call(session, "card", paper=TINY["id"]),  # written and cached by now
                "same": await call(session, "compare", a=TINY["id"], b=TINY["title"]),
                "refused": await call(session, "ask", question="What does AlphaFold reach on CASP14?"),
                "paper": await call(session, "get_paper", paper=LEAF["id"]),
                "stats": await call(session, "stats"),
                "topic": await call(session, "topic", topic="keyword spotting on microcontrollers"),
            }

    with uvicorn_server(app, port):
        replies = asyncio.run(session_run())

    assert_tool_error(replies["full"]["busy"], "The model is busy", "Try again in")
    assert replies["full"]["search"][0]["id"] == LEAF["id"]
    assert replies["tools"] == TOOLS
    assert replies["search"][0]["id"] == TINY["id"] and len(replies["search"]) == 2
    assert replies["digest"]["id"] == TINY["id"] and replies["digest"]["digest"].strip()
    assert set(replies["digest"]) == {"id", "title", "digest", "removed_statements"}
    comparison = replies["compare"]
    assert set(comparison) == {"a", "b", "rows", "in_common", "difference", "stronger", "fell_back"}
    assert (comparison["a"]["id"], comparison["b"]["id"]) == (TINY["id"], LEAF["id"])
    assert len(comparison["rows"]) == 7 and all(row["a"] and row["b"] for row in comparison["rows"])
    assert comparison["in_common"] == "Both are small models." and not comparison["fell_back"]
    assert replies["card"]["tldr"] == json.loads(CARD_TINY)["tldr"] and replies["card"]["digest"] == DIGEST
    assert_tool_error(replies["same"], "Both names point at the same paper")
    assert replies["refused"]["refused"] is True and replies["refused"]["citations"] == []
    assert replies["paper"]["abstract"] == LEAF["abstract"]
    assert replies["stats"]["papers"] == 89
    assert replies["topic"]["answer"].startswith("TinyFormer runs transformers on microcontrollers")
