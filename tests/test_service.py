"""The HTTP service's routes in process: FastAPI's TestClient over `create_app`, a copy of the sample
library, and a scripted chat model swapped in through the Library, so each route's contract, errors
and limits are checked without a model server. tests/test_serve.py runs the real `papers serve`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import CARD_LEAF, CARD_TINY, SHORT_PAPERS, ScriptedModel
from rag.library import Library
from rag.replies import as_json
from rag.service import create_app
from rag.service.deps import get_library
from rag.settings import Settings

BASE_URL = "http://127.0.0.1:8000"
TINY, LEAF = SHORT_PAPERS
TINY_ANSWER = "TinyFormer reaches 91% accuracy on keyword spotting [1]."
RELATION = json.dumps({"in_common": "Both are small models.", "difference": "Transformers against a CNN.",
                       "stronger": "They measure different things."})
CARD_KEYS = {"id", "title", "tldr", "tldr_quoted", "digest", "cells", "removed_statements"}
ANSWER_KEYS = {"answer", "citations", "sources", "removed_statements", "removed_citations", "refused"}


@pytest.fixture(scope="module")
def library(short_library: Settings) -> Settings:
    return short_library


def client_for(settings: Settings, model=None, **headers: str) -> TestClient:
    """A client of the service over `settings`' library; with `model`, the routes get a Library that
    answers with it, swapped in as FastAPI lets a test swap a dependency. Use it in `with`, which
    runs the app's lifespan (the library opens, MCP's session manager starts)."""
    app = create_app(Library(settings))
    if model is not None:
        answering = Library(settings, model)
        app.dependency_overrides[get_library] = lambda: answering
    return TestClient(app, base_url=BASE_URL, headers=headers)


@pytest.fixture(scope="module")
def service(library: Settings) -> Iterator[TestClient]:
    model = ScriptedModel(responses=[TINY_ANSWER])
    with client_for(library, model) as client:
        yield client


def assert_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and fragment in body["error"], body
    assert "Traceback" not in response.text


def readiness(client: TestClient) -> dict:
    """/readyz once it stops saying the library is being opened: the opening runs beside the first
    requests and takes longer on a busy machine, so the verdict waits for it rather than race it."""
    deadline = time.monotonic() + 300
    while (reply := client.get("/readyz")).status_code == 503 and time.monotonic() < deadline:
        assert "still being opened" in reply.json()["error"], reply.text
        time.sleep(0.2)
    return reply.json()


def test_health_readiness_schema_and_docs(service: TestClient):
    assert service.get("/healthz").json() == {"status": "ok"}
    assert readiness(service) == {"status": "ready"}
    schema = service.get("/openapi.json").json()
    for path in ("/v1/papers", "/v1/papers/{paper_id}", "/v1/jobs/{job_id}", "/v1/search", "/v1/ask", "/v1/digest",
                 "/v1/compare", "/v1/topic", "/v1/models", "/v1/chat/completions", "/v1/stats", "/readyz"):
        assert path in schema["paths"], path
    assert "swagger" in service.get("/docs").text.lower()


def reply_fields(schema: dict, path: str, method: str = "post", status: str = "200") -> set[str]:
    """The fields /openapi.json gives the reply of one route (an array's items for a list)."""
    content = schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    content = content.get("items", content)
    name = content["$ref"].rsplit("/", 1)[-1]
    return set(schema["components"]["schemas"][name]["properties"])


def test_the_schema_describes_every_reply(service: TestClient):
    schema = service.get("/openapi.json").json()
    assert reply_fields(schema, "/v1/search") == {"id", "title", "score", "passages"}
    assert reply_fields(schema, "/v1/ask") == ANSWER_KEYS
    assert reply_fields(schema, "/v1/topic") == ANSWER_KEYS
    assert reply_fields(schema, "/v1/papers", "get") == {"total", "items", "papers", "embedded"}
    assert reply_fields(schema, "/v1/papers/{paper_id}", "get") == {"id", "title", "date", "authors", "source",
                                                                      "doi", "arxiv_id", "abstract"}
    assert reply_fields(schema, "/v1/digest") == {"id", "title", "digest", "removed_statements"}
    assert reply_fields(schema, "/v1/compare") == {"a", "b", "rows", "in_common", "difference", "stronger",
                                                   "fell_back"}
    assert reply_fields(schema, "/v1/card") == CARD_KEYS
    assert reply_fields(schema, "/v1/jobs/{job_id}", "get") == {"state", "done", "total", "added", "unchanged",
                                                                 "updated", "merged", "rejected", "files", "error"}
    assert reply_fields(schema, "/v1/papers", "post", "202") == {"job"}
    assert "excerpt" not in json.dumps(schema)  # what the model was shown is not part of any reply


def test_papers_list_page_filter_get_and_404(service: TestClient):
    everything = service.get("/v1/papers", params={"limit": 1000}).json()
    assert everything["total"] == 89 == len(everything["items"])
    page = service.get("/v1/papers", params={"limit": 5, "offset": 10}).json()
    assert page["total"] == 89 and page["items"] == everything["items"][10:15]
    assert set(page["items"][0]) == {"id", "title", "date", "authors", "source", "doi", "arxiv_id"}
    found = service.get("/v1/papers", params={"q": "kolmogorov"}).json()
    assert found["total"] == 2 and all("Kolmogorov" in item["title"] for item in found["items"])
    paper = service.get(f"/v1/papers/{TINY['id']}").json()
    assert paper["abstract"] == TINY["abstract"] and paper["title"] == TINY["title"]
    assert_error(service.get("/v1/papers/no-such-paper"), 404, "no-such-paper")
    assert_error(service.get("/v1/papers", params={"limit": 0}), 422, "limit")
    stats = service.get("/v1/stats").json()
    assert stats["papers"] == 89 and "short.jsonl" in stats["source_files"]


def test_search_is_the_librarys_search(service: TestClient, library: Settings):
    query = "learnable activation functions"
    reply = service.post("/v1/search", json={"query": query, "k": 3})
    assert reply.status_code == 200
    assert reply.json() == as_json(Library(library).search(query, 3))
    assert_error(service.post("/v1/search", json={"query": "  "}), 400, "empty")
    assert_error(service.post("/v1/search", json={"query": "why " * 2000}), 413, "too long")
    assert_error(service.post("/v1/search", json={"k": 3}), 422, "query")
    assert_error(service.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}),
                 422, "Invalid request")


