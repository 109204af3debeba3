"""The `papers` command: a thin shell over the pipeline, with plain errors instead of tracebacks."""

from __future__ import annotations

import contextlib
import functools
import json
import os
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
@click.option("--keep-partial", is_flag=True, help="Add the good records of a file whose records are mostly rejected.")
@click.pass_context
@friendly_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], format_: str | None, keep_partial: bool) -> None:
    """Add papers from files (listing page, arXiv JSON/JSONL, BEIR corpus.jsonl[.gz], CSV)."""
    from rag.ingest import ingest as run_ingest

    with contextlib.ExitStack() as stack:
        bar = None

        def progress(done: int, total: int) -> None:
            """The bar starts once the files are read and there is something to embed, so an
            error is the only line on stderr."""
            nonlocal bar
            if bar is None and total:
                bar = stack.enter_context(click.progressbar(length=total, label="Embedding", file=sys.stderr))
            if bar is not None:
                bar.update(done - bar.pos)

        report = run_ingest(list(paths), _settings(ctx), format_, progress, keep_partial)
    for rejection in report.rejected:
        where = f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file
        click.echo(f"rejected {where}: {rejection.reason}", err=True)
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
        _print_json([paper.as_dict() for paper in papers])
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
@click.pass_context
@friendly_errors
def reindex(ctx: click.Context) -> None:
    """Re-embed the whole library with the embedding model the settings select."""
    from rag.ingest import reindex as run_reindex

    click.echo(f"re-indexed {run_reindex(_settings(ctx))} papers")


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


def _print_sources(sources, cited: set[int] = frozenset()) -> None:
    if not sources:
        return
    click.echo("\nSources:", err=False)
    for source in sources:
        mark = "*" if source.n in cited else " "
        click.echo(f" {mark}[{source.n}] {source.title} ({source.id})")


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer, citations and sources as JSON.")
@click.pass_context
@friendly_errors
def ask(ctx: click.Context, question: str, as_json: bool) -> None:
    """Answer QUESTION from the library, citing the papers used."""
    from rag.ask import AnswerStream

    stream = AnswerStream(question, settings=_settings(ctx))
    try:
        for text in stream:
            if not as_json:
                click.echo(text, nl=False)
    except PapersError:
        if not as_json:
            _print_sources(stream.sources)
        raise
    answer = stream.answer
    if as_json:
        _print_json(answer.as_dict())
        return
    click.echo()
    if answer.removed_citations:
        removed = ", ".join(f"[{n}]" for n in answer.removed_citations)
        click.echo(f"(removed citations of sources that were not given: {removed})", err=True)
    _print_checked(answer.removed_statements, answer.text, "the sources")
    _print_sources(answer.sources, {c.n for c in answer.citations})


def _print_checked(removed: list[str], text: str, against: str) -> None:
    """What the grounding checks took out of streamed text, then the text that stands."""
    if removed:
        click.echo(f"\nRemoved, not supported by {against}:", err=True)
        for statement in removed:
            click.echo(f"  - {statement}", err=True)
        click.secho(f"\nChecked: {text}", bold=True)


@main.command()
@click.argument("paper")
@click.option("--json", "as_json", is_flag=True, help="Print id, title and digest as JSON.")
@click.pass_context
@friendly_errors
def digest(ctx: click.Context, paper: str, as_json: bool) -> None:
    """A one-paragraph digest of PAPER (an id or a title)."""
    from rag.digest import DigestStream

    stream = DigestStream(paper, settings=_settings(ctx))
    if not as_json:
        click.secho(stream.paper.title, bold=True)
    for text in stream:
        if not as_json:
            click.echo(text, nl=False)
    if as_json:
        _print_json(stream.as_dict())
    else:
        click.echo()
        _print_checked(stream.removed_statements, stream.text, "the abstract")


