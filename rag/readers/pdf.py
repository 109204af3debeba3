"""pdf: a paper's own PDF, read with pypdf: title, authors and abstract from its first pages.

pypdf because it is pure Python (no system library to install, nothing fetched at run time) and
its text visitor gives each piece of text with its font size, which is what tells a title from
the lines around it. The title is the largest text on the first page above the abstract (the
arXiv stamp in the margin and drop capitals left out); the PDF's own Title is taken only where it
says the same better spaced, or the page gave none, as it is often a file name ("acl07.dvi"), a word
processor's ("Microsoft Word - ...") or the proceedings' name, even another paper's; the authors are the
lines between the title and the abstract in the font and size of the first of them (an affiliation,
an e-mail or a footnote mark is set in another font or size, or its words say what it is), split
into names at commas, "and", footnote marks and runs of another font, and ending at the first such
line that holds no name; the abstract runs from an "Abstract" heading to the first heading after it
(Introduction, Keywords, Index Terms...). A PDF without such a heading (a scanned page, slides, a
poster, an editorial) is refused with that said, not guessed from whatever text comes first.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from rag.errors import PapersError
from rag.readers.records import Item
from rag.readers.reference import arxiv_id, reference_paper

PAGES = 2  # the abstract is on the first page, at worst running onto the second
_ABSTRACT = re.compile(r"^\s*(?:a\s*b\s*s\s*t\s*r\s*a\s*c\s*t)\b\s*[-—–.:]?\s*", re.IGNORECASE | re.MULTILINE)
_AFTER = re.compile(
    r"^\s*(?:(?:\d+\.?|[IVX]+\.)\s*)?(?:introduction|keywords?|key\s*words|index\s+terms|ccs\s+concepts|"
    r"acm\s+reference|background|contents)\b",
    re.IGNORECASE | re.MULTILINE,
)
_STAMP = re.compile(r"arXiv:\S+\s+\[")
_STAMP_DATE = re.compile(r"arXiv:\S+\s+\[[^\]]*\]\s+(\d{1,2}\s+[A-Z][a-z]{2}\s+\d{4})")
_BROKEN_WORD = re.compile(r"(\w+)-[ \t]*\n\s*([a-z]\w*)")
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+[^\s\"<>.,;])")
_NOT_A_NAME = re.compile(  # an address, an e-mail or an affiliation set in the authors' font: left out
    r"[@{}()|/\\:]|\d|\b(?:univ\w*|dep(?:artmen)?t|institut\w*|lab\w*|laboratoire|cent(?:er|re)|school|college|"
    r"inc|ltd|corp\w*|company|group|team|research|science|academy|usa|uk|road|ave|avenue|street|way|for|in|of|"
    r"the|at)\b", re.IGNORECASE)
_NAME_SPLIT = re.compile(r"\x1f|[,;&]|\band\b|\s{2,}", re.IGNORECASE)  # \x1f: a footnote mark or another font
_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "du", "la", "le", "bin", "ibn", "al",
              "ten", "ter", "y"}
logging.getLogger("pypdf").setLevel(logging.ERROR)  # font warnings about text it still extracts


def is_pdf(data: bytes) -> bool:
    """A PDF's header, `%PDF-`, within its first kilobyte (where readers accept it)."""
    return b"%PDF-" in data[:1024]


def read_pdf(data: bytes, path: Path) -> Iterator[Item]:
    """The one paper a PDF holds, at line 1 (page 1), or a PapersError saying why it cannot be read."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise PapersError(f"{path} is an encrypted PDF; save an unprotected copy and add that.")
        runs: list[tuple[float, str, str]] = []
        first = reader.pages[0].extract_text(visitor_text=lambda text, cm, tm, font, size: runs.append(
            (round(size * _scale(tm) * _scale(cm), 1), text, _font_name(font))))
        text = "\n".join([first, *(page.extract_text() for page in reader.pages[1:PAGES])])
        info = reader.metadata or {}
    except PapersError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise PapersError(f"{path}: a PDF that cannot be read ({exc or type(exc).__name__}); "
                          "download it again, or add the paper from its BibTeX or arXiv entry.") from None
    text = unicodedata.normalize("NFKC", text)
    abstract = _abstract(text)
    if not abstract:
        raise PapersError(
            f"{path}: no abstract found on its first {PAGES} pages (no 'Abstract' heading: a scanned page, "
            "slides, a poster or an editorial?), so nothing was guessed. Add the paper from its BibTeX or "
            "arXiv entry instead."
        )
    title, authors = _title_and_authors(runs)
    title = _choose_title(title, str(info.get("/Title") or ""))
    doi = _DOI.search(text)
    stamp = _STAMP_DATE.search(first[:300])
    yield 1, reference_paper(
        path, what=f"PDF {path.name}", title=title, abstract=abstract, authors=authors,
        date=stamp.group(1) if stamp else None,
        doi=doi.group(1) if doi else None, arxiv=arxiv_id(None, [first[:300]]),
    )


def _scale(matrix) -> float:
    return abs(matrix[3]) or abs(matrix[1]) or 1.0


def _font_name(font) -> str:
    """The font's name (`/BaseFont`), which tells bold names from the regular affiliations below them."""
    try:
        return str(font.get("/BaseFont", "")) if font else ""
    except (AttributeError, TypeError, PyPdfError):
        return ""


