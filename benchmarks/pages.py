"""The app's pages, its pickers and filtered search, timed on a large library.

Usage (from the checkout, after `make install-test`):
    python benchmarks/pages.py [--size 10000] [--rounds 30]

The library (benchmarks/.work/pages-SIZE, built once) holds SIZE papers made of SciFact's 5,183 real
abstracts (`../shared/data/scifact`), repeated with distinct ids and a variant mark in the title past
the first round, each given a year (2010-2025) and one of five source files, both drawn with a fixed
seed. Its vectors are NOT the embedding model's: random unit vectors are written straight to Chroma,
because real embeddings run at about 10 papers/s on 2 cores. The dense rankings are therefore
meaningless, but their cost (Chroma's query with and without a filter) is the real one; BM25 is built
from the real text. Queries are SciFact's claims, embedded by the real model.

Prints, in process: a Library page's papers (first page, a search), a picker's 20 matches, search
p50/p95 without filters, with a year range, with a source file, with both; then in Chromium (Debian's,
as tests/test_browser.py drives it) over `streamlit run`: the Library page's first view (a fresh
process, then a second visit) and a picker's reply to typed words (including Streamlit's 250 ms pause
before a live text input commits).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from common import ROOT, SHARED, WORK, machine, percentile

sys.path.insert(0, str(ROOT / "tests"))
from conftest import UI_APP, cli_env, free_port, serving
from rag.chunking import chunk_paper
from rag.library import Library
from rag.paper import Paper
from rag.retrieval import Filters
from rag.settings import Settings

SOURCES = [f"listing-{n}.jsonl" for n in range(1, 6)]
DIMENSIONS = 384
"""all-MiniLM-L6-v2's vector size, which the library's queries are embedded at."""
BATCH = 500
PICKER_WORDS = "protein"


def corpus() -> list[dict]:
    with gzip.open(SHARED / "data" / "scifact" / "corpus.jsonl.gz", "rt") as lines:
        return [record for line in lines if (record := json.loads(line)).get("text")]


def build(settings: Settings, size: int) -> Library:
    library = Library(settings)
    if library.store.count():
        return library
    draw = random.Random(19)
    vectors = np.random.default_rng(19)
    records = corpus()
    started = time.perf_counter()
    batch = []
    for number, record in enumerate(islice(cycle(records), size)):
        variant = number // len(records)
        paper = Paper(id=f"{record['_id']}-{variant}", abstract=record["text"],
                      title=record["title"] + (f" (variant {variant})" if variant else ""),
                      date=f"{draw.randint(2010, 2025)}-{draw.randint(1, 12):02d}-01", source_file=draw.choice(SOURCES))
        chunks = chunk_paper(paper, settings)
        unit = vectors.normal(size=(len(chunks), DIMENSIONS))
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        batch.append((paper, chunks, unit.tolist()))
        if len(batch) == BATCH:
            library.store.write(batch)
            batch = []
            print(f"  {number + 1:,} papers written to Chroma", flush=True)
    library.store.write(batch)
    print(f"built {size:,} papers ({library.store.count():,} chunks) in {time.perf_counter() - started:.0f} s, "
          "random vectors", flush=True)
    return library


def report(name: str, work, rounds: int) -> None:
    """p50 and p95 of `work(round)`."""
    seconds = []
    for number in range(rounds):
        started = time.perf_counter()
        work(number)
        seconds.append(time.perf_counter() - started)
    print(f"{name}: p50 {percentile(seconds, 50) * 1000:.0f} ms, p95 {percentile(seconds, 95) * 1000:.0f} ms",
          flush=True)


def in_process(library: Library, rounds: int) -> None:
    claims = [json.loads(line)["text"] for line in (SHARED / "data" / "scifact" / "queries.jsonl").open()][:rounds]
    started = time.perf_counter()
    library.open()
    print(f"library opened (BM25 built or loaded, embedding model loaded) in {time.perf_counter() - started:.1f} s")
    report("Library.papers first page (50)", lambda _: library.papers(limit=50), 5)
    report("Library.papers search 'cancer' (50)", lambda _: library.papers("cancer", limit=50), 5)
    report(f"picker: Library.papers('{PICKER_WORDS}', limit=20)", lambda _: library.papers(PICKER_WORDS, limit=20), 5)
    report("Library.source_files()", lambda _: library.source_files(), 5)
    library.search(claims[0])  # warm
    cases = {
        "no filter": Filters(),
        "years 2018-2020": Filters(date_from="2018", date_to="2020"),
        "one source file": Filters(source=SOURCES[0]),
        "both": Filters(source=SOURCES[0], date_from="2018", date_to="2020"),
    }
    for name, filters in cases.items():
        report(f"search k=5, {name}", lambda n: library.search(claims[n % len(claims)], filters=filters), rounds)


def in_browser(settings: Settings, library: Library, folder: Path) -> None:
    from playwright.sync_api import expect, sync_playwright
    from test_browser import CHROMIUM_ARGS, chromium

    total = library.papers(limit=0).total
    matches = library.papers(PICKER_WORDS, limit=0).total
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(UI_APP), "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    env = cli_env(PAPERS_DATA_DIR=str(settings.data_dir))
    url = f"http://127.0.0.1:{port}"
    first_page = f"1–50 of {total:,} papers"
    with serving(command, f"{url}/_stcore/health", folder / "streamlit.log", "streamlit", cwd=folder, env=env), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium()), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for visit in ("first view, fresh process", "second visit"):
                tab = context.new_page()
                started = time.perf_counter()
                tab.goto(f"{url}/library")
                expect(tab.get_by_text(first_page)).to_be_visible(timeout=600_000)
                print(f"Library page, {visit}: {time.perf_counter() - started:.2f} s to '{first_page}'")
            tab.goto(f"{url}/digest")
            box = tab.get_by_placeholder("Type a few words of the title")
            expect(box).to_be_visible(timeout=600_000)
            for attempt in range(3):
                box.fill("")
                expect(tab.get_by_text(f"of {total:,} matches")).to_be_visible(timeout=600_000)
                box.press_sequentially(PICKER_WORDS)
                started = time.perf_counter()
                expect(tab.get_by_text(f"The first 20 of {matches:,} matches")).to_be_visible(timeout=600_000)
                print(f"picker reply to '{PICKER_WORDS}' ({matches:,} matches), try {attempt + 1}: "
                      f"{time.perf_counter() - started:.2f} s after the last key")
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-browser", action="store_true", help="Only the in-process figures.")
    args = parser.parse_args()
    folder = WORK / f"pages-{args.size}"
    settings = Settings(_env_file=None, data_dir=folder / "library", chroma_host=None)
    print(f"machine: {machine()}; library: {settings.data_dir}")
    library = build(settings, args.size)
    in_process(library, args.rounds)
    if not args.no_browser:
        in_browser(settings, library, folder)


if __name__ == "__main__":
    main()
