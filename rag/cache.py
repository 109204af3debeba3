"""Model outputs kept on disk as JSON, one file per key of everything they depend on.

Keys hold the paper's content hash, the model and the prompt version, so an edited abstract, another
model or a reworded prompt never gets an old result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


class DiskCache:
    def __init__(self, folder: Path, *key: str) -> None:
        name = hashlib.sha256("\0".join(key).encode()).hexdigest()[:24]
        self.path = folder / f"{name}.json"

    def read(self) -> dict | None:
        """None when there is no record, or none this code can read (then it is made again)."""
        try:
            record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def write(self, record: dict) -> None:
        """Written whole, then renamed, so a crash never leaves half a record to be served.

        The cache is a convenience: a failed write (disk full, read-only folder) leaves no file
        behind and the caller's result stands; it is computed again next time."""
        handle = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, suffix=".tmp") as handle:
                json.dump(record, handle, ensure_ascii=False)
            os.replace(handle.name, self.path)
        except BaseException as exc:
            if handle is not None:
                Path(handle.name).unlink(missing_ok=True)
            if not isinstance(exc, OSError):
                raise
