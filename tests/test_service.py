"""`papers serve` for real: the `papers` command runs uvicorn on a free loopback port over a copy of
the sample library, SmolLM2 answers, and the tests speak HTTP to it (httpx, the `openai` client)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import hypothesis
import openai
import pytest
import schemathesis

from conftest import (
    PAPERS_CLI, SHORT_PAPERS, as_env, cli_env, copy_library, free_port, run_cli, serving, small_model, write_jsonl,
)
from rag.aspects import LABELS
from rag.retrieval import Retriever
from rag.settings import Settings

KAN_QUESTION = "Which papers study Kolmogorov-Arnold networks?"
"""SmolLM2 answers this one by repeating itself up to the token limit, when it may copy
(PAPERS_MAX_COPIED_WORDS=0): a long, steady stream."""
KEY = "test-key-0123456789"


@contextmanager
def papers_serve(settings: Settings, folder: Path, **extra: str) -> Iterator[str]:
    """`papers serve` with `settings` as PAPERS_* variables; yields its base URL."""
    port = free_port()
    values = {"data_dir": settings.data_dir, **small_model(settings.local_model_path, max_answer_tokens=32,
                                                           cache_dir=folder / "cache")}
    env = cli_env(**{**as_env(values), **extra})
    if settings.chroma_host:
        env |= {"CHROMA_HOST": settings.chroma_host, "CHROMA_PORT": str(settings.chroma_port),
                "PAPERS_COLLECTION": settings.collection}
    command = [str(PAPERS_CLI), "serve", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serving(command, f"{url}/healthz", folder / f"serve-{port}.log", "papers serve", env=env, cwd=folder):
        yield url


@pytest.fixture(scope="module")
def library(sample_library: Settings, small_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample library plus the two short papers (short prompts for compare and digest)."""
    from rag.ingest import ingest

    folder = tmp_path_factory.mktemp("service")
    settings = copy_library(sample_library, folder / "library", local_model_path=small_model_path)
    ingest([write_jsonl(folder / "short.jsonl", SHORT_PAPERS)], settings)
    return settings


@pytest.fixture(scope="module")
def service(library: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("serve")
    with papers_serve(library, folder) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client


def sse_events(response: httpx.Response) -> list[tuple[str, object]]:
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def assert_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and fragment in body["error"], body
    assert "Traceback" not in response.text


def test_health_schema_and_docs_need_no_key(service: httpx.Client):
    assert service.get("/healthz").json() == {"status": "ok"}
    paths = service.get("/openapi.json").json()["paths"]
    for path in ("/v1/papers", "/v1/papers/{paper_id}", "/v1/jobs/{job_id}", "/v1/search", "/v1/ask", "/v1/digest",
                 "/v1/compare", "/v1/topic", "/v1/models", "/v1/chat/completions"):
        assert path in paths, path
    assert "swagger" in service.get("/docs").text.lower()


def test_papers_list_page_filter_get_and_404(service: httpx.Client, library: Settings):
    everything = service.get("/v1/papers", params={"limit": 1000}).json()
    assert everything["total"] == 89 == len(everything["items"])
    page = service.get("/v1/papers", params={"limit": 5, "offset": 10}).json()
    assert page["total"] == 89 and page["items"] == everything["items"][10:15]
    assert set(page["items"][0]) == {"id", "title", "date", "authors", "source"}
    found = service.get("/v1/papers", params={"q": "kolmogorov"}).json()
    assert found["total"] == 2 and all("Kolmogorov" in item["title"] for item in found["items"])
    paper = service.get("/v1/papers/short-tinyformer").json()
    assert paper["abstract"] == SHORT_PAPERS[0]["abstract"] and paper["title"] == SHORT_PAPERS[0]["title"]
    assert_error(service.get("/v1/papers/no-such-paper"), 404, "no-such-paper")
    assert_error(service.get("/v1/papers", params={"limit": 0}), 422, "limit")


def test_search_is_the_cli_array(service: httpx.Client, library: Settings):
    query = "learnable activation functions"
    reply = service.post("/v1/search", json={"query": query, "k": 3})
    assert reply.status_code == 200
    assert reply.json() == [hit.as_dict() for hit in Retriever(library).search(query, 3)]
    assert_error(service.post("/v1/search", json={"query": "  "}), 400, "empty")
    assert_error(service.post("/v1/search", json={"query": "why " * 2000}), 413, "too long")
    assert_error(service.post("/v1/search", json={"k": 3}), 422, "query")
    assert_error(service.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}),
                 422, "Invalid request")


