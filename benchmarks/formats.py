"""How the readers do on real exports: per file of tests/fixtures/ (real BibTeX, RIS, CSL-JSON, PubMed,
arXiv API and PDF files, see its SOURCES.md), the format detected, papers read, entries skipped
without an abstract, records rejected, the share of papers with authors and with a date, and the
time taken; for PDFs, pages read per second (a PDF's first pages only). Then, for every PDF in
tests/fixtures/pdf_metadata.jsonl, the title and abstract read against the paper's arXiv metadata
(title exact, abstract similarity >= 0.9). Then the sample listing page read together with every
fixture and a Zotero-style export of five of the listing's papers: how many records were merged
into a paper already read (one paper, one record).

No model runs. Usage: python benchmarks/formats.py
"""

from __future__ import annotations

import json
import tempfile
import time
import unicodedata
from difflib import SequenceMatcher
from pathlib import Path

from pypdf import PdfReader

from common import ROOT, SHARED, machine
from rag.errors import PapersError
from rag.ingest import read_all
from rag.readers import read_papers
from rag.readers.pdf import PAGES
from rag.readers.records import title_key

FIXTURES = ROOT / "tests" / "fixtures"
LISTING = SHARED / "data" / "hf_papers_page" / "papers.txt"
NOT_EXPORTS = {"SOURCES.md", "pdf_metadata.jsonl"}  # what the fixtures are and the PDFs' arXiv metadata


def per_file() -> list[Path]:
    """The table; returns the files that were read."""
    readable = []
    print(f"{'file':28} {'format':12} {'read':>5} {'no abstract':>12} {'rejected':>9} {'authors':>8} "
          f"{'dated':>6} {'ms':>7}")
    for path in sorted(FIXTURES.iterdir()):
        if path.name in NOT_EXPORTS:
            continue
        start = time.perf_counter()
        try:
            result = read_papers(path)
        except PapersError as error:
            print(f"{path.name:28} refused: {str(error)[:90]}")
            continue
        readable.append(path)
        elapsed = (time.perf_counter() - start) * 1000
        papers, rejected = result.papers, result.rejected
        skipped = sum(r.kind == "no_abstract" for r in rejected)
        share = lambda ok: f"{sum(map(ok, papers)) / len(papers):.2f}"  # noqa: E731
        pages = ""
        if path.suffix == ".pdf":
            read_pages = min(PAGES, len(PdfReader(path).pages))
            pages = f", {read_pages / (elapsed / 1000):.1f} pages/s ({read_pages} read)"
        print(f"{path.name:28} {result.format:12} {len(papers):>5} {skipped:>12} {len(rejected) - skipped:>9} "
              f"{share(lambda p: bool(p.authors)):>8} {share(lambda p: bool(p.date)):>6} {elapsed:>7.1f}{pages}")
    return readable


def fold(text: str) -> str:
    """Compatibility forms made plain (NFKC: ligatures), whitespace folded to single spaces, case folded:
    a PDF sets a title in whatever case its style wants (capitals, small capitals), arXiv keeps the
    author's typing, so titles and abstracts are compared without case."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def similarity(found: str, truth: str) -> float:
    """difflib's ratio on the folded texts (autojunk off: in a long text the common letters are not junk)."""
    return SequenceMatcher(None, fold(found), fold(truth), autojunk=False).ratio()


def pdf_accuracy() -> None:
    """Every PDF in pdf_metadata.jsonl against its arXiv metadata: title exact after `fold`, abstract
    similarity (`similarity`) at least 0.9, and pages read per second over all of them."""
    rows = [json.loads(line) for line in (FIXTURES / "pdf_metadata.jsonl").read_text().splitlines() if line.strip()]
    titles = abstracts = pages = 0
    seconds = 0.0
    print(f"\nPDFs against arXiv metadata (title exact, case-insensitive after whitespace folding; abstract "
          f"difflib ratio, same folding):\n{'file':28} {'title':>6} {'abstract':>9}  title read")
    for row in rows:
        path = FIXTURES / row["file"]
        start = time.perf_counter()
        try:
            [paper] = read_papers(path).papers
            title, abstract = paper.title, paper.abstract
        except PapersError as error:
            title, abstract = f"refused: {str(error)[len(str(path)) + 2:][:60]}", ""
        seconds += time.perf_counter() - start
        pages += min(PAGES, len(PdfReader(path).pages))
        exact = fold(title) == fold(row["title"])
        ratio = similarity(abstract, row["abstract"])
        titles += exact
        abstracts += ratio >= 0.9
        print(f"{row['file'][:28]:28} {'yes' if exact else 'NO':>6} {ratio:>9.2f}  {title[:70]}")
    print(f"titles exact {titles}/{len(rows)}, abstracts >= 0.9 {abstracts}/{len(rows)}, "
          f"{pages / seconds:.1f} pages/s ({pages} pages in {seconds:.2f} s)")


ENTRY = """@article{kKEY,
  title = {{{FIRST}} REST},
  author = {Doe, Jane},
  doi = {10.5555/bench.KEY},
  abstract = {Another abstract.}
}
"""


def merging(fixtures: list[Path]) -> None:
    listing = read_papers(LISTING).papers
    export = "\n".join(
        ENTRY.replace("KEY", str(n)).replace("FIRST", paper.title.split()[0])
        .replace("REST", " ".join(paper.title.split()[1:]).lower())
        for n, paper in enumerate(listing[:5])
    )
    with tempfile.TemporaryDirectory() as folder:
        zotero = Path(folder) / "zotero.bib"
        zotero.write_text(export, encoding="utf-8")
        paths = [LISTING, zotero, *fixtures]
        reading = read_all(paths, None, True)
    papers, merged = reading.papers, {id for id, _ in reading.merged}
    titles = [title_key(p.title) for p in papers]
    print(f"\nlisting ({len(listing)} papers) + a Zotero export of 5 of them (titles re-cased and braced) + every "
          f"fixture: {len(papers)} papers, {len(merged)} merged, {len(titles) - len(set(titles))} duplicate titles")


def main() -> None:
    print(f"machine: {machine()}")
    readable = per_file()
    pdf_accuracy()
    merging(readable)


if __name__ == "__main__":
    main()
