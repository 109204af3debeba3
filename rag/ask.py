"""Questions to cited answers: condense a follow-up, retrieve, number the sources, stream, check citations.

A topic digest is the same flow with the `topic` prompt: a cited paragraph over the top papers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from rag.citations import clean_citations
from rag.evidence import GAP, Source, build_sources, rejoin, sentences
from rag.grounding import citing_sentences, echoes, ground, supporting_passage, unknown_names, words
from rag.intent import asks_for_several
from rag.llm import avoiding_copies, get_chat_model, llm_errors
from rag.prompts import load_prompt
from rag.retrieval import Retriever, checked_query
from rag.settings import Settings

NO_ANSWER = "The library does not answer this question."
REFUSAL = re.compile(
    r"\b(library|sources?|abstracts?|papers?)\b[^.]*\b(does|do) not (answer|contain|provide|mention|state|say)", re.I
)
ANSWER_LABEL = re.compile(r"^\s*answer:\s*", re.I)
"""The prompt ends with "Answer:", which a model sometimes repeats."""
HISTORY_TURNS = 4
QUOTE_SIMILARITY = 0.45
"""A source this similar to the question is about it: when the checks leave nothing of the model's
answer, the source is quoted instead of refusing. `benchmarks/refusals.py` prints this threshold's
precision and recall on the dev questions and the off-library questions in benchmarks/off_library.jsonl."""
QUOTED_SENTENCES = 2
MAX_ANSWER_WORDS = 100
"""Past this many words the answer stops at the next sentence end: the prompt asks for 60, and a
small model that runs on is re-typing the abstract (issue 8: p95 at most 120 words)."""
MAX_LINE_WORDS = 30
"""A list line past this many words (title included) is not shown past its next sentence end, while
the model's next line is: the list prompt asks for 25 words after the title, and a line that runs on
is re-typing one abstract. Replayed on the dev answers, 30 or 35 words keep every fact 45 kept."""
SENTENCE_DONE = re.compile(r"[.!?](?:\s*\[\d+(?:\s*[,;–-]\s*\d+)*\])*\s*$|\n\s*$")

LIST_LINE_SOURCE = re.compile(r"^\s*[-*•][^\n\[]*\[(\d+)\]", re.M)
"""A list line's first citation, after its title: the paper the line is about."""

LIST_PROMPT = "ask_list"
"""A question asking for several papers is answered one line per paper by this prompt instead of `ask`."""

Turn = tuple[str, str]
"""("user" | "assistant", text)."""


@dataclass
class Citation:
    n: int
    id: str
    title: str
    passage: str

    def as_dict(self) -> dict:
        return {"n": self.n, "id": self.id, "title": self.title, "passage": self.passage}


@dataclass
class Answer:
    question: str
    standalone_question: str
    text: str
    sources: list[Source]
    citations: list[Citation] = field(default_factory=list)
    removed_citations: list[int] = field(default_factory=list)
    refused: bool = False
    removed_statements: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "answer": self.text,
            "citations": [c.as_dict() for c in self.citations],
            "sources": [s.as_dict() for s in self.sources],
            "removed_statements": self.removed_statements,
        }


def finish(
    question: str, standalone: str, raw: str, sources: list[Source], instructions: str = "", cut_off: bool = False
) -> Answer:
    """Check the model's text against the sources: bad citation numbers, unsupported statements
    and sentences repeating the instructions are removed and reported, and so is a last sentence
    the token limit `cut_off`. When the checks leave nothing, a source about the question is quoted;
    a model that said the sources do not answer, or an answer with no source about the question,
    is a refusal, which cites nothing."""
    by_number = {source.n: source for source in sources}
    raw = ANSWER_LABEL.sub("", raw)
    text, _, removed_citations = clean_citations(raw, set(by_number))
    shown = {s.n: f"{s.title}\n{s.excerpt}" for s in sources}
    grounded = ground(text, standalone, shown, "\n".join(s.abstract for s in sources))
    said = [s for s in sentences(grounded.text) if not REFUSAL.search(s)]
    removed = grounded.removed_statements + echoes(said, instructions)
    if cut_off and said and said[-1] not in removed:
        removed.append(said[-1])
    said = [s for s in said if s not in removed]
    model_refused = any(REFUSAL.search(s) for s in sentences(text))
    checked_away = bool(removed) and not model_refused
    if not said and checked_away and (source := about_the_question(sources)):
        said = [quote(source, standalone)]
    if not said:
        return Answer(question, standalone, NO_ANSWER, sources, [], removed_citations, True, removed)
    text, cited, _ = clean_citations(rejoin(said), set(by_number))
    citations = []
    for n in cited:
        source = by_number[n]
        passage = supporting_passage(citing_sentences(text, n), source.excerpt)
        citations.append(Citation(n, source.id, source.title, passage))
    return Answer(question, standalone, text, sources, citations, removed_citations, False, removed)


def asked_names_no_source_holds(question: str, sources: list[Source]) -> list[str]:
    """A question about something no source names ("... on LibriSpeech", "AlphaFold") is not answered
    by them, however close they are otherwise: refused before the model is asked, so it cannot
    answer from the wrong paper. `benchmarks/refusals.py` prints how often this refuses dev and
    off-library questions."""
    known = "\n".join(f"{source.title}\n{source.abstract}" for source in sources).lower()
    return unknown_names(question, known)


