"""Commands on the library's papers: ingest, embed, list, show, stats, remove, reindex."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from rag.cli.common import filter_options, friendly_errors, json_option, main, open_library, print_json, progress_bar
from rag.wording import NOTHING_WITHIN_FILTERS

if TYPE_CHECKING:
    from rag.retrieval import Filters


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "format_", help="Force the file format instead of detecting it.")
@click.option("--keep-partial", is_flag=True, help="Add the good records of a file whose records are mostly rejected.")
@json_option("what was added, updated, unchanged and rejected, in all and per file")
@click.pass_context
@friendly_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], format_: str | None, keep_partial: bool, as_json: bool) -> None:
    """Add papers from files (a copied or saved Hugging Face Papers page, a saved arXiv listing or search
    page, arXiv JSON/JSONL, BEIR corpus.jsonl[.gz], CSV, BibTeX, RIS, CSL-JSON, PubMed .nbib, arXiv API
    Atom XML, PDF) or folders of them (every file under a folder; others are skipped by name).

    The papers are searchable by title and BM25 as soon as they are read; then they are embedded,
    with a progress bar. Interrupted, the next ingest or `papers embed` goes on where it stopped."""
    with progress_bar("Embedding", "papers") as progress:  # starts once the papers are searchable
        report = open_library(ctx).ingest(list(paths), format_, progress, keep_partial)
    if as_json:
        print_json(report)
        return
    for rejection in report.rejected:
        where = f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file
        verb = "rejected" if rejection.kind == "unreadable" else "skipped"
        click.echo(f"{verb} {where}: {rejection.reason}", err=True)
    read = [file for file in report.files if file.format]
    if len(read) > 1:
        for file in read:
            click.echo(f"  {file.file} ({file.format}): {file.summary()}")
    click.echo(report.summary())


@main.command()
@click.pass_context
@friendly_errors
def embed(ctx: click.Context) -> None:
    """Embed the papers not embedded yet (an ingest or re-index that was interrupted)."""
    with progress_bar("Embedding", "papers") as progress:
        embedded = open_library(ctx).embed(progress)
    click.echo(f"embedded {embedded} papers" if embedded else "every paper is embedded")


@main.command(name="list")
@filter_options
@json_option("a JSON array of papers")
@click.pass_context
@friendly_errors
def list_papers(ctx: click.Context, filters: Filters, as_json: bool) -> None:
    """List the papers in the library, by title."""
    papers = open_library(ctx).papers(source=filters.source, date_from=filters.date_from,
                                      date_to=filters.date_to).items
    if as_json:
        print_json(papers)
        return
    if not papers and filters.active:
        click.echo(NOTHING_WITHIN_FILTERS)
    for paper in papers:
        click.echo(f"{paper.id}\t{paper.title}")


@main.command()
@click.argument("paper")
@json_option("the paper with its abstract")
@click.pass_context
@friendly_errors
def show(ctx: click.Context, paper: str, as_json: bool) -> None:
    """Show one paper (by id or title) with its abstract."""
    found = open_library(ctx).show(paper)
    if as_json:
        print_json(found)
        return
    click.secho(found.title, bold=True)
    details = [", ".join(found.authors), found.date, found.source_file, f"id {found.id}"]
    click.echo(" · ".join(d for d in details if d))
    click.echo(f"\n{found.abstract}")


@main.command()
@json_option("the counts")
@click.pass_context
@friendly_errors
def stats(ctx: click.Context, as_json: bool) -> None:
    """Counts and where the library lives."""
    figures = open_library(ctx).stats()
    if as_json:
        print_json(figures)
        return
    click.echo(f"library:    {figures.library}")
    click.echo(f"papers:     {figures.papers}")
    if figures.embedded < figures.papers:
        click.echo(f"embedded:   {figures.embedded} of {figures.papers} papers (`papers embed` embeds the rest)")
    click.echo(f"chunks:     {figures.chunks}")
    click.echo(f"embeddings: {figures.embeddings}")
    click.echo(f"files:      {', '.join(figures.source_files) or '-'}")


@main.command()
@click.pass_context
@friendly_errors
def reindex(ctx: click.Context) -> None:
    """Re-embed the whole library with the embedding model the settings select."""
    with progress_bar("Embedding", "papers") as progress:
        click.echo(f"re-indexed {open_library(ctx).reindex(progress)} papers")


@main.command()
@click.argument("paper_id")
@click.pass_context
@friendly_errors
def remove(ctx: click.Context, paper_id: str) -> None:
    """Remove one paper (by id, as `papers list` shows it)."""
    open_library(ctx).remove(paper_id)
    click.echo(f"removed {paper_id}")
