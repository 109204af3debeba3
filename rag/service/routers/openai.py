"""OpenAI-compatible chat: any OpenAI client or chat front end can talk to the library.

The last user message is the question, earlier user and assistant turns its history; the reply is
the cited answer followed by its sources, with `citations` carrying them as data."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse

from rag.errors import NotFound, PapersError
from rag.replies import OpenAIErrorReply, as_json
from rag.service.bodies import ChatRequest
from rag.service.deps import GenerationDep, LibraryDep
from rag.service.errors import OPENAI_TYPES
from rag.wording import after_stream

MODEL_NAME = "papers"
ERRORS = {status: {"model": OpenAIErrorReply} for status in (400, 401, 403, 404, 405, 413, 421, 422, 429, 503)}
router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS)


class Completion:
    """The frame of every reply to one request: its id, time and model."""

    def __init__(self) -> None:
        self.id, self.created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def body(self, kind: str, **fields) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": MODEL_NAME, **fields}

    def chunk(self, delta: dict, finish: str | None = None, **fields) -> str:
        body = self.body("chat.completion.chunk", choices=[{"index": 0, "delta": delta, "finish_reason": finish}],
                         **fields)
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


@router.get("/models")
def models() -> dict:
    return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "papers"}]}


@router.post("/chat/completions", responses={200: {"content": {"text/event-stream": {}}}})
async def chat(request: ChatRequest, library: LibraryDep, generation: GenerationDep) -> Any:
    if request.model != MODEL_NAME:
        raise NotFound(f"No model '{request.model}'; this server offers '{MODEL_NAME}' (GET /v1/models).")
    turns = [(m.role, m.text()) for m in request.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise HTTPException(422, "The last message must be the user's question.")
    question, history = turns[-1][1], [(role, text) for role, text in turns[:-1] if text.strip()]
    completion = Completion()
    if not request.stream:
        answer = await generation.answered(library, question, history)
        message = {"role": "assistant", "content": answer.text + after_stream(answer, answer.text)}
        return completion.body("chat.completion", citations=as_json(answer.citations),
                               choices=[{"index": 0, "message": message, "finish_reason": "stop"}])
    stream = await generation.started(library, question, history)

    async def chunks() -> AsyncIterator[str]:
        streamed = ""
        try:
            yield completion.chunk({"role": "assistant", "content": ""})
            async for text in generation.text(stream):
                streamed += text
                yield completion.chunk({"content": text})
            answer = stream.answer
            yield completion.chunk({"content": after_stream(answer, streamed)}, "stop",
                                   citations=as_json(answer.citations))
        except PapersError as exc:
            error = {"message": str(exc), "type": OPENAI_TYPES[503], "code": 503}
            yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
        finally:
            generation.leave()
        yield "data: [DONE]\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
