"""A folder of papers files (a Zotero storage folder, a downloads folder): every file under it, in order.

A folder is not a format: each file in it is read as if it were given alone, by its own detected
(or forced) format. What a folder changes is what happens to a file that cannot be read: given
alone it stops the run; in a folder, where a user means "what in here can be read" and a Zotero
folder holds PDFs, snapshots and notes beside its exports, it is reported by name and the rest is
read. A file no reader takes (binary, not UTF-8, empty, of no known format) is skipped as
"unsupported"; one read as a papers format but refused whole (no valid record, mostly rejected) is
rejected with the reason it would have stopped the run. The run fails only when no file gives papers.
"""

from __future__ import annotations

import os
from pathlib import Path

UNSUPPORTED = "not a supported papers file"


def files_under(folder: Path) -> list[Path]:
    """Every file under `folder`, recursively and sorted, leaving out hidden files and folders
    (`.git`, `.DS_Store`, `.zotero-ft-cache`); symbolic links to folders are not followed."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / name for name in sorted(files) if not name.startswith(".")]
    return found


def without_name(message: str, shown: Path) -> str:
    """An error about one file without the file's name in front (the report names the file)."""
    return message.removeprefix(str(shown)).lstrip(": ")


def unsupported_reason(message: str, shown: Path) -> str:
    """The skip reason for a file that no reader takes, from the first sentence of the error reading
    it alone would give."""
    first = without_name(message, shown).split(". ")[0].rstrip(".")
    return f"{UNSUPPORTED} ({first})" if first else UNSUPPORTED
