"""Which registered format a file is: the name given with `--format`, else what its content shows.

The content is looked at rather than the extension because one extension covers several formats:
a `.json` file may hold a list or one record per line, of arXiv, CSL or BEIR records, and a `.txt`
may be a PubMed export or a copied page. JSON lists are told apart by their records' keys.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.errors import PapersError
from rag.readers.arxiv_atom import looks_like_arxiv_atom
from rag.readers.arxiv_html import looks_like_arxiv_html
from rag.readers.arxiv_search import looks_like_arxiv_search
from rag.readers.beir import is_beir
from rag.readers.bibtex import looks_like_bibtex
from rag.readers.csl_json import is_csl_json
from rag.readers.csv_file import has_csv_header
from rag.readers.formats import FORMATS, REGISTRY
from rag.readers.hf_html import looks_like_hf_html
from rag.readers.hf_page import looks_like_hf_page
from rag.readers.json_records import json_lines
from rag.readers.medline import looks_like_medline
from rag.readers.ris import looks_like_ris

_ALIASES = {"json": "arxiv_json", "jsonl": "arxiv_jsonl", "bib": "bibtex", "csl": "csl_json",
            "nbib": "pubmed", "medline": "pubmed", "atom": "arxiv_atom", "arxiv_api": "arxiv_atom",
            "arxiv_listing": "arxiv_html", "arxiv_search_html": "arxiv_search",
            "hf_daily": "hf_html", "hf_papers_html": "hf_html"}
_FIRST_RECORDS = 20  # how many records of a JSON list decide whose keys it has
FORMATS_HELP = ", ".join(f"{name} ({entry.note})" if entry.note else name for name, entry in REGISTRY.items())


def format_name(name: str, path: Path) -> str:
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        choices = ", ".join(FORMATS + tuple(_ALIASES))
        raise PapersError(f"{path}: unknown --format {name!r}; choose one of: {choices}.")
    return key


def detect(text: str, path: Path) -> str:
    """Content decides; the `.csv` extension only settles text that is no kind of JSON."""
    head = text.lstrip()
    if head.startswith("["):
        return "csl_json" if is_csl_json(_first_records(head)) else "arxiv_json"
    if head.startswith("{"):
        return _detect_json_object(text, path)
    if looks_like_arxiv_atom(text):
        return "arxiv_atom"
    if looks_like_arxiv_html(text):
        return "arxiv_html"
    if looks_like_arxiv_search(text):
        return "arxiv_search"
    if looks_like_hf_html(text):
        return "hf_html"
    if looks_like_medline(text):
        return "pubmed"
    if looks_like_ris(text):
        return "ris"
    if looks_like_bibtex(text):
        return "bibtex"
    if path.name.lower().removesuffix(".gz").endswith((".csv", ".tsv")) or has_csv_header(text):
        return "csv"
    if looks_like_hf_page(text):
        return "hf_page"
    raise PapersError(
        f"{path}: cannot tell what kind of papers file this is. Supported formats: {FORMATS_HELP}. "
        "Use --format NAME to force one."
    )


def _detect_json_object(text: str, path: Path) -> str:
    """One object in the file is arxiv_json, else it is JSON Lines; BEIR when records have _id and text."""
    try:
        first = json.loads(text)
    except ValueError:
        first = next((obj for _, obj in json_lines(text) if isinstance(obj, dict)), None)
        if first is None:
            raise PapersError(
                f"{path} starts like JSON but no line parses as a JSON object. Fix the JSON, "
                "or use --format NAME to force a reader."
            ) from None
        return "beir" if is_beir(first) else "arxiv_jsonl"
    if isinstance(first, dict) and is_csl_json(first.get("items")):
        return "csl_json"
    return "beir" if is_beir(first) else "arxiv_json"


def _first_records(text: str) -> list[object]:
    """The first records of a JSON list, decoded one at a time so a large file is not parsed twice;
    as many as decode (none when the list is broken: its reader then says where)."""
    decoder, records, index = json.JSONDecoder(), [], 1
    while len(records) < _FIRST_RECORDS:
        index = len(text) - len(text[index:].lstrip(" \t\r\n,"))
        if index >= len(text) or text[index] == "]":
            break
        try:
            record, index = decoder.raw_decode(text, index)
        except ValueError:
            break
        records.append(record)
    return records
