"""Readers: turn a papers file (HF listing page, arXiv JSON/JSONL, BEIR corpus, CSV) into Papers.

The rest of the library imports only from here, so how a file is loaded, detected and parsed can
change, and formats can be added (see `formats`), without touching ingest, the CLI or the UI.
Mistakes that stop the whole file (missing, empty, binary, unrecognisable, no valid record) raise
`PapersError` with a message that names the file and says what to fix; one broken record only
becomes a `Rejection`.
"""

from __future__ import annotations

from pathlib import Path

from rag.readers.detect import detect, format_name
from rag.readers.formats import FORMATS, REGISTRY
from rag.readers.load import load_text
from rag.readers.records import (
    MAX_REJECTED_SHARE,
    ReadResult,
    Rejection,
    collect,
    counted,
    mostly_rejected_error,
    no_papers_error,
)

__all__ = ["FORMATS", "ReadResult", "Rejection", "detect_format", "read_papers"]


def read_papers(path: Path, format: str | None = None, keep_partial: bool = False,
                name: str | None = None) -> ReadResult:
    """Read every paper in `path`; `format` (a `--format` name) skips detection. `name` is what
    messages and the papers' `source` call the file when it is not `path` (an upload's own name).

    A file whose records are mostly rejected is almost never what the user meant, so it is
    refused unless `keep_partial` asks for its good records anyway.
    """
    path = Path(path)
    shown = Path(name) if name else path
    fmt = format_name(format, shown) if format else None
    text = load_text(path, shown)
    fmt = fmt or detect(text, shown)
    papers, rejected = collect(REGISTRY[fmt].read(text, shown), shown.name)
    if not papers:
        raise no_papers_error(shown, fmt, rejected)
    garbage = counted(rejected)  # entries without an abstract are reported, not held against the file
    if not keep_partial and len(garbage) > MAX_REJECTED_SHARE * (len(papers) + len(garbage)):
        raise mostly_rejected_error(shown, fmt, text, papers, garbage)
    return ReadResult(papers, rejected, fmt)


def detect_format(path: Path) -> str:
    """The format name `read_papers` would use for `path`, judged by content first."""
    path = Path(path)
    return detect(load_text(path), path)
