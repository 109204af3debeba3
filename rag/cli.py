"""The `papers` command: a thin shell over the pipeline, with plain errors instead of tracebacks."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from rag.errors import PapersError
from rag.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def friendly_errors(command):
    """A user's mistake prints what to fix and exits 1; Ctrl-C exits 130 with a word on resuming."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PapersError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo(
                "\nInterrupted. The library is usable; run the same command again to finish.", err=True
            )
            sys.exit(130)

    return wrapper


def _print_json(value) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Library folder (overrides PAPERS_DATA_DIR; default ~/.local/share/papers).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Ask questions of a library of research-paper abstracts."""
    overrides = {"data_dir": data_dir} if data_dir else {}
    ctx.obj = {"settings": Settings(**overrides)}


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "format_", help="Force the file format instead of detecting it.")
@click.pass_context
@friendly_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], format_: str | None) -> None:
    """Add papers from files (listing page, arXiv JSON/JSONL, BEIR corpus.jsonl[.gz], CSV)."""
    from rag.ingest import ingest as run_ingest

    with click.progressbar(length=1, label="Embedding", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        report = run_ingest(list(paths), _settings(ctx), format_, progress)
    for rejection in report.rejected:
        click.echo(f"rejected {rejection.file}:{rejection.line}: {rejection.reason}", err=True)
    click.echo(report.summary())


@main.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Papers to return.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, best first.")
@click.pass_context
@friendly_errors
def search(ctx: click.Context, query: str, k: int | None, as_json: bool) -> None:
    """Find the papers that best match QUERY (hybrid dense + BM25)."""
    from rag.retrieval import Retriever

    hits = Retriever(_settings(ctx)).search(query, k)
    if as_json:
        _print_json([hit.as_dict() for hit in hits])
        return
    if not hits:
        click.echo("No papers found. Is the library empty? Try `papers stats`.")
    for rank, hit in enumerate(hits, 1):
        click.secho(f"{rank}. {hit.title}", bold=True)
        click.echo(f"   id: {hit.id}  score: {hit.score:.4f}")
        for passage in hit.passages:
            click.echo(f"   > {passage[:300]}{'…' if len(passage) > 300 else ''}")


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of papers.")
@click.pass_context
@friendly_errors
def list_papers(ctx: click.Context, as_json: bool) -> None:
    """List the papers in the library."""
    from rag.ingest import open_store

    papers = open_store(_settings(ctx)).papers()
    if as_json:
        _print_json(
            [
                {"id": p.id, "title": p.title, "date": p.date, "authors": list(p.authors), "source": p.source}
                for p in papers
            ]
        )
        return
    for paper in papers:
        click.echo(f"{paper.id}\t{paper.title}")


@main.command()
@click.pass_context
@friendly_errors
def stats(ctx: click.Context) -> None:
    """Counts and where the library lives."""
    from rag.ingest import open_store

    settings = _settings(ctx)
    store = open_store(settings)
    papers = store.papers()
    sources = sorted({p.source for p in papers if p.source})
    location = (
        f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
        if settings.chroma_host
        else str(settings.data_dir)
    )
    click.echo(f"library:    {location}")
    click.echo(f"papers:     {len(papers)}")
    click.echo(f"chunks:     {store.count()}")
    click.echo(f"embeddings: {store.built_with}")
    click.echo(f"sources:    {', '.join(sources) or '-'}")


@main.command()
@click.argument("paper_id")
@click.pass_context
@friendly_errors
def remove(ctx: click.Context, paper_id: str) -> None:
    """Remove one paper (by id, as `papers list` shows it)."""
    from rag.ingest import remove as run_remove

    if not run_remove(paper_id, _settings(ctx)):
        raise PapersError(f"No paper with id '{paper_id}' in the library; `papers list` shows the ids.")
    click.echo(f"removed {paper_id}")
