"""Text to vectors: a local ONNX model by default, an OpenAI-compatible endpoint on request."""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from typing import Protocol

import numpy as np

from rag.errors import PapersError
from rag.installed import LOCAL_MODEL_ID, onnx_model_file, tokenizer_file
from rag.remote import client_timeout, explain_wait, retrying, server_name
from rag.settings import Settings

MAX_TOKENS = 256


class Embedder(Protocol):
    model_id: str

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class LocalMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) with mean pooling; one session per process."""

    model_id = LOCAL_MODEL_ID

    def __init__(self) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        model, vocab = onnx_model_file(), tokenizer_file()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(vocab))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._counter = Tokenizer.from_file(str(vocab))  # untruncated: counts past the window
        self._counter.no_truncation()
        self._counter.no_padding()
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text).ids)

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.tolist()


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint, with the bounded waits of `rag.remote`."""

    def __init__(self, settings: Settings) -> None:
        from openai import OpenAI

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        self.model_id = embedding_model_id(settings)
        self._model = settings.embedding_model
        self._settings = settings
        self._client = OpenAI(
            api_key=key, base_url=settings.openai_base_url, timeout=client_timeout(settings), max_retries=0
        )

    def embed(self, texts: list[str]) -> list[list[float]]:
        import openai

        if not texts:
            return []
        started = time.monotonic()
        try:
            response = retrying(lambda: self._client.embeddings.create(model=self._model, input=texts), self._settings)
        except openai.OpenAIError as exc:
            server = f"{server_name(self._settings)} (embeddings)"
            waited = explain_wait(exc, server, self._settings, time.monotonic() - started)
            raise PapersError(
                waited or f"The embeddings server failed ({type(exc).__name__}); check OPENAI_BASE_URL, "
                f"OPENAI_API_KEY and PAPERS_EMBEDDING_MODEL."
            ) from exc
        return [item.embedding for item in response.data]


_LOADING = threading.Lock()


@lru_cache(maxsize=1)
def _loaded_minilm() -> LocalMiniLM:
    return LocalMiniLM()


def _local_minilm() -> LocalMiniLM:
    """The one model per process: the first searches of a cold server arrive together, and
    lru_cache alone would let each of them load its own."""
    with _LOADING:
        return _loaded_minilm()


def embedding_model_id(settings: Settings) -> str:
    """Which model a library is built with, known without loading it."""
    return LOCAL_MODEL_ID if settings.embedding_backend == "local" else f"openai:{settings.embedding_model}"


def get_embedder(settings: Settings) -> Embedder:
    if settings.embedding_backend == "local":
        return _local_minilm()
    return OpenAIEmbedder(settings)
