"""Running the service: liveness, readiness and Prometheus metrics, without a key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["service"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (liveness); it may still be opening the library."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Still opening the library, or it cannot be opened."}})
def readyz(request: Request) -> Response:
    """The library, its retriever and its BM25 index are open: send traffic (readiness)."""
    opening = request.app.state.opening
    if opening.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"error": opening.error or "The library is still being opened."}, status_code=503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
