"""Retrieval quality and speed: SciFact nDCG@10 / recall@100, dev recall@5, ingest and search timing.

Usage: python benchmarks/retrieval.py [--skip-scifact-ingest-timing]
Libraries are built under benchmarks/.work and reused; a fresh one is timed for throughput.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time

from common import SHARED, WORK, dev_questions, machine, percentile
from rag.library import Library
from rag.retrieval import Retriever
from rag.settings import Settings

SAMPLE = SHARED / "data" / "hf_papers_page" / "papers.txt"
SCIFACT = SHARED / "data" / "scifact"


def timed_ingest(path, data_dir, fresh: bool) -> tuple[float, int]:
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    start = time.perf_counter()
    report = Library(Settings(data_dir=data_dir)).ingest([path])
    return time.perf_counter() - start, len(report.added) + len(report.updated) + len(report.unchanged)


def scifact_queries() -> tuple[dict[str, str], dict[str, set[str]]]:
    import json

    queries = {}
    for line in (SCIFACT / "queries.jsonl").read_text().splitlines():
        row = json.loads(line)
        queries[row["_id"]] = row["text"]
    relevant: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.strip().split("\t")
        if int(score) > 0:
            relevant.setdefault(query_id, set()).add(doc_id)
    return {q: queries[q] for q in relevant}, relevant


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:10]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal


def evaluate_scifact(data_dir) -> dict[str, tuple[float, float]]:
    queries, relevant = scifact_queries()
    retriever = Retriever(Settings(data_dir=data_dir, candidates=300))
    results = {}
    for mode in ("bm25", "dense", "hybrid"):
        ndcgs, recalls, latencies = [], [], []
        for query_id, text in queries.items():
            start = time.perf_counter()
            ranked = [hit.id for hit in retriever.search(text, k=100, mode=mode)]
            latencies.append(time.perf_counter() - start)
            ndcgs.append(ndcg_at_10(ranked, relevant[query_id]))
            recalls.append(len(relevant[query_id] & set(ranked)) / len(relevant[query_id]))
        results[mode] = (sum(ndcgs) / len(ndcgs), sum(recalls) / len(recalls))
        print(f"scifact {mode:6s} nDCG@10 {results[mode][0]:.3f}  recall@100 {results[mode][1]:.3f}")
    return results


def evaluate_dev(data_dir) -> None:
    retriever = Retriever(Settings(data_dir=data_dir))
    titles = {paper.title: paper.id for paper in retriever.store.papers()}
    recalls, latencies = [], []
    for row in dev_questions("qa"):
        start = time.perf_counter()
        found = {hit.id for hit in retriever.search(row["question"], k=5)}
        latencies.append(time.perf_counter() - start)
        gold = {titles[t] for t in row["gold"]}
        recalls.append(len(gold & found) / len(gold))
        if gold - found:
            print(f"  missed {row['id']}: {[t for t in row['gold'] if titles[t] not in found]}")
    print(f"dev qa recall@5 {sum(recalls) / len(recalls):.3f} over {len(recalls)} questions")
    print(f"search latency (sample library, k=5): p50 {percentile(latencies, 50) * 1000:.0f} ms, "
          f"p95 {percentile(latencies, 95) * 1000:.0f} ms")


def search_latency(data_dir) -> None:
    queries, _ = scifact_queries()
    retriever = Retriever(Settings(data_dir=data_dir))
    retriever.search("warm up")
    latencies = []
    for text in list(queries.values())[:100]:
        start = time.perf_counter()
        retriever.search(text)
        latencies.append(time.perf_counter() - start)
    print(f"search latency (SciFact, hybrid, k=5): p50 {percentile(latencies, 50) * 1000:.0f} ms, "
          f"p95 {percentile(latencies, 95) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fresh-scifact", action="store_true", help="Rebuild the SciFact library and time it.")
    args = parser.parse_args()
    print(f"machine: {machine()}")

    sample_dir = WORK / "sample"
    seconds, count = timed_ingest(SAMPLE, sample_dir, fresh=True)
    print(f"ingest sample: {count} abstracts in {seconds:.1f} s = {count / seconds:.1f} abstracts/s")
    seconds, _ = timed_ingest(SAMPLE, sample_dir, fresh=False)
    print(f"re-ingest sample, unchanged: {seconds:.2f} s")
    evaluate_dev(sample_dir)

    scifact_dir = WORK / "scifact"
    corpus = SCIFACT / "corpus.jsonl.gz"
    if args.fresh_scifact or not scifact_dir.exists():
        seconds, count = timed_ingest(corpus, scifact_dir, fresh=True)
        print(f"ingest SciFact: {count} abstracts in {seconds:.0f} s = {count / seconds:.1f} abstracts/s")
    seconds, _ = timed_ingest(corpus, scifact_dir, fresh=False)
    print(f"re-ingest SciFact, unchanged: {seconds:.1f} s")
    search_latency(scifact_dir)
    evaluate_scifact(scifact_dir)


if __name__ == "__main__":
    main()
