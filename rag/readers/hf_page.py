"""hf_page: a Hugging Face Papers listing copied from the browser, titles and abstracts as paragraphs.

A page copy has no markup left, so a record is a short one-line paragraph (the title) followed by
a long one (the abstract); the page's own header lines are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rag.readers.records import Item, build_paper, short

_HF_HEADER = {
    "new", "get trending papers in your email inbox!", "subscribe", "byak and the research community",
}
_HF_DATE = re.compile(  # the listing's date line, e.g. "Apr 1"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(?:, \d{4})?", re.IGNORECASE
)
_TITLE_MAX_CHARS = 300  # real titles stay under ~200 chars; real abstracts run to 1,000+


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """Paragraphs separated by blank lines, with the 1-based line each starts on."""
    start, block = 0, []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if line:
            start = start if block else number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _is_hf_header(lines: list[str]) -> bool:
    return len(lines) == 1 and (lines[0].casefold() in _HF_HEADER or bool(_HF_DATE.fullmatch(lines[0])))


def _is_title(lines: list[str]) -> bool:
    return len(lines) == 1 and len(lines[0]) <= _TITLE_MAX_CHARS


def looks_like_hf_page(text: str) -> bool:
    """A page header near the top, or a title paragraph followed by a longer one."""
    blocks = [lines for _, lines in _blocks(text)]
    if any(_is_hf_header(lines) for lines in blocks[:10]):
        return True
    return any(_is_title(a) and not _is_title(b) for a, b in zip(blocks, blocks[1:]))


def read_hf_page(text: str, path: Path) -> Iterator[Item]:
    """Pair each title line with the paragraph after it; a block without a partner is rejected."""
    pending: tuple[int, str] | None = None
    for line, lines in _blocks(text):
        if _is_hf_header(lines):
            continue
        if _is_title(lines):
            if pending:
                yield pending[0], f"title {short(pending[1])} has no abstract after it"
            pending = (line, lines[0])
        elif pending:
            yield pending[0], build_paper(path, id=None, title=pending[1], abstract=" ".join(lines))
            pending = None
        else:
            yield line, f"paragraph {short(lines[0])} has no title line before it"
    if pending:
        yield pending[0], f"title {short(pending[1])} has no abstract after it (end of file)"
