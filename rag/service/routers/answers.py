"""Search, answers, digests, comparisons and briefings over HTTP: the CLI's `--json` objects, or a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from rag.errors import PapersError
from rag.replies import Answer, Briefing, Card, Comparison, Digest, SearchHit, as_json
from rag.service.bodies import AskRequest, BriefRequest, CompareRequest, PaperRequest, SearchRequest, TopicRequest
from rag.service.deps import GenerationDep, LibraryDep
from rag.service.streams import sse

router = APIRouter(prefix="/v1", tags=["answers"])
EVENTS = {200: {"model": Answer, "content": {"text/event-stream": {}},
                "description": "The answer; with Accept: text/event-stream, the events sources, token..., "
                               "then answer or error."}}


@router.post("/search")
def search(request: SearchRequest, library: LibraryDep) -> list[SearchHit]:
    return library.search(request.query, request.k, request.filters())


@router.post("/ask", response_model=Answer, responses=EVENTS)
async def ask(request: AskRequest, http: Request, library: LibraryDep, generation: GenerationDep) -> Any:
    history = [(turn.role, turn.content) for turn in request.history]
    if "text/event-stream" not in http.headers.get("accept", ""):
        return await generation.answered(library, request.question, history, filters=request.filters())
    stream = await generation.started(library, request.question, history, filters=request.filters())

    async def events() -> AsyncIterator[str]:
        try:
            yield sse("sources", as_json(stream.sources))
            async for text in generation.text(stream):
                yield sse("token", {"text": text})
            yield sse("answer", as_json(stream.answer))
        except PapersError as exc:
            yield sse("error", {"error": str(exc)})
        finally:
            generation.leave()

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post("/topic")
async def topic(request: TopicRequest, library: LibraryDep, generation: GenerationDep) -> Answer:
    return await generation.answered(library, request.topic, (), "topic", request.filters())


@router.post("/digest")
async def digest(request: PaperRequest, library: LibraryDep, generation: GenerationDep) -> Digest:
    return await generation.call(library.digest, request.paper)


@router.post("/card")
async def card(request: PaperRequest, library: LibraryDep, generation: GenerationDep) -> Card:
    """The paper's card (TL;DR, digest, aspect cells), written on first use and cached."""
    return await generation.call(library.card, request.paper)


@router.post("/compare")
async def compare(request: CompareRequest, library: LibraryDep, generation: GenerationDep) -> Comparison:
    return await generation.call(library.compare, request.a, request.b)



@router.post("/brief")
async def brief(request: BriefRequest, library: LibraryDep, generation: GenerationDep) -> Briefing:
    """The library, or one file of it, in 4 to 12 labelled topics with a TL;DR per paper; cards not yet
    written are written first (minutes for a large listing on a laptop)."""
    return await generation.call(library.brief, request.source)
