"""A model on an OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp's server) through LangChain,
with the waits of `rag.remote`: a silent server is given up on, a slow but steady one never cut off."""

from __future__ import annotations

import functools
import itertools
import time
import warnings
from collections.abc import Iterator
from contextlib import closing
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field, SecretStr

from rag.errors import PapersError
from rag.remote import AnswerTimeout, client_timeout, retrying
from rag.settings import Settings

KEYLESS_PLACEHOLDER = "not-needed"


def openai_chat(settings: Settings) -> BaseChatModel:
    key = settings.openai_api_key
    if key is None or not key.get_secret_value():
        if not settings.openai_base_url:
            raise PapersError(
                "The 'openai' backend needs an API key: set OPENAI_API_KEY, or set OPENAI_BASE_URL "
                "to a server that needs none, or use PAPERS_LLM_BACKEND=local."
            )
        key = SecretStr(KEYLESS_PLACEHOLDER)
    # ChatOpenAI sends max_tokens as max_completion_tokens, which many OpenAI-compatible
    # servers (llama-cpp-python's among them) ignore; they all read max_tokens.
    if settings.openai_base_url:
        limit: dict[str, Any] = {"extra_body": {"max_tokens": settings.max_answer_tokens}}
    else:
        limit = {"max_tokens": settings.max_answer_tokens}
    return _bounded_chat_openai()(
        model=settings.openai_model,
        api_key=key,
        base_url=settings.openai_base_url,
        timeout=client_timeout(settings),
        max_retries=0,
        streaming=True,
        stream_usage=True,  # token counts arrive in the stream's last chunk, as a plain reply has them
        settings=settings,
        temperature=settings.temperature,
        **limit,
    )


@functools.cache
def _bounded_chat_openai() -> type[BaseChatModel]:
    """ChatOpenAI with the waits of `rag.remote`; built on first use, so the local backend never
    imports langchain_openai."""
    from langchain_openai import ChatOpenAI

    # A streamed structured reply carries a parsed object where the SDK's chunk model declares None;
    # pydantic warns about it on every comparison, to no use for the user.
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)

    class BoundedChatOpenAI(ChatOpenAI):
        """Every call streams (`streaming=True`), so a silent server is caught before its first
        token even for `invoke`, while an answer whose tokens keep coming is only bounded by
        PAPERS_OPENAI_ANSWER_TIMEOUT. A retry can only happen before the first token."""

        settings: Settings = Field(exclude=True, repr=False)

        def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
            started = time.monotonic()

            def start() -> tuple[Iterator[ChatGenerationChunk], list[ChatGenerationChunk]]:
                chunks = super(BoundedChatOpenAI, self)._stream(messages, stop, run_manager, **kwargs)
                return chunks, list(itertools.islice(chunks, 1))

            chunks, first = retrying(start, self.settings)
            with closing(chunks):
                for chunk in itertools.chain(first, chunks):
                    if time.monotonic() - started > self.settings.openai_answer_timeout:
                        raise AnswerTimeout()
                    yield chunk

    return BoundedChatOpenAI
