"""`papers serve`: the pipeline over HTTP for other programs, the same functions the CLI calls.

REST under /v1 (replies are the CLI's `--json` objects), Server-Sent Events for a streamed answer,
an OpenAI-compatible chat endpoint, MCP at /mcp, Prometheus metrics at /metrics. Blocking pipeline
work runs on worker threads, so searches never wait behind an answer being generated.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.ask import Answer, AnswerStream
from rag.compare import compare as run_compare
from rag.digest import digest as run_digest
from rag.errors import NotFound, PapersError, TooLarge, Unavailable
from rag.ingest import ingest as run_ingest, remove as run_remove
from rag.mcp_server import HTTP_PATH as MCP_PATH, http_app as mcp_http_app
from rag.retrieval import Retriever
from rag.settings import Settings

MODEL_NAME = "papers"
PROTECTED = ("/v1", MCP_PATH)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
RETRY_AFTER_SECONDS = 5
JOB_RETENTION = 1000
"""Finished upload jobs kept for GET /v1/jobs/ID before the oldest are forgotten."""


class Busy(PapersError):
    """More requests wait for the model than PAPERS_MAX_WAITING allows."""


def status_for(exc: PapersError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, Busy):
        return 429
    if isinstance(exc, Unavailable):
        return 503
    return 400


def check_bind(host: str, settings: Settings) -> None:
    """A service reachable from other machines answers only callers with a key."""
    if host not in LOOPBACK and not settings.api_key_list:
        raise PapersError(
            f"Refusing to serve on {host} without API keys: anyone who can reach it could use and change the "
            "library. Set PAPERS_API_KEYS=key1,key2 (clients send 'Authorization: Bearer KEY'), or serve on 127.0.0.1."
        )


# --- request bodies -------------------------------------------------------------------------------

class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, description="A question or a few words.")
    k: int | None = Field(default=None, ge=1, le=100, description="Papers to return (default PAPERS_TOP_K).")


class AskRequest(BaseModel):
    question: str = Field(min_length=1)
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first, for follow-ups.")


class DigestRequest(BaseModel):
    paper: str = Field(min_length=1, description="The paper's id or title.")


class CompareRequest(BaseModel):
    a: str = Field(description="The first paper's id or title.")
    b: str = Field(description="The second paper's id or title.")


class TopicRequest(BaseModel):
    topic: str = Field(min_length=1)


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI's content parts: keep the text ones
            return " ".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = MODEL_NAME
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


# --- replies --------------------------------------------------------------------------------------

class Job(BaseModel):
    state: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
    added: int
    unchanged: int
    updated: int
    rejected: list[dict[str, Any]]
    error: str | None


class ErrorReply(BaseModel):
    error: str


ERRORS = {status: {"model": ErrorReply} for status in (400, 401, 404, 413, 422, 429, 503)}


@dataclass
class UploadJob:
    state: str = "queued"
    done: int = 0
    total: int = 0
    added: int = 0
    unchanged: int = 0
    updated: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


# --- shared state ---------------------------------------------------------------------------------

class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("papers_requests", "HTTP requests by route and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("papers_request_seconds", "Time to answer a request, streams to their end.",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.waiting = Gauge("papers_generation_queue", "Requests waiting for, or being answered by, the model.",
                             registry=self.registry)
        self.tokens = Counter("papers_tokens_generated", "Pieces of text the model streamed (about one token each).",
                              registry=self.registry)


class GenerationGate:
    """Admits a request to the model only while fewer than `1 + max_waiting` hold or wait for it:
    beyond that the caller is told to come back, instead of a queue that grows without end."""

    def __init__(self, max_waiting: int, gauge: Gauge) -> None:
        self.limit = 1 + max_waiting
        self.count = 0
        self.lock = threading.Lock()
        self.gauge = gauge

    def enter(self) -> None:
        with self.lock:
            if self.count >= self.limit:
                raise Busy(f"The model is busy: {self.count} requests are being answered or waiting. "
                           f"Try again in {RETRY_AFTER_SECONDS} s.")
            self.count += 1
            self.gauge.set(self.count)

    def leave(self) -> None:
        with self.lock:
            self.count -= 1
            self.gauge.set(self.count)

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()


class Guard:
    """Pure ASGI middleware (it must not buffer streams): API keys on /v1 and /mcp, the body size
    limit, and the request metrics by route template."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.keys = [key.encode() for key in settings.api_key_list]
        self.max_body = int(settings.max_upload_mb * 1024 * 1024)
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def record(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, record)
            else:
                await self.app(scope, self._limited(receive), record)
        finally:
            route = getattr(scope.get("route"), "path", None) or ("/mcp" if scope["path"].startswith(MCP_PATH) else "other")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - start)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        headers = dict(scope["headers"])
        if self.keys and scope["path"].startswith(PROTECTED) and not self._authorised(headers):
            return JSONResponse({"error": "Missing or invalid API key; send 'Authorization: Bearer KEY'."},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        length = headers.get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_body:
            return too_large(self.max_body)
        return None

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        # Every key is compared, each in constant time, so the time taken tells nothing of which matched.
        return sum(hmac.compare_digest(token.strip(), key) for key in self.keys) > 0

    def _limited(self, receive: Receive) -> Receive:
        """A body sent without Content-Length (chunked) is counted as it arrives."""
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise BodyTooLarge()
            return message

        return limited


class BodyTooLarge(Exception):
    pass


def too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"The request is over the {limit / 1024 / 1024:g} MB limit; "
                                  "send fewer or smaller files, or raise PAPERS_MAX_UPLOAD_MB."}, status_code=413)


