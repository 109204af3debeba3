"""arxiv_search: an arXiv search results page (`arxiv.org/search/?query=...`) saved from the browser
("Save Page As"), read with BeautifulSoup.

BeautifulSoup on the stdlib `html.parser`, as for the listing pages (`arxiv_html`): the markup is
arXiv's own and a saved page is often re-indented, which breaks patterns but not a parser.

A results page is an `<ol>` of `<li class="arxiv-result">`: the id link (`p.list-title`), the
subject tags, `p.title`, `p.authors`, the abstract twice (`span.abstract-short`, cut with an
ellipsis, and `span.abstract-full`, both ending in a More/Less link), `p.is-size-7` with the
submission dates and, when known, the DOI. Only the full abstract is kept: the short one is cut
mid-sentence. The search highlights matched words with `<span class="search-hit">`, sometimes inside
a word ("learning-based"), so text is joined without adding spaces. A page saved with "Hide
abstracts" gives `NoAbstract` for every result and is refused saying how to show them. The date is
the first version's ("v1 submitted ..." when the paper was revised, else "Submitted ..."), as the
arXiv API's `published`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from rag.readers.normalise import normalise_text
from rag.readers.records import Item, page_items
from rag.readers.reference import arxiv_id, reference_paper

_HTML = re.compile(r"<html[\s>]", re.IGNORECASE)
_RESULT = re.compile(  # a result, or the page's title when a search found nothing
    r"<li\s+class\s*=\s*['\"][^'\"]*\barxiv-result\b|<title>\s*Search\s*\|\s*arXiv", re.IGNORECASE
)
_ARXIV = re.compile(r"arxiv\.org|/abs/\d{4}\.\d{4,5}|arXiv:\d{4}\.\d{4,5}", re.IGNORECASE)
_SUBMITTED = re.compile(r"(?:v1\s+)?submitted\s+(\d{1,2}\s+[A-Za-z]+),?\s+(\d{4})", re.IGNORECASE)


def looks_like_arxiv_search(text: str) -> bool:
    """An HTML page with arXiv's search results markup (`li.arxiv-result`, or the search page's title)
    that names arXiv."""
    return bool(_HTML.search(text[:5000])) and bool(_RESULT.search(text)) and bool(_ARXIV.search(text))


def read_arxiv_search(text: str, path: Path) -> Iterator[Item]:
    """One item per `li.arxiv-result`, at the line it starts on."""
    items = list(_results(BeautifulSoup(text, "html.parser"), path))
    yield from page_items(
        items,
        f"{path}: an arXiv search page, but it shows no results (no `li.arxiv-result` in it). Save the "
        "search again once it lists papers (Save Page As, 'Web Page, HTML only').",
        f"{path}: none of the {len(items)} results on this arXiv search page shows its abstract (it was "
        "saved with 'Hide abstracts'), so there is nothing to search. Choose 'Show abstracts' above the "
        "results and save the page again, or use an arXiv API reply (arxiv_atom) for these papers.",
    )


def _results(soup: BeautifulSoup, path: Path) -> Iterator[Item]:
    for result in soup.select("li.arxiv-result"):
        line = result.sourceline or 0
        links = [str(a.get("href", "")) for a in result.select("p.list-title a")]
        number = arxiv_id(None, links)
        title = _text(result.select_one("p.title"))
        if not title:
            yield line, f"result {number or '?'} without its title: the page is cut off"
            continue
        yield line, reference_paper(
            path,
            what=f"result {number or title!r}",
            title=title,
            abstract=_abstract(result.select_one("span.abstract-full")),
            authors=[_text(a) for a in result.select("p.authors a")],
            date=_first_submitted(result.select_one("p.is-size-7")),
            keywords=[_text(tag) for tag in result.select("div.tags.is-inline-block span.tag")],
            doi=_doi(result),
            arxiv=number,
        )


def _text(tag: Tag | None) -> str:
    """The tag's text joined as the browser shows it: no space added between inline elements."""
    return normalise_text(tag.get_text()) if tag else ""


def _abstract(span: Tag | None) -> str:
    """The full abstract without its '△ Less' link."""
    if span is None:
        return ""
    for link in span.find_all("a"):
        link.decompose()
    return _text(span)


def _first_submitted(dates: Tag | None) -> str:
    """'2 December 2025' from 'Submitted 11 December, 2025; v1 submitted 2 December, 2025; ...'."""
    found = _SUBMITTED.findall(_text(dates))
    return " ".join(found[-1]) if found else ""


def _doi(result: Tag) -> str:
    link = result.select_one("div.tags.has-addons a[href*='doi.org/']")
    return str(link.get("href", "")) if link else ""
