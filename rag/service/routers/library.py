"""The library's papers over HTTP: list, get, delete, and uploads ingested as background jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from rag.replies import Job, JobCreated, PaperDetail, PaperPage, Stats
from rag.service.bodies import PaperListing
from rag.service.deps import JobsDep, LibraryDep

router = APIRouter(prefix="/v1", tags=["library"])
LISTED_AT = "GET /v1/papers"


@router.get("/papers")
def list_papers(library: LibraryDep, listing: Annotated[PaperListing, Query()]) -> PaperPage:
    return library.papers(listing.q, listing.limit, listing.offset, listing.source, listing.date_from, listing.date_to)


@router.get("/papers/{paper_id:path}", description="One paper with its abstract; ids may contain '/'.")
def get_paper(paper_id: str, library: LibraryDep) -> PaperDetail:
    return library.paper(paper_id, LISTED_AT)


@router.delete("/papers/{paper_id:path}", status_code=204, response_class=Response)
def delete_paper(paper_id: str, library: LibraryDep) -> Response:
    library.remove(paper_id, LISTED_AT)
    return Response(status_code=204)


@router.post("/papers", status_code=202)
async def upload(
    jobs: JobsDep,
    files: list[UploadFile] = File(min_length=1, description="Listing pages, arXiv JSON/JSONL, BEIR corpus, CSV."),
    format: str | None = Form(None, description="Force one format instead of detecting it."),
    keep_partial: bool = Form(False, description="Keep a file's good records though most are rejected."),
) -> JobCreated:
    """The files are checked exactly as `papers ingest` checks them; GET /v1/jobs/ID says how it went."""
    uploads = [(upload.filename, upload.file) for upload in files]
    return JobCreated(job=await run_in_threadpool(jobs.submit, uploads, format, keep_partial))


@router.get("/jobs/{job_id}")
def get_job(job_id: str, jobs: JobsDep) -> Job:
    return jobs.get(job_id)


@router.get("/stats")
def stats(library: LibraryDep) -> Stats:
    return library.stats()
