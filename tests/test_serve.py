"""`papers serve` for real: the `papers` command runs uvicorn on a free loopback port over a copy of
the sample library, SmolLM2 answers, and the tests speak HTTP to it (httpx, the `openai` client):
what only a real process shows (a cold start, streams cut by a client, several processes)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest
from test_service import assert_error
from test_service_safety import upload_folders

from conftest import (
    PAPERS_CLI,
    SHORT_PAPERS,
    as_env,
    cli_env,
    free_port,
    library_settings,
    run_cli,
    serving,
    silent_server,
    small_model,
    write_jsonl,
)
from rag.settings import Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]

KAN_QUESTION = "Which papers study Kolmogorov-Arnold networks?"
"""SmolLM2 answers this one by repeating itself up to the token limit, when it may copy
(PAPERS_MAX_COPIED_WORDS=0): a long, steady stream."""
KEY = "test-key-0123456789"


@contextmanager
def papers_serve(settings: Settings, folder: Path, health: str = "/healthz", **extra: str) -> Iterator[str]:
    """`papers serve` with `settings` as PAPERS_* variables; yields its base URL once `health` answers."""
    with papers_serve_process(settings, folder, health, **extra) as (url, _):
        yield url


@contextmanager
def papers_serve_process(settings: Settings, folder: Path, health: str = "/healthz",
                         **extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`papers_serve`, giving its process too, for a test that kills it."""
    port = free_port()
    values = {"data_dir": settings.data_dir, **small_model(settings.local_model_path, max_answer_tokens=32,
                                                           cache_dir=folder / "cache")}
    env = cli_env(**{**as_env(values), **extra})
    if settings.chroma_host:
        env |= {"CHROMA_HOST": settings.chroma_host, "CHROMA_PORT": str(settings.chroma_port),
                "PAPERS_COLLECTION": settings.collection}
    command = [str(PAPERS_CLI), "serve", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serving(command, f"{url}{health}", folder / f"serve-{port}.log", "papers serve", env=env,
                 cwd=folder) as process:
        yield url, process


@pytest.fixture(scope="module")
def library(short_library: Settings) -> Settings:
    return short_library


def test_a_cold_server_answers_its_first_burst(library: Settings, tmp_path: Path):
    """Issue 17: 30 concurrent searches as a fresh server's first traffic all got 503 while several
    threads opened the library at once. /healthz answers at once; the burst waits for the one opening."""
    with papers_serve(library, tmp_path) as url, httpx.Client(base_url=url, timeout=300) as client:
        with ThreadPoolExecutor(30) as pool:
            replies = list(pool.map(lambda _: client.post("/v1/search", json={"query": "leaf counting", "k": 1}),
                                    range(30)))
        assert [reply.status_code for reply in replies] == [200] * 30, [r.text for r in replies if r.status_code != 200]
        assert {reply.json()[0]["id"] for reply in replies} == {SHORT_PAPERS[1]["id"]}
        assert client.get("/readyz").json() == {"status": "ready"}


def test_openai_client_chats_plain_and_streaming(library: Settings, tmp_path: Path):
    with papers_serve(library, tmp_path, "/readyz") as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        assert [model.id for model in client.models.list()] == ["papers"]
        history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Which paper counts leaves?"},
                   {"role": "assistant", "content": "LeafCount [1]."}, {"role": "user", "content": "What data did it use?"}]
        reply = client.chat.completions.create(model="papers", messages=history)
        content = reply.choices[0].message.content
        citations = reply.model_extra["citations"]
        assert content.strip() and reply.choices[0].finish_reason == "stop"
        for citation in citations:
            assert set(citation) == {"n", "id", "title", "passage"} and f"[{citation['n']}] {citation['title']}" in content

        chunks = list(client.chat.completions.create(model="papers", messages=history[-1:], stream=True))
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[-1].choices[0].finish_reason == "stop" and "citations" in chunks[-1].model_extra
        assert "".join(c.choices[0].delta.content or "" for c in chunks).strip()

        with pytest.raises(openai.NotFoundError, match="No model 'gpt-4o'"):
            client.chat.completions.create(model="gpt-4o", messages=history)
        with pytest.raises(openai.UnprocessableEntityError, match="user's question"):
            client.chat.completions.create(model="papers", messages=[{"role": "assistant", "content": "hi"}])


