"""arxiv_html: an arXiv listing page (`/list/cs.LG/new`, `/recent`, a month) saved from the browser
("Save Page As"), read with BeautifulSoup.

BeautifulSoup on the stdlib `html.parser` rather than regular expressions: arXiv's markup changes
(quote style, `href =` with a space, extra spans) and a saved page is often re-indented, which
breaks patterns but not a parser; `html.parser` needs no compiled dependency, never reaches the
network, and gives each tag's source line for the rejection report. lxml or selectolax would be
faster, but a saved listing holds at most a few thousand entries.

A listing is `<dl id='articles'>` of `<dt>` (the arXiv id link) and `<dd>` pairs (title, authors,
subjects, and on `/new` the abstract as `<p class='mathjax'>`). Listings that show titles only
(`/recent`, a month) give `NoAbstract` for every entry, and a page where no entry has one is
refused saying which page does show them. A saved arXiv search results page is read by
`arxiv_search`.
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
_LISTING = re.compile(r"<dl\s+id\s*=\s*['\"]articles['\"]|<div\s+id\s*=\s*['\"]dlpage['\"]", re.IGNORECASE)
_ARXIV = re.compile(r"arxiv\.org|/abs/\d{4}\.\d{4,5}|arXiv:\d{4}\.\d{4,5}", re.IGNORECASE)
_CATEGORY = re.compile(r"\(([a-z\-]+(?:\.[A-Za-z\-]+)?)\)")


def looks_like_arxiv_html(text: str) -> bool:
    """An HTML page with arXiv's listing markup (`dl#articles`, `div#dlpage`) that names arXiv."""
    return bool(_HTML.search(text[:5000])) and bool(_LISTING.search(text)) \
        and bool(_ARXIV.search(text))


def read_arxiv_html(text: str, path: Path) -> Iterator[Item]:
    """One item per listing `<dt>`/`<dd>` pair, at the line its `<dt>` starts on."""
    items = list(_listing_items(BeautifulSoup(text, "html.parser"), path))
    yield from page_items(
        items,
        f"{path}: an arXiv listing page, but it lists no papers (no `<dt>` entries in it). Save the "
        "listing again once it shows papers (Save Page As, 'Web Page, HTML only').",
        f"{path}: none of the {len(items)} papers on this arXiv page shows its abstract (a /recent or "
        "monthly listing gives titles only), so there is nothing to search. Save the /new listing "
        "(arxiv.org/list/cs.LG/new), which shows abstracts, or use an arXiv API reply (arxiv_atom) "
        "for these papers.",
    )


def _listing_items(soup: BeautifulSoup, path: Path) -> Iterator[Item]:
    for dt in soup.select("dl dt"):
        dd = dt.find_next_sibling(["dd", "dt"])
        if not isinstance(dd, Tag) or dd.name != "dd":
            yield dt.sourceline or 0, "listing entry without its <dd> (title, authors): the page is cut off"
            continue
        links = [a.get("href", "") for a in dt.find_all("a")]
        number = arxiv_id(None, [f"arxiv.org{href}" if str(href).startswith("/") else href for href in links])
        abstract = dd.select_one("p.mathjax")
        subjects = _text(dd.select_one("div.list-subjects"))
        yield dt.sourceline or 0, reference_paper(
            path,
            what=f"entry {number or _text(dd.select_one('div.list-title'))!r}",
            title=_without_descriptor(dd.select_one("div.list-title")),
            abstract=_text(abstract),
            authors=[_text(a) for a in dd.select("div.list-authors a")],
            keywords=_CATEGORY.findall(subjects),
            arxiv=number,
        )


def _text(tag: Tag | None) -> str:
    return normalise_text(tag.get_text(" ")) if tag else ""


def _without_descriptor(tag: Tag | None) -> str:
    """A listing field's text without its 'Title:' label."""
    if tag is None:
        return ""
    return re.sub(r"^\s*Title:\s*", "", _text(tag))
