"""Upload jobs: files a client sent, ingested one job at a time on a worker thread of the process that
took them, and kept in the library folder, so that every `papers serve` sharing the folder answers
GET /v1/jobs/ID and a restart forgets none.

In `<library>/jobs/`: `ID.json`, the job as GET /v1/jobs/ID shows it and the process that runs it,
replaced whole at each change (a reader never sees half a file); `ID/`, the uploaded files under
generated names (the client's names are kept only for messages) until the job ends; and
`owners/OWNER.lock`, locked by each process that took jobs for as long as it lives. A job still
queued or running whose process no longer holds its lock was interrupted: whichever process looks
first reports it failed, saying to upload again, and removes its files. The oldest finished jobs
are forgotten past `JOB_RETENTION`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout
from pydantic import BaseModel

from rag.errors import NotFound, PapersError
from rag.library import Library
from rag.replies import Job
from rag.uploads import shown_name, stored_name

log = logging.getLogger(__name__)

JOB_RETENTION = 1000
PROGRESS_SECONDS = 0.5
"""How often a running job's progress is written to its file."""
JOB_ID = re.compile(r"[0-9a-f]{32}")
INTERRUPTED = ("Interrupted: the server that took this upload stopped before it was done (the papers it had "
               "already added stay in the library). Upload the files again to add the rest.")


class Record(BaseModel):
    """A job's file: the job, and the process (its owner token) that runs it."""

    job: Job
    owner: str


class Jobs:
    def __init__(self, library: Library) -> None:
        self.library = library
        self.folder = library.settings.data_dir / "jobs"
        self.owner = uuid.uuid4().hex
        self._alive: FileLock | None = None
        self._queued: set[str] = set()
        self._queue_lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")

    def submit(self, uploads: list[tuple[str | None, BinaryIO]], format: str | None, keep_partial: bool) -> str:
        """Store the uploaded files and queue their ingest; blocking, so call it on a worker thread."""
        self.library.store.check_writable()
        self._hold_alive()
        job_id = uuid.uuid4().hex
        self._save(job_id, Job())  # first, so that no other process takes the files below for litter
        files = self.folder / job_id
        try:
            files.mkdir()
            paths, names = [], []
            for number, (client_name, data) in enumerate(uploads):
                paths.append(files / stored_name(client_name, number))
                names.append(shown_name(client_name, number))
                with paths[-1].open("wb") as out:
                    shutil.copyfileobj(data, out)
            with self._queue_lock:
                self._queued.add(job_id)
            self.executor.submit(self._run, job_id, files, paths, names, format, keep_partial)
        except BaseException:
            shutil.rmtree(files, ignore_errors=True)
            self._file(job_id).unlink(missing_ok=True)
            raise
        self._forget_oldest()
        return job_id

    def get(self, job_id: str) -> Job:
        record = self._load(job_id) if JOB_ID.fullmatch(job_id) else None
        if record is None:
            raise NotFound(f"No upload job '{job_id}' in this library (the last {JOB_RETENTION} are kept).")
        if record.job.state in ("queued", "running") and not self._is_alive(record.owner):
            self._interrupt(job_id, record.job)
        return record.job

    def sweep(self) -> None:
        """At start: the jobs of processes that are gone are reported interrupted, and uploaded files that
        no job will ingest are removed."""
        if not self.folder.is_dir():
            return
        try:
            for path in list(self.folder.glob("*.json")):
                self.get(path.stem)
            for files in self.folder.iterdir():
                if files.is_dir() and JOB_ID.fullmatch(files.name):
                    record = self._load(files.name)
                    if record is None or record.job.state in ("done", "failed"):
                        shutil.rmtree(files, ignore_errors=True)
        except OSError as exc:  # a read-only library folder: nothing of its jobs can change
            log.warning("could not tidy the upload jobs in %s: %s", self.folder, exc)

    def shutdown(self) -> None:
        """Queued jobs are dropped with their files and reported interrupted; a running one finishes its
        current write."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        with self._queue_lock:
            dropped, self._queued = self._queued, set()
        for job_id in dropped:
            self._interrupt(job_id, Job())

    def _run(self, job_id: str, files: Path, paths: list[Path], names: list[str], format: str | None,
             keep_partial: bool) -> None:
        with self._queue_lock:
            if job_id not in self._queued:  # dropped at shutdown
                return
            self._queued.discard(job_id)
        job = Job(state="running")
        self._save(job_id, job)
        written = time.monotonic()

        def progress(done: int, total: int) -> None:
            nonlocal written
            job.done, job.total = done, total
            if done == total or time.monotonic() - written >= PROGRESS_SECONDS:
                self._save(job_id, job)
                written = time.monotonic()

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
        finally:  # the files go first: a job that says it ended has left nothing behind
            shutil.rmtree(files, ignore_errors=True)
            self._save(job_id, job)

    def _interrupt(self, job_id: str, job: Job) -> None:
        shutil.rmtree(self.folder / job_id, ignore_errors=True)
        job.state, job.error = "failed", INTERRUPTED
        self._save(job_id, job)

    # --- the job files and their owners' locks ---------------------------------------------------------

    def _file(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def _save(self, job_id: str, job: Job) -> None:
        """Written beside, then renamed over the old file: a reader sees the old job or the new one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        writing = self.folder / f".{job_id}.{uuid.uuid4().hex}.tmp"
        writing.write_text(Record(job=job, owner=self.owner).model_dump_json())
        os.replace(writing, self._file(job_id))

    def _load(self, job_id: str) -> Record | None:
        try:
            return Record.model_validate_json(self._file(job_id).read_text())
        except FileNotFoundError:
            return None

    def _owner_lock(self, owner: str) -> FileLock:
        (self.folder / "owners").mkdir(parents=True, exist_ok=True)
        return FileLock(self.folder / "owners" / f"{owner}.lock", thread_local=False)

    def _hold_alive(self) -> None:
        """This process's lock, held until it exits, which says to every other process that its jobs run."""
        if self._alive is None:
            self._alive = self._owner_lock(self.owner)
            self._alive.acquire()

    def _is_alive(self, owner: str) -> bool:
        if owner == self.owner:
            return True
        lock = self._owner_lock(owner)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        Path(lock.lock_file).unlink(missing_ok=True)
        return False

    def _forget_oldest(self) -> None:
        """Another process may forget the same jobs meanwhile: a file gone already is passed over."""
        ages = {}
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                ages[path] = path.stat().st_mtime
        for path in sorted(ages, key=ages.get)[: max(0, len(ages) - JOB_RETENTION)]:
            record = self._load(path.stem)
            if record is not None and record.job.state in ("done", "failed"):
                path.unlink(missing_ok=True)
