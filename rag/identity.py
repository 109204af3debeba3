"""Which records are one paper, whatever file they came from: the same id (an arXiv id when the
record gives one), the same DOI, or the same title once case, braces and punctuation are set aside.

The same paper is often met twice: in a listing page and a Zotero export, as an arXiv id in one file
and a DOI in another. It stays one paper: the record read first keeps its id and fields, and a later
record only fills the fields it lacked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from rag.paper import Paper
from rag.readers.records import title_key

MIN_TITLE_WORDS = 3
"""A title of fewer words ("Introduction", "Editorial") is too common to say two records are one paper."""


def identity_keys(paper: Paper) -> list[str]:
    keys = [f"id:{paper.id}"]
    if paper.doi:
        keys.append(f"doi:{paper.doi.casefold()}")
    title = title_key(paper.title)
    if len(title.split()) >= MIN_TITLE_WORDS:
        keys.append(f"title:{title}")
    return keys


def filled(earlier: Paper, later: Paper) -> Paper:
    """The earlier record with the fields it lacked taken from the later one."""
    return replace(
        earlier,
        abstract=earlier.abstract or later.abstract,
        authors=earlier.authors or later.authors,
        date=earlier.date or later.date,
        categories=earlier.categories or later.categories,
        doi=earlier.doi or later.doi,
    )


class Identities:
    """Papers found by any of their keys."""

    def __init__(self, papers: Iterable[Paper] = ()) -> None:
        self._by_key: dict[str, Paper] = {}
        for paper in papers:
            self.add(paper)

    def find(self, paper: Paper) -> Paper | None:
        return next((self._by_key[key] for key in identity_keys(paper) if key in self._by_key), None)

    def add(self, paper: Paper) -> None:
        """Known by its keys from now on; a merged record replaces the one it was merged into."""
        for key in identity_keys(paper):
            self._by_key[key] = paper