def about_the_question(sources: list[Source]) -> Source | None:
    best = max(sources, key=lambda source: source.similarity, default=None)
    return best if best is not None and best.similarity >= QUOTE_SIMILARITY else None


def quote(source: Source, question: str) -> str:
    """The checks removed every sentence the model wrote, yet this source is about the question:
    its sentences that share most words with the question, quoted and cited, say more than a refusal."""
    candidates = sentences(source.excerpt.replace(GAP, " "))
    asked = words(question)
    best = sorted(range(len(candidates)), key=lambda i: -len(asked & words(candidates[i])))[:QUOTED_SENTENCES]
    quoted = " ".join(candidates[i] for i in sorted(best))
    return f'Quoted from "{source.title}" [{source.n}]: “{quoted}”'


def repeated_line(written: str) -> str:
    """The list's last line, if it is about a paper an earlier line was about: lines go in the
    sources' order, so the model is writing the list again (issue 8: a paper listed four times)."""
    earlier, _, line = written.rpartition("\n")
    this_paper = LIST_LINE_SOURCE.match(line)
    listed = {match.group(1) for match in LIST_LINE_SOURCE.finditer(earlier)}
    return line if this_paper and this_paper.group(1) in listed else ""


class AnswerStream:
    """Retrieval happens first, so `sources` can be shown before the answer streams.

    Iterate to get the answer's text as it is generated; `answer` is set once it is done.
    """

    def __init__(
        self,
        question: str,
        history: Sequence[Turn] = (),
        *,
        settings: Settings,
        retriever: Retriever | None = None,
        model: BaseChatModel | None = None,
        prompt_name: str = "ask",
    ) -> None:
        self.settings = settings
        self.question = checked_query(question, settings)
        self.retriever = retriever or Retriever(settings)
        self._model = model
        self.standalone_question = (
            self._condense(self.question, history) if history else self.question
        )
        several = asks_for_several(self.standalone_question)
        self.prompt_name = LIST_PROMPT if prompt_name == "ask" and several else prompt_name
        hits = self.retriever.search(self.standalone_question)
        self.sources = build_sources(self.standalone_question, hits, self.retriever.store, settings, several)
        self.answer: Answer | None = None

    @property
    def model(self) -> BaseChatModel:
        if self._model is None:
            self._model = get_chat_model(self.settings)
        return self._model

    def _condense(self, question: str, history: Sequence[Turn]) -> str:
        """A follow-up like "what data did it use?" becomes a question retrieval can answer alone."""
        prompt = load_prompt("condense", self.settings.prompts_dir)
        lines = [f"{role}: {text[:600]}" for role, text in list(history)[-HISTORY_TURNS:]]
        messages = prompt.messages(history="\n".join(lines), question=question)
        with llm_errors(self.settings):
            rewritten = self.model.invoke(messages).content.strip()
        rewritten = rewritten.splitlines()[0].strip().strip('"') if rewritten else ""
        return rewritten if 3 < len(rewritten) < 400 else question

    def __iter__(self) -> Iterator[str]:
        if not self.sources:
            self.answer = finish(self.question, self.standalone_question, NO_ANSWER, [])
            yield NO_ANSWER
            return
        if unheard := asked_names_no_source_holds(self.standalone_question, self.sources):
            text = f"{NO_ANSWER} No paper found mentions {', '.join(unheard)}."
            self.answer = Answer(self.question, self.standalone_question, text, self.sources, refused=True)
            yield text
            return
        prompt = load_prompt(self.prompt_name, self.settings.prompts_dir)
        messages = prompt.messages(
            sources="\n".join(source.prompt_block() for source in self.sources),
            question=self.standalone_question,
        )
        written = hidden = ""
        cut_off = skipping = False
        model = avoiding_copies(self.model, [source.excerpt for source in self.sources])
        with llm_errors(self.settings):
            for chunk in model.stream(messages):
                text = chunk.content
                if skipping:  # the rest of a list line that ran on; the next line is shown
                    if "\n" not in text:
                        hidden += text
                        if len(hidden.split()) > MAX_ANSWER_WORDS:
                            break  # a line hidden for longer than a whole answer is the abstract re-typed
                        continue
                    text, skipping, hidden = text[text.index("\n"):], False, ""
                cut_off = chunk.response_metadata.get("finish_reason") == "length" or cut_off
                if text:
                    written += text
                    yield text
                    if self.prompt_name == LIST_PROMPT and (again := repeated_line(written)):
                        written = written[: -len(again)]
                        break  # the model is going round the sources again
                    if SENTENCE_DONE.search(written):
                        if len(written.split()) > MAX_ANSWER_WORDS:
                            break
                        line = written.rsplit("\n", 1)[-1]
                        skipping = self.prompt_name == LIST_PROMPT and len(line.split()) > MAX_LINE_WORDS
        self.answer = finish(self.question, self.standalone_question, written, self.sources, prompt.system, cut_off)


def ask(question: str, history: Sequence[Turn] = (), *, settings: Settings, **parts) -> Answer:
    """The whole answer at once; `prompt_name="topic"` gives a cited topic digest instead."""
    stream = AnswerStream(question, history, settings=settings, **parts)
    for _ in stream:
        pass
    return stream.answer
