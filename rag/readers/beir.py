"""beir: a BEIR corpus (`corpus.jsonl`, may be .gz), one `{"_id", "title", "text"}` per line.

A document may come without a title; its first sentence then stands in, as a paper needs one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rag.paper import Paper
from rag.readers.json_records import read_json_lines
from rag.readers.normalise import as_text, normalise_text
from rag.readers.records import Item, build_paper


def is_beir(record: object) -> bool:
    return isinstance(record, dict) and "_id" in record and "text" in record


def read_beir(text: str, path: Path) -> Iterator[Item]:
    return read_json_lines(text, path, _beir_paper)


def _beir_paper(record: dict, path: Path) -> Paper | str:
    body = as_text(record.get("text"))
    title = as_text(record.get("title")).strip() or _first_sentence(normalise_text(body))
    return build_paper(path, id=record.get("_id"), title=title, abstract=body)


def _first_sentence(text: str, limit: int = 100) -> str:
    """A stand-in title for BEIR docs that have none."""
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit].rsplit(" ", 1)[0] + "…"
