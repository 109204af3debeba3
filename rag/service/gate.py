"""Admission to the one model: a request waits its turn, or is told to come back."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from prometheus_client import Gauge

from rag.service.errors import RETRY_AFTER_SECONDS, Busy


class GenerationGate:
    """Admits a request to the model only while fewer than `1 + max_waiting` hold or wait for it:
    beyond that the caller is told to come back, instead of a queue that grows without end."""

    def __init__(self, max_waiting: int, gauge: Gauge) -> None:
        self.limit = 1 + max_waiting
        self.count = 0
        self.lock = threading.Lock()
        self.gauge = gauge

    def enter(self) -> None:
        with self.lock:
            if self.count >= self.limit:
                raise Busy(f"The model is busy: {self.count} requests are being answered or waiting. "
                           f"Try again in {RETRY_AFTER_SECONDS} s.")
            self.count += 1
            self.gauge.set(self.count)

    def leave(self) -> None:
        with self.lock:
            self.count -= 1
            self.gauge.set(self.count)

    @contextmanager
    def held(self) -> Iterator[None]:
        """The model's turn for a caller on a worker thread (an MCP tool)."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        with self.held():
            yield
