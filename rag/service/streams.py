"""Text a blocking generator yields, handed from a worker thread to a streaming response."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from prometheus_client import Counter


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def pieces(produce: Callable[[], Iterator[str]], tokens: Counter) -> AsyncIterator[str]:
    """The text `produce()` yields, as it comes.

    When the client goes away this generator is closed: the worker stops at its next piece and
    closes the model's stream, which frees the model for the next request."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()
    done = object()

    def work() -> None:
        iterator = produce()
        try:
            for text in iterator:
                if stop.is_set():
                    break
                tokens.inc()
                loop.call_soon_threadsafe(queue.put_nowait, text)
        except BaseException as exc:  # handed to the request, which reports it
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()
            loop.call_soon_threadsafe(queue.put_nowait, done)

    worker = loop.run_in_executor(None, work)
    try:
        while (item := await queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        await asyncio.shield(worker)
