"""Text to vectors: a local ONNX model by default, an OpenAI-compatible endpoint on request."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Protocol

import numpy as np

from rag.errors import PapersError
from rag.installed import LOCAL_MODEL_ID, onnx_model_file, tokenizer_file
from rag.remote import JITTER, client_timeout, explain_wait, retryable, retrying, server_name
from rag.settings import Settings

MAX_TOKENS = 256

Vectors = list[list[float]]


class Embedder(Protocol):
    """Takes every text at once and owns batching (and, for a server, concurrency), so callers
    such as the ingest just hand over their texts."""

    model_id: str

    def embed(self, texts: list[str]) -> Vectors: ...


def length_batches(texts: list[str], batch_size: int) -> list[list[int]]:
    """Row numbers of `texts` in batches of similar length: little padding for the local model,
    and no short text waiting on a long one at a server."""
    order = sorted(range(len(texts)), key=lambda row: len(texts[row]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def in_batches(
    texts: list[str], batch_size: int, embed_batch: Callable[[list[str]], Vectors], concurrency: int = 1
) -> Vectors:
    """`embed_batch` over length batches of `texts`, up to `concurrency` at once; the vectors come
    back in the order of `texts`. After a failure no further batch is started."""
    batches = length_batches(texts, batch_size)
    vectors: Vectors = [[] for _ in texts]

    def place(rows: list[int], batch_vectors: Vectors) -> None:
        for row, vector in zip(rows, batch_vectors):
            vectors[row] = vector

    if concurrency == 1 or len(batches) <= 1:
        for rows in batches:
            place(rows, embed_batch([texts[row] for row in rows]))
        return vectors
    failed = threading.Event()

    def unless_failed(batch: list[str]) -> Vectors:
        if failed.is_set():
            return []
        try:
            return embed_batch(batch)
        except BaseException:
            failed.set()
            raise

    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(batches)), thread_name_prefix="embed")
    try:
        sent = [(rows, pool.submit(unless_failed, [texts[row] for row in rows])) for rows in batches]
        for rows, reply in sent:
            place(rows, reply.result())
    finally:
        pool.shutdown(cancel_futures=True)
    return vectors


class LocalMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) with mean pooling; one session per process and thread count."""

    model_id = LOCAL_MODEL_ID

    def __init__(self, threads: int | None, batch_size: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        model, vocab = onnx_model_file(), tokenizer_file()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        # Threads that spin between operators lose their core to any other busy process: on 2 shared
        # cores, 2 threads made 7-9 texts/s spinning and 11-12 without (benchmarks/embedding.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.batch_size = batch_size
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

    def embed(self, texts: list[str]) -> Vectors:
        return in_batches(texts, self.batch_size, self._embed_batch)

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The model's inputs for one batch, padded to its longest text."""
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The model alone on tokenized inputs: its last hidden state."""
        (hidden,) = self._session.run(["last_hidden_state"], inputs)
        return hidden

    def _embed_batch(self, texts: list[str]) -> Vectors:
        inputs = self.tokenize(texts)
        hidden = self.run(inputs)
        weights = inputs["attention_mask"][:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.tolist()


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint: PAPERS_EMBEDDING_CONCURRENCY batches in flight,
    each retried with the bounded waits of `rag.remote`; `sleep` and `jitter` are for tests."""

    def __init__(
        self, settings: Settings, sleep: Callable[[float], None] = time.sleep, jitter: random.Random = JITTER
    ) -> None:
        from openai import OpenAI

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        self.model_id = embedding_model_id(settings)
        self._model = settings.embedding_model
        self._settings = settings
        self._sleep, self._jitter = sleep, jitter
        self._client = OpenAI(
            api_key=key, base_url=settings.openai_base_url, timeout=client_timeout(settings), max_retries=0
        )

    def embed(self, texts: list[str]) -> Vectors:
        settings = self._settings
        return in_batches(texts, settings.embedding_batch_size, self._embed_batch, settings.embedding_concurrency)

    def _embed_batch(self, texts: list[str]) -> Vectors:
        import openai

        started = time.monotonic()
        try:
            response = retrying(
                lambda: self._client.embeddings.create(model=self._model, input=texts),
                self._settings, self._sleep, self._jitter,
            )
        except openai.OpenAIError as exc:
            raise PapersError(self._explain(exc, time.monotonic() - started)) from exc
        if len(response.data) != len(texts):
            raise PapersError(
                f"The embeddings server at {server_name(self._settings)} returned {len(response.data)} vectors "
                f"for {len(texts)} texts; check that OPENAI_BASE_URL points at an OpenAI-compatible server."
            )
        return [item.embedding for item in sorted(response.data, key=lambda item: item.index)]

    def _explain(self, exc: BaseException, waited: float) -> str:
        import openai

        settings = self._settings
        server = f"{server_name(settings)} (embeddings)"
        if isinstance(exc, openai.APIStatusError) and retryable(exc):
            refusal = "429, too many requests" if exc.status_code == 429 else f"{exc.status_code}, unavailable"
            return (
                f"The embeddings server at {server_name(settings)} still answered {refusal} after "
                f"{settings.openai_max_retries} retries over {waited:.1f} s; lower PAPERS_EMBEDDING_CONCURRENCY "
                f"(now {settings.embedding_concurrency}) or raise PAPERS_OPENAI_MAX_RETRIES, and check the server."
            )
        return explain_wait(exc, server, settings, waited) or (
            f"The embeddings server failed ({type(exc).__name__}); check OPENAI_BASE_URL, "
            "OPENAI_API_KEY and PAPERS_EMBEDDING_MODEL."
        )


_LOADING = threading.Lock()


@lru_cache(maxsize=4)
def _loaded_minilm(threads: int | None, batch_size: int) -> LocalMiniLM:
    return LocalMiniLM(threads, batch_size)


def _local_minilm(settings: Settings) -> LocalMiniLM:
    """One model per process (and setting): the first searches of a cold server arrive together,
    and lru_cache alone would let each of them load its own."""
    with _LOADING:
        return _loaded_minilm(settings.embedding_threads, settings.embedding_batch_size)


def embedding_model_id(settings: Settings) -> str:
    """Which model a library is built with, known without loading it."""
    return LOCAL_MODEL_ID if settings.embedding_backend == "local" else f"openai:{settings.embedding_model}"


def get_embedder(settings: Settings) -> Embedder:
    if settings.embedding_backend == "local":
        return _local_minilm(settings)
    return OpenAIEmbedder(settings)
