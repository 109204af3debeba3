"""Two papers side by side: each abstract's own sentences under the same aspects, then what links them.

The columns need no model: they are the abstracts' sentences sorted by `rag.aspects`, so they
show at once and every fact stays under its own paper. One model call writes what the papers
share and how they differ; it is cached per pair (both papers' content, model, prompt version).
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from rag.aspects import LABELS, sort_abstract
from rag.cache import DiskCache
from rag.errors import PapersError
from rag.grounding import unsupported_sentences
from rag.llm import describe_backend, llm_errors
from rag.paper import Paper
from rag.prompts import load_prompt
from rag.replies import Comparison, ComparisonRow, PaperRef
from rag.settings import Settings
from rag.wording import FELL_BACK_IN_COMMON

RELATED_ASPECTS = ("problem", "approach")
"""What the model reads to relate two papers: what they share and how they differ is in their
problem and approach. The results sentences were half the prompt; without them an uncached
pair took 17 s instead of 24 s in process on 2 cores (benchmarks/answers.py), the columns unchanged."""


class Relation(BaseModel):
    in_common: str = Field(description="What both papers share.")
    difference: str = Field(description="The key difference between them.")


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


def side_by_side(a: Paper, b: Paper) -> Comparison:
    """The two papers' columns, at once; `relate` adds what links them."""
    if a.id == b.id:
        raise PapersError(f"Both names point at the same paper ('{a.title}'); name two different papers.")
    aspects_a, aspects_b = sort_abstract(a.abstract), sort_abstract(b.abstract)
    rows = [ComparisonRow(aspect=label, a=aspects_a[name], b=aspects_b[name]) for name, label in LABELS.items()]
    return Comparison(a=PaperRef(id=a.id, title=a.title), b=PaperRef(id=b.id, title=b.title), rows=rows,
                      paper_a=a, paper_b=b)


def _describe(paper: Paper) -> str:
    aspects = sort_abstract(paper.abstract)
    return "\n".join(f"{LABELS[name]}: {aspects[name]}" for name in RELATED_ASPECTS)


def relate(
    comparison: Comparison,
    model: Callable[[], BaseChatModel],
    settings: Settings,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """`comparison` with what links the two papers. One model call, tens of seconds on a laptop,
    unless the pair is cached; `progress` hears when it starts, and `model` is only loaded then.

    A sentence naming or numbering what neither abstract holds is not kept: the fallback says so."""
    prompt = load_prompt("compare_relation", settings.prompts_dir)
    a, b = comparison.paper_a, comparison.paper_b
    cache = DiskCache(
        settings.comparison_cache_dir, a.content_hash, b.content_hash, describe_backend(settings), prompt.version
    )
    try:
        return comparison.model_copy(update=Relation.model_validate(cache.read()).model_dump())
    except ValidationError:
        pass
    (progress or (lambda step: None))("Relating the two papers")
    messages = prompt.messages(title_a=a.title, aspects_a=_describe(a), title_b=b.title, aspects_b=_describe(b))
    relation = structured(model(), messages, Relation, settings)
    both = f"{a.text}\n{b.text}"
    if relation is None or any(unsupported_sentences(text, both) for text in relation.model_dump().values()):
        approaches = {row.aspect: (row.a, row.b) for row in comparison.rows}[LABELS["approach"]]
        return comparison.model_copy(update={
            "fell_back": True, "in_common": FELL_BACK_IN_COMMON,
            "difference": f"A: {approaches[0]} B: {approaches[1]}",
        })
    cache.write(relation.model_dump())
    return comparison.model_copy(update=relation.model_dump())
