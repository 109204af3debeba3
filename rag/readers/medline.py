"""pubmed: PubMed's "Save -> PubMed format" (`.nbib`, MEDLINE tags), read with Biopython's Bio.Medline.

PyPI's dedicated nbib parsers (nbib 0.3.2, last released 2021; pybtexnbib, a pybtex plugin) are
small and little used, while Biopython is maintained and its Medline parser is the one PubMed users
meet; it joins a field's continuation lines (the abstract runs over many). It does not say where a
record starts or check a line's form, so the text is cut into records here, each from its `PMID-`
line, and a record with a line that is neither `TAG - value` nor a continuation is rejected at it.
Fields: TI, AB, FAU (else AU), DP, the DOI from AID/LID; the id is the DOI, else `pmid:` and the PMID.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

from Bio import Medline

from rag.paper import Paper
from rag.readers.normalise import as_text
from rag.readers.records import Item, short
from rag.readers.reference import person, reference_paper

_FIELD = re.compile(r"^[A-Z][A-Z0-9]{1,3} *- ")  # "PMID- ", "TI  - ", "FAU - "
_CONTINUATION = "      "
_DOI = re.compile(r"(10\.\d{4,9}/\S+) \[doi\]")
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()


def looks_like_medline(text: str) -> bool:
    return bool(re.search(r"^PMID- ?\d+", text, re.MULTILINE))


def medline_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each record's lines, from its `PMID-` line, with the line it starts on."""
    start, lines = 0, []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if line.startswith("PMID-"):
            if lines:
                yield start, lines
            start, lines = number, []
        if start:
            lines.append(line)
    if lines:
        yield start, lines


def read_medline(text: str, path: Path) -> Iterator[Item]:
    for start, lines in medline_records(text):
        odd = next((i for i, line in enumerate(lines)
                    if line.strip() and not _FIELD.match(line) and not line.startswith(_CONTINUATION)), None)
        if odd is not None:
            yield start, (f"line {start + odd} is neither a 'TAG - value' line nor an indented continuation: "
                          f"{short(lines[odd].strip())}")
            continue
        yield start, _medline_paper(Medline.read(io.StringIO("\n".join(lines))), path)


def _medline_paper(record: dict, path: Path) -> Paper | str:
    pmid = as_text(record.get("PMID")).strip()
    ids = [*record.get("AID", []), as_text(record.get("LID"))]
    doi = next((m.group(1) for text in ids if (m := _DOI.search(text))), "")
    return reference_paper(
        path,
        what=f"PMID {pmid}",
        title=record.get("TI") or record.get("BTI"),
        abstract=record.get("AB"),
        authors=[person(name) for name in record.get("FAU") or record.get("AU") or []],
        date=_medline_date(record.get("DP")),
        keywords=record.get("OT") or [],
        doi=doi,
        fallback_id=f"pmid:{pmid}" if pmid else "",
    )


def _medline_date(value: object) -> str:
    """DP is 'YYYY Mon DD', 'YYYY Mon', 'YYYY Mon-Mon' or 'YYYY Season'; as ISO, as far as it goes."""
    parts = as_text(value).split()
    if not parts or not re.fullmatch(r"\d{4}", parts[0]):
        return ""
    month = parts[1][:3].lower() if len(parts) > 1 else ""
    if month not in _MONTHS:
        return parts[0]
    date = f"{parts[0]}-{_MONTHS.index(month) + 1:02d}"
    return f"{date}-{int(parts[2]):02d}" if len(parts) > 2 and parts[2].isdigit() else date
