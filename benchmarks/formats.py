"""How the readers do on real exports: per file of tests/fixtures/ (real BibTeX, RIS, CSL-JSON, PubMed,
arXiv API and PDF files, see its SOURCES.md), the format detected, papers read, entries skipped
without an abstract, records rejected, the share of papers with authors and with a date, and the
time taken; for PDFs, pages read per second (a PDF's first pages only). Then, for every PDF in
tests/fixtures/pdf_metadata.jsonl, the title, abstract and authors read against the paper's arXiv
metadata (title exact, abstract similarity >= 0.9, authors the same names in the same order, and the
share of arXiv's authors found). Then the sample listing page read together with every
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


def name_key(name: str) -> str:
    """An author's name as compared: `fold`ed, footnote marks, digits and symbols (*, †, ‡, ∗) left out,
    so "Yong Zhuang2" and "Yong Zhuang" are one name; letters, spaces, dots and hyphens are kept."""
    kept = "".join(ch for ch in unicodedata.normalize("NFKC", name)
                   if ch in " .-'" or unicodedata.category(ch)[0] in "LM" or ch.isspace())
    return fold(kept)


def authors_match(found: list[str] | tuple[str, ...], truth: list[str]) -> tuple[bool, int]:
    """Whether the names read are arXiv's, in order (after `name_key`), and how many of arXiv's were read."""
    found_keys = [name_key(name) for name in found]
    truth_keys = [name_key(name) for name in truth]
    return found_keys == truth_keys, sum(key in found_keys for key in truth_keys)


def pdf_accuracy() -> None:
    """Every PDF in pdf_metadata.jsonl against its arXiv metadata: title exact after `fold`, abstract
    similarity (`similarity`) at least 0.9, authors exact after `name_key` and their recall (where the
    line has arXiv's authors), and pages read per second over all of them."""
    rows = [json.loads(line) for line in (FIXTURES / "pdf_metadata.jsonl").read_text().splitlines() if line.strip()]
    titles = abstracts = pages = exact_authors = with_authors = found_authors = all_authors = 0
    seconds = 0.0
    print(f"\nPDFs against arXiv metadata (title exact, case-insensitive after whitespace folding; abstract "
          f"difflib ratio, same folding; authors exact (same names in order, footnote marks left out) and "
          f"arXiv's authors found):\n{'file':28} {'title':>6} {'abstract':>9} {'authors':>8} {'found':>6}  title read")
    for row in rows:
        path = FIXTURES / row["file"]
        start = time.perf_counter()
        authors: tuple[str, ...] = ()
        try:
            [paper] = read_papers(path).papers
            title, abstract, authors = paper.title, paper.abstract, paper.authors
        except PapersError as error:
            title, abstract = f"refused: {str(error)[len(str(path)) + 2:][:60]}", ""
        seconds += time.perf_counter() - start
        pages += min(PAGES, len(PdfReader(path).pages))
        exact = fold(title) == fold(row["title"])
        ratio = similarity(abstract, row["abstract"])
        titles += exact
        abstracts += ratio >= 0.9
        same, found = "-", "-"
        if "authors" in row:
            match, hits = authors_match(authors, row["authors"])
            with_authors += 1
            exact_authors += match
            found_authors += hits
            all_authors += len(row["authors"])
            same, found = ("yes" if match else "NO"), f"{hits}/{len(row['authors'])}"
        print(f"{row['file'][:28]:28} {'yes' if exact else 'NO':>6} {ratio:>9.2f} {same:>8} {found:>6}  {title[:60]}")
        if "authors" in row and same == "NO":
            print(f"{'':28} authors read: {'; '.join(authors)[:110] or '(none)'}")
    print(f"titles exact {titles}/{len(rows)}, abstracts >= 0.9 {abstracts}/{len(rows)}, "
          f"{pages / seconds:.1f} pages/s ({pages} pages in {seconds:.2f} s)")
    print(f"authors exact {exact_authors}/{with_authors}, author recall {found_authors / max(all_authors, 1):.2f} "
          f"({found_authors} of {all_authors} arXiv authors found)")


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
