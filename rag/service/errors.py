"""One error shape: `{"error": message}` under /v1 and everywhere else, OpenAI's error object on the
OpenAI-compatible routes (so OpenAI clients show the message), and the status a mistake deserves."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.errors import NotFound, PapersError, TooLarge, Unavailable

log = logging.getLogger(__name__)

OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
RETRY_AFTER_SECONDS = 5
OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "invalid_request_error", 422: "invalid_request_error",
                429: "rate_limit_error", 503: "server_error"}


class Busy(PapersError):
    """More requests wait for the model than PAPERS_MAX_WAITING allows."""


class BodyTooLarge(Exception):
    """A request body grew past PAPERS_MAX_UPLOAD_MB while it was read."""


def status_for(exc: PapersError) -> int:
    for kind, status in ((NotFound, 404), (TooLarge, 413), (Busy, 429), (Unavailable, 503)):
        if isinstance(exc, kind):
            return status
    return 400


def error_response(path: str, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    if path.startswith(OPENAI_PATHS):
        kind = OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        body: dict = {"error": {"message": message, "type": kind, "code": status}}
    else:
        body = {"error": message}
    return JSONResponse(body, status_code=status, headers=headers)


def too_large_message(limit_bytes: int) -> str:
    return (f"The request is over the {limit_bytes / 1024 / 1024:g} MB limit; "
            "send fewer or smaller files, or raise PAPERS_MAX_UPLOAD_MB.")


def install(app: FastAPI, max_body: int) -> None:
    """Every failure a route can meet, as the one error shape."""

    @app.exception_handler(PapersError)
    async def papers_error(request: Request, exc: PapersError) -> JSONResponse:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, Busy) else None
        return error_response(request.url.path, status_for(exc), str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(request.url.path, 422, f"Invalid request: {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Unknown routes, 405s and bodies FastAPI could not parse; a body cut off at the size limit
        while FastAPI parsed it is the 413 it is."""
        if isinstance(exc.__cause__, BodyTooLarge):
            return error_response(request.url.path, 413, too_large_message(max_body))
        message = {404: f"No route {request.method} {request.url.path}; GET /docs lists the routes.",
                   405: f"{request.method} is not allowed on {request.url.path}; GET /docs lists the routes."}
        return error_response(request.url.path, exc.status_code, message.get(exc.status_code, str(exc.detail)),
                              exc.headers)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(request.url.path, 413, too_large_message(max_body))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(request.url.path, 500,
                              f"Internal error ({type(exc).__name__}); the server log has the details.")
