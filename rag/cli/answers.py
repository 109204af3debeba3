"""Commands that answer: search, ask, topic, digest, cards, compare, brief."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

import click

from rag.cli.common import filter_options, friendly_errors, json_option, main, open_library, print_json, progress_bar
from rag.errors import PapersError
from rag.export import briefing_markdown
from rag.replies import Answer, Card
from rag.wording import (
    FELL_BACK,
    NOTHING_WITHIN_FILTERS,
    QUOTED_NOTE,
    STRONGER,
    cell_text,
    removed_citations_note,
    removed_note,
    sources_list,
)

if TYPE_CHECKING:
    from rag.retrieval import Filters


@main.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Papers to return.")
@filter_options
@json_option("a JSON array, best first")
@click.pass_context
@friendly_errors
def search(ctx: click.Context, query: str, k: int | None, filters: Filters, as_json: bool) -> None:
    """Find the papers that best match QUERY (hybrid dense + BM25)."""
    hits = open_library(ctx).search(query, k, filters)
    if as_json:
        print_json(hits)
        return
    if not hits:
        click.echo(NOTHING_WITHIN_FILTERS if filters.active else "No papers found. Is the library empty? Try `papers stats`.")
    for rank, hit in enumerate(hits, 1):
        click.secho(f"{rank}. {hit.title}", bold=True)
        click.echo(f"   id: {hit.id}  score: {hit.score:.4f}")
        for passage in hit.passages:
            click.echo(f"   > {passage[:300]}{'…' if len(passage) > 300 else ''}")


def answer_command(name: str, prompt_name: str, doc: str):
    """`ask` and `topic` stream a cited answer the same way; only the prompt differs."""

    @main.command(name=name, help=doc)
    @click.argument("question")
    @filter_options
    @json_option("the answer, its citations and sources")
    @click.pass_context
    @friendly_errors
    def command(ctx: click.Context, question: str, filters: Filters, as_json: bool) -> None:
        stream = open_library(ctx).ask_stream(question, prompt_name=prompt_name, filters=filters)
        try:
            for text in stream:
                if not as_json:
                    click.echo(text, nl=False)
        except PapersError:
            if not as_json and stream.sources:
                click.echo("\n\n" + sources_list(stream.sources))
            raise
        if as_json:
            print_json(stream.answer)
        else:
            echo_checked(stream.answer)

    return command


def echo_checked(answer: Answer) -> None:
    """After the streamed text: what the checks changed, then the sources, the cited ones starred."""
    click.echo()
    if note := removed_citations_note(answer.removed_citations):
        click.echo(f"({note})", err=True)
    echo_removed(answer.removed_statements, answer.text, "the sources")
    if answer.sources:
        click.echo("\n" + sources_list(answer.sources, {c.n for c in answer.citations}))


def echo_removed(removed: list[str], text: str, against: str) -> None:
    """What the grounding checks took out of streamed text, then the text that stands."""
    if note := removed_note(removed, against):
        click.echo("\n" + note.replace("\n- ", "\n  - "), err=True)
        click.secho(f"\nChecked: {text}", bold=True)


ask = answer_command("ask", "ask", "Answer QUESTION from the library, citing the papers used.")
topic = answer_command("topic", "topic", "A cited paragraph on what the library's papers say about TOPIC.")


@main.command()
@click.argument("paper")
@json_option("id, title and digest")
@click.pass_context
@friendly_errors
def digest(ctx: click.Context, paper: str, as_json: bool) -> None:
    """A one-paragraph digest of PAPER (an id or a title)."""
    stream = open_library(ctx).digest_stream(paper)
    if not as_json:
        click.secho(stream.paper.title, bold=True)
    for text in stream:
        if not as_json:
            click.echo(text, nl=False)
    if as_json:
        print_json(stream.digest)
        return
    click.echo()
    echo_removed(stream.digest.removed_statements, stream.digest.digest, "the abstract")


@main.command()
@click.argument("papers", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Write the card of every paper in the library.")
@json_option("the cards")
@click.pass_context
@friendly_errors
def cards(ctx: click.Context, papers: tuple[str, ...], every: bool, as_json: bool) -> None:
    """Show the cards of PAPERS (ids or titles), or with --all write every paper's card ahead of use.

    A card is a TL;DR, a digest and short cells on the paper's problem, approach, data, key result and
    limitation, written by the model once and cached; an interrupted --all resumes where it stopped."""
    library = open_library(ctx)
    if every == bool(papers):
        raise PapersError("Name one or more papers, or pass --all to write every paper's card.")
    if every:
        with progress_bar("Writing cards") as progress:
            written = library.write_cards(progress=progress)
        click.echo(f"{written} cards written, {library.stats().papers - written} already written.")
        return
    shown = [library.card(paper) for paper in papers]
    if as_json:
        print_json(shown)
        return
    for card in shown:
        echo_card(card)
    if any(cell.quoted for card in shown for cell in card.cells):
        click.echo(f"\n({QUOTED_NOTE})", err=True)


def echo_card(card: Card, name: str = "") -> None:
    """A card alone; one of a comparison (`name` "A: ") keeps every aspect, as its twin does."""
    click.secho(f"\n{name}{card.title}", bold=True)
    click.echo(f"  TL;DR: {cell_text(card.tldr, card.tldr_quoted)}")
    for cell in card.cells if name else card.cells_beyond_tldr:
        click.echo(f"  {cell.aspect}: {cell_text(cell.text, cell.quoted)}")
    if card.digest:
        click.echo(f"  Digest: {card.digest}")


@main.command()
@click.argument("paper_a")
@click.argument("paper_b")
@json_option("the comparison")
@click.pass_context
@friendly_errors
def compare(ctx: click.Context, paper_a: str, paper_b: str, as_json: bool) -> None:
    """Compare two papers (ids or titles): their cards side by side, and what links them."""
    library = open_library(ctx)

    def written(name: str, card: Card) -> None:
        """Each card is shown as soon as it is ready, while the next is written."""
        if not as_json:
            echo_card(card, f"{name}: ")

    comparison = library.side_by_side(paper_a, paper_b, written)
    comparison = library.relate(comparison, progress=lambda step: click.echo(f"\n{step}…", err=True))
    if as_json:
        print_json(comparison)
        return
    click.echo(f"\nIn common: {comparison.in_common}")
    click.echo(f"Key difference: {comparison.difference}")
    if comparison.stronger:
        click.echo(f"{STRONGER}: {comparison.stronger}")
    if comparison.fell_back:
        click.echo(f"({FELL_BACK})", err=True)


@main.command()
@click.option("--source", help="Only the papers read from this file (its name, as `papers stats` lists it).")
@json_option("the topics and their papers")
@click.pass_context
@friendly_errors
def brief(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """The library (or one file of it) at a glance: its papers in 4 to 12 labelled topics, a TL;DR each."""
    with contextlib.ExitStack() as stack:
        bar = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(click.progressbar(length=total, label="Cards and topics", file=sys.stderr))
            bar.update(done - bar.pos)

        briefing = open_library(ctx).brief(source, progress)
    if as_json:
        print_json(briefing)
        return
    click.echo(briefing_markdown(briefing))
