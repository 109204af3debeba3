"""Commands that serve the library: over HTTP (`serve`), to an MCP client (`mcp`), in a browser (`ui`)."""

from __future__ import annotations

import os
import sys

import click

from rag.cli.common import friendly_errors, main, open_library
from rag.errors import PapersError
from rag.settings import package_path


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; any other than loopback needs PAPERS_API_KEYS.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to serve on.")
@click.pass_context
@friendly_errors
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the library over HTTP: REST and streaming under /v1, OpenAI-compatible chat, MCP at /mcp."""
    from rag.service import serve as run_serve

    run_serve(open_library(ctx), host, port)


@main.command()
@click.pass_context
@friendly_errors
def mcp(ctx: click.Context) -> None:
    """Serve the library's tools to an MCP client (an assistant, an editor) over stdin/stdout."""
    from rag.mcp_server import build_server

    build_server(open_library(ctx)).run("stdio")


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
    library = open_library(ctx)
    settings = library.settings
    address = _streamlit_option("server.address", host) or "127.0.0.1"
    port = _streamlit_option("server.port", port) or 8501
    if with_sample and not library.store.count():
        click.echo(f"The library is empty; adding the sample library ({settings.sample_library.name})…")
        click.echo(library.ingest([settings.sample_library]).summary())
    app = package_path("rag.ui") / "app.py"
    env = {**os.environ, "PAPERS_DATA_DIR": str(settings.data_dir), "PAPERS_LOG_LEVEL": settings.log_level}
    command = [sys.executable, "-m", "rag.ui.serve", "run", str(app), "--server.address", address,
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
