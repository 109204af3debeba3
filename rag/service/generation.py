"""Answers over HTTP: admitted to the model by the gate, prepared on a worker thread, streamed from it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from rag.ask import AnswerStream, Turn
from rag.library import NO_FILTERS, Library
from rag.replies import Answer
from rag.retrieval import Filters
from rag.service.gate import GenerationGate
from rag.service.metrics import Metrics
from rag.service.streams import pieces

T = TypeVar("T")


class Generation:
    """The service's one gate to the model, shared by every request whatever library it asks."""

    def __init__(self, gate: GenerationGate, metrics: Metrics) -> None:
        self.gate = gate
        self.metrics = metrics

    async def started(self, library: Library, question: str, history: Sequence[Turn] = (),
                      prompt_name: str = "ask", filters: Filters = NO_FILTERS) -> AnswerStream:
        """Admitted to the model with its sources retrieved, before the response starts, so that a
        refusal (429, 413, ...) is still an HTTP status. The caller must `leave` once it is done with it."""
        self.gate.enter()
        try:
            return await run_in_threadpool(library.ask_stream, question, history, prompt_name, filters)
        except BaseException:
            self.gate.leave()
            raise

    def text(self, stream: AnswerStream) -> AsyncIterator[str]:
        """The stream's text as the model writes it."""
        return pieces(lambda: iter(stream), self.metrics.tokens)

    def leave(self) -> None:
        """The model is free for the next request."""
        self.gate.leave()

    async def answered(self, library: Library, question: str, history: Sequence[Turn] = (),
                       prompt_name: str = "ask", filters: Filters = NO_FILTERS) -> Answer:
        stream = await self.started(library, question, history, prompt_name, filters)
        try:
            async for _ in self.text(stream):
                pass
        finally:
            self.leave()
        return stream.answer

    async def call(self, work: Callable[..., T], *args) -> T:
        """A model call that does not stream (a digest, a comparison), in its turn."""
        async with self.gate.admitted():
            return await run_in_threadpool(work, *args)
