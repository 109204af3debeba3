"""The service against hostile and careless clients (issue 17), in process: upload names that are
paths, bodies over the limit, web pages of other sites, ids with slashes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr
from test_service import BASE_URL, assert_error, client_for

from conftest import SHORT_PAPERS, library_settings, write_jsonl
from rag.cli import main
from rag.library import Library
from rag.settings import Settings

OLD_ARXIV = {"id": "hep-th/9901001", "title": "Strings on a Lattice of Old Identifiers",
             "abstract": "We study string vacua on lattices and count 12 families of compactifications."}


@pytest.fixture
def small_library(tmp_path: Path, small_model_path: Path) -> Settings:
    return library_settings(tmp_path / "library", local_model_path=small_model_path)


def wait_for_job(client: TestClient, job_id: str) -> dict:
    """Bounded by pytest's timeout per test, not by a clock of its own."""
    while (job := client.get(f"/v1/jobs/{job_id}").json())["state"] in ("queued", "running"):
        time.sleep(0.1)
    return job


def upload_folders(settings: Settings) -> list[Path]:
    """The folders of uploaded files in the library's jobs folder."""
    jobs = settings.data_dir / "jobs"
    return [path for path in jobs.iterdir() if path.is_dir() and path.name != "owners"] if jobs.is_dir() else []


def jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def test_upload_names_are_never_paths_and_temporary_files_go(small_library: Settings):
    """Issue 17: a file named '..' or longer than 255 bytes gave 500 and left its folder in /tmp."""
    names = ["..", "é" * 200 + ".jsonl", "../../outside.jsonl", "a/b/c.jsonl", "."]
    with client_for(small_library) as client:
        files = [("files", (name, jsonl([{**SHORT_PAPERS[number % 2], "id": f"up-{number}", "title": f"Upload number {number}"}])))
                 for number, name in enumerate(names)]
        reply = client.post("/v1/papers", files=files)
        assert reply.status_code == 202, reply.text
        job = wait_for_job(client, reply.json()["job"])
        assert (job["state"], job["added"], job["error"]) == ("done", 5, None)
        sources = {client.get(f"/v1/papers/up-{n}").json()["source"] for n in range(5)}
        assert sources == {"upload-1", "é" * 193 + "….jsonl", "outside.jsonl", "c.jsonl", "upload-5"}
        failed = wait_for_job(client, client.post("/v1/papers", files=[("files", ("..", b"\x00\x01"))]).json()["job"])
        assert failed["state"] == "failed" and "upload-1 looks like a binary file" in failed["error"]
    assert upload_folders(small_library) == []
    assert not (small_library.data_dir.parent / "outside.jsonl").exists()


def test_a_chunked_body_over_the_limit_is_413(small_library: Settings):
    settings = small_library.model_copy(update={"max_upload_mb": 0.01})

    def chunks():
        for _ in range(40):
            yield b"x" * 1024

    with client_for(settings) as client:
        multipart = {"content-type": "multipart/form-data; boundary=b"}
        body = b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.jsonl"\r\n\r\n'
        reply = client.post("/v1/papers", content=(part for part in [body, *chunks()]), headers=multipart)
        assert_error(reply, 413, "MB limit")
        assert_error(client.post("/v1/search", content=chunks(), headers={"content-type": "application/json"}),
                     413, "MB limit")
        assert_error(client.post("/v1/papers", files=[("files", ("big.jsonl", b"x" * 20_000))]), 413, "MB limit")
    assert upload_folders(settings) == []


def test_a_keyless_server_obeys_no_other_web_page(small_library: Settings):
    """Issue 17: a form post from another site uploaded papers, and a DNS-rebinding Host was served."""
    with client_for(small_library) as client:
        evil = {"Origin": "http://evil.example"}
        assert_error(client.post("/v1/papers", headers=evil, files=[("files", ("a.jsonl", jsonl(SHORT_PAPERS)))]),
                     403, "evil.example")
        assert_error(client.post("/v1/search", headers=evil, json={"query": "leaves"}), 403, "PAPERS_CORS_ORIGINS")
        for path in ("/v1/papers", "/mcp"):
            assert_error(client.get(path, headers={"Host": "evil.example"}), 421, "evil.example")
            assert_error(client.get(path, headers={"Host": "evil.example:8000"}), 421, "PAPERS_ALLOWED_HOSTS")
        assert client.get("/v1/papers", headers={"Origin": BASE_URL}).status_code == 200
        assert client.get("/v1/papers", headers={"Host": "localhost:8000"}).status_code == 200
        assert client.get("/v1/papers", headers={"Host": "[::1]:8000"}).status_code == 200
        assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 200  # liveness checks stay open
    trusting = small_library.model_copy(update={"allowed_hosts": "papers.lan", "cors_origins": "https://app.example"})
    with client_for(trusting) as client:
        assert client.get("/v1/papers", headers={"Host": "papers.lan"}).status_code == 200
        reply = client.get("/v1/papers", headers={"Origin": "https://app.example"})
        assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == "https://app.example"


def test_with_keys_cors_is_off_unless_origins_are_named(small_library: Settings):
    keyed = small_library.model_copy(update={"api_keys": SecretStr("k1")})
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    with client_for(keyed, Authorization="Bearer k1") as client:
        reply = client.options("/v1/search", headers=preflight)
        assert "access-control-allow-origin" not in reply.headers
        assert client.get("/v1/papers", headers={"Host": "papers.example.org"}).status_code == 200
        assert_error(client.get("/v1/papers", headers={"Authorization": "Bearer wrong"}), 401, "API key")
    with client_for(keyed.model_copy(update={"cors_origins": "https://app.example"})) as client:
        reply = client.options("/v1/search", headers=preflight)
        assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == "https://app.example"
        assert_error(client.post("/v1/search", json={"query": "x"}, headers={"Origin": "https://app.example"}),
                     401, "API key")


def test_ids_with_slashes_round_trip_through_every_route_and_the_cli(small_library: Settings, tmp_path: Path):
    """Issue 17: old arXiv ids were listed but could be neither fetched nor deleted."""
    source = write_jsonl(tmp_path / "old.jsonl", [OLD_ARXIV, {**SHORT_PAPERS[0], "id": "a b?c#d%e"}])
    Library(small_library).ingest([source])
    with client_for(small_library) as client:
        listed = {item["id"] for item in client.get("/v1/papers").json()["items"]}
        assert listed == {OLD_ARXIV["id"], "a b?c#d%e"}
        for path in ("/v1/papers/hep-th%2F9901001", "/v1/papers/hep-th/9901001"):
            assert client.get(path).json()["abstract"] == OLD_ARXIV["abstract"]
        assert client.get("/v1/papers/a%20b%3Fc%23d%25e").json()["title"] == SHORT_PAPERS[0]["title"]
        assert client.delete("/v1/papers/hep-th%2F9901001").status_code == 204
        assert_error(client.get("/v1/papers/hep-th%2F9901001"), 404, "hep-th/9901001")
    result = CliRunner().invoke(main, ["--data-dir", str(small_library.data_dir), "remove", "a b?c#d%e"])
    assert result.exit_code == 0 and result.output == "removed a b?c#d%e\n"
    assert Library(small_library).papers().total == 0
