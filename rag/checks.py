"""The model's text held to its sources: what stands of it becomes the `Answer`.

Bad citation numbers, unsupported statements and sentences repeating the instructions are removed
and reported, and so is a last sentence the token limit cut off. When the checks leave nothing, a
source about the question is quoted, if its sentences give numbers where the model's removed ones
did; a model that said the sources do not answer, or an answer with no source about the question,
is a refusal, which cites nothing.
"""

from __future__ import annotations

import re

from rag.citations import clean_citations
from rag.grounding import NEGATION, citing_sentences, echoes, ground, supporting_passage
from rag.names import asked_unknown_names
from rag.quantities import claimed_numbers, numbers
from rag.replies import Answer, Citation, Source
from rag.text import GAP, LIST_ITEM, rejoin, sentences, stems, words
from rag.wording import NO_ANSWER

REFUSAL = re.compile(
    r"\b(library|sources?|abstracts?|papers?)\b[^.]*\b(does|do) not (answer|contain|provide|mention|state|say)", re.I
)
NOT_ABOUT = re.compile(
    r"\b(?:does|do|did) not (?:discuss|address|mention|cover|focus on|study|deal with|relate to|concern|fit)\b"
    r"|\bnot (?:related|relevant) to\b", re.I)
"""A list line telling why its paper does not fit ("- The Principles of Deep Learning Theory [2]: The book
does not discuss pruning", tuning split t087) names a paper that does not answer."""
ANSWER_LABEL = re.compile(r"^\s*answer:\s*", re.I)
"""The prompt ends with "Answer:", which a model sometimes repeats."""
ENUMERATOR = re.compile(r"^\s*\d{1,2}[.)]\s+", re.M)
"""A line's "2. " numbers the parts of a two-part question, as the prompt set them out; read as a
sentence's number it got "2. nine state-of-the-art models" removed (tuning split t062)."""
QUOTE_SIMILARITY = 0.45
"""A source this similar to the question is about it: when the checks leave nothing of the model's
answer, the source is quoted instead of refusing. `benchmarks/refusals.py` prints this threshold's
precision and recall on the dev questions and the off-library questions in benchmarks/off_library.jsonl."""
QUOTED_SENTENCES = 2
SAYS_NOTHING_NEW = frozenset("there yes paper work study method model approach introduc describ present demonstrat discuss "
                             "library source titl call name one exist way".split())
"""Stems an answer adds to its question without saying anything: "There is a paper on ...", "The work ..."."""
MAX_NEW_STEMS = 0
"""An answer adding at most this many stems to the question's (besides SAYS_NOTHING_NEW), and no
number, restates it. Precision and recall on labelled answers: benchmarks/echoes.py."""


def check(raw: str, sources: list[Source], *, question: str, standalone: str,
          instructions: str = "", cut_off: bool = False) -> Answer:
    """The checked answer to `standalone` (what retrieval was asked) from the model's `raw` text."""
    by_number = {source.n: source for source in sources}
    text, _, removed_citations = clean_citations(ENUMERATOR.sub("", ANSWER_LABEL.sub("", raw)), set(by_number))
    shown = {s.n: f"{s.title}\n{s.excerpt}" for s in sources}
    grounded = ground(text, standalone, shown, "\n".join(s.abstract for s in sources))
    said = [s for s in sentences(grounded.text) if not REFUSAL.search(s)]
    removed = grounded.removed_statements + echoes(said, instructions) + [
        s for s in said if LIST_ITEM.match(s) and NOT_ABOUT.search(s)]
    if cut_off and said and said[-1] not in removed:
        removed.append(said[-1])
    said = [s for s in said if s not in removed]
    model_refused = any(REFUSAL.search(s) for s in sentences(text))
    if (not said and removed and not model_refused and (source := about_the_question(sources))
            and (stand_in := quote(source, standalone, removed))):
        said = [stand_in]
    asked = {"question": question, "standalone_question": standalone, "sources": sources,
             "removed_citations": removed_citations, "removed_statements": removed}
    if not said:
        return Answer(text=NO_ANSWER, refused=True, **asked)
    if not model_refused and restates_the_question(rejoin(said), standalone):
        _, cited, _ = clean_citations(rejoin(said), set(by_number))
        source = by_number[cited[0]] if cited else about_the_question(sources)
        if source is None or source.similarity < QUOTE_SIMILARITY:
            return Answer(text=NO_ANSWER, refused=True, **{**asked, "removed_statements": removed + said})
        said.append(quote(source, standalone, [], 1))
    text, cited, _ = clean_citations(rejoin(said), set(by_number))
    citations = [cite(by_number[n], text) for n in cited]
    return Answer(text=text, citations=citations, **asked)


def cite(source: Source, text: str) -> Citation:
    passage = supporting_passage(citing_sentences(text, source.n), source.excerpt)
    return Citation(n=source.n, id=source.id, title=source.title, passage=passage)


def refusal(text: str, sources: list[Source], *, question: str, standalone: str) -> Answer:
    """An answer refused before the model was asked: `text` says why."""
    return Answer(text=text, sources=sources, refused=True, question=question, standalone_question=standalone)


def asked_names_no_source_holds(question: str, sources: list[Source]) -> list[str]:
    """A question about something no source names ("... on LibriSpeech", "AlphaFold") is not answered
    by them, however close they are otherwise: refused before the model is asked, so it cannot
    answer from the wrong paper. `benchmarks/refusals.py` prints how often this refuses dev and
    off-library questions."""
    known = "\n".join(f"{source.title}\n{source.abstract}" for source in sources).lower()
    return asked_unknown_names(question, known)


def about_the_question(sources: list[Source]) -> Source | None:
    best = max(sources, key=lambda source: source.similarity, default=None)
    return best if best is not None and best.similarity >= QUOTE_SIMILARITY else None


def restates_the_question(text: str, question: str) -> bool:
    """ "There is a GPT-style foundation model pretrained on neuronal spiking recordings [1]." answers
    "Is there a GPT-style foundation model ...?" without naming the paper or saying what it does; "There
    is no such paper" says something. Such an answer only claims that the paper exists: `check` follows
    it with the source it cites first (or the one about the question), and refuses when that source is
    not about the question (QUOTE_SIMILARITY): tuning split t107 affirmed "a paper on federated learning
    for medical imaging" on a cardiac ultrasound dataset's abstract (similarity 0.40; the restating
    answers to answerable questions cited sources at 0.54 to 0.71)."""
    return (len(stems(text) - stems(question) - SAYS_NOTHING_NEW) <= MAX_NEW_STEMS
            and not numbers(text) - numbers(question) and not NEGATION.search(text))


def quote(source: Source, question: str, removed: list[str], count: int = QUOTED_SENTENCES) -> str | None:
    """The checks removed every sentence the model wrote, yet this source is about the question:
    its sentences that share most words with the question, quoted and cited, say more than a refusal.
    Not when the model answered with numbers and these sentences give none: asked how many parameters
    Neuroformer has, the model's "1.2 billion" was removed, and Neuroformer's sentences without a
    number do not answer either."""
    candidates = sentences(source.excerpt.replace(GAP, " "))
    asked = words(question)
    best = sorted(range(len(candidates)), key=lambda i: -len(asked & words(candidates[i])))[:count]
    quoted = " ".join(candidates[i] for i in sorted(best))
    if any(claimed_numbers(sentence, question) for sentence in removed) and not numbers(quoted):
        return None
    return f'Quoted from "{source.title}" [{source.n}]: “{quoted}”'
