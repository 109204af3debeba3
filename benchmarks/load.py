"""`papers serve` under load: concurrent users mixing search and streamed ask, answered by SmolLM2.

Usage (from benchmarks/, after `make install-test`):
    python load.py [--users 20] [--duration 60] [--ask-share 0.25] [--max-tokens 48] [--url URL]

The script ingests the sample library into benchmarks/.work/sample if it is not there yet, starts
`papers serve` on a free loopback port with the small test model (SmolLM2-135M, found as the tests
find it), and stops it at the end; `--url` measures a server that is already running instead.
It prints search latency over HTTP at concurrency 1 and 16 beside in-process search on the same
library, then the mixed load: requests/s, p50/p95 per route, 429s, 5xx (must be none) and whether
every accepted ask ended with its `answer` event. Exit status 1 if either contract check fails.
Other PAPERS_* variables (e.g. PAPERS_MAX_WAITING) reach the server unchanged; with PAPERS_API_KEYS
set, requests carry its first key.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass

import httpx

from common import ROOT, WORK, dev_questions, machine, percentile

sys.path.insert(0, str(ROOT / "tests"))
from conftest import PAPERS_CLI, as_env, free_port, locate_small_model, serving, small_model
from rag.library import Library
from rag.settings import Settings

SEARCH_ROUNDS = 40
"""Searches timed at concurrency 1, and by each of the 16 concurrent searchers."""


@dataclass
class Outcome:
    route: str
    status: int
    seconds: float
    answered: bool = False
    """For an accepted ask: the stream began with `sources` and ended with its `answer` event."""
    first_token: float | None = None


def library() -> Library:
    WORK.mkdir(parents=True, exist_ok=True)
    opened = Library(Settings(_env_file=None, data_dir=WORK / "sample", chroma_host=None))
    if not opened.store.count():
        print(f"ingesting the sample library into {opened.settings.data_dir} ...", flush=True)
        print(opened.ingest([opened.settings.sample_library]).summary(), flush=True)
    return opened


async def search(client: httpx.AsyncClient, query: str) -> Outcome:
    start = time.perf_counter()
    response = await client.post("/v1/search", json={"query": query, "k": 5})
    return Outcome("search", response.status_code, time.perf_counter() - start)


async def ask(client: httpx.AsyncClient, question: str) -> tuple[Outcome, float]:
    """A streamed ask, read to its end; also the Retry-After of a 429 (0 otherwise)."""
    start = time.perf_counter()
    events: list[str] = []
    first_token = None
    async with client.stream(
        "POST", "/v1/ask", json={"question": question, "history": []}, headers={"Accept": "text/event-stream"}
    ) as response:
        if response.status_code == 200:
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    events.append(line.removeprefix("event:").strip())
                    if events[-1] == "token" and first_token is None:
                        first_token = time.perf_counter() - start
        else:
            await response.aread()
        retry = float(response.headers.get("Retry-After", 0) or 0) if response.status_code == 429 else 0.0
    answered = bool(events) and events[0] == "sources" and events[-1] == "answer"
    return Outcome("ask", response.status_code, time.perf_counter() - start, answered, first_token), retry


async def search_latency(client: httpx.AsyncClient, queries: list[str], concurrency: int) -> list[float]:
    async def searcher(offset: int) -> list[float]:
        times = []
        for i in range(SEARCH_ROUNDS):
            outcome = await search(client, queries[(offset + i) % len(queries)])
            if outcome.status == 200:
                times.append(outcome.seconds)
        return times

    return [t for times in await asyncio.gather(*(searcher(n) for n in range(concurrency))) for t in times]


async def mixed_load(client: httpx.AsyncClient, queries: list[str], users: int, duration: float, ask_share: float):
    """Each user sends one request after another until time is up: an ask with probability `ask_share`,
    else a search. A 429 is honoured as a client should: the user waits its Retry-After (at most 5 s)."""
    outcomes: list[Outcome] = []
    errors: list[str] = []
    deadline = time.monotonic() + duration

    async def user(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            query = rng.choice(queries)
            try:
                if rng.random() < ask_share:
                    outcome, retry = await ask(client, query)
                else:
                    outcome, retry = await search(client, query), 0.0
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            outcomes.append(outcome)
            if retry:
                await asyncio.sleep(min(retry, 5.0, max(0.0, deadline - time.monotonic())))

    start = time.monotonic()
    await asyncio.gather(*(user(seed) for seed in range(users)))
    return outcomes, errors, time.monotonic() - start


def report_search(label: str, times: list[float]) -> None:
    print(f"{label:<34} n={len(times):>4}  p50 {percentile(times, 50) * 1000:7.1f} ms  "
          f"p95 {percentile(times, 95) * 1000:7.1f} ms")


def report_load(outcomes: list[Outcome], errors: list[str], elapsed: float, args: argparse.Namespace) -> bool:
    """Rates are over the whole run, including the wait for requests still open when time was up."""
    print(f"\nmixed load: {args.users} users, {args.ask_share:.0%} asks, new requests for {args.duration:.0f} s, "
          f"the last one done after {elapsed:.0f} s: {len(outcomes)} requests, {len(outcomes) / elapsed:.2f} requests/s")
    by_route: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_route[outcome.route].append(outcome)
    for route, rows in sorted(by_route.items()):
        ok = [o.seconds for o in rows if o.status == 200]
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(_count(o.status for o in rows).items()))
        print(f"  {route:<7} {len(rows):>5} sent ({statuses}); 200s: {len(ok) / elapsed:.2f}/s, "
              f"p50 {percentile(ok, 50):.3f} s, p95 {percentile(ok, 95):.3f} s")
    too_many = sum(o.status == 429 for o in outcomes)
    server_errors = [o for o in outcomes if o.status >= 500]
    accepted = [o for o in by_route["ask"] if o.status == 200]
    answered = sum(o.answered for o in accepted)
    first = [o.first_token for o in accepted if o.first_token is not None]
    print(f"  ask time to first token: p50 {percentile(first, 50):.3f} s, p95 {percentile(first, 95):.3f} s")
    print(f"  429s: {too_many}")
    print(f"  5xx: {len(server_errors)}" + ("" if not server_errors else "  <- must be 0"))
    print(f"  accepted asks that got their answer event: {answered}/{len(accepted)}")
    if errors:
        print(f"  connection errors: {len(errors)} (first: {errors[0]})")
    return not server_errors and answered == len(accepted) and not errors


def _count(values) -> dict:
    counts: dict = defaultdict(int)
    for value in values:
        counts[value] += 1
    return counts


async def measure(url: str, searched: Library, args: argparse.Namespace) -> bool:
    queries = [row["question"] for row in dev_questions("qa")]
    limits = httpx.Limits(max_connections=args.users + 16, max_keepalive_connections=args.users + 16)
    key = (os.environ.get("PAPERS_API_KEYS") or "").split(",")[0].strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=httpx.Timeout(300.0), limits=limits, trust_env=False
    ) as client:
        warm, _ = await ask(client, queries[0])  # loads the model; not counted
        print(f"warm-up ask: {warm.status}, {warm.seconds:.1f} s, answer event: {warm.answered}")
        for query in queries[:3]:
            await search(client, query)

        in_process = []
        for i in range(SEARCH_ROUNDS):
            start = time.perf_counter()
            searched.search(queries[i % len(queries)], 5)
            in_process.append(time.perf_counter() - start)
        print()
        report_search("search in process (Library)", in_process)
        report_search("search over HTTP, concurrency 1", await search_latency(client, queries, 1))
        report_search("search over HTTP, concurrency 16", await search_latency(client, queries, 16))

        return report_load(*await mixed_load(client, queries, args.users, args.duration, args.ask_share), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of mixed load.")
    parser.add_argument("--ask-share", type=float, default=0.25, help="Share of requests that are asks.")
    parser.add_argument("--max-tokens", type=int, default=48, help="Longest answer SmolLM2 writes.")
    parser.add_argument("--url", help="Measure this running server (its library should be the sample's).")
    args = parser.parse_args()

    searched = library()
    settings = searched.settings
    print(f"machine: {machine()}; library: {settings.data_dir} ({searched.papers().total} papers)")
    if args.url:
        url, server = args.url.rstrip("/"), nullcontext()
    else:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **as_env(small_model(locate_small_model(), max_answer_tokens=args.max_tokens))}
        log = WORK / "load-server.log"
        command = [str(PAPERS_CLI), "--data-dir", str(settings.data_dir), "serve", "--host", "127.0.0.1",
                   "--port", str(port)]
        server = serving(command, f"{url}/healthz", log, "papers serve", env=env, cwd=WORK)
        print(f"server: {' '.join(command)} (SmolLM2, 1 thread, {args.max_tokens} tokens; log {log})")
    with server:
        passed = asyncio.run(measure(url, searched, args))
    print("\ncontract:", "PASS" if passed else "FAIL")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
