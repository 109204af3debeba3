"""How the readers do on real exports: per file of tests/fixtures/ (real BibTeX, RIS, CSL-JSON, PubMed,
arXiv API and PDF files, see its SOURCES.md), the format detected, papers read, entries skipped
without an abstract, records rejected, the share of papers with authors and with a date, and the
time taken; for PDFs, pages read per second (a PDF's first pages only). Then the sample listing page read together with every
fixture and a Zotero-style export of five of the listing's papers: how many records were merged
into a paper already read (one paper, one record).

No model runs. Usage: python benchmarks/formats.py
"""

from __future__ import annotations

import tempfile
import time
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


def per_file() -> list[Path]:
    """The table; returns the files that were read."""
    readable = []
    print(f"{'file':28} {'format':12} {'read':>5} {'no abstract':>12} {'rejected':>9} {'authors':>8} "
          f"{'dated':>6} {'ms':>7}")
    for path in sorted(FIXTURES.iterdir()):
        if path.name == "SOURCES.md":
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
    merging(per_file())


if __name__ == "__main__":
    main()
