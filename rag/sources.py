"""Readers: turn a papers file (HF listing page, arXiv JSON/JSONL, BEIR corpus, CSV) into Papers.

Every reader yields `(line, Paper)` for a good record or `(line, reason)` for a bad one, so one
broken record becomes a `Rejection` and the rest of the file is still read. Mistakes that stop
the whole file (missing, empty, binary, unrecognisable, no valid record) raise `PapersError`
with a message that names the file and says what to fix.
"""

from __future__ import annotations

import ast
import csv
import datetime
import email.utils
import gzip
import hashlib
import html
import io
import json
import re
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import PapersError
from rag.paper import Paper

FORMATS = ("hf_page", "arxiv_json", "arxiv_jsonl", "beir", "csv")
_ALIASES = {"json": "arxiv_json", "jsonl": "arxiv_jsonl"}
_FORMATS_HELP = (
    "hf_page (a copied Hugging Face Papers page), arxiv_json, arxiv_jsonl, "
    "beir (corpus.jsonl, may be .gz), csv (with title and abstract columns)"
)
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Rejection:
    """A record that was skipped. `line` is 1-based; for a JSON array it is the element number."""

    file: str
    line: int
    reason: str


@dataclass
class ReadResult:
    papers: list[Paper]
    rejected: list[Rejection]
    format: str


Item = tuple[int, Paper | str]


# --- public entry points ---------------------------------------------------------------------


MAX_REJECTED_SHARE = 0.5
"""A file with more of its records rejected than this is refused whole (unless `keep_partial`):
the shared real data sets reject at most 1% of their records, random text 74-99%
(benchmarks/rejections.py)."""


def read_papers(path: Path, format: str | None = None, keep_partial: bool = False) -> ReadResult:
    """Read every paper in `path`; `format` (a `--format` name) skips detection.

    A file whose records are mostly rejected is almost never what the user meant, so it is
    refused unless `keep_partial` asks for its good records anyway.
    """
    path = Path(path)
    fmt = _format_name(format, path) if format else None
    text = _load_text(path)
    fmt = fmt or _detect(text, path)
    papers, rejected = _collect(_READERS[fmt](text, path), path.name)
    if not papers:
        raise _no_papers_error(path, fmt, rejected)
    if not keep_partial and len(rejected) > MAX_REJECTED_SHARE * (len(papers) + len(rejected)):
        raise _mostly_rejected_error(path, fmt, text, papers, rejected)
    return ReadResult(papers, rejected, fmt)


def detect_format(path: Path) -> str:
    """The format name `read_papers` would use for `path`, judged by content first."""
    path = Path(path)
    return _detect(_load_text(path), path)


def normalise_text(text: str) -> str:
    """NFC, leftover HTML/LaTeX made readable, whitespace runs collapsed to one space."""
    text = unicodedata.normalize("NFC", text)
    text = _strip_html(text)
    text = _strip_latex(text)
    return " ".join(text.split())


# --- loading and detection ---------------------------------------------------------------------


def _format_name(name: str, path: Path) -> str:
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        choices = ", ".join(FORMATS + tuple(_ALIASES))
        raise PapersError(f"{path}: unknown --format {name!r}; choose one of: {choices}.")
    return key


