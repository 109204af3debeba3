"""What the JSON formats (arXiv JSON and JSONL, BEIR) share: JSON Lines parsing and the object check.

They differ only in which fields make a paper, so each passes its own `to_paper` and a bad line or
a record that is not an object is rejected the same way in all of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from rag.paper import Paper
from rag.readers.records import Item

ToPaper = Callable[[dict, Path], Paper | str]


def json_lines(text: str) -> Iterator[tuple[int, object]]:
    """Each non-blank line parsed, or a reason string for a line that is not JSON."""
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may be in a string
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON: {exc.msg} (column {exc.colno})"


def read_json_lines(text: str, path: Path, to_paper: ToPaper) -> Iterator[Item]:
    """One record per line, so a line that is not JSON costs that record only."""
    for line, record in json_lines(text):
        yield line, (record if isinstance(record, str) else object_paper(record, path, to_paper))


def object_paper(record: object, path: Path, to_paper: ToPaper) -> Paper | str:
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    return to_paper(record, path)
