"""One-paragraph digests of a paper, cached on disk per paper content, model and prompt version."""

from __future__ import annotations

import re
from collections.abc import Iterator

from langchain_core.language_models import BaseChatModel

from rag.aspects import label_sentences
from rag.cache import DiskCache
from rag.evidence import sentences
from rag.grounding import NUMBER, unsupported_sentences
from rag.ingest import open_store
from rag.llm import describe_backend, get_chat_model, llm_errors
from rag.lookup import find_paper
from rag.prompts import load_prompt
from rag.settings import Settings
from rag.store import Store

MAX_WORDS = 150


def one_paragraph(text: str) -> str:
    """Whitespace folded. A model that ran past the word limit (often by re-typing the abstract)
    loses its background sentences first, then those on the approach that carry no number, latest
    first, so its results stay; if that is not enough, it is cut at a sentence end."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text.split(" ")) > MAX_WORDS:
        text = " ".join(_without_background(sentences(text)))
    words = text.split(" ")
    if len(words) <= MAX_WORDS:
        return text
    clipped = " ".join(words[:MAX_WORDS])
    end = max(clipped.rfind(". "), clipped.rfind(".") if clipped.endswith(".") else -1)
    return clipped[: end + 1] if end > 0 else clipped


def _without_background(said: list[str]) -> list[str]:
    """The opening sentence stays whatever its aspect: it is where a digest names the paper."""
    labels = label_sentences(said)
    dropping = [i for i, label in enumerate(labels) if label == "problem" and i > 0]
    dropping += [i for i in reversed(range(1, len(said))) if labels[i] == "approach" and not NUMBER.search(said[i])]
    kept = list(range(len(said)))
    for i in dropping:
        if sum(len(said[k].split()) for k in kept) <= MAX_WORDS or len(kept) == 1:
            break
        kept.remove(i)
    return [said[k] for k in kept]


class DigestStream:
    """Iterate for the digest's text: a cached digest comes at once, a new one as it is generated."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        store: Store | None = None,
        model: BaseChatModel | None = None,
    ) -> None:
        self.settings = settings
        self.paper = find_paper(store or open_store(settings), name)
        self._model = model
        self._prompt = load_prompt("digest", settings.prompts_dir)
        self._cache = DiskCache(
            settings.digest_cache_dir, self.paper.content_hash, describe_backend(settings), self._prompt.version
        )
        self.text: str | None = (self._cache.read() or {}).get("digest")
        self.cached = self.text is not None
        self.removed_statements: list[str] = []
        """Sentences of the model's reply that named or numbered something the abstract does not."""

    def __iter__(self) -> Iterator[str]:
        if self.text is not None:
            yield self.text
            return
        model = self._model or get_chat_model(self.settings)
        messages = self._prompt.messages(title=self.paper.title, abstract=self.paper.abstract)
        parts: list[str] = []
        with llm_errors(self.settings):
            for chunk in model.stream(messages):
                if chunk.content:
                    parts.append(chunk.content)
                    yield chunk.content
        raw = "".join(parts)
        self.removed_statements = unsupported_sentences(raw, self.paper.text)
        self.text = one_paragraph(" ".join(s for s in sentences(raw) if s not in self.removed_statements))
        if self.text:
            self._cache.write(self.as_dict())
        else:  # nothing the model wrote held up: the abstract's opening stands in, and is not cached
            self.text = one_paragraph(self.paper.abstract)

    def as_dict(self) -> dict:
        return {"id": self.paper.id, "title": self.paper.title, "digest": self.text or ""}


def digest(name: str, *, settings: Settings, **parts) -> DigestStream:
    stream = DigestStream(name, settings=settings, **parts)
    for _ in stream:
        pass
    return stream
