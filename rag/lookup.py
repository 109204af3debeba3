"""A paper named by id or title, with suggestions when the name is a near miss."""

from __future__ import annotations

import difflib

from rag.errors import NotFound, PapersError
from rag.paper import Paper
from rag.store import Store
from rag.wording import NO_PAPER_NAMED, did_you_mean, no_paper_called


def find_paper(store: Store, name: str) -> Paper:
    name = name.strip()
    if not name:
        raise PapersError(NO_PAPER_NAMED)
    paper = store.paper(name)
    if paper:
        return paper
    exact = store.titled(name)
    if exact:
        return exact[0]
    papers = store.papers()
    wanted = name.casefold()
    containing = [p for p in papers if wanted in p.title.casefold()]
    if len(containing) == 1:
        return containing[0]
    by_title = {p.title.casefold(): p.title for p in papers}
    close = difflib.get_close_matches(wanted, by_title, n=5, cutoff=0.5)
    suggestions = [p.title for p in containing[:5]] or [by_title[c] for c in close]
    if not suggestions:
        raise NotFound(no_paper_called(name))
    raise NotFound(did_you_mean(name, suggestions, bool(containing)))
