"""Share of records rejected per file: the real shared data against garbage, to place the
whole-file threshold (PAPERS_MAX_REJECTED_SHARE) between them.

Usage: python benchmarks/rejections.py [--garbage-mb 30]
"""

from __future__ import annotations

import argparse
import random
import string
import time

from common import SHARED, WORK, machine
from rag.errors import PapersError
from rag.readers import read_papers

REAL = [
    SHARED / "data" / "hf_papers_page" / "papers.txt",
    SHARED / "data" / "arxiv_sample" / "juminsuh_arxiv_papers.csv",
    SHARED / "data" / "arxiv_sample" / "xforce_arxiv.csv",
    SHARED / "data" / "arxiv_sample" / "xforce_arxiv.jsonl",
    SHARED / "data" / "pubmedqa" / "ori_pqal.json",
    SHARED / "data" / "scifact" / "corpus.jsonl.gz",
]


def garbage_files(megabytes: float) -> list:
    """Random printable text (as in issue 10), random words in lines, and binary-ish bytes kept printable."""
    WORK.mkdir(parents=True, exist_ok=True)
    rng = random.Random(10)
    size = int(megabytes * 1_000_000)
    printable = WORK / "random_printable.txt"
    printable.write_text("".join(rng.choices(string.printable, k=size)))
    words = WORK / "random_words.txt"
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
    lines = (" ".join(rng.choices(vocabulary, k=rng.randint(1, 40))) for _ in range(size // 150))
    words.write_text("\n".join(line if rng.random() > 0.3 else "" for line in lines))
    binaryish = WORK / "binaryish.txt"
    binaryish.write_bytes(bytes(rng.choice(range(1, 256)) for _ in range(min(size, 2_000_000))).decode("latin-1").encode())
    return [printable, words, binaryish]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--garbage-mb", type=float, default=30.0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{'file':45} {'format':12} {'papers':>7} {'rejected':>9} {'share':>6}  time")
    for path in REAL + garbage_files(args.garbage_mb):
        start = time.perf_counter()
        try:
            result = read_papers(path, keep_partial=True)
        except PapersError as exc:
            print(f"{path.name:45} refused: {str(exc)[:90]}")
            continue
        total = len(result.papers) + len(result.rejected)
        share = len(result.rejected) / total
        print(f"{path.name:45} {result.format:12} {len(result.papers):7} {len(result.rejected):9} {share:6.1%}"
              f"  {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
