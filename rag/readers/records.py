"""From what a reader found to what `read_papers` returns: Papers, Rejections, or one error for the file.

Every reader yields `(line, Paper)` for a good record or `(line, reason)` for a bad one, so one
broken record becomes a `Rejection` and the rest of the file is still read. A file that gives no
valid record, or mostly rejected ones, is refused whole with a message that says what to fix.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import PapersError
from rag.paper import Paper
from rag.readers.load import first_line
from rag.readers.normalise import as_text, normalise_text, parse_date
from rag.replies import Rejection


@dataclass
class FileRead:
    """One file that gave papers: its name as its Rejections give it (its path inside a folder), the
    format it was read as, and its papers."""

    name: str
    format: str
    papers: list[Paper]


@dataclass
class ReadResult:
    files: list[FileRead]
    """The file read, or each file of a folder that gave papers."""
    rejected: list[Rejection]
    format: str

    @property
    def papers(self) -> list[Paper]:
        return [paper for file in self.files for paper in file.papers]


Item = tuple[int, Paper | str]


class NoAbstract(str):
    """The reason for skipping an entry that has no abstract (a book, a web page in a reference
    manager's export): reported as a Rejection of kind "no_abstract", not counted as garbage."""


def page_items(items: list[Item], no_items: str, no_abstracts: str) -> list[Item]:
    """A saved page's items, or a PapersError saying `no_items` when it lists none and `no_abstracts`
    when none shows its abstract: a page saved the wrong way must be saved again, not half read."""
    if not items:
        raise PapersError(no_items)
    if all(isinstance(item, NoAbstract) for _, item in items):
        raise PapersError(no_abstracts)
    return items


MAX_REJECTED_SHARE = 0.5
"""A file with more of its records rejected than this is refused whole (unless `keep_partial`):
the shared real data sets reject at most 1% of their records, random text 74-99%
(benchmarks/rejections.py)."""


# --- building a Paper from loose fields -------------------------------------------------------------


def build_paper(path: Path, *, id: object, title: object, abstract: object, authors: object = None,
                date: object = None, categories: object = None, doi: object = None) -> Paper | str:
    """A normalised Paper, or the reason the record cannot be one."""
    title_text = normalise_text(as_text(title))
    abstract_text = normalise_text(as_text(abstract))
    if not abstract_text:
        return "missing or empty abstract"
    if not title_text:
        return "missing or empty title"
    return Paper(
        id=as_text(id).strip() or _title_id(title_text),
        title=title_text,
        abstract=abstract_text,
        authors=tuple(_names(authors, "name", r"\s*(?:,|;|\band\b)\s*")),
        date=parse_date(date),
        source_file=path.name,
        categories=tuple(_names(categories, "term", r"[\s,;]+")),
        doi=clean_doi(doi),
    )


def clean_doi(value: object) -> str:
    """The DOI itself, without a `doi:` or resolver-URL prefix."""
    return re.sub(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)", "", as_text(value).strip(), flags=re.I)


def title_key(title: str) -> str:
    """A title as compared: case, punctuation, braces and spacing set aside."""
    key = "".join(" " if unicodedata.category(c).startswith("P") else c for c in title.casefold())
    return " ".join(key.split())


def _title_id(title: str) -> str:
    """An id for records without one: the same for the same title, whatever its case or punctuation."""
    return "t-" + hashlib.sha1(title_key(title).encode("utf-8")).hexdigest()[:16]


def _names(value: object, key: str, separators: str) -> list[str]:
    """Authors/categories from a list, a list of dicts, a repr'd list, or a separated string."""
    if isinstance(value, str) and value.strip().startswith("["):
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(value.strip())
    if isinstance(value, str):
        items: list[object] = re.split(separators, value)
    elif isinstance(value, (list, tuple)):
        items = [v.get(key) if isinstance(v, dict) else v for v in value]
    else:
        items = []
    return [name for name in (normalise_text(as_text(v)) for v in items) if name]


# --- collecting a file's records --------------------------------------------------------------------


def collect(items: Iterator[Item], source: str) -> tuple[list[Paper], list[Rejection]]:
    """Turn reasons into Rejections and keep only the first record of each id."""
    papers: list[Paper] = []
    rejected: list[Rejection] = []
    first_at: dict[str, int] = {}
    for line, item in items:
        if isinstance(item, NoAbstract):
            rejected.append(Rejection(file=source, line=line, reason=item, kind="no_abstract"))
        elif isinstance(item, str):
            rejected.append(Rejection(file=source, line=line, reason=item))
        elif item.id in first_at:
            reason = f"duplicate id {item.id!r} (first at line {first_at[item.id]})"
            rejected.append(Rejection(file=source, line=line, reason=reason))
        else:
            first_at[item.id] = line
            papers.append(item)
    return papers, rejected


def counted(rejected: list[Rejection]) -> list[Rejection]:
    """The rejections that count toward refusing a file: unreadable records, not entries without an abstract."""
    return [r for r in rejected if r.kind != "no_abstract"]


def no_papers_error(path: Path, fmt: str, rejected: list[Rejection]) -> PapersError:
    if not rejected:
        return PapersError(f"{path}: no papers found (read as {fmt}). Check the file is not just a header.")
    if not counted(rejected):
        return PapersError(
            f"{path}: none of its {len(rejected)} entries has an abstract (read as {fmt}), so there is "
            "nothing to search. Export the entries with their abstracts (in Zotero the Abstract field), "
            "or add papers that have one."
        )
    reasons = "; ".join(f"line {r.line}: {r.reason}" for r in rejected[:3])
    return PapersError(
        f"{path}: none of its {len(rejected)} records is a valid paper (read as {fmt}). "
        f"First problems: {reasons}. Fix the file, or use --format NAME if it is another format."
    )


def mostly_rejected_error(path: Path, fmt: str, text: str, papers: list[Paper], rejected: list[Rejection]) -> PapersError:
    total = len(papers) + len(rejected)
    reasons = "; ".join(f"line {r.line}: {r.reason}" for r in rejected[:3])
    return PapersError(
        f"{path}: {len(rejected):,} of its {total:,} records ({len(rejected) / total:.0%}) were rejected when "
        f"read as {fmt}, so it is probably not a papers file; nothing was added. It holds {len(text):,} "
        f"characters in {text.count(chr(10)) + 1:,} lines and starts {short(first_line(text).strip())}. "
        f"First problems: {reasons}. Check the file or its --format, or add its {len(papers):,} good records "
        "anyway with --keep-partial (in the app: 'Keep the good records')."
    )


def short(text: str, limit: int = 60) -> str:
    """A quote of the text, cut so a message about a huge line stays one line."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