def test_keys_limits_and_a_busy_model(library: Settings, tmp_path: Path):
    """With keys, /v1 and /mcp answer 401 without one; an upload over the limit is 413; with no room to
    wait, a second ask gets 429 while a search goes through; a client that leaves frees the model."""
    extra = {"PAPERS_API_KEYS": f"other-key,{KEY}", "PAPERS_MAX_WAITING": "0", "PAPERS_MAX_UPLOAD_MB": "0.01",
             "PAPERS_MAX_ANSWER_TOKENS": "200", "PAPERS_MAX_COPIED_WORDS": "0"}
    with papers_serve(library, tmp_path, **extra) as url, httpx.Client(base_url=url, timeout=300) as anonymous:
        for path in ("/v1/papers", "/v1/models", "/mcp"):
            assert anonymous.get(path).status_code == 401
        assert_error(anonymous.get("/v1/papers", headers={"Authorization": "Bearer wrong"}), 401, "API key")
        assert anonymous.get("/healthz").status_code == 200

        client = httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {KEY}"})
        assert client.get("/v1/papers", params={"limit": 1}).status_code == 200
        assert_error(client.post("/v1/papers", files=[("files", ("big.jsonl", b"x" * 20_000))]), 413, "MB limit")

        full = tokens_generated(client)
        with client.stream("POST", "/v1/ask", json={"question": KAN_QUESTION},
                           headers={"Accept": "text/event-stream"}) as first:
            lines = first.iter_lines()
            assert next(lines) == "event: sources"
            busy = client.post("/v1/ask", json={"question": "What is LeafCount?"})
            assert_error(busy, 429, "busy")
            assert busy.headers["Retry-After"].isdigit()
            assert client.post("/v1/search", json={"query": "leaf counting"}).status_code == 200
            events = "\n".join(lines)
        assert events.rstrip().splitlines()[-2] == "event: answer"
        full = tokens_generated(client) - full
        assert full >= 150  # the stream ran to (near) the token limit

        before = tokens_generated(client)
        with client.stream("POST", "/v1/ask", json={"question": KAN_QUESTION},
                           headers={"Accept": "text/event-stream"}) as leaving:
            for line in leaving.iter_lines():
                if line == "event: token":
                    break
        # The model is freed at its next token: bounded by the token limit, not by a clock.
        while metric(client, "papers_generation_queue") != 0:
            time.sleep(0.1)
        assert tokens_generated(client) - before < full / 2
        assert client.post("/v1/ask", json={"question": "What is LeafCount?"}).status_code == 200
        exposition = client.get("/metrics").text
        assert 'papers_requests_total{method="POST",route="/v1/ask",status="429"} 1.0' in exposition
        assert "papers_request_seconds_bucket" in exposition


def metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith((f"{name} ", f"{name}_total ")):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def tokens_generated(client: httpx.Client) -> float:
    return metric(client, "papers_tokens_generated")


def test_serving_beyond_loopback_needs_keys(tmp_path: Path):
    result = run_cli("--data-dir", str(tmp_path / "lib"), "serve", "--host", "0.0.0.0", cwd=tmp_path)
    assert result.returncode == 1 and "PAPERS_API_KEYS" in result.stderr and "Traceback" not in result.stderr


