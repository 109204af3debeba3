"""csl_json: CSL-JSON, the citation format of Zotero ("Export -> CSL JSON"), Crossref and pandoc.

A JSON list of items with `title`, `abstract`, `author` as `{family, given}` (or `literal`),
`issued` as `{"date-parts": [[year, month, day]]}` and `DOI`. It is plain JSON, so the standard
library reads it; what sets it apart from arXiv JSON, which is also a list, is its keys
(`is_csl_json`). Lines are element numbers, as for arxiv_json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from rag.errors import PapersError
from rag.paper import Paper
from rag.readers.json_records import object_paper
from rag.readers.normalise import as_text
from rag.readers.records import Item
from rag.readers.reference import arxiv_id, reference_paper, split_keywords

_CSL_ONLY = {"issued", "container-title", "DOI", "URL", "citation-key", "title-short", "accessed"}
_ARXIV_ONLY = {"categories", "versions", "update_date", "summary", "authors", "published", "_id"}


def is_csl_json(data: object) -> bool:
    """A list whose first records (up to 20) mostly carry CSL keys, such as `issued` or
    `container-title`, or a `type` with `author` as name objects, and no arXiv-only key."""
    records = [r for r in data[:20] if isinstance(r, dict)] if isinstance(data, list) else []
    return bool(records) and sum(_is_csl_record(r) for r in records) * 2 > len(records)


def _is_csl_record(record: dict) -> bool:
    if record.keys() & _ARXIV_ONLY:
        return False
    authors = record.get("author")
    named = isinstance(authors, list) and any(isinstance(a, dict) and a.keys() & {"family", "given", "literal"}
                                               for a in authors)
    return bool(record.keys() & _CSL_ONLY) or ("type" in record and named)


def read_csl_json(text: str, path: Path) -> Iterator[Item]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PapersError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}. "
                          "Fix the file, or export it again.") from None
    if isinstance(data, dict) and isinstance(data.get("items"), list):  # Better CSL JSON's wrapped form
        data = data["items"]
    if not isinstance(data, list):
        raise PapersError(f"{path}: expected CSL-JSON, a JSON list of items; the file holds a "
                          f"{type(data).__name__}.")
    for index, record in enumerate(data, start=1):
        yield index, object_paper(record, path, _csl_paper)


def _csl_paper(record: dict, path: Path) -> Paper | str:
    doi = as_text(record.get("DOI")).strip()
    mentions = [doi, record.get("URL"), record.get("number"), record.get("container-title"), record.get("note")]
    label = as_text(record.get("citation-key") or record.get("id")).strip() or "(no id)"
    return reference_paper(
        path,
        what=f"{as_text(record.get('type')) or 'item'} {label!r}",
        title=record.get("title"),
        abstract=record.get("abstract"),
        authors=[_name(author) for author in record.get("author") or [] if isinstance(author, dict)],
        date=_issued(record.get("issued")),
        keywords=split_keywords(record.get("keyword")),
        doi=doi,
        arxiv=arxiv_id(mentions=mentions),
    )


def _name(author: dict) -> str:
    if literal := as_text(author.get("literal")).strip():
        return literal
    parts = (author.get(key) for key in ("given", "non-dropping-particle", "family", "suffix"))
    return " ".join(text for part in parts if (text := as_text(part).strip()))


def _issued(issued: object) -> str:
    """`{"date-parts": [[2024, 11, 13]]}` (numbers or strings, month and day optional), or `raw`."""
    if not isinstance(issued, dict):
        return as_text(issued)
    parts = issued.get("date-parts")
    first = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], list) else []
    numbers = [as_text(part).strip() for part in first[:3]]
    if numbers and numbers[0].isdigit():
        return "-".join([numbers[0], *(n.zfill(2) for n in numbers[1:] if n.isdigit())])
    return as_text(issued.get("raw") or issued.get("literal"))
