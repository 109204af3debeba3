"""Chroma's HTTP client with timeouts. Chroma's own waits forever (its httpx session has no
timeout, and no setting to give it one), so a Chroma server that accepts the connection and never
answers would hang every command. Imported only in client-server mode."""

from __future__ import annotations

import chromadb
import httpx

CONNECT_TIMEOUT = 5.0


def client(host: str, port: int, timeout: float):
    """A Chroma HttpClient whose every request gives up after `timeout` seconds of silence.

    The client talks to the server while it is built, so a bounded heartbeat goes first; then the
    timeout is set on the session Chroma keeps for all later requests."""
    limit = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
    httpx.get(f"http://{host}:{port}/api/v2/heartbeat", timeout=limit).raise_for_status()
    chroma = chromadb.HttpClient(host=host, port=port, settings=chromadb.Settings(anonymized_telemetry=False))
    chroma._server._session.timeout = limit
    return chroma
