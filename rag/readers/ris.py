"""ris: an RIS export (EndNote, Zotero, Mendeley, Scopus, Web of Science), read with rispy.

rispy reads tags and continuation lines, but drops a record that never closes (`ER  -`) without a
word; so the text is first cut into records here, from each `TY  -` line to its `ER  -`, and each
record is given to rispy alone. A record that does not close is then rejected at its line.
Fields: title TI or T1, abstract AB or N2, authors AU or A1, date DA, PY or Y1, DOI DO; an arXiv
id is looked for in the DOI, the URLs and the journal fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import rispy

from rag.paper import Paper
from rag.readers.normalise import as_text
from rag.readers.records import Item, short
from rag.readers.reference import arxiv_id, person, reference_paper, split_keywords

_TAG = re.compile(r"^([A-Z][A-Z0-9])  - ?")  # RIS: two characters, two spaces, a hyphen
_START, _END = "TY", "ER"


def looks_like_ris(text: str) -> bool:
    """A record that opens with `TY  -` and one that closes with `ER  -`."""
    return bool(re.search(r"^TY  - ", text, re.MULTILINE)) and bool(re.search(r"^ER  -", text, re.MULTILINE))


def ris_records(text: str) -> Iterator[tuple[int, list[str] | str]]:
    """Each record's lines from `TY` to `ER`, with the line it starts on; a reason for one left open."""
    start, lines = 0, []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        tag = _TAG.match(line)
        if tag and tag.group(1) == _START:
            if lines:
                yield start, f"record has no 'ER  -' line before the next 'TY  -' (line {number})"
            start, lines = number, [line]
        elif lines:
            lines.append(line)
            if tag and tag.group(1) == _END:
                yield start, lines
                lines = []
    if lines:
        yield start, "record has no 'ER  -' line (end of file)"


def read_ris(text: str, path: Path) -> Iterator[Item]:
    for line, record in ris_records(text):
        if isinstance(record, str):
            yield line, record
            continue
        entries = rispy.loads("\n".join(record))
        yield line, _ris_paper(entries[0], path) if entries else "record has no fields rispy can read"


def _first(entry: dict, *keys: str) -> object:
    return next((entry[key] for key in keys if entry.get(key)), None)


def _ris_paper(entry: dict, path: Path) -> Paper | str:
    title = _first(entry, "title", "primary_title")
    what = f"{as_text(entry.get('type_of_reference')) or 'record'} {short(as_text(title).strip() or '(untitled)')}"
    doi = as_text(entry.get("doi")).strip()
    urls = entry.get("urls") or []
    journals = (entry.get(key) for key in ("secondary_title", "journal_name", "alternate_title3", "notes"))
    return reference_paper(
        path,
        what=what,
        title=title,
        abstract=_first(entry, "abstract", "notes_abstract"),
        authors=[person(name) for name in _first(entry, "authors", "first_authors") or []],
        date=_ris_date(_first(entry, "date", "year", "publication_year")),
        keywords=split_keywords(entry.get("keywords") or []),
        doi=doi,
        arxiv=arxiv_id(mentions=[doi, *(urls if isinstance(urls, list) else [urls]), *journals]),
    )


def _ris_date(value: object) -> str:
    """RIS dates are `YYYY/MM/DD/other`, any part may be empty: '2025///', '2014//', '2024/05/12/'."""
    parts = [part.strip() for part in as_text(value).split("/")]
    if not parts or not re.fullmatch(r"\d{4}", parts[0]):
        return as_text(value).strip()
    month = parts[1] if len(parts) > 1 and parts[1].isdigit() else ""
    day = parts[2] if month and len(parts) > 2 and parts[2].isdigit() else ""
    return "-".join(part.zfill(2) if len(part) < 4 else part for part in (parts[0], month, day) if part)
