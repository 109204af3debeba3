"""The briefing of the sample listing: its time with the cards written, its coverage and its topics.

Cards not yet written for the configured model are written first (timed apart, as `papers cards
--all` would); then the topic labels' cache is emptied and the briefing timed, as a reader who wrote
the cards ahead would wait for it. Coverage is the papers placed in a topic over the papers of the
source file, which must be 1.0, each paper once. Issue 21 asks for <= 60 s on 2 cores.

Usage: python benchmarks/briefing.py [--data-dir DIR]   (the model from PAPERS_* settings, as the CLI)
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np

from common import WORK, machine, sample_library
from rag import clusters
from rag.briefing import topic_counts
from rag.cards import paper_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(WORK / "sample"))
    args = parser.parse_args()
    library = sample_library(args.data_dir)
    print(f"machine: {machine()}; model: {library.describe_model()}")
    source = library.stats().source_files[0]
    papers = [p for p in library.store.papers() if p.source_file == source]

    start = time.perf_counter()
    written = sum(not paper_card(p, library.model, library.settings, digest=False).cached for p in papers)
    print(f"cards: {written} written in {time.perf_counter() - start:.0f} s, {len(papers) - written} already cached")

    start = time.perf_counter()
    vectors = library.store.paper_vectors(source)
    points = np.array([vectors[p.id] for p in sorted(papers, key=lambda p: p.id)])
    scores = {k: clusters.silhouette(points, clusters.kmeans(points, k))
              for k in topic_counts(len(papers))}
    print(f"silhouette by k: {', '.join(f'{k}: {s:.3f}' for k, s in scores.items())} "
          f"({time.perf_counter() - start:.1f} s)")

    shutil.rmtree(library.settings.topic_label_cache_dir, ignore_errors=True)
    start = time.perf_counter()
    briefing = library.brief(source)
    seconds = time.perf_counter() - start
    placed = [p.id for topic in briefing.topics for p in topic.papers]
    print(f"briefing of {source}: {seconds:.1f} s with the cards cached (labels written), "
          f"coverage {len(set(placed))}/{len(papers)} papers ({len(placed)} placements), "
          f"{len(briefing.topics)} topics")
    start = time.perf_counter()
    library.brief(source)
    print(f"again, labels cached: {time.perf_counter() - start:.1f} s")
    for topic in briefing.topics:
        print(f"  {len(topic.papers):3d}  {topic.label}")


if __name__ == "__main__":
    main()