def test_ask_as_json_and_as_events_in_order(service: httpx.Client):
    answer = service.post("/v1/ask", json={"question": "What does TinyFormer run on?", "history": []}).json()
    assert set(answer) == {"answer", "citations", "sources", "removed_statements"}
    assert answer["sources"][0]["id"] == "short-tinyformer"

    with service.stream("POST", "/v1/ask", headers={"Accept": "text/event-stream"},
                        json={"question": "And how accurate is it?",
                              "history": [{"role": "user", "content": "What does TinyFormer run on?"},
                                          {"role": "assistant", "content": answer["answer"]}]}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "answer" and set(names[1:-1]) == {"token"}, names
    sources, final = events[0][1], events[-1][1]
    assert all(set(source) == {"n", "id", "title"} for source in sources)
    assert final["sources"] == sources
    assert set(final) == {"answer", "citations", "sources", "removed_statements"}
    assert "".join(data["text"] for name, data in events if name == "token").strip()
    assert_error(service.post("/v1/ask", json={"question": "x" * 5000}), 413, "too long")
    assert_error(service.post("/v1/ask", json={"question": "hi", "history": [{"role": "system", "content": "x"}]}),
                 422, "role")


def test_digest_compare_topic_are_the_cli_objects(service: httpx.Client):
    digest = service.post("/v1/digest", json={"paper": "short-leafcount"}).json()
    assert set(digest) == {"id", "title", "digest"} and digest["id"] == "short-leafcount" and digest["digest"]
    comparison = service.post("/v1/compare", json={"a": "TinyFormer", "b": "short-leafcount"}).json()
    assert set(comparison) == {"a", "b", "rows", "in_common", "difference"}
    assert (comparison["a"]["id"], comparison["b"]["id"]) == ("short-tinyformer", "short-leafcount")
    assert [row["aspect"] for row in comparison["rows"]] == list(LABELS.values())
    topic = service.post("/v1/topic", json={"topic": "counting leaves in greenhouses"}).json()
    assert set(topic) == {"answer", "citations", "sources", "removed_statements"}
    assert_error(service.post("/v1/digest", json={"paper": "No Such Paper At All"}), 404, "No paper")
    assert_error(service.post("/v1/compare", json={"a": "short-tinyformer", "b": "TinyFormer"}), 400, "same paper")


def test_openai_client_chats_plain_and_streaming(service: httpx.Client):
    client = openai.OpenAI(base_url=f"{str(service.base_url).rstrip('/')}/v1", api_key="unused", max_retries=0)
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

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=history)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="papers", messages=[{"role": "assistant", "content": "hi"}])


def test_upload_job_from_202_to_done_and_bad_files_as_the_cli_rejects_them(service: httpx.Client, tmp_path: Path):
    records = [{"id": "up-1", "title": "Uploaded Paper on Soil Moisture Sensing",
                "abstract": "We estimate soil moisture from cheap capacitive sensors across 40 fields."},
               {"id": "up-2", "title": "No abstract here"}]
    body = "".join(json.dumps(r) + "\n" for r in records)
    reply = service.post("/v1/papers", files=[("files", ("fields.jsonl", body.encode()))],
                         data={"keep_partial": "true"})
    assert reply.status_code == 202
    job = wait_for_job(service, reply.json()["job"])
    assert (job["state"], job["added"], job["unchanged"], job["updated"], job["error"]) == ("done", 1, 0, 0, None)
    assert job["total"] == job["done"] == 1
    assert [(r["file"], r["line"]) for r in job["rejected"]] == [("fields.jsonl", 2)]
    assert service.get("/v1/papers/up-1").json()["title"] == records[0]["title"]
    hits = service.post("/v1/search", json={"query": "capacitive soil moisture sensors", "k": 1}).json()
    assert hits[0]["id"] == "up-1"

    (tmp_path / "x.bin").write_bytes(bytes(range(256)) * 40)
    cli = run_cli("--data-dir", str(tmp_path / "lib"), "ingest", str(tmp_path / "x.bin"), cwd=tmp_path)
    failed = wait_for_job(service, service.post("/v1/papers", files=[("files", ("x.bin", bytes(range(256)) * 40))])
                          .json()["job"])
    assert failed["state"] == "failed" and failed["added"] == 0
    assert failed["error"] == cli.stderr.strip().removeprefix("Error: ").replace(str(tmp_path / "x.bin"), "x.bin")

    assert service.delete("/v1/papers/up-1").status_code == 204
    assert_error(service.delete("/v1/papers/up-1"), 404, "up-1")
    assert_error(service.get("/v1/jobs/nope"), 404, "nope")