def test_search_ask_and_papers_take_the_same_filters(service: TestClient):
    hits = service.post("/v1/search", json={"query": "counting leaves in photos", "source": "short.jsonl"}).json()
    assert [hit["id"] for hit in hits] == [LEAF["id"], TINY["id"]]
    answer = service.post("/v1/ask", json={"question": "What does TinyFormer run on?", "source": "short.jsonl"}).json()
    assert {source["id"] for source in answer["sources"]} <= {TINY["id"], LEAF["id"]}
    listed = service.get("/v1/papers", params={"source": "short.jsonl", "q": "tiny"}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == TINY["id"]
    assert service.post("/v1/search", json={"query": "leaves", "date_from": "2020"}).json() == []  # none is dated
    assert service.get("/v1/papers", params={"date_to": "2030"}).json()["total"] == 0
    assert_error(service.post("/v1/search", json={"query": "leaves", "date_from": "last year"}), 400,
                 "'last year' is not a year or a date")
    assert_error(service.post("/v1/topic", json={"topic": "leaves", "date_from": "2024", "date_to": "2023"}), 400,
                 "from 2024 is after to 2023")
    assert_error(service.post("/v1/ask", json={"question": "What is LeafCount?", "source": "nothing.csv"}), 404,
                 "its files: hf_papers.txt, short.jsonl")
    assert_error(service.get("/v1/papers", params={"date_to": "2021-13"}), 400, "'2021-13' is not a year")
    assert_error(service.get("/v1/papers", params={"sources": "short.jsonl"}), 422, "sources")


def sse_events(text: str) -> list[tuple[str, object]]:
    events, name = [], None
    for line in text.splitlines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_ask_as_json_and_as_events_in_order(service: TestClient):
    answer = service.post("/v1/ask", json={"question": "What does TinyFormer run on?", "history": []}).json()
    assert set(answer) == ANSWER_KEYS and answer["refused"] is False
    assert answer["sources"][0]["id"] == TINY["id"] and answer["answer"] == TINY_ANSWER
    assert answer["citations"][0]["id"] == TINY["id"]

    reply = service.post("/v1/ask", headers={"Accept": "text/event-stream"},
                         json={"question": "And how accurate is it?",
                               "history": [{"role": "user", "content": "What does TinyFormer run on?"},
                                           {"role": "assistant", "content": answer["answer"]}]})
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = sse_events(reply.text)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "answer" and set(names[1:-1]) == {"token"}, names
    sources, final = events[0][1], events[-1][1]
    assert all(set(source) == {"n", "id", "title"} for source in sources)
    assert final["sources"] == sources and set(final) == ANSWER_KEYS
    assert "".join(data["text"] for name, data in events if name == "token") == TINY_ANSWER


def test_a_refused_answer_says_so(service: TestClient):
    answer = service.post("/v1/ask", json={"question": "What accuracy does AlphaFold reach on CASP14?"}).json()
    assert answer["refused"] is True and answer["citations"] == []


@pytest.mark.parametrize("history, fragment", [
    ([{"role": "system", "content": "x"}], "role"),
    ([{"role": "user", "content": "hi", "name": "eve"}], "name"),
    ([{"role": "user", "content": ""}], "content"),
    ([{"role": "user", "content": 3}], "content"),
    ([{"role": "user", "content": "\ud800 lone"}], "unicode string"),
    (["just text"], "history"),
])
def test_an_ask_with_a_malformed_history_is_422(service: TestClient, history, fragment):
    """Issue 17: odd history members (unknown keys, lone surrogates, empty content) raised inside the route."""
    body = json.dumps({"question": "What does TinyFormer run on?", "history": history})
    reply = service.post("/v1/ask", content=body.encode(), headers={"content-type": "application/json"})
    assert_error(reply, 422, fragment)


def test_text_that_is_not_text_is_422_everywhere(service: TestClient):
    body = json.dumps({"question": "\udfff?"}).encode()
    assert_error(service.post("/v1/ask", content=body, headers={"content-type": "application/json"}),
                 422, "unicode string")
    body = json.dumps({"query": "kernels \ud83d"}).encode()
    assert_error(service.post("/v1/search", content=body, headers={"content-type": "application/json"}),
                 422, "unicode string")


def test_digest_compare_topic_are_the_cli_objects(library: Settings):
    digest_text = "LeafCount counts leaves in greenhouse photos."
    model = ScriptedModel(responses=[digest_text, CARD_TINY, CARD_LEAF, RELATION, TINY_ANSWER])
    with client_for(library, model) as client:
        digest = client.post("/v1/digest", json={"paper": LEAF["id"]}).json()
        assert digest == {"id": LEAF["id"], "title": LEAF["title"], "removed_statements": [],
                          "digest": "LeafCount counts leaves in greenhouse photos."}
        comparison = client.post("/v1/compare", json={"a": "TinyFormer", "b": LEAF["id"]}).json()
        assert set(comparison) == {"a", "b", "rows", "in_common", "difference", "stronger", "fell_back"}
        assert (comparison["a"]["id"], comparison["b"]["id"]) == (TINY["id"], LEAF["id"])
        assert [row["aspect"] for row in comparison["rows"]] == [
            "TL;DR", "Problem", "Approach", "Data and setting", "Key result", "Limitation", "Key terms"]
        assert comparison["rows"][4]["a"] == "91% accuracy with 8x less energy than a CNN baseline."
        assert comparison["in_common"] == "Both are small models." and comparison["fell_back"] is False
        card = client.post("/v1/card", json={"paper": LEAF["title"]}).json()  # both parts cached: no model call
        assert set(card) == CARD_KEYS and card["digest"] == digest_text and card["tldr"] == json.loads(CARD_LEAF)["tldr"]
        topic = client.post("/v1/topic", json={"topic": "keyword spotting on microcontrollers"}).json()
        assert set(topic) == ANSWER_KEYS and topic["answer"] == TINY_ANSWER
        assert_error(client.post("/v1/digest", json={"paper": "No Such Paper At All"}), 404, "No paper")
        assert_error(client.post("/v1/compare", json={"a": TINY["id"], "b": "TinyFormer"}), 400, "same paper")


def test_errors_have_one_shape(service: TestClient):
    """Issue 17: unknown routes and 405s answered {"detail": ...}; OpenAI's routes get OpenAI's error object."""
    assert_error(service.get("/v1/nothing-here"), 404, "No route GET /v1/nothing-here")
    assert_error(service.get("/nowhere"), 404, "No route")
    assert_error(service.put("/v1/search", json={}), 405, "PUT is not allowed")
    for reply in (service.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [
                      {"role": "user", "content": "hi"}]}),
                  service.post("/v1/chat/completions", json={"messages": []}),
                  service.delete("/v1/models")):
        error = reply.json()["error"]
        assert reply.status_code in (404, 405, 422) and set(error) == {"message", "type", "code"}, reply.text
        assert error["code"] == reply.status_code and error["message"]


def test_unreachable_chroma_is_503_naming_its_setting_and_not_ready(library: Settings):
    from conftest import free_port

    settings = library.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": free_port(),
                                          "chroma_timeout": 2.0})
    with client_for(settings) as client:
        assert client.get("/healthz").status_code == 200
        assert_error(client.post("/v1/search", json={"query": "leaves"}), 503, "CHROMA_HOST")
        assert_error(client.get("/readyz"), 503, "CHROMA_HOST")


def test_an_unreachable_model_server_is_503_naming_its_setting(library: Settings):
    from conftest import free_port

    settings = library.model_copy(update={"llm_backend": "openai",
                                          "openai_base_url": f"http://127.0.0.1:{free_port()}/v1"})
    with client_for(settings) as client:
        assert_error(client.post("/v1/ask", json={"question": "What is LeafCount?"}), 503, "OPENAI_BASE_URL")
