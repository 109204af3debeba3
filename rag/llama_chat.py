"""The local model: llama.cpp in process, shared by every caller and one request at a time.

The default backend: the bundled Qwen2.5-Coder-1.5B-Instruct (or any GGUF), no key, no network.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from rag import local_model
from rag.copy_guard import CopyGuard
from rag.local_model import Progress
from rag.settings import Settings

_llamas: dict[tuple, Any] = {}


LLAMA_LOCK = threading.Lock()
"""llama.cpp runs one request at a time; every call, and every open stream, holds this lock."""


class LlamaCppChat(BaseChatModel):
    """A chat model over a shared in-process llama.cpp model.

    langchain_community's ChatLlamaCpp always loads its own Llama and does not serialise calls,
    so two Streamlit sessions would load the model twice or race on one context.

    JSON output: pass `response_format={"type": "json_object", "schema": {...}}` (the schema is
    optional), or OpenAI's `{"type": "json_schema", "json_schema": {"schema": {...}}}`, to
    `invoke`/`stream` or `bind`; llama.cpp then constrains sampling with a grammar.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llama: Any = Field(exclude=True, repr=False)
    model_name: str
    temperature: float = 0.1
    max_tokens: int = 384
    max_copied_words: int = 0
    """A call given `avoid_copying=[texts]` pays for copying a run of more words than this from them (0: free)."""

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict) -> dict[str, Any]:
        texts = kwargs.pop("avoid_copying", None)
        if texts and self.max_copied_words:
            from llama_cpp import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([CopyGuard(self.llama, texts, self.max_copied_words)])
        request = {
            "messages": convert_to_openai_messages(messages),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": stop or [],
            **kwargs,
        }
        response_format = request.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            schema = response_format.get("json_schema", {}).get("schema")
            request["response_format"] = {"type": "json_object", "schema": schema}
        return request

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        with LLAMA_LOCK:
            response = self.llama.create_chat_completion(**request)
        choice = response["choices"][0]
        usage = response["usage"]
        message = AIMessage(
            content=choice["message"]["content"] or "",
            usage_metadata={
                "input_tokens": usage["prompt_tokens"],
                "output_tokens": usage["completion_tokens"],
                "total_tokens": usage["total_tokens"],
            },
        )
        generation = ChatGeneration(message=message, generation_info={"finish_reason": choice["finish_reason"]})
        return ChatResult(generations=[generation], llm_output={"model_name": self.model_name})

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Holds the model until the stream is used up or closed, so no other call interleaves."""
        request = self._request(messages, stop, kwargs)
        with LLAMA_LOCK, closing(self.llama.create_chat_completion(stream=True, **request)) as chunks:
            for chunk in chunks:
                choice = chunk["choices"][0]
                text = choice["delta"].get("content") or ""
                finish_reason = choice.get("finish_reason")
                if text or finish_reason:
                    yield ChatGenerationChunk(
                        message=AIMessageChunk(content=text),
                        generation_info={"finish_reason": finish_reason} if finish_reason else None,
                    )


class ModelLoadError(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__(f"llama.cpp could not load {path}")
        self.path = path


def _threads(settings: Settings) -> int:
    return settings.local_threads or os.cpu_count() or 1


def local_chat(settings: Settings, progress: Progress | None) -> LlamaCppChat:
    path = local_model.resolve_model_path(settings, progress)
    return LlamaCppChat(
        llama=_load_llama(path, *llama_shape(settings), progress),
        model_name=path.name,
        temperature=settings.temperature,
        max_tokens=settings.max_answer_tokens,
        max_copied_words=settings.max_copied_words,
    )


def llama_shape(settings: Settings) -> tuple[int, int, int]:
    return settings.local_n_ctx, _threads(settings), settings.local_prompt_cache_mb


def _load_llama(path: Path, n_ctx: int, n_threads: int, prompt_cache_mb: int, progress: Progress | None) -> Any:
    """One Llama per file and shape, whatever the sampling settings of the models sharing it."""
    key = (path, n_ctx, n_threads, prompt_cache_mb)
    if key not in _llamas:
        from llama_cpp import Llama

        if progress:
            progress("load", 0.0)
        try:
            llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        except ValueError as exc:
            raise ModelLoadError(path) from exc
        if prompt_cache_mb:
            llama.set_cache(_prompt_cache(prompt_cache_mb << 20))
        _llamas[key] = llama
        if progress:
            progress("load", 1.0)
    return _llamas[key]


def _prompt_cache(capacity_bytes: int) -> Any:
    """llama.cpp's RAM cache of model states, keyed by the tokens they hold; a prompt resumes from the
    state sharing its longest start. llama-cpp-python stores each state with a copy of every row of
    logits (about 300 MB for Qwen's vocabulary) that its capacity does not count, yet resuming reads
    back only the last row (load_state broadcasts it): only that row is kept."""
    from llama_cpp import LlamaRAMCache

    class LastLogitsCache(LlamaRAMCache):
        def __setitem__(self, key, state) -> None:
            state.scores = state.scores[-1:].copy()
            super().__setitem__(key, state)

    return LastLogitsCache(capacity_bytes=capacity_bytes)
