"""Two papers side by side: their cards under the same aspects, then what links them.

Each column is its paper's card (`rag.cards`), written from that paper's abstract alone, so every
fact stays under its own paper. One model call reads the two cards and writes what the papers share,
how they differ and which is stronger on what they measure; it is cached per pair (both papers'
content, model, prompt version).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from rag.cache import DiskCache
from rag.cards import TERMS_ASPECT
from rag.errors import PapersError
from rag.grounding import unsupported_sentences
from rag.llm import describe_backend, structured
from rag.paper import Paper
from rag.prompts import load_prompt
from rag.replies import Card, Comparison, ComparisonRow, PaperRef
from rag.settings import Settings
from rag.text import sentences
from rag.wording import FELL_BACK_IN_COMMON

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

TLDR = "TL;DR"
PAPER_MENTION = re.compile(r"\b[Pp]aper ([AB])\b|\b([AB])['’]s\b|\(([AB])\)")
"""How the relation names a paper: the prompt calls them A and B."""
RELATION_CHECKS = "2"
"""Part of a cached relation's key: relations kept by earlier checks are written again."""


class Relation(BaseModel):
    in_common: str = Field(description="What both papers share.")
    difference: str = Field(description="The key difference between them.")
    stronger: str = Field("", description="Which paper is stronger on what their abstracts measure.")
    """Optional: a reply without a verdict still says what links the papers."""


def check_pair(a: Paper, b: Paper) -> None:
    if a.id == b.id:
        raise PapersError(f"Both names point at the same paper ('{a.title}'); name two different papers.")


def side_by_side(a: Paper, b: Paper, card_a: Card, card_b: Card) -> Comparison:
    """The two cards as rows, aspect by aspect; `relate` adds what links them."""
    check_pair(a, b)
    rows = [ComparisonRow(aspect=TLDR, a=card_a.tldr, b=card_b.tldr, quoted_a=card_a.tldr_quoted,
                          quoted_b=card_b.tldr_quoted)]
    rows += [ComparisonRow(aspect=x.aspect, a=x.text, b=y.text, quoted_a=x.quoted, quoted_b=y.quoted)
             for x, y in zip(card_a.cells, card_b.cells)]
    return Comparison(a=PaperRef(id=a.id, title=a.title), b=PaperRef(id=b.id, title=b.title), rows=rows,
                      paper_a=a, paper_b=b)


def _describe(comparison: Comparison, column: str) -> str:
    """A paper's column for the relation prompt; the key terms, a list of names, are left to the reader:
    with them the relation took 38.0 s p50 from the CLI against 33.5 s without (dev pairs)."""
    return "\n".join(f"{row.aspect}: {getattr(row, column)}" for row in comparison.rows if row.aspect != TERMS_ASPECT)


def relate(
    comparison: Comparison,
    model: Callable[[], BaseChatModel],
    settings: Settings,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """`comparison` with what links the two papers. One model call, tens of seconds on a laptop,
    unless the pair is cached; `progress` hears when it starts, and `model` is only loaded then.

    A sentence naming or numbering what neither abstract holds, or giving one paper what only the
    other's abstract holds, is not kept: without what the papers
    share and how they differ, the fallback says so; an unsupported verdict on strength is left out."""
    prompt = load_prompt("compare_relation", settings.prompts_dir)
    a, b = comparison.paper_a, comparison.paper_b
    cache = DiskCache(
        settings.comparison_cache_dir, a.content_hash, b.content_hash, describe_backend(settings), prompt.version,
        RELATION_CHECKS,
    )
    try:
        return comparison.model_copy(update=Relation.model_validate(cache.read()).model_dump())
    except ValidationError:
        pass
    (progress or (lambda step: None))("Relating the two papers")
    messages = prompt.messages(title_a=a.title, aspects_a=_describe(comparison, "a"), title_b=b.title,
                               aspects_b=_describe(comparison, "b"))
    relation = structured(model(), messages, Relation, settings)
    both = f"{a.text}\n{b.text}"
    said = relation.model_dump() if relation else {}
    held = {name: text for name, text in said.items()
            if not unsupported_sentences(text, both) and not misattributed(text, {"A": a.text, "B": b.text})}
    if not held.keys() >= {"in_common", "difference"}:
        tldr = comparison.rows[0]
        return comparison.model_copy(update={
            "fell_back": True, "in_common": FELL_BACK_IN_COMMON, "difference": f"A: {tldr.a} B: {tldr.b}",
        })
    held.setdefault("stronger", "")
    cache.write(held)
    return comparison.model_copy(update=held)


def misattributed(text: str, texts: dict[str, str]) -> bool:
    """Whether a sentence gives paper A (or B) a number or name that its own abstract lacks: a small
    model reading two cards swaps them ("Paper A ... 160 sub-models", which are B's). What follows
    "Paper A", up to the next mention of a paper, is read as A's."""
    for sentence in sentences(text):
        marks = list(PAPER_MENTION.finditer(sentence))
        for mark, following in zip(marks, [*marks[1:], None]):
            paper = next(group for group in mark.groups() if group)
            stretch = sentence[mark.end():following.start() if following else len(sentence)]
            if unsupported_sentences(stretch, texts[paper]):
                return True
    return False
