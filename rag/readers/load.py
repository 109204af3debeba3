"""A papers file's bytes to text, or a `PapersError` that says what is wrong with the file.

Whatever stops the whole file before any record is read (missing, a directory, unreadable,
damaged gzip, binary, not UTF-8, empty) is caught here, once, for every format.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from rag.errors import PapersError

_GZIP_MAGIC = b"\x1f\x8b"


def load_text(path: Path, shown: Path | None = None) -> str:
    """The file's text, un-gzipped and decoded, or a PapersError saying what is wrong with it;
    messages call the file `shown` when given."""
    return decode_text(load_bytes(path, shown or path), shown or path)


def load_bytes(path: Path, shown: Path) -> bytes:
    """The file's bytes (a PDF is read from these), or a PapersError if it cannot be read."""
    if not path.exists():
        raise PapersError(f"{shown}: no such file. Check the path and try again.")
    if path.is_dir():
        raise PapersError(f"{shown} is a directory; give the path of a papers file inside it.")
    try:
        return path.read_bytes()
    except PermissionError:
        message = f"{shown}: permission denied. Make the file readable (chmod +r) and retry."
        raise PapersError(message) from None
    except OSError as exc:
        raise PapersError(f"{shown}: cannot read the file ({exc.strerror or exc}).") from None


def decode_text(data: bytes, path: Path) -> str:
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            message = f"{path} looks gzip-compressed but is damaged ({exc}); download it again."
            raise PapersError(message) from None
    if b"\0" in data:
        raise PapersError(
            f"{path} looks like a binary file (it contains NUL bytes). Give a text file of papers "
            "saved as UTF-8 (UTF-16 text also looks like this: re-save it as UTF-8)."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PapersError(
            f"{path} is not UTF-8 text (undecodable byte at offset {exc.start}). Re-save it as UTF-8."
        ) from None
    if not text.strip():
        raise PapersError(f"{path} is empty. Put some papers in it, or point at another file.")
    return text


def first_line(text: str) -> str:
    """The first non-blank line: a CSV file's header, and what an error quotes a file as starting with."""
    return next((line for line in text.split("\n") if line.strip()), "")
