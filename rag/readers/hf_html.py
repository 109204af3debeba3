"""hf_html: a Hugging Face Papers daily page (`huggingface.co/papers`, `/papers/date/YYYY-MM-DD`)
saved from the browser ("Save Page As"), read with BeautifulSoup and the stdlib JSON decoder.

The page's paper cards show titles, authors' avatars and upvotes but not abstracts. What the page
draws them from is in the page too: `<div class="SVELTE_HYDRATER" data-target="DailyPapers"
data-props="{...}">` holds, HTML-escaped, a JSON object whose `dailyPapers` list gives each paper's
arXiv id, title, `summary` (the abstract), authors and `publishedAt` date. So the reader finds that
element with BeautifulSoup (which unescapes the attribute) and decodes its JSON rather than
scraping the cards. Each paper is reported at the line of its card (`<a href="/papers/ID">`), or of
the DailyPapers element when the card is missing. A page whose JSON is cut off or not JSON (saved
before it finished loading, edited) is refused naming the file; an entry without a summary is
skipped as `NoAbstract`.

Today's copied-text reader (`hf_page`) stays for a page copied and pasted as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from rag.errors import PapersError
from rag.readers.normalise import as_text
from rag.readers.records import Item, short
from rag.readers.reference import arxiv_id, reference_paper

_HTML = re.compile(r"<html[\s>]", re.IGNORECASE)
_DAILY = re.compile(r"data-target\s*=\s*['\"]DailyPapers['\"]")
_AGAIN = "Save the page again once it has loaded (Save Page As, 'Web Page, HTML only')."


def looks_like_hf_html(text: str) -> bool:
    """An HTML page holding the Daily Papers data (`data-target="DailyPapers"`)."""
    return bool(_HTML.search(text[:5000])) and bool(_DAILY.search(text))


def read_hf_html(text: str, path: Path) -> Iterator[Item]:
    """One item per entry of the page's `dailyPapers` list, at its card's line."""
    soup = BeautifulSoup(text, "html.parser")
    block = soup.find(attrs={"data-target": "DailyPapers"})
    if not isinstance(block, Tag):
        raise PapersError(f"{path}: a Hugging Face Papers page, but its DailyPapers block (the papers' data) "
                          f"is missing or cut off. {_AGAIN}")
    line = block.sourceline or 0
    entries = _entries(block, path, line)
    if not entries:
        raise PapersError(
            f"{path}: a Hugging Face Papers page, but it lists no papers (its `dailyPapers` list is empty). "
            "Save a day that has papers (huggingface.co/papers/date/YYYY-MM-DD)."
        )
    cards: dict[str, int] = {}  # a card's first link to its paper, wherever the card's title sits
    for link in soup.select("article a[href^='/papers/']"):
        cards.setdefault(str(link.get("href", "")), link.sourceline or line)
    for number, entry in enumerate(entries, start=1):
        yield _paper(entry, number, cards, line, path)


def _entries(block: Tag, path: Path, line: int) -> list[object]:
    """The `dailyPapers` list from the block's `data-props` JSON; refuses the file when it is unreadable."""
    props = block.get("data-props")
    if not isinstance(props, str) or not props.strip():
        raise PapersError(f"{path}, line {line}: the DailyPapers block has no `data-props` (the papers' data). "
                          f"{_AGAIN}")
    try:
        data = json.loads(props)
    except ValueError as error:
        raise PapersError(
            f"{path}, line {line}: the papers' data in the DailyPapers block (`data-props`) is not valid JSON "
            f"({error}); the page is cut off or was edited. {_AGAIN}"
        ) from None
    entries = data.get("dailyPapers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise PapersError(f"{path}, line {line}: the DailyPapers block's data has no `dailyPapers` list. {_AGAIN}")
    return entries


def _paper(entry: object, number: int, cards: dict[str, int], line: int, path: Path) -> Item:
    """A Paper, `NoAbstract`, or the reason entry `number` of the list cannot be read."""
    paper = entry.get("paper") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(paper, dict):
        return line, f"entry {number} of dailyPapers has no `paper` object"
    key = as_text(paper.get("id")).strip()
    title = as_text(paper.get("title")) or as_text(entry.get("title"))
    return cards.get(f"/papers/{key}", line), reference_paper(
        path,
        what=f"paper {key or short(title)!r}",
        title=title,
        abstract=as_text(paper.get("summary")) or as_text(entry.get("summary")),
        authors=[author.get("name") for author in paper.get("authors") or [] if isinstance(author, dict)],
        date=paper.get("publishedAt") or entry.get("publishedAt"),
        arxiv=arxiv_id(key),
        fallback_id=key,
    )
