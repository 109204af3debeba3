"""The embedders: batching and order, a real OpenAI-compatible embeddings server (llama-cpp-python's
with SmolLM2), and fake servers only for what a real one will not do on cue: answer out of order,
refuse with 429 or 503, or stay silent."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from conftest import SERVER_MODEL, ingest, library_settings, loopback_server, make_settings, silent_server, write_jsonl
from rag.chunking import chunk_text
from rag.embeddings import LocalMiniLM, OpenAIEmbedder, get_embedder, in_batches, length_batches
from rag.errors import PapersError
from rag.retrieval import Retriever
from rag.settings import Settings

TEXTS = [
    "Graph neural networks predict molecular properties from atom and bond features.",
    "Sparse attention.",
    "Cerebral white matter develops in newborns, as diffusion tensor imaging shows in vivo.",
    "A randomised trial of vitamin D supplements found no fewer fractures in older adults.",
    "Protein folding.",
    "Transformers trained on code complete functions from their docstrings.",
    "Mean pooling of token embeddings gives sentence vectors for retrieval.",
]


def served(base_url: str, **overrides) -> dict:
    """Settings that embed with the server at `base_url`."""
    return {"embedding_backend": "openai", "openai_base_url": base_url, "openai_api_key": "test-key",
            "embedding_model": SERVER_MODEL, **overrides}


def remote(base_url: str, **overrides) -> Settings:
    return make_settings(**served(base_url, **overrides))


def numbered(count: int, seed: int = 7) -> list[str]:
    """Texts that say their own number, of random lengths so that length batches mix them up."""
    rng = random.Random(seed)
    return [f"{n} " + "word " * rng.randrange(0, 40) for n in range(count)]


# --- batching ------------------------------------------------------------------------------------


def test_length_batches_cover_every_text_once_and_group_similar_lengths():
    texts = numbered(23)
    batches = length_batches(texts, 5)
    assert [len(rows) for rows in batches] == [5, 5, 5, 5, 3]
    assert sorted(row for rows in batches for row in rows) == list(range(23))
    lengths = [len(texts[row]) for rows in batches for row in rows]
    assert lengths == sorted(lengths)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_in_batches_keeps_the_order_of_the_texts(concurrency: int):
    texts = numbered(20)
    sizes: list[int] = []

    def embed_batch(batch: list[str]) -> list[list[float]]:
        sizes.append(len(batch))
        return [[float(text.split()[0])] for text in batch]

    assert in_batches(texts, 6, embed_batch, concurrency) == [[float(n)] for n in range(20)]
    assert sorted(sizes) == [2, 6, 6, 6]
    assert in_batches([], 6, embed_batch, concurrency) == []


def test_the_local_model_gives_the_same_vectors_whatever_the_batch_size():
    one_by_one = LocalMiniLM(threads=None, batch_size=1).embed(TEXTS)
    batched = get_embedder(make_settings(embedding_batch_size=4)).embed(TEXTS)
    assert np.allclose(one_by_one, batched, atol=1e-4)


# --- a real embeddings server ----------------------------------------------------------------------


def test_concurrent_batches_to_a_real_server_give_each_text_its_own_vector(embeddings_server: str):
    alone = OpenAIEmbedder(remote(embeddings_server, embedding_batch_size=1, embedding_concurrency=1))
    expected = [alone.embed([text])[0] for text in TEXTS]
    together = OpenAIEmbedder(remote(embeddings_server, embedding_batch_size=2, embedding_concurrency=3))
    vectors = together.embed(TEXTS)
    assert len(vectors) == len(TEXTS)
    for text, vector, single in zip(TEXTS, vectors, expected):
        cosine = np.dot(vector, single) / (np.linalg.norm(vector) * np.linalg.norm(single))
        assert cosine > 0.99, text
    assert np.dot(vectors[0], expected[0]) > np.dot(vectors[0], expected[4])


def test_an_ingest_through_a_real_server_files_every_vector_with_its_own_chunk(embeddings_server: str, tmp_path):
    """Each abstract, asked as a query word for word, finds its own paper first by dense search."""
    records = [{"id": f"t{n}", "title": f"Paper {n}", "abstract": text} for n, text in enumerate(TEXTS)]
    settings = library_settings(tmp_path / "library",
                                **served(embeddings_server, embedding_batch_size=2, embedding_concurrency=3))
    report = ingest([write_jsonl(tmp_path / "papers.jsonl", records)], settings)
    assert len(report.added) == len(TEXTS)
    retriever = Retriever(settings)
    for record in records:
        hits = retriever.search(chunk_text(record["title"], record["abstract"]), k=1, mode="dense")
        assert [hit.id for hit in hits] == [record["id"]]


# --- fake servers: out of order, refusing, silent -------------------------------------------------


@contextmanager
def fake_server(answer: Callable[[BaseHTTPRequestHandler, list[str]], None]) -> Iterator[str]:
    """An embeddings endpoint whose every POST is answered by `answer(handler, texts)`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            answer(self, request["input"])

        def log_message(self, *args) -> None:
            pass

    with loopback_server(Handler) as url:
        yield url