def _load_text(path: Path) -> str:
    """The file's text, un-gzipped and decoded, or a PapersError saying what is wrong with it."""
    if not path.exists():
        raise PapersError(f"{path}: no such file. Check the path and try again.")
    if path.is_dir():
        raise PapersError(f"{path} is a directory; give the path of a papers file inside it.")
    try:
        data = path.read_bytes()
    except PermissionError:
        message = f"{path}: permission denied. Make the file readable (chmod +r) and retry."
        raise PapersError(message) from None
    except OSError as exc:
        raise PapersError(f"{path}: cannot read the file ({exc.strerror or exc}).") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            message = f"{path} looks gzip-compressed but is damaged ({exc}); download it again."
            raise PapersError(message) from None
    if b"\0" in data:
        raise PapersError(
            f"{path} looks like a binary file (it contains NUL bytes). Give a text file of papers "
            "saved as UTF-8 (UTF-16 text also looks like this: re-save it as UTF-8)."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PapersError(
            f"{path} is not UTF-8 text (undecodable byte at offset {exc.start}). Re-save it as UTF-8."
        ) from None
    if not text.strip():
        raise PapersError(f"{path} is empty. Put some papers in it, or point at another file.")
    return text


def _detect(text: str, path: Path) -> str:
    """Content decides; the `.csv` extension only settles text that is no kind of JSON."""
    head = text.lstrip()
    if head.startswith("["):
        return "arxiv_json"
    if head.startswith("{"):
        return _detect_json_object(text, path)
    if path.name.lower().removesuffix(".gz").endswith((".csv", ".tsv")) or _csv_header(text):
        return "csv"
    if _looks_like_hf_page(text):
        return "hf_page"
    raise PapersError(
        f"{path}: cannot tell what kind of papers file this is. Supported formats: {_FORMATS_HELP}. "
        "Use --format NAME to force one."
    )


def _detect_json_object(text: str, path: Path) -> str:
    """One object in the file is arxiv_json, else it is JSON Lines; BEIR when records have _id and text."""
    try:
        first = json.loads(text)
    except ValueError:
        first = next((obj for _, obj in _json_lines(text) if isinstance(obj, dict)), None)
        if first is None:
            raise PapersError(
                f"{path} starts like JSON but no line parses as a JSON object. Fix the JSON, "
                "or use --format NAME to force a reader."
            ) from None
        return "beir" if _is_beir(first) else "arxiv_jsonl"
    return "beir" if _is_beir(first) else "arxiv_json"


def _is_beir(record: object) -> bool:
    return isinstance(record, dict) and "_id" in record and "text" in record


def _no_papers_error(path: Path, fmt: str, rejected: list[Rejection]) -> PapersError:
    if not rejected:
        return PapersError(f"{path}: no papers found (read as {fmt}). Check the file is not just a header.")
    reasons = "; ".join(f"line {r.line}: {r.reason}" for r in rejected[:3])
    return PapersError(
        f"{path}: none of its {len(rejected)} records is a valid paper (read as {fmt}). "
        f"First problems: {reasons}. Fix the file, or use --format NAME if it is another format."
    )


def _mostly_rejected_error(path: Path, fmt: str, text: str, papers: list[Paper], rejected: list[Rejection]) -> PapersError:
    total = len(papers) + len(rejected)
    reasons = "; ".join(f"line {r.line}: {r.reason}" for r in rejected[:3])
    return PapersError(
        f"{path}: {len(rejected):,} of its {total:,} records ({len(rejected) / total:.0%}) were rejected when "
        f"read as {fmt}, so it is probably not a papers file; nothing was added. It holds {len(text):,} "
        f"characters in {text.count(chr(10)) + 1:,} lines and starts {_short(_first_line(text).strip())}. "
        f"First problems: {reasons}. Check the file or its --format, or add its {len(papers):,} good records "
        "anyway with --keep-partial (in the app: 'Keep the good records')."
    )


def _collect(items: Iterator[Item], source: str) -> tuple[list[Paper], list[Rejection]]:
    """Turn reasons into Rejections and keep only the first record of each id."""
    papers: list[Paper] = []
    rejected: list[Rejection] = []
    first_line: dict[str, int] = {}
    for line, item in items:
        if isinstance(item, str):
            rejected.append(Rejection(source, line, item))
        elif item.id in first_line:
            reason = f"duplicate id {item.id!r} (first at line {first_line[item.id]})"
            rejected.append(Rejection(source, line, reason))
        else:
            first_line[item.id] = line
            papers.append(item)
    return papers, rejected


# --- building a Paper from loose fields -------------------------------------------------------------


def _paper(path: Path, *, id: object, title: object, abstract: object, authors: object = None,
           date: object = None, categories: object = None, doi: object = None) -> Paper | str:
    """A normalised Paper, or the reason the record cannot be one."""
    title_text = normalise_text(_text(title))
    abstract_text = normalise_text(_text(abstract))
    if not abstract_text:
        return "missing or empty abstract"
    if not title_text:
        return "missing or empty title"
    return Paper(
        id=_text(id).strip() or _title_id(title_text),
        title=title_text,
        abstract=abstract_text,
        authors=tuple(_names(authors, "name", r"\s*(?:,|;|\band\b)\s*")),
        date=parse_date(date),
        source=path.name,
        categories=tuple(_names(categories, "term", r"[\s,;]+")),
        doi=re.sub(r"^(?:doi:|https?://(?:dx\.)?doi\.org/)", "", _text(doi).strip(), flags=re.I),
    )


def _title_id(title: str) -> str:
    """An id for records without one: the same for the same title, whatever its case or punctuation."""
    key = "".join(" " if unicodedata.category(c).startswith("P") else c for c in title.casefold())
    return "t-" + hashlib.sha1(" ".join(key.split()).encode("utf-8")).hexdigest()[:16]


def _text(value: object) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def _names(value: object, key: str, separators: str) -> list[str]:
    """Authors/categories from a list, a list of dicts, a repr'd list, or a separated string."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            pass
    if isinstance(value, str):
        items: list[object] = re.split(separators, value)
    elif isinstance(value, (list, tuple)):
        items = [v.get(key) if isinstance(v, dict) else v for v in value]
    else:
        items = []
    return [name for name in (normalise_text(_text(v)) for v in items) if name]


_DATE_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%Y/%m/%d")


def parse_date(value: object) -> str:
    """ISO date (or just year-month / year) from the common forms; "" when unsure."""
    text = _text(value).strip()
    if not text:
        return ""
    if m := re.fullmatch(r"(\d{4})(-\d{2})?(-\d{2})?(?:[T ].*)?", text):
        try:
            if m.group(3):
                return datetime.date.fromisoformat(m.group(1) + m.group(2) + m.group(3)).isoformat()
            if m.group(2):
                return text[:7] if 1 <= int(m.group(2)[1:]) <= 12 else ""
        except ValueError:
            return ""
        return m.group(1)
    try:
        return email.utils.parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return ""


# --- normalisation helpers -----------------------------------------------------------------------

_HTML_TAG = re.compile(
    r"</?(?:a|b|i|u|em|strong|sub|sup|p|br|span|div|code|small|font|li|ul|ol|h[1-6])(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)  # a whitelist: abstracts contain real angle brackets, e.g. ("go to location in <this picture>")
_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
          "sigma tau upsilon phi chi psi omega").split()
_ISO_GREEK = dict(zip("a b g d e z ee th i k l m n x o p r s t u ph kh ps oh".split(), _GREEK))


def _greek(name: str, capital: bool = False) -> str:
    case = "CAPITAL" if capital else "SMALL"
    return unicodedata.lookup(f"GREEK {case} LETTER {name.replace('lambda', 'lamda')}")


_LATEX_SYMBOLS = {
    **{name: _greek(name) for name in _GREEK},
    **{name.capitalize(): _greek(name, capital=True) for name in _GREEK},
    "varepsilon": "ε", "vartheta": "ϑ", "varphi": "φ", "ell": "ℓ",
    "sim": "~", "times": "×", "pm": "±", "approx": "≈", "simeq": "≃", "propto": "∝", "infty": "∞",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "lesssim": "≲", "gtrsim": "≳", "neq": "≠",
    "to": "→", "rightarrow": "→", "leftarrow": "←", "cdot": "·", "circ": "°", "deg": "°",
    "odot": "⊙", "langle": "⟨", "rangle": "⟩",
    # font switches and sizing that only carry layout
    "rm": "", "bf": "", "it": "", "em": "", "tt": "", "sf": "", "left": "", "right": "",
}
_LATEX_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|texttt|textrm|textsc|emph|mathrm|mathbf|mathit|mathcal|mathbb|mathsf|"
    r"operatorname|boldsymbol|mbox)\s*\{([^{}]*)\}"
)
_LATEX_OLD_FONT = re.compile(r"\{\\(?:rm|bf|it|em|emph|tt|sf|sc|cal)\s+([^{}]*)\}")


def _strip_html(text: str) -> str:
    text = html.unescape(_HTML_TAG.sub("", text))
    return re.sub(r"&([A-Za-z]{1,2})gr;", _iso_greek, text)  # PubMed's SGML names, e.g. &bgr;


def _iso_greek(match: re.Match[str]) -> str:
    name = _ISO_GREEK.get(match.group(1).lower())
    return _greek(name, capital=match.group(1)[0].isupper()) if name else match.group(0)


def _strip_latex(text: str) -> str:
    """Known commands become symbols, wrappers keep their content, `$` delimiters go.

    Unknown commands (a paper's own macros such as `\\tool`) are left as they are.
    """
    text = re.sub(r"\^\{?\\circ\}?", "°", text)
    for pattern in (_LATEX_WRAPPER, _LATEX_OLD_FONT):
        while (unwrapped := pattern.sub(r"\1", text)) != text:
            text = unwrapped
    text = re.sub(r"\\([A-Za-z]+)", lambda m: _LATEX_SYMBOLS.get(m.group(1), m.group(0)), text)
    text = re.sub(r"\\(?:[,;:!]|(?=\s))", " ", text)  # LaTeX spacing: "\,", "\ " (also before a line break)
    text = re.sub(r"(?<!\\)\$\$?(.+?)(?<!\\)\$\$?", r"\1", text, flags=re.DOTALL)
    text = re.sub(r"\\([%&_#$])", r"\1", text)
    # A page copy drops the backslashes: "3.72sim4.11times faster" (hf_page).
    text = re.sub(r"(?<=\d)sim(?=\d)", "~", text)
    return re.sub(r"(?<=\d)times\b", "×", text)


# --- hf_page ---------------------------------------------------------------------------------------

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


def _looks_like_hf_page(text: str) -> bool:
    blocks = [lines for _, lines in _blocks(text)]
    if any(_is_hf_header(lines) for lines in blocks[:10]):
        return True
    return any(_is_title(a) and not _is_title(b) for a, b in zip(blocks, blocks[1:]))


def _read_hf_page(text: str, path: Path) -> Iterator[Item]:
    """Pair each title line with the paragraph after it; a block without a partner is rejected."""
    pending: tuple[int, str] | None = None
    for line, lines in _blocks(text):
        if _is_hf_header(lines):
            continue
        if _is_title(lines):
            if pending:
                yield pending[0], f"title {_short(pending[1])} has no abstract after it"
            pending = (line, lines[0])
        elif pending:
            yield pending[0], _paper(path, id=None, title=pending[1], abstract=" ".join(lines))
            pending = None
        else:
            yield line, f"paragraph {_short(lines[0])} has no title line before it"
    if pending:
        yield pending[0], f"title {_short(pending[1])} has no abstract after it (end of file)"


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --- arXiv JSON / JSONL and BEIR ------------------------------------------------------------------

_RECORD_LIST_KEYS = ("papers", "records", "data")


def _json_lines(text: str) -> Iterator[tuple[int, object]]:
    """Each non-blank line parsed, or a reason string for a line that is not JSON."""
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may be in a string
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON: {exc.msg} (column {exc.colno})"


def _read_arxiv_jsonl(text: str, path: Path) -> Iterator[Item]:
    for line, record in _json_lines(text):
        yield line, (record if isinstance(record, str) else _arxiv_paper(record, path))


def _read_arxiv_json(text: str, path: Path) -> Iterator[Item]:
    """A top-level list, a list under 'papers'/'records'/'data', or one record."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PapersError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}. Fix the file "
            "(or, if it has one record per line, use --format arxiv_jsonl)."
        ) from None
    if isinstance(data, dict):
        key = next((k for k in _RECORD_LIST_KEYS if isinstance(data.get(k), list)), None)
        if key:
            data = data[key]
        elif "title" in data:
            data = [data]
    if not isinstance(data, list):
        raise PapersError(
            f"{path}: expected a JSON list of papers, at the top level or under one of the keys "
            f"{', '.join(_RECORD_LIST_KEYS)}."
        )
    for index, record in enumerate(data, start=1):
        yield index, _arxiv_paper(record, path)


def _arxiv_paper(record: object, path: Path) -> Paper | str:
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    return _paper(
        path,
        id=record.get("id"),
        title=record.get("title"),
        abstract=record.get("abstract", record.get("summary")),
        authors=record.get("authors"),
        date=_arxiv_date(record),
        categories=record.get("categories"),
        doi=record.get("doi"),
    )


def _arxiv_date(record: dict) -> object:
    """First publication: `published`, else the v1 entry of `versions`, else `update_date`."""
    versions = record.get("versions")
    first_version = versions[0] if isinstance(versions, list) and versions else None
    created = first_version.get("created") if isinstance(first_version, dict) else None
    candidates = (
        record.get("published"), created, record.get("update_date"), record.get("date"), record.get("year"),
    )
    return next((value for value in candidates if parse_date(value)), None)


def _read_beir(text: str, path: Path) -> Iterator[Item]:
    for line, record in _json_lines(text):
        if isinstance(record, str):
            yield line, record
        elif not isinstance(record, dict):
            yield line, f"expected a JSON object, got {type(record).__name__}"
        else:
            body = _text(record.get("text"))
            title = _text(record.get("title")).strip() or _first_sentence(normalise_text(body))
            yield line, _paper(path, id=record.get("_id"), title=title, abstract=body)


def _first_sentence(text: str, limit: int = 100) -> str:
    """A stand-in title for BEIR docs that have none."""
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit].rsplit(" ", 1)[0] + "…"