def _plain(text: str, context: str = "") -> str:
    """Ligatures (ﬁ) and compatibility forms made plain, words broken at a line end joined, one line.
    A hyphen at a line end is kept when `context` (the pages read) writes the pair with it elsewhere
    ("parameter-efficient"), else taken for a break inside a word ("con-centrate")."""
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")

    def join(match: re.Match) -> str:
        pair = f"{match.group(1)}-{match.group(2)}"
        return pair if re.search(rf"\b{re.escape(pair)}\b", context, re.IGNORECASE) else pair.replace("-", "")

    return " ".join(_BROKEN_WORD.sub(join, text).split())


def _abstract(text: str) -> str:
    start = _ABSTRACT.search(text)
    if not start:
        return ""
    rest = text[start.end():]
    end = _AFTER.search(rest)
    return _plain(rest[: end.start()] if end else rest[:3000], text)


def _title_and_authors(runs: list[tuple[float, str, str]]) -> tuple[str, list[str]]:
    """The largest line of text above the abstract is the title, with the lines after it in that size;
    the authors are read from the runs after it (`_authors`). Lines, not runs, because a title in
    small capitals interleaves two sizes ("T", "ABLE", "F", "ORMER") and a title's lines are runs of
    their own; a line counts only if one of its runs is a word of four letters or more, which leaves out
    a drop capital and the letters of a figure's logo, placed one or two at a time."""
    lines: list[list[tuple[float, str, str]]] = [[]]
    for size, text, font in runs:
        if _ABSTRACT.match(text.strip()) and not text.strip()[8:].strip():
            break
        if text.strip() and not _STAMP.search(text):
            lines[-1].append((size, text, font))
        if "\n" in text and lines[-1]:
            lines.append([])
    sized = [(max(size for size, _, _ in line), line) for line in lines
             if any(len(text.strip()) > 3 for _, text, _ in line)]
    if not sized:
        return "", []
    largest = max(size for size, _ in sized)
    first = next(i for i, (size, _) in enumerate(sized) if size == largest)
    last = first
    while last + 1 < len(sized) and sized[last + 1][0] == largest:
        last += 1
    title = _plain("\n".join("".join(text for _, text, _ in line) for _, line in sized[first : last + 1]))
    end = lines.index(sized[last][1]) + 1
    return title, _authors(lines[end:])


def _authors(lines: list[list[tuple[float, str, str]]]) -> list[str]:
    """The names in the lines between the title and the abstract. They are the runs in the font and size
    of the first run with a letter in it; a run in another font or size (a footnote mark, a comma set in
    roman between bold names, an affiliation, an e-mail) separates two names, and so do commas, "and",
    "&" and wide gaps. A line of those runs that holds no name (an affiliation or an address in the
    names' font) ends them; a single word opening a line ends the name the line before broke off
    ("Benjamin Charles Germain" / "Lee"). Marks, digits and brackets are dropped, and what is left
    must look like a name (two to five words, capitalised but for particles such as "van" or "de",
    no affiliation word, no e-mail); a PDF whose names cannot be told gives none, not its affiliations."""
    first = next((run for line in lines for run in line if any(ch.isalpha() for ch in run[1])), None)
    if first is None:
        return []
    size, _, font = first
    texts = ["".join(text.replace("\n", " ") if abs(run_size - size) <= 0.3 and run_font == font else "\x1f"
                     for run_size, text, run_font in line) for line in lines]
    names: list[str] = []
    open_end = False  # the line before ended inside a name (no separator after its last word)
    for text in texts:
        if not text.replace("\x1f", "").strip():
            open_end = open_end and not text
            continue
        parts = _NAME_SPLIT.split(text)
        pieces = [_clean_name(part) for part in parts]
        if open_end and names and len(pieces[0].split()) == 1 and _is_name(f"{names[-1]} {pieces[0]}"):
            names[-1] = f"{names[-1]} {pieces[0]}"
            pieces = pieces[1:]
        found = [piece for piece in pieces if _is_name(piece)]
        if not found and names:
            break
        names += found
        open_end = bool(parts[-1].strip()) and bool(found) and pieces[-1:] == found[-1:]
    return names


def _clean_name(piece: str) -> str:
    """A name without its footnote marks, digits, brackets and symbols; a TeX accent set apart ("O ̆guz",
    from "O˘guz") put back on its letter."""
    text = unicodedata.normalize("NFKC", piece)
    text = unicodedata.normalize("NFC", re.sub(r" ([\u0300-\u036f])(\w)", r"\2\1", text))
    text = re.sub(r"\([^()]*\)", " ", text)
    text = "".join(ch for ch in text if ch.isalpha() or ch in " .-'’" or unicodedata.category(ch) == "Mn")
    return " ".join(text.split()).strip(" -'’")


def _is_name(name: str) -> bool:
    """Two to five words, each capitalised or a particle ("van", "de"), and no affiliation word."""
    words = name.split()
    return (2 <= len(words) <= 5 and not _NOT_A_NAME.search(name)
            and all(word[0].isupper() or word in _PARTICLES for word in words))


def _choose_title(found: str, given: str) -> str:
    """The title set largest on the page, unless the PDF's Title field says the same with better
    spacing or case, or the page gave too little to be a title; a Title field is often a file name,
    a word processor's placeholder, or the proceedings' name, so it does not win otherwise."""
    given = _plain(given) if _good_title(given) else ""
    squash = lambda text: re.sub(r"\W+", "", text).casefold()  # noqa: E731
    if given and squash(given) == squash(found):
        return given
    return found if len(found.split()) >= 3 or not given else given


def _good_title(value: object) -> bool:
    """A PDF's Title field when it is a title, not a file name or a word processor's placeholder."""
    title = str(value or "").strip()
    return len(title.split()) >= 3 and not re.search(r"\.(?:dvi|tex|docx?|pdf)$|^microsoft|^untitled|&#x", title, re.I)
