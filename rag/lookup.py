"""A paper named by id or title, with suggestions when the name is a near miss."""

from __future__ import annotations

import difflib

from rag.errors import NotFound, PapersError
from rag.paper import Paper
from rag.store import Store


def find_paper(store: Store, name: str) -> Paper:
    name = name.strip()
    if not name:
        raise PapersError("No paper named; give a paper id or title (`papers list` shows them).")
    paper = store.paper(name)
    if paper:
        return paper
    papers = store.papers()
    wanted = name.casefold()
    exact = [p for p in papers if p.title.casefold() == wanted]
    if exact:
        return exact[0]
    containing = [p for p in papers if wanted in p.title.casefold()]
    if len(containing) == 1:
        return containing[0]
    by_title = {p.title.casefold(): p.title for p in papers}
    close = difflib.get_close_matches(wanted, by_title, n=5, cutoff=0.5)
    suggestions = [p.title for p in containing[:5]] or [by_title[c] for c in close]
    if not suggestions:
        raise NotFound(f"No paper with the id or title '{name}'; `papers list` shows the library.")
    listed = "\n".join(f"  - {title}" for title in suggestions)
    what = "Several papers match" if containing else "No paper has exactly that title"
    raise NotFound(f"{what} '{name}'. Did you mean:\n{listed}")