# --- CSV ------------------------------------------------------------------------------------------

_CSV_COLUMNS = {  # field -> accepted header names, compared lower-case without punctuation
    "title": ("title",),
    "abstract": ("abstract", "summary", "text"),
    "id": ("id", "arxivid", "paperid"),
    "authors": ("authors", "author"),
    "date": ("date", "published", "updatedate", "year"),
    "categories": ("categories", "tags"),
    "doi": ("doi",),
    "url": ("url",),
}
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/(.+?)(?:v\d+)?(?:\.pdf)?$")


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _first_line(text: str) -> str:
    return next((line for line in text.split("\n") if line.strip()), "")


def _csv_delimiter(header_line: str) -> str:
    return max(",\t;", key=header_line.count)


def _csv_header(text: str) -> bool:
    """True when the first line names a title column and an abstract-like column."""
    first = _first_line(text)
    try:
        cells = next(csv.reader([first], delimiter=_csv_delimiter(first)), [])
    except csv.Error:  # e.g. a stray carriage return in a file of random bytes
        return False
    keys = {_header_key(cell) for cell in cells}
    return bool(keys & set(_CSV_COLUMNS["title"])) and bool(keys & set(_CSV_COLUMNS["abstract"]))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _csv_column_map(header: list[str], path: Path) -> dict[str, int]:
    """Field -> column index; the first accepted name present wins."""
    keys = [_header_key(cell) for cell in header]
    columns = {}
    for field, names in _CSV_COLUMNS.items():
        index = next((keys.index(name) for name in names if name in keys), None)
        if index is not None:
            columns[field] = index
    missing = [field for field in ("title", "abstract") if field not in columns]
    if missing:
        needed = " and ".join(f"{_article(field)} {field}" for field in missing)
        raise PapersError(
            f"{path}: the CSV needs {needed} column; the columns found are: {', '.join(header) or '(none)'}. "
            "Rename them (accepted: title; abstract, summary or text)."
        )
    return columns


