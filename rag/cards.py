"""A card per paper: a TL;DR and short cells on its problem, approach, data, result and limitation,
and the abstract's key terms (`rag.terms`, found without the model).

The model writes a card from one abstract at a time, so a fact cannot land under the wrong paper,
and cannot re-type it (the copy guard). Every cell is checked against the title and abstract as
answers are against their sources: one that names or numbers what they do not, or says nothing, is
replaced by the abstract's own closest clause, marked as quoted; a key result without the abstract's
result numbers by their sentence. The limitation is only ever the abstract's own, when it states one.
Cards are cached per paper content, model and prompt version, so an edited abstract gets a new card.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from rag.aspects import NOT_STATED, richest_result, sort_abstract
from rag.cache import DiskCache
from rag.digest import DigestStream
from rag.grounding import unsupported_sentences
from rag.llm import avoiding_copies, describe_backend, structured
from rag.paper import Paper
from rag.prompts import load_prompt
from rag.quantities import NUMBER
from rag.replies import Card, CardCell
from rag.settings import Settings
from rag.terms import key_terms
from rag.text import clipped, sentences, stems

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

ASPECTS = {"problem": "Problem", "approach": "Approach", "data": "Data and setting", "result": "Key result"}
"""The cells the model writes, by field, and the name a reader sees."""
LIMITATION_ASPECT = "Limitation"
TERMS_ASPECT = "Key terms"
NO_TERMS = "None found in the abstract."
MAX_TLDR_WORDS = 25
MAX_CELL_WORDS = 30
SAYS_NOTHING = re.compile(r"^\W*(not stated|none|n/?a|unknown)\W*$", re.I)
RESTATING_SHARE = 0.6
"""A TL;DR with at least this share of its words in the title restates it. The lowest share that chose
only TL;DRs labelled as restating on benchmarks/tldrs/tune.jsonl (3 of its 4); a wrong pick costs
little (the approach cell is the model's summary too). Held-out figures: benchmarks/tldrs.py."""
FALLBACK_ASPECT = {"tldr": "approach", "problem": "problem", "approach": "approach", "data": "results", "result": "results"}
"""Where the abstract's sorted sentences (`rag.aspects`) hold a cell's fallback when the model wrote none."""


LIMITING = re.compile(
    r"\b(limitations? of|cannot|can not|fails? to|unable to|struggles? (to|with)|"
    r"only (\w+ ){0,2}(tested|evaluated|applies|works|covers)|restricted to|drawbacks?|caveats?|"
    r"remains? (limited|challenging|unclear|an open)|tends? to (miss|ignore|overlook|fail)|(systematically )?biased)\b",
    re.I)
MOTIVATING = re.compile(
    r"\b(to (address|overcome|tackle|alleviate|solve) (this|these|such|the)|unlike|however, (current|existing)|"
    r"discussed)\b", re.I)
"""Chosen for precision on benchmarks/limitations/tune.jsonl (a wrong limitation misleads; a missing one
says "not stated"): the bare "does not" or "limitations" of a first try picked background and findings
(0.44 precision); these pick 3 of 12, all right. Held-out figures: benchmarks/limitations.py."""


def states_a_limitation(sentence: str) -> bool:
    """A sentence saying what the work cannot do or leaves out, not one that sets up a method by what
    others lack ("To address this limitation, we propose ..."); measured by benchmarks/limitations.py."""
    return bool(LIMITING.search(sentence)) and not MOTIVATING.search(sentence)


class WrittenCard(BaseModel):
    """What the model is asked for, as JSON: llama.cpp's grammar holds a small model to these fields,
    which it did not keep to as labelled lines (it wrote the whole card on the first line)."""

    tldr: str = Field(description="What the paper contributes, in at most 20 words.")
    problem: str = Field(description="The problem it tackles, in at most 20 words.")
    approach: str = Field(description="What it proposes and how that works, in at most 25 words.")
    data: str = Field(description="The datasets, benchmarks, tasks or setting it is tested on, in at most 20 "
                      "words, or 'Not stated.'")
    result: str = Field(description="Its main result with the abstract's numbers, in at most 25 words, or "
                        "'Not stated.'")


def restates_title(tldr: str, title: str) -> bool:
    """A TL;DR mostly in the title's words tells a reader nothing the title did not: the default model
    wrote "MgNO: Efficient Parameterization of Linear Operators via Multigrid" for that very title."""
    words = stems(tldr)
    return bool(words) and len(words & stems(title)) / len(words) >= RESTATING_SHARE


def closest_clause(text: str, abstract: str, aspect: str, max_words: int) -> str:
    """The abstract's sentence that shares most words with what the model wrote, or, when it wrote
    nothing, the first sentence of the abstract's own part on that aspect; cut to the limit."""
    said = sentences(abstract) or [abstract]
    if text:
        claim = stems(text)
        best = max(said, key=lambda sentence: len(claim & stems(sentence)))
    else:
        part = sort_abstract(abstract)[aspect]
        best = said[0] if part == NOT_STATED else sentences(part)[0]
    return clipped(best, max_words)


def checked_cell(aspect: str, label: str, text: str, paper: Paper, max_words: int) -> CardCell:
    """A cell the paper's title and abstract support, within the limit; otherwise the abstract's closest
    clause, quoted. The title counts: a name only it gives ("Dense Hebbian neural networks", whose
    abstract says "dense, associative neural-networks") is the paper's own. "Not stated" stands for
    data and results, which some abstracts do not give."""
    text = re.sub(r"\s+", " ", text).strip()
    if SAYS_NOTHING.match(text) and aspect in ("data", "result"):
        return CardCell(aspect=label, text=NOT_STATED)
    if text and not SAYS_NOTHING.match(text) and not unsupported_sentences(text, paper.text):
        return CardCell(aspect=label, text=clipped(text, max_words))
    quoted = closest_clause("" if SAYS_NOTHING.match(text) else text, paper.abstract, FALLBACK_ASPECT[aspect],
                            max_words)
    return CardCell(aspect=label, text=quoted, quoted=True)


def result_cell(cell: CardCell, abstract: str) -> CardCell:
    """The key result keeps its numbers: a cell that gives none (or "Not stated") where the abstract's
    results give some yields to the result sentence holding most of them, quoted; a small model
    often writes "outperforms the state of the art" and drops the figures a reader came for."""
    best = richest_result(sort_abstract(abstract)["results"])
    if NUMBER.search(cell.text) or not best:
        return cell
    return CardCell(aspect=cell.aspect, text=clipped(best, MAX_CELL_WORDS), quoted=True)


def limitation(abstract: str) -> CardCell:
    """The abstract's own statement of a limitation, from its second half: the first half is where
    an abstract sets out what others lack."""
    said = sentences(abstract)
    stated = [s for i, s in enumerate(said) if i >= len(said) / 2 and states_a_limitation(s)]
    if not stated:
        return CardCell(aspect=LIMITATION_ASPECT, text=NOT_STATED)
    return CardCell(aspect=LIMITATION_ASPECT, text=clipped(stated[0], MAX_CELL_WORDS), quoted=True)


def checked_card(paper: Paper, written: WrittenCard | None, cached: bool = False) -> Card:
    """The checks run on every read, so a cached card meets today's checks. No card from the model
    (it failed twice to write one) gives the abstract's own clauses, quoted. A TL;DR that restates the
    title gives way to the approach, which says what the paper does."""
    said = written.model_dump() if written else {}
    abstract = paper.abstract
    tldr = checked_cell("tldr", "TL;DR", said.get("tldr", ""), paper, MAX_TLDR_WORDS)
    cells = [checked_cell(aspect, label, said.get(aspect, ""), paper, MAX_CELL_WORDS)
             for aspect, label in ASPECTS.items()]
    cells = [result_cell(cell, abstract) if cell.aspect == ASPECTS["result"] else cell for cell in cells]
    if restates_title(tldr.text, paper.title):
        approach = cells[list(ASPECTS).index("approach")]
        tldr = CardCell(aspect=tldr.aspect, text=clipped(approach.text, MAX_TLDR_WORDS), quoted=approach.quoted)
    return Card(id=paper.id, title=paper.title, tldr=tldr.text, tldr_quoted=tldr.quoted,
                cells=[*cells, limitation(abstract), terms_cell(abstract)], cached=cached)


def terms_cell(abstract: str) -> CardCell:
    """The abstract's key terms (`rag.terms`), as many as the cell's word limit holds."""
    terms = key_terms(abstract)
    while terms and len(" ".join(terms).split()) > MAX_CELL_WORDS:
        terms.pop()
    return CardCell(aspect=TERMS_ASPECT, text="; ".join(terms) or NO_TERMS)


def paper_card(paper: Paper, model: Callable[[], BaseChatModel], settings: Settings, digest: bool = True) -> Card:
    """The card, written on first use and cached, with the paper's digest unless `digest` is False
    (a comparison shows no digest, and waits for one model call less)."""
    prompt = load_prompt("card", settings.prompts_dir)
    cache = DiskCache(settings.card_cache_dir, "card", paper.content_hash, describe_backend(settings), prompt.version)
    try:
        card = checked_card(paper, WrittenCard.model_validate(cache.read()), cached=True)
    except ValidationError:
        messages = prompt.messages(title=paper.title, abstract=paper.abstract)
        written = structured(avoiding_copies(model(), [paper.abstract]), messages, WrittenCard, settings)
        if written is not None:
            cache.write(written.model_dump())
        card = checked_card(paper, written)
    if not digest:
        return card
    stream = DigestStream(paper, model, settings)
    for _ in stream:
        pass
    return card.model_copy(update={"digest": stream.digest.digest, "cached": card.cached and stream.cached,
                                   "removed_statements": stream.digest.removed_statements})
