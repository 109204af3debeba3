"""What the reference-manager formats (BibTeX, RIS, CSL-JSON, PubMed) share: ids and skipped entries.

A reference manager's export holds books, web pages and letters beside papers, and many of them
have no abstract. Such an entry is skipped as `NoAbstract`, reported but not counted as garbage
(see `records.counted`). A paper's id is its arXiv id when the entry gives one anywhere (eprint,
URL, journal or number field, the 10.48550 DOI), else its DOI, else the title id `build_paper` makes,
so that the same paper read from an arXiv file or a listing keeps the same id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from rag.paper import ARXIV_NUMBER, Paper
from rag.readers.normalise import as_text, normalise_text
from rag.readers.records import NoAbstract, build_paper, clean_doi

_ARXIV_BARE = re.compile(rf"^\s*(?:arxiv:)?{ARXIV_NUMBER}\s*$", re.IGNORECASE)
_ARXIV_MENTION = re.compile(  # "arXiv:2101.00001", "arxiv.org/abs/2101.00001v2", "10.48550/arXiv.2101.00001"
    rf"arxiv(?:\.org/(?:abs|pdf)/|\s*[:.]\s*|\s+preprint\s+(?:arxiv:)?)\s*{ARXIV_NUMBER}", re.IGNORECASE
)


def arxiv_id(eprint: object = None, mentions: Iterable[object] = ()) -> str:
    """The arXiv id, without version: `eprint` may be a bare id; `mentions` must say arXiv."""
    if match := _ARXIV_BARE.match(as_text(eprint)):
        return match.group(1)
    for text in mentions:
        if match := _ARXIV_MENTION.search(as_text(text)):
            return match.group(1)
    return ""


def reference_paper(path: Path, *, what: str, title: object, abstract: object, authors: object = None,
                    date: object = None, keywords: object = None, doi: object = None,
                    arxiv: str = "", fallback_id: str = "") -> Paper | str:
    """A Paper, `NoAbstract` naming the entry (`what`), or the reason the entry is unreadable."""
    if not normalise_text(as_text(abstract)):
        return NoAbstract(f"no abstract: {what}")
    doi_text = clean_doi(doi)
    return build_paper(path, id=arxiv or doi_text or fallback_id, title=title, abstract=abstract,
                       authors=authors, date=date, categories=keywords, doi=doi_text)


def split_keywords(value: object) -> list[str]:
    """Keywords from a list, or from one string separated by commas or semicolons."""
    if isinstance(value, (list, tuple)):
        return [as_text(v) for v in value]
    return [part for part in re.split(r"\s*[,;]\s*", as_text(value)) if part.strip()]


def person(name: object) -> str:
    """'Family, Given' (RIS, PubMed's FAU) as 'Given Family', as the other formats write names."""
    family, comma, given = as_text(name).partition(",")
    return f"{given.strip()} {family.strip()}".strip() if comma and given.strip() else as_text(name).strip()
