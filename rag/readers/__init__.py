"""Readers: turn a papers file (HF listing page, arXiv JSON/JSONL, BEIR corpus, CSV...), or a folder
of them, into Papers.

The rest of the library imports only from here, so how a file is loaded, detected and parsed can
change, and formats can be added (see `formats`), without touching ingest, the CLI or the UI.
Mistakes that stop the whole file (missing, empty, binary, unrecognisable, no valid record) raise
`PapersError` with a message that names the file and says what to fix; one broken record only
becomes a `Rejection`.
"""

from __future__ import annotations

from pathlib import Path

from rag.errors import PapersError
from rag.readers.detect import FORMATS_HELP, detect, format_name
from rag.readers.folder import files_under, unsupported_reason, without_name
from rag.readers.formats import FORMATS, REGISTRY
from rag.readers.load import decode_text, load_bytes
from rag.readers.pdf import is_pdf
from rag.readers.records import (
    MAX_REJECTED_SHARE,
    FileRead,
    ReadResult,
    Rejection,
    collect,
    counted,
    mostly_rejected_error,
    no_papers_error,
)

__all__ = ["FORMATS", "FileRead", "ReadResult", "Rejection", "detect_format", "read_folder", "read_papers"]


def read_papers(path: Path, format: str | None = None, keep_partial: bool = False,
                name: str | None = None) -> ReadResult:
    """Read every paper in `path`; `format` (a `--format` name) skips detection. `name` is what
    messages and the papers' `source` call the file when it is not `path` (an upload's own name).

    A file whose records are mostly rejected is almost never what the user meant, so it is
    refused unless `keep_partial` asks for its good records anyway.
    """
    path = Path(path)
    shown = Path(name) if name else path
    if path.is_dir():
        return read_folder(path, format, keep_partial, shown)
    fmt = format_name(format, shown) if format else None
    data = load_bytes(path, shown)
    if fmt == "pdf" or (fmt is None and is_pdf(data)):
        return _read_binary(data, shown)
    text = decode_text(data, shown)
    return _read_text(text, shown, fmt or detect(text, shown), keep_partial)


def read_folder(folder: Path, format: str | None = None, keep_partial: bool = False,
                shown: Path | None = None) -> ReadResult:
    """Every papers file under `folder` (see `folder`): a file no reader takes is a Rejection of kind
    "unsupported", one refused whole a Rejection saying why. Raises when no file gives papers, so a
    wrong folder does not pass as an empty success."""
    shown = shown or folder
    fmt = format_name(format, shown) if format else None
    files = files_under(folder)
    read: list[FileRead] = []
    rejected: list[Rejection] = []
    for path in files:
        relative = str(path.relative_to(folder))  # how the report names it; errors name `shown/relative`
        name = shown / relative
        try:
            data = load_bytes(path, name)
            binary = fmt == "pdf" or (fmt is None and is_pdf(data))
            text = "" if binary else decode_text(data, name)
            file_fmt = "pdf" if binary else fmt or detect(text, name)
        except PapersError as exc:
            rejected.append(Rejection(file=relative, line=0, reason=unsupported_reason(str(exc), name),
                                      kind="unsupported"))
            continue
        try:
            result = (_read_binary(data, name, relative) if binary
                      else _read_text(text, name, file_fmt, keep_partial, relative))
        except PapersError as exc:  # refused whole, as it would be alone: reported, the folder goes on
            rejected.append(Rejection(file=relative, line=0, reason=without_name(str(exc), name)))
            continue
        read += result.files
        rejected += result.rejected
    if not read:
        names = ", ".join(r.file for r in rejected[:5])
        listed = f" ({names}{', ...' if len(rejected) > 5 else ''})" if rejected else ""
        raise PapersError(
            f"{shown}: none of the {len(files)} files in this folder{listed} gave papers, "
            f"so nothing was added. Supported formats: {FORMATS_HELP}."
            if files else f"{shown}: this folder holds no files (hidden ones are left out). "
            "Point at the folder your papers files are in."
        )
    return ReadResult(read, rejected, fmt or "folder")


def _read_binary(data: bytes, shown: Path, source: str = "") -> ReadResult:
    """A PDF: one paper, or the PapersError its reader raises saying why there is none."""
    source = source or shown.name
    papers, rejected = collect(REGISTRY["pdf"].read_bytes(data, shown), source)
    if not papers:
        raise no_papers_error(shown, "pdf", rejected)
    return ReadResult([FileRead(source, "pdf", papers)], rejected, "pdf")


def _read_text(text: str, shown: Path, fmt: str, keep_partial: bool, source: str = "") -> ReadResult:
    """`source` is what Rejections call the file: its name, or its path inside an ingested folder."""
    source = source or shown.name
    papers, rejected = collect(REGISTRY[fmt].read(text, shown), source)
    if not papers:
        raise no_papers_error(shown, fmt, rejected)
    garbage = counted(rejected)  # entries without an abstract are reported, not held against the file
    if not keep_partial and len(garbage) > MAX_REJECTED_SHARE * (len(papers) + len(garbage)):
        raise mostly_rejected_error(shown, fmt, text, papers, garbage)
    return ReadResult([FileRead(source, fmt, papers)], rejected, fmt)


def detect_format(path: Path) -> str:
    """The format name `read_papers` would use for `path`, judged by content first."""
    path = Path(path)
    data = load_bytes(path, path)
    return "pdf" if is_pdf(data) else detect(decode_text(data, path), path)
