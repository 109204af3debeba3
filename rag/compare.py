"""Two papers side by side: the same aspects for each, each from its own abstract, then what links them.

Each paper's aspects are cached on disk on their own (its content, model, prompt version), so comparing
it with a second paper writes only the new column and the relation; the relation is cached per pair."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from rag.cache import DiskCache
from rag.embeddings import get_embedder
from rag.errors import PapersError
from rag.evidence import sentences
from rag.grounding import unsupported_sentences
from rag.ingest import open_store
from rag.llm import describe_backend, get_chat_model, llm_errors
from rag.lookup import find_paper
from rag.prompts import load_prompt
from rag.settings import Settings
from rag.sources import Paper
from rag.store import Store


class Aspects(BaseModel):
    problem: str = Field(description="What the paper addresses.")
    approach: str = Field(description="What it proposes or does.")
    data: str = Field(description="Data, setting or experiments.")
    results: str = Field(description="Main findings or numbers.")
    limitations: str = Field(description="Limitations or open questions.")


class Relation(BaseModel):
    in_common: str = Field(description="What both papers share.")
    difference: str = Field(description="The key difference between them.")


ASPECT_LABELS = {
    "problem": "Problem",
    "approach": "Approach",
    "data": "Data or setting",
    "results": "Results",
    "limitations": "Limitations or open questions",
}


@dataclass
class Comparison:
    a: Paper
    b: Paper
    aspects_a: Aspects
    aspects_b: Aspects
    relation: Relation
    fell_back: bool = False

    def rows(self) -> list[dict]:
        return [
            {"aspect": label, "a": getattr(self.aspects_a, field), "b": getattr(self.aspects_b, field)}
            for field, label in ASPECT_LABELS.items()
        ]

    def cache_record(self) -> dict:
        return {
            "aspects_a": self.aspects_a.model_dump(),
            "aspects_b": self.aspects_b.model_dump(),
            "relation": self.relation.model_dump(),
        }

    @classmethod
    def from_cache_record(cls, a: Paper, b: Paper, record: dict) -> "Comparison | None":
        """None for a record this version cannot read: the comparison is then made again."""
        try:
            aspects = [Aspects.model_validate(record[side]) for side in ("aspects_a", "aspects_b")]
            return cls(a, b, *aspects, Relation.model_validate(record["relation"]))
        except (KeyError, TypeError, ValidationError):
            return None

    def as_dict(self) -> dict:
        return {
            "a": {"id": self.a.id, "title": self.a.title},
            "b": {"id": self.b.id, "title": self.b.title},
            "rows": self.rows(),
            "in_common": self.relation.in_common,
            "difference": self.relation.difference,
        }


def structured(model: BaseChatModel, messages: list, schema: type[BaseModel], settings: Settings) -> BaseModel | None:
    """Ask for JSON matching `schema`, validate, retry once; None if both tries fail.

    OpenAI gets its structured-output mode; llama.cpp a JSON grammar built from the schema.
    """
    for _ in range(2):
        with llm_errors(settings):
            if settings.llm_backend == "openai":
                reply = model.with_structured_output(schema, include_raw=True).invoke(messages)
                if reply["parsed"] is not None:
                    return reply["parsed"]
                continue
            raw = model.invoke(
                messages, response_format={"type": "json_object", "schema": schema.model_json_schema()}
            ).content
        try:
            return schema.model_validate_json(raw)
        except ValidationError:
            continue
    return None


def extractive_aspects(paper: Paper, settings: Settings) -> Aspects:
    """The fallback: for each aspect, the abstract sentence closest to it, so every cell stays grounded."""
    candidates = sentences(paper.abstract) or [paper.abstract]
    embedder = get_embedder(settings)
    vectors = np.array(embedder.embed(candidates))
    queries = np.array(embedder.embed([f"{label}: {field.description}" for label, field in Aspects.model_fields.items()]))
    best = (queries @ vectors.T).argmax(axis=1)
    return Aspects(**{name: candidates[i] for name, i in zip(Aspects.model_fields, best)})


def held_to_abstract(aspects: Aspects, paper: Paper, settings: Settings) -> Aspects:
    """A cell with a number or a name its abstract does not hold gives way to the abstract's own sentence."""
    cells = aspects.model_dump()
    invented = [name for name, value in cells.items() if unsupported_sentences(value, paper.text)]
    if not invented:
        return aspects
    extracted = extractive_aspects(paper, settings).model_dump()
    return Aspects(**{**cells, **{name: extracted[name] for name in invented}})


def _describe(aspects: Aspects) -> str:
    return "\n".join(f"{ASPECT_LABELS[name]}: {value}" for name, value in aspects.model_dump().items())


def compare(
    name_a: str,
    name_b: str,
    *,
    settings: Settings,
    store: Store | None = None,
    model: BaseChatModel | None = None,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Three model calls, each tens of seconds on a laptop: `progress` is told which one starts."""
    progress = progress or (lambda step: None)
    store = store or open_store(settings)
    a, b = find_paper(store, name_a), find_paper(store, name_b)
    if a.id == b.id:
        raise PapersError(f"Both names point at the same paper ('{a.title}'); name two different papers.")
    aspects_prompt = load_prompt("compare_aspects", settings.prompts_dir)
    relation_prompt = load_prompt("compare_relation", settings.prompts_dir)
    backend = describe_backend(settings)
    cache = DiskCache(
        settings.comparison_cache_dir, a.content_hash, b.content_hash, backend,
        aspects_prompt.version, relation_prompt.version,
    )
    if (cached := cache.read()) and (comparison := Comparison.from_cache_record(a, b, cached)):
        return comparison
    model = model or get_chat_model(settings)
    fell_back = False
    described = []
    for paper in (a, b):
        aspects_cache = DiskCache(settings.comparison_cache_dir, "aspects", paper.content_hash, backend, aspects_prompt.version)
        try:
            described.append(Aspects.model_validate(aspects_cache.read()))
            continue
        except ValidationError:
            pass
        progress(f"Reading '{paper.title}'")
        messages = aspects_prompt.messages(title=paper.title, abstract=paper.abstract)
        aspects = structured(model, messages, Aspects, settings)
        if aspects is None:
            aspects, fell_back = extractive_aspects(paper, settings), True
        else:  # a fallback is worth another try next time
            aspects = held_to_abstract(aspects, paper, settings)
            aspects_cache.write(aspects.model_dump())
        described.append(aspects)
    progress("Relating the two papers")
    messages = relation_prompt.messages(
        title_a=a.title, aspects_a=_describe(described[0]), title_b=b.title, aspects_b=_describe(described[1])
    )
    relation = structured(model, messages, Relation, settings)
    if relation is None:
        fell_back = True
        relation = Relation(
            in_common="The model gave no valid answer; compare the rows above.",
            difference=f"A: {described[0].approach} B: {described[1].approach}",
        )
    comparison = Comparison(a, b, described[0], described[1], relation, fell_back)
    if not fell_back:  # a fallback is worth another try next time
        cache.write(comparison.cache_record())
    return comparison