def reply(handler: BaseHTTPRequestHandler, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def vectors_reply(handler: BaseHTTPRequestHandler, texts: list[str], shuffle: random.Random | None = None) -> None:
    """Each text's vector is [its number]; `shuffle` lists the items out of order (their index says)."""
    data = [{"object": "embedding", "index": i, "embedding": [float(text.split()[0])]} for i, text in enumerate(texts)]
    if shuffle:
        shuffle.shuffle(data)
    reply(handler, 200, {"object": "list", "data": data, "model": SERVER_MODEL,
                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})


def refusal(status: int) -> dict:
    return {"error": {"message": "busy", "type": "server_error", "code": status}}


class Waits:
    """A sleep that records what it was asked to wait, and returns at once."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def test_batches_travel_together_and_come_back_in_order_whatever_order_the_server_answers():
    """Each round of `concurrency` batches is held until all of it is in flight, then answered last
    arrival first, each reply listing its vectors shuffled."""
    concurrency, arrivals, answered = 3, [0], {}
    together = threading.Barrier(concurrency, timeout=60)
    turn, rng = threading.Condition(), random.Random(3)

    def answer(handler, texts):
        with turn:
            round_, position = divmod(arrivals[0], concurrency)
            arrivals[0] += 1
        together.wait()  # passes only when `concurrency` batches are in flight at once
        with turn:
            turn.wait_for(lambda: answered.get(round_, 0) == concurrency - 1 - position, timeout=60)
            vectors_reply(handler, texts, rng)
            answered[round_] = answered.get(round_, 0) + 1
            turn.notify_all()

    texts = numbered(18)
    with fake_server(answer) as base_url:
        embedder = OpenAIEmbedder(remote(base_url, embedding_batch_size=3, embedding_concurrency=concurrency))
        vectors = embedder.embed(texts)
    assert vectors == [[float(n)] for n in range(18)]
    assert answered == {0: 3, 1: 3}


@pytest.mark.parametrize("status", [429, 503])
def test_a_refusal_with_retry_after_is_waited_out_then_the_batch_succeeds(status: int):
    refused = []

    def answer(handler, texts):
        if len(refused) < 2:
            refused.append(texts)
            reply(handler, status, refusal(status), {"Retry-After": "2"})
        else:
            vectors_reply(handler, texts)

    waits = Waits()
    with fake_server(answer) as base_url:
        embedder = OpenAIEmbedder(remote(base_url, embedding_batch_size=4, embedding_concurrency=1), sleep=waits)
        vectors = embedder.embed(numbered(3))
    assert vectors == [[0.0], [1.0], [2.0]]
    assert waits.asked == [2.0, 2.0]


def test_without_retry_after_the_backoff_grows_with_seeded_jitter_and_is_bounded():
    def answer(handler, texts):
        reply(handler, 503, refusal(503))

    waits = Waits()
    settings = remote("", openai_max_retries=6)
    with fake_server(answer) as base_url:
        embedder = OpenAIEmbedder(settings.model_copy(update={"openai_base_url": base_url}),
                                  sleep=waits, jitter=random.Random(0))
        with pytest.raises(PapersError):
            embedder.embed(["0 one text"])
    bases = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(waits.asked) == 6
    assert all(base <= wait <= 1.5 * base for base, wait in zip(bases, waits.asked)), waits.asked
    assert len({round(wait / base, 6) for base, wait in zip(bases, waits.asked)}) > 1  # jittered


def test_a_server_that_always_answers_503_ends_in_an_error_naming_the_settings_to_change():
    requests = []

    def answer(handler, texts):
        requests.append(texts)
        reply(handler, 503, refusal(503), {"Retry-After": "1"})

    waits = Waits()
    with fake_server(answer) as base_url:
        embedder = OpenAIEmbedder(remote(base_url, openai_max_retries=2, embedding_concurrency=2), sleep=waits)
        with pytest.raises(PapersError) as caught:
            embedder.embed(["0 a passage"])
    message = str(caught.value)
    assert "503" in message and "after 2 retries" in message
    assert "PAPERS_EMBEDDING_CONCURRENCY (now 2)" in message and "PAPERS_OPENAI_MAX_RETRIES" in message
    assert len(requests) == 3 and waits.asked == [1.0, 1.0]


def test_a_silent_server_fails_once_per_batch_in_flight_and_no_further_batch_is_sent():
    held: list = []
    with silent_server(held) as base_url:
        settings = remote(base_url, openai_first_token_timeout=1.0, embedding_batch_size=2, embedding_concurrency=2)
        with pytest.raises(PapersError, match=r"\(embeddings\) accepted the connection but sent nothing for 1 s"):
            OpenAIEmbedder(settings).embed(numbered(12))
    assert len(held) == 2