def test_two_serve_processes_share_one_chroma_server(chroma_server, small_model_path: Path, tmp_path: Path):
    """A paper added through one process is found by search through the other, which loads the BM25
    index the first rebuilt instead of rebuilding it (they share the library folder)."""
    host, port, _ = chroma_server
    settings = Settings(_env_file=None, data_dir=tmp_path / "shared", chroma_host=host, chroma_port=port,
                        collection="shared-by-two", local_model_path=small_model_path)
    with papers_serve(settings, tmp_path) as url_one, papers_serve(settings, tmp_path) as url_two, \
            httpx.Client(base_url=url_one, timeout=300) as one, httpx.Client(base_url=url_two, timeout=300) as two:
        assert two.post("/v1/search", json={"query": "microcontrollers"}).json() == []
        job = one.post("/v1/papers", files=[("files", ("short.jsonl", write_jsonl(tmp_path / "s.jsonl", SHORT_PAPERS)
                                                        .read_bytes()))]).json()["job"]
        while (state := one.get(f"/v1/jobs/{job}").json())["state"] in ("queued", "running"):
            time.sleep(0.2)
        assert state["added"] == 2, state
        built = (settings.bm25_dir / "version").stat()
        # The other process sees the catalogue's version change at its next search and loads the index.
        hits = two.post("/v1/search", json={"query": "transformers on microcontrollers"}).json()
        assert hits[0]["id"] == "short-tinyformer"
        assert (settings.bm25_dir / "version").stat().st_ino == built.st_ino  # not rebuilt
        assert two.get("/v1/papers").json()["total"] == 2


# --- upload jobs, kept in the library folder ------------------------------------------------------------


def finished_job(client: httpx.Client, job_id: str) -> dict:
    """Bounded by pytest's timeout per test, not by a clock of its own."""
    while (job := client.get(f"/v1/jobs/{job_id}").json())["state"] in ("queued", "running"):
        time.sleep(0.2)
    return job


def test_an_upload_job_is_seen_from_every_process_serving_the_library(small_model_path: Path, tmp_path: Path):
    settings = library_settings(tmp_path / "library", local_model_path=small_model_path)
    with papers_serve(settings, tmp_path) as url_one, papers_serve(settings, tmp_path) as url_two, \
            httpx.Client(base_url=url_one, timeout=300) as one, httpx.Client(base_url=url_two, timeout=300) as two:
        upload = write_jsonl(tmp_path / "short.jsonl", SHORT_PAPERS).read_bytes()
        job = one.post("/v1/papers", files=[("files", ("short.jsonl", upload))]).json()["job"]
        state = finished_job(two, job)
        assert (state["state"], state["added"], state["error"]) == ("done", 2, None)
        assert one.get(f"/v1/jobs/{job}").json() == state
        assert two.get("/v1/papers", params={"source": "short.jsonl"}).json()["total"] == 2
        assert_error(two.get("/v1/jobs/0123"), 404, "No upload job '0123'")
    assert state == read_job(settings, job)


def read_job(settings: Settings, job_id: str) -> dict:
    """A job as its file in the library folder holds it."""
    return json.loads((settings.data_dir / "jobs" / f"{job_id}.json").read_text())["job"]


def test_jobs_of_a_killed_process_are_reported_interrupted_after_a_restart(short_library: Settings, tmp_path: Path):
    """A server is killed while it embeds one upload (its embeddings server never answers) with a second
    upload waiting: the restarted server says both were interrupted and keeps none of their files."""
    settings = library_settings(tmp_path / "library", local_model_path=short_library.local_model_path)
    upload = [("files", ("short.jsonl", write_jsonl(tmp_path / "short.jsonl", SHORT_PAPERS).read_bytes()))]
    with silent_server() as silent:
        hanging = {"PAPERS_EMBEDDING_BACKEND": "openai", "OPENAI_BASE_URL": silent, "OPENAI_API_KEY": "x",
                   "PAPERS_OPENAI_FIRST_TOKEN_TIMEOUT": "3000"}
        with papers_serve_process(settings, tmp_path, **hanging) as (url, process), \
                httpx.Client(base_url=url, timeout=300) as client:
            running, queued = (client.post("/v1/papers", files=upload).json()["job"] for _ in range(2))
            while client.get(f"/v1/jobs/{running}").json()["state"] != "running":
                time.sleep(0.1)
            assert client.get(f"/v1/jobs/{queued}").json()["state"] == "queued"
            assert len(upload_folders(settings)) == 2
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert read_job(settings, running)["state"] == "running"  # as the killed process left it
        with papers_serve(settings, tmp_path) as url, httpx.Client(base_url=url, timeout=300) as client:
            assert upload_folders(settings) == []  # tidied as the server started
            for job in (running, queued):
                state = client.get(f"/v1/jobs/{job}").json()
                assert state["state"] == "failed" and "Upload the files again" in state["error"], state
            assert client.get("/v1/papers").json()["total"] == 0
