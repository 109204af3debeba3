"""Time until searchable: how long an ingest of N real abstracts takes before every paper is found by
title and BM25 (embedding follows, and is left out here), split into its steps, and what the
catalogue and the shared BM25 index cost at that size.

Usage (from benchmarks/, after `make install-test`):
    python searchable.py [--size 10000] [--size 100000] [--queries 50]

The abstracts are real (SciFact's corpus, the arXiv samples and the sample listing page under
../shared/data), repeated with distinct ids, a numbered title and a lightly varied abstract (two
words swapped per copy, seeded) so that sizes and text are real. Each size is written once to an
arXiv JSONL file in benchmarks/.work/ and ingested into a fresh library folder there, the way
`papers ingest` reads it. Printed per size: read, chunk, catalogue write and BM25 build (the time
until searchable is their sum with the rest of the ingest's bookkeeping), BM25 rebuild against
loading the shared index another process built, BM25 search p50/p95 and listing pages p50/p95.
`time_until_searchable` and `abstract_records` are meant for benchmarks/scale.py too.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from common import SHARED, WORK, machine, percentile
from rag import ingest, store
from rag import retrieval as retrieval_module
from rag.lexical import LexicalIndex, index_folder, rebuild
from rag.library import Library
from rag.readers import read_papers
from rag.settings import Settings

SOURCES = [SHARED / "data" / "scifact" / "corpus.jsonl.gz", SHARED / "data" / "arxiv_sample" / "xforce_arxiv.jsonl",
           SHARED / "data" / "arxiv_sample" / "juminsuh_arxiv_papers.csv",
           SHARED / "data" / "hf_papers_page" / "papers.txt"]
SEED = 19


def base_papers():
    """Every distinct real abstract of the shared data sets, in a fixed order."""
    seen, papers = set(), []
    for source in SOURCES:
        for paper in read_papers(source).papers:
            if paper.title.casefold() not in seen:
                seen.add(paper.title.casefold())
                papers.append(paper)
    return papers


def abstract_records(size: int, seed: int = SEED) -> Iterator[dict]:
    """`size` arXiv-style records: the real abstracts over and over, each copy with its own id, its
    copy number in the title (so no two are one paper) and two neighbouring words swapped."""
    rng = random.Random(seed)
    papers = base_papers()
    for number in range(size):
        paper = papers[number % len(papers)]
        copy = number // len(papers)
        words = paper.abstract.split()
        if copy and len(words) > 2:
            at = rng.randrange(len(words) - 1)
            words[at], words[at + 1] = words[at + 1], words[at]
        yield {"id": f"scale-{number:06d}", "title": paper.title + (f" (copy {copy})" if copy else ""),
               "abstract": " ".join(words), "authors": ", ".join(paper.authors), "published": paper.date}


def records_file(size: int) -> Path:
    path = WORK / f"abstracts-{size}.jsonl"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for record in abstract_records(size):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


@contextmanager
def timed(owner, name: str, totals: dict[str, float], step: str) -> Iterator[None]:
    """Adds the time spent in `owner.name` to totals[step] while inside."""
    real = getattr(owner, name)

    def timing(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            totals[step] += time.perf_counter() - started

    setattr(owner, name, timing)
    try:
        yield
    finally:
        setattr(owner, name, real)


def time_until_searchable(library: Library, path: Path) -> dict[str, float]:
    """Seconds from reading `path` to every paper searchable by title and BM25 (the ingest's first
    half; `Library.embed` is the second), in all and per step."""
    totals: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    reading = ingest.read_all([path], None, False)
    totals["read"] = time.perf_counter() - started
    with (timed(ingest, "chunk_all", totals, "chunk"), timed(store.Store, "add", totals, "catalogue write"),
          timed(retrieval_module, "rebuild", totals, "BM25 build")):
        ingest.add(reading, library.retriever)
    totals["searchable"] = time.perf_counter() - started
    return dict(totals)


def latencies(call: Callable[[], object], rounds: int) -> tuple[float, float]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return percentile(seconds, 50) * 1000, percentile(seconds, 95) * 1000


def queries(count: int) -> list[str]:
    path = SHARED / "data" / "scifact" / "queries.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines()[:count]]


def folder_megabytes(path: Path) -> float:
    files = [path] if path.is_file() else path.rglob("*")
    return sum(f.stat().st_size for f in files if f.is_file()) / 1e6


def measure(size: int, rounds: int) -> None:
    path = records_file(size)
    data_dir = WORK / f"searchable-{size}"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir)
    library = Library(settings)
    steps = time_until_searchable(library, path)
    store_ = library.store
    print(f"\n{size:,} abstracts ({store_.count():,} chunks), time until searchable {steps['searchable']:.1f} s: "
          + ", ".join(f"{name} {steps[name]:.1f} s" for name in ("read", "chunk", "catalogue write", "BM25 build")))
    print(f"  embedded {store_.embedded_share()[0]:,} of {store_.embedded_share()[1]:,} papers (embedding not timed here)")

    started = time.perf_counter()
    rebuild(store_, settings)
    rebuilt = time.perf_counter() - started
    started = time.perf_counter()
    LexicalIndex.load(index_folder(store_, settings))
    loaded = time.perf_counter() - started
    print(f"  BM25 index: rebuilt from the catalogue {rebuilt:.1f} s, loaded by another process {loaded:.2f} s; "
          f"{folder_megabytes(settings.bm25_dir):.0f} MB on disk; catalogue "
          f"{folder_megabytes(data_dir / 'catalogue.sqlite'):.0f} MB")

    retriever = library.retriever
    texts = queries(rounds)
    found = iter(texts * 2)
    p50, p95 = latencies(lambda: retriever.search(next(found), k=10, mode="bm25"), len(texts))
    print(f"  BM25 search k=10 ({len(texts)} SciFact queries): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    pages = {
        "first page (50, by title)": {"limit": 50},
        "page 100": {"offset": 5000, "limit": 50},
        "title/author search 'neural'": {"query": "neural", "limit": 50},
        "one source file": {"source": path.name, "limit": 50},
        "years 2019-2021": {"date_from": "2019", "date_to": "2021", "limit": 50},
    }
    for name, filters in pages.items():
        p50, p95 = latencies(lambda filters=filters: store_.papers_page(**filters), rounds)
        print(f"  papers_page {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    p50, p95 = latencies(store_.source_files, rounds)
    print(f"  source_files: p50 {p50:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="abstracts per library (repeatable)")
    parser.add_argument("--queries", type=int, default=50, help="searches and page views timed per figure")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for size in args.size or [10_000, 100_000]:
        measure(size, args.queries)


if __name__ == "__main__":
    main()
