"""Reaching Chroma: its HTTP client with timeouts, and what a failure to open a library means.

Chroma's own HTTP client waits forever (its httpx session has no timeout, and no setting to give it
one), so a Chroma server that accepts the connection and never answers would hang every command."""

from __future__ import annotations

from rag.settings import Settings

CONNECT_TIMEOUT = 5.0
DAMAGED = ("malformed", "not a database", "file is encrypted", "disk i/o error")
"""SQLite's words for a Chroma file that is truncated or overwritten."""


def http_client(host: str, port: int, timeout: float):
    """A Chroma HttpClient whose every request gives up after `timeout` seconds of silence.

    The client talks to the server while it is built, so a bounded heartbeat goes first; then the
    timeout is set on the session Chroma keeps for all later requests."""
    import chromadb
    import httpx

    limit = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
    httpx.get(f"http://{host}:{port}/api/v2/heartbeat", timeout=limit).raise_for_status()
    chroma = chromadb.HttpClient(host=host, port=port, settings=chromadb.Settings(anonymized_telemetry=False))
    chroma._server._session.timeout = limit
    return chroma


def open_failure(exc: Exception, settings: Settings) -> str:
    """Where the library is, what went wrong, and what to do next."""
    if settings.chroma_host:
        where = f"the Chroma server at {settings.chroma_host}:{settings.chroma_port} (CHROMA_HOST/CHROMA_PORT)"
        if "timed out" in str(exc).lower() or "timeout" in type(exc).__name__.lower():
            return (
                f"Could not open {where}: it accepted the connection but did not answer within "
                f"{settings.chroma_timeout:g} s (PAPERS_CHROMA_TIMEOUT). Check that the server is a working Chroma server."
            )
        return f"Could not open {where}: {exc}"
    message = f"Could not open the library folder {settings.data_dir} (PAPERS_DATA_DIR): {exc}"
    if any(word in str(exc).lower() for word in DAMAGED):
        message += (
            ". Its Chroma database is damaged. Move the folder aside and ingest the original papers files "
            "into a new library folder (`papers --data-dir NEW ingest FILE...`) to rebuild it."
        )
    return message
