"""Files a user uploads (to the service or the app): never stored under the name they came with.

A client's file name may be `..`, a path, or 300 bytes long; it is kept only for messages and the
papers' `source`, and the stored copy gets a generated name that keeps a plain suffix, which the
readers may go by (".csv", ".jsonl.gz")."""

from __future__ import annotations

import re
from pathlib import Path

SUFFIX = re.compile(r"(?:\.[A-Za-z0-9]{1,10}){1,2}")
MAX_NAME = 200
"""Characters of a client's file name kept for messages."""


def shown_name(client_name: str | None, number: int) -> str:
    """The name a message gives upload `number`: the client's base name, printable, and shortened
    in the middle when long, so it keeps its suffix."""
    name = "".join(c for c in Path(client_name or "").name if c.isprintable()).strip()
    if not name.strip("."):
        return f"upload-{number + 1}"
    if len(name) > MAX_NAME:
        suffix = _suffix(name)
        name = name[: MAX_NAME - len(suffix) - 1] + "…" + suffix
    return name


def stored_name(client_name: str | None, number: int) -> str:
    """The name upload `number` is stored under: its number and, if plain, its suffix."""
    return f"{number}{_suffix(shown_name(client_name, number))}"


def _suffix(name: str) -> str:
    suffix = "".join(Path(name).suffixes[-2:])
    return suffix if SUFFIX.fullmatch(suffix) else ""