def _read_csv(text: str, path: Path) -> Iterator[Item]:
    """One paper per row; `line` is where the (possibly multi-line) record starts."""
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # abstracts can pass the 128 KiB default
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_csv_delimiter(_first_line(text)))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), [])
        columns = _csv_column_map(header, path)
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in row):
                yield start, _csv_paper(row, columns, path)
    except csv.Error as exc:
        message = f"{path}: broken CSV near line {reader.line_num}: {exc}. Check its quoting."
        raise PapersError(message) from None


def _csv_paper(row: list[str], columns: dict[str, int], path: Path) -> Paper | str:
    def cell(field: str) -> str:
        index = columns.get(field)
        return row[index] if index is not None and index < len(row) else ""

    url_id = _ARXIV_URL.search(cell("url").strip())
    return _paper(
        path,
        id=cell("id") or (url_id.group(1) if url_id else ""),
        title=cell("title"),
        abstract=cell("abstract"),
        authors=cell("authors"),
        date=cell("date"),
        categories=cell("categories"),
        doi=cell("doi"),
    )


_READERS = {
    "hf_page": _read_hf_page,
    "arxiv_json": _read_arxiv_json,
    "arxiv_jsonl": _read_arxiv_jsonl,
    "beir": _read_beir,
    "csv": _read_csv,
}
