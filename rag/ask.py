"""Questions to cited answers in three steps: prepare (condense a follow-up, retrieve, number the
sources), generate (stream the model's text under the stopping rules), check (`rag.checks`).

A topic digest is the same flow with the `topic` prompt: a cited paragraph over the top papers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel

from rag.checks import asked_names_no_source_holds, check, refusal
from rag.evidence import build_sources, prompt_block
from rag.intent import asks_for_several, question_parts
from rag.llm import avoiding_copies, llm_errors, streamed
from rag.prompts import load_fragment, load_prompt
from rag.replies import Answer, Source
from rag.retrieval import Filters, Retriever, checked_query
from rag.settings import Settings
from rag.stopping import Stopping
from rag.wording import NO_ANSWER, nothing_found

HISTORY_TURNS = 4
LIST_PROMPT = "ask_list"
"""A question asking for several papers is answered one line per paper by this prompt instead of `ask`."""

Turn = tuple[str, str]
"""("user" | "assistant", text)."""
ModelLoader = Callable[[], BaseChatModel]


@dataclass
class Prepared:
    """A question made ready for the model: what retrieval was asked, and the sources it found."""

    question: str
    standalone: str
    prompt_name: str
    sources: list[Source]

    def refusal(self) -> Answer | None:
        """The answer when the model need not be asked: nothing found, or a name no source holds."""
        asked = {"question": self.question, "standalone": self.standalone}
        if not self.sources:
            return refusal(NO_ANSWER, [], **asked)
        if unheard := asked_names_no_source_holds(self.standalone, self.sources):
            return refusal(nothing_found(unheard), self.sources, **asked)
        return None


def prepare(question: str, history: Sequence[Turn], retriever: Retriever, model: ModelLoader,
            prompt_name: str = "ask", filters: Filters = Filters()) -> Prepared:
    settings = retriever.settings
    question = checked_query(question, settings)
    standalone = condense(question, history, settings, model) if history else question
    several = asks_for_several(standalone)
    if prompt_name == "ask" and several:
        prompt_name = LIST_PROMPT
    sources = build_sources(standalone, retriever.search(standalone, filters=filters), retriever.store, settings, several)
    return Prepared(question, standalone, prompt_name, sources)


def condense(question: str, history: Sequence[Turn], settings: Settings, model: ModelLoader) -> str:
    """A follow-up like "what data did it use?" becomes a question retrieval can answer alone."""
    prompt = load_prompt("condense", settings.prompts_dir)
    lines = [f"{role}: {text[:600]}" for role, text in list(history)[-HISTORY_TURNS:]]
    messages = prompt.messages(history="\n".join(lines), question=question)
    with llm_errors(settings):
        rewritten = model().invoke(messages).content.strip()
    rewritten = rewritten.splitlines()[0].strip().strip('"') if rewritten else ""
    return rewritten if 3 < len(rewritten) < 400 else question


def parts_note(question: str, settings: Settings) -> str:
    """Sets out each part of a question that asks several things, so that none is left unanswered."""
    parts = question_parts(question)
    if len(parts) < 2:
        return ""
    listed = "\n".join(f"{number}. {part}?" for number, part in enumerate(parts, 1))
    return load_fragment("ask_parts", settings.prompts_dir).format(parts=listed) + "\n"


def stopping(prompt_name: str, settings: Settings) -> Stopping:
    """One word limit per prompt kind: answers, lists (and their lines), topic digests."""
    if prompt_name == "topic":
        return Stopping(settings.max_topic_words)
    if prompt_name == LIST_PROMPT:
        return Stopping(settings.max_answer_words, settings.max_list_line_words)
    return Stopping(settings.max_answer_words)


class AnswerStream:
    """Iterate to get the answer's text as it is generated; `answer` is set once it is checked.

    The sources are known before: show them while the answer streams."""

    def __init__(self, prepared: Prepared, model: ModelLoader, settings: Settings) -> None:
        self.prepared = prepared
        self.sources = prepared.sources
        self._model = model
        self.settings = settings
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        prepared = self.prepared
        if (refused := prepared.refusal()) is not None:
            self.answer = refused
            yield refused.text
            return
        prompt = load_prompt(prepared.prompt_name, self.settings.prompts_dir)
        messages = prompt.messages(sources="\n".join(map(prompt_block, self.sources)), question=prepared.standalone,
                                   parts=parts_note(prepared.standalone, self.settings))
        rules = stopping(prepared.prompt_name, self.settings)
        cut_off = False
        model = avoiding_copies(self._model(), [source.excerpt for source in self.sources])
        for chunk in streamed(model, messages, self.settings):
            shown = rules.take(chunk.content)
            if shown is not None:
                cut_off = cut_off or chunk.response_metadata.get("finish_reason") == "length"
                if shown:
                    yield shown
            if rules.rule:
                break
        self.answer = check(rules.written, self.sources, question=prepared.question, standalone=prepared.standalone,
                            instructions=prompt.system, cut_off=cut_off)
