"""Scale (issue 19): libraries of 10k, 50k and 100k real abstracts, and what a user meets at each size.

Usage (from the checkout, after `make install-test`):
    python benchmarks/scale.py [--size 10000] [--size 50000] [--size 100000] [--queries 50]
                               [--no-browser] [--no-embedding] [--existing]

The abstracts are real (SciFact's corpus, the arXiv samples and the sample listing page under
../shared/data), repeated with distinct ids, a copy number in the title and two neighbouring words
swapped per copy (seeded), so sizes and text are real; each record gets a seeded year (2010-2025) and
goes to one of five listing files, which the library then filters on. Each size is ingested into a
fresh library under benchmarks/.work/scale-SIZE, and printed against the issue's targets:

1. time until searchable: read, chunk, catalogue write and BM25 build (target: 100k under 180 s);
   the BM25 index rebuilt by the writer against loaded by another replica; disk per part.
2. vectors: the local model embeds about 20 chunks/s on 2 cores (measured first), so embedding 100k
   abstracts takes hours; its projected time is printed, and seeded random unit vectors are written
   through the store's own write path instead, so that dense search costs what it would (its rankings
   mean nothing; BM25 and the query embeddings are real).
3. in process: search p50/p95 (hybrid, k=5) without filters, with a year range, one file, both
   (target: 150 ms p50); a chat question up to where the model
   starts writing; the Library page's first page and a search, a picker's 20 matches.
4. `papers serve` on the library: POST /v1/search p50/p95 at concurrency 16, and the server's memory.
5. in Chromium (Debian's, as tests/test_browser.py drives it) over `papers ui`, started three times: the
   Library page's first view in each fresh process (target 2 s) and a second visit, each beside a bare
   Streamlit page's (Streamlit's own floor); a picker's reply to typed words after the last key (target
   1 s), Streamlit's 250 ms pause before a live text input commits included.
6. memory: this process's peak RSS; disk of the library folder.
First, whatever the size: the local embedding model alone against `embed(texts)`, and an
OpenAI-compatible embeddings server (llama.cpp's) alone against our client (target 80%), as
benchmarks/embedding.py measures them.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from embedding import chunk_texts, load, local_raw_vs_full, server_vs_ours

from common import ROOT, SHARED, WORK, machine, percentile

sys.path.insert(0, str(ROOT / "tests"))
from conftest import PAPERS_CLI, cli_env, free_port, serving
from rag import ingest, store
from rag import retrieval as retrieval_module
from rag.lexical import LexicalIndex, index_folder, rebuild
from rag.library import Library
from rag.readers import read_papers
from rag.retrieval import Filters
from rag.settings import Settings

SOURCES = [SHARED / "data" / "scifact" / "corpus.jsonl.gz", SHARED / "data" / "arxiv_sample" / "xforce_arxiv.jsonl",
           SHARED / "data" / "arxiv_sample" / "juminsuh_arxiv_papers.csv",
           SHARED / "data" / "hf_papers_page" / "papers.txt"]
LISTINGS = [f"listing-{n}.jsonl" for n in range(1, 6)]
SEED = 19
DIMENSIONS = 384
"""all-MiniLM-L6-v2's vector size, which the library's queries are embedded at."""
VECTOR_BATCH = 1000
"""Papers whose random vectors go to Chroma per write."""
CONCURRENCY = 16
PICKER_WORDS = "protein"
FRESH_STARTS = 3
TARGETS = {"searchable": 180.0, "search p50": 0.150, "first view": 2.0, "picker": 1.0}


def base_papers():
    """Every distinct real abstract of the shared data sets, in a fixed order."""
    seen, papers = set(), []
    for source in SOURCES:
        for paper in read_papers(source).papers:
            if paper.title.casefold() not in seen:
                seen.add(paper.title.casefold())
                papers.append(paper)
    return papers


def abstract_records(size: int, seed: int = SEED) -> Iterator[tuple[str, dict]]:
    """`size` arXiv-style records, each with the listing file it goes to: the real abstracts over and
    over, each copy with its own id, its copy number in the title (so no two are one paper), two
    neighbouring words swapped, and a seeded year."""
    rng = random.Random(seed)
    papers = base_papers()
    for number in range(size):
        paper = papers[number % len(papers)]
        copy = number // len(papers)
        words = paper.abstract.split()
        if copy and len(words) > 2:
            at = rng.randrange(len(words) - 1)
            words[at], words[at + 1] = words[at + 1], words[at]
        yield rng.choice(LISTINGS), {
            "id": f"scale-{number:06d}", "title": paper.title + (f" (copy {copy})" if copy else ""),
            "abstract": " ".join(words), "authors": ", ".join(paper.authors),
            "published": f"{rng.randint(2010, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}


def records_files(size: int) -> list[Path]:
    folder = WORK / f"abstracts-{size}"
    paths = [folder / name for name in LISTINGS]
    if not all(path.exists() for path in paths):
        folder.mkdir(parents=True, exist_ok=True)
        files = {name: (folder / name).open("w", encoding="utf-8") for name in LISTINGS}
        for name, record in abstract_records(size):
            files[name].write(json.dumps(record, ensure_ascii=False) + "\n")
        for file in files.values():
            file.close()
    return paths


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


def time_until_searchable(library: Library, paths: list[Path]) -> dict[str, float]:
    """Seconds from reading `paths` to every paper searchable by title and BM25 (the ingest's first
    half; embedding is the second), in all and per step."""
    totals: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    reading = ingest.read_all(paths, None, False)
    totals["read"] = time.perf_counter() - started
    with (timed(ingest, "chunk_paper", totals, "chunk"), timed(store.Store, "add", totals, "catalogue write"),
          timed(retrieval_module, "rebuild", totals, "BM25 build")):
        ingest.add(reading, library.retriever)
    totals["searchable"] = time.perf_counter() - started
    return dict(totals)


def random_vectors(library: Library) -> float:
    """Seeded random unit vectors for every pending chunk, through the store's write path; seconds."""
    draw = np.random.default_rng(SEED)
    started = time.perf_counter()
    while batch := library.store.pending(VECTOR_BATCH):
        items = [(paper, n, chunk) for paper, n, chunks in batch for chunk in chunks]
        unit = draw.normal(size=(len(items), DIMENSIONS))
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        library.store.save_vectors([(*item, vector) for item, vector in zip(items, unit.tolist())], [])
    return time.perf_counter() - started


