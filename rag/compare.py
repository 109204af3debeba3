"""Two papers side by side: each abstract's own sentences under the same aspects, then what links them.

The columns need no model: they are the abstracts' sentences sorted by `rag.aspects`, so they
show at once and every fact stays under its own paper. One model call writes what the papers
share and how they differ; it is cached per pair (both papers' content, model, prompt version).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from rag.aspects import LABELS, sort_abstract
from rag.cache import DiskCache
from rag.errors import PapersError
from rag.grounding import unsupported_sentences
from rag.ingest import open_store
from rag.llm import describe_backend, get_chat_model, llm_errors
from rag.lookup import find_paper
from rag.paper import Paper
from rag.prompts import load_prompt
from rag.settings import Settings
from rag.store import Store


RELATED_ASPECTS = ("problem", "approach")
"""What the model reads to relate two papers: what they share and how they differ is in their
problem and approach. The results sentences were half the prompt; without them an uncached
pair took 17 s instead of 24 s in process on 2 cores (benchmarks/answers.py), the columns unchanged."""

FELL_BACK = "The model gave no comparison the abstracts support; the rows are each abstract's own sentences."


class Relation(BaseModel):
    in_common: str = Field(description="What both papers share.")
    difference: str = Field(description="The key difference between them.")


@dataclass
class Comparison:
    a: Paper
    b: Paper
    relation: Relation | None = None
    """None until the model has written it: the columns can be shown before."""
    fell_back: bool = False

    def __post_init__(self) -> None:
        self.aspects_a, self.aspects_b = sort_abstract(self.a.abstract), sort_abstract(self.b.abstract)

    def rows(self) -> list[dict]:
        return [{"aspect": label, "a": self.aspects_a[name], "b": self.aspects_b[name]} for name, label in LABELS.items()]

    def as_dict(self) -> dict:
        relation = self.relation or Relation(in_common="", difference="")
        return {
            "a": {"id": self.a.id, "title": self.a.title},
            "b": {"id": self.b.id, "title": self.b.title},
            "rows": self.rows(),
            "in_common": relation.in_common,
            "difference": relation.difference,
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


def side_by_side(name_a: str, name_b: str, *, settings: Settings, store: Store | None = None) -> Comparison:
    """The two papers' columns, at once; `relate` adds what links them."""
    store = store or open_store(settings)
    a, b = find_paper(store, name_a), find_paper(store, name_b)
    if a.id == b.id:
        raise PapersError(f"Both names point at the same paper ('{a.title}'); name two different papers.")
    return Comparison(a, b)


def _describe(aspects: dict[str, str]) -> str:
    return "\n".join(f"{LABELS[name]}: {aspects[name]}" for name in RELATED_ASPECTS)


def relate(
    comparison: Comparison,
    *,
    settings: Settings,
    model: BaseChatModel | Callable[[], BaseChatModel] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """`model` may be a loader, called only when the pair is not cached (the app's first load shows progress).

    One model call, tens of seconds on a laptop, unless the pair is cached: `progress` hears when it starts.

    A sentence naming or numbering what neither abstract holds is not kept: the fallback says so."""
    prompt = load_prompt("compare_relation", settings.prompts_dir)
    a, b = comparison.a, comparison.b
    cache = DiskCache(
        settings.comparison_cache_dir, a.content_hash, b.content_hash, describe_backend(settings), prompt.version
    )
    try:
        comparison.relation = Relation.model_validate(cache.read())
        return comparison
    except ValidationError:
        pass
    (progress or (lambda step: None))("Relating the two papers")
    messages = prompt.messages(
        title_a=a.title, aspects_a=_describe(comparison.aspects_a), title_b=b.title, aspects_b=_describe(comparison.aspects_b)
    )
    if not isinstance(model, BaseChatModel):
        model = model() if model else get_chat_model(settings)
    relation = structured(model, messages, Relation, settings)
    both = f"{a.text}\n{b.text}"
    if relation is None or any(unsupported_sentences(text, both) for text in relation.model_dump().values()):
        comparison.fell_back = True
        comparison.relation = Relation(
            in_common="The model gave no answer that the abstracts support; compare the rows above.",
            difference=f"A: {comparison.aspects_a['approach']} B: {comparison.aspects_b['approach']}",
        )
        return comparison
    comparison.relation = relation
    cache.write(relation.model_dump())
    return comparison


def compare(
    name_a: str,
    name_b: str,
    *,
    settings: Settings,
    store: Store | None = None,
    model: BaseChatModel | None = None,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """The columns, then the relation; the CLI, the service and MCP take it whole."""
    comparison = side_by_side(name_a, name_b, settings=settings, store=store)
    return relate(comparison, settings=settings, model=model, progress=progress)
