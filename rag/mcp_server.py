"""The library as MCP tools, for assistants and editors: over stdio (`papers mcp`) or streamable HTTP.

Each tool calls the pipeline function its CLI command calls and replies with the JSON object that
command prints with `--json`. A user's mistake (`PapersError`) comes back as a tool error carrying
the message, which the calling model can read and act on.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import Field
from starlette.applications import Starlette

from rag.ask import ask as run_ask
from rag.compare import compare as run_compare
from rag.digest import digest as run_digest
from rag.errors import PapersError
from rag.retrieval import Retriever
from rag.settings import Settings

INSTRUCTIONS = (
    "A library of research-paper abstracts. search_papers finds papers; ask answers a question with "
    "numbered citations of the papers used; digest summarises one paper; compare sets two side by side; "
    "list_papers lists every paper. Papers are named by id or title."
)
HTTP_PATH = "/mcp"


def reply(compute: Callable[[], Any]) -> CallToolResult:
    """The CLI's `--json` value as one JSON text block, or a tool error with the message that says what to fix."""
    try:
        value = compute()
    except PapersError as exc:
        raise ToolError(str(exc)) from exc
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(value, ensure_ascii=False))])


def build_server(settings: Settings) -> MCPServer:
    """The five tools over one library. The retriever is opened on first use, so a client's start is
    quick, and then shared, so calls pay for the store and BM25 index once; the SDK runs each tool on
    a worker thread."""
    server = MCPServer("papers", instructions=INSTRUCTIONS, log_level="WARNING")
    retriever = functools.cache(lambda: Retriever(settings))

    @server.tool()
    def search_papers(
        query: Annotated[str, Field(description="What to look for: a question or a few words.")],
        k: Annotated[int | None, Field(ge=1, le=100, description="Papers to return (default PAPERS_TOP_K).")] = None,
    ) -> CallToolResult:
        """Find the papers that best match a query (hybrid dense + BM25). Returns a JSON array, best first,
        of {id, title, score, passages}."""
        return reply(lambda: [hit.as_dict() for hit in retriever().search(query, k)])

    @server.tool()
    def ask(
        question: Annotated[str, Field(description="A question the library's abstracts may answer.")],
    ) -> CallToolResult:
        """Answer a question from the library, citing the papers used as [n]. Returns JSON {answer,
        citations: [{n, id, title, passage}], sources: [{n, id, title}], removed_statements}; an answer the
        library does not support says so."""
        return reply(lambda: run_ask(question, settings=settings, retriever=retriever()).as_dict())

    @server.tool()
    def digest(
        paper: Annotated[str, Field(description="The paper's id or title.")],
    ) -> CallToolResult:
        """A one-paragraph digest of one paper, checked against its abstract. Returns JSON {id, title, digest}."""
        return reply(lambda: run_digest(paper, settings=settings, store=retriever().store).as_dict())

    @server.tool()
    def compare(
        a: Annotated[str, Field(description="The first paper's id or title.")],
        b: Annotated[str, Field(description="The second paper's id or title.")],
    ) -> CallToolResult:
        """Compare two papers on the same aspects (problem, approach, data, results, limitations). Returns
        JSON {a: {id, title}, b: {id, title}, rows: [{aspect, a, b}], in_common, difference}."""
        return reply(lambda: run_compare(a, b, settings=settings, store=retriever().store).as_dict())

    @server.tool()
    def list_papers() -> CallToolResult:
        """Every paper in the library, by title. Returns a JSON array of {id, title, date, authors, source}."""
        return reply(lambda: [paper.as_dict() for paper in retriever().store.papers()])

    return server


def http_app(settings: Settings, host: str = "127.0.0.1") -> Starlette:
    """The tools as streamable HTTP at `HTTP_PATH`, stateless, so any of several `papers serve`
    processes can answer any request. Its lifespan runs the SDK's session manager, which must be
    running while requests arrive. `host` is the address served: on loopback the SDK also refuses
    requests whose Host or Origin header names another site (DNS rebinding)."""
    return build_server(settings).streamable_http_app(
        streamable_http_path=HTTP_PATH, stateless_http=True, host=host
    )
