"""The paper record every stage after reading works on: chunking, store, retrieval, answers, UI.

It lives apart from the readers so that those stages depend on the record, not on file formats.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    date: str = ""
    source: str = ""
    categories: tuple[str, ...] = ()
    doi: str = ""

    @property
    def text(self) -> str:
        """Everything a summary of the paper may draw on: title, authors and abstract."""
        return "\n".join([self.title, ", ".join(self.authors), self.abstract])

    @property
    def content_hash(self) -> str:
        """Changes when what a reader sees changes; `source` is left out so a moved file keeps it."""
        fields = [self.title, self.abstract, list(self.authors), self.date, list(self.categories), self.doi]
        return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()

    def as_dict(self) -> dict:
        """The paper as a library listing shows it (`papers list --json`): no abstract, so a long list stays small."""
        return {
            "id": self.id, "title": self.title, "date": self.date, "authors": list(self.authors), "source": self.source
        }
