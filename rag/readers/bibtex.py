"""bibtex: a `.bib` export of Zotero, Better BibTeX, Mendeley, JabRef or Google Scholar, read with bibtexparser.

bibtexparser 2 rather than 1: 2.x is the maintained line and is a stable release on PyPI (2.0.0
left beta; 1.4.x gets fixes only), and it is what makes a bad entry a bad *entry*: every block keeps
its start line, a broken one becomes a failed block that names what was wrong, where 1.x drops it
silently or stops the file; and its LaTeX decoding (pylatexenc) makes titles readable: braces
removed, accents (`{\\"o}` -> ö, `\\'e` -> é), `--` -> en dash, `\\&` -> &, with math (`$...$`)
kept as written for `normalise_text`, which treats it as it does in every other format.
Names are split by bibtexparser before decoding, so a braced corporate name stays one name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import bibtexparser
from bibtexparser import middlewares
from bibtexparser.model import Block, DuplicateBlockKeyBlock, DuplicateFieldKeyBlock, Entry, MiddlewareErrorBlock
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from rag.paper import Paper
from rag.readers.normalise import as_text
from rag.readers.records import Item
from rag.readers.reference import arxiv_id, reference_paper, split_keywords

_ENTRY_START = re.compile(r"^[ \t]*@[ \t]*([A-Za-z]+)[ \t]*[{(][ \t]*[^\s,{}()=]*[ \t]*,", re.MULTILINE)
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()


_ENTRY_TYPES = frozenset(
    "article book booklet inbook incollection inproceedings conference manual mastersthesis misc phdthesis "
    "proceedings techreport unpublished online report thesis dataset software collection electronic patent "
    "periodical preprint".split()
)
"""The entry types reference managers write (BibTeX's and BibLaTeX's). Detection asks for one of them:
random text has lines like `@omdfz{dN&,` too."""


def looks_like_bibtex(text: str) -> bool:
    """An entry header such as `@article{key,` at the start of a line (text before it is a BibTeX comment)."""
    return any(m.group(1).lower() in _ENTRY_TYPES for m in _ENTRY_START.finditer(text))


def _decoder() -> LatexNodes2Text:
    """bibtexparser's own default decoder (URLs not wrapped in <>), kept to decode names too."""
    context = get_default_latex_context_db()
    context.add_context_category("papers-bibtex", prepend=True, macros=[MacroTextSpec("url", simplify_repl="%s")])
    return LatexNodes2Text(latex_context=context, keep_braced_groups=False, math_mode="verbatim")


_DECODER = _decoder()
# A broken entry becomes a Rejection with its 1-based line; bibtexparser's own warning about it,
# with 0-based lines, would only contradict that message.
logging.getLogger("bibtexparser.splitter").setLevel(logging.ERROR)


def read_bibtex(text: str, path: Path) -> Iterator[Item]:
    """One item per entry, at the line its `@` is on; a block that does not parse is rejected."""
    library = bibtexparser.parse_string(text, append_middleware=[
        middlewares.SeparateCoAuthors(),
        middlewares.SplitNameParts(),
        middlewares.LatexDecodingMiddleware(decoder=_DECODER),
    ])
    items: list[Item] = [(_line(entry), _bibtex_paper(entry, path)) for entry in library.entries]
    items += [(_line(block), _failure(block)) for block in library.failed_blocks]
    yield from sorted(items, key=lambda item: item[0])


def _line(block: Block) -> int:
    return (block.start_line or 0) + 1  # bibtexparser counts from 0


def _failure(block: Block) -> str:
    """What is wrong with a block bibtexparser could not make an entry of, without its 0-based lines."""
    entry = getattr(block, "ignore_error_block", None)
    name = f"entry {entry.key!r}" if isinstance(entry, Entry) else "entry"
    if isinstance(block, DuplicateBlockKeyBlock):
        return f"duplicate BibTeX key {block.key!r} (first at line {_line(block.previous_block)})"
    if isinstance(block, DuplicateFieldKeyBlock):
        return f"{name} gives {', '.join(sorted(block.duplicate_keys))} more than once"
    error = getattr(block, "error", None)
    message = " ".join(as_text(getattr(error, "abort_reason", None) or str(error or "")).split())
    if isinstance(block, MiddlewareErrorBlock):
        return f"{name}: cannot read its TeX ({message})"
    return f"broken BibTeX entry: {message or 'it does not parse'}; check its braces and quotes"


def _bibtex_paper(entry: Entry, path: Path) -> Paper | str:
    fields = {key.lower(): field.value for key, field in entry.fields_dict.items()}
    prefix = as_text(fields.get("archiveprefix") or fields.get("eprinttype")).strip().lower()
    eprint = fields.get("eprint") if prefix in ("", "arxiv") else None
    mentions = (fields.get(name) for name in ("url", "doi", "journal", "journaltitle", "number", "note", "eprint"))
    return reference_paper(
        path,
        what=f"@{entry.entry_type}{{{entry.key}}}",
        title=fields.get("title"),
        abstract=fields.get("abstract"),
        authors=_names(fields.get("author")),
        date=_date(fields),
        keywords=split_keywords(fields.get("keywords") or fields.get("keyword")),
        doi=fields.get("doi"),
        arxiv=arxiv_id(eprint, mentions) or _corr_id(fields),
    )


def _names(value: object) -> list[str]:
    """`SplitNameParts` output as "First von Last, Jr", each part decoded from TeX."""
    if not isinstance(value, list):
        return []
    names = []
    for parts in value:
        if not isinstance(parts, middlewares.NameParts):
            continue
        words = [_DECODER.latex_to_text(part) for part in (*parts.first, *parts.von, *parts.last)]
        name = " ".join(" ".join(words).split())
        if parts.jr:
            name += ", " + " ".join(_DECODER.latex_to_text(part) for part in parts.jr)
        names.append(name)
    return names


def _date(fields: dict) -> str:
    """BibLaTeX `date`, else `year` with `month` (a number, a name or its macro such as `sep`)."""
    if date := as_text(fields.get("date")).strip():
        return date
    year = as_text(fields.get("year")).strip()
    month = as_text(fields.get("month")).strip().lower()[:3]
    number = int(month) if month.isdigit() else _MONTHS.index(month) + 1 if month in _MONTHS else 0
    return f"{year}-{number:02d}" if year and 1 <= number <= 12 else year


def _corr_id(fields: dict) -> str:
    """DBLP's form of an arXiv paper: journal CoRR, volume `abs/2101.00001`."""
    if as_text(fields.get("journal")).strip().lower() != "corr":
        return ""
    return arxiv_id(as_text(fields.get("volume")).removeprefix("abs/"))
