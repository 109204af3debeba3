"""arxiv_json and arxiv_jsonl: arXiv metadata records, as a JSON list or one record per line.

The arXiv API and the metadata snapshot name the same fields differently (`summary` or `abstract`;
`published`, or `versions` and `update_date`), so a paper takes whichever of them is present.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from rag.errors import PapersError
from rag.paper import Paper
from rag.readers.json_records import object_paper, read_json_lines
from rag.readers.normalise import parse_date
from rag.readers.records import Item, build_paper

_RECORD_LIST_KEYS = ("papers", "records", "data")


def read_arxiv_jsonl(text: str, path: Path) -> Iterator[Item]:
    return read_json_lines(text, path, _arxiv_paper)


def read_arxiv_json(text: str, path: Path) -> Iterator[Item]:
    """A top-level list, a list under 'papers'/'records'/'data', or one record."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PapersError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}. Fix the file "
            "(or, if it has one record per line, use --format arxiv_jsonl)."
        ) from None
    if isinstance(data, dict):
        key = next((k for k in _RECORD_LIST_KEYS if isinstance(data.get(k), list)), None)
        if key:
            data = data[key]
        elif "title" in data:
            data = [data]
    if not isinstance(data, list):
        raise PapersError(
            f"{path}: expected a JSON list of papers, at the top level or under one of the keys "
            f"{', '.join(_RECORD_LIST_KEYS)}."
        )
    for index, record in enumerate(data, start=1):
        yield index, object_paper(record, path, _arxiv_paper)


def _arxiv_paper(record: dict, path: Path) -> Paper | str:
    return build_paper(
        path,
        id=record.get("id"),
        title=record.get("title"),
        abstract=record.get("abstract", record.get("summary")),
        authors=record.get("authors"),
        date=_arxiv_date(record),
        categories=record.get("categories"),
        doi=record.get("doi"),
    )


def _arxiv_date(record: dict) -> object:
    """First publication: `published`, else the v1 entry of `versions`, else `update_date`."""
    versions = record.get("versions")
    first_version = versions[0] if isinstance(versions, list) and versions else None
    created = first_version.get("created") if isinstance(first_version, dict) else None
    candidates = (
        record.get("published"), created, record.get("update_date"), record.get("date"), record.get("year"),
    )
    return next((value for value in candidates if parse_date(value)), None)
