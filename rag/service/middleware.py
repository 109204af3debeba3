"""Pure ASGI middleware, one job each (none may buffer a stream): request metrics, browser safety,
API keys and the body size limit. `PROTECTED` paths are the library's: /v1 and /mcp."""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.service.errors import BodyTooLarge, error_response, too_large_message
from rag.service.metrics import Metrics

PROTECTED = ("/v1", "/mcp")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _protected(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["path"].startswith(PROTECTED)


def _header(scope: Scope, name: bytes) -> str:
    return dict(scope["headers"]).get(name, b"").decode("latin-1")


class RequestMetrics:
    """Counts every request by method, route template and status, and times it to its stream's end."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", None) or ("/mcp" if scope["path"].startswith("/mcp") else "other")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - start)


class BrowserGuard:
    """Without API keys, any web page the user visits could call a loopback server: a form post from
    another site, or a DNS-rebinding page whose name resolves to 127.0.0.1. So a keyless server
    answers only requests whose Host is a loopback name (or one of PAPERS_ALLOWED_HOSTS), 421
    otherwise, and whose Origin, when sent, is the server's own (or one of PAPERS_CORS_ORIGINS), 403
    otherwise. With keys, a browser cannot send the key across sites, so these checks are off."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.hosts = {host.lower() for host in [*LOOPBACK_NAMES, *allowed_hosts]}
        self.origins = {origin.rstrip("/").lower() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _protected(scope):
            host, origin = _header(scope, b"host").lower(), _header(scope, b"origin").lower()
            if host and urlsplit(f"//{host}").hostname not in self.hosts:
                message = (f"Host '{host}' is not this server's; a keyless server answers loopback names only "
                           "(set PAPERS_ALLOWED_HOSTS to add names, or PAPERS_API_KEYS).")
                await error_response(scope["path"], 421, message)(scope, receive, send)
                return
            if origin and origin != f"http://{host}" and origin.rstrip("/") not in self.origins:
                message = (f"Requests from the web page at {origin} are refused: a keyless server answers its "
                           "own pages only (set PAPERS_CORS_ORIGINS to trust a site, or PAPERS_API_KEYS).")
                await error_response(scope["path"], 403, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ApiKeys:
    """With PAPERS_API_KEYS set, every /v1 and /mcp request needs 'Authorization: Bearer KEY'."""

    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _protected(scope) and scope["method"] != "OPTIONS" and not self._authorised(scope):
            response = error_response(scope["path"], 401, "Missing or invalid API key; send 'Authorization: Bearer KEY'.",
                                      {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        scheme, _, token = _header(scope, b"authorization").encode("latin-1").partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        # Every key is compared, each in constant time, so the time taken tells nothing of which matched.
        return sum(hmac.compare_digest(token.strip(), key) for key in self.keys) > 0


class BodyLimit:
    """A body over PAPERS_MAX_UPLOAD_MB is 413: at once when Content-Length says so, and as it arrives
    when it is sent chunked, without Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length.isdigit() and int(length) > self.max_bytes:
            await error_response(scope["path"], 413, too_large_message(self.max_bytes))(scope, receive, send)
            return
        seen, started = 0, False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge()
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except BodyTooLarge:
            if started:
                raise
            await error_response(scope["path"], 413, too_large_message(self.max_bytes))(scope, receive, send)
