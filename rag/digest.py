"""One-paragraph digests of a paper, cached on disk per paper content, model and prompt version."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rag.aspects import label_sentences, richest_result, sort_abstract
from rag.cache import DiskCache
from rag.grounding import unsupported_sentences
from rag.llm import avoiding_copies, describe_backend, streamed
from rag.paper import Paper
from rag.prompts import load_prompt
from rag.quantities import NUMBER, numbers, quantities
from rag.replies import Digest
from rag.settings import Settings
from rag.text import CLAUSE_END, clipped, sentences, word_count

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def one_paragraph(text: str, max_words: int) -> str:
    """Whitespace folded. A model that ran past the word limit (often by re-typing the abstract)
    loses its background sentences first, then those on the approach that carry no number, then any
    other without a number, latest first, so its figures stay; if that is not enough, it is cut at a
    sentence end."""
    text = re.sub(r"\s+", " ", text).strip()
    if word_count(text) > max_words:
        text = " ".join(_without_background(sentences(text), max_words))
    words = text.split(" ")
    if len(words) <= max_words:
        return text
    clipped = " ".join(words[:max_words])
    end = max(clipped.rfind(". "), clipped.rfind(".") if clipped.endswith(".") else -1)
    return clipped[: end + 1] if end > 0 else clipped


def _without_background(said: list[str], max_words: int) -> list[str]:
    """The opening sentence stays whatever its aspect: it is where a digest names the paper."""
    labels = label_sentences(said)
    background = [i for i, label in enumerate(labels) if label == "problem" and i > 0]
    numberless = [i for i in reversed(range(1, len(said))) if not NUMBER.search(said[i])]
    approach = [i for i in numberless if labels[i] == "approach"]
    kept = list(range(len(said)))
    for i in dict.fromkeys(background + approach + numberless):
        if sum(word_count(said[k]) for k in kept) <= max_words or len(kept) == 1:
            break
        kept.remove(i)
    return [said[k] for k in kept]


RESULT_WORDS = 30
"""The longest quoted result a digest is given, as long as a card's cell."""


def with_results(text: str, abstract: str, max_words: int) -> str:
    """The digest in one paragraph of at most `max_words`. One giving none of the numbers of the
    abstract's results makes room for, and ends with, the result sentence giving most of them, quoted:
    the small model often stops at what a paper does and how, and drops the figures (on dev,
    TicketTalk's 86.5 and 93.9 percent). One giving some of its figures but not that sentence's shares
    or factors ends with the clauses giving them: SortedNet's digest gave its 160 sub-models without
    the 96% of the model's performance they keep. The numbers are looked for in what the word limit leaves."""
    results = sort_abstract(abstract)["results"]
    best = richest_result(results)
    paragraph = one_paragraph(text, max_words)
    if not paragraph or not best:
        return paragraph
    if not numbers(paragraph) & numbers(results):
        missing = best
    else:
        given = {value for value, _ in quantities(paragraph)}
        wanted = {value for value, unit in quantities(best) if unit and value not in given}
        if not wanted:
            return paragraph
        missing = clauses_giving(best, wanted)
    quoted = f"“{'…' if missing != best else ''}{clipped(missing, RESULT_WORDS)}”"
    return f"{one_paragraph(text, max_words - word_count(quoted))} {quoted}".strip()


def clauses_giving(sentence: str, wanted: set[str]) -> str:
    """The run of the sentence's clauses from the first to the last that gives a wanted value."""
    clauses = CLAUSE_END.split(sentence)
    holding = [i for i, clause in enumerate(clauses) if {value for value, _ in quantities(clause)} & wanted]
    return " ".join(clauses[holding[0]: holding[-1] + 1]).rstrip(",;: ") if holding else sentence


ABSTRACT_SHARE = 0.6
"""A digest is at most this share of its abstract's words: a digest nearly as long saves the reader nothing."""


def longest_digest(paper: Paper, settings: Settings) -> int:
    return max(1, min(settings.max_digest_words, int(ABSTRACT_SHARE * word_count(paper.abstract))))


class DigestStream:
    """Iterate for the digest's text: a cached digest comes at once, a new one as it is generated;
    `digest` is the checked reply once the iteration is done."""

    def __init__(self, paper: Paper, model: Callable[[], BaseChatModel], settings: Settings) -> None:
        self.paper = paper
        self.settings = settings
        self._model = model
        self._prompt = load_prompt("digest", settings.prompts_dir)
        self._cache = DiskCache(
            settings.digest_cache_dir, paper.content_hash, describe_backend(settings), self._prompt.version
        )
        cached = (self._cache.read() or {}).get("digest")
        if cached:  # today's rules on a digest written under earlier ones; a digest they already shaped is unchanged
            cached = with_results(cached, paper.abstract, longest_digest(paper, settings))
        self.digest = Digest(id=paper.id, title=paper.title, digest=cached or "", cached=cached is not None)

    @property
    def cached(self) -> bool:
        return self.digest.cached

    def __iter__(self) -> Iterator[str]:
        if self.cached:
            yield self.digest.digest
            return
        messages = self._prompt.messages(title=self.paper.title, abstract=self.paper.abstract)
        parts: list[str] = []
        model = avoiding_copies(self._model(), [self.paper.abstract])
        for chunk in streamed(model, messages, self.settings):
            if chunk.content:
                parts.append(chunk.content)
                yield chunk.content
        raw = "".join(parts)
        removed = unsupported_sentences(raw, self.paper.text)
        longest = longest_digest(self.paper, self.settings)
        kept = " ".join(s for s in sentences(raw) if s not in removed)
        text = with_results(kept, self.paper.abstract, longest)
        self.digest = self.digest.model_copy(update={"digest": text, "removed_statements": removed})
        if text:
            self._cache.write(self.digest.model_dump(include={"id", "title", "digest"}))
        else:  # nothing the model wrote held up: the abstract's opening stands in, and is not cached
            self.digest.digest = one_paragraph(self.paper.abstract, longest)
