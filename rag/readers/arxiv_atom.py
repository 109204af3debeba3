"""arxiv_atom: a saved reply of the arXiv API (`export.arxiv.org/api/query`), an Atom feed, read with feedparser.

feedparser rather than ElementTree: it knows Atom and the arXiv extension namespace (`arxiv:doi`,
`arxiv:primary_category` come out as `arxiv_doi`, `arxiv_primary_category`), parses dates, and
reports a broken document as `bozo` with the SAX error's line, which the message quotes. It is
given a stream, never the text itself, so it cannot take a reply for a URL or a file name and
reach the network. Each entry gives the title, the summary (the abstract), authors, the published
date, categories, the DOI and the arXiv id (from the entry's `abs` URL, without its version); the
id is the paper's id as in every reader (see `reference`). An entry without a summary is skipped
as `NoAbstract`; the API's own error entry (a bad query saved as the reply) is rejected saying so.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from xml.sax import SAXParseException

import feedparser

from rag.errors import PapersError
from rag.readers.normalise import as_text
from rag.readers.records import Item
from rag.readers.reference import arxiv_id, reference_paper

_FEED = re.compile(r"<(?:\w+:)?feed\b[^>]*\bxmlns(?::\w+)?\s*=\s*[\"']http://www\.w3\.org/2005/Atom[\"']")
_ARXIV = re.compile(r"arxiv\.org/(?:api\b|abs/)", re.IGNORECASE)
_ENTRY = re.compile(r"<(?:\w+:)?entry[\s>]")
_SNIFF = 4000  # the feed's head holds its id and self link, and the first entry's id


def looks_like_arxiv_atom(text: str) -> bool:
    """An Atom feed whose head names the arXiv API (its id, its self link) or an arxiv.org/abs entry."""
    head = text.lstrip()[:_SNIFF]
    return head.startswith("<") and bool(_FEED.search(head)) and bool(_ARXIV.search(head))


def read_arxiv_atom(text: str, path: Path) -> Iterator[Item]:
    """One item per `<entry>`, at the line its tag is on; a document that is not well-formed XML raises."""
    feed = feedparser.parse(io.BytesIO(text.encode("utf-8")), sanitize_html=False, resolve_relative_uris=False)
    if feed.bozo and isinstance(feed.bozo_exception, SAXParseException):
        error = feed.bozo_exception
        raise PapersError(
            f"{path}: broken XML at line {error.getLineNumber()}, column {error.getColumnNumber() + 1}: "
            f"{error.getMessage()}. The saved arXiv API reply is cut off or damaged; save it again "
            "(in the browser: Save Page As, or `curl -o FILE URL`)."
        )
    lines = [text.count("\n", 0, match.start()) + 1 for match in _ENTRY.finditer(text)]
    for number, entry in enumerate(feed.entries):
        yield (lines[number] if number < len(lines) else 0), _atom_paper(entry, path)


def _atom_paper(entry: dict, path: Path):
    link = as_text(entry.get("id"))
    if "arxiv.org/api/errors" in link:
        return f"the arXiv API answered with an error: {as_text(entry.get('summary')).strip()}"
    arxiv = arxiv_id(None, [link, *(as_text(item.get("href")) for item in entry.get("links", []))])
    return reference_paper(
        path,
        what=f"entry {arxiv or link or as_text(entry.get('title')).strip()!r}",
        title=entry.get("title"),
        abstract=entry.get("summary"),
        authors=[as_text(author.get("name")) for author in entry.get("authors", [])],
        date=entry.get("published") or entry.get("updated"),
        keywords=[as_text(tag.get("term")) for tag in entry.get("tags", [])],
        doi=entry.get("arxiv_doi"),
        arxiv=arxiv,
    )
