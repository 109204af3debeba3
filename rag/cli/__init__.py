"""The `papers` command: a thin shell over `rag.library.Library`, with plain errors instead of tracebacks.

Its commands live by kind: the library's papers, answers, and the servers (HTTP, MCP, the app)."""

from rag.cli import answers, library, servers
from rag.cli.common import main

__all__ = ["main", "answers", "library", "servers"]
