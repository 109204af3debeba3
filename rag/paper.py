"""A paper as the library holds it: the record every reader makes and every later step reads."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

ARXIV_NUMBER = r"(\d{4}\.\d{4,5}|[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?"
"""An arXiv id, new style (2101.00001) or old (hep-th/9901001), with the version left out of the group."""
_ARXIV_DOI = re.compile(rf"^10\.48550/arxiv\.{ARXIV_NUMBER}$", re.IGNORECASE)


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    date: str = ""
    source_file: str = ""
    """The name of the file the paper was read from."""
    categories: tuple[str, ...] = ()
    doi: str = ""

    @property
    def arxiv_id(self) -> str:
        """The arXiv id when the paper's id is one or its DOI is arXiv's; empty otherwise."""
        if match := re.fullmatch(ARXIV_NUMBER, self.id, re.IGNORECASE) or _ARXIV_DOI.match(self.doi):
            return match.group(1)
        return ""

    @property
    def text(self) -> str:
        """Everything a summary of the paper may draw on: title, authors and abstract."""
        return "\n".join([self.title, ", ".join(self.authors), self.abstract])

    @property
    def content_hash(self) -> str:
        """Changes when what a reader sees changes; `source_file` is left out so a moved file keeps it."""
        fields = [self.title, self.abstract, list(self.authors), self.date, list(self.categories), self.doi]
        return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()
