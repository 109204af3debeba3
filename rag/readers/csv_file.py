"""csv: a table with a title and an abstract column (comma, tab or semicolon separated).

Named csv_file so that it is never mistaken for the standard library's `csv`, which it uses.
Header names vary between exports, so each field accepts several, compared without case or
punctuation; an arXiv URL column gives the id when a row has none.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from rag.errors import PapersError
from rag.paper import Paper
from rag.readers.load import first_line
from rag.readers.records import Item, build_paper

_CSV_COLUMNS = {  # field -> accepted header names, compared lower-case without punctuation
    "title": ("title",),
    "abstract": ("abstract", "summary", "text"),
    "id": ("id", "arxivid", "paperid"),
    "authors": ("authors", "author"),
    "date": ("date", "published", "updatedate", "year"),
    "categories": ("categories", "tags"),
    "doi": ("doi",),
    "url": ("url",),
}
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/(.+?)(?:v\d+)?(?:\.pdf)?$")


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _csv_delimiter(header_line: str) -> str:
    return max(",\t;", key=header_line.count)


def has_csv_header(text: str) -> bool:
    """True when the first line names a title column and an abstract-like column."""
    first = first_line(text)
    try:
        cells = next(csv.reader([first], delimiter=_csv_delimiter(first)), [])
    except csv.Error:  # e.g. a stray carriage return in a file of random bytes
        return False
    keys = {_header_key(cell) for cell in cells}
    return bool(keys & set(_CSV_COLUMNS["title"])) and bool(keys & set(_CSV_COLUMNS["abstract"]))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _csv_column_map(header: list[str], path: Path) -> dict[str, int]:
    """Field -> column index; the first accepted name present wins."""
    keys = [_header_key(cell) for cell in header]
    columns = {}
    for field, names in _CSV_COLUMNS.items():
        index = next((keys.index(name) for name in names if name in keys), None)
        if index is not None:
            columns[field] = index
    missing = [field for field in ("title", "abstract") if field not in columns]
    if missing:
        needed = " and ".join(f"{_article(field)} {field}" for field in missing)
        raise PapersError(
            f"{path}: the CSV needs {needed} column; the columns found are: {', '.join(header) or '(none)'}. "
            "Rename them (accepted: title; abstract, summary or text)."
        )
    return columns


def read_csv(text: str, path: Path) -> Iterator[Item]:
    """One paper per row; `line` is where the (possibly multi-line) record starts."""
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # abstracts can pass the 128 KiB default
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_csv_delimiter(first_line(text)))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), [])
        columns = _csv_column_map(header, path)
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in row):
                yield start, _csv_paper(row, columns, path)
    except csv.Error as exc:
        message = f"{path}: broken CSV near line {reader.line_num}: {exc}. Check its quoting."
        raise PapersError(message) from None


def _csv_paper(row: list[str], columns: dict[str, int], path: Path) -> Paper | str:
    def cell(field: str) -> str:
        index = columns.get(field)
        return row[index] if index is not None and index < len(row) else ""

    url_id = _ARXIV_URL.search(cell("url").strip())
    return build_paper(
        path,
        id=cell("id") or (url_id.group(1) if url_id else ""),
        title=cell("title"),
        abstract=cell("abstract"),
        authors=cell("authors"),
        date=cell("date"),
        categories=cell("categories"),
        doi=cell("doi"),
    )
