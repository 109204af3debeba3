"""`papers serve`: the library over HTTP, for programs and teams.

REST under /v1 (replies are the CLI's `--json` objects), Server-Sent Events for a streamed answer,
an OpenAI-compatible chat endpoint, MCP at /mcp, Prometheus metrics at /metrics. Blocking pipeline
work runs on worker threads, so searches never wait behind an answer being generated.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from rag.errors import PapersError
from rag.library import Library
from rag.mcp_server import HTTP_PATH as MCP_PATH
from rag.mcp_server import http_app as mcp_http_app
from rag.replies import ErrorReply
from rag.service import errors
from rag.service.gate import GenerationGate
from rag.service.generation import Generation
from rag.service.jobs import Jobs
from rag.service.metrics import Metrics
from rag.service.middleware import LOOPBACK_NAMES, ApiKeys, BodyLimit, BrowserGuard, RequestMetrics
from rag.service.routers import answers, openai, operations
from rag.service.routers import library as library_routes

log = logging.getLogger(__name__)

ERRORS = {status: {"model": ErrorReply} for status in (400, 401, 403, 404, 413, 421, 422, 429, 503)}
REOPEN_SECONDS = 5.0


@dataclass
class Opening:
    """Whether the library is open yet, and why not."""

    ready: bool = False
    error: str | None = None


async def keep_opening(library: Library, opening: Opening) -> None:
    """Open the library before the first request needs it, retrying while it cannot be opened (a
    Chroma server still starting); /readyz says how it goes."""
    while True:
        try:
            await run_in_threadpool(library.open)
        except PapersError as exc:
            opening.error = str(exc)
            log.warning("the library cannot be opened yet: %s", exc)
        except Exception as exc:
            opening.error = f"Internal error ({type(exc).__name__}) while opening the library; the server log has the details."
            log.exception("opening the library failed")
        else:
            break
        await asyncio.sleep(REOPEN_SECONDS)
    opening.ready, opening.error = True, None
    log.info("ready")


def create_app(library: Library) -> FastAPI:
    """The service over `library`, which MCP's tools share with the routes."""
    settings = library.settings
    metrics, opening, jobs = Metrics(), Opening(), Jobs(library)
    generation = Generation(GenerationGate(settings.max_waiting, metrics.waiting), metrics)
    mcp = mcp_http_app(library, generation.gate.held)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(jobs.sweep)
        opener = asyncio.create_task(keep_opening(library, opening))
        try:
            async with mcp.router.lifespan_context(mcp):
                yield
        finally:
            opener.cancel()
            jobs.shutdown()

    app = FastAPI(title="papers", version="1", lifespan=lifespan, responses=ERRORS,
                  description="Questions, digests and comparisons over a library of research-paper abstracts, "
                              "answered with citations.")
    app.state.library, app.state.jobs, app.state.metrics, app.state.opening = library, jobs, metrics, opening
    app.state.generation = generation
    for router in (operations.router, library_routes.router, answers.router, openai.router):
        app.include_router(router)
    app.add_route(MCP_PATH, mcp, methods=["GET", "POST", "DELETE"])
    max_body = int(settings.max_upload_mb * 1024 * 1024)
    errors.install(app, max_body)
    # Added innermost first: metrics see every reply, CORS answers preflights before keys are asked.
    app.add_middleware(BodyLimit, max_bytes=max_body)
    if settings.api_key_list:
        app.add_middleware(ApiKeys, keys=settings.api_key_list)
    else:
        app.add_middleware(BrowserGuard, allowed_hosts=settings.allowed_host_list,
                           allowed_origins=settings.cors_origin_list)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Accept"])
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app


def check_bind(host: str, library: Library) -> None:
    """A service reachable from other machines answers only callers with a key."""
    if host not in LOOPBACK_NAMES and not library.settings.api_key_list:
        raise PapersError(
            f"Refusing to serve on {host} without API keys: anyone who can reach it could use and change the "
            "library. Set PAPERS_API_KEYS=key1,key2 (clients send 'Authorization: Bearer KEY'), or serve on 127.0.0.1."
        )


def serve(library: Library, host: str, port: int) -> None:
    import uvicorn

    check_bind(host, library)
    uvicorn.run(create_app(library), host=host, port=port, log_level=library.settings.log_level.lower(),
                access_log=library.settings.log_level == "DEBUG", timeout_graceful_shutdown=5)
