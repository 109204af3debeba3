"""Paper cards, digests and comparisons (issue 21) with the configured model (default: local).

Writes the cards of the dev set's digest papers and comparison pairs (with their digests) and, with
`--all`, every other paper's card without its digest (resumable: written cards are cached; a briefing
writes the same), and prints against the issue's limits:
- card lengths: TL;DR words (<= 25) and TL;DRs that still restate their title, digest words (<= 90)
  and its share of the abstract (<= 0.6),
  cell words (<= 30), and the share of cells that are the abstract's own words (quoted);
- copied share: of a digest's 8-word runs, the share found in its abstract (< 0.35);
- dev digests: key facts stated, exactly and leniently (numbers exact, other words by stem; >= 0.80);
- dev comparisons: key facts under the right paper (>= 0.85), and the wall time of `papers compare`
  per pair from the CLI: with the cards written ahead (the relation written), uncached (both cards and
  the relation written; <= 30 s median) and cached (<= 1 s).
Times are only meaningful on an otherwise idle machine: llama.cpp slows many times over when its
threads share the cores with other work.

Usage: python benchmarks/cards.py [--data-dir DIR] [--all] [--no-timing]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from figures import copied_share, found_exactly, found_leniently

from common import WORK, dev_questions, machine, percentile, sample_library
from rag.cards import MAX_CELL_WORDS, MAX_TLDR_WORDS, restates_title
from rag.library import Library
from rag.replies import Card
from rag.settings import Settings
from rag.text import word_count


def written_cards(library: Library, names: list[str], digest: bool = True) -> list[Card]:
    cards, times = [], []
    for name in names:
        start = time.perf_counter()
        card = library.card(name, digest)
        if not card.cached:
            times.append(time.perf_counter() - start)
        cards.append(card)
    if times:
        print(f"cards written: {len(times)}, {percentile(times, 50):.1f} s p50, {max(times):.1f} s max each"
              + (" (the card and its digest)" if digest else " (without digests)"))
    return cards


def card_figures(library: Library, cards: list[Card]) -> None:
    abstracts = {card.id: library.store.paper(card.id).abstract for card in cards}
    tldr = [word_count(card.tldr) for card in cards]
    digested = [card for card in cards if card.digest]
    digest = [word_count(card.digest) for card in digested]
    share = [word_count(card.digest) / word_count(abstracts[card.id]) for card in digested]
    cells = [cell for card in cards for cell in card.cells]
    written = [word_count(cell.text) for cell in cells if not cell.quoted]
    copied = [copied_share(card.digest, [abstracts[card.id]]) for card in digested]
    print(f"\n{len(cards)} cards, {len(digested)} with their digest")
    print(f"TL;DR words p50 {percentile(tldr, 50):.0f}, max {max(tldr)} (limit {MAX_TLDR_WORDS}); "
          f"quoted {sum(card.tldr_quoted for card in cards)}/{len(cards)}, restating the title "
          f"{sum(restates_title(card.tldr, card.title) for card in cards)}/{len(cards)}")
    print(f"digest words p50 {percentile(digest, 50):.0f}, max {max(digest)} (limit 90); share of the abstract "
          f"p50 {percentile(share, 50):.2f}, max {max(share):.2f} (limit 0.60)")
    print(f"digest 8-word runs copied from the abstract: p50 {percentile(copied, 50):.2f}, max {max(copied):.2f}, "
          f"over 0.35: {sum(c >= 0.35 for c in copied)}/{len(digested)}")
    print(f"cells: {len(cells)}, words p50 {percentile(written, 50):.0f}, max {max(written)} (limit {MAX_CELL_WORDS}); "
          f"quoted (the abstract's words) {sum(cell.quoted for cell in cells)}, "
          f"of them limitations {sum(cell.quoted and cell.aspect == 'Limitation' for cell in cells)}, "
          f"key results {sum(cell.quoted and cell.aspect == 'Key result' for cell in cells)} "
          "(most for want of the abstract's result numbers)")


def digest_facts(library: Library) -> None:
    exact = lenient = total = 0
    for row in dev_questions("digest"):
        text = library.card(row["title"]).digest
        exact += sum(found_exactly(fact, text) for fact in row["facts"])
        lenient += sum(found_leniently(fact, text) for fact in row["facts"])
        total += len(row["facts"])
    print(f"\ndev digests: key facts stated {exact / total:.2f} exactly, {lenient / total:.2f} leniently "
          f"({exact}, {lenient} of {total})")


def compare_facts(library: Library) -> None:
    placed = total = 0
    cell_words = []
    for row in dev_questions("compare"):
        comparison = library.relate(library.side_by_side(row["a"], row["b"]))
        column_a = " ".join(r.a for r in comparison.rows)
        column_b = " ".join(r.b for r in comparison.rows)
        placed += sum(found_leniently(f, column_a) and not found_leniently(f, column_b) for f in row["facts_a"])
        placed += sum(found_leniently(f, column_b) and not found_leniently(f, column_a) for f in row["facts_b"])
        total += len(row["facts_a"]) + len(row["facts_b"])
        cell_words += [word_count(text) for r in comparison.rows for text in (r.a, r.b)]
    print(f"dev comparisons: key facts under the right paper {placed}/{total} = {placed / total:.2f} (leniently); "
          f"cell words p50 {percentile(cell_words, 50):.0f}, max {max(cell_words)}")


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def time_cli_compare(settings: Settings, library: Library) -> None:
    """`papers compare` per dev pair as a user meets it, process start and model load included: with
    the cards written ahead (`papers cards --all`, or a briefing) and only the relation to write; with
    neither the cards nor the relation written; then again, cached. The cards written ahead are set
    aside meanwhile and put back."""
    papers = str(Path(sys.executable).parent / "papers")
    aside = settings.card_cache_dir.with_name("cards-set-aside")
    relation_only, uncached, cached = [], [], []
    for row in dev_questions("compare"):
        command = [papers, "--data-dir", str(settings.data_dir), "compare", row["a"], row["b"], "--json"]
        try:
            shutil.rmtree(settings.comparison_cache_dir, ignore_errors=True)
            relation_only.append(wall_time(command))
            shutil.rmtree(settings.comparison_cache_dir, ignore_errors=True)
            settings.card_cache_dir.rename(aside)
            uncached.append(wall_time(command))
            cached.append(wall_time(command))
        finally:
            if aside.exists():
                shutil.rmtree(settings.card_cache_dir, ignore_errors=True)
                aside.rename(settings.card_cache_dir)
    print(f"compare from the CLI, per pair: cards written ahead p50 {percentile(relation_only, 50):.1f} s, "
          f"max {max(relation_only):.1f} s; uncached p50 {percentile(uncached, 50):.1f} s, max {max(uncached):.1f} s; "
          f"cached p50 {percentile(cached, 50):.1f} s ({len(uncached)} pairs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(WORK / "sample"))
    parser.add_argument("--all", action="store_true", help="every paper's card (without digests beyond the dev set's)")
    parser.add_argument("--no-timing", action="store_true", help="skip the CLI timing")
    args = parser.parse_args()
    library = sample_library(args.data_dir)
    print(f"machine: {machine()}; model: {library.describe_model()}")
    names = [row["title"] for row in dev_questions("digest")]
    names += [name for row in dev_questions("compare") for name in (row["a"], row["b"])]
    cards = {card.id: card for card in written_cards(library, names)}
    if args.all:
        others = [paper.id for paper in library.store.papers() if paper.id not in cards]
        cards |= {card.id: card for card in written_cards(library, others, digest=False)}
    card_figures(library, list(cards.values()))
    digest_facts(library)
    compare_facts(library)
    if not args.no_timing:
        time_cli_compare(library.settings, library)


if __name__ == "__main__":
    main()
