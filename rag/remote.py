"""Bounded waits on OpenAI-compatible servers (chat and embeddings).

A server that accepts the connection and stays silent is given up on after
PAPERS_OPENAI_FIRST_TOKEN_TIMEOUT, once: waiting again would not help. Only failures that a
retry can cure (connection refused or reset, 429, 5xx) are retried, with backoff, and every
message states the time really waited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import openai

from rag.settings import Settings

FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0

T = TypeVar("T")


class AnswerTimeout(Exception):
    """Tokens kept arriving, but the whole answer took longer than PAPERS_OPENAI_ANSWER_TIMEOUT."""


def client_timeout(settings: Settings) -> openai.Timeout:
    """Connecting has its own short limit; after that, the longest silence allowed on the socket."""
    silence = settings.openai_first_token_timeout
    return openai.Timeout(connect=settings.openai_connect_timeout, read=silence, write=silence, pool=silence)


def server_name(settings: Settings) -> str:
    return settings.openai_base_url or "api.openai.com"


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APITimeoutError):
        return False
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def retrying(call: Callable[[], T], settings: Settings) -> T:
    """`call()`, tried again after a failure `retryable` accepts, up to PAPERS_OPENAI_MAX_RETRIES times."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if attempt == settings.openai_max_retries or not retryable(exc):
                raise
        time.sleep(min(FIRST_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY))
        attempt += 1


def explain_wait(exc: BaseException, server: str, settings: Settings, waited: float) -> str | None:
    """A message for a failure to get an answer in time or at all, or None for other failures."""
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