def latencies(call: Callable[[int], object], rounds: int) -> tuple[float, float]:
    """p50 and p95 of `call(round)`, in seconds."""
    seconds = []
    for number in range(rounds):
        started = time.perf_counter()
        call(number)
        seconds.append(time.perf_counter() - started)
    return percentile(seconds, 50), percentile(seconds, 95)


def shown(name: str, figures: tuple[float, float], target: float | None = None) -> None:
    p50, p95 = figures
    verdict = "" if target is None else f" (target {target * 1000:.0f} ms p50: {'met' if p50 <= target else 'NOT met'})"
    print(f"  {name}: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms{verdict}", flush=True)


def queries(count: int) -> list[str]:
    path = SHARED / "data" / "scifact" / "queries.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines()[:count]]


def megabytes(path: Path) -> float:
    files = [path] if path.is_file() else path.rglob("*")
    return sum(f.stat().st_size for f in files if f.is_file()) / 1e6


def build(size: int, settings: Settings, chunks_per_second: float | None) -> Library:
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    paths = records_files(size)
    library = Library(settings)
    steps = time_until_searchable(library, paths)
    chunks = library.store.count()
    met = "met" if steps["searchable"] <= TARGETS["searchable"] else "NOT met"
    print(f"1. time until searchable {steps['searchable']:.1f} s (target for 100k: {TARGETS['searchable']:.0f} s, "
          f"{met}): " + ", ".join(f"{name} {steps[name]:.1f} s" for name in ("read", "chunk", "catalogue write",
                                                                             "BM25 build"))
          + " (chunking runs on every core: its time is summed over its threads)", flush=True)
    started = time.perf_counter()
    rebuild(library.store, settings)
    rebuilt = time.perf_counter() - started
    started = time.perf_counter()
    LexicalIndex.load(index_folder(library.store, settings))
    print(f"   BM25 index rebuilt by the writer {rebuilt:.1f} s, loaded by another replica "
          f"{time.perf_counter() - started:.2f} s", flush=True)
    if chunks_per_second:
        print(f"2. embedding {chunks:,} chunks with the local model would take about "
              f"{chunks / chunks_per_second / 3600:.1f} h at {chunks_per_second:.1f} chunks/s (measured above); "
              "random vectors instead:", flush=True)
    print(f"   {chunks:,} random vectors written to Chroma in {random_vectors(library):.0f} s; embedded "
          f"{library.store.embedded_share()[0]:,} of {library.store.embedded_share()[1]:,} papers", flush=True)
    return library