# --- streams --------------------------------------------------------------------------------------

def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def pieces(produce: Callable[[], Iterator[str]], tokens: Counter) -> AsyncIterator[str]:
    """The text a blocking generator yields, handed over from a worker thread as it comes.

    When the client goes away this generator is closed: the worker stops at its next piece and
    closes the model's stream, which frees the model for the next request."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()
    done = object()

    def work() -> None:
        iterator = produce()
        try:
            for text in iterator:
                if stop.is_set():
                    break
                tokens.inc()
                loop.call_soon_threadsafe(queue.put_nowait, text)
        except BaseException as exc:  # handed to the request, which reports it
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()
            loop.call_soon_threadsafe(queue.put_nowait, done)

    worker = loop.run_in_executor(None, work)
    try:
        while (item := await queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        await asyncio.shield(worker)


def chat_content(answer: Answer, streamed: str) -> str:
    """What a chat front end shows after the streamed text: what the checks removed and the text
    that stands (as the CLI prints them), then the cited sources."""
    parts = []
    if answer.text != streamed.strip():
        removed = "".join(f"\n- {statement}" for statement in answer.removed_statements)
        parts.append((f"\n\nRemoved, not supported by the sources:{removed}" if removed else "")
                     + f"\n\nChecked answer: {answer.text}")
    if answer.citations:
        parts.append("\n\nSources:\n" + "\n".join(f"[{c.n}] {c.title} ({c.id})" for c in answer.citations))
    return "".join(parts)


# --- the app --------------------------------------------------------------------------------------

def create_app(settings: Settings, host: str = "127.0.0.1") -> FastAPI:
    """`host` is the address served, which MCP's DNS-rebinding protection checks requests against."""
    metrics = Metrics()
    gate = GenerationGate(settings.max_waiting, metrics.waiting)
    retriever = cache(lambda: Retriever(settings))
    uploads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")  # one ingest at a time
    jobs: dict[str, UploadJob] = {}
    mcp = mcp_http_app(settings, host)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with mcp.router.lifespan_context(mcp):
            yield
        uploads.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="papers", version="1", lifespan=lifespan, responses=ERRORS,
                  description="Questions, digests and comparisons over a library of research-paper abstracts, "
                              "answered with citations.")
    app.add_route(MCP_PATH, mcp, methods=["GET", "POST", "DELETE"])
    app.add_middleware(Guard, settings=settings, metrics=metrics)

    @app.exception_handler(PapersError)
    async def papers_error(request: Request, exc: PapersError) -> JSONResponse:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, Busy) else None
        return JSONResponse({"error": str(exc)}, status_code=status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"Invalid request: {problems}"}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large(int(settings.max_upload_mb * 1024 * 1024))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"Internal error ({type(exc).__name__}); the server log has the details."},
                            status_code=500)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["service"], response_class=Response)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # --- the library ---

    @app.get("/v1/papers", tags=["library"])
    def list_papers(limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0),
                    q: str = Query("", description="Only papers whose title, id or authors contain this.")) -> dict:
        wanted = q.strip().casefold()
        papers = [p for p in retriever().store.papers()
                  if wanted in f"{p.title}\n{p.id}\n{' '.join(p.authors)}".casefold()]
        return {"total": len(papers), "items": [p.as_dict() for p in papers[offset:offset + limit]]}

    @app.get("/v1/papers/{paper_id}", tags=["library"])
    def get_paper(paper_id: str) -> dict:
        paper = retriever().store.paper(paper_id)
        if paper is None:
            raise NotFound(f"No paper with the id '{paper_id}'; GET /v1/papers lists the library.")
        return {**paper.as_dict(), "abstract": paper.abstract}

    @app.delete("/v1/papers/{paper_id}", tags=["library"], status_code=204)
    def delete_paper(paper_id: str) -> Response:
        if not run_remove(paper_id, settings):
            raise NotFound(f"No paper with the id '{paper_id}'; GET /v1/papers lists the library.")
        return Response(status_code=204)

    @app.post("/v1/papers", tags=["library"], status_code=202)
    async def upload(files: list[UploadFile] = File(min_length=1, description="Listing pages, arXiv JSON/JSONL, BEIR corpus, CSV."),
                     format: str | None = Form(None, description="Force one format instead of detecting it."),
                     keep_partial: bool = Form(False, description="Keep a file's good records though most are rejected.")
                     ) -> dict[str, str]:
        folder = Path(tempfile.mkdtemp(prefix="papers-upload-"))
        paths = []
        for number, upload_file in enumerate(files):
            name = Path(upload_file.filename or f"upload-{number}").name or f"upload-{number}"
            path = folder / f"{number}" / name
            path.parent.mkdir()
            path.write_bytes(await upload_file.read())
            paths.append(path)
        job_id = uuid.uuid4().hex
        jobs[job_id] = job = UploadJob()
        while len(jobs) > JOB_RETENTION:
            jobs.pop(next(iter(jobs)))
        uploads.submit(ingest_job, job, paths, folder, format, keep_partial)
        return {"job": job_id}

    def ingest_job(job: UploadJob, paths: list[Path], folder: Path, format: str | None, keep_partial: bool) -> None:
        job.state = "running"

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            report = run_ingest(paths, settings, format, progress, keep_partial)
            job.added, job.unchanged, job.updated = len(report.added), len(report.unchanged), len(report.updated)
            job.rejected = [{**asdict(r), "file": _shown(r.file, folder)} for r in report.rejected]
            job.state = "done"
        except PapersError as exc:
            job.error, job.state = _shown(str(exc), folder), "failed"
        except Exception as exc:
            job.error, job.state = f"Internal error ({type(exc).__name__}).", "failed"
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
                path.parent.rmdir()
            folder.rmdir()

    @app.get("/v1/jobs/{job_id}", tags=["library"])
    def get_job(job_id: str) -> Job:
        if job_id not in jobs:
            raise NotFound(f"No upload job '{job_id}' (jobs are kept in the memory of the process that took them).")
        return Job(**asdict(jobs[job_id]))

    @app.post("/v1/search", tags=["answers"])
    def search(request: SearchRequest) -> list[dict]:
        return [hit.as_dict() for hit in retriever().search(request.query, request.k)]

    # --- answers ---

    def answer_stream(question: str, history: list[tuple[str, str]], prompt_name: str = "ask") -> AnswerStream:
        return AnswerStream(question, history, settings=settings, retriever=retriever(), prompt_name=prompt_name)

    async def answered(question: str, history: list[tuple[str, str]], prompt_name: str = "ask") -> Answer:
        stream = await started(question, history, prompt_name)
        try:
            async for _ in pieces(lambda: iter(stream), metrics.tokens):
                pass
        finally:
            gate.leave()
        return stream.answer

    async def started(question: str, history: list[tuple[str, str]], prompt_name: str = "ask") -> AnswerStream:
        """Admitted to the model with its sources retrieved, before the response starts, so that a
        refusal (429, 413, ...) is still an HTTP status. The stream's reader must call `gate.leave()`."""
        gate.enter()
        try:
            return await run_in_threadpool(answer_stream, question, history, prompt_name)
        except BaseException:
            gate.leave()
            raise

    @app.post("/v1/ask", tags=["answers"],
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "The answer; with Accept: text/event-stream, the events "
                                              "sources, token..., then answer or error."}})
    async def ask(request: AskRequest, http: Request) -> Any:
        history = [(turn.role, turn.content) for turn in request.history]
        if "text/event-stream" not in http.headers.get("accept", ""):
            return (await answered(request.question, history)).as_dict()
        stream = await started(request.question, history)

        async def events() -> AsyncIterator[str]:
            try:
                yield sse("sources", [source.as_dict() for source in stream.sources])
                async for text in pieces(lambda: iter(stream), metrics.tokens):
                    yield sse("token", {"text": text})
                yield sse("answer", stream.answer.as_dict())
            except PapersError as exc:
                yield sse("error", {"error": str(exc)})
            finally:
                gate.leave()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/topic", tags=["answers"])
    async def topic(request: TopicRequest) -> dict:
        return (await answered(request.topic, [], "topic")).as_dict()

    @app.post("/v1/digest", tags=["answers"])
    async def digest(request: DigestRequest) -> dict:
        async with gate.admitted():
            return (await run_in_threadpool(run_digest, request.paper, settings=settings,
                                            store=retriever().store)).as_dict()

    @app.post("/v1/compare", tags=["answers"])
    async def compare(request: CompareRequest) -> dict:
        async with gate.admitted():
            return (await run_in_threadpool(run_compare, request.a, request.b, settings=settings,
                                            store=retriever().store)).as_dict()

    # --- OpenAI-compatible chat ---

    @app.get("/v1/models", tags=["openai"])
    def models() -> dict:
        return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "papers"}]}

    @app.post("/v1/chat/completions", tags=["openai"],
              responses={200: {"content": {"text/event-stream": {}}}})
    async def chat(request: ChatRequest) -> Any:
        """The last user message is the question, earlier user and assistant turns its history; the
        reply is the cited answer followed by its sources, with `citations` carrying them as data."""
        if request.model != MODEL_NAME:
            raise NotFound(f"No model '{request.model}'; this server offers '{MODEL_NAME}' (GET /v1/models).")
        turns = [(m.role, m.text()) for m in request.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1][0] != "user":
            raise HTTPException(422, "The last message must be the user's question.")
        question, history = turns[-1][1], turns[:-1]
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def completion(kind: str, **fields) -> dict:
            return {"id": reply_id, "object": kind, "created": created, "model": MODEL_NAME, **fields}

        if not request.stream:
            answer = await answered(question, history)
            content = answer.text + chat_content(answer, answer.text)
            return completion("chat.completion", citations=[c.as_dict() for c in answer.citations], choices=[
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}])
        stream = await started(question, history)

        def chunk(delta: dict, finish: str | None = None, **fields) -> str:
            body = completion("chat.completion.chunk", choices=[{"index": 0, "delta": delta, "finish_reason": finish}],
                              **fields)
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        async def chunks() -> AsyncIterator[str]:
            streamed: list[str] = []
            try:
                yield chunk({"role": "assistant", "content": ""})
                async for text in pieces(lambda: iter(stream), metrics.tokens):
                    streamed.append(text)
                    yield chunk({"content": text})
                answer = stream.answer
                yield chunk({"content": chat_content(answer, "".join(streamed))}, "stop",
                            citations=[c.as_dict() for c in answer.citations])
            except PapersError as exc:
                yield f"data: {json.dumps({'error': {'message': str(exc)}})}\n\n"
            finally:
                gate.leave()
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


def _shown(text: str, folder: Path) -> str:
    """A rejection or error names an uploaded file as the client sent it, not where the server kept it."""
    return re.sub(rf"{re.escape(str(folder))}/\d+/", "", text)


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    check_bind(host, settings)
    uvicorn.run(create_app(settings, host), host=host, port=port, log_level="info",
                access_log=False, timeout_graceful_shutdown=5)
