"""The library as MCP tools, for assistants and editors: over stdio (`papers mcp`) or streamable HTTP.

Each tool calls the Library operation its CLI command calls and replies with the object that command
prints with `--json`: as one JSON text block, and as structured content. A tool is annotated with
its reply model, from which the SDK writes the tool's output schema and checks the content. A user's
mistake (`PapersError`) comes back as a tool error carrying the message, which the calling model can
read and act on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent
from pydantic import Field
from starlette.applications import Starlette

from rag.errors import PapersError
from rag.library import Library
from rag.replies import Answer, Briefing, Card, Comparison, Digest, PaperDetail, PaperInfo, SearchHit, Stats, as_json
from rag.retrieval import Filters

INSTRUCTIONS = (
    "A library of research-paper abstracts. search_papers finds papers; ask answers a question with "
    "numbered citations of the papers used; topic writes a cited paragraph on a topic; digest summarises "
    "one paper; card gives one paper's TL;DR, digest and aspect cells; compare sets two cards side by side; "
    "brief groups the papers (of one file, or all) into labelled topics; get_paper gives one paper's abstract; "
    "list_papers lists every paper; stats counts them. Papers are named by id or title."
)
HTTP_PATH = "/mcp"
PaperName = Annotated[str, Field(description="The paper's id or title.")]
Turn = Callable[[], AbstractContextManager]
"""Waits for, or refuses, the model's turn: the service's gate over HTTP, nothing over stdio (one client)."""
Source = Annotated[str, Field(description="Only papers read from this file (its name, as stats lists its "
                                          "source_files); empty: every file.")]
DateFrom = Annotated[str, Field(description="Only papers dated on or after this year, month or day "
                                            "(2021, 2021-03, 2021-03-16); empty: no bound.")]
DateTo = Annotated[str, Field(description="Only papers dated on or before this year, month or day "
                                          "(2021 takes in all of 2021); empty: no bound.")]


def reply(compute: Callable[[], Any], turn: Turn = nullcontext) -> CallToolResult:
    """The CLI's `--json` value, or a tool error with the message that says what to fix (a busy model
    included: the tool says when to try again, as the REST routes' 429 does)."""
    try:
        with turn():
            value = as_json(compute())
    except PapersError as exc:
        raise ToolError(str(exc)) from exc
    structured = value if isinstance(value, dict) else {"result": value}
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(value, ensure_ascii=False))],
                          structured_content=structured)


def build_server(library: Library, turn: Turn = nullcontext) -> MCPServer:
    """The tools over one library, which opens on first use (so a client's start is quick) and is
    then shared; the SDK runs each tool on a worker thread. The tools that use the model take `turn`."""
    server = MCPServer("papers", instructions=INSTRUCTIONS, log_level="WARNING")
    add_answer_tools(server, library, turn)
    add_library_tools(server, library)
    return server


def add_answer_tools(server: MCPServer, library: Library, turn: Turn) -> None:
    @server.tool()
    def search_papers(
        query: Annotated[str, Field(description="What to look for: a question or a few words.")],
        k: Annotated[int | None, Field(ge=1, le=100, description="Papers to return (default PAPERS_TOP_K).")] = None,
        source: Source = "", date_from: DateFrom = "", date_to: DateTo = "",
    ) -> list[SearchHit]:
        """Find the papers that best match a query (hybrid dense + BM25), best first."""
        return reply(lambda: library.search(query, k, Filters(source=source, date_from=date_from, date_to=date_to)))

    @server.tool()
    def ask(question: Annotated[str, Field(description="A question the library's abstracts may answer.")],
            source: Source = "", date_from: DateFrom = "", date_to: DateTo = "") -> Answer:
        """Answer a question from the library, citing the papers used as [n]; `refused` is true when the
        library does not answer it, and `removed_statements` lists what the checks took out."""
        return reply(lambda: library.ask(question, filters=Filters(source=source, date_from=date_from,
                                                                    date_to=date_to)), turn)

    @server.tool()
    def topic(topic: Annotated[str, Field(description="A research topic, in a few words.")],
              source: Source = "", date_from: DateFrom = "", date_to: DateTo = "") -> Answer:
        """A cited paragraph on what the library's papers say about a topic."""
        return reply(lambda: library.topic(topic, Filters(source=source, date_from=date_from, date_to=date_to)),
                     turn)

    @server.tool()
    def digest(paper: PaperName) -> Digest:
        """A one-paragraph digest of one paper, checked against its abstract."""
        return reply(lambda: library.digest(paper), turn)

    @server.tool()
    def card(paper: PaperName) -> Card:
        """One paper's card: a TL;DR, a digest and short cells on its problem, approach, data, key result and
        limitation, each checked against its abstract (`quoted` marks the abstract's own words)."""
        return reply(lambda: library.card(paper), turn)

    @server.tool()
    def compare(
        a: Annotated[str, Field(description="The first paper's id or title.")],
        b: Annotated[str, Field(description="The second paper's id or title.")],
    ) -> Comparison:
        """Compare two papers' cards on the same aspects (TL;DR, problem, approach, data, key result,
        limitation), and say what they share, how they differ and which is stronger on what they measure."""
        return reply(lambda: library.compare(a, b), turn)

    @server.tool()
    def brief(
        source: Annotated[str | None, Field(description="Only the papers read from this file (as stats lists its "
                                            "source_files); omitted: the whole library.")] = None,
    ) -> Briefing:
        """The library, or one file of it, at a glance: its papers in 4 to 12 labelled topics, each paper in
        exactly one, with a TL;DR."""
        return reply(lambda: library.brief(source), turn)


def add_library_tools(server: MCPServer, library: Library) -> None:
    @server.tool()
    def get_paper(paper: PaperName) -> PaperDetail:
        """One paper with its abstract."""
        return reply(lambda: library.show(paper))

    @server.tool()
    def list_papers(source: Source = "", date_from: DateFrom = "", date_to: DateTo = "") -> list[PaperInfo]:
        """Every paper in the library (or those the filters keep), by title."""
        return reply(lambda: library.papers(source=source, date_from=date_from, date_to=date_to).items)

    @server.tool()
    def stats() -> Stats:
        """How many papers and passages the library holds, where it lives, and its source files."""
        return reply(library.stats)


def http_app(library: Library, turn: Turn) -> Starlette:
    """The tools as streamable HTTP at `HTTP_PATH`, stateless, so any of several `papers serve`
    processes can answer any request. Its lifespan runs the SDK's session manager, which must be
    running while requests arrive. The service's own middleware guards it (keys, Host and Origin),
    so the SDK's own DNS-rebinding check, which knows no PAPERS_ALLOWED_HOSTS, is off."""
    return build_server(library, turn).streamable_http_app(
        streamable_http_path=HTTP_PATH, stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
