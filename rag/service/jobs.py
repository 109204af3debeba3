"""Upload jobs: files a client sent, ingested one job at a time on a worker thread.

Jobs live in the memory of the process that took them; the oldest finished ones are forgotten past
`JOB_RETENTION`. Each job's files sit in a temporary folder of their own, under generated names
(the client's names are kept only for messages), and the folder is removed when the job ends,
fails, or is dropped at shutdown.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from rag.errors import NotFound, PapersError
from rag.library import Library
from rag.replies import Job
from rag.uploads import shown_name, stored_name

log = logging.getLogger(__name__)

JOB_RETENTION = 1000


class Jobs:
    def __init__(self, library: Library) -> None:
        self.library = library
        self.table: dict[str, Job] = {}
        self.folders: dict[str, Path] = {}
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")

    def submit(self, uploads: list[tuple[str | None, BinaryIO]], format: str | None, keep_partial: bool) -> str:
        """Store the uploaded files and queue their ingest; blocking, so call it on a worker thread."""
        folder = Path(tempfile.mkdtemp(prefix="papers-upload-"))
        try:
            paths, names = [], []
            for number, (client_name, data) in enumerate(uploads):
                paths.append(folder / stored_name(client_name, number))
                names.append(shown_name(client_name, number))
                with paths[-1].open("wb") as out:
                    shutil.copyfileobj(data, out)
            job_id = uuid.uuid4().hex
            self.table[job_id], self.folders[job_id] = Job(), folder
            while len(self.table) > JOB_RETENTION:
                self.table.pop(next(iter(self.table)))
            self.executor.submit(self._run, job_id, paths, names, format, keep_partial)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return job_id

    def get(self, job_id: str) -> Job:
        if job_id not in self.table:
            raise NotFound(f"No upload job '{job_id}' (jobs are kept in the memory of the process that took them).")
        return self.table[job_id]

    def shutdown(self) -> None:
        """Queued jobs are dropped with their files; a running one finishes its current write."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        for job_id, folder in list(self.folders.items()):
            if self.table.get(job_id, Job()).state == "queued":
                shutil.rmtree(folder, ignore_errors=True)

    def _run(self, job_id: str, paths: list[Path], names: list[str], format: str | None, keep_partial: bool) -> None:
        job = self.table.get(job_id) or Job()
        job.state = "running"

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            report = self.library.ingest(paths, format, progress, keep_partial, names)
            job.added, job.unchanged, job.updated = len(report.added), len(report.unchanged), len(report.updated)
            job.merged = len(report.merged)
            job.rejected, job.files, job.state = report.rejected, report.files, "done"
        except PapersError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:
            log.exception("upload job %s failed", job_id)
            job.error, job.state = f"Internal error ({type(exc).__name__}); the server log has the details.", "failed"
        finally:
            shutil.rmtree(self.folders.pop(job_id), ignore_errors=True)
