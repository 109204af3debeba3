"""Bounded waits on OpenAI-compatible servers (chat and embeddings).

`openai` is imported where a server is called or its failure read (it takes over a second to
import), so commands that need no server start without it.

A server that accepts the connection and stays silent is given up on after
PAPERS_OPENAI_FIRST_TOKEN_TIMEOUT, once: waiting again would not help. Only failures that a
retry can cure (connection refused or reset, 429, 5xx) are retried, after the server's Retry-After
or else a jittered exponential backoff, and every message states the time really waited.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

from rag.settings import Settings

if TYPE_CHECKING:
    import openai

FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
"""The longest Retry-After honoured: a server asking for more is waited on this long, then tried again."""
JITTER = random.Random()

T = TypeVar("T")


class AnswerTimeout(Exception):
    """Tokens kept arriving, but the whole answer took longer than PAPERS_OPENAI_ANSWER_TIMEOUT."""


def client_timeout(settings: Settings) -> openai.Timeout:
    """Connecting has its own short limit; after that, the longest silence allowed on the socket."""
    import openai

    silence = settings.openai_first_token_timeout
    return openai.Timeout(connect=settings.openai_connect_timeout, read=silence, write=silence, pool=silence)


def server_name(settings: Settings) -> str:
    return settings.openai_base_url or "api.openai.com"


def retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return False
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def retrying(
    call: Callable[[], T],
    settings: Settings,
    sleep: Callable[[float], None] = time.sleep,
    jitter: random.Random = JITTER,
) -> T:
    """`call()`, tried again after a failure `retryable` accepts, up to PAPERS_OPENAI_MAX_RETRIES times;
    tests pass their own `sleep` and a seeded `jitter` to see the waits without waiting."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if attempt == settings.openai_max_retries or not retryable(exc):
                raise
            delay = retry_delay(exc, attempt, jitter)
        sleep(delay)
        attempt += 1


def retry_delay(exc: BaseException, attempt: int, jitter: random.Random) -> float:
    """What the server asked for in Retry-After (at most MAX_RETRY_AFTER), else 0.5 s, 1 s, 2 s … up
    to MAX_RETRY_DELAY, each stretched by up to half at random so concurrent callers do not retry in step."""
    asked = retry_after(exc)
    if asked is not None:
        return min(asked, MAX_RETRY_AFTER)
    return min(FIRST_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY) * (1 + jitter.random() / 2)


def retry_after(exc: BaseException) -> float | None:
    """Seconds a 429 or 503 asks the client to wait (Retry-After-Ms, or Retry-After in seconds or as a date)."""
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
        if "retry-after" in headers:
            value = headers["retry-after"]
            if value.strip().replace(".", "", 1).isdigit():
                return float(value)
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
    return None


def explain_wait(exc: BaseException, server: str, settings: Settings, waited: float) -> str | None:
    """A message for a failure to get an answer in time or at all, or None for other failures."""
    import openai

    if isinstance(exc, AnswerTimeout):
        return (
            f"The model server at {server} was still answering after {waited:.1f} s, over the "
            f"{settings.openai_answer_timeout:g} s that PAPERS_OPENAI_ANSWER_TIMEOUT allows; raise it, "
            "or lower PAPERS_MAX_ANSWER_TOKENS."
        )
    if isinstance(exc, openai.APITimeoutError):
        if _is_connect_timeout(exc):
            return (
                f"The model server at {server} did not accept a connection within "
                f"{settings.openai_connect_timeout:g} s (gave up after {waited:.1f} s); check "
                "OPENAI_BASE_URL, or raise PAPERS_OPENAI_CONNECT_TIMEOUT for a slow network."
            )
        return (
            f"The model server at {server} accepted the connection but sent nothing for "
            f"{settings.openai_first_token_timeout:g} s (gave up after {waited:.1f} s); check that it "
            "is working and not overloaded, or raise PAPERS_OPENAI_FIRST_TOKEN_TIMEOUT."
        )
    if isinstance(exc, openai.APIConnectionError):
        return (
            f"Could not reach the model server at {server} (gave up after {waited:.1f} s, retried up to "
            f"{settings.openai_max_retries} times); check OPENAI_BASE_URL and that the server is running."
        )
    return None


def _is_connect_timeout(exc: BaseException) -> bool:
    cause = exc.__cause__
    return cause is not None and type(cause).__name__ == "ConnectTimeout"
