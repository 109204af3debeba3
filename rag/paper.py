"""A paper as the library holds it: the record every reader makes and every later step reads."""

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
    source_file: str = ""
    """The name of the file the paper was read from."""
    categories: tuple[str, ...] = ()
    doi: str = ""

    @property
    def text(self) -> str:
        """Everything a summary of the paper may draw on: title, authors and abstract."""
        return "\n".join([self.title, ", ".join(self.authors), self.abstract])

    @property
    def content_hash(self) -> str:
        """Changes when what a reader sees changes; `source_file` is left out so a moved file keeps it."""
        fields = [self.title, self.abstract, list(self.authors), self.date, list(self.categories), self.doi]
        return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()