def wait_for_job(client: httpx.Client, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while (job := client.get(f"/v1/jobs/{job_id}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_keys_limits_and_a_busy_model(library: Settings, tmp_path: Path):
    """With keys, /v1 and /mcp answer 401 without one; an upload over the limit is 413; with no room to
    wait, a second ask gets 429 while a search goes through; a client that leaves frees the model."""
    extra = {"PAPERS_API_KEYS": f"other-key,{KEY}", "PAPERS_MAX_WAITING": "0", "PAPERS_MAX_UPLOAD_MB": "0.01",
             "PAPERS_MAX_ANSWER_TOKENS": "200", "PAPERS_MAX_COPIED_WORDS": "0"}
    with papers_serve(library, tmp_path, **extra) as url, httpx.Client(base_url=url, timeout=120) as anonymous:
        for path in ("/v1/papers", "/v1/models", "/mcp"):
            assert_error(anonymous.get(path), 401, "API key")
        assert_error(anonymous.get("/v1/papers", headers={"Authorization": "Bearer wrong"}), 401, "API key")
        assert anonymous.get("/healthz").status_code == 200

        client = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {KEY}"})
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
        deadline = time.monotonic() + 30
        while metric(client, "papers_generation_queue") != 0:
            assert time.monotonic() < deadline, "the abandoned stream still holds the model"
            time.sleep(0.1)
        assert tokens_generated(client) - before < full / 2
        assert client.post("/v1/ask", json={"question": "What is LeafCount?"}).status_code == 200
        exposition = client.get("/metrics").text
        assert 'papers_requests_total{method="POST",route="/v1/ask",status="429"} 1.0' in exposition
        assert "papers_request_seconds_bucket" in exposition


def metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name} ") or line.startswith(f"{name}_total "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def tokens_generated(client: httpx.Client) -> float:
    return metric(client, "papers_tokens_generated")


def test_serving_beyond_loopback_needs_keys(tmp_path: Path):
    result = run_cli("--data-dir", str(tmp_path / "lib"), "serve", "--host", "0.0.0.0", cwd=tmp_path, timeout=60)
    assert result.returncode == 1 and "PAPERS_API_KEYS" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_chroma_and_model_servers_are_503_naming_their_settings(library: Settings, tmp_path: Path):
    settings = library.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": free_port()})
    with papers_serve(settings, tmp_path) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/healthz").status_code == 200
        assert_error(client.post("/v1/search", json={"query": "leaves"}), 503, "CHROMA_HOST")
    no_model = {"PAPERS_LLM_BACKEND": "openai", "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    with papers_serve(library, tmp_path, **no_model) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert_error(client.post("/v1/ask", json={"question": "What is LeafCount?"}), 503, "OPENAI_BASE_URL")


def test_two_serve_processes_share_one_chroma_server(chroma_server, small_model_path: Path, tmp_path: Path):
    """A paper added through one process is found by search through the other."""
    host, port, _ = chroma_server
    settings = Settings(_env_file=None, data_dir=tmp_path / "one", chroma_host=host, chroma_port=port,
                        collection="shared-by-two", local_model_path=small_model_path)
    other = settings.model_copy(update={"data_dir": tmp_path / "two"})
    with papers_serve(settings, tmp_path) as url_one, papers_serve(other, tmp_path) as url_two, \
            httpx.Client(base_url=url_one, timeout=60) as one, httpx.Client(base_url=url_two, timeout=60) as two:
        assert two.post("/v1/search", json={"query": "microcontrollers"}).json() == []
        job = one.post("/v1/papers", files=[("files", ("short.jsonl", write_jsonl(tmp_path / "s.jsonl", SHORT_PAPERS)
                                                        .read_bytes()))]).json()["job"]
        assert wait_for_job(one, job)["added"] == 2
        deadline = time.monotonic() + 10
        while not (hits := two.post("/v1/search", json={"query": "transformers on microcontrollers"}).json()):
            assert time.monotonic() < deadline, "the other process never saw the new papers"
            time.sleep(0.5)
        assert hits[0]["id"] == "short-tinyformer"
        assert two.get("/v1/papers").json()["total"] == 2


@pytest.fixture(scope="module")
def api_schema(library: Settings, tmp_path_factory: pytest.TempPathFactory):
    """The service's own OpenAPI schema, read from a server with a library of its own: the generated
    requests upload and delete papers."""
    folder = tmp_path_factory.mktemp("schemathesis")
    own = copy_library(library, folder / "library", local_model_path=library.local_model_path)
    with papers_serve(own, folder) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_every_route_keeps_to_its_schema_and_never_fails_with_5xx(api_schema):
    """Schemathesis generates requests for each operation; every reply must match the schema, none a 5xx.

    A request the schema allows may still be refused for what it says (a query of spaces, a paper not
    in the library, two names of one paper): the 400 or 404 it gets is checked like any reply."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 14

    for operation in operations:
        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=8, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def conforms(case):
            case.call_and_validate(timeout=120, excluded_checks=[schemathesis.checks.positive_data_acceptance])

        conforms()