def in_process(library: Library, rounds: int) -> None:
    claims = queries(rounds)
    library.search(claims[0])  # the embedding model and the index, loaded once
    print("3. in process (this benchmark's process)")
    cases = {
        "search k=5, no filter": Filters(),
        "search k=5, years 2018-2020": Filters(date_from="2018", date_to="2020"),
        "search k=5, one file": Filters(source=LISTINGS[0]),
        "search k=5, one file and years 2018-2020": Filters(source=LISTINGS[0], date_from="2018", date_to="2020"),
    }
    for name, filters in cases.items():
        shown(name, latencies(lambda n, f=filters: library.search(claims[n % len(claims)], filters=f), rounds),
              TARGETS["search p50"])
    shown("a chat question before the model writes (retrieval and the sources it is shown; `--size 87` for the "
          "sample's size)", latencies(lambda n: library.ask_stream(claims[n % len(claims)]), rounds))
    shown("Library page: first page of 50", latencies(lambda _: library.papers(limit=50), rounds))
    shown("Library page: search 'neural'", latencies(lambda _: library.papers("neural", limit=50), rounds))
    shown(f"picker: 20 matches of '{PICKER_WORDS}'", latencies(lambda _: library.papers(PICKER_WORDS, limit=20), rounds))


def served(settings: Settings, folder: Path, rounds: int) -> None:
    """`papers serve` on the library, CONCURRENCY clients searching at once."""
    claims = queries(rounds)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = cli_env(PAPERS_DATA_DIR=str(settings.data_dir))
    command = [str(PAPERS_CLI), "serve", "--port", str(port)]
    with serving(command, f"{url}/readyz", folder / "serve.log", "papers serve", cwd=folder, env=env) as server, \
            httpx.Client(base_url=url, timeout=600, trust_env=False,
                         limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        def search(number: int) -> float:
            started = time.perf_counter()
            reply = client.post("/v1/search", json={"query": claims[number % len(claims)], "k": 5})
            reply.raise_for_status()
            return time.perf_counter() - started

        search(0)
        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            seconds = list(pool.map(search, range(CONCURRENCY * 8)))
        wall = time.perf_counter() - started
        rss = int(Path(f"/proc/{server.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    print(f"4. papers serve, POST /v1/search at concurrency {CONCURRENCY}: p50 {percentile(seconds, 50) * 1000:.0f} ms, "
          f"p95 {percentile(seconds, 95) * 1000:.0f} ms per request, {len(seconds) / wall:.1f} requests/s; "
          f"server memory {rss:.0f} MB", flush=True)


def in_browser(settings: Settings, library: Library, folder: Path) -> None:
    """`papers ui` started FRESH_STARTS times on one address, one browser: the Library page's first view
    in each fresh app process (the first with the browser's cache empty) and a second visit, then a
    picker's reply. Each start is timed on its own: one reading on a shared 2-core machine varies by
    half a second. After each, a bare Streamlit page showing the same caption is timed the same way:
    what Streamlit itself takes to start in the browser on this machine, the floor under the target."""
    from playwright.sync_api import expect, sync_playwright
    from test_browser import CHROMIUM_ARGS, chromium

    total = library.papers(limit=0).total
    matches = library.papers(PICKER_WORDS, limit=0).total
    port = free_port()
    env = cli_env(PAPERS_DATA_DIR=str(settings.data_dir))
    url = f"http://127.0.0.1:{port}"
    first_page = f"1–50 of {total:,} papers"
    bare = folder / "bare_streamlit_page.py"
    bare.write_text(f'import streamlit as st\nst.title("Library")\nst.caption("{first_page}")\n')
    bare_command = [sys.executable, "-m", "streamlit", "run", str(bare), "--server.port", str(port),
                    "--server.headless", "true"]
    print("5. in Chromium, `papers ui`, and for reference a bare Streamlit page (a title and the same caption)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium()), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            views: dict[str, list[float]] = defaultdict(list)
            for start in range(FRESH_STARTS):
                for page, command in (("Library page", [str(PAPERS_CLI), "ui", "--port", str(port)]),
                                      ("bare Streamlit page", bare_command)):
                    with serving(command, f"{url}/_stcore/health", folder / "streamlit.log", page, cwd=folder, env=env):
                        for visit in ("first view, fresh process", "second visit"):
                            tab = context.new_page()
                            started = time.perf_counter()
                            tab.goto(f"{url}/library" if page == "Library page" else url)
                            expect(tab.get_by_text(first_page)).to_be_visible(timeout=600_000)
                            views[f"{page}, {visit}"].append(time.perf_counter() - started)
                            tab.close()
                        if page == "Library page" and start == FRESH_STARTS - 1:
                            picker_replies(context.new_page(), url, total, matches)
            for view, seconds in views.items():
                median = percentile(seconds, 50)
                verdict = "met" if median <= TARGETS["first view"] else "NOT met"
                target = f" (target {TARGETS['first view']:.0f} s: {verdict})" if view.startswith("Library") else ""
                print(f"  {view}, {FRESH_STARTS} starts (the first with the browser's cache empty): "
                      + ", ".join(f"{s:.2f} s" for s in seconds) + f" to '{first_page}', median {median:.2f} s{target}",
                      flush=True)
        finally:
            browser.close()


def picker_replies(tab, url: str, total: int, matches: int) -> None:
    from playwright.sync_api import expect

    tab.goto(f"{url}/digest")
    box = tab.get_by_placeholder("Type a few words of the title")
    expect(box).to_be_visible(timeout=600_000)
    replies = []
    for _ in range(3):
        box.fill("")
        expect(tab.get_by_text(f"of {total:,} matches")).to_be_visible(timeout=600_000)
        box.press_sequentially(PICKER_WORDS)
        started = time.perf_counter()
        expect(tab.get_by_text(f"The first 20 of {matches:,} matches")).to_be_visible(timeout=600_000)
        replies.append(time.perf_counter() - started)
    verdict = "met" if percentile(replies, 50) <= TARGETS["picker"] else "NOT met"
    print(f"  picker reply to '{PICKER_WORDS}' ({matches:,} matches) after the last key: "
          + ", ".join(f"{s:.2f} s" for s in replies) + f" (target {TARGETS['picker']:.0f} s: {verdict})",
          flush=True)


def embedding_throughput(rounds: int) -> float:
    """The local model's and a server's throughput; returns the local model's chunks/s at the defaults."""
    settings = Settings(_env_file=None)
    texts = chunk_texts(128, settings)
    figures = local_raw_vs_full(texts, settings, rounds)
    server_texts = [text[:240] for text in texts[:32]]
    server_vs_ours(server_texts, settings.model_copy(update={"embedding_batch_size": 8}), rounds)
    return figures["full"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="abstracts per library (repeatable; "
                        "default 10000, 50000, 100000)")
    parser.add_argument("--queries", type=int, default=50, help="searches and page views timed per figure")
    parser.add_argument("--no-browser", action="store_true", help="skip the figures taken in Chromium")
    parser.add_argument("--no-embedding", action="store_true", help="skip the embedding throughput (7, 8)")
    parser.add_argument("--existing", action="store_true", help="measure the libraries an earlier run built "
                        "(1 and 2 are skipped), to measure a change to search, the service or the app again")
    args = parser.parse_args()
    print(f"machine: {machine()}; load: {load()}")
    chunks_per_second = None if args.no_embedding else embedding_throughput(2)
    for size in args.size or [10_000, 50_000, 100_000]:
        folder = WORK / f"scale-{size}"
        settings = Settings(_env_file=None, data_dir=folder / "library", chroma_host=None)
        print(f"\n{size:,} abstracts in {settings.data_dir}; load: {load()}", flush=True)
        library = Library(settings) if args.existing else build(size, settings, chunks_per_second)
        in_process(library, args.queries)
        served(settings, folder, args.queries)
        if not args.no_browser:
            in_browser(settings, library, folder)
        print(f"6. memory: this process's peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
              f"disk: catalogue {megabytes(settings.data_dir / 'catalogue.sqlite'):.0f} MB, "
              f"BM25 {megabytes(settings.bm25_dir):.0f} MB, Chroma {megabytes(settings.chroma_dir):.0f} MB", flush=True)
    print(f"\nload at the end: {load()}")


if __name__ == "__main__":
    main()
