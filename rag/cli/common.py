"""What every `papers` command shares: the group, its options, the Library, errors and JSON."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
import time
from pathlib import Path

import click

from rag.errors import PapersError
from rag.replies import as_json
from rag.settings import LOG_LEVELS, Settings


def open_library(ctx: click.Context):
    """The Library the command works on, made once per command."""
    from rag.library import Library

    if "library" not in ctx.obj:
        ctx.obj["library"] = Library(ctx.obj["settings"])
    return ctx.obj["library"]


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
            click.echo("\nInterrupted. The library is usable; run the same command again to finish.", err=True)
            sys.exit(130)

    return wrapper


@contextlib.contextmanager
def progress_bar(label: str, unit: str = ""):
    """A `(done, total)` callback that draws a bar on stderr with the time left (and, given the
    `unit` counted, the rate per second). The bar starts at the first call with something to do,
    so an error before it is the only line on stderr."""
    with contextlib.ExitStack() as stack:
        bar = None
        started = time.monotonic()

        def rate(_item) -> str | None:
            elapsed = time.monotonic() - started
            return f"{bar.pos / elapsed:.1f} {unit}/s" if unit and bar.pos and elapsed else None

        def progress(done: int, total: int) -> None:
            nonlocal bar, started
            if bar is None and total:
                bar = stack.enter_context(click.progressbar(length=total, label=label, file=sys.stderr,
                                                            show_pos=bool(unit), item_show_func=rate))
                started = time.monotonic()
            if bar is not None:
                bar.update(done - bar.pos)

        yield progress


def print_json(value) -> None:
    """A reply model (or a list of them) as the JSON the service and MCP also give."""
    click.echo(json.dumps(as_json(value), ensure_ascii=False, indent=2))


def configure_logging(level: str) -> None:
    """One stderr handler at `level` for every logger: libraries that set their own loggers' levels
    (bm25s logs at DEBUG) are held to it too."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)


def filter_options(command):
    """--source, --date-from and --date-to, given to the command as one `filters` (a rag.retrieval.Filters):
    the same options, under the same names as the service's fields, on every command that offers them."""

    @functools.wraps(command)
    def wrapper(*args, source: str, date_from: str, date_to: str, **kwargs):
        from rag.retrieval import Filters

        return command(*args, filters=Filters(source=source, date_from=date_from, date_to=date_to), **kwargs)

    options = (
        click.option("--source", default="", metavar="FILE",
                     help="Only papers read from this file (its name, as `papers stats` lists it)."),
        click.option("--date-from", default="", metavar="DATE",
                     help="Only papers dated on or after this year, month or day (2021, 2021-03, 2021-03-16)."),
        click.option("--date-to", default="", metavar="DATE",
                     help="Only papers dated on or before this year, month or day (2021 takes in all of 2021)."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def json_option(what: str):
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON.")


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Library folder (overrides PAPERS_DATA_DIR; default ~/.local/share/papers).",
)
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False),
              help="Least severe log messages to write to stderr (overrides PAPERS_LOG_LEVEL; default WARNING).")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, log_level: str | None) -> None:
    """Ask questions of a library of research-paper abstracts."""
    overrides = {"data_dir": data_dir} if data_dir else {}
    if log_level:
        overrides["log_level"] = log_level
    try:
        settings = Settings(**overrides)
    except ValueError as exc:
        raise click.UsageError(f"A setting is invalid: {exc}") from None
    configure_logging(settings.log_level)
    ctx.obj = {"settings": settings}