@main.command()
@click.argument("paper_a")
@click.argument("paper_b")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_context
@friendly_errors
def compare(ctx: click.Context, paper_a: str, paper_b: str, as_json: bool) -> None:
    """Compare two papers (ids or titles) on the same aspects."""
    from rag.compare import FELL_BACK, relate, side_by_side

    settings = _settings(ctx)
    comparison = side_by_side(paper_a, paper_b, settings=settings)
    if not as_json:  # the columns need no model: they are shown while the relation is written
        click.secho(f"A: {comparison.a.title}", bold=True)
        click.secho(f"B: {comparison.b.title}", bold=True)
        for row in comparison.rows():
            click.echo(f"\n{row['aspect']}\n  A: {row['a']}\n  B: {row['b']}")
    relate(comparison, settings=settings, progress=lambda step: click.echo(f"\n{step}…", err=True))
    if as_json:
        _print_json(comparison.as_dict())
        return
    click.echo(f"\nIn common: {comparison.relation.in_common}")
    click.echo(f"Key difference: {comparison.relation.difference}")
    if comparison.fell_back:
        click.echo(f"({FELL_BACK})", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; any other than loopback needs PAPERS_API_KEYS.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to serve on.")
@click.pass_context
@friendly_errors
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the library over HTTP: REST and streaming under /v1, OpenAI-compatible chat, MCP at /mcp."""
    from rag.service import serve as run_serve

    run_serve(_settings(ctx), host, port)


@main.command()
@click.pass_context
@friendly_errors
def mcp(ctx: click.Context) -> None:
    """Serve the library's tools to an MCP client (an assistant, an editor) over stdin/stdout."""
    from rag.mcp_server import build_server

    build_server(_settings(ctx)).run("stdio")


@main.command()
@click.option("--port", type=int, default=None, help="Port to serve on [default: Streamlit's server.port, else 8501].")
@click.option("--host", default=None, help="Address to bind [default: Streamlit's server.address, else 127.0.0.1].")
@click.option("--with-sample", is_flag=True, help="Ingest the bundled sample library first if the library is empty.")
@click.pass_context
@friendly_errors
def ui(ctx: click.Context, port: int | None, host: str | None, with_sample: bool) -> None:
    """Start the Streamlit app (on 127.0.0.1:8501 unless told otherwise).

    Streamlit's own settings, STREAMLIT_SERVER_PORT / STREAMLIT_SERVER_ADDRESS and
    .streamlit/config.toml, are honoured; --port and --host win over them.
    """
    from rag.ingest import ingest as run_ingest, open_store

    settings = _settings(ctx)
    address = _streamlit_option("server.address", host) or "127.0.0.1"
    port = _streamlit_option("server.port", port) or 8501
    if with_sample and not open_store(settings).count():
        click.echo(f"The library is empty; adding the sample library ({settings.sample_library.name})…")
        click.echo(run_ingest([settings.sample_library], settings).summary())
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    env = {**os.environ, "PAPERS_DATA_DIR": str(settings.data_dir)}
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", address,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    click.echo(f"Serving on http://{address}:{port}")
    sys.stdout.flush()
    # Become Streamlit, so that stopping `papers ui` (Ctrl-C, SIGTERM) stops the server, with no orphan.
    os.execve(sys.executable, command, env)


def _streamlit_option(key: str, given):
    """`given` (a flag) wins; then Streamlit's own STREAMLIT_* variable, then its config.toml files;
    None when none sets it. Resolved here so that the URL printed is the one served."""
    from streamlit import config

    if given is not None:
        return given
    variable = "STREAMLIT_" + key.replace(".", "_").upper()
    if os.environ.get(variable):
        value = os.environ[variable]
    elif config.is_manually_set(key):
        value = config.get_option(key)
    else:
        return None
    if key == "server.port":
        try:
            return int(value)
        except ValueError:
            raise PapersError(f"Streamlit's port setting ({variable} or server.port) is {value!r}, not a number.") from None
    return value
